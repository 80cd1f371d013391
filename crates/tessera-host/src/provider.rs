//! Which identity provider Tessera talks to.
//!
//! With nothing configured the app starts `tessera-idp` inside its own process on loopback (the
//! embedded default: a newcomer signs in with a test user and no registration). With a client
//! id (setting, policy or `TESSERA_CLIENT_ID`) and optionally an authority, the same binary
//! talks to Microsoft Entra ID or any OpenID Connect provider; `tessera-config` decides which.
//!
//! The embedded provider is the `embedded-idp` feature (on by default). An enterprise build
//! without it (`--no-default-features`) leaves the emulator and its server stack out; it then
//! needs a configured provider and says so.

use tessera_config::endpoints::EMBEDDED_CLIENT_ID;

pub use tessera_config::{ConfigError, Endpoints, ProviderChoice};

/// The embedded provider's state file, in the app's data folder.
pub const EMBEDDED_STATE_FILE: &str = "embedded-idp.json";

/// The embedded provider's control token, beside its state file (owner-only): what another
/// process of the same user proves it with before joining it (issue 21, point 3).
pub const EMBEDDED_TOKEN_FILE: &str = "embedded-idp.token";

/// The embedded provider's preferred port, so that its authority stays the same from one run
/// to the next (and so the token cache's entries stay valid); another free port is used when it
/// is taken.
pub const EMBEDDED_PORT: u16 = 47100;

/// What a build without the `embedded-idp` feature says when nothing is configured.
pub const NO_EMBEDDED_PROVIDER: &str = "this build of Tessera has no embedded test identity provider (it was built without the embedded-idp feature): configure your provider with TESSERA_AUTHORITY and TESSERA_CLIENT_ID, the authority and clientId settings, or the policy file";

/// The provider in use, and the embedded server when there is one.
#[derive(Debug)]
pub struct Provider {
    /// Where the app signs in.
    pub endpoints: Endpoints,
    /// The embedded provider of this run, if it uses one.
    embedded: Option<Embedded>,
}

/// Whose embedded provider a run uses.
#[derive(Debug)]
enum Embedded {
    /// Started in this process, kept alive as long as the [`Provider`] (the app's own).
    #[cfg(feature = "embedded-idp")]
    Own(Box<tessera_idp::RunningIdp>),
    /// Another process's, found on [`EMBEDDED_PORT`]: the running app's, when the command
    /// line runs beside it.
    #[cfg(feature = "embedded-idp")]
    Joined,
}

