//! `PublicClientApplication`: the native-app token pattern, as MSAL defines it. Silent first
//! (cache, then refresh token, then the provider's session through a silent agent), interaction
//! only when the provider demands it.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::agent::{AgentError, AgentRequest, InteractiveAgent, SilentAgent};
use crate::authority::{Authority, Jwks, Metadata};
use crate::cache::{AccessTokenEntry, Account, CachedToken, IdTokenEntry, TokenCache, OIDC_SCOPES};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::{Event, InteractionStatus};
use crate::id_token::{self, IdTokenClaims, IdTokenError};
use crate::persistence::CachePersistence;
use crate::request::{self, AuthorizeOptions, PendingAuthorization};
use crate::secret::{AccessToken, AuthorizationCode, IdToken, Nonce};
use crate::single_flight::SingleFlight;
use crate::throttle::Throttle;
use crate::token_client::{self, Redemption, TokenResponse};

/// Entra's redirect URI for desktop apps' embedded sign-in windows.
pub const NATIVE_CLIENT_REDIRECT_URI: &str =
    "https://login.microsoftonline.com/common/oauth2/nativeclient";

/// How the application is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Application (client) id.
    pub client_id: String,
    /// Authority URL: `https://login.microsoftonline.com/{tenant}` or any OIDC issuer.
    pub authority: String,
    /// Scopes added to every request that names none.
    pub default_scopes: Vec<String>,
    /// A token expiring within this much counts as expired (default 5 minutes).
    pub renewal_offset: Duration,
    /// Client capabilities (`cp1` lets Entra send Continuous Access Evaluation challenges).
    pub client_capabilities: Vec<String>,
    /// Time limit of each HTTP request to the provider.
    pub http_timeout: Duration,
}

impl Config {
    /// A configuration with the defaults: no default scopes, 5-minute renewal offset, no
    /// capabilities, 30-second HTTP time limit.
    pub fn new(client_id: impl Into<String>, authority: impl Into<String>) -> Config {
        Config {
            client_id: client_id.into(),
            authority: authority.into(),
            default_scopes: vec![],
            renewal_offset: Duration::from_secs(300),
            client_capabilities: vec![],
            http_timeout: Duration::from_secs(30),
        }
    }
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The cache: no network.
    Cache,
    /// A refresh-token redemption.
    RefreshToken,
    /// A `prompt=none` request through the silent agent.
    SilentSso,
    /// An interactive sign-in.
    Interactive,
}

/// A token and what is known about it.
#[derive(Debug, Clone)]
pub struct AuthenticationResult {
    /// The access token, for the `Authorization: Bearer` header.
    pub access_token: AccessToken,
    /// Expiry, Unix seconds.
    pub expires_on: i64,
    /// Extended expiry (Entra's resilience window), Unix seconds.
    pub ext_expires_on: i64,
    /// Granted scopes, which may differ from the requested ones.
    pub scopes: Vec<String>,
    /// The account.
    pub account: Account,
    /// The validated ID token claims, when there is an ID token.
    pub id_token_claims: Option<IdTokenClaims>,
    /// Where it came from.
    pub source: TokenSource,
    /// The correlation id sent to the provider (`client-request-id`).
    pub correlation_id: String,
}

/// Which parts of the cache a silent request may use (MSAL's `CacheLookupPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheLookupPolicy {
    /// Access token, then refresh token, then silent SSO.
    #[default]
    Default,
    /// The cached access token only: no network at all.
    AccessToken,
    /// Access token, then refresh token; no silent SSO.
    AccessTokenAndRefreshToken,
    /// Refresh token only (skip the cached access token); no silent SSO.
    RefreshToken,
    /// Skip the cache: silent SSO only.
    Skip,
}

impl CacheLookupPolicy {
    fn access_token(self) -> bool {
        matches!(
            self,
            Self::Default | Self::AccessToken | Self::AccessTokenAndRefreshToken
        )
    }
    fn refresh_token(self) -> bool {
        matches!(
            self,
            Self::Default | Self::AccessTokenAndRefreshToken | Self::RefreshToken
        )
    }
    fn silent_sso(self) -> bool {
        matches!(self, Self::Default | Self::Skip)
    }
}

