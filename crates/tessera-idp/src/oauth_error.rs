//! OAuth 2.0 error responses, shaped as Entra ID sends them, or as plain RFC 6749 §5.2 bodies
//! for the OIDC flavour.
//!
//! Entra's token-endpoint error body (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1>):
//! `error`, `error_description` ("AADSTS70008: …" followed by trace and correlation ids and a
//! timestamp), `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`, and
//! `suberror` / `claims` where they apply (<https://learn.microsoft.com/entra/identity-platform/reference-error-codes>).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::entra_timestamp;
use crate::ids::guid;
use crate::scopes::ScopeError;
use crate::state::{Flavor, Idp};

/// One OAuth error.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status at the token endpoint.
    pub status: StatusCode,
    /// The RFC 6749 / OIDC `error` code.
    pub error: &'static str,
    /// The AADSTS number (Entra flavour only).
    pub code: u32,
    /// Human text, without the AADSTS prefix.
    pub description: String,
    /// Entra's `suberror` (`basic_action`, `consent_required`, `bad_token`, …).
    pub suberror: Option<&'static str>,
    /// A claims challenge to pass to the next authorize or token request.
    pub claims: Option<String>,
}

impl OAuthError {
    /// An error with no suberror or claims.
    pub fn new(status: StatusCode, error: &'static str, code: u32, description: &str) -> Self {
        OAuthError {
            status,
            error,
            code,
            description: description.to_owned(),
            suberror: None,
            claims: None,
        }
    }

    /// A 400 `invalid_request`.
    pub fn invalid_request(code: u32, description: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            description,
        )
    }

    /// A 400 `invalid_grant`.
    pub fn invalid_grant(code: u32, description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
    }

    /// Adds Entra's `suberror`.
    pub fn with_suberror(mut self, suberror: &'static str) -> Self {
        self.suberror = Some(suberror);
        self
    }

    /// Adds a claims challenge.
    pub fn with_claims(mut self, claims: String) -> Self {
        self.claims = Some(claims);
        self
    }

    /// `error_description` as the flavour writes it (without trace lines).
    pub fn short_description(&self, flavor: Flavor) -> String {
        match flavor {
            Flavor::Entra => format!("AADSTS{}: {}", self.code, self.description),
            Flavor::Oidc => self.description.clone(),
        }
    }

    /// The JSON body and headers the token endpoint answers with. `client_request_id` is the
    /// caller's `client-request-id` header, which Entra echoes as the correlation id.
    pub fn into_response_for(self, idp: &Idp, client_request_id: Option<&str>) -> Response {
        let trace_id = guid();
        let correlation_id = client_request_id.map_or_else(guid, str::to_owned);
        let body = match idp.flavor {
            Flavor::Entra => {
                let timestamp = entra_timestamp(idp.clock.now());
                let mut body = json!({
                    "error": self.error,
                    "error_description": format!(
                        "{}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                        self.short_description(Flavor::Entra)
                    ),
                    "error_codes": [self.code],
                    "timestamp": timestamp,
                    "trace_id": trace_id,
                    "correlation_id": correlation_id,
                    "error_uri": idp.url(&format!("error?code={}", self.code)),
                });
                if let Some(suberror) = self.suberror {
                    body["suberror"] = json!(suberror);
                }
                if let Some(claims) = &self.claims {
                    body["claims"] = json!(claims);
                }
                body
            }
            Flavor::Oidc => json!({ "error": self.error, "error_description": self.description }),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        if idp.flavor == Flavor::Entra {
            if let Ok(value) = HeaderValue::from_str(&correlation_id) {
                response.headers_mut().insert("client-request-id", value);
            }
            if let Ok(value) = HeaderValue::from_str(&trace_id) {
                response.headers_mut().insert("x-ms-request-id", value);
            }
        }
        response
    }

    /// The parameters added to the redirect URI when an authorize request fails.
    pub fn redirect_params(&self, flavor: Flavor) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("error", self.error.to_owned()),
            ("error_description", self.short_description(flavor)),
        ];
        if flavor == Flavor::Entra {
            if let Some(suberror) = self.suberror {
                params.push(("error_subcode", suberror.to_owned()));
            }
        }
        params
    }
}

/// RFC 6749 §5.1: token responses must not be cached.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A scope error as an OAuth error.
pub fn scope_error(error: &'static str, e: &ScopeError) -> OAuthError {
    let text = e.to_string();
    let (code, description) = text
        .strip_prefix("AADSTS")
        .and_then(|rest| rest.split_once(": "))
        .map(|(code, d)| (code.parse().unwrap_or(70011), d.to_owned()))
        .unwrap_or((70011, text.clone()));
    OAuthError::new(StatusCode::BAD_REQUEST, error, code, &description)
}

/// AADSTS65001 with `suberror=consent_required`.
pub fn consent_required_error(idp: &Idp, client_id: &str) -> OAuthError {
    let name = idp
        .seed
        .client(client_id)
        .map(|c| c.display_name.clone())
        .unwrap_or_default();
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "consent_required",
        65001,
        &format!("The user or administrator has not consented to use the application with ID '{client_id}' named '{name}'. Send an interactive authorization request for this user and resource."),
    )
    .with_suberror("consent_required")
}

/// AADSTS50076 with `suberror=basic_action`: MFA needed.
pub fn mfa_required_error(resource: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "interaction_required",
        50076,
        &format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."),
    )
    .with_suberror("basic_action")
    .with_claims(r#"{"access_token":{"capolids":{"essential":true,"values":["4e5bb2e4-2d7c-4ba6-8c53-1e2f2a4c7d90"]}}}"#.into())
}
