//! `PublicClientApplication`: the native-app token pattern, as MSAL defines it. Silent first
//! (cache, then refresh token, then the provider's session through a silent agent), interaction
//! only when the provider demands it.

use std::sync::{Arc, OnceLock};

use url::Url;

use crate::agent::AgentError;
use crate::authority::{Authority, Jwks, Metadata};
use crate::cache::{Account, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::persistence::CachePersistence;
use crate::single_flight::{OneAtATime, SingleFlight};
use crate::throttle::Throttle;

mod completion;
mod device_code;
mod interactive;
mod provider;
mod refresh_lock;
mod silent;
mod storage;
mod token_endpoint;
mod types;

pub use crate::event::TokenSource;
pub use device_code::{DeviceCodeInfo, DeviceCodeRequest};
pub use types::{
    AuthenticationResult, CacheLookupPolicy, Config, InteractiveRequest, Prompt, SilentRequest,
};

/// How long provider metadata is trusted before it is fetched again, in seconds.
pub const METADATA_MAX_AGE: i64 = 24 * 3600;

/// Entra's redirect URI for desktop apps' embedded sign-in windows.
pub const NATIVE_CLIENT_REDIRECT_URI: &str =
    "https://login.microsoftonline.com/common/oauth2/nativeclient";

/// The entry point: one per process, cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct PublicClientApplication {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    authority: Authority,
    /// Built at the first network call: a start-up served from the cache never pays for
    /// loading root certificates.
    http: OnceLock<reqwest::Client>,
    /// Provider metadata by discovery URL (the configured authority's, and a guest's resource
    /// tenants'), and when it was fetched; refetched after [`METADATA_MAX_AGE`].
    metadata: tokio::sync::Mutex<std::collections::HashMap<String, (i64, Arc<Metadata>)>>,
    /// The signing keys, and when they were fetched. One fetch at a time.
    jwks: tokio::sync::Mutex<Option<KeySet>>,
    cache: TokenCache,
    /// Held for the whole of an interactive request: a second one fails fast.
    interaction: tokio::sync::Mutex<()>,
    /// Wakes the running interactive request to cancel it.
    cancel_interaction: tokio::sync::Notify,
    active_account: std::sync::RwLock<Option<String>>,
    clock: Arc<dyn Clock>,
    /// Refresh-token redemptions in flight, by request key.
    refreshes: SingleFlight<Result<Option<AuthenticationResult>>>,
    /// Silent SSO attempts, one at a time per request key.
    silent_sso: OneAtATime<Result<AuthenticationResult>>,
    throttle: Throttle,
    events: tokio::sync::broadcast::Sender<Event>,
    persistence: Option<Arc<dyn CachePersistence>>,
    /// The last load or save failure, for a UI that starts after it happened.
    persistence_error: std::sync::Mutex<Option<String>>,
    /// One refresh-token redemption at a time per account, in this process.
    refresh_gates: refresh_lock::Gates,
}

/// The provider's signing keys as the engine holds them.
#[derive(Debug)]
struct KeySet {
    jwks: Arc<Jwks>,
    fetched_at: i64,
    /// The last fetch an unknown `kid` caused.
    forced_at: Option<i64>,
}

/// Builds a [`PublicClientApplication`] with optional parts.
#[derive(Debug)]
pub struct ApplicationBuilder {
    config: Config,
    clock: Arc<dyn Clock>,
    persistence: Option<Arc<dyn CachePersistence>>,
}

impl ApplicationBuilder {
    /// Uses another clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Persists the cache there; it is loaded once now and before every read.
    pub fn persistence(mut self, persistence: Arc<dyn CachePersistence>) -> Self {
        self.persistence = Some(persistence);
        self
    }

    /// Validates the configuration and builds the application. Nothing is fetched from the
    /// network until the first request. A cache that cannot be loaded leaves the application
    /// signed out (an [`Event::PersistenceFailed`] says why) and is not overwritten until the
    /// next change.
    pub fn build(self) -> Result<PublicClientApplication> {
        let ApplicationBuilder {
            config,
            clock,
            persistence,
        } = self;
        if config.client_id.trim().is_empty() {
            return Err(Error::Configuration("the client id is empty".into()));
        }
        let authority = Authority::parse_as(&config.authority, config.authority_type)?;
        let app = PublicClientApplication {
            inner: Arc::new(Inner {
                config,
                authority,
                http: OnceLock::new(),
                metadata: tokio::sync::Mutex::new(std::collections::HashMap::new()),
                jwks: tokio::sync::Mutex::new(None),
                cache: TokenCache::default(),
                interaction: tokio::sync::Mutex::new(()),
                cancel_interaction: tokio::sync::Notify::new(),
                active_account: std::sync::RwLock::new(None),
                clock,
                refreshes: SingleFlight::default(),
                silent_sso: OneAtATime::default(),
                throttle: Throttle::default(),
                events: tokio::sync::broadcast::channel(256).0,
                persistence,
                persistence_error: std::sync::Mutex::new(None),
                refresh_gates: refresh_lock::Gates::default(),
            }),
        };
        app.reload();
        Ok(app)
    }
}

