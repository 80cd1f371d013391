//! Interactive sign-in through an agent, and code redemption.

use super::token_endpoint::TokenCall;
use super::{
    new_correlation_id, AuthenticationResult, InteractiveRequest, PublicClientApplication,
    TokenSource,
};
use crate::agent::InteractiveAgent;
use crate::authority::Metadata;
use crate::cache::Account;
use crate::error::{Error, Result};
use crate::event::{Event, InteractionStatus};
use crate::request::{self, AuthorizeOptions, PendingAuthorization};
use crate::token_client::{self, Redemption};

impl PublicClientApplication {
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
                    redirect_uri: Some(agent.redirect_uri().to_string()),
                });
                let cancelled = self.inner.cancel_interaction.notified();
                let outcome = tokio::select! {
                    outcome = self.interactive_flow(request, agent, &correlation_id) => outcome,
                    () = cancelled => Err(Error::UserCancelled),
                };
                self.emit(Event::InteractionStatus {
                    status: InteractionStatus::None,
                    redirect_uri: None,
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

    pub(super) async fn interactive_flow(
        &self,
        request: InteractiveRequest,
        agent: &dyn InteractiveAgent,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let metadata = self.metadata_for(request.tenant.as_deref()).await?;
        let metadata = &*metadata;
        let scopes = self.request_scopes(&request.scopes);
        self.check_one_resource(&scopes)?;
        let mut consent_scopes = scopes.clone();
        consent_scopes.extend(request.extra_scopes_to_consent.iter().cloned());
        let claims = self.claims_request(request.claims.as_deref(), metadata)?;
        // A throttled request does not make the user sign in only to be refused after.
        let call = TokenCall::grant(
            &metadata.token_endpoint,
            &self.inner.config.client_id,
            &scopes,
            claims.as_deref(),
        );
        self.inner
            .throttle
            .check(&call.thumbprint, self.inner.clock.now())?;
        let extra = self.authorize_params(correlation_id);
        // OpenID Connect Core §11: "When offline access is requested, a prompt parameter
        // value of consent MUST be used unless other conditions for processing the request
        // permitting offline access to the requested resources are in place." Certified
        // providers (node-oidc-provider) otherwise drop offline_access and issue no refresh
        // token. Entra does not ask for it (MSAL never sends it).
        let offline = consent_scopes
            .iter()
            .any(|s| s.eq_ignore_ascii_case("offline_access"));
        let prompt = match request.prompt {
            Some(prompt) => Some(prompt.as_str()),
            None if offline && !self.inner.authority.is_microsoft() => Some("consent"),
            None => None,
        };
        let pending = request::authorize(
            metadata,
            &self.inner.config.client_id,
            &agent.redirect_uri(),
            AuthorizeOptions {
                scopes: &consent_scopes,
                prompt,
                login_hint: request.login_hint.as_deref(),
                domain_hint: request.domain_hint.as_deref(),
                claims: claims.as_deref(),
                client_info: self.inner.authority.is_microsoft(),
                response_mode: Some(agent.response_mode()),
                sid: None,
                extra: &extra,
            },
        );
        let redirect = agent
            .authorize(pending.agent_request())
            .await
            .map_err(|e| {
                super::interactive_agent_error(
                    e,
                    &pending.redirect_uri,
                    &self.inner.config.client_id,
                )
            })?;
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

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn redeem(
        &self,
        metadata: &Metadata,
        code: request::AuthorizationResponse,
        pending: PendingAuthorization,
        scopes: &[String],
        claims: Option<&str>,
        expected_account: Option<&Account>,
        source: TokenSource,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        // The account for `X-AnchorMailbox`: the one expected, else the `client_info` Entra
        // put on the authorization response (msal-common `AuthorizationCodeClient`).
        let anchor = expected_account
            .map(|a| a.home_account_id.clone())
            .or_else(|| {
                code.client_info
                    .as_deref()
                    .and_then(|info| super::completion::home_account_id(info).ok())
            });
        let home_account_id = anchor.as_deref();
        let code = code.code;
        let PendingAuthorization {
            redirect_uri,
            nonce,
            verifier,
            ..
        } = pending;
        let client_id = &self.inner.config.client_id;
        let headers = self.token_headers(home_account_id);
        let call = TokenCall::grant(&metadata.token_endpoint, client_id, scopes, claims);
        // A retry sends the same code and verifier again: a code the first attempt did
        // redeem is refused then, which is no worse than the failure it retries.
        let response = self
            .call_token_endpoint(&call, |observed| {
                let (code, verifier) = (&code, &verifier);
                let (redirect_uri, headers) = (&redirect_uri, &headers);
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
                    token_client::redeem_code(self.http()?, metadata, code, verifier, redemption)
                        .await
                }
            })
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
}
