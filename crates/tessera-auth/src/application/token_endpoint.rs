//! Every call to the token endpoint goes through [`PublicClientApplication::call_token_endpoint`]:
//! MSAL's client-side throttling (`crate::throttle`), one retry of a 5xx or a network failure
//! (a finished sign-in is not lost to a blip while its code is redeemed), and the headers MSAL
//! sends Microsoft's authorities.

use std::future::Future;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::Digest;
use url::Url;

use super::PublicClientApplication;
use crate::error::{Error, Result};
use crate::secret::RefreshToken;
use crate::throttle::Observed;
use crate::token_client::TokenResponse;

/// The library's name in `x-client-SKU` (MSAL's are `MSAL.Python`, `msal.js.node`, …).
const SKU: &str = "tessera-auth";

/// How one token-endpoint call is throttled and retried.
#[derive(Debug)]
pub(super) struct TokenCall {
    /// The request's thumbprint: what a throttling answer holds back.
    pub thumbprint: String,
    /// A refresh's key for remembering an interaction-required answer (thumbprint and a hash
    /// of the refresh token sent).
    pub ui_required_key: Option<String>,
    /// Whether a 5xx without `Retry-After` or a network failure is tried once more (not for
    /// device-code polls, whose loop is a retry already).
    pub retry: bool,
}

impl TokenCall {
    /// A code redemption or a device-code poll: no account yet (msal-common's
    /// `RequestThumbprint` has no home account then).
    pub fn grant(endpoint: &Url, client_id: &str, scopes: &[String], claims: Option<&str>) -> Self {
        TokenCall {
            thumbprint: thumbprint(endpoint, client_id, scopes, claims, None),
            ui_required_key: None,
            retry: true,
        }
    }

    /// A refresh-token redemption for `home_account_id`.
    pub fn refresh(
        endpoint: &Url,
        client_id: &str,
        scopes: &[String],
        claims: Option<&str>,
        home_account_id: &str,
        refresh_token: &RefreshToken,
    ) -> Self {
        let thumbprint = thumbprint(endpoint, client_id, scopes, claims, Some(home_account_id));
        let token_hash = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(refresh_token.secret()));
        TokenCall {
            ui_required_key: Some(format!("{thumbprint}|{token_hash}")),
            thumbprint,
            retry: true,
        }
    }
}

/// msal-common's `RequestThumbprint`: authority (here its token endpoint), client, scopes
/// (normalised, sorted), claims, account.
pub(super) fn thumbprint(
    endpoint: &Url,
    client_id: &str,
    scopes: &[String],
    claims: Option<&str>,
    home_account_id: Option<&str>,
) -> String {
    let mut scopes: Vec<String> = scopes.iter().map(|s| s.to_lowercase()).collect();
    scopes.sort();
    scopes.dedup();
    format!(
        "{endpoint}|{client_id}|{}|{}|{}",
        scopes.join(" "),
        claims.unwrap_or(""),
        home_account_id.unwrap_or("")
    )
}

impl PublicClientApplication {
    /// The headers MSAL sends Microsoft's token endpoint, and none to other providers (they
    /// mean nothing there, and say what software a user runs):
    /// - `x-ms-lib-capability: retry-after, h429`: this client honours `Retry-After` and
    ///   429 (msal-common `ThrottlingConstants.X_MS_LIB_CAPABILITY_VALUE`);
    /// - `x-client-SKU`, `x-client-VER`, `x-client-OS`: the library and the platform
    ///   (msal-common `AADServerParamKeys`; MSAL.NET and MSAL Python send them as headers);
    /// - `X-AnchorMailbox: Oid:{uid}@{utid}`: the account, from `client_info`, which lets
    ///   Entra route the request to the account's home region (msal-common
    ///   `RequestParameterBuilder.addCcsOid`).
    pub(super) fn token_headers(
        &self,
        home_account_id: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        if !self.inner.authority.is_microsoft() {
            return vec![];
        }
        let mut headers = vec![
            ("x-ms-lib-capability", "retry-after, h429".to_owned()),
            ("x-client-SKU", SKU.to_owned()),
            ("x-client-VER", env!("CARGO_PKG_VERSION").to_owned()),
            ("x-client-OS", std::env::consts::OS.to_owned()),
        ];
        if let Some((uid, utid)) = home_account_id.and_then(|id| id.split_once('.')) {
            headers.push(("X-AnchorMailbox", format!("Oid:{uid}@{utid}")));
        }
        headers
    }

