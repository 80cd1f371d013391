//! Where the cache key lives: the OS credential store through `keyring`, or (tests) memory.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

/// The keyring service name every Tessera entry uses.
pub const KEYRING_SERVICE: &str = "tessera";

/// The cache key's length: 256 bits.
pub const KEY_LEN: usize = 32;

/// A 256-bit cache key, wiped from memory when dropped.
pub type CacheKey = Zeroizing<[u8; KEY_LEN]>;

/// Stores one secret: the cache key. Only the key goes in (Windows' credential blobs are
/// limited to 2 560 bytes, and a cache with a few refresh tokens is larger).
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// The stored key, `None` when there is none.
    fn get(&self) -> Result<Option<CacheKey>, KeyStoreError>;
    /// Stores the key, replacing any.
    fn set(&self, key: &CacheKey) -> Result<(), KeyStoreError>;
    /// Where the key is kept, for messages.
    fn describe(&self) -> String;
}

/// Why the key store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// No credential store is reachable (headless Linux without a Secret Service, a locked
    /// keychain the user refused to open…): tokens can only be kept in memory.
    #[error("no OS keyring is available: {0}")]
    Unavailable(String),
    /// The store holds something for this entry that is not a Tessera key.
    #[error("the keyring entry is not a valid cache key")]
    Invalid,
}

/// The OS credential store: Secret Service (Linux), Keychain (macOS), Credential Manager
/// (Windows). One entry per cache file, so two cache folders (tests, say) never share a key.
#[derive(Debug)]
pub struct OsKeyring {
    entry: keyring::Entry,
    user: String,
}

impl OsKeyring {
    /// The entry for the cache file at `cache_path`: service [`KEYRING_SERVICE`], user
    /// `token-cache-key:<path>`.
    pub fn for_cache(cache_path: &std::path::Path) -> Result<OsKeyring, KeyStoreError> {
        let user = format!("token-cache-key:{}", cache_path.display());
        let entry = keyring::Entry::new(KEYRING_SERVICE, &user).map_err(unavailable)?;
        Ok(OsKeyring { entry, user })
    }
}

fn unavailable(error: keyring::Error) -> KeyStoreError {
    KeyStoreError::Unavailable(error.to_string())
}

impl KeyStore for OsKeyring {
    fn get(&self) -> Result<Option<CacheKey>, KeyStoreError> {
        match self.entry.get_password() {
            Ok(text) => decode_key(&Zeroizing::new(text)).map(Some),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(keyring::Error::BadEncoding(_)) => Err(KeyStoreError::Invalid),
            Err(other) => Err(unavailable(other)),
        }
    }

    fn set(&self, key: &CacheKey) -> Result<(), KeyStoreError> {
        // Base64 text, so `secret-tool lookup` and the platforms' own tools can show it.
        let text = Zeroizing::new(STANDARD.encode(key.as_slice()));
        self.entry.set_password(&text).map_err(unavailable)
    }

    fn describe(&self) -> String {
        format!(
            "the OS keyring (service \"{KEYRING_SERVICE}\", user \"{}\")",
            self.user
        )
    }
}

/// A key as the keyring holds it (base64), checked for length.
pub fn decode_key(text: &str) -> Result<CacheKey, KeyStoreError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| KeyStoreError::Invalid)?,
    );
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return Err(KeyStoreError::Invalid);
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// A key store in memory: for tests of the crates above, never for the app.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    key: std::sync::Mutex<Option<CacheKey>>,
    /// When set, every call fails as a missing Secret Service does.
    pub unavailable: std::sync::atomic::AtomicBool,
}

impl MemoryKeyStore {
    fn check(&self) -> Result<(), KeyStoreError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(KeyStoreError::Unavailable(
                "the test switched the key store off".into(),
            ));
        }
        Ok(())
    }

    /// Forgets the key, as a user deleting it from the keyring would.
    pub fn delete(&self) {
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl KeyStore for MemoryKeyStore {
    fn get(&self) -> Result<Option<CacheKey>, KeyStoreError> {
        self.check()?;
        Ok(self.key.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn set(&self, key: &CacheKey) -> Result<(), KeyStoreError> {
        self.check()?;
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        Ok(())
    }

    fn describe(&self) -> String {
        "a key store in memory".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_only_at_their_length() {
        let key = decode_key(&STANDARD.encode([7u8; KEY_LEN])).unwrap();
        assert_eq!(*key, [7u8; KEY_LEN]);
        assert_eq!(
            decode_key(&STANDARD.encode([7u8; 16])),
            Err(KeyStoreError::Invalid)
        );
        assert_eq!(decode_key("not base64!"), Err(KeyStoreError::Invalid));
    }
}
