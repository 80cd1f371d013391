//! The token endpoint, through the `oauth2` crate: authorization-code redemption with PKCE and
//! refresh-token redemption (RFC 6749 §4.1.3, §6).
//!
//! Two gaps of `oauth2` are closed here. Its HTTP client must not follow redirects (the crate's
//! own SSRF advice): ours is a `reqwest` client with redirects off, wrapped so that every request
//! carries a `client-request-id` (and, to Microsoft, MSAL's library headers), so that 429 and
//! 5xx answers keep their status and `Retry-After`, and so that the caller sees every answer's
//! status for throttling (`throttle`). And its standard error response drops Entra's `error_codes`, `suberror`,
//! `claims`, `trace_id`, `correlation_id`: ours is [`OAuthError`], which keeps them.

use std::future::Future;
use std::pin::Pin;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, ClientId, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse,
    RedirectUrl, RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse,
    TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::authority::Metadata;
use crate::error::{Error, OAuthError, Result};
use crate::secret::{
    AccessToken, AuthorizationCode, DeviceCode, IdToken, PkceCodeVerifier, RefreshToken,
};
use crate::throttle::{Answer, Observed, RetryAfter, DEFAULT_THROTTLE, MAX_THROTTLE};

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

impl oauth2::ErrorResponse for OAuthError {}

/// Entra's members of a token response beyond RFC 6749's.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct EntraTokenFields {
    #[serde(default)]
    id_token: Option<IdToken>,
    #[serde(default)]
    client_info: Option<String>,
    #[serde(default)]
    ext_expires_in: Option<u64>,
    #[serde(default)]
    refresh_in: Option<u64>,
}

impl ExtraTokenFields for EntraTokenFields {}

type EntraTokenResponse = StandardTokenResponse<EntraTokenFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    OAuthError,
    EntraTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A token response, its secrets wrapped.
#[derive(Debug, Clone)]
pub(crate) struct TokenResponse {
    pub access_token: AccessToken,
    pub expires_in: u64,
    pub ext_expires_in: Option<u64>,
    pub refresh_in: Option<u64>,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<IdToken>,
    pub client_info: Option<String>,
    /// Granted scopes, when the provider says (it may differ from the request).
    pub scopes: Option<Vec<String>>,
}

/// What a redemption needs besides the grant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Redemption<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a Url,
    pub scopes: &'a [String],
    pub claims: Option<&'a str>,
    pub client_info: bool,
    pub correlation_id: &'a str,
    /// Headers besides `client-request-id` (MSAL's library headers, `X-AnchorMailbox`).
    pub headers: &'a [(&'static str, String)],
    /// Where the transport writes what the endpoint answered.
    pub observed: Option<&'a Observed>,
}

impl Redemption<'_> {
    /// The parameters both grants carry beyond RFC 6749's: Entra's `client_info` and a claims
    /// request.
    fn extra_params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![];
        if self.client_info {
            params.push(("client_info", "1".to_owned()));
        }
        if let Some(claims) = self.claims {
            params.push(("claims", claims.to_owned()));
        }
        params
    }
}

/// Builds the `oauth2` client for a provider.
pub(crate) fn oauth_client(
    metadata: &Metadata,
    client_id: &str,
    redirect_uri: &Url,
) -> OAuthClient {
    oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
        .set_token_uri(TokenUrl::from_url(metadata.token_endpoint.clone()))
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()))
        // A public client has no secret: client_id goes in the body.
        .set_auth_type(oauth2::AuthType::RequestBody)
}

/// Redeems an authorization code with its PKCE verifier.
pub(crate) async fn redeem_code(
    http: &reqwest::Client,
    metadata: &Metadata,
    code: &AuthorizationCode,
    verifier: &PkceCodeVerifier,
    r: Redemption<'_>,
) -> Result<TokenResponse> {
    let client = oauth_client(metadata, r.client_id, r.redirect_uri);
    let mut request = client
        .exchange_code(oauth2::AuthorizationCode::new(code.secret().to_owned()))
        .set_pkce_verifier(oauth2::PkceCodeVerifier::new(verifier.secret().to_owned()))
        // RFC 6749 has no scope on code redemption; Entra takes one to pick the resource.
        .add_extra_param("scope", r.scopes.join(" "));
    for (name, value) in r.extra_params() {
        request = request.add_extra_param(name, value);
    }
    convert(request.request_async(&Transport::new(http, &r)).await)
}

/// Redeems a refresh token.
pub(crate) async fn refresh(
    http: &reqwest::Client,
    metadata: &Metadata,
    refresh_token: &RefreshToken,
    r: Redemption<'_>,
) -> Result<TokenResponse> {
    refresh_through(&Transport::new(http, &r), metadata, refresh_token, r).await
}

