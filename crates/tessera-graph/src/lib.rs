//! `tessera-graph`: where Tessera reads the signed-in user's profile: Microsoft Graph's `/me`
//! and photo for Microsoft authorities ([`GraphClient`]), the OpenID Connect userinfo endpoint
//! for any other provider ([`UserInfoClient`]).
//!
//! The clients take an [`AccessToken`] and report what the resource said in [`GraphError`],
//! which names the service it came from; they never acquire tokens themselves, and they run on
//! the engine's network stack (the `reqwest::Client` of `tessera_auth::http`). [`with_token`]
//! is the resource side of the token pattern:
//!
//! - 401 with a claims challenge (`WWW-Authenticate: … error="insufficient_claims", claims="…"`,
//!   Continuous Access Evaluation) → a token with those claims, then one retry;
//! - 401 for an invalid token → one forced refresh, then one retry;
//! - 429 / 503 → `Retry-After` honoured: a short wait is waited out once, a longer one is
//!   reported, and the client refuses to call again before it has passed.

#![warn(missing_docs)]

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tessera_auth::secret::AccessToken;
use url::Url;

mod userinfo;

pub use tessera_auth::challenge::claims_challenge;
pub use userinfo::UserInfoClient;

/// The scopes `/me` and the photo need.
pub const PROFILE_SCOPES: [&str; 1] = ["User.Read"];

/// The fields the app shows, asked for with `$select` (Graph returns fewer by default).
const PROFILE_SELECT: &str = "id,displayName,givenName,surname,jobTitle,mail,userPrincipalName,\
officeLocation,businessPhones,mobilePhone,preferredLanguage";

/// A wait short enough to sit out before reporting throttling.
const SHORT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Used when a 429 carries no usable `Retry-After` (Graph's documented default back-off).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The signed-in user's profile, as `/me?$select=…` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    /// The directory object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Mail address.
    pub mail: Option<String>,
    /// User principal name (sign-in name).
    pub user_principal_name: Option<String>,
    /// Office.
    pub office_location: Option<String>,
    /// Business phone numbers.
    pub business_phones: Vec<String>,
    /// Mobile phone.
    pub mobile_phone: Option<String>,
    /// Preferred language (`en-GB`, …).
    pub preferred_language: Option<String>,
    /// The picture's URL, when the profile comes from a userinfo endpoint that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub picture: Option<String>,
}

/// A profile photo.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    /// `image/jpeg`, `image/png`…
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Which profile service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Microsoft Graph.
    Graph,
    /// The identity provider's userinfo endpoint (OpenID Connect Core §5.3).
    UserInfo,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Graph => "Microsoft Graph",
            Service::UserInfo => "the identity provider's userinfo endpoint",
        })
    }
}

/// What the profile service (or the way to it) answered instead of the profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 401 with a claims challenge: get a token carrying `claims` (JSON), then retry.
    #[error("{service} asks for a new token with claims (Continuous Access Evaluation)")]
    ClaimsChallenge {
        /// Who asked.
        service: Service,
        /// The decoded claims request, JSON.
        claims: String,
    },
    /// 401: the token is expired, revoked or not for this service.
    #[error("{service} refused the access token: {message}")]
    InvalidToken {
        /// Who refused it.
        service: Service,
        /// The service's message.
        message: String,
    },
    /// 429 or 503 with `Retry-After`.
    #[error("{service} is throttling requests; retry in {} s", retry_after.as_secs().max(1))]
    Throttled {
        /// Who throttles.
        service: Service,
        /// How long to wait.
        retry_after: Duration,
    },
    /// Any other error status.
    #[error("{service} answered {status} {code}: {message}")]
    Status {
        /// Who answered.
        service: Service,
        /// The HTTP status.
        status: u16,
        /// The error code (Graph's `error.code`, OAuth's `error`).
        code: String,
        /// The message.
        message: String,
    },
    /// No answer (connection, certificate, time limit), with the cause.
    #[error("could not reach {service}: {message}")]
    Network {
        /// Who could not be reached.
        service: Service,
        /// What went wrong, cause included (`certificate not trusted: UnknownIssuer`).
        message: String,
    },
    /// An answer that is not what the service sends.
    #[error("unexpected answer from {service}: {message}")]
    InvalidResponse {
        /// Who answered.
        service: Service,
        /// What was wrong with it.
        message: String,
    },
}

/// A Graph client for one base URL (`https://graph.microsoft.com/v1.0`, or the emulator's).
#[derive(Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    /// No request goes out before this instant (the last `Retry-After`).
    throttled_until: Mutex<Option<Instant>>,
}

