//! The token cache at rest. The engine's serialised cache is sealed with XChaCha20-Poly1305
//! under a random 256-bit key that lives in the OS credential store ([`OsKeyring`]); the
//! ciphertext is a file in the app's data folder, replaced atomically and only while holding a
//! cross-process lock, so the app and the command-line tool share it. A [`Vault`] is the
//! engine's [`CachePersistence`].
//!
//! Bad states lose nothing: a file that cannot be decrypted, or whose key is gone from the
//! keyring, is moved aside (kept next to the cache, named `token-cache.<why>-<time>-<id>.bin`)
//! and the user starts signed out. Without any keyring [`Vault::open`] fails with
//! [`VaultError::KeyringUnavailable`] and the caller keeps tokens in memory, unless the user
//! explicitly asks for [`Vault::open_plaintext`].

#![warn(missing_docs)]

mod file;
mod keystore;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use tessera_auth::{CacheBlob, CachePersistence, PersistenceError, RefreshLock, SaveMerge};
use zeroize::Zeroizing;

pub use keystore::{
    decode_key, CacheKey, KeyStore, KeyStoreError, MemoryKeyStore, OsKeyring, KEYRING_SERVICE,
    KEY_LEN,
};

/// The encrypted cache's file name in its folder.
pub const CACHE_FILE: &str = "token-cache.bin";
/// The unencrypted cache's file name, used only on explicit request.
pub const PLAINTEXT_CACHE_FILE: &str = "token-cache.plaintext.json";
const LOCK_FILE: &str = "token-cache.lock";
/// The sealed file's header, also authenticated (associated data): format and version.
const MAGIC: &[u8] = b"TESSERA-CACHE\x01";
const NONCE_LEN: usize = 24;

/// Why a vault could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No OS keyring: keep tokens in memory, and say so.
    #[error("{0}")]
    KeyringUnavailable(KeyStoreError),
    /// The folder or the lock file cannot be used.
    #[error("the token cache folder {path} cannot be used: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The persisted token cache in one folder.
