//! What every command starts from: the settings in effect (command-line options counting as
//! their environment variables), the provider, the shared token vault, and the engine built
//! exactly as the app builds it.

use tessera_auth::{Account, PublicClientApplication};
use tessera_config::ProviderChoice;
use tessera_host::{Provider, Storage};

use crate::cli::Global;
use crate::failure::Failure;

/// A command's engine and what it needs around it.
#[derive(Debug)]
pub struct Session {
    /// The provider, and the embedded one's server when this process runs it.
    pub provider: Option<Provider>,
    /// The engine.
    pub auth: PublicClientApplication,
    /// The loopback port for browser sign-ins (0: any): `--redirect-port`, else the
    /// `redirectPort` setting.
    pub redirect_port: u16,
    /// Where the profile comes from.
    pub profiles: tessera_host::Profiles,
    /// The settings in effect.
    pub settings: tessera_config::Settings,
    /// The settings with their sources, to remember the default account.
    resolved: tessera_config::Resolved,
    /// The user's settings file, shared with the app.
    settings_file: std::path::PathBuf,
    /// Why sign-ins cannot be saved, when they cannot.
    pub memory_only: Option<String>,
}

impl Session {
    /// Resolves the configuration and builds the engine. `online` starts (or joins) the
    /// embedded provider when it is the one in use; commands that only read or forget
    /// accounts do without.
    pub async fn open(global: &Global, online: bool) -> Result<Session, Failure> {
        let options = options_as_variables(global);
        let var = |name: &str| {
            options
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
        };
        let (resolved, settings_file) =
            tessera_host::resolve_environment(var).map_err(|e| Failure::usage(e.to_string()))?;
        for warning in &resolved.warnings {
            eprintln!("tessera-cli: {warning}");
        }
        let choice = ProviderChoice::from_settings(&resolved.settings)
            .map_err(|e| Failure::usage(e.to_string()))?;
        let storage = Storage::for_app(global.insecure_plaintext_cache, var);
        let (provider, endpoints) = match (choice, online) {
            (ProviderChoice::Configured(endpoints), _) => (None, endpoints),
            (ProviderChoice::Embedded { redirect_uri }, false) => (
                None,
                Provider::embedded_endpoints(redirect_uri).map_err(Failure::usage)?,
            ),
            (choice, true) => {
                let provider =
                    Provider::start_or_join(choice, tessera_config::app_data_dir().as_deref())
                        .await
                        .map_err(|e| {
                            Failure::new(crate::failure::Exit::Unavailable, "network", e)
                        })?;
                let endpoints = provider.endpoints.clone();
                (Some(provider), endpoints)
            }
        };
        let auth = tessera_host::build_engine(&endpoints, &resolved.settings, &storage)
            .map_err(Failure::usage)?;
        if let Some(warning) = storage_warning(&storage, &auth) {
            eprintln!("tessera-cli: {warning}");
        }
        Ok(Session {
            provider,
            profiles: tessera_host::Profiles::new(endpoints),
            auth,
            redirect_port: resolved.settings.redirect_port,
            settings: resolved.settings.clone(),
            resolved,
            settings_file,
            memory_only: storage.memory_reason().map(str::to_owned),
        })
    }

    /// The account named by sign-in name or home account id, else the default one (the app's
    /// active account, or the first).
    pub fn account(&self, named: Option<&str>) -> Result<Account, Failure> {
        let accounts = self.auth.accounts();
        match named {
            Some(name) => accounts
                .into_iter()
                .find(|a| a.username.eq_ignore_ascii_case(name) || a.home_account_id == name)
                .ok_or_else(|| Failure::no_account(format!("{name} is not signed in"))),
            None => self
                .auth
                .active_account()
                .or_else(|| accounts.into_iter().next())
                .ok_or_else(|| Failure::no_account("no account is signed in")),
        }
    }

    /// Saving the cache failed: what was done lives only in this process, which is about to
    /// end. Said loudly, since the next command will not find it.
    pub fn check_saved(&self) -> Result<(), Failure> {
        match self.auth.persistence_error() {
            Some(error) => Err(Failure::new(
                crate::failure::Exit::Other,
                "storage",
                format!("could not save the token cache: {error}"),
            )),
            None => Ok(()),
        }
    }

    /// Makes `account` the default one, for the app too (it is the app's active account). A
    /// failure costs only that convenience: it is said, not fatal.
    pub fn make_default(&self, account: &Account) {
        let mut resolved = self.resolved.clone();
        let remembered = tessera_host::remember_active_account(
            &self.settings_file,
            &mut resolved,
            &account.home_account_id,
        );
        if let Err(e) = remembered {
            eprintln!(
                "tessera-cli: {} stays signed in but is not the default account: {e}",
                account.username
            );
        }
        let _ = self.auth.set_active_account(Some(&account.home_account_id));
    }

    /// Stops the embedded provider's server if this process runs it.
    pub async fn close(self) {
        if let Some(provider) = self.provider {
            provider.stop().await;
        }
    }
}

/// The global options given on the command line, as the variables they stand for, so that
/// they take the environment's place in the settings' precedence (under the policy file).
fn options_as_variables(global: &Global) -> Vec<(&'static str, String)> {
    let mut vars = vec![];
    if let Some(v) = &global.authority {
        vars.push(("TESSERA_AUTHORITY", v.clone()));
    }
    if let Some(v) = &global.client_id {
        vars.push(("TESSERA_CLIENT_ID", v.clone()));
    }
    if let Some(v) = &global.graph_url {
        vars.push(("TESSERA_GRAPH_URL", v.clone()));
    }
    if let Some(v) = &global.cache_dir {
        vars.push(("TESSERA_CACHE_DIR", v.to_string_lossy().into_owned()));
    }
    if let Some(v) = global.redirect_port {
        vars.push(("TESSERA_REDIRECT_PORT", v.to_string()));
    }
    vars
}

/// Why sign-ins will not outlive this command, or what else the user should know about
/// the cache (a damaged file set aside, say).
fn storage_warning(storage: &Storage, auth: &PublicClientApplication) -> Option<String> {
    match storage.memory_reason() {
        Some(reason) => Some(format!(
            "sign-ins cannot be saved, so they end with this command ({reason}); add --insecure-plaintext-cache to save them unencrypted"
        )),
        None => storage.status(auth).warning,
    }
}