/// [`refresh`] through any transport: the fuzz target feeds it canned answers.
pub(crate) async fn refresh_through<C>(
    transport: &C,
    metadata: &Metadata,
    refresh_token: &RefreshToken,
    r: Redemption<'_>,
) -> Result<TokenResponse>
where
    C: for<'c> oauth2::AsyncHttpClient<'c, Error = HttpError>,
{
    let client = oauth_client(metadata, r.client_id, r.redirect_uri);
    let token = oauth2::RefreshToken::new(refresh_token.secret().to_owned());
    let mut request = client
        .exchange_refresh_token(&token)
        .add_scopes(r.scopes.iter().map(|s| Scope::new(s.clone())));
    for (name, value) in r.extra_params() {
        request = request.add_extra_param(name, value);
    }
    convert(request.request_async(transport).await)
}

/// RFC 8628 §3.4's grant type.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device authorization response (RFC 8628 §3.2).
#[derive(Debug, Deserialize)]
pub(crate) struct DeviceAuthorization {
    pub device_code: DeviceCode,
    pub user_code: String,
    /// Entra's v1 endpoint said `verification_url`.
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    /// RFC 8628 §3.2: 5 seconds when absent.
    #[serde(default = "default_interval")]
    pub interval: u64,
    #[serde(default)]
    pub message: Option<String>,
}

fn default_interval() -> u64 {
    5
}

/// Asks for a device code (RFC 8628 §3.1).
pub(crate) async fn request_device_code(
    http: &reqwest::Client,
    endpoint: &Url,
    r: Redemption<'_>,
) -> Result<DeviceAuthorization> {
    let mut form = vec![
        ("client_id", r.client_id.to_owned()),
        ("scope", r.scopes.join(" ")),
    ];
    form.extend(r.extra_params());
    let body = post_form(http, endpoint, &form, &r).await?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::InvalidResponse(format!(
            "the device authorization response is not valid ({}:{})",
            e.line(),
            e.column()
        ))
    })
}

/// Polls the token endpoint once with a device code (RFC 8628 §3.4). `authorization_pending`,
/// `slow_down` and the like come back as [`Error::Server`] with that `error`.
pub(crate) async fn poll_device_code(
    http: &reqwest::Client,
    metadata: &Metadata,
    device_code: &DeviceCode,
    r: Redemption<'_>,
) -> Result<TokenResponse> {
    let mut form = vec![
        ("grant_type", DEVICE_CODE_GRANT.to_owned()),
        ("client_id", r.client_id.to_owned()),
        ("device_code", device_code.secret().to_owned()),
    ];
    form.extend(r.extra_params());
    let body = post_form(http, &metadata.token_endpoint, &form, &r).await?;
    parse_device_token(&body)
}

/// A successful device-code poll's body (the `oauth2` crate has no such grant to parse it).
pub(crate) fn parse_device_token(body: &[u8]) -> Result<TokenResponse> {
    let response: EntraTokenResponse = serde_json::from_slice(body).map_err(|e| {
        // Only the position: a message could quote a token.
        Error::InvalidResponse(format!(
            "the token response is not valid JSON of the expected shape ({}:{})",
            e.line(),
            e.column()
        ))
    })?;
    convert(Ok(response))
}

/// POSTs a form through the same transport as the `oauth2` requests; an OAuth error body
/// becomes the engine's error for it.
async fn post_form(
    http: &reqwest::Client,
    url: &Url,
    form: &[(&str, String)],
    r: &Redemption<'_>,
) -> Result<Vec<u8>> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let request = oauth2::http::Request::builder()
        .method(oauth2::http::Method::POST)
        .uri(url.as_str())
        .header(
            oauth2::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(oauth2::http::header::ACCEPT, "application/json")
        .body(body.into_bytes())
        .map_err(|e| Error::Configuration(format!("request to {url}: {e}")))?;
    let transport = Transport::new(http, r);
    let response = oauth2::AsyncHttpClient::call(&transport, request)
        .await
        .map_err(|e| map_error(RequestTokenError::Request(e)))?;
    if response.status().is_success() {
        return Ok(response.into_body());
    }
    let status = response.status();
    match serde_json::from_slice::<OAuthError>(response.body()) {
        Ok(oauth) if !oauth.error.is_empty() => {
            Err(map_error(RequestTokenError::ServerResponse(oauth)))
        }
        _ => Err(Error::InvalidResponse(format!(
            "{url} answered HTTP {status} without an OAuth error"
        ))),
    }
}