impl GraphClient {
    /// A client for `base_url` on `http`, the engine's network stack
    /// (`PublicClientApplication::http_client`).
    pub fn new(http: reqwest::Client, base_url: Url) -> Result<GraphClient, GraphError> {
        if base_url.cannot_be_a_base() {
            return Err(GraphError::InvalidResponse {
                service: Service::Graph,
                message: format!("{base_url} cannot be a base URL"),
            });
        }
        Ok(GraphClient {
            http,
            base: base_url,
            throttled_until: Mutex::new(None),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /me?$select=…`.
    pub async fn me(&self, token: &AccessToken) -> Result<Profile, GraphError> {
        let mut url = self.url(&["me"]);
        url.query_pairs_mut().append_pair("$select", PROFILE_SELECT);
        let response = self.get(url, token).await?;
        response
            .json::<Profile>()
            .await
            .map_err(|e| GraphError::InvalidResponse {
                service: Service::Graph,
                message: format!("/me: {e}"),
            })
    }

    /// The 96×96 photo, else the default-size one; `None` when the user has none (404).
    pub async fn photo(&self, token: &AccessToken) -> Result<Option<Photo>, GraphError> {
        for path in [
            &["me", "photos", "96x96", "$value"][..],
            &["me", "photo", "$value"],
        ] {
            match self.get(self.url(path), token).await {
                Ok(response) => {
                    let content_type = response
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("image/jpeg")
                        .to_owned();
                    if !content_type.starts_with("image/") {
                        return Err(GraphError::InvalidResponse {
                            service: Service::Graph,
                            message: format!("the photo is {content_type}, not an image"),
                        });
                    }
                    let bytes = response.bytes().await.map_err(|e| GraphError::Network {
                        service: Service::Graph,
                        message: tessera_auth::http::describe(&e),
                    })?;
                    return Ok(Some(Photo {
                        content_type,
                        bytes: bytes.to_vec(),
                    }));
                }
                Err(GraphError::Status { status: 404, .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One GET, with a short `Retry-After` waited out once.
    async fn get(&self, url: Url, token: &AccessToken) -> Result<reqwest::Response, GraphError> {
        match self.get_once(url.clone(), token).await {
            Err(GraphError::Throttled { retry_after, .. }) if retry_after <= SHORT_RETRY_AFTER => {
                tokio::time::sleep(retry_after).await;
                self.get_once(url, token).await
            }
            other => other,
        }
    }

    async fn get_once(
        &self,
        url: Url,
        token: &AccessToken,
    ) -> Result<reqwest::Response, GraphError> {
        if let Some(remaining) = self.throttle_remaining() {
            return Err(GraphError::Throttled {
                service: Service::Graph,
                retry_after: remaining,
            });
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| GraphError::Network {
                service: Service::Graph,
                message: tessera_auth::http::describe(&e),
            })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let www_authenticate = header(reqwest::header::WWW_AUTHENTICATE);
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let (code, message) = error_body(response).await;
        match status {
            401 => Err(
                match www_authenticate.as_deref().and_then(claims_challenge) {
                    Some(claims) => GraphError::ClaimsChallenge {
                        service: Service::Graph,
                        claims,
                    },
                    None => GraphError::InvalidToken {
                        service: Service::Graph,
                        message,
                    },
                },
            ),
            429 | 503 => {
                let retry_after = retry_after
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_RETRY_AFTER);
                self.throttle_for(retry_after);
                Err(GraphError::Throttled {
                    service: Service::Graph,
                    retry_after,
                })
            }
            _ => Err(GraphError::Status {
                service: Service::Graph,
                status,
                code,
                message,
            }),
        }
    }

    fn throttle_remaining(&self) -> Option<Duration> {
        let until = (*self.throttled_until.lock().ok()?)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    fn throttle_for(&self, retry_after: Duration) {
        if let Ok(mut until) = self.throttled_until.lock() {
            *until = Some(Instant::now() + retry_after);
        }
    }
}

/// Graph's `{"error": {"code", "message"}}`, or the status line when the body is not that.
async fn error_body(response: reqwest::Response) -> (String, String) {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = response.status();
    match response.json::<Body>().await {
        Ok(body) => (body.error.code, body.error.message),
        Err(_) => (
            status.as_str().to_owned(),
            status.canonical_reason().unwrap_or("error").to_owned(),
        ),
    }
}

/// Which token [`with_token`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenNeed {
    /// Whatever the silent chain gives (cache first).
    Any,
    /// A new token: the last one was refused.
    ForceRefresh,
    /// A token satisfying this claims challenge (JSON).
    Claims(String),
}

/// Why [`with_token`] failed: getting a token, or Graph itself.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// Acquiring the token failed (for example `InteractionRequired`).
    #[error(transparent)]
    Token(E),
    /// Graph failed, after the one retry the answer allowed.
    #[error(transparent)]
    Graph(GraphError),
}

/// Calls Graph with a token from `acquire`, answering a claims challenge or an invalid-token
/// 401 with one new token and one retry.
pub async fn with_token<T, E, A, AF, C, CF>(mut acquire: A, mut call: C) -> Result<T, CallError<E>>
where
    A: FnMut(TokenNeed) -> AF,
    AF: Future<Output = Result<AccessToken, E>>,
    C: FnMut(AccessToken) -> CF,
    CF: Future<Output = Result<T, GraphError>>,
{
    let token = acquire(TokenNeed::Any).await.map_err(CallError::Token)?;
    let need = match call(token).await {
        Ok(value) => return Ok(value),
        Err(GraphError::ClaimsChallenge { claims, .. }) => TokenNeed::Claims(claims),
        Err(GraphError::InvalidToken { .. }) => TokenNeed::ForceRefresh,
        Err(other) => return Err(CallError::Graph(other)),
    };
    let token = acquire(need).await.map_err(CallError::Token)?;
    call(token).await.map_err(CallError::Graph)
}