impl PublicClientApplication {
    /// Builds the application with the system clock and no persistence.
    pub fn new(config: Config) -> Result<PublicClientApplication> {
        Self::builder(config).build()
    }

    /// A builder, for a clock or a persistence layer.
    pub fn builder(config: Config) -> ApplicationBuilder {
        ApplicationBuilder {
            config,
            clock: Arc::new(SystemClock),
            persistence: None,
        }
    }

    /// Cancels the interactive request in progress, if any: it ends with
    /// [`Error::UserCancelled`] and the agent is told so.
    pub fn cancel_interaction(&self) {
        self.inner.cancel_interaction.notify_waiters();
    }

    /// A stream of the engine's events. A slow subscriber misses the oldest events rather
    /// than slowing the engine down.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: Event) {
        log::trace!(target: "tessera_auth::event", "{event:?}");
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    /// Whether anyone listens: events on the cache-hit path are not even built otherwise.
    fn has_listeners(&self) -> bool {
        self.inner.events.receiver_count() > 0
    }

    fn emit_outcome(&self, outcome: &Result<AuthenticationResult>, correlation_id: &str) {
        match outcome {
            Ok(result) => log::debug!(
                "token for {} from {:?}, expires at {} (correlation id {correlation_id})",
                result.account.home_account_id,
                result.source,
                result.expires_on
            ),
            Err(error) => log::info!(
                "token request failed, {}: {error} (correlation id {correlation_id})",
                error.kind()
            ),
        }
        if !self.has_listeners() {
            return;
        }
        self.emit(match outcome {
            Ok(result) => Event::AcquireTokenSuccess {
                source: result.source,
                home_account_id: result.account.home_account_id.clone(),
                expires_on: result.expires_on,
                correlation_id: result.correlation_id.clone(),
            },
            Err(error) => Event::AcquireTokenFailure {
                error: error.kind().to_owned(),
                classification: error.classification(),
                correlation_id: correlation_id.to_owned(),
            },
        });
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The parsed authority.
    pub fn authority(&self) -> &Authority {
        &self.inner.authority
    }

    /// The token cache (for persistence: `serialize` / `deserialize`).
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }

    /// Every signed-in account.
    pub fn accounts(&self) -> Vec<Account> {
        self.reload();
        self.inner.cache.accounts()
    }

    /// The account with this home account id.
    pub fn account(&self, home_account_id: &str) -> Option<Account> {
        self.accounts()
            .into_iter()
            .find(|a| a.home_account_id == home_account_id)
    }

    /// Makes an account the active one (it must be known).
    pub fn set_active_account(&self, home_account_id: Option<&str>) -> Result<()> {
        if let Some(id) = home_account_id {
            if self.account(id).is_none() {
                return Err(Error::AccountNotFound(id.to_owned()));
            }
        }
        *self
            .inner
            .active_account
            .write()
            .unwrap_or_else(|p| p.into_inner()) = home_account_id.map(str::to_owned);
        self.emit(Event::ActiveAccountChanged {
            home_account_id: home_account_id.map(str::to_owned),
        });
        Ok(())
    }

    /// The claims of the account's cached ID token (its home tenant's), if one is cached: what
    /// a provider without a profile service says about the user.
    pub fn id_token_claims(
        &self,
        account: &Account,
    ) -> Option<Arc<crate::id_token::IdTokenClaims>> {
        self.reload();
        self.inner
            .cache
            .id_token_claims(account, &account.realm, &self.inner.config.client_id)
    }

    /// The active account, if one is set and still signed in.
    pub fn active_account(&self) -> Option<Account> {
        let id = self
            .inner
            .active_account
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        self.account(&id)
    }

    /// Forgets an account and its tokens (sign-out from this app). For a full sign-out, send the
    /// browser to [`Self::end_session_url`] as well.
    pub fn remove_account(&self, account: &Account) -> Result<()> {
        self.reload();
        if !self.inner.cache.remove_account(account) {
            return Err(Error::AccountNotFound(account.home_account_id.clone()));
        }
        self.persist();
        let was_active = {
            let mut active = self
                .inner
                .active_account
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let was_active = active.as_deref() == Some(account.home_account_id.as_str());
            if was_active {
                *active = None;
            }
            was_active
        };
        self.emit(Event::AccountRemoved {
            home_account_id: account.home_account_id.clone(),
        });
        if was_active {
            self.emit(Event::ActiveAccountChanged {
                home_account_id: None,
            });
        }
        Ok(())
    }

