//! How entries are found: the keys (MSAL's unified cache: account, environment, realm, client,
//! and here the resource), and the scope rules a lookup and a replacement follow.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::entity::{AccessTokenEntry, Account, CacheData};
use crate::authority::canonical_environment;

/// Scopes every request carries and that never decide a cache match (MSAL's rule).
pub const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// Microsoft Graph's resource as the cache names it, whatever cloud's host a scope spells.
pub(crate) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// Graph's hosts in every cloud (Microsoft Learn, "National cloud deployments"): a scope of
/// any of them is the same Graph permission for the cache.
const GRAPH_HOSTS: [&str; 5] = [
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
    "graph.microsoft.de",
];

/// `home_account_id|environment`.
pub(crate) fn account_key(account: &Account) -> String {
    format!("{}|{}", account.home_account_id, account.environment)
}

pub(crate) fn token_key(account: &Account, realm: &str, client_id: &str) -> String {
    let mut key = String::new();
    write_key_parts(
        &mut key,
        [&account.home_account_id, &account.environment, realm],
        client_id,
    );
    key
}

/// `account_key|realm|client id` (lowercased), appended to `key`.
pub(crate) fn write_key_parts(key: &mut String, parts: [&str; 3], client_id: &str) {
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
pub(crate) fn write_resource(key: &mut String, scopes: &[String]) {
    key.push('|');
    if let Some(resource) = scopes.iter().find_map(|s| resource_slice(s)) {
        let start = key.len();
        key.push_str(resource);
        key[start..].make_ascii_lowercase();
    }
}

/// The key an access token is kept under: its token key and the resource of its scopes.
pub(crate) fn access_key(entry: &AccessTokenEntry) -> String {
    let mut key = String::new();
    write_key_parts(
        &mut key,
        [&entry.home_account_id, &entry.environment, &entry.realm],
        &entry.client_id,
    );
    write_resource(&mut key, &entry.target);
    key
}

pub(crate) fn refresh_key(account: &Account, client_id: &str) -> String {
    format!(
        "{}|{}",
        account_key(account),
        client_id.to_ascii_lowercase()
    )
}

/// Files every entry under the key this build gives it, whatever key it was stored under: a
/// cache written before tokens were kept per resource, one whose accounts carry another host
/// name of the same cloud (`login.windows.net`), or one written by hand.
pub(crate) fn rekey(data: &mut CacheData) {
    let environment = |env: &str| canonical_environment(env).into_owned();
    data.accounts = std::mem::take(&mut data.accounts)
        .into_values()
        .map(|mut account| {
            account.environment = environment(&account.environment);
            (account_key(&account), account)
        })
        .collect();
    let mut tokens: BTreeMap<String, Vec<AccessTokenEntry>> = BTreeMap::new();
    for mut entry in std::mem::take(&mut data.access_tokens)
        .into_values()
        .flatten()
    {
        entry.environment = environment(&entry.environment);
        tokens.entry(access_key(&entry)).or_default().push(entry);
    }
    data.access_tokens = tokens;
    // `home|environment|client` and `home|environment|realm|client`: the environment is the
    // second part of both.
    let rekey_environment = |key: String| -> String {
        let mut parts: Vec<&str> = key.split('|').collect();
        if parts.len() < 3 {
            return key;
        }
        let canonical = environment(parts[1]);
        parts[1] = &canonical;
        parts.join("|")
    };
    data.refresh_tokens = std::mem::take(&mut data.refresh_tokens)
        .into_iter()
        .map(|(k, v)| (rekey_environment(k), v))
        .collect();
    data.id_tokens = std::mem::take(&mut data.id_tokens)
        .into_iter()
        .map(|(k, v)| (rekey_environment(k), v))
        .collect();
}

thread_local! {
    /// A buffer for the keys of cache lookups: the silent path looks up on every request,
    /// and this spares it the allocations.
    static KEY_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `lookup` with an empty string to build a key in, without allocating.
pub(crate) fn with_key_buffer<R>(lookup: impl FnOnce(&mut String) -> R) -> R {
    KEY_BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut key) => {
            key.clear();
            lookup(&mut key)
        }
        // Only if `lookup` itself needed a buffer: correct, just not allocation-free.
        Err(_) => lookup(&mut String::new()),
    })
}

