//! The token cache, keyed as MSAL's unified cache: accounts by home account id and
//! environment; access tokens by account, environment, realm, client id and target (scopes);
//! refresh tokens by account, environment and client id.
//!
//! In memory behind one `RwLock` (short critical sections, never across an `.await`); the whole
//! cache serialises to a versioned JSON blob for the persistence layer, which decides where and
//! how it is stored (encrypted, in the app).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::authority::Metadata;
use crate::id_token::IdTokenClaims;
use crate::secret::{AccessToken, IdToken, RefreshToken};

/// The serialised format's version; [`TokenCache::deserialize`] refuses any other.
pub const CACHE_FORMAT_VERSION: u32 = 1;

/// Scopes every request carries and that never decide a cache match (MSAL's rule).
pub const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// A signed-in user, as the cache knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `uid.utid` from Entra's `client_info`; `sub.issuer` for other providers.
    pub home_account_id: String,
    /// The authority host (`host[:port]`).
    pub environment: String,
    /// The tenant id (Entra), empty for other providers.
    pub realm: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// `oid` (Entra) or `sub`.
    pub local_account_id: String,
    /// The tenants (Entra) this account has signed in to, home tenant included; empty for
    /// other providers.
    #[serde(default)]
    pub tenant_profiles: Vec<TenantProfile>,
}

/// One tenant an account has used (MSAL's tenant profile): a guest in another tenant has a
/// profile there with another object id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantProfile {
    /// The tenant id (`tid`).
    pub tenant_id: String,
    /// The user's object id in that tenant (`oid`).
    pub local_account_id: String,
    /// Whether it is the account's home tenant (the `utid` of `client_info`).
    pub is_home_tenant: bool,
}

/// A cached access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccessTokenEntry {
    pub home_account_id: String,
    pub environment: String,
    pub realm: String,
    pub client_id: String,
    /// Granted scopes, as the provider returned them.
    pub target: Vec<String>,
    pub secret: AccessToken,
    pub cached_at: i64,
    pub expires_on: i64,
    pub ext_expires_on: i64,
    /// Entra's `refresh_in`: renew in the background after this time.
    pub refresh_on: Option<i64>,
}

/// A cached refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RefreshTokenEntry {
    pub secret: RefreshToken,
}

/// A cached ID token with its validated claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdTokenEntry {
    pub secret: IdToken,
    pub claims: Arc<IdTokenClaims>,
}

/// The cache contents.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CacheData {
    /// By `account_key`.
    pub accounts: BTreeMap<String, Account>,
    /// By `account_key` + realm + client id + resource; several scope sets per key.
    pub access_tokens: BTreeMap<String, Vec<AccessTokenEntry>>,
    /// By `account_key` + client id.
    pub refresh_tokens: BTreeMap<String, RefreshTokenEntry>,
    /// By `account_key` + realm + client id.
    pub id_tokens: BTreeMap<String, IdTokenEntry>,
    /// Provider metadata by discovery URL, with when it was fetched.
    #[serde(default)]
    pub authority_metadata: BTreeMap<String, CachedMetadata>,
}

/// Provider metadata as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CachedMetadata {
    pub fetched_at: i64,
    pub metadata: Metadata,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    #[serde(default)]
    data: Option<CacheData>,
}

/// Why a serialised cache was not loaded. The caller keeps running signed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// Written by a newer (or unknown) version of Tessera.
    #[error("token cache format version {0} is not supported (this build reads version {CACHE_FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// Not a cache blob, or damaged.
    #[error("the token cache is damaged: {0}")]
    Corrupt(String),
}

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

/// `home_account_id|environment`.
pub(crate) fn account_key(account: &Account) -> String {
    format!("{}|{}", account.home_account_id, account.environment)
}

fn token_key(account: &Account, client_id: &str) -> String {
    let mut key = String::new();
    write_token_key(&mut key, account, client_id);
    key
}

/// `account_key|realm|client id` (lowercased), appended to `key`.
fn write_token_key(key: &mut String, account: &Account, client_id: &str) {
    write_key_parts(
        key,
        [
            &account.home_account_id,
            &account.environment,
            &account.realm,
        ],
        client_id,
    );
}

fn write_key_parts(key: &mut String, parts: [&str; 3], client_id: &str) {
    for part in parts {
        key.push_str(part);
        key.push('|');
    }
    let start = key.len();
    key.push_str(client_id);
    key[start..].make_ascii_lowercase();
}

