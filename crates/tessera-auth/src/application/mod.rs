//! `PublicClientApplication`: the native-app token pattern, as MSAL defines it. Silent first
//! (cache, then refresh token, then the provider's session through a silent agent), interaction
//! only when the provider demands it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use url::Url;

use crate::agent::AgentError;
use crate::authority::{Authority, Jwks, Metadata};
use crate::cache::{Account, TokenCache, OIDC_SCOPES};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::persistence::CachePersistence;
use crate::single_flight::{OneAtATime, SingleFlight};
use crate::throttle::Throttle;
use crate::token_client;

mod completion;
mod device_code;
mod interactive;
mod silent;
mod types;

pub use device_code::{DeviceCodeInfo, DeviceCodeRequest};
pub use types::{
    AuthenticationResult, CacheLookupPolicy, Config, InteractiveRequest, Prompt, SilentRequest,
    TokenSource,
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
    /// Provider metadata and when it was fetched; refetched after [`METADATA_MAX_AGE`].
    metadata: tokio::sync::Mutex<Option<(i64, Arc<Metadata>)>>,
    jwks: tokio::sync::RwLock<Option<Jwks>>,
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
        let authority = Authority::parse(&config.authority)?;
        let app = PublicClientApplication {
            inner: Arc::new(Inner {
                config,
                authority,
                http: OnceLock::new(),
                metadata: tokio::sync::Mutex::new(None),
                jwks: tokio::sync::RwLock::new(None),
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

    /// Replaces the cache from the persistence layer if another process changed it.
    /// The HTTP client, built on first use (a bad `SSL_CERT_FILE` is reported then).
    fn http(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.inner.http.get() {
            return Ok(client);
        }
        let client = token_client::http_client(self.inner.config.http_timeout)?;
        Ok(self.inner.http.get_or_init(|| client))
    }

    fn reload(&self) {
        let Some(persistence) = &self.inner.persistence else {
            return;
        };
        let outcome = persistence.load_if_changed().and_then(|blob| match blob {
            Some(blob) => self.inner.cache.merge_stored(&blob).map_err(Into::into),
            None => Ok(()),
        });
        let outcome = match outcome {
            // Unreadable: kept aside, and this process carries on signed out (or with what it
            // had) instead of refusing every save.
            Err(crate::persistence::PersistenceError::Cache(error)) => {
                let kept = match persistence.set_aside() {
                    Ok(Some(place)) => format!(" (kept as {place})"),
                    Ok(None) => String::new(),
                    Err(why) => format!(" (could not be set aside: {why})"),
                };
                Err(crate::persistence::PersistenceError::Unreadable(format!(
                    "{error}{kept}"
                )))
            }
            other => other,
        };
        self.record_persistence("load", outcome.err());
    }

    /// Remembers and announces a persistence failure; a success clears the last one.
    fn record_persistence(
        &self,
        operation: &str,
        error: Option<crate::persistence::PersistenceError>,
    ) {
        let mut last = self
            .inner
            .persistence_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match error {
            None if operation == "save" => *last = None,
            None => {}
            Some(error) => {
                *last = Some(format!("{operation}: {error}"));
                drop(last);
                self.emit(Event::PersistenceFailed {
                    operation: operation.into(),
                    message: error.to_string(),
                });
            }
        }
    }

    /// The last failure to load or save the persisted cache, until a save succeeds: a UI that
    /// starts after the fact can still warn that tokens are kept in memory only.
    pub fn persistence_error(&self) -> Option<String> {
        self.inner
            .persistence_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Exports the cache to the persistence layer after a change.
    fn persist(&self) {
        let Some(persistence) = &self.inner.persistence else {
            return;
        };
        let cache = &self.inner.cache;
        let mut written = None;
        let outcome = persistence.save(&mut |stored| {
            if let Some(stored) = stored {
                cache.merge_stored(&stored)?;
            }
            let (blob, snapshot) = cache.snapshot();
            written = Some(snapshot);
            Ok(blob)
        });
        if let (Ok(()), Some(snapshot)) = (&outcome, written) {
            cache.mark_saved(snapshot);
        }
        self.record_persistence("save", outcome.err());
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

    /// The provider's end-session URL for an account, if the provider has one.
    pub async fn end_session_url(
        &self,
        account: &Account,
        post_logout_redirect_uri: Option<&Url>,
    ) -> Result<Option<Url>> {
        let metadata = self.metadata().await?;
        Ok(metadata.end_session_endpoint.clone().map(|mut url| {
            url.query_pairs_mut()
                .append_pair("logout_hint", &account.username);
            if let Some(uri) = post_logout_redirect_uri {
                url.query_pairs_mut()
                    .append_pair("post_logout_redirect_uri", uri.as_str());
            }
            url
        }))
    }

    /// The provider's metadata, fetched once.
    pub async fn metadata(&self) -> Result<Arc<Metadata>> {
        self.metadata_from(false).await
    }

    /// The metadata, fetched from the provider even when cached when `fetch` is set.
    async fn metadata_from(&self, fetch: bool) -> Result<Arc<Metadata>> {
        let now = self.inner.clock.now();
        // One fetch at a time: concurrent first requests wait for it.
        let mut current = self.inner.metadata.lock().await;
        if let Some((fetched_at, metadata)) = current.as_ref() {
            if now - fetched_at < METADATA_MAX_AGE && !fetch {
                return Ok(metadata.clone());
            }
        }
        let url = self.inner.authority.discovery_url();
        self.reload();
        let cached = match fetch {
            true => None,
            false => self.inner.cache.metadata(&url, now, METADATA_MAX_AGE),
        };
        let (fetched_at, metadata) = match cached {
            Some(cached) => (cached.fetched_at, cached.metadata),
            None => {
                let metadata: Metadata = self.get_json(&url).await?;
                metadata.validate(&self.inner.authority)?;
                self.inner.cache.store_metadata(&url, now, metadata.clone());
                self.persist();
                (now, metadata)
            }
        };
        let metadata = Arc::new(metadata);
        *current = Some((fetched_at, metadata.clone()));
        Ok(metadata)
    }

    /// Refuses scopes of more than one resource: a token is for one API (others can be
    /// consented to with `extra_scopes_to_consent`).
    fn check_one_resource(scopes: &[String]) -> Result<()> {
        // The common case, one resource, without allocating (it is on every silent request).
        let mut found = scopes
            .iter()
            .filter_map(|s| crate::cache::resource_slice(s));
        let first = found.next();
        if found.all(|r| first.is_some_and(|f| f.eq_ignore_ascii_case(r))) {
            return Ok(());
        }
        let mut resources: Vec<String> = scopes
            .iter()
            .filter_map(|s| crate::cache::resource_of(s))
            .collect();
        resources.sort();
        resources.dedup();
        if resources.len() > 1 {
            return Err(Error::Configuration(format!(
                "one request may ask for scopes of one resource only, not {}; consent to the others with extra_scopes_to_consent",
                resources.join(" and ")
            )));
        }
        Ok(())
    }

    /// The request's scopes (or the defaults) plus the OpenID Connect scopes MSAL always adds.
    fn request_scopes(&self, scopes: &[String]) -> Vec<String> {
        let mut all: Vec<String> = if scopes.is_empty() {
            self.inner.config.default_scopes.clone()
        } else {
            scopes.to_vec()
        };
        for oidc in OIDC_SCOPES {
            if !all.iter().any(|s| s.eq_ignore_ascii_case(oidc)) {
                all.push(oidc.to_owned());
            }
        }
        all
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let response = self.http()?.get(url).send().await.map_err(|e| {
            Error::Network(format!(
                "{url}: {}",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "could not connect"
                }
            ))
        })?;
        let status = response.status();
        if status.as_u16() == 429 || status.as_u16() == 503 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(seconds) = retry_after {
                return Err(Error::Throttled {
                    retry_after: Duration::from_secs(seconds),
                });
            }
        }
        if !status.is_success() {
            return Err(Error::Network(format!("{url} answered HTTP {status}")));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|_| Error::Network(format!("{url}: the connection broke while reading")))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(format!("{url}: {e}")))
    }
}

fn agent_error(error: AgentError) -> Error {
    match error {
        AgentError::Cancelled => Error::UserCancelled,
        AgentError::Timeout => Error::Timeout,
        AgentError::Failed(message) => Error::Network(message),
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
