//! The types of Tessera's own commands: the About box and the settings screen. Nothing here
//! may hold a secret type.

use std::collections::BTreeMap;

use serde::Serialize;
use tessera_config::Source;
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