/// Appends `|resource` (lowercased) to a token key: access tokens are kept per resource, so a
/// lookup goes straight to the tokens of the API asked for, however many APIs an account uses.
fn write_resource(key: &mut String, scopes: &[String]) {
    key.push('|');
    if let Some(resource) = scopes.iter().find_map(|s| resource_slice(s)) {
        let start = key.len();
        key.push_str(resource);
        key[start..].make_ascii_lowercase();
    }
}

/// The key an access token is kept under: its token key and the resource of its scopes.
fn access_key(entry: &AccessTokenEntry) -> String {
    let mut key = String::new();
    write_key_parts(
        &mut key,
        [&entry.home_account_id, &entry.environment, &entry.realm],
        &entry.client_id,
    );
    write_resource(&mut key, &entry.target);
    key
}

/// Files every access token under [`access_key`], whatever key it was stored under (a cache
/// written before tokens were kept per resource, or by hand).
fn rekey_access_tokens(data: &mut CacheData) {
    let mut rekeyed: BTreeMap<String, Vec<AccessTokenEntry>> = BTreeMap::new();
    for entry in std::mem::take(&mut data.access_tokens)
        .into_values()
        .flatten()
    {
        rekeyed.entry(access_key(&entry)).or_default().push(entry);
    }
    data.access_tokens = rekeyed;
}

thread_local! {
    /// A buffer for the keys of cache lookups: the silent path looks up on every request,
    /// and this spares it the allocations.
    static KEY_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `lookup` with an empty string to build a key in, without allocating.
fn with_key_buffer<R>(lookup: impl FnOnce(&mut String) -> R) -> R {
    KEY_BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut key) => {
            key.clear();
            lookup(&mut key)
        }
        // Only if `lookup` itself needed a buffer: correct, just not allocation-free.
        Err(_) => lookup(&mut String::new()),
    })
}

fn refresh_key(account: &Account, client_id: &str) -> String {
    format!(
        "{}|{}",
        account_key(account),
        client_id.to_ascii_lowercase()
    )
}

/// One scope as the cache compares it: case-insensitive, and Graph's resource prefix dropped
/// because Entra returns Graph scopes bare (`User.Read`).
pub(crate) fn normalize_scope(scope: &str) -> String {
    let lower = scope.to_ascii_lowercase();
    lower
        .strip_prefix("https://graph.microsoft.com/")
        .map(str::to_owned)
        .unwrap_or(lower)
}

/// The resource a scope belongs to: the URI before the last `/` (`api://x/read`), or Microsoft
/// Graph for a bare scope (`User.Read`); `None` for the OpenID Connect scopes.
pub(crate) fn resource_of(scope: &str) -> Option<String> {
    let lower = scope.to_ascii_lowercase();
    if OIDC_SCOPES.contains(&lower.as_str()) || lower == "email" {
        return None;
    }
    match lower.rsplit_once('/') {
        Some((resource, _)) if !resource.is_empty() => {
            Some(resource.trim_end_matches('/').to_owned())
        }
        _ => Some("https://graph.microsoft.com".to_owned()),
    }
}

/// Whether a token granted `target` serves a request for `requested`. On the silent path of
/// every request, so it compares in place rather than building normalised copies.
pub(crate) fn covers(target: &[String], requested: &[String]) -> bool {
    requested.iter().all(|wanted| {
        target.iter().any(|granted| same_scope(granted, wanted)) || is_oidc_scope(wanted)
    })
}

/// [`normalize_scope`] equality, without allocating.
fn same_scope(a: &str, b: &str) -> bool {
    // Most comparisons are of identical spellings: a byte comparison settles those at once.
    a == b || without_graph_prefix(a).eq_ignore_ascii_case(without_graph_prefix(b))
}

fn without_graph_prefix(scope: &str) -> &str {
    const GRAPH: &str = "https://graph.microsoft.com/";
    match scope.get(..GRAPH.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(GRAPH) => &scope[GRAPH.len()..],
        _ => scope,
    }
}

fn is_oidc_scope(scope: &str) -> bool {
    OIDC_SCOPES
        .iter()
        .any(|oidc| oidc.eq_ignore_ascii_case(scope))
}