    /// The provider's end-session request for an account (OpenID Connect RP-Initiated Logout
    /// 1.0 §2), if the provider has an end-session endpoint: `client_id`, `id_token_hint` when
    /// an ID token is cached, `post_logout_redirect_uri`, and on Microsoft authorities
    /// `logout_hint` from the ID token's `login_hint` claim, without which Entra shows an
    /// account picker (msal-browser `StandardInteractionClient`; Microsoft Learn, "Optional
    /// claims reference"). Call it before [`Self::remove_account`], which forgets the ID token.
    pub async fn end_session_url(
        &self,
        account: &Account,
        post_logout_redirect_uri: Option<&Url>,
    ) -> Result<Option<Url>> {
        let metadata = self.metadata().await?;
        let Some(mut url) = metadata.end_session_endpoint.clone() else {
            return Ok(None);
        };
        let client_id = &self.inner.config.client_id;
        let id_token = self
            .inner
            .cache
            .id_token(account, &account.realm, client_id);
        let claims = self
            .inner
            .cache
            .id_token_claims(account, &account.realm, client_id);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", client_id);
            if let Some(id_token) = &id_token {
                query.append_pair("id_token_hint", id_token.secret());
            }
            if self.inner.authority.is_microsoft() {
                if let Some(hint) = claims.as_ref().and_then(|c| c.login_hint.as_deref()) {
                    query.append_pair("logout_hint", hint);
                }
            }
            if let Some(uri) = post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", uri.as_str());
            }
        }
        Ok(Some(url))
    }

    /// Ends the provider's session through `agent`, where that session lives (the app's
    /// webview for sign-ins made there, the system browser for those), with the URL
    /// [`Self::end_session_url`] made (without a `post_logout_redirect_uri`): the agent's
    /// redirect URI becomes the post-logout one, with a fresh `state` (RP-Initiated Logout
    /// 1.0 §2, §3). It succeeds only when the provider redirects there with that state: an
    /// account picker left unanswered, a closed window or the time limit is an error, never
    /// a sign-out (Entra shows a picker whenever `logout_hint` is missing). One interaction
    /// at a time, like a sign-in.
    pub async fn end_session(
        &self,
        end_session_url: Url,
        agent: &dyn crate::agent::InteractiveAgent,
    ) -> Result<()> {
        let Ok(_one_at_a_time) = self.inner.interaction.try_lock() else {
            return Err(Error::InteractionInProgress);
        };
        let post_logout = agent.redirect_uri();
        let state = crate::secret::CsrfState::generate();
        let mut url = end_session_url;
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", post_logout.as_str())
            .append_pair("state", state.secret());
        self.emit(Event::InteractionStatus {
            status: agent.interaction_status(),
            redirect_uri: Some(post_logout.to_string()),
        });
        let cancelled = self.inner.cancel_interaction.notified();
        let outcome = tokio::select! {
            redirect = agent.authorize(crate::agent::AgentRequest {
                authorize_url: url,
                redirect_uri: post_logout.clone(),
            }) => redirect.map_err(agent_error),
            () = cancelled => Err(Error::UserCancelled),
        };
        self.emit(Event::InteractionStatus {
            status: crate::event::InteractionStatus::None,
            redirect_uri: None,
        });
        let confirmed = outcome.and_then(|redirect| {
            // Scheme, host, port and path: a private-use scheme URI has an opaque origin,
            // which equals nothing.
            let at_post_logout = redirect.scheme() == post_logout.scheme()
                && redirect.host_str() == post_logout.host_str()
                && redirect.port_or_known_default() == post_logout.port_or_known_default()
                && redirect.path().trim_end_matches('/')
                    == post_logout.path().trim_end_matches('/');
            let state_back = redirect
                .query_pairs()
                .any(|(k, v)| k == "state" && state.matches(&v));
            if at_post_logout && state_back {
                Ok(())
            } else {
                Err(Error::InvalidResponse(
                    "the sign-out came back without the state it was sent with".into(),
                ))
            }
        });
        agent
            .finished(confirmed.as_ref().map(|_| ()).map_err(|e| e.to_string()))
            .await;
        confirmed
    }
}

fn agent_error(error: AgentError) -> Error {
    match error {
        AgentError::Cancelled => Error::UserCancelled,
        AgentError::Timeout => Error::Timeout,
        AgentError::Failed(message) => Error::Network(message),
        AgentError::Refused(status) => Error::Configuration(format!(
            "the identity provider refused the sign-in request (HTTP {status})"
        )),
    }
}

/// [`agent_error`], naming what to register when the provider refused the request.
fn interactive_agent_error(error: AgentError, redirect_uri: &Url, client_id: &str) -> Error {
    match error {
        AgentError::Refused(status) => Error::Configuration(format!(
            "the identity provider refused the sign-in request (HTTP {status}): register {redirect_uri} as a redirect URI of the application {client_id} there, or set the redirectUri setting to one it has"
        )),
        other => agent_error(other),
    }
}

/// A random (version 4) GUID for `client-request-id`. It is not a secret, but it must not
/// repeat: the thread's CSPRNG (seeded from the OS) gives that without a system call per
/// request, which matters on the cache-hit path.
fn new_correlation_id() -> String {
    use rand::RngCore;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut id = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn correlation_ids_are_guids() {
        let id = super::new_correlation_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "version 4");
        assert_ne!(id, super::new_correlation_id());
    }
}
