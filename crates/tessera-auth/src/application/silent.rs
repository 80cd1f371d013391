//! The silent chain: cache, refresh token (deduplicated, throttled, retried once), silent SSO.

use url::Url;

use super::token_endpoint::TokenCall;
use super::{
    agent_error, new_correlation_id, AuthenticationResult, PublicClientApplication, SilentRequest,
    TokenSource, NATIVE_CLIENT_REDIRECT_URI,
};
use crate::agent::SilentAgent;
use crate::authority::Metadata;
use crate::cache::{Account, CachedToken};
use crate::error::{Error, Result};
use crate::event::{Event, InteractionStatus};
use crate::request::{self, AuthorizeOptions};
use crate::secret::RefreshToken;
use crate::token_client::{self, Redemption};

impl PublicClientApplication {
    /// The silent chain: a cached access token, else the refresh token, else silent SSO through
    /// `silent_agent` (when given), else [`Error::InteractionRequired`] with the provider's
    /// reason. Honours `force_refresh`, `claims` and `cache_lookup_policy`.
    pub async fn acquire_token_silent(
        &self,
        request: SilentRequest,
        silent_agent: Option<&dyn SilentAgent>,
    ) -> Result<AuthenticationResult> {
        let correlation_id = new_correlation_id();
        if self.has_listeners() {
            self.emit(Event::AcquireTokenStart {
                interactive: false,
                correlation_id: correlation_id.clone(),
            });
        }
        let outcome = self
            .silent_chain(request, silent_agent, correlation_id.clone())
            .await;
        self.emit_outcome(&outcome, &correlation_id);
        outcome
    }