/// [`resource_of`] without allocating: the resource as spelled in `scope`, compared
/// case-insensitively by the caller.
pub(crate) fn resource_slice(scope: &str) -> Option<&str> {
    if is_oidc_scope(scope) || scope.eq_ignore_ascii_case("email") {
        return None;
    }
    match scope.rsplit_once('/') {
        Some((resource, _)) if !resource.is_empty() => Some(resource.trim_end_matches('/')),
        _ => Some("https://graph.microsoft.com"),
    }
}

/// A cache hit: what a result needs of the entry (copying the whole entry would cost four
/// needless allocations on every hit).
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub secret: AccessToken,
    pub target: Vec<String>,
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

    /// A valid access token for the request, if any. A token that expires within
    /// `renewal_offset` seconds counts as expired, and so does one cached "in the future"
    /// (the clock was turned back).
    pub(crate) fn access_token(
        &self,
        account: &Account,
        client_id: &str,
        scopes: &[String],
        now: i64,
        renewal_offset: i64,
    ) -> Option<CachedToken> {
        let data = self.read();
        let (entry, id_token) = with_key_buffer(|key| {
            write_token_key(key, account, client_id);
            let id_token = data
                .id_tokens
                .get(key.as_str())
                .map(|t| Arc::clone(&t.claims));
            write_resource(key, scopes);
            let entry = data.access_tokens.get(key.as_str())?.iter().find(|t| {
                t.cached_at <= now
                    && t.expires_on - renewal_offset > now
                    && covers(&t.target, scopes)
            })?;
            Some((entry, id_token))
        })?;
        Some(CachedToken {
            secret: entry.secret.clone(),
            target: entry.target.clone(),
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

    /// Stores one token response atomically: the account (its tenant profiles merged), the
    /// access token (replacing any whose scopes overlap), the rotated refresh token and the ID
    /// token. Returns the account as stored.
    pub(crate) fn save(
        &self,
        account: &Account,
        client_id: &str,
        access_token: AccessTokenEntry,
        refresh_token: Option<RefreshToken>,
        id_token: Option<IdTokenEntry>,
    ) -> Account {
        let mut data = self.write();
        let key = token_key(account, client_id);
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
        let new_scopes: Vec<String> = access_token
            .target
            .iter()
            .map(|s| normalize_scope(s))
            .collect();
        tokens.retain(|t| {
            !t.target
                .iter()
                .map(|s| normalize_scope(s))
                .any(|s| !OIDC_SCOPES.contains(&s.as_str()) && new_scopes.contains(&s))
        });
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

    /// Provider metadata fetched from `discovery_url` less than `max_age` seconds ago.
    pub(crate) fn metadata(
        &self,
        discovery_url: &str,
        now: i64,
        max_age: i64,
    ) -> Option<CachedMetadata> {
        self.read()
            .authority_metadata
            .get(discovery_url)
            .filter(|m| m.fetched_at <= now && now - m.fetched_at < max_age)
            .cloned()
    }

    /// Remembers provider metadata.
    pub(crate) fn store_metadata(&self, discovery_url: &str, fetched_at: i64, metadata: Metadata) {
        self.write().authority_metadata.insert(
            discovery_url.to_owned(),
            CachedMetadata {
                fetched_at,
                metadata,
            },
        );
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
            merge(&contents.baseline, &contents.current, &theirs)
        };
        contents.baseline = theirs;
        Ok(())
    }

    /// The blob to store now, and a token for [`Self::mark_saved`] once it is stored.
    pub fn snapshot(&self) -> (Vec<u8>, SavedSnapshot) {
        let current = self.read().current.clone();
        (encode(&current), SavedSnapshot(current))
    }

    /// Records that the snapshot is what the persisted copy now holds.
    pub fn mark_saved(&self, snapshot: SavedSnapshot) {
        self.write().baseline = snapshot.0;
    }
}

/// What [`TokenCache::snapshot`] serialised, for [`TokenCache::mark_saved`].
#[derive(Debug)]
pub struct SavedSnapshot(CacheData);

fn encode(data: &CacheData) -> Vec<u8> {
    let envelope = Envelope {
        version: CACHE_FORMAT_VERSION,
        data: Some(data.clone()),
    };
    serde_json::to_vec(&envelope).unwrap_or_default()
}

fn decode(blob: &[u8]) -> Result<CacheData, CacheError> {
    let envelope: Envelope = serde_json::from_slice(blob)
        .map_err(|e| CacheError::Corrupt(format!("line {}, column {}", e.line(), e.column())))?;
    if envelope.version != CACHE_FORMAT_VERSION {
        return Err(CacheError::UnsupportedVersion(envelope.version));
    }
    let mut data = envelope
        .data
        .ok_or_else(|| CacheError::Corrupt("no data".into()))?;
    rekey_access_tokens(&mut data);
    Ok(data)
}

/// Three-way merge of the cache: per entry, ours where we changed it since `base`, else theirs.
fn merge(base: &CacheData, ours: &CacheData, theirs: &CacheData) -> CacheData {
    let mut merged = CacheData {
        accounts: merge_map(&base.accounts, &ours.accounts, &theirs.accounts),
        access_tokens: BTreeMap::new(),
        refresh_tokens: merge_map(
            &base.refresh_tokens,
            &ours.refresh_tokens,
            &theirs.refresh_tokens,
        ),
        id_tokens: merge_map(&base.id_tokens, &ours.id_tokens, &theirs.id_tokens),
        authority_metadata: merge_map(
            &base.authority_metadata,
            &ours.authority_metadata,
            &theirs.authority_metadata,
        ),
    };
    // Access tokens merge one by one (key and scopes), so two processes that fetched tokens
    // for different APIs keep both.
    for ((key, _), entry) in merge_map(
        &by_target(&base.access_tokens),
        &by_target(&ours.access_tokens),
        &by_target(&theirs.access_tokens),
    ) {
        merged.access_tokens.entry(key).or_default().push(entry);
    }
    // Sign-out wins: no token outlives its account.
    let signed_in = |key: &str| {
        merged.accounts.keys().any(|account| {
            key.strip_prefix(account.as_str())
                .is_some_and(|rest| rest.starts_with('|'))
        })
    };
    let orphans: Vec<String> = merged
        .access_tokens
        .keys()
        .chain(merged.refresh_tokens.keys())
        .chain(merged.id_tokens.keys())
        .filter(|key| !signed_in(key))
        .cloned()
        .collect();
    for key in orphans {
        merged.access_tokens.remove(&key);
        merged.refresh_tokens.remove(&key);
        merged.id_tokens.remove(&key);
    }
    merged
}

fn merge_map<K: Ord + Clone, V: PartialEq + Clone>(
    base: &BTreeMap<K, V>,
    ours: &BTreeMap<K, V>,
    theirs: &BTreeMap<K, V>,
) -> BTreeMap<K, V> {
    let keys: std::collections::BTreeSet<&K> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    keys.into_iter()
        .filter_map(|key| {
            let winner = if ours.get(key) == base.get(key) {
                theirs.get(key)
            } else {
                ours.get(key)
            };
            winner.map(|value| (key.clone(), value.clone()))
        })
        .collect()
}

fn by_target(
    tokens: &BTreeMap<String, Vec<AccessTokenEntry>>,
) -> BTreeMap<(String, Vec<String>), AccessTokenEntry> {
    tokens
        .iter()
        .flat_map(|(key, entries)| {
            entries.iter().map(move |entry| {
                let mut target: Vec<String> =
                    entry.target.iter().map(|s| normalize_scope(s)).collect();
                target.sort();
                ((key.clone(), target), entry.clone())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> Account {
        Account {
            home_account_id: format!("{id}.tid"),
            environment: "login.example".into(),
            realm: "tid".into(),
            username: format!("{id}@example"),
            name: None,
            local_account_id: id.into(),
            tenant_profiles: vec![],
        }
    }

    fn at(target: &[&str], cached_at: i64, expires_on: i64) -> AccessTokenEntry {
        AccessTokenEntry {
            home_account_id: "a.tid".into(),
            environment: "login.example".into(),
            realm: "tid".into(),
            client_id: "c".into(),
            target: target.iter().map(|s| s.to_string()).collect(),
            secret: AccessToken::new(format!("token-{}", target.join("+"))),
            cached_at,
            expires_on,
            ext_expires_on: expires_on,
            refresh_on: None,
        }
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scope_matching_is_a_case_insensitive_superset_ignoring_oidc_scopes() {
        let granted = scopes(&["User.Read", "Mail.Read", "openid", "profile"]);
        assert!(covers(&granted, &scopes(&["user.read"])));
        assert!(covers(
            &granted,
            &scopes(&[
                "https://graph.microsoft.com/User.Read",
                "offline_access",
                "openid"
            ])
        ));
        assert!(covers(&granted, &scopes(&["User.Read", "Mail.Read"])));
        assert!(!covers(&granted, &scopes(&["Calendars.Read"])));
        assert!(!covers(&granted, &scopes(&["api://other/User.Read"])));
    }

    #[test]
    fn scopes_name_their_resource() {
        assert_eq!(
            resource_of("User.Read").as_deref(),
            Some("https://graph.microsoft.com")
        );
        assert_eq!(
            resource_of("https://graph.microsoft.com/Mail.Read").as_deref(),
            Some("https://graph.microsoft.com")
        );
        assert_eq!(
            resource_of("api://tessera-demo/access_as_user").as_deref(),
            Some("api://tessera-demo")
        );
        assert_eq!(resource_of("offline_access"), None);
        assert_eq!(resource_of("OpenID"), None);
    }

    #[test]
    fn the_renewal_offset_and_a_clock_turned_back_count_as_expired() {
        let cache = TokenCache::default();
        let a = account("a");
        cache.save(&a, "c", at(&["User.Read"], 1000, 5000), None, None);
        let want = scopes(&["User.Read"]);
        assert!(cache.access_token(&a, "c", &want, 1000, 300).is_some());
        assert!(cache.access_token(&a, "c", &want, 4699, 300).is_some());
        assert!(
            cache.access_token(&a, "c", &want, 4700, 300).is_none(),
            "within the renewal offset"
        );
        assert!(
            cache.access_token(&a, "c", &want, 999, 300).is_none(),
            "cached in the future"
        );
        assert!(cache
            .access_token(&a, "other-client", &want, 1000, 300)
            .is_none());
        assert!(cache
            .access_token(&account("b"), "c", &want, 1000, 300)
            .is_none());
    }

    #[test]
    fn overlapping_tokens_are_replaced_and_others_kept() {
        let cache = TokenCache::default();
        let a = account("a");
        cache.save(
            &a,
            "c",
            at(&["User.Read", "openid"], 1000, 5000),
            None,
            None,
        );
        cache.save(&a, "c", at(&["api://x/y"], 1000, 5000), None, None);
        cache.save(
            &a,
            "c",
            at(&["User.Read", "Mail.Read"], 1000, 6000),
            Some(RefreshToken::new("rt2")),
            None,
        );
        let hit = cache
            .access_token(&a, "c", &scopes(&["User.Read"]), 1000, 0)
            .unwrap();
        assert_eq!(
            hit.expires_on, 6000,
            "the newer token replaced the overlapping one"
        );
        assert!(cache
            .access_token(&a, "c", &scopes(&["api://x/y"]), 1000, 0)
            .is_some());
        assert_eq!(cache.refresh_token(&a, "c").unwrap().secret(), "rt2");
        assert!(cache.remove_account(&a));
        assert!(cache.accounts().is_empty() && cache.refresh_token(&a, "c").is_none());
        assert!(!cache.remove_account(&a));
    }

    #[test]
    fn tokens_are_found_by_resource_whatever_key_they_were_stored_under() {
        let cache = TokenCache::default();
        let a = account("a");
        for api in [
            "api://one/read",
            "https://graph.microsoft.com/User.Read",
            "api://two/read",
        ] {
            cache.save(&a, "C", at(&[api, "openid"], 1000, 5000), None, None);
        }
        let found = |cache: &TokenCache, scope: &str| {
            cache
                .access_token(&a, "c", &scopes(&[scope, "profile"]), 2000, 0)
                .map(|hit| hit.secret.secret().to_owned())
        };
        assert_eq!(
            found(&cache, "API://ONE/read").as_deref(),
            Some("token-api://one/read+openid")
        );
        assert_eq!(
            found(&cache, "User.Read").as_deref(),
            Some("token-https://graph.microsoft.com/User.Read+openid")
        );
        assert_eq!(found(&cache, "api://three/read"), None);
        // One key per resource: the lookup does not scan the account's other APIs.
        assert_eq!(cache.read().access_tokens.len(), 3);

        // A cache written with every token of the account under one key (the format before
        // tokens were kept per resource) reads the same.
        let mut blob: serde_json::Value = serde_json::from_slice(&cache.serialize()).unwrap();
        let entries: Vec<serde_json::Value> = blob["data"]["access_tokens"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|v| v.as_array().unwrap().clone())
            .collect();
        blob["data"]["access_tokens"] = serde_json::json!({ "a.tid|login.example|tid|c": entries });
        let old = TokenCache::default();
        old.deserialize(&serde_json::to_vec(&blob).unwrap())
            .unwrap();
        assert_eq!(
            found(&old, "api://two/read").as_deref(),
            Some("token-api://two/read+openid")
        );
        assert_eq!(old.read().access_tokens.len(), 3);
    }

    #[test]
    fn serialisation_round_trips_and_bad_blobs_change_nothing() {
        let cache = TokenCache::default();
        let a = account("a");
        cache.save(
            &a,
            "c",
            at(&["User.Read"], 1000, 5000),
            Some(RefreshToken::new("rt")),
            None,
        );
        let blob = cache.serialize();
        let copy = TokenCache::default();
        copy.deserialize(&blob).unwrap();
        assert_eq!(copy.accounts(), vec![a.clone()]);
        assert_eq!(copy.refresh_token(&a, "c").unwrap().secret(), "rt");

        assert_eq!(
            copy.deserialize(br#"{"version":99}"#),
            Err(CacheError::UnsupportedVersion(99))
        );
        assert!(matches!(
            copy.deserialize(b"\x00garbage"),
            Err(CacheError::Corrupt(_))
        ));
        assert!(matches!(
            copy.deserialize(&blob[..blob.len() / 2]),
            Err(CacheError::Corrupt(_))
        ));
        assert_eq!(
            copy.accounts(),
            vec![a],
            "a failed load keeps what was there"
        );
    }

    #[test]
    fn a_merge_keeps_both_sides_changes_and_sign_out_wins() {
        let (a, b) = (account("a"), account("b"));
        let ours = TokenCache::default();
        ours.save(
            &a,
            "c",
            at(&["User.Read"], 1000, 5000),
            Some(RefreshToken::new("rt-a")),
            None,
        );
        let (stored, snapshot) = ours.snapshot();
        ours.mark_saved(snapshot);
        let theirs = TokenCache::default();
        theirs.deserialize(&stored).unwrap();

        // We add a token for another API and sign b in; they refresh a's Graph token.
        ours.save(&a, "c", at(&["api://x/y"], 1000, 5000), None, None);
        let mut b_token = at(&["User.Read"], 1000, 5000);
        b_token.home_account_id = "b.tid".into();
        ours.save(&b, "c", b_token, Some(RefreshToken::new("rt-b")), None);
        theirs.save(
            &a,
            "c",
            at(&["User.Read"], 2000, 9000),
            Some(RefreshToken::new("rt-a2")),
            None,
        );
        ours.merge_stored(&theirs.serialize()).unwrap();
        let want = |s: &[&str]| scopes(s);
        assert_eq!(ours.accounts().len(), 2);
        assert_eq!(
            ours.access_token(&a, "c", &want(&["User.Read"]), 2000, 0)
                .unwrap()
                .expires_on,
            9000,
            "their refresh"
        );
        assert!(
            ours.access_token(&a, "c", &want(&["api://x/y"]), 2000, 0)
                .is_some(),
            "our API token"
        );
        assert_eq!(ours.refresh_token(&a, "c").unwrap().secret(), "rt-a2");
        assert_eq!(ours.refresh_token(&b, "c").unwrap().secret(), "rt-b");

        // They sign a out while we store another token of a's: a is gone, tokens and all.
        let (ours_blob, snapshot) = ours.snapshot();
        ours.mark_saved(snapshot);
        theirs.deserialize(&ours_blob).unwrap();
        assert!(theirs.remove_account(&a));
        ours.save(
            &a,
            "c",
            at(&["api://z/w"], 3000, 9000),
            Some(RefreshToken::new("rt-a3")),
            None,
        );
        ours.merge_stored(&theirs.serialize()).unwrap();
        assert_eq!(ours.accounts(), vec![b.clone()]);
        assert!(ours.refresh_token(&a, "c").is_none());
        assert!(ours
            .access_token(&a, "c", &want(&["api://z/w"]), 3000, 0)
            .is_none());
        assert!(ours.refresh_token(&b, "c").is_some());
    }
}
