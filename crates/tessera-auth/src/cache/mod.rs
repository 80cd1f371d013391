//! The token cache, keyed as MSAL's unified cache: accounts by home account id and
//! environment; access tokens by account, environment, realm (the tenant that issued them),
//! client id and resource; refresh tokens by account, environment and client id.
//!
//! In memory behind one `RwLock` (short critical sections, never across an `.await`); the whole
//! cache serialises to a versioned JSON blob for the persistence layer, which decides where and
//! how it is stored (encrypted, in the app). Its size follows what it holds: a new access
//! token replaces those it supersedes, and expired ones are dropped when the cache is written.

mod entity;
pub(crate) mod key;
mod merge;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::authority::Metadata;
use crate::id_token::IdTokenClaims;
use crate::secret::{AccessToken, RefreshToken};

pub(crate) use entity::{AccessTokenEntry, CachedMetadata, IdTokenEntry, RefreshTokenEntry};
pub use entity::{Account, CacheError, TenantProfile, CACHE_FORMAT_VERSION};
pub use key::OIDC_SCOPES;
pub(crate) use key::{covers, normalize_scope, resource_of, resource_slice};

use entity::{encode, CacheData};

/// Reads a blob, and files every entry under the key this build gives it: caches written
/// before tokens were kept per resource, or under a cloud's other host name, read the same.
fn decode(blob: &[u8]) -> Result<CacheData, CacheError> {
    let mut data = entity::decode(blob)?;
    key::rekey(&mut data);
    Ok(data)
}
use key::{access_key, account_key, refresh_key, token_key, with_key_buffer, write_key_parts};

/// The in-memory token cache.
#[derive(Debug, Default)]
pub struct TokenCache {
    data: RwLock<Contents>,
}

/// The cache and what the persisted copy held when this process last loaded or saved it:
/// the difference between the two is this process's own changes, which a merge keeps.
#[derive(Debug, Default)]
struct Contents {
    current: CacheData,
    baseline: CacheData,
}

impl std::ops::Deref for Contents {
    type Target = CacheData;
    fn deref(&self) -> &CacheData {
        &self.current
    }
}

impl std::ops::DerefMut for Contents {
    fn deref_mut(&mut self) -> &mut CacheData {
        &mut self.current
    }
}

/// A cache hit: what a result needs of the entry (copying the whole entry would cost four
/// needless allocations on every hit).
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub secret: AccessToken,
    pub target: Vec<String>,
    pub cached_at: i64,
    pub expires_on: i64,
    pub ext_expires_on: i64,
    pub id_token: Option<Arc<IdTokenClaims>>,
    /// Past Entra's `refresh_in`: serve it, and renew in the background.
    pub refresh_due: bool,
}