fn convert(
    result: std::result::Result<EntraTokenResponse, RequestTokenError<HttpError, OAuthError>>,
) -> Result<TokenResponse> {
    let response = result.map_err(map_error)?;
    // RFC 6749 §7.1: "The client MUST NOT use an access token if it does not understand the
    // token type." Everything downstream sends the token as RFC 6750's bearer credential;
    // a `pop` (RFC 7800, Entra's proof-of-possession) or `mac` token sent that way would be
    // misused. The type compares case-insensitively (§5.1), as oauth2's BasicTokenType does.
    if *response.token_type() != BasicTokenType::Bearer {
        return Err(Error::InvalidResponse(format!(
            "the provider issued a token of type {:?}, and Tessera uses only Bearer tokens (RFC 6750)",
            response.token_type().as_ref()
        )));
    }
    let expires_in = response
        .expires_in()
        .map(|d| d.as_secs())
        .ok_or_else(|| Error::InvalidResponse("the token response has no expires_in".into()))?;
    let extra = response.extra_fields().clone();
    Ok(TokenResponse {
        access_token: AccessToken::new(response.access_token().secret().clone()),
        expires_in,
        ext_expires_in: extra.ext_expires_in,
        refresh_in: extra.refresh_in,
        refresh_token: response
            .refresh_token()
            .map(|t| RefreshToken::new(t.secret().clone())),
        id_token: extra.id_token,
        client_info: extra.client_info,
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect()),
    })
}

fn map_error(error: RequestTokenError<HttpError, OAuthError>) -> Error {
    match error {
        RequestTokenError::ServerResponse(oauth) => Error::from_oauth(oauth),
        RequestTokenError::Request(HttpError::Transport(message)) => Error::Network(message),
        RequestTokenError::Request(HttpError::Status {
            status,
            retry_after,
            body,
        }) => {
            // An answer that says when to come back. An HTTP-date is measured against this
            // machine's clock (the `throttle` module measures against the engine's).
            if status == 429 || retry_after.is_some() {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                return Error::Throttled {
                    retry_after: retry_after
                        .map_or(DEFAULT_THROTTLE, |r| r.wait_from(now))
                        .min(MAX_THROTTLE),
                };
            }
            match serde_json::from_slice::<OAuthError>(&body) {
                Ok(oauth) if !oauth.error.is_empty() => Error::Server(Box::new(oauth)),
                _ => Error::Network(format!("the token endpoint answered HTTP {status}")),
            }
        }
        // Only the path of the bad field: a message could quote a token.
        RequestTokenError::Parse(error, _) => Error::InvalidResponse(format!(
            "the token response is not valid JSON of the expected shape (at {})",
            error.path()
        )),
        RequestTokenError::Other(message) => Error::InvalidResponse(message),
    }
}

/// Why an HTTP exchange failed below OAuth.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("{0}")]
    Transport(String),
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<RetryAfter>,
        body: Vec<u8>,
    },
}

/// `reqwest` for `oauth2`, with the correlation id, and 429/5xx surfaced with their headers.
struct Transport {
    // Owned (reqwest's client is a cheap handle) so that the impl holds for every borrow
    // lifetime oauth2 asks for, which spawned futures need.
    http: reqwest::Client,
    correlation_id: String,
    headers: Vec<(&'static str, String)>,
    observed: Option<Observed>,
}

impl Transport {
    fn new(http: &reqwest::Client, r: &Redemption<'_>) -> Transport {
        Transport {
            http: http.clone(),
            correlation_id: r.correlation_id.to_owned(),
            headers: r.headers.to_vec(),
            observed: r.observed.cloned(),
        }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Transport {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // Scheme, host and path only: never the body (grants) or a query.
            let target = format!(
                "{} {}{}",
                parts.method,
                parts.uri.host().unwrap_or_default(),
                parts.uri.path()
            );
            let mut request = self
                .http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .header("client-request-id", self.correlation_id.as_str());
            for (name, value) in &self.headers {
                request = request.header(*name, value.as_str());
            }
            let response = request.body(body).send().await.map_err(|e| {
                let described = crate::http::describe(&e);
                log::debug!("{target}: {described}");
                HttpError::Transport(described)
            })?;
            let status = response.status();
            log::trace!(
                "{target}: HTTP {status} (correlation id {})",
                self.correlation_id
            );
            let headers = response.headers().clone();
            if let Some(observed) = &self.observed {
                observed.set(Answer {
                    status: status.as_u16(),
                    retry_after: RetryAfter::from_headers(&headers),
                });
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| HttpError::Transport(crate::http::describe(&e)))?;
            screen_response(status, &headers, bytes.to_vec())
        })
    }
}

/// Hands `oauth2` an answer to parse, or keeps 429 and 5xx (with `Retry-After`) for ourselves.
pub(crate) fn screen_response(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> std::result::Result<HttpResponse, HttpError> {
    if status.as_u16() == 429 || status.is_server_error() {
        let retry_after = RetryAfter::from_headers(headers);
        return Err(HttpError::Status {
            status: status.as_u16(),
            retry_after,
            body,
        });
    }
    let mut builder = oauth2::http::Response::builder().status(status);
    for (name, value) in headers.iter() {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|e| HttpError::Transport(e.to_string()))
}