/// One scope as the cache compares it: case-insensitive, and Graph's resource prefix dropped
/// because Entra returns Graph scopes bare (`User.Read`), in every cloud.
pub(crate) fn normalize_scope(scope: &str) -> String {
    without_graph_prefix(scope).to_ascii_lowercase()
}

/// The resource a scope belongs to: the URI before the last `/` (`api://x/read`), or Microsoft
/// Graph for a bare scope (`User.Read`) or any cloud's Graph URI; `None` for the OpenID Connect
/// scopes.
pub(crate) fn resource_of(scope: &str) -> Option<String> {
    resource_slice(scope).map(|r| r.to_ascii_lowercase())
}

/// Whether a token granted `target` serves a request for `requested`. On the silent path of
/// every request, so it compares in place rather than building normalised copies.
pub(crate) fn covers(target: &[String], requested: &[String]) -> bool {
    requested.iter().all(|wanted| {
        target.iter().any(|granted| same_scope(granted, wanted)) || is_oidc_scope(wanted)
    })
}

/// MSAL's replacement rule, extended to OpenID-only scope sets: a new token replaces a cached
/// one of the same resource when their resource scopes intersect, or when neither has any
/// (two `openid profile email` tokens are the same grant, and only the newest is worth
/// keeping).
pub(crate) fn supersedes(new: &[String], old: &[String]) -> bool {
    let resource_scopes = |target: &[String]| -> Vec<String> {
        target
            .iter()
            .filter(|s| resource_slice(s).is_some())
            .map(|s| normalize_scope(s))
            .collect()
    };
    let (new, old) = (resource_scopes(new), resource_scopes(old));
    (new.is_empty() && old.is_empty()) || new.iter().any(|s| old.contains(s))
}

/// [`normalize_scope`] equality, without allocating.
fn same_scope(a: &str, b: &str) -> bool {
    // Most comparisons are of identical spellings: a byte comparison settles those at once.
    a == b || without_graph_prefix(a).eq_ignore_ascii_case(without_graph_prefix(b))
}

/// The scope without `https://{graph host}/`, for any cloud's Graph host.
fn without_graph_prefix(scope: &str) -> &str {
    let Some(rest) = strip_prefix_ignore_case(scope, "https://") else {
        return scope;
    };
    for host in GRAPH_HOSTS {
        if let Some(name) = strip_prefix_ignore_case(rest, host).and_then(|r| r.strip_prefix('/')) {
            return name;
        }
    }
    scope
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    match text.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => Some(&text[prefix.len()..]),
        _ => None,
    }
}

pub(crate) fn is_oidc_scope(scope: &str) -> bool {
    OIDC_SCOPES
        .iter()
        .any(|oidc| oidc.eq_ignore_ascii_case(scope))
}

/// [`resource_of`] without allocating: the resource as spelled in `scope`, compared
/// case-insensitively by the caller. `email` is an OpenID Connect scope too (Core §5.4), but
/// unlike the three of [`OIDC_SCOPES`] it is not added to every request.
pub(crate) fn resource_slice(scope: &str) -> Option<&str> {
    if is_oidc_scope(scope) || scope.eq_ignore_ascii_case("email") {
        return None;
    }
    if without_graph_prefix(scope).len() != scope.len() {
        return Some(GRAPH_RESOURCE);
    }
    match scope.rsplit_once('/') {
        Some((resource, _)) if !resource.is_empty() => Some(resource.trim_end_matches('/')),
        _ => Some(GRAPH_RESOURCE),
    }
}