    /// The same library facts as authorize parameters, with the correlation id
    /// (`client-request-id`), which MSAL also puts on the authorize URL: a sign-in's traces
    /// join up with its redemption's at Microsoft.
    pub(super) fn authorize_params(&self, correlation_id: &str) -> Vec<(&'static str, String)> {
        if !self.inner.authority.is_microsoft() {
            return vec![];
        }
        vec![
            ("client-request-id", correlation_id.to_owned()),
            ("x-client-SKU", SKU.to_owned()),
            ("x-client-VER", env!("CARGO_PKG_VERSION").to_owned()),
            ("x-client-OS", std::env::consts::OS.to_owned()),
        ]
    }

    /// Sends one token-endpoint request through `send` (given where the transport records the
    /// answer), unless its thumbprint is throttled or its refresh token was refused a moment
    /// ago; retries once after about a second on a 5xx without `Retry-After` or a network
    /// failure (MSAL.NET `HttpManager`); records what throttles.
    pub(super) async fn call_token_endpoint<F, Fut>(
        &self,
        call: &TokenCall,
        send: F,
    ) -> Result<TokenResponse>
    where
        F: Fn(Observed) -> Fut,
        Fut: Future<Output = Result<TokenResponse>>,
    {
        let clock = &self.inner.clock;
        let throttle = &self.inner.throttle;
        throttle.check(&call.thumbprint, clock.now())?;
        if let Some(key) = &call.ui_required_key {
            if let Some(remembered) = throttle.remembered_ui_required(key, clock.now()) {
                log::debug!("the provider refused this refresh token moments ago: not resent");
                return Err(remembered);
            }
        }
        let observed = Observed::default();
        let mut outcome = send(observed.clone()).await;
        let mut answer = observed.take();
        let retryable = match (&outcome, &answer) {
            (Err(_), Some(answer)) => answer.worth_a_retry(),
            (Err(Error::Network(_)), None) => true,
            _ => false,
        };
        if call.retry && retryable {
            log::debug!("the token endpoint failed; retrying once");
            tokio::time::sleep(retry_pause()).await;
            outcome = send(observed.clone()).await;
            answer = observed.take();
        }
        if let Some(answer) = answer {
            let now = clock.now();
            throttle.record(&call.thumbprint, now, &answer);
            if let (Some(key), Err(error)) = (&call.ui_required_key, &outcome) {
                throttle.remember_ui_required(key, now, &answer, error);
            }
        }
        outcome
    }
}

/// About a second (MSAL.NET waits one), jittered so that many clients do not retry in step.
fn retry_pause() -> Duration {
    use rand::Rng;
    Duration::from_millis(rand::thread_rng().gen_range(800..=1200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbprint_ignores_scope_order_and_case_but_not_the_account() {
        let endpoint =
            Url::parse("https://login.microsoftonline.com/common/oauth2/v2.0/token").unwrap();
        let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = thumbprint(
            &endpoint,
            "c",
            &scopes(&["User.Read", "openid"]),
            None,
            Some("x"),
        );
        let b = thumbprint(
            &endpoint,
            "c",
            &scopes(&["openid", "user.read"]),
            None,
            Some("x"),
        );
        let other = thumbprint(
            &endpoint,
            "c",
            &scopes(&["openid", "user.read"]),
            None,
            Some("y"),
        );
        assert_eq!(a, b);
        assert_ne!(a, other);
    }
}
