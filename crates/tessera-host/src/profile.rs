//! Where the signed-in user's profile comes from, decided by the provider's kind: Microsoft
//! Graph (`/me` and the photo) for Entra ID and External ID, the userinfo endpoint (OpenID
//! Connect Core §5.3) for any other provider that advertises one, and the ID token's claims for
//! one that has neither (an Azure AD B2C user flow). The app's profile card and
//! `tessera-cli me` both go through here.

use std::future::Future;

use tessera_auth::id_token::IdTokenClaims;
use tessera_auth::{AuthenticationResult, PublicClientApplication};
use tessera_config::Endpoints;
use tessera_graph::{
    with_token, CallError, GraphClient, Photo, Profile, Service, TokenNeed, UserInfoClient,
};

/// The profile's source for one provider.
#[derive(Debug)]
pub enum ProfileSource {
    /// Microsoft Graph, at the authority's cloud's host (or the `graphUrl` setting).
    Graph(GraphClient),
    /// The provider's userinfo endpoint.
    UserInfo(UserInfoClient),
    /// Only the ID token: no profile service.
    IdToken,
}

/// The profile source, found once at the first use (it needs the provider's metadata).
#[derive(Debug)]
pub struct Profiles {
    endpoints: Endpoints,
    source: tokio::sync::OnceCell<ProfileSource>,
}

impl Profiles {
    /// The profile of `endpoints`' provider, found when first asked.
    pub fn new(endpoints: Endpoints) -> Profiles {
        Profiles {
            endpoints,
            source: tokio::sync::OnceCell::new(),
        }
    }

    /// The source, from the authority's kind and its metadata.
    pub async fn source(&self, auth: &PublicClientApplication) -> Result<&ProfileSource, String> {
        self.source
            .get_or_try_init(|| async {
                let http = auth.http_client().map_err(|e| e.to_string())?;
                let authority = auth.authority();
                if let Some(url) = &self.endpoints.graph_url {
                    if authority.is_microsoft() {
                        return GraphClient::new(http, url.clone())
                            .map(ProfileSource::Graph)
                            .map_err(|e| e.to_string());
                    }
                }
                let metadata = auth.metadata().await.map_err(|e| e.to_string())?;
                if let Some(url) = authority.graph_url(&metadata) {
                    return GraphClient::new(http, url)
                        .map(ProfileSource::Graph)
                        .map_err(|e| e.to_string());
                }
                Ok(match &metadata.userinfo_endpoint {
                    Some(endpoint) => {
                        ProfileSource::UserInfo(UserInfoClient::new(http, endpoint.clone()))
                    }
                    None => ProfileSource::IdToken,
                })
            })
            .await
    }
}

impl ProfileSource {
    /// The scopes a token for this source needs; `None`: the engine's defaults.
    pub fn scopes(&self) -> Option<Vec<String>> {
        match self {
            ProfileSource::Graph(_) => Some(
                tessera_graph::PROFILE_SCOPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ProfileSource::UserInfo(_) => Some(
                crate::engine::OIDC_DEFAULT_SCOPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ProfileSource::IdToken => None,
        }
    }

    /// Which service it is, for what the UI says about it.
    pub fn service(&self) -> Option<Service> {
        match self {
            ProfileSource::Graph(_) => Some(Service::Graph),
            ProfileSource::UserInfo(_) => Some(Service::UserInfo),
            ProfileSource::IdToken => None,
        }
    }

    /// The signed-in user's profile with a token from `acquire`, answering a claims challenge
    /// or a refused token with one new token and one retry (`with_token`).
    pub async fn profile<E, A, AF>(
        &self,
        auth: &PublicClientApplication,
        mut acquire: A,
    ) -> Result<Profile, CallError<E>>
    where
        A: FnMut(TokenNeed) -> AF,
        AF: Future<Output = Result<AuthenticationResult, E>>,
    {
        let token = |need| {
            let acquired = acquire(need);
            async move { acquired.await.map(|r| r.access_token) }
        };
        match self {
            ProfileSource::Graph(graph) => {
                with_token(token, |t| async move { graph.me(&t).await }).await
            }
            ProfileSource::UserInfo(userinfo) => {
                with_token(token, |t| async move { userinfo.profile(&t).await }).await
            }
            ProfileSource::IdToken => {
                let result = acquire(TokenNeed::Any).await.map_err(CallError::Token)?;
                let claims = result
                    .id_token_claims
                    .clone()
                    .or_else(|| auth.id_token_claims(&result.account));
                Ok(claims
                    .map(|c| from_id_token(&c))
                    .unwrap_or_else(|| Profile {
                        id: result.account.local_account_id.clone(),
                        display_name: result.account.name.clone(),
                        user_principal_name: Some(result.account.username.clone()),
                        ..Profile::default()
                    }))
            }
        }
    }

    /// The user's photo, when the source has one.
    pub async fn photo<E, A, AF>(&self, mut acquire: A) -> Result<Option<Photo>, CallError<E>>
    where
        A: FnMut(TokenNeed) -> AF,
        AF: Future<Output = Result<AuthenticationResult, E>>,
    {
        let token = |need| {
            let acquired = acquire(need);
            async move { acquired.await.map(|r| r.access_token) }
        };
        match self {
            ProfileSource::Graph(graph) => {
                with_token(token, |t| async move { graph.photo(&t).await }).await
            }
            ProfileSource::UserInfo(userinfo) => {
                with_token(token, |t| async move { userinfo.photo(&t).await }).await
            }
            ProfileSource::IdToken => Ok(None),
        }
    }
}

/// A profile from ID token claims (Core §5.1 names, B2C's `emails`).
pub fn from_id_token(claims: &IdTokenClaims) -> Profile {
    Profile {
        id: claims.oid.clone().unwrap_or_else(|| claims.sub.clone()),
        display_name: claims.name.clone(),
        mail: claims
            .email
            .clone()
            .or_else(|| claims.emails.first().cloned()),
        user_principal_name: claims.username().map(str::to_owned),
        ..Profile::default()
    }
}
