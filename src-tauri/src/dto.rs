//! Every type the UI receives. Nothing here may hold a secret type: the UI never sees a token.

use serde::Serialize;

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

/// The identity provider in use, as the settings screen shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The authority URL.
    pub authority: String,
    /// The application (client) id.
    pub client_id: String,
    /// Microsoft Graph's base URL.
    pub graph_url: String,
    /// Whether this is the app's own embedded test provider.
    pub embedded_provider: bool,
    /// The embedded provider's test users (empty otherwise).
    pub test_users: Vec<String>,
}
