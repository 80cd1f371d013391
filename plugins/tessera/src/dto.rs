//! Every type the webview receives or sends. Nothing here may hold a secret type: the webview
//! never sees a refresh or an ID token, and an access token only through `access_token`.
//!
//! guest-js's TypeScript types are generated from these (`guest-js/bindings/`, by the test
//! `typescript_bindings_are_current`), so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use tessera_auth::{
    Account, AuthenticationResult, Classification, Event, InteractionStatus, TokenSource,
};
use tessera_config::InteractionMode;

/// A signed-in account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// The engine's key for it.
    pub home_account_id: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// The authority host.
    pub environment: String,
    /// Home tenant id (Entra).
    pub tenant_id: String,
    /// The tenants the account has had tokens from (Entra): its home tenant and those that
    /// invited it as a guest.
    pub tenants: Vec<TenantInfo>,
    /// Whether it is the active account.
    pub active: bool,
}

/// One tenant of an account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    /// The tenant id.
    pub tenant_id: String,
    /// Whether it is the account's home tenant (else the account is a guest there).
    pub home: bool,
}

impl AccountInfo {
    /// The UI's view of an account.
    pub fn new(account: &Account, active: Option<&Account>) -> AccountInfo {
        AccountInfo {
            home_account_id: account.home_account_id.clone(),
            username: account.username.clone(),
            name: account.name.clone(),
            environment: account.environment.clone(),
            tenant_id: account.realm.clone(),
            tenants: account
                .tenant_profiles
                .iter()
                .map(|p| TenantInfo {
                    tenant_id: p.tenant_id.clone(),
                    home: p.is_home_tenant,
                })
                .collect(),
            active: active.is_some_and(|a| a.home_account_id == account.home_account_id),
        }
    }
}

/// What is known about the last token: everything but the token itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    /// Where it came from: cache, refresh token, silent SSO, interactive.
    pub source: TokenSource,
    /// Expiry, Unix seconds.
    pub expires_on: i64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The authority that issued it.
    pub authority: String,
    /// The correlation id sent to the provider.
    pub correlation_id: String,
    /// Whose it is.
    pub account: AccountInfo,
    /// How long the acquisition took, in milliseconds.
    pub elapsed_ms: u64,
}

impl TokenStatus {
    /// The status of a result, without its token.
    pub fn new(result: &AuthenticationResult, authority: &str, elapsed_ms: u64) -> TokenStatus {
        TokenStatus {
            source: result.source,
            expires_on: result.expires_on,
            scopes: result.scopes.clone(),
            authority: authority.to_owned(),
            correlation_id: result.correlation_id.clone(),
            account: AccountInfo::new(&result.account, Some(&result.account)),
            elapsed_ms,
        }
    }
}

/// Which interaction a command may fall back to when the engine says `InteractionRequired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    /// The embedded sign-in window.
    Popup,
    /// The system browser.
    Redirect,
    /// None: report `InteractionRequired`.
    None,
}

impl From<InteractionMode> for Interaction {
    fn from(mode: InteractionMode) -> Interaction {
        match mode {
            InteractionMode::Popup => Interaction::Popup,
            InteractionMode::Redirect => Interaction::Redirect,
            // The command line's mode: the app has no device-code sign-in.
            InteractionMode::DeviceCode => Interaction::None,
        }
    }
}

/// `prompt` of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SignInPrompt {
    /// Pick or add an account ("Add another account").
    SelectAccount,
    /// Ask for credentials even with a session.
    Login,
}

/// What a caller asks of [`Tessera::acquire_token`](crate::Tessera::acquire_token).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    /// Scopes of one resource; none: the configured ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub scopes: Option<Vec<String>>,
    /// The interaction allowed when silent fails (default: none, `interaction_required`).
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub interaction: Option<Interaction>,
    /// Skip the cached access token and redeem the refresh token.
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub force_refresh: Option<bool>,
    /// Another Entra tenant (id or verified domain) to get the token from: a guest's
    /// resource tenant. None or empty: the configured authority's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub tenant: Option<String>,
}

/// An access token handed to the webview by `access_token` (only when the host opted in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    /// The bearer token, for the resource of the request's scopes.
    pub access_token: String,
    /// Everything else known about it.
    pub status: TokenStatus,
}

/// The engine's events as the webview hears them (the Tauri event [`ENGINE_EVENT`]): the
/// engine's [`Event`] with accounts as [`AccountInfo`]. JSON with a `type` tag.
///
/// [`ENGINE_EVENT`]: crate::ENGINE_EVENT
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A token request started.
    AcquireTokenStart {
        /// Interactive or silent.
        interactive: bool,
        /// The request's correlation id.
        correlation_id: String,
    },
    /// A token request succeeded.
    AcquireTokenSuccess {
        /// Where the token came from.
        source: TokenSource,
        /// Whose token.
        home_account_id: String,
        /// Expiry, Unix seconds.
        expires_on: i64,
        /// The request's correlation id.
        correlation_id: String,
    },
    /// A token request failed.
    AcquireTokenFailure {
        /// The error's kind.
        error: String,
        /// For `interaction_required`, what kind.
        classification: Option<Classification>,
        /// The request's correlation id.
        correlation_id: String,
    },
    /// An account signed in for the first time.
    AccountAdded {
        /// The account.
        account: AccountInfo,
    },
    /// An account was removed (signed out).
    AccountRemoved {
        /// Its home account id.
        home_account_id: String,
    },
    /// The active account changed.
    ActiveAccountChanged {
        /// The new one, or none.
        home_account_id: Option<String>,
    },
    /// The cache could not be loaded or saved; the engine goes on from memory.
    PersistenceFailed {
        /// `load` or `save`.
        operation: String,
        /// Why, without any secret.
        message: String,
    },
    /// An interaction started or ended.
    InteractionStatus {
        /// Now.
        status: InteractionStatus,
        /// The redirect URI the interaction waits at, while one runs (not a secret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        redirect_uri: Option<String>,
    },
}

impl From<Event> for EngineEvent {
    fn from(event: Event) -> EngineEvent {
        match event {
            Event::AcquireTokenStart {
                interactive,
                correlation_id,
            } => EngineEvent::AcquireTokenStart {
                interactive,
                correlation_id,
            },
            Event::AcquireTokenSuccess {
                source,
                home_account_id,
                expires_on,
                correlation_id,
            } => EngineEvent::AcquireTokenSuccess {
                source,
                home_account_id,
                expires_on,
                correlation_id,
            },
            Event::AcquireTokenFailure {
                error,
                classification,
                correlation_id,
            } => EngineEvent::AcquireTokenFailure {
                error,
                classification,
                correlation_id,
            },
            Event::AccountAdded { account } => EngineEvent::AccountAdded {
                account: AccountInfo::new(&account, None),
            },
            Event::AccountRemoved { home_account_id } => {
                EngineEvent::AccountRemoved { home_account_id }
            }
            Event::ActiveAccountChanged { home_account_id } => {
                EngineEvent::ActiveAccountChanged { home_account_id }
            }
            Event::PersistenceFailed { operation, message } => {
                EngineEvent::PersistenceFailed { operation, message }
            }
            Event::InteractionStatus {
                status,
                redirect_uri,
            } => EngineEvent::InteractionStatus {
                status,
                redirect_uri,
            },
        }
    }
}
