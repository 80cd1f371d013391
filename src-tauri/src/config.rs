//! Settings, policy and token storage as the shell wires them. Everything the engine needs is
//! resolved before the first window exists (the provider and the cache come from it); the
//! user's changes go through `tauri-plugin-store` into the same `settings.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreExt;
use tessera_auth::{CachePersistence, PublicClientApplication};
use tessera_config::{policy, ConfigError, Policy, Resolved, STORE_KEY};
use tessera_vault::{KeyStore, Vault, VaultError};

use crate::error::CommandError;
use crate::state::AppState;

/// What the app starts with.
#[derive(Debug)]
pub struct Startup {
    /// The settings in effect.
    pub resolved: Resolved,
    /// The store file the user's settings live in.
    pub settings_file: PathBuf,
    /// Where tokens are kept.
    pub storage: Storage,
}

/// The settings in effect from the real environment, and the store file: `settings.json` in
/// the app's config folder, the policy file, the `TESSERA_*` variables.
pub fn resolve_environment(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Resolved, PathBuf), ConfigError> {
    let settings_file = tessera_config::app_config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("settings.json");
    let policy = Policy::load(&policy::policy_path(&var))?;
    let resolved = resolve_file(&settings_file, &var, policy.as_ref())?;
    Ok((resolved, settings_file))
}

/// Reads the user's settings from the store file and resolves them with the other layers,
/// logging what was ignored.
pub fn resolve_file(
    settings_file: &Path,
    var: impl Fn(&str) -> Option<String>,
    policy: Option<&Policy>,
) -> Result<Resolved, ConfigError> {
    let (stored, mut warnings) = tessera_config::read_user_settings(settings_file);
    let mut resolved = tessera_config::resolve(stored.as_ref(), var, policy)?;
    warnings.append(&mut resolved.warnings);
    for warning in &warnings {
        eprintln!("tessera: {warning}");
    }
    resolved.warnings = warnings;
    Ok(resolved)
}

/// Where the app keeps tokens between runs.
#[derive(Debug)]
pub struct Storage {
    vault: Option<Arc<Vault>>,
    /// Why tokens are kept in memory only, when they are.
    memory_reason: Option<String>,
}

impl Storage {
    /// The app's vault: in its data folder (or `TESSERA_CACHE_DIR`), key in the OS keyring.
    pub fn for_app(allow_plaintext: bool, var: impl Fn(&str) -> Option<String>) -> Storage {
        match tessera_config::cache_dir(var) {
            Some(folder) => Storage::open(&folder, allow_plaintext),
            None => Storage::memory("this system has no data folder for the app".into()),
        }
    }

    /// The encrypted vault in `folder` with its key in the OS keyring. Without a keyring:
    /// memory only, or the plaintext file when the user explicitly allowed it.
    pub fn open(folder: &Path, allow_plaintext: bool) -> Storage {
        Self::from_outcome(folder, Vault::open_with_os_keyring(folder), allow_plaintext)
    }

    /// The vault in `folder` with its key in `keys` (tests).
    pub fn open_with(folder: &Path, keys: &dyn KeyStore) -> Storage {
        Self::from_outcome(folder, Vault::open(folder, keys), false)
    }

    fn from_outcome(
        folder: &Path,
        outcome: Result<Vault, VaultError>,
        allow_plaintext: bool,
    ) -> Storage {
        match outcome {
            Ok(vault) => Storage {
                vault: Some(Arc::new(vault)),
                memory_reason: None,
            },
            Err(VaultError::KeyringUnavailable(why)) if allow_plaintext => {
                match Vault::open_plaintext(folder) {
                    Ok(vault) => Storage {
                        vault: Some(Arc::new(vault)),
                        memory_reason: None,
                    },
                    Err(e) => {
                        Storage::memory(format!("{why}; the plaintext cache failed too: {e}"))
                    }
                }
            }
            Err(why) => Storage::memory(why.to_string()),
        }
    }

    /// Tokens in memory only, for `reason`.
    pub fn memory(reason: String) -> Storage {
        Storage {
            vault: None,
            memory_reason: Some(reason),
        }
    }

    /// The engine's persistence layer, if any.
    pub fn persistence(&self) -> Option<Arc<dyn CachePersistence>> {
        self.vault
            .clone()
            .map(|vault| vault as Arc<dyn CachePersistence>)
    }

    /// What the settings screen shows.
    pub fn status(&self, auth: &PublicClientApplication) -> StorageStatus {
        let Some(vault) = &self.vault else {
            return StorageStatus {
                kind: "memory",
                location: None,
                warning: Some(format!(
                    "Sign-ins are kept in memory only and end when Tessera closes: {}. Start \
                     Tessera with --insecure-plaintext-cache to keep them in an unencrypted \
                     file instead.",
                    self.memory_reason.as_deref().unwrap_or("no storage")
                )),
            };
        };
        let warning = match (
            vault.is_encrypted(),
            vault.notice(),
            auth.persistence_error(),
        ) {
            (_, _, Some(error)) => Some(format!("Saving sign-ins failed: {error}")),
            (_, Some(notice), None) => Some(notice),
            (false, None, None) => Some(
                "Sign-ins are saved unencrypted, as you asked (--insecure-plaintext-cache): \
                 anyone who can read the file can use them."
                    .into(),
            ),
            (true, None, None) => None,
        };
        StorageStatus {
            kind: if vault.is_encrypted() {
                "encrypted"
            } else {
                "plaintext"
            },
            location: Some(vault.path().display().to_string()),
            warning,
        }
    }
}

/// Where tokens are kept, for the UI.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatus {
    /// `encrypted` (key in the OS keyring), `plaintext` (asked for), or `memory`.
    pub kind: &'static str,
    /// The cache file.
    pub location: Option<String>,
    /// What the user should know, if anything.
    pub warning: Option<String>,
}

/// Applies the user's `changes` (refused whole if any is managed or invalid) and saves them
/// through the store plugin.
pub fn change_settings<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    changes: &Map<String, Value>,
) -> Result<(), CommandError> {
    let file = &state.settings_file;
    let store = app.store(file).map_err(|e| {
        CommandError::new("settings", format!("cannot open {}: {e}", file.display()))
    })?;
    // Held throughout, so that two changes at once (the window moved while the account
    // switched) both land instead of the second overwriting the first.
    let mut current = state.settings.lock().unwrap_or_else(|p| p.into_inner());
    let mut resolved = current.clone();
    let stored = store.get(STORE_KEY);
    let next = resolved
        .change(stored.as_ref(), changes)
        .map_err(CommandError::invalid)?;
    store.set(STORE_KEY, next);
    store.save().map_err(|e| {
        CommandError::new("settings", format!("cannot save {}: {e}", file.display()))
    })?;
    resolved.warnings.clear();
    *current = resolved;
    Ok(())
}

/// Remembers something the app itself keeps (the active account, the window), unless a policy
/// or the environment pins it; a failure is logged, never shown: it costs only convenience.
pub fn remember<R: Runtime>(app: &AppHandle<R>, state: &AppState, name: &str, value: Value) {
    let resolved = state.resolved();
    if !resolved.is_user_settable(name) || resolved.settings.field(name).as_ref() == Some(&value) {
        return;
    }
    let mut change = Map::new();
    change.insert(name.to_owned(), value);
    if let Err(e) = change_settings(app, state, &change) {
        eprintln!("tessera: could not remember {name}: {}", e.message);
    }
}
