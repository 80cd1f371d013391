//! The OpenID Connect userinfo endpoint (Core §5.3): the profile of any provider that is not
//! Microsoft's, and its `picture`.

use std::time::Duration;

use serde::Deserialize;
use tessera_auth::secret::AccessToken;
use url::Url;

use crate::{GraphError, Photo, Profile, Service};

/// The largest picture taken (a profile picture is kilobytes; a URL could name anything).
const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;

/// A userinfo client for one provider.
#[derive(Debug, Clone)]
pub struct UserInfoClient {
    http: reqwest::Client,
    endpoint: Url,
}

/// The standard claims (Core §5.1) the profile shows.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

impl UserInfoClient {
    /// A client for the provider's `userinfo_endpoint`, on the engine's network stack.
    pub fn new(http: reqwest::Client, endpoint: Url) -> UserInfoClient {
        UserInfoClient { http, endpoint }
    }

    /// The signed-in user's claims, as a profile. A 401 is an invalid token (RFC 6750 §3:
    /// `WWW-Authenticate: Bearer error="invalid_token"`), answered by one forced refresh.
    pub async fn profile(&self, token: &AccessToken) -> Result<Profile, GraphError> {
        let response = self
            .http
            .get(self.endpoint.clone())
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| network(&e))?;
        let status = response.status();
        if status.as_u16() == 401 {
            let why = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("401")
                .to_owned();
            return Err(GraphError::InvalidToken {
                service: Service::UserInfo,
                message: why,
            });
        }
        if !status.is_success() {
            return Err(GraphError::Status {
                service: Service::UserInfo,
                status: status.as_u16(),
                code: status.as_str().to_owned(),
                message: status.canonical_reason().unwrap_or("error").to_owned(),
            });
        }
        let claims: Claims = response
            .json()
            .await
            .map_err(|e| GraphError::InvalidResponse {
                service: Service::UserInfo,
                message: format!("the claims are not Core §5.1's JSON: {e}"),
            })?;
        Ok(Profile {
            id: claims.sub,
            display_name: claims.name,
            given_name: claims.given_name,
            surname: claims.family_name,
            mail: claims.email,
            user_principal_name: claims.preferred_username,
            mobile_phone: claims.phone_number,
            preferred_language: claims.locale,
            picture: claims.picture,
            ..Profile::default()
        })
    }

    /// The user's `picture`, when the profile names one: fetched without the token (a
    /// picture URL is public, and the token is for the provider only), https only (or
    /// loopback), an image, at most 5 MiB.
    pub async fn photo(&self, token: &AccessToken) -> Result<Option<Photo>, GraphError> {
        let Some(picture) = self.profile(token).await?.picture else {
            return Ok(None);
        };
        let invalid = |message: String| GraphError::InvalidResponse {
            service: Service::UserInfo,
            message,
        };
        let url = Url::parse(&picture).map_err(|e| invalid(format!("picture {picture:?}: {e}")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(invalid(format!("the picture {url} is not https")));
        }
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.get(url).send())
            .await
            .map_err(|_| invalid("the picture took too long".into()))?
            .map_err(|e| network(&e))?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !response.status().is_success() || !content_type.starts_with("image/") {
            return Err(invalid(format!(
                "the picture answered {} {content_type}",
                response.status()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_PICTURE_BYTES as u64)
        {
            return Err(invalid("the picture is larger than 5 MiB".into()));
        }
        let bytes = response.bytes().await.map_err(|e| network(&e))?;
        if bytes.len() > MAX_PICTURE_BYTES {
            return Err(invalid("the picture is larger than 5 MiB".into()));
        }
        Ok(Some(Photo {
            content_type,
            bytes: bytes.to_vec(),
        }))
    }
}

fn network(error: &reqwest::Error) -> GraphError {
    GraphError::Network {
        service: Service::UserInfo,
        message: tessera_auth::http::describe(error),
    }
}
