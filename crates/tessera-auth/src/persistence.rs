//! The one persistence trait: where the serialised cache lives is the caller's business (the
//! app's vault: a key in the OS keyring and an encrypted file). The engine replaces its cache
//! from it before reading and exports to it after every change (MSAL Go's `ExportReplace`), so
//! that several processes (the app and the CLI) see each other's tokens. A save happens under
//! the store's cross-process lock and merges what another process stored meanwhile, so two
//! processes signing in at once both keep their accounts.

use crate::cache::CacheError;

/// The serialised cache, refresh tokens in clear: wiped from memory when dropped, so a
/// decrypted copy does not outlive its use (`ZeroizeOnDrop`, checked below).
pub type CacheBlob = zeroize::Zeroizing<Vec<u8>>;

// Issue 21: the decrypted blob must be wiped; this fails to compile if the type stops being so.
const _: fn() = || {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<CacheBlob>();
};

/// Stores the serialised token cache somewhere durable.
pub trait CachePersistence: Send + Sync + std::fmt::Debug {
    /// The stored blob if it changed since this process last loaded or saved it; `None` when
    /// it did not change or nothing is stored. Called before every cache read, so it should be
    /// cheap when nothing changed (compare a modification time, say).
    fn load_if_changed(&self) -> Result<Option<CacheBlob>, PersistenceError>;

    /// Stores the cache, holding the store's lock (against other processes) from before it
    /// reads to after it writes. `merge` is given the stored blob when another process changed
    /// it since this one last loaded or saved, and returns the blob to store: the whole cache,
    /// secrets included, so store it encrypted. When `merge` fails with
    /// [`PersistenceError::Cache`] the stored blob is unreadable: set it aside as
    /// [`Self::set_aside`] does and call `merge(None)`.
    fn save(&self, merge: &mut SaveMerge<'_>) -> Result<(), PersistenceError>;

    /// Moves the stored blob out of the way, kept for inspection, because the engine cannot
    /// read it (damaged, or written by a newer version). Returns where it went.
    fn set_aside(&self) -> Result<Option<String>, PersistenceError> {
        Ok(None)
    }

    /// Tries to take the lock under which one account's refresh token is redeemed (`key`
    /// names the account and client), without waiting: `Ok(Some(guard))` holds it until the
    /// guard is dropped, `Ok(None)` means another process holds it now. A provider that
    /// rotates refresh tokens refuses a spent one, and one that detects reuse (RFC 9700
    /// §4.14.2) revokes the whole grant: two processes must never redeem the same token at
    /// once. The lock must be released by the system when its holder dies (a kernel file
    /// lock, not a lock file), and be another lock than the one `save` takes, so that no save
    /// waits on the network. The default has nothing to share with, and always grants it.
    fn try_lock_refresh(&self, key: &str) -> Result<Option<RefreshLock>, PersistenceError> {
        let _ = key;
        Ok(Some(RefreshLock::new(())))
    }
}

/// A held refresh lock ([`CachePersistence::try_lock_refresh`]): released when dropped.
pub struct RefreshLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl RefreshLock {
    /// A lock that `held` keeps until it is dropped (an open, locked file, say).
    pub fn new(held: impl Send + Sync + 'static) -> RefreshLock {
        RefreshLock(Box::new(held))
    }
}

impl std::fmt::Debug for RefreshLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshLock")
    }
}

/// The engine's side of [`CachePersistence::save`].
pub type SaveMerge<'a> = dyn FnMut(Option<CacheBlob>) -> Result<CacheBlob, PersistenceError> + 'a;

/// Why the cache could not be loaded or saved. The engine keeps working from memory.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PersistenceError {
    /// The store cannot be reached (no keyring, no disk space, no permission…).
    #[error("token storage unavailable: {0}")]
    Unavailable(String),
    /// The stored cache cannot be read.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The stored cache could not be read and was set aside; this process is signed out.
    #[error("{0}")]
    Unreadable(String),
}