    pub(super) async fn silent_chain(
        &self,
        request: SilentRequest,
        silent_agent: Option<&dyn SilentAgent>,
        correlation_id: String,
    ) -> Result<AuthenticationResult> {
        let tenant = request.tenant.as_deref();
        // The account as the cache knows its tokens in the tenant asked for: its own realm
        // (the home tenant) unless the request or the authority names another tenant.
        let realm = self.token_realm(tenant, &request.account).await?;
        let targeted;
        let account = if realm == request.account.realm {
            &request.account
        } else {
            targeted = Account {
                realm,
                ..request.account.clone()
            };
            &targeted
        };
        let policy = request.cache_lookup_policy;
        // The OpenID Connect scopes never decide a cache match, so the lookup uses the scopes
        // as asked; the full list is built only when the network is needed.
        let asked = if request.scopes.is_empty() {
            &self.inner.config.default_scopes
        } else {
            &request.scopes
        };
        self.check_one_resource(asked)?;
        let client_id = &self.inner.config.client_id;
        self.reload();
        let cached_will_do =
            !request.force_refresh && request.claims.is_none() && policy.access_token();
        if cached_will_do {
            if let Some(hit) = self.cached_access_token(account, asked) {
                if hit.refresh_due {
                    self.refresh_in_background(
                        account.clone(),
                        request.scopes.clone(),
                        request.tenant.clone(),
                    );
                }
                // The request is ours: its account moves into the result, uncopied.
                return Ok(from_cache(hit, request.account, correlation_id));
            }
        }
        let scopes = self.request_scopes(&request.scopes);
        if !policy.refresh_token() && !policy.silent_sso() {
            return Err(Error::no_tokens(
                "no valid cached access token for this account and scopes",
            ));
        }
        let metadata = self.metadata_for(tenant).await?;
        let metadata = &*metadata;
        let claims = self.claims_request(request.claims.as_deref(), metadata)?;
        let mut reason = None;
        if policy.refresh_token() {
            log::debug!(
                "no usable cached access token: refreshing (correlation id {correlation_id})"
            );
            let outcome = self
                .refresh_once(
                    account,
                    &scopes,
                    claims.as_deref(),
                    &correlation_id,
                    cached_will_do,
                    tenant,
                )
                .await;
            match outcome {
                Ok(Some(result)) => return Ok(result),
                Ok(None) => {}
                // A dead refresh token moves on to silent SSO, which the provider's session
                // may answer; a demand only a user can meet (MFA, consent, Conditional
                // Access claims) comes back at once, with the token endpoint's claims for the
                // interactive request. The old tokens stay for a transient failure.
                Err(error) if self.silent_sso_can_help(&error) => reason = Some(error),
                Err(error) => return Err(error),
            }
        }
        if let (true, Some(agent)) = (policy.silent_sso(), silent_agent) {
            log::debug!("trying silent SSO in a hidden window (correlation id {correlation_id})");
            // One hidden-window sign-in per request key at a time; callers that waited get its
            // result rather than opening windows of their own.
            let key = request_key(account, client_id, &scopes, claims.as_deref());
            let outcome = self
                .inner
                .silent_sso
                .run(&key, || {
                    self.silent_sso(
                        metadata,
                        agent,
                        account,
                        &scopes,
                        claims.as_deref(),
                        &correlation_id,
                    )
                })
                .await;
            match outcome {
                Ok(result) => return Ok(result),
                Err(error @ Error::InteractionRequired { .. }) => reason = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(reason.unwrap_or_else(|| {
            Error::no_tokens("no cached token or refresh token for this account and scopes")
        }))
    }

    /// `prompt=none` through the silent agent, then the code redeemed like an interactive one.
    /// The hint is MSAL's (msal-common `AuthorizationCodeClient.createAuthCodeUrlQueryString`):
    /// the ID token's `login_hint` claim, else its `sid`, else the username.
    async fn silent_sso(
        &self,
        metadata: &Metadata,
        agent: &dyn SilentAgent,
        account: &Account,
        scopes: &[String],
        claims: Option<&str>,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let id_claims =
            self.inner
                .cache
                .id_token_claims(account, &account.realm, &self.inner.config.client_id);
        let (login_hint, sid) = match id_claims.as_deref() {
            Some(c) if c.login_hint.is_some() => (c.login_hint.as_deref(), None),
            Some(c) if c.sid.is_some() => (None, c.sid.as_deref()),
            _ => (Some(account.username.as_str()), None),
        };
        // A throttled request opens no window whose code could not be redeemed.
        let call = TokenCall::grant(
            &metadata.token_endpoint,
            &self.inner.config.client_id,
            scopes,
            claims,
        );
        self.inner
            .throttle
            .check(&call.thumbprint, self.inner.clock.now())?;
        let extra = self.authorize_params(correlation_id);
        let pending = request::authorize(
            metadata,
            &self.inner.config.client_id,
            &agent.redirect_uri(),
            AuthorizeOptions {
                scopes,
                prompt: Some("none"),
                login_hint,
                sid,
                claims,
                client_info: self.inner.authority.is_microsoft(),
                extra: &extra,
                ..AuthorizeOptions::default()
            },
        );
        self.emit(Event::InteractionStatus {
            status: InteractionStatus::Silent,
            redirect_uri: None,
        });
        let outcome = async {
            let redirect = agent
                .authorize_silently(pending.agent_request())
                .await
                .map_err(agent_error)?;
            request::parse_redirect(&redirect, &pending, metadata)
        }
        .await;
        self.emit(Event::InteractionStatus {
            status: InteractionStatus::None,
            redirect_uri: None,
        });
        let code = outcome?;
        self.redeem(
            metadata,
            code,
            pending,
            scopes,
            claims,
            Some(account),
            TokenSource::SilentSso,
            correlation_id,
        )
        .await
    }

    /// Redeems the account's cached refresh token, if it has one, and caches the result: under
    /// the account's refresh lock, after reloading the cache, so that a token another process
    /// redeemed meanwhile is not redeemed again (see `refresh_lock`). `started_at` is when the
    /// caller asked: an access token another process stored since then serves it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn redeem_refresh_token(
        &self,
        metadata: &Metadata,
        account: &Account,
        scopes: &[String],
        claims: Option<&str>,
        correlation_id: &str,
        started_at: i64,
        cached_will_do: bool,
    ) -> Result<Option<AuthenticationResult>> {
        let client_id = &self.inner.config.client_id;
        // A throttled request waits for no lock.
        let throttled = super::token_endpoint::thumbprint(
            &metadata.token_endpoint,
            client_id,
            scopes,
            claims,
            Some(&account.home_account_id),
        );
        self.inner
            .throttle
            .check(&throttled, self.inner.clock.now())?;
        // What the cache held before waiting: a token stored while we waited is another's.
        let before = self
            .cached_access_token(account, scopes)
            .map(|hit| hit.secret);
        let held = self.lock_refresh(account).await;
        // Another process may have redeemed it already and stored the rotated one.
        self.reload();
        if held.waited && claims.is_none() {
            if let Some(hit) = self.cached_access_token(account, scopes) {
                let stored_meanwhile = before.as_ref() != Some(&hit.secret);
                if !hit.refresh_due
                    && (cached_will_do || (stored_meanwhile && hit.cached_at >= started_at))
                {
                    log::debug!(
                        "the refresh another redemption finished while this one waited serves it (correlation id {correlation_id})"
                    );
                    return Ok(Some(from_cache(
                        hit,
                        account.clone(),
                        correlation_id.to_owned(),
                    )));
                }
            }
        }
        let Some(refresh_token) = self.inner.cache.refresh_token(account, client_id) else {
            return Ok(None);
        };
        let redirect_uri = Url::parse(NATIVE_CLIENT_REDIRECT_URI)
            .map_err(|e| Error::Configuration(e.to_string()))?;
        let headers = self.token_headers(Some(&account.home_account_id));
        let refresh = |token: &RefreshToken| {
            let call = TokenCall::refresh(
                &metadata.token_endpoint,
                client_id,
                scopes,
                claims,
                &account.home_account_id,
                token,
            );
            let token = token.clone();
            let (redirect_uri, headers) = (&redirect_uri, &headers);
            async move {
                let outcome = self
                    .call_token_endpoint(&call, |observed| {
                        let token = token.clone();
                        async move {
                            let redemption = Redemption {
                                client_id,
                                redirect_uri,
                                scopes,
                                claims,
                                client_info: self.inner.authority.is_microsoft(),
                                correlation_id,
                                headers,
                                observed: Some(&observed),
                            };
                            self.classify_refusal(
                                token_client::refresh(self.http()?, metadata, &token, redemption)
                                    .await,
                            )
                        }
                    })
                    .await;
                outcome
            }
        };
        let response = match refresh(&refresh_token).await {
            // Without the lock (another process held it too long), another process may have
            // redeemed the same refresh token a moment before us, and the provider refuses a
            // spent one: use the one it stored.
            Err(Error::InteractionRequired { .. })
                if self.rotated_elsewhere(account, &refresh_token) =>
            {
                let Some(rotated) = self.inner.cache.refresh_token(account, client_id) else {
                    return Ok(None);
                };
                refresh(&rotated).await
            }
            other => other,
        };
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                self.forget_bad_refresh_token(account, &refresh_token, &error);
                return Err(error);
            }
        };
        let outcome = self
            .complete(
                metadata,
                response,
                None,
                Some(account),
                scopes,
                TokenSource::RefreshToken,
                correlation_id,
            )
            .await
            .map(Some);
        drop(held);
        outcome
    }

    /// Whether a refresh's failure is one the provider's browser session may get past without
    /// the user (msal-browser `checkIfRefreshTokenErrorCanBeResolvedSilently`): nothing to
    /// redeem, or the refresh token refused as expired, revoked or `bad_token`, with no
    /// interaction suberror and no claims challenge. `basic_action` (MFA), `consent_required`
    /// or a Conditional Access claims challenge need the user: a hidden window would only
    /// time out, and its error would replace the claims the interactive request needs.
    fn silent_sso_can_help(&self, error: &Error) -> bool {
        let Error::InteractionRequired {
            error,
            suberror,
            claims,
            ..
        } = error
        else {
            return false;
        };
        if error == "no_tokens" {
            return true;
        }
        let dead_token =
            error == "invalid_grant" || self.inner.config.refresh_token_refusals.contains(error);
        let no_interaction_suberror = suberror.as_deref().is_none_or(|s| s == "bad_token");
        dead_token && no_interaction_suberror && claims.is_none()
    }

    /// A provider error the provider documents as "this refresh token is dead" (besides
    /// `invalid_grant`, which is one already) needs a new sign-in, not a retry.
    fn classify_refusal<T>(&self, outcome: Result<T>) -> Result<T> {
        match outcome {
            Err(Error::Server(oauth))
                if self
                    .inner
                    .config
                    .refresh_token_refusals
                    .iter()
                    .any(|r| r == &oauth.error) =>
            {
                Err(Error::interaction(&oauth))
            }
            other => other,
        }
    }

    /// MSAL removes the refresh token the provider called `bad_token` (msal-common
    /// `RefreshTokenClient`), so it is not sent again; but only if it is still the stored one,
    /// so that a newer token another process stored survives.
    fn forget_bad_refresh_token(&self, account: &Account, used: &RefreshToken, error: &Error) {
        let bad = matches!(error, Error::InteractionRequired { suberror: Some(s), .. } if s == "bad_token");
        if bad
            && self
                .inner
                .cache
                .remove_refresh_token_if(account, &self.inner.config.client_id, used)
        {
            log::debug!("the provider called the refresh token bad: removed it");
            self.persist();
        }
    }

    /// Whether the persisted cache now holds another refresh token for the account than `used`.
    fn rotated_elsewhere(&self, account: &Account, used: &RefreshToken) -> bool {
        self.reload();
        self.inner
            .cache
            .refresh_token(account, &self.inner.config.client_id)
            .is_some_and(|current| &current != used)
    }

    /// Redeems the refresh token for this request once, however many callers ask at the same
    /// time, and not at all while the provider has throttled this request.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn refresh_once(
        &self,
        account: &Account,
        scopes: &[String],
        claims: Option<&str>,
        correlation_id: &str,
        cached_will_do: bool,
        tenant: Option<&str>,
    ) -> Result<Option<AuthenticationResult>> {
        let key = request_key(account, &self.inner.config.client_id, scopes, claims);
        let started_at = self.inner.clock.now();
        let (app, account, scopes, claims, correlation_id, tenant) = (
            self.clone(),
            account.clone(),
            scopes.to_vec(),
            claims.map(str::to_owned),
            correlation_id.to_owned(),
            tenant.map(str::to_owned),
        );
        // Callers that accept a cached token share flights that may answer from the cache
        // (below); a forced refresh has flights of its own, so it never gets a cached token.
        let flight = if cached_will_do {
            key.clone()
        } else {
            format!("{key}|forced")
        };
        let outcome = self
            .inner
            .refreshes
            .run(&flight, move || async move {
                // A refresh for this key may have finished between this caller's cache miss
                // and now: its token serves, and the key still costs one network call.
                if cached_will_do {
                    if let Some(hit) = app.cached_access_token(&account, &scopes) {
                        if !hit.refresh_due {
                            return Ok(Some(from_cache(hit, account, correlation_id)));
                        }
                    }
                }
                let metadata = app.metadata_for(tenant.as_deref()).await?;
                let metadata = &*metadata;
                app.redeem_refresh_token(
                    metadata,
                    &account,
                    &scopes,
                    claims.as_deref(),
                    &correlation_id,
                    started_at,
                    cached_will_do,
                )
                .await
            })
            .await;
        outcome
    }

    /// A valid cached access token (outside the renewal offset) for `account` and `scopes`.
    fn cached_access_token(&self, account: &Account, scopes: &[String]) -> Option<CachedToken> {
        self.inner.cache.access_token(
            account,
            &account.realm,
            &self.inner.config.client_id,
            scopes,
            self.inner.clock.now(),
            self.inner.config.renewal_offset.as_secs() as i64,
        )
    }

    /// Past Entra's `refresh_in` the cached token is still served, and a refresh runs in the
    /// background (MSAL's proactive refresh), deduplicated like any other. Its failure changes
    /// nothing: the cached token stays until it really expires.
    pub(super) fn refresh_in_background(
        &self,
        account: Account,
        scopes: Vec<String>,
        tenant: Option<String>,
    ) {
        let app = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let scopes = app.request_scopes(&scopes);
            let Ok(metadata) = app.metadata_for(tenant.as_deref()).await else {
                return;
            };
            let Ok(claims) = app.claims_request(None, &metadata) else {
                return;
            };
            let _ = app
                .refresh_once(
                    &account,
                    &scopes,
                    claims.as_deref(),
                    &new_correlation_id(),
                    false,
                    tenant.as_deref(),
                )
                .await;
        });
    }
}

fn from_cache(hit: CachedToken, account: Account, correlation_id: String) -> AuthenticationResult {
    AuthenticationResult {
        access_token: hit.secret,
        expires_on: hit.expires_on,
        ext_expires_on: hit.ext_expires_on,
        scopes: hit.target,
        account,
        id_token_claims: hit.id_token,
        source: TokenSource::Cache,
        correlation_id,
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
