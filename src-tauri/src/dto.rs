//! Every type the UI receives. Nothing here may hold a secret type: the UI never sees a token.

use serde::{Deserialize, Serialize};
use tessera_auth::{Account, AuthenticationResult, TokenSource};

use std::collections::BTreeMap;

use tessera_config::{InteractionMode, Source};

use tessera_host::storage::StorageStatus;

/// What the About box and `tessera --version` show.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct About {
    /// The product name, as in `tauri.conf.json`.
    pub product: &'static str,
    /// The workspace version.
    pub version: &'static str,
    /// The commit the binary was built from, or `unknown` outside a git checkout.
    pub commit: &'static str,
    /// The build date, `YYYY-MM-DD` (UTC, or `SOURCE_DATE_EPOCH`).
    pub build_date: &'static str,
}

impl About {
    /// The identity of this binary, fixed at build time by `build.rs`.
    pub fn of_this_build() -> Self {
        Self {
            product: "Tessera",
            version: env!("CARGO_PKG_VERSION"),
            commit: env!("TESSERA_COMMIT"),
            build_date: env!("TESSERA_BUILD_DATE"),
        }
    }
}

impl std::fmt::Display for About {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (commit {}, built {})",
            self.product, self.version, self.commit, self.build_date
        )
    }
}

/// The identity provider in use.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    /// The authority URL.
    pub authority: String,
    /// The application (client) id.
    pub client_id: String,
    /// Microsoft Graph's base URL, when set (else the authority's cloud's).
    pub graph_url: Option<String>,
    /// Whether the provider is Microsoft's (Entra ID, B2C, External ID): what the UI calls the
    /// profile, and whether it mentions Microsoft Graph.
    pub microsoft: bool,
    /// Whether this is the app's own embedded test provider.
    pub embedded: bool,
    /// The embedded provider's test users (empty otherwise).
    pub test_users: Vec<String>,
    /// The redirect URI the sign-in window intercepts.
    pub redirect_uri: String,
}

/// The settings screen: the provider in use, the settings, who set each, and where tokens go.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The provider the app is talking to now.
    pub provider: ProviderInfo,
    /// The settings in effect (`authority` and `clientId` as set: empty means the embedded
    /// provider).
    #[serde(flatten)]
    pub values: tessera_config::Settings,
    /// Each setting's source; `policy` ones are managed and read-only.
    pub sources: BTreeMap<&'static str, Source>,
    /// The policy file in force, if any.
    pub policy_file: Option<String>,
    /// Settings that apply at the next start.
    pub applied_at_start: Vec<&'static str>,
    /// Whether one of those changed since this start.
    pub restart_needed: bool,
    /// Stored settings that were ignored, and why.
    pub warnings: Vec<String>,
    /// Where sign-ins are kept.
    pub storage: StorageStatus,
}

/// A signed-in account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInPrompt {
    /// Pick or add an account ("Add another account").
    SelectAccount,
    /// Ask for credentials even with a session.
    Login,
}