pub struct Vault {
    path: PathBuf,
    lock_path: PathBuf,
    key: Option<CacheKey>,
    /// The version of the file this process last read or wrote.
    seen: Mutex<Option<file::Stamp>>,
    /// Something the user should know that happened to the stored cache.
    notice: Mutex<Option<String>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("encrypted", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the encrypted cache in `folder` (created, private to the user), its key in the OS
    /// keyring.
    pub fn open_with_os_keyring(folder: &Path) -> Result<Vault, VaultError> {
        let keys = OsKeyring::for_cache(&folder.join(CACHE_FILE))
            .map_err(VaultError::KeyringUnavailable)?;
        Self::open(folder, &keys)
    }

    /// Opens the encrypted cache in `folder` with its key in `keys`, creating the key if there
    /// is none. A cache file whose key is missing is set aside (see [`Self::notice`]).
    pub fn open(folder: &Path, keys: &dyn KeyStore) -> Result<Vault, VaultError> {
        let mut vault = Self::new(folder, CACHE_FILE)?;
        // Under the lock: two processes starting at once must not both create a key.
        let _lock = vault.lock().map_err(|source| VaultError::Folder {
            path: folder.to_owned(),
            source,
        })?;
        let key = match keys.get() {
            Ok(Some(key)) => key,
            Ok(None) | Err(KeyStoreError::Invalid) => {
                if vault.path.exists() {
                    let aside = file::set_aside(&vault.path, "no-key").map_err(|source| {
                        VaultError::Folder {
                            path: folder.to_owned(),
                            source,
                        }
                    })?;
                    vault.set_notice(format!(
                        "The key of the saved sign-ins is missing from {}, so they cannot be \
                         read: you are signed out. The old file was kept as {}.",
                        keys.describe(),
                        aside.display()
                    ));
                }
                let key = new_key();
                keys.set(&key).map_err(VaultError::KeyringUnavailable)?;
                key
            }
            Err(unavailable) => return Err(VaultError::KeyringUnavailable(unavailable)),
        };
        vault.key = Some(key);
        vault
            .take_in_plaintext_cache(folder)
            .map_err(|source| VaultError::Folder {
                path: folder.to_owned(),
                source,
            })?;
        Ok(vault)
    }

    /// Issue 21, point 6: an earlier `--insecure-plaintext-cache` run left refresh tokens in
    /// clear beside an encrypted cache that said it held them all. Its sign-ins move into the
    /// encrypted file when there is none yet; either way the unencrypted file is deleted and
    /// the user told. Called with the cache's lock held.
    fn take_in_plaintext_cache(&self, folder: &Path) -> std::io::Result<()> {
        let plaintext = folder.join(PLAINTEXT_CACHE_FILE);
        let Some((bytes, _)) = file::read(&plaintext)? else {
            return Ok(());
        };
        let bytes = Zeroizing::new(bytes);
        let notice = if self.path.exists() {
            // Two caches cannot be merged here (only the engine reads them); the encrypted one
            // is the one this mode keeps using, and tokens must not stay in clear.
            "The sign-ins saved unencrypted by an earlier --insecure-plaintext-cache run were \
             deleted, because encrypted ones already exist: sign in again to any account that \
             is missing."
        } else {
            file::write_atomically(&self.path, &self.seal(&bytes))?;
            "The sign-ins saved unencrypted by an earlier --insecure-plaintext-cache run were \
             moved into the encrypted cache, and the unencrypted file was deleted."
        };
        std::fs::remove_file(&plaintext)?;
        self.set_notice(notice.to_owned());
        Ok(())
    }

    /// Opens an unencrypted cache in `folder`: only when the user explicitly asked for it
    /// (no keyring, and tokens must survive a restart). Anyone who can read the file can use
    /// the tokens in it.
    pub fn open_plaintext(folder: &Path) -> Result<Vault, VaultError> {
        Self::new(folder, PLAINTEXT_CACHE_FILE)
    }

    fn new(folder: &Path, name: &str) -> Result<Vault, VaultError> {
        file::create_private_folder(folder).map_err(|source| VaultError::Folder {
            path: folder.to_owned(),
            source,
        })?;
        Ok(Vault {
            path: folder.join(name),
            lock_path: folder.join(LOCK_FILE),
            key: None,
            seen: Mutex::new(None),
            notice: Mutex::new(None),
        })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is encrypted (false only for [`Self::open_plaintext`]).
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The last thing that happened to the stored cache that the user should be told (a file
    /// set aside, and where it is).
    pub fn notice(&self) -> Option<String> {
        self.notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_notice(&self, notice: String) {
        *self.notice.lock().unwrap_or_else(|p| p.into_inner()) = Some(notice);
    }

    fn lock(&self) -> std::io::Result<file::Lock> {
        file::Lock::acquire(&self.lock_path)
    }

    /// `token-cache.refresh-<digest>.lock`: the key's SHA-256, so the file name says nothing
    /// about the account.
    pub fn refresh_lock_path(&self, key: &str) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.lock_path
            .with_file_name(format!("token-cache.refresh-{hex}.lock"))
    }

    fn io_error(&self, error: std::io::Error) -> PersistenceError {
        PersistenceError::Unavailable(format!("{}: {error}", self.path.display()))
    }

    fn seal(&self, blob: &[u8]) -> Vec<u8> {
        match &self.key {
            Some(key) => seal(key, blob),
            None => blob.to_vec(),
        }
    }

    fn unseal(&self, bytes: &[u8]) -> Result<CacheBlob, UnsealError> {
        match &self.key {
            Some(key) => unseal(key, bytes),
            None => Ok(CacheBlob::new(bytes.to_vec())),
        }
    }

    /// Sets the file aside because it cannot be decrypted, and tells the user.
    fn set_aside_undecryptable(&self, why: UnsealError) -> Result<String, PersistenceError> {
        let aside = file::set_aside(&self.path, "unreadable").map_err(|e| self.io_error(e))?;
        let message = format!(
            "The saved sign-ins could not be decrypted ({why}): you are signed out. The file \
             was kept as {}.",
            aside.display()
        );
        self.set_notice(message.clone());
        Ok(message)
    }
}

impl CachePersistence for Vault {
    fn load_if_changed(&self) -> Result<Option<CacheBlob>, PersistenceError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let current = file::stamp(&self.path).map_err(|e| self.io_error(e))?;
        if current.is_none() || current == *seen {
            return Ok(None);
        }
        let Some((bytes, stamp)) = file::read(&self.path).map_err(|e| self.io_error(e))? else {
            return Ok(None);
        };
        match self.unseal(&bytes) {
            Ok(blob) => {
                *seen = Some(stamp);
                Ok(Some(blob))
            }
            Err(why) => {
                // The lock comes before `seen`, as in `save`: taking them the other way round
                // could deadlock with a save on another thread.
                drop(seen);
                let _lock = self.lock().map_err(|e| self.io_error(e))?;
                // Another process may have replaced it with a good one meanwhile.
                if file::stamp(&self.path).map_err(|e| self.io_error(e))? != Some(stamp) {
                    return Ok(None);
                }
                Err(PersistenceError::Unreadable(
                    self.set_aside_undecryptable(why)?,
                ))
            }
        }
    }

    fn save(&self, merge: &mut SaveMerge<'_>) -> Result<(), PersistenceError> {
        let _lock = self.lock().map_err(|e| self.io_error(e))?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let current = file::stamp(&self.path).map_err(|e| self.io_error(e))?;
        let stored = match current {
            Some(_) if current != *seen => {
                match file::read(&self.path).map_err(|e| self.io_error(e))? {
                    Some((bytes, _)) => match self.unseal(&bytes) {
                        Ok(blob) => Some(blob),
                        Err(why) => {
                            self.set_aside_undecryptable(why)?;
                            None
                        }
                    },
                    None => None,
                }
            }
            _ => None,
        };
        let blob = match merge(stored) {
            // Decrypted but not a cache this build reads (a newer Tessera's): kept aside.
            Err(PersistenceError::Cache(error)) => {
                let aside =
                    file::set_aside(&self.path, "unreadable").map_err(|e| self.io_error(e))?;
                self.set_notice(format!(
                    "The saved sign-ins could not be read ({error}); the file was kept as {}.",
                    aside.display()
                ));
                merge(None)?
            }
            other => other?,
        };
        let sealed = self.seal(&blob);
        // Best effort: a leftover that cannot be removed costs disk space, not correctness.
        let _ = file::remove_unfinished_writes(&self.path);
        let stamp = file::write_atomically(&self.path, &sealed).map_err(|e| self.io_error(e))?;
        *seen = Some(stamp);
        Ok(())
    }

    /// A kernel lock (`flock`) on a file of its own per account and client, beside the
    /// cache: released by the system if the holder dies, and separate from the cache's lock so
    /// that no save waits for a refresh on the network.
    fn try_lock_refresh(&self, key: &str) -> Result<Option<RefreshLock>, PersistenceError> {
        let path = self.refresh_lock_path(key);
        file::Lock::try_acquire(&path)
            .map(|held| held.map(RefreshLock::new))
            .map_err(|e| PersistenceError::Unavailable(format!("{}: {e}", path.display())))
    }

    fn set_aside(&self) -> Result<Option<String>, PersistenceError> {
        let _lock = self.lock().map_err(|e| self.io_error(e))?;
        if !self.path.exists() {
            return Ok(None);
        }
        let aside = file::set_aside(&self.path, "unreadable").map_err(|e| self.io_error(e))?;
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(Some(aside.display().to_string()))
    }
}

/// `token-cache.refresh-<digest>.lock` in `folder`: the key's SHA-256, so the file name says
/// nothing about the account. The key is the engine's (`home account id|environment|client
/// id`).
pub fn refresh_lock_path(folder: &Path, key: &str) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    folder.join(format!("token-cache.refresh-{hex}.lock"))
}

/// Why a sealed file could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// Not a Tessera cache file, or cut short.
    #[error("not a Tessera token cache file")]
    NotACacheFile,
    /// Another key sealed it, or it was altered.
    #[error("wrong key, or the file was altered")]
    Rejected,
}

