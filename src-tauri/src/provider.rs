//! Which identity provider the app talks to.
//!
//! With nothing configured the app starts `tessera-idp` inside its own process on loopback (the
//! embedded default: a newcomer signs in with a test user and no registration). With a client
//! id (setting, policy or `TESSERA_CLIENT_ID`) and optionally an authority, the same binary
//! talks to Microsoft Entra ID or any OpenID Connect provider; `tessera-config` decides which.

use tessera_idp::{IdpOptions, Seed, DEFAULT_CLIENT_ID};

pub use tessera_config::{ConfigError, Endpoints, ProviderChoice};

/// The embedded provider's state file, in the app's data folder.
pub const EMBEDDED_STATE_FILE: &str = "embedded-idp.json";

/// The embedded provider's preferred port, so that its authority stays the same from one run
/// to the next (and so the token cache's entries stay valid); another free port is used when it
/// is taken.
pub const EMBEDDED_PORT: u16 = 47100;

/// The provider in use, and the embedded server when there is one.
#[derive(Debug)]
pub struct Provider {
    /// Where the app signs in.
    pub endpoints: Endpoints,
    /// The in-process `tessera-idp`, kept alive as long as the app.
    embedded: Option<tessera_idp::RunningIdp>,
}

impl Provider {
    /// Starts the embedded provider when the choice asks for it, keeping its state (keys,
    /// sessions, refresh tokens) in `state_dir` so that sign-ins outlive a restart, as they do
    /// with a real provider.
    pub async fn start(
        choice: ProviderChoice,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Provider, String> {
        let redirect_uri = match choice {
            ProviderChoice::Configured(endpoints) => {
                return Ok(Provider {
                    endpoints,
                    embedded: None,
                })
            }
            ProviderChoice::Embedded { redirect_uri } => redirect_uri,
        };
        let options = |port| IdpOptions {
            port,
            state_file: state_dir.map(|dir| dir.join(EMBEDDED_STATE_FILE)),
            ..IdpOptions::default()
        };
        let idp = match tessera_idp::start(options(EMBEDDED_PORT)).await {
            Ok(idp) => idp,
            // Taken (another copy of the app, say): any free port will do for this run.
            Err(tessera_idp::StartError::Bind { .. }) => tessera_idp::start(options(0))
                .await
                .map_err(|e| format!("embedded identity provider: {e}"))?,
            Err(e) => return Err(format!("embedded identity provider: {e}")),
        };
        Ok(Provider {
            endpoints: Endpoints {
                authority: idp.authority(),
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                graph_url: idp.graph_url(),
                redirect_uri,
            },
            embedded: Some(idp),
        })
    }

    /// Whether the app runs on its own test provider.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The sign-in names of the embedded provider's test users (none otherwise).
    pub fn test_users(&self) -> Vec<String> {
        if self.is_embedded() {
            Seed::default()
                .users
                .into_iter()
                .map(|u| u.username)
                .collect()
        } else {
            vec![]
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configuration_crate_knows_the_embedded_client_id() {
        assert_eq!(
            tessera_config::endpoints::EMBEDDED_CLIENT_ID,
            tessera_idp::DEFAULT_CLIENT_ID
        );
        assert_eq!(
            tessera_config::endpoints::NATIVE_CLIENT_REDIRECT_URI,
            tessera_auth::NATIVE_CLIENT_REDIRECT_URI
        );
    }
}
