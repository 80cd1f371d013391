//! The device authorization grant (RFC 8628): for a terminal or a device without a browser,
//! the user signs in on another screen with a short code while the engine polls.

use std::time::Duration;

use super::token_endpoint::TokenCall;
use super::{new_correlation_id, AuthenticationResult, PublicClientApplication, TokenSource};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::token_client::{self, Redemption};

/// RFC 8628 §3.5: each `slow_down` adds five seconds to the polling interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// A device-code sign-in request.
#[derive(Debug, Clone, Default)]
pub struct DeviceCodeRequest {
    /// Scopes of one resource; empty means the configured defaults.
    pub scopes: Vec<String>,
    /// A claims challenge to satisfy.
    pub claims: Option<String>,
}

/// What the user needs to sign in on another screen. None of it is secret: the device code the
/// engine polls with stays inside the engine.
#[derive(Debug, Clone)]
pub struct DeviceCodeInfo {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same page with the code filled in, when the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// When the code stops working, Unix seconds.
    pub expires_on: i64,
    /// The polling interval the provider asked for.
    pub interval: Duration,
    /// The provider's instructions for the user, or ours when it sent none.
    pub message: String,
}

impl PublicClientApplication {
    /// Signs a user in with the device authorization grant and caches the result.
    ///
    /// `show` receives the user code and the verification URL once, before polling starts.
    /// Polling keeps the provider's interval and adds five seconds at each `slow_down`; a
    /// network failure or a 429 while polling waits and polls again until the code expires.
    /// The user declining ends in [`Error::UserCancelled`], an expired code in
    /// [`Error::Timeout`]. A provider without a device authorization endpoint gives
    /// [`Error::Configuration`]. Like every interaction it fails at once with
    /// [`Error::InteractionInProgress`] while another one runs, and `cancel_interaction`
    /// stops it.
    pub async fn acquire_token_with_device_code(
        &self,
        request: DeviceCodeRequest,
        show: impl FnOnce(&DeviceCodeInfo) + Send,
    ) -> Result<AuthenticationResult> {
        let correlation_id = new_correlation_id();
        self.emit(Event::AcquireTokenStart {
            interactive: true,
            correlation_id: correlation_id.clone(),
        });
        let outcome = match self.inner.interaction.try_lock() {
            Err(_) => Err(Error::InteractionInProgress),
            Ok(_one_at_a_time) => {
                let cancelled = self.inner.cancel_interaction.notified();
                tokio::select! {
                    outcome = self.device_code_flow(request, show, &correlation_id) => outcome,
                    () = cancelled => Err(Error::UserCancelled),
                }
            }
        };
        self.emit_outcome(&outcome, &correlation_id);
        outcome
    }

    async fn device_code_flow(
        &self,
        request: DeviceCodeRequest,
        show: impl FnOnce(&DeviceCodeInfo) + Send,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let mut metadata = self.metadata().await?;
        if metadata.device_authorization_endpoint.is_none() {
            // Metadata cached before the provider offered it (or by an older Tessera): ask
            // the provider itself before saying it has no device flow.
            metadata = self.metadata_from(true).await?;
        }
        let endpoint = metadata
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| {
                Error::Configuration(
                    "the identity provider does not offer the device code flow (its metadata has no device_authorization_endpoint); sign in through the browser instead".into(),
                )
            })?;
        let scopes = self.request_scopes(&request.scopes);
        self.check_one_resource(&scopes)?;
        let claims = self.claims_request(request.claims.as_deref(), &metadata)?;
        // Never sent: the device flow has no redirect. `Redemption` carries one for the
        // grants that do.
        let redirect_uri = self.inner.authority.url().clone();
        let headers = self.token_headers(None);
        let redemption = Redemption {
            client_id: &self.inner.config.client_id,
            redirect_uri: &redirect_uri,
            scopes: &scopes,
            claims: claims.as_deref(),
            client_info: self.inner.authority.is_microsoft(),
            correlation_id,
            headers: &headers,
            observed: None,
        };
        // The polls are throttled like any token request, but never retried here nor
        // remembered as "interaction required": polling is the retry (MSAL Python leaves the
        // device flow out of its 400 cache for the same reason).
        let mut call = TokenCall::grant(
            &metadata.token_endpoint,
            &self.inner.config.client_id,
            &scopes,
            claims.as_deref(),
        );
        call.retry = false;
        let authorization =
            token_client::request_device_code(self.http()?, &endpoint, redemption).await?;
        let expires_on = self.inner.clock.now() + authorization.expires_in as i64;
        let mut interval = Duration::from_secs(authorization.interval.max(1));
        show(&DeviceCodeInfo {
            message: authorization.message.clone().unwrap_or_else(|| {
                format!(
                    "To sign in, open {} in a web browser and enter the code {}.",
                    authorization.verification_uri, authorization.user_code
                )
            }),
            user_code: authorization.user_code,
            verification_uri: authorization.verification_uri,
            verification_uri_complete: authorization.verification_uri_complete,
            expires_on,
            interval,
        });
        loop {
            tokio::time::sleep(interval).await;
            if self.inner.clock.now() >= expires_on {
                return Err(Error::Timeout);
            }
            let polled = self
                .call_token_endpoint(&call, |observed| {
                    let device_code = &authorization.device_code;
                    let metadata = &metadata;
                    async move {
                        let redemption = Redemption {
                            observed: Some(&observed),
                            ..redemption
                        };
                        token_client::poll_device_code(
                            self.http()?,
                            metadata,
                            device_code,
                            redemption,
                        )
                        .await
                    }
                })
                .await;
            match polled {
                Ok(response) => {
                    return self
                        .complete(
                            &metadata,
                            response,
                            None,
                            None,
                            &scopes,
                            TokenSource::Interactive,
                            correlation_id,
                        )
                        .await
                }
                Err(Error::Server(e)) => match e.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => interval += SLOW_DOWN_STEP,
                    "expired_token" => return Err(Error::Timeout),
                    "authorization_declined" | "access_denied" => return Err(Error::UserCancelled),
                    _ => return Err(Error::Server(e)),
                },
                // The user may be halfway through signing in: a blip must not lose that.
                Err(Error::Network(_)) => {}
                Err(Error::Throttled { retry_after }) => {
                    let left = (expires_on - self.inner.clock.now()).max(0) as u64;
                    tokio::time::sleep(retry_after.min(Duration::from_secs(left))).await;
                }
                Err(other) => return Err(other),
            }
        }
    }
}
