//! The provider's memory across restarts, for the app's embedded provider: its signing keys,
//! browser sessions, refresh tokens, consents and per-user levers, in one JSON file written
//! after every request that changed them. Secrets the provider handed out are kept only as
//! hashes ([`secret_key`](crate::state::secret_key)). Sign-ins in progress, authorization codes
//! (they live minutes), faults, statistics and clock skew start afresh.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys::{KeySet, SigningKey};
use crate::scopes::Permission;
use crate::state::{BrowserSession, Idp, Lifetimes, RefreshGrant, Store, UserFlags};

const VERSION: u32 = 1;

/// What is kept.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Durable {
    version: u32,
    /// PKCS#8 DER, base64; the active key first.
    keys: Vec<String>,
    lifetimes: Lifetimes,
    sessions: HashMap<String, BrowserSession>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    /// (user oid, client id, permissions).
    consents: Vec<(String, String, BTreeSet<Permission>)>,
    users: HashMap<String, UserFlags>,
    sequence: u64,
}

impl Durable {
    /// The state of `idp` now, serialised.
    pub(crate) fn snapshot(idp: &Idp) -> Result<Vec<u8>, String> {
        let keys = idp
            .keyset()
            .all()
            .map(|key| key.to_pkcs8_der().map(|der| STANDARD.encode(der)))
            .collect::<Result<Vec<_>, _>>()?;
        let store = idp.store();
        let mut consents: Vec<_> = store
            .consents
            .iter()
            .map(|((user, client), permissions)| {
                (user.clone(), client.clone(), permissions.clone())
            })
            .collect();
        consents.sort();
        let durable = Durable {
            version: VERSION,
            keys,
            lifetimes: store.lifetimes,
            sessions: store.sessions.clone(),
            refresh_tokens: store.refresh_tokens.clone(),
            consents,
            users: store.users.clone(),
            sequence: store.sequence,
        };
        drop(store);
        serde_json::to_vec(&durable).map_err(|e| e.to_string())
    }

    /// Reads the file; `Ok(None)` when there is none. A file that cannot be used is an error
    /// naming it (the caller sets it aside and starts afresh).
    pub(crate) fn load(path: &Path) -> Result<Option<Durable>, String> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let durable: Durable = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a provider state file: {e}", path.display()))?;
        if durable.version != VERSION || durable.keys.is_empty() {
            return Err(format!("{}: unsupported version or no key", path.display()));
        }
        Ok(Some(durable))
    }

    /// The signing keys it holds.
    pub(crate) fn keyset(&self) -> Result<KeySet, String> {
        let mut keys = self.keys.iter().map(|encoded| {
            let der = STANDARD.decode(encoded).map_err(|e| e.to_string())?;
            SigningKey::from_pkcs8_der(&der).map(Arc::new)
        });
        let active = keys.next().ok_or("no signing key")??;
        Ok(KeySet {
            active,
            retired: keys.collect::<Result<_, _>>()?,
        })
    }

    /// Puts the kept state into a fresh store.
    pub(crate) fn restore(self, store: &mut Store) {
        store.lifetimes = self.lifetimes;
        store.sessions = self.sessions;
        store.refresh_tokens = self.refresh_tokens;
        store.consents = self
            .consents
            .into_iter()
            .map(|(user, client, permissions)| ((user, client), permissions))
            .collect();
        store.users = self.users;
        store.sequence = self.sequence;
    }
}

/// Replaces the file atomically (temporary file, flush, rename), readable by its owner only.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(folder) = path.parent() {
        // Owner-only, like the file: a folder others can list tells them who signed in when
        // (issue 21, the emulator's state folder).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(folder)?;
    }
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

// Here rather than in `state`, so that the state knows nothing of how it is kept.
impl Idp {
    /// Writes the state file if the kept state changed since the last write. A failure is
    /// logged: the provider keeps working from memory.
    pub fn persist_if_changed(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = Durable::snapshot(self).and_then(|bytes| {
            if bytes != *saved {
                write(path, &bytes).map_err(|e| e.to_string())?;
                *saved = bytes;
            }
            Ok(())
        });
        if let Err(e) = outcome {
            eprintln!(
                "tessera-idp: cannot save its state to {}: {e}",
                path.display()
            );
        }
    }
}