/// A silent request.
#[derive(Debug, Clone)]
pub struct SilentRequest {
    /// Scopes of one resource; empty means the configured defaults.
    pub scopes: Vec<String>,
    /// Whose token.
    pub account: Account,
    /// Skip the cached access token.
    pub force_refresh: bool,
    /// A claims challenge (from a resource's 401); always skips the cached access token.
    pub claims: Option<String>,
    /// Which parts of the cache to use.
    pub cache_lookup_policy: CacheLookupPolicy,
}

impl SilentRequest {
    /// A default request for `account`.
    pub fn new(account: Account, scopes: Vec<String>) -> SilentRequest {
        SilentRequest {
            scopes,
            account,
            force_refresh: false,
            claims: None,
            cache_lookup_policy: CacheLookupPolicy::Default,
        }
    }
}

/// `prompt` of an interactive request (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Ask for credentials even with a session.
    Login,
    /// Show the consent page.
    Consent,
    /// Show the account picker.
    SelectAccount,
}

impl Prompt {
    fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }
}

/// An interactive request.
#[derive(Debug, Clone, Default)]
pub struct InteractiveRequest {
    /// Scopes of one resource; empty means the configured defaults.
    pub scopes: Vec<String>,
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `login_hint`: the user to sign in.
    pub login_hint: Option<String>,
    /// `domain_hint`.
    pub domain_hint: Option<String>,
    /// A claims challenge to satisfy.
    pub claims: Option<String>,
    /// Scopes of other resources to consent to now, without a token for them.
    pub extra_scopes_to_consent: Vec<String>,
}