fn new_key() -> CacheKey {
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    bytes.copy_from_slice(key.as_slice());
    bytes
}

/// Seals a cache blob: header, random 192-bit nonce, ciphertext and tag.
pub fn seal(key: &CacheKey, blob: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let payload = Payload {
        msg: blob,
        aad: MAGIC,
    };
    // Encryption fails only for messages of 256 GiB and more.
    let ciphertext = cipher.encrypt(&nonce, payload).unwrap_or_default();
    [MAGIC, nonce.as_slice(), &ciphertext].concat()
}

/// Opens a file [`seal`] wrote.
pub fn unseal(key: &CacheKey, bytes: &[u8]) -> Result<CacheBlob, UnsealError> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or(UnsealError::NotACacheFile)?;
    if rest.len() < NONCE_LEN {
        return Err(UnsealError::NotACacheFile);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let payload = Payload {
        msg: ciphertext,
        aad: MAGIC,
    };
    // Wiped when dropped: the plaintext holds every refresh token.
    cipher
        .decrypt(XNonce::from_slice(nonce), payload)
        .map(CacheBlob::new)
        .map_err(|_| UnsealError::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_any_change_is_rejected() {
        let key = new_key();
        let sealed = seal(&key, b"secret cache");
        assert!(!sealed.windows(b"secret".len()).any(|w| w == b"secret"));
        assert_eq!(unseal(&key, &sealed).unwrap().as_slice(), b"secret cache");
        assert_ne!(
            seal(&key, b"secret cache"),
            sealed,
            "a fresh nonce every time"
        );

        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(unseal(&key, &flipped), Err(UnsealError::Rejected));
        assert_eq!(unseal(&new_key(), &sealed), Err(UnsealError::Rejected));
        assert_eq!(
            unseal(&key, &sealed[..MAGIC.len() + 3]),
            Err(UnsealError::NotACacheFile)
        );
        assert_eq!(
            unseal(&key, b"{\"version\":1}"),
            Err(UnsealError::NotACacheFile)
        );
    }
}
