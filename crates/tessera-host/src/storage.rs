//! Where the engine keeps tokens between runs: the encrypted vault, or memory when there is no
//! keyring (or the plaintext file when the user asked for it).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tessera_auth::{CachePersistence, PublicClientApplication};
use tessera_vault::{KeyStore, Vault, VaultError};

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

    /// Why tokens are kept in memory only, when they are.
    pub fn memory_reason(&self) -> Option<&str> {
        self.memory_reason.as_deref()
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