impl Provider {
    /// Starts the embedded provider when the choice asks for it, keeping its state (keys,
    /// sessions, refresh tokens) in `state_dir` so that sign-ins outlive a restart, as they do
    /// with a real provider. When its port is taken (another copy of the app, say), it runs on
    /// another free port for this run.
    pub async fn start(
        choice: ProviderChoice,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Provider, String> {
        Self::start_with(choice, state_dir, false).await
    }

    /// Like [`Provider::start`], for a short-lived process such as the command line: when the
    /// embedded port is taken by a running Tessera (the app), it uses that provider, so both
    /// see the same sessions and refresh tokens. Another free port would not do: the cache's
    /// tokens belong to the authority on the usual port.
    pub async fn start_or_join(
        choice: ProviderChoice,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Provider, String> {
        Self::start_with(choice, state_dir, true).await
    }

    async fn start_with(
        choice: ProviderChoice,
        state_dir: Option<&std::path::Path>,
        join: bool,
    ) -> Result<Provider, String> {
        match choice {
            ProviderChoice::Configured(endpoints) => Ok(Provider {
                endpoints,
                embedded: None,
            }),
            ProviderChoice::Embedded { redirect_uri } => {
                Self::start_embedded(redirect_uri, state_dir, join).await
            }
        }
    }

    #[cfg(feature = "embedded-idp")]
    async fn start_embedded(
        redirect_uri: url::Url,
        state_dir: Option<&std::path::Path>,
        join: bool,
    ) -> Result<Provider, String> {
        // Its control API only for whoever can read the token in the user's data folder (the
        // command line joining the app's provider); without a folder, nobody's.
        let token = match state_dir {
            Some(dir) => Some(embedded_control_token(dir).map_err(|e| {
                format!(
                    "embedded identity provider: its control token in {}: {e}",
                    dir.display()
                )
            })?),
            None => None,
        };
        let options = |port| tessera_idp::IdpOptions {
            port,
            state_file: state_dir.map(|dir| dir.join(EMBEDDED_STATE_FILE)),
            control: token.is_some(),
            control_token: token.clone(),
            ..tessera_idp::IdpOptions::default()
        };
        let idp = match tessera_idp::start(options(EMBEDDED_PORT)).await {
            Ok(idp) => idp,
            Err(tessera_idp::StartError::Bind { .. }) if join => {
                let endpoints = Self::embedded_endpoints(redirect_uri)?;
                if !is_embedded_provider(&endpoints.authority, token.as_ref()).await {
                    return Err(format!("embedded identity provider: port {EMBEDDED_PORT} is taken by a program that is not Tessera's identity provider; stop it, or configure a provider (TESSERA_AUTHORITY, TESSERA_CLIENT_ID)"));
                }
                return Ok(Provider {
                    endpoints,
                    embedded: Some(Embedded::Joined),
                });
            }
            // Taken (another copy of the app, say): any free port will do for this run.
            Err(tessera_idp::StartError::Bind { .. }) => tessera_idp::start(options(0))
                .await
                .map_err(|e| format!("embedded identity provider: {e}"))?,
            Err(e) => return Err(format!("embedded identity provider: {e}")),
        };
        Ok(Provider {
            endpoints: Endpoints {
                authority: idp.authority(),
                authority_type: None,
                client_id: EMBEDDED_CLIENT_ID.to_owned(),
                graph_url: Some(idp.graph_url()),
                redirect_uri,
            },
            embedded: Some(Embedded::Own(Box::new(idp))),
        })
    }

    /// Without the emulator, nothing configured is an error that says what to configure.
    #[cfg(not(feature = "embedded-idp"))]
    async fn start_embedded(
        _redirect_uri: url::Url,
        _state_dir: Option<&std::path::Path>,
        _join: bool,
    ) -> Result<Provider, String> {
        Err(NO_EMBEDDED_PROVIDER.to_owned())
    }

    /// The embedded provider's endpoints on its usual port, without starting it: enough for
    /// what needs no provider (listing or forgetting accounts).
    pub fn embedded_endpoints(redirect_uri: url::Url) -> Result<Endpoints, String> {
        let base = url::Url::parse(&format!("http://127.0.0.1:{EMBEDDED_PORT}/"))
            .map_err(|e| format!("embedded identity provider: {e}"))?;
        let at = |path: &str| {
            base.join(path)
                .map_err(|e| format!("embedded identity provider: {e}"))
        };
        Ok(Endpoints {
            authority: at("common")?,
            authority_type: None,
            client_id: EMBEDDED_CLIENT_ID.to_owned(),
            graph_url: Some(at("v1.0")?),
            redirect_uri,
        })
    }

    /// Whether the app runs on its own test provider (started here or joined).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Stops the embedded server this process runs, if any, letting requests in flight finish
    /// (its state file is already up to date: it is written after each change).
    pub async fn stop(self) {
        #[cfg(feature = "embedded-idp")]
        if let Some(Embedded::Own(idp)) = self.embedded {
            idp.stop().await;
        }
    }

    /// The sign-in names of the embedded provider's test users (none otherwise).
    pub fn test_users(&self) -> Vec<String> {
        #[cfg(feature = "embedded-idp")]
        if self.is_embedded() {
            return tessera_idp::Seed::default()
                .users
                .into_iter()
                .map(|u| u.username)
                .collect();
        }
        vec![]
    }
}

/// The embedded provider's control token in `dir`: read, or made (32 random bytes) and written
/// owner-only. The app and the command line of one user share the folder, so both know it;
/// another local user or a program squatting the port does not.
#[cfg(feature = "embedded-idp")]
pub fn embedded_control_token(dir: &std::path::Path) -> std::io::Result<tessera_idp::ControlToken> {
    use std::io::Write;
    let path = dir.join(EMBEDDED_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => {
            return Ok(tessera_idp::ControlToken(text.trim().to_owned()))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(dir)?;
    let token = tessera_auth::secret::CsrfState::generate()
        .secret()
        .to_owned();
    // A damaged (short) file is replaced; otherwise the first process to write wins, and a
    // second one starting at the same moment reads the winner's.
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(token.as_bytes())?;
            file.sync_all()?;
            Ok(tessera_idp::ControlToken(token))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let text = std::fs::read_to_string(&path)?;
            Ok(tessera_idp::ControlToken(text.trim().to_owned()))
        }
        Err(e) => Err(e),
    }
}

/// Whether `authority` is this user's tessera-idp: it proves that it holds the token in the
/// user's data folder by answering a fresh challenge with the token's MAC, without the token
/// being sent to it. Anything else on the port (a program that merely answers
/// `/__control/stats`, or an emulator of someone else's) would be sent refresh tokens and
/// trusted for keys and metadata, so it is refused.
#[cfg(feature = "embedded-idp")]
async fn is_embedded_provider(
    authority: &url::Url,
    token: Option<&tessera_idp::ControlToken>,
) -> bool {
    let Some(token) = token else {
        return false;
    };
    let challenge = tessera_auth::secret::CsrfState::generate();
    let Ok(mut url) = authority.join("/__control/proof") else {
        return false;
    };
    url.query_pairs_mut()
        .append_pair("challenge", challenge.secret());
    // Loopback: never through a proxy (issue 21, point 2).
    let Ok(http) = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    let expected = tessera_idp::control_proof(&token.0, challenge.secret());
    match http.get(url).send().await {
        Ok(response) if response.status().is_success() => {
            response.json::<serde_json::Value>().await.is_ok_and(|v| {
                use subtle::ConstantTimeEq;
                let proof = v["proof"].as_str().unwrap_or_default();
                !expected.is_empty() && bool::from(proof.as_bytes().ct_eq(expected.as_bytes()))
            })
        }
        _ => false,
    }
}

#[cfg(all(test, feature = "embedded-idp"))]
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