/// The entry point: one per process, cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct PublicClientApplication {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    authority: Authority,
    http: reqwest::Client,
    metadata: tokio::sync::OnceCell<Metadata>,
    jwks: tokio::sync::RwLock<Option<Jwks>>,
    cache: TokenCache,
    /// Held for the whole of an interactive request: a second one fails fast.
    interaction: tokio::sync::Mutex<()>,
    active_account: std::sync::RwLock<Option<String>>,
    clock: Arc<dyn Clock>,
    /// Refresh-token redemptions in flight, by request key.
    refreshes: SingleFlight<Result<Option<AuthenticationResult>>>,
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
        let http = token_client::http_client(config.http_timeout)?;
        let app = PublicClientApplication {
            inner: Arc::new(Inner {
                config,
                authority,
                http,
                metadata: tokio::sync::OnceCell::new(),
                jwks: tokio::sync::RwLock::new(None),
                cache: TokenCache::default(),
                interaction: tokio::sync::Mutex::new(()),
                active_account: std::sync::RwLock::new(None),
                clock,
                refreshes: SingleFlight::default(),
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
    fn reload(&self) {
        let Some(persistence) = &self.inner.persistence else {
            return;
        };
        let outcome = persistence.load_if_changed().and_then(|blob| match blob {
            Some(blob) => self.inner.cache.deserialize(&blob).map_err(Into::into),
            None => Ok(()),
        });
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
        let outcome = persistence.save(&self.inner.cache.serialize());
        self.record_persistence("save", outcome.err());
    }

    /// A stream of the engine's events. A slow subscriber misses the oldest events rather
    /// than slowing the engine down.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    fn emit_outcome(&self, outcome: &Result<AuthenticationResult>, correlation_id: &str) {
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
    pub async fn metadata(&self) -> Result<&Metadata> {
        self.inner
            .metadata
            .get_or_try_init(|| async {
                let url = self.inner.authority.discovery_url();
                let metadata: Metadata = self.get_json(&url).await?;
                metadata.validate(&self.inner.authority)?;
                Ok(metadata)
            })
            .await
    }

    /// Signs a user in through `agent` (authorization code + PKCE), and caches the result.
    ///
    /// Honours `scopes`, `prompt`, `login_hint`, `domain_hint`, `claims` (merged with the
    /// client capabilities) and `extra_scopes_to_consent`. Fails at once with
    /// [`Error::InteractionInProgress`] while another interactive request runs.
    pub async fn acquire_token_interactive(
        &self,
        request: InteractiveRequest,
        agent: &dyn InteractiveAgent,
    ) -> Result<AuthenticationResult> {
        let correlation_id = new_correlation_id();
        self.emit(Event::AcquireTokenStart {
            interactive: true,
            correlation_id: correlation_id.clone(),
        });
        let outcome = match self.inner.interaction.try_lock() {
            Err(_) => Err(Error::InteractionInProgress),
            Ok(_one_at_a_time) => {
                self.emit(Event::InteractionStatus {
                    status: agent.interaction_status(),
                });
                let outcome = self.interactive_flow(request, agent, &correlation_id).await;
                self.emit(Event::InteractionStatus {
                    status: InteractionStatus::None,
                });
                agent
                    .finished(outcome.as_ref().map(|_| ()).map_err(|e| e.to_string()))
                    .await;
                outcome
            }
        };
        self.emit_outcome(&outcome, &correlation_id);
        outcome
    }

    async fn interactive_flow(
        &self,
        request: InteractiveRequest,
        agent: &dyn InteractiveAgent,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let metadata = self.metadata().await?;
        let scopes = self.request_scopes(&request.scopes);
        let mut consent_scopes = scopes.clone();
        consent_scopes.extend(request.extra_scopes_to_consent.iter().cloned());
        let claims = request::merge_claims(
            request.claims.as_deref(),
            &self.inner.config.client_capabilities,
        )?;
        let pending = request::authorize(
            metadata,
            &self.inner.config.client_id,
            &agent.redirect_uri(),
            AuthorizeOptions {
                scopes: &consent_scopes,
                prompt: request.prompt.map(Prompt::as_str),
                login_hint: request.login_hint.as_deref(),
                domain_hint: request.domain_hint.as_deref(),
                claims: claims.as_deref(),
                client_info: self.inner.authority.is_entra(),
                response_mode: Some(agent.response_mode()),
            },
        );
        let redirect = agent
            .authorize(AgentRequest {
                authorize_url: pending.url.clone(),
                redirect_uri: pending.redirect_uri.clone(),
            })
            .await
            .map_err(agent_error)?;
        let code = request::parse_redirect(&redirect, &pending, metadata)?;
        self.redeem(
            metadata,
            code,
            pending,
            &scopes,
            claims.as_deref(),
            None,
            TokenSource::Interactive,
            correlation_id,
        )
        .await
    }

    /// The silent chain: a cached access token, else the refresh token, else silent SSO through
    /// `silent_agent` (when given), else [`Error::InteractionRequired`] with the provider's
    /// reason. Honours `force_refresh`, `claims` and `cache_lookup_policy`.
    pub async fn acquire_token_silent(
        &self,
        request: SilentRequest,
        silent_agent: Option<&dyn SilentAgent>,
    ) -> Result<AuthenticationResult> {
        let correlation_id = new_correlation_id();
        self.emit(Event::AcquireTokenStart {
            interactive: false,
            correlation_id: correlation_id.clone(),
        });
        let outcome = self
            .silent_chain(request, silent_agent, correlation_id.clone())
            .await;
        self.emit_outcome(&outcome, &correlation_id);
        outcome
    }

    async fn silent_chain(
        &self,
        request: SilentRequest,
        silent_agent: Option<&dyn SilentAgent>,
        correlation_id: String,
    ) -> Result<AuthenticationResult> {
        let account = &request.account;
        let policy = request.cache_lookup_policy;
        let scopes = self.request_scopes(&request.scopes);
        let client_id = &self.inner.config.client_id;
        self.reload();
        if !request.force_refresh && request.claims.is_none() && policy.access_token() {
            let now = self.inner.clock.now();
            let offset = self.inner.config.renewal_offset.as_secs() as i64;
            if let Some(hit) = self
                .inner
                .cache
                .access_token(account, client_id, &scopes, now, offset)
            {
                if hit.refresh_due {
                    self.refresh_in_background(account.clone(), request.scopes.clone());
                }
                return Ok(from_cache(hit, account, correlation_id));
            }
        }
        if !policy.refresh_token() && !policy.silent_sso() {
            return Err(Error::no_tokens(
                "no valid cached access token for this account and scopes",
            ));
        }
        let metadata = self.metadata().await?;
        let claims = request::merge_claims(
            request.claims.as_deref(),
            &self.inner.config.client_capabilities,
        )?;
        let mut reason = None;
        if policy.refresh_token() {
            let key = request_key(account, client_id, &scopes, claims.as_deref());
            self.inner.throttle.check(&key, self.inner.clock.now())?;
            let (app, owned_account, owned_scopes, owned_claims, owned_id) = (
                self.clone(),
                account.clone(),
                scopes.clone(),
                claims.clone(),
                correlation_id.clone(),
            );
            let outcome = self
                .inner
                .refreshes
                .run(&key, move || async move {
                    let metadata = app.metadata().await?;
                    app.redeem_refresh_token(
                        metadata,
                        &owned_account,
                        &owned_scopes,
                        owned_claims.as_deref(),
                        &owned_id,
                    )
                    .await
                })
                .await;
            self.inner
                .throttle
                .record(&key, self.inner.clock.now(), &outcome);
            match outcome {
                Ok(Some(result)) => return Ok(result),
                Ok(None) => {}
                // The old tokens stay for a transient failure; an interaction-required one
                // moves on to silent SSO.
                Err(error @ Error::InteractionRequired { .. }) => reason = Some(error),
                Err(error) => return Err(error),
            }
        }
        if let (true, Some(agent)) = (policy.silent_sso(), silent_agent) {
            let pending = request::authorize(
                metadata,
                client_id,
                &agent.redirect_uri(),
                AuthorizeOptions {
                    scopes: &scopes,
                    prompt: Some("none"),
                    login_hint: Some(&account.username),
                    claims: claims.as_deref(),
                    client_info: self.inner.authority.is_entra(),
                    ..AuthorizeOptions::default()
                },
            );
            self.emit(Event::InteractionStatus {
                status: InteractionStatus::Silent,
            });
            let outcome = async {
                let redirect = agent
                    .authorize_silently(AgentRequest {
                        authorize_url: pending.url.clone(),
                        redirect_uri: pending.redirect_uri.clone(),
                    })
                    .await
                    .map_err(agent_error)?;
                request::parse_redirect(&redirect, &pending, metadata)
            }
            .await;
            self.emit(Event::InteractionStatus {
                status: InteractionStatus::None,
            });
            match outcome {
                Ok(code) => {
                    return self
                        .redeem(
                            metadata,
                            code,
                            pending,
                            &scopes,
                            claims.as_deref(),
                            Some(account),
                            TokenSource::SilentSso,
                            &correlation_id,
                        )
                        .await
                }
                Err(error @ Error::InteractionRequired { .. }) => reason = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(reason.unwrap_or_else(|| {
            Error::no_tokens("no cached token or refresh token for this account and scopes")
        }))
    }

    /// Redeems the account's cached refresh token, if it has one, and caches the result.
    async fn redeem_refresh_token(
        &self,
        metadata: &Metadata,
        account: &Account,
        scopes: &[String],
        claims: Option<&str>,
        correlation_id: &str,
    ) -> Result<Option<AuthenticationResult>> {
        let client_id = &self.inner.config.client_id;
        // Another process may have redeemed it already and stored the rotated one.
        self.reload();
        let Some(refresh_token) = self.inner.cache.refresh_token(account, client_id) else {
            return Ok(None);
        };
        let redirect_uri = Url::parse(NATIVE_CLIENT_REDIRECT_URI)
            .map_err(|e| Error::Configuration(e.to_string()))?;
        let redemption = Redemption {
            client_id,
            redirect_uri: &redirect_uri,
            scopes,
            claims,
            client_info: self.inner.authority.is_entra(),
            correlation_id,
        };
        let response =
            match token_client::refresh(&self.inner.http, metadata, &refresh_token, redemption)
                .await
            {
                // A network failure or a 5xx without Retry-After is retried once, after a
                // jittered pause, so that a blip does not cost the user a sign-in and a storm
                // does not grow.
                Err(error) if error.is_transient() && !matches!(error, Error::Throttled { .. }) => {
                    tokio::time::sleep(retry_pause()).await;
                    let redemption = Redemption {
                        client_id,
                        redirect_uri: &redirect_uri,
                        scopes,
                        claims,
                        client_info: self.inner.authority.is_entra(),
                        correlation_id,
                    };
                    token_client::refresh(&self.inner.http, metadata, &refresh_token, redemption)
                        .await?
                }
                other => other?,
            };
        self.complete(
            metadata,
            response,
            None,
            Some(account),
            scopes,
            TokenSource::RefreshToken,
            correlation_id,
        )
        .await
        .map(Some)
    }

    /// Past Entra's `refresh_in` the cached token is still served, and a refresh runs in the
    /// background (MSAL's proactive refresh). Its failure changes nothing: the cached token stays
    /// until it really expires.
    fn refresh_in_background(&self, account: Account, scopes: Vec<String>) {
        let app = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let Ok(metadata) = app.metadata().await else {
                return;
            };
            let scopes = app.request_scopes(&scopes);
            let claims = request::merge_claims(None, &app.inner.config.client_capabilities)
                .ok()
                .flatten();
            let _ = app
                .redeem_refresh_token(
                    metadata,
                    &account,
                    &scopes,
                    claims.as_deref(),
                    &new_correlation_id(),
                )
                .await;
        });
    }

    #[allow(clippy::too_many_arguments)]
    async fn redeem(
        &self,
        metadata: &Metadata,
        code: AuthorizationCode,
        pending: PendingAuthorization,
        scopes: &[String],
        claims: Option<&str>,
        expected_account: Option<&Account>,
        source: TokenSource,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let PendingAuthorization {
            redirect_uri,
            nonce,
            verifier,
            ..
        } = pending;
        let redemption = Redemption {
            client_id: &self.inner.config.client_id,
            redirect_uri: &redirect_uri,
            scopes,
            claims,
            client_info: self.inner.authority.is_entra(),
            correlation_id,
        };
        let response =
            token_client::redeem_code(&self.inner.http, metadata, code, verifier, redemption)
                .await?;
        self.complete(
            metadata,
            response,
            Some(&nonce),
            expected_account,
            scopes,
            source,
            correlation_id,
        )
        .await
    }

    /// Validates the ID token, identifies the account, and caches everything in one step.
    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        metadata: &Metadata,
        response: TokenResponse,
        nonce: Option<&Nonce>,
        expected_account: Option<&Account>,
        scopes: &[String],
        source: TokenSource,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let now = self.inner.clock.now();
        let claims = match &response.id_token {
            Some(token) => Some(self.validate_id_token(metadata, token, nonce, now).await?),
            None => None,
        };
        let account = match (&claims, expected_account) {
            (Some(claims), _) => self.account_from(claims, response.client_info.as_deref())?,
            (None, Some(account)) => account.clone(),
            (None, None) => {
                return Err(Error::InvalidResponse(
                    "the response has no ID token to identify the account".into(),
                ))
            }
        };
        if let Some(expected) = expected_account {
            if expected.home_account_id != account.home_account_id {
                return Err(Error::InvalidResponse(
                    "the provider returned a token for another account".into(),
                ));
            }
        }
        let target = response.scopes.clone().unwrap_or_else(|| scopes.to_vec());
        let expires_on = now + response.expires_in as i64;
        let entry = AccessTokenEntry {
            home_account_id: account.home_account_id.clone(),
            environment: account.environment.clone(),
            realm: account.realm.clone(),
            client_id: self.inner.config.client_id.clone(),
            target: target.clone(),
            secret: response.access_token.clone(),
            cached_at: now,
            expires_on,
            ext_expires_on: response
                .ext_expires_in
                .map_or(expires_on, |s| now + s as i64),
            refresh_on: response.refresh_in.map(|s| now + s as i64),
        };
        let ext_expires_on = entry.ext_expires_on;
        let new_account = self.account(&account.home_account_id).is_none();
        let id_entry = match (response.id_token, &claims) {
            (Some(secret), Some(claims)) => Some(IdTokenEntry {
                secret,
                claims: claims.clone(),
            }),
            _ => None,
        };
        self.inner.cache.save(
            &account,
            &self.inner.config.client_id,
            entry,
            response.refresh_token,
            id_entry,
        );
        self.persist();
        if new_account {
            self.emit(Event::AccountAdded {
                account: account.clone(),
            });
        }
        Ok(AuthenticationResult {
            access_token: response.access_token,
            expires_on,
            ext_expires_on,
            scopes: target,
            account,
            id_token_claims: claims,
            source,
            correlation_id: correlation_id.to_owned(),
        })
    }

    async fn validate_id_token(
        &self,
        metadata: &Metadata,
        token: &IdToken,
        nonce: Option<&Nonce>,
        now: i64,
    ) -> Result<IdTokenClaims> {
        let invalid = |e: IdTokenError| Error::InvalidIdToken(e.to_string());
        let unverified = id_token::decode(token.secret()).map_err(invalid)?;
        match unverified.verify_signature(&self.jwks(metadata, false).await?) {
            Ok(()) => {}
            // A key we have not seen: the provider rotated its keys; fetch them once more.
            Err(IdTokenError::UnknownKey) => unverified
                .verify_signature(&self.jwks(metadata, true).await?)
                .map_err(invalid)?,
            Err(e) => return Err(invalid(e)),
        }
        let issuer = metadata.issuer_for(unverified.claims["tid"].as_str());
        id_token::validate_claims(
            &unverified.claims,
            &issuer,
            &self.inner.config.client_id,
            nonce,
            now,
        )
        .map_err(invalid)
    }

    async fn jwks(&self, metadata: &Metadata, refetch: bool) -> Result<Jwks> {
        if !refetch {
            if let Some(jwks) = self.inner.jwks.read().await.clone() {
                return Ok(jwks);
            }
        }
        let jwks: Jwks = self.get_json(metadata.jwks_uri.as_str()).await?;
        *self.inner.jwks.write().await = Some(jwks.clone());
        Ok(jwks)
    }

    /// The account an ID token names: Entra's `client_info` (`uid.utid`) when present, else
    /// `oid.tid`, else `sub.issuer` for other providers.
    fn account_from(&self, claims: &IdTokenClaims, client_info: Option<&str>) -> Result<Account> {
        let environment = self.inner.authority.environment();
        let (home_account_id, realm) = match client_info {
            Some(info) => {
                let decoded: serde_json::Value = URL_SAFE_NO_PAD
                    .decode(info.trim_end_matches('='))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .ok_or_else(|| {
                        Error::InvalidResponse("client_info is not base64url JSON".into())
                    })?;
                match (decoded["uid"].as_str(), decoded["utid"].as_str()) {
                    (Some(uid), Some(utid)) => (format!("{uid}.{utid}"), utid.to_owned()),
                    _ => {
                        return Err(Error::InvalidResponse(
                            "client_info lacks uid or utid".into(),
                        ))
                    }
                }
            }
            None => match (&claims.oid, &claims.tid) {
                (Some(oid), Some(tid)) => (format!("{oid}.{tid}"), tid.clone()),
                _ => (format!("{}.{}", claims.sub, claims.iss), String::new()),
            },
        };
        Ok(Account {
            home_account_id,
            environment,
            realm,
            username: claims
                .preferred_username
                .clone()
                .or_else(|| claims.email.clone())
                .unwrap_or_else(|| claims.sub.clone()),
            name: claims.name.clone(),
            local_account_id: claims.oid.clone().unwrap_or_else(|| claims.sub.clone()),
        })
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
        let response = self.inner.http.get(url).send().await.map_err(|e| {
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

fn from_cache(hit: CachedToken, account: &Account, correlation_id: String) -> AuthenticationResult {
    AuthenticationResult {
        access_token: hit.entry.secret,
        expires_on: hit.entry.expires_on,
        ext_expires_on: hit.entry.ext_expires_on,
        scopes: hit.entry.target,
        account: account.clone(),
        id_token_claims: hit.id_token,
        source: TokenSource::Cache,
        correlation_id,
    }
}

fn agent_error(error: AgentError) -> Error {
    match error {
        AgentError::Cancelled => Error::UserCancelled,
        AgentError::Timeout => Error::Timeout,
        AgentError::Failed(message) => Error::Network(message),
    }
}

/// The key of a silent request for deduplication and throttling: account, client, scopes
/// (normalised and sorted) and claims.
fn request_key(
    account: &Account,
    client_id: &str,
    scopes: &[String],
    claims: Option<&str>,
) -> String {
    let mut normalized: Vec<String> = scopes
        .iter()
        .map(|s| crate::cache::normalize_scope(s))
        .collect();
    normalized.sort();
    normalized.dedup();
    format!(
        "{}|{}|{}|{}|{}|{}",
        account.home_account_id,
        account.environment,
        account.realm,
        client_id.to_ascii_lowercase(),
        normalized.join(" "),
        claims.unwrap_or("")
    )
}

/// 100–400 ms, random, so that many clients do not retry in step.
fn retry_pause() -> Duration {
    use rand::Rng;
    Duration::from_millis(rand::thread_rng().gen_range(100..=400))
}

/// A random (version 4) GUID for `client-request-id`.
fn new_correlation_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
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