impl TokenCache {
    fn read(&self) -> RwLockReadGuard<'_, Contents> {
        self.data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Contents> {
        self.data
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every account.
    pub fn accounts(&self) -> Vec<Account> {
        self.read().accounts.values().cloned().collect()
    }

    /// The newest valid access token for the request, if any. A token that expires within
    /// `renewal_offset` seconds counts as expired, and so does one cached "in the future"
    /// (the clock was turned back). `realm` is the tenant the token must come from.
    pub(crate) fn access_token(
        &self,
        account: &Account,
        realm: &str,
        client_id: &str,
        scopes: &[String],
        now: i64,
        renewal_offset: i64,
    ) -> Option<CachedToken> {
        let data = self.read();
        let (entry, id_token) = with_key_buffer(|key| {
            write_key_parts(
                key,
                [&account.home_account_id, &account.environment, realm],
                client_id,
            );
            let id_token = data
                .id_tokens
                .get(key.as_str())
                .map(|t| Arc::clone(&t.claims));
            key::write_resource(key, scopes);
            let entry = data
                .access_tokens
                .get(key.as_str())?
                .iter()
                .filter(|t| {
                    t.cached_at <= now
                        && t.expires_on - renewal_offset > now
                        && covers(&t.target, scopes)
                })
                // Two tokens may serve (stored by two processes at once): the newest does.
                .max_by_key(|t| (t.cached_at, t.expires_on))?;
            Some((entry, id_token))
        })?;
        Some(CachedToken {
            secret: entry.secret.clone(),
            target: entry.target.clone(),
            cached_at: entry.cached_at,
            expires_on: entry.expires_on,
            ext_expires_on: entry.ext_expires_on,
            id_token,
            refresh_due: entry.refresh_on.is_some_and(|at| at <= now),
        })
    }

    /// The account's refresh token for this client.
    pub(crate) fn refresh_token(&self, account: &Account, client_id: &str) -> Option<RefreshToken> {
        self.read()
            .refresh_tokens
            .get(&refresh_key(account, client_id))
            .map(|e| e.secret.clone())
    }

    /// Forgets the account's refresh token, but only if it is still `refused`: another
    /// process may have stored a newer one since, which must survive (MSAL removes the
    /// refresh token on `bad_token`). Returns whether it was removed.
    pub(crate) fn remove_refresh_token_if(
        &self,
        account: &Account,
        client_id: &str,
        refused: &RefreshToken,
    ) -> bool {
        let mut data = self.write();
        let key = refresh_key(account, client_id);
        if data
            .refresh_tokens
            .get(&key)
            .is_some_and(|e| &e.secret == refused)
        {
            data.refresh_tokens.remove(&key);
            return true;
        }
        false
    }

    /// Stores one token response atomically: the account (its tenant profiles merged), the
    /// access token (replacing those it supersedes), the rotated refresh token and the ID
    /// token (under the access token's realm). Returns the account as stored.
    pub(crate) fn save(
        &self,
        account: &Account,
        client_id: &str,
        access_token: AccessTokenEntry,
        refresh_token: Option<RefreshToken>,
        id_token: Option<IdTokenEntry>,
    ) -> Account {
        let mut data = self.write();
        let key = token_key(account, &access_token.realm, client_id);
        let stored = data
            .accounts
            .entry(account_key(account))
            .or_insert_with(|| account.clone());
        // The newest sign-in's names win; tenant profiles accumulate.
        let mut profiles = std::mem::take(&mut stored.tenant_profiles);
        for profile in &account.tenant_profiles {
            profiles.retain(|p| p.tenant_id != profile.tenant_id);
            profiles.push(profile.clone());
        }
        profiles.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        *stored = Account {
            tenant_profiles: profiles,
            ..account.clone()
        };
        let stored = stored.clone();
        let tokens = data
            .access_tokens
            .entry(access_key(&access_token))
            .or_default();
        tokens.retain(|t| !key::supersedes(&access_token.target, &t.target));
        tokens.push(access_token);
        if let Some(secret) = refresh_token {
            data.refresh_tokens.insert(
                refresh_key(account, client_id),
                RefreshTokenEntry { secret },
            );
        }
        if let Some(entry) = id_token {
            data.id_tokens.insert(key, entry);
        }
        stored
    }

    /// Forgets an account and every token of it. Returns whether it was known.
    pub(crate) fn remove_account(&self, account: &Account) -> bool {
        let mut data = self.write();
        let prefix = format!("{}|", account_key(account));
        data.access_tokens.retain(|k, _| !k.starts_with(&prefix));
        data.refresh_tokens.retain(|k, _| !k.starts_with(&prefix));
        data.id_tokens.retain(|k, _| !k.starts_with(&prefix));
        data.accounts.remove(&account_key(account)).is_some()
    }

    /// The ID token claims cached for the account in `realm`, if any.
    pub(crate) fn id_token_claims(
        &self,
        account: &Account,
        realm: &str,
        client_id: &str,
    ) -> Option<Arc<IdTokenClaims>> {
        self.read()
            .id_tokens
            .get(&token_key(account, realm, client_id))
            .map(|t| Arc::clone(&t.claims))
    }

    /// The raw ID token cached for the account in `realm`, for `id_token_hint`.
    pub(crate) fn id_token(
        &self,
        account: &Account,
        realm: &str,
        client_id: &str,
    ) -> Option<crate::secret::IdToken> {
        self.read()
            .id_tokens
            .get(&token_key(account, realm, client_id))
            .map(|t| t.secret.clone())
    }

    /// Provider metadata fetched from `discovery_url` less than `max_age` seconds ago, in this
    /// build's metadata format.
    pub(crate) fn metadata(
        &self,
        discovery_url: &str,
        now: i64,
        max_age: i64,
    ) -> Option<CachedMetadata> {
        self.read()
            .authority_metadata
            .get(discovery_url)
            .filter(|m| {
                m.fetched_at <= now
                    && now - m.fetched_at < max_age
                    && m.format == crate::authority::METADATA_FORMAT
            })
            .cloned()
    }

    /// Remembers provider metadata.
    pub(crate) fn store_metadata(&self, discovery_url: &str, fetched_at: i64, metadata: Metadata) {
        self.write().authority_metadata.insert(
            discovery_url.to_owned(),
            CachedMetadata {
                fetched_at,
                metadata,
                format: crate::authority::METADATA_FORMAT,
            },
        );
    }

    /// Drops access tokens expired at `now`, for a cache that is never persisted (a persisted
    /// one drops them from what it writes: [`Self::snapshot`]).
    pub(crate) fn drop_expired(&self, now: i64) {
        let mut contents = self.write();
        merge::drop_expired(&mut contents.current, now);
        merge::drop_expired(&mut contents.baseline, now);
    }

    /// The whole cache as a versioned JSON blob, for the persistence layer. It contains
    /// secrets: store it encrypted.
    pub fn serialize(&self) -> Vec<u8> {
        encode(&self.read().current)
    }

    /// Replaces the cache with a blob from [`Self::serialize`]. On error nothing changes.
    pub fn deserialize(&self, blob: &[u8]) -> Result<(), CacheError> {
        let data = decode(blob)?;
        let mut contents = self.write();
        contents.baseline = data.clone();
        contents.current = data;
        Ok(())
    }

    /// Takes in a blob another process stored: its changes and this process's own changes
    /// since it last loaded or saved (a three-way merge; where both changed the same entry,
    /// this process's wins). An account removed on either side takes its tokens with it. On
    /// error nothing changes.
    pub fn merge_stored(&self, blob: &[u8]) -> Result<(), CacheError> {
        let theirs = decode(blob)?;
        let mut contents = self.write();
        // With no change here since the last load or save (always so at start-up), the merge
        // is theirs as it is, and much cheaper.
        contents.current = if contents.current == contents.baseline {
            theirs.clone()
        } else {
            merge::merge(&contents.baseline, &contents.current, &theirs)
        };
        contents.baseline = theirs;
        Ok(())
    }

    /// The blob to store now, without the access tokens expired at `now`, and a token for
    /// [`Self::mark_saved`] once it is stored.
    pub fn snapshot(&self, now: i64) -> (Vec<u8>, SavedSnapshot) {
        let mut written = self.read().current.clone();
        merge::drop_expired(&mut written, now);
        (encode(&written), SavedSnapshot { written, now })
    }

    /// Records that the snapshot is what the persisted copy now holds; what it left out as
    /// expired goes from memory too (as stored, not as a change of this process's).
    pub fn mark_saved(&self, snapshot: SavedSnapshot) {
        let mut contents = self.write();
        merge::drop_expired(&mut contents.current, snapshot.now);
        contents.baseline = snapshot.written;
    }
}

/// What [`TokenCache::snapshot`] serialised, for [`TokenCache::mark_saved`].
#[derive(Debug)]
pub struct SavedSnapshot {
    written: CacheData,
    now: i64,
}

#[cfg(test)]
mod tests;
