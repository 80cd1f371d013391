//! The one persistence trait: where the serialised cache lives is the caller's business (the
//! app's vault: a key in the OS keyring and an encrypted file). The engine replaces its cache
//! from it before reading and exports to it after every change (MSAL Go's `ExportReplace`), so
//! that several processes (the app and the CLI) see each other's tokens.

use crate::cache::CacheError;

/// Stores the serialised token cache somewhere durable.
pub trait CachePersistence: Send + Sync + std::fmt::Debug {
    /// The stored blob if it changed since this process last loaded or saved it; `None` when
    /// it did not change or nothing is stored. Called before every cache read, so it should be
    /// cheap when nothing changed (compare a modification time, say).
    fn load_if_changed(&self) -> Result<Option<Vec<u8>>, PersistenceError>;

    /// Stores `blob` (the whole cache, secrets included: store it encrypted).
    fn save(&self, blob: &[u8]) -> Result<(), PersistenceError>;
}

/// Why the cache could not be loaded or saved. The engine keeps working from memory.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PersistenceError {
    /// The store cannot be reached (no keyring, no disk space, no permission…).
    #[error("token storage unavailable: {0}")]
    Unavailable(String),
    /// The stored cache cannot be read.
    #[error(transparent)]
    Cache(#[from] CacheError),
}
