//! The three-way merge that lets several processes share one persisted cache: per entry, this
//! process's change since it last loaded or saved wins, else the stored one; sign-out wins over
//! everything. And what is dropped when the merged cache is written: expired access tokens.

use std::collections::BTreeMap;

use super::entity::{AccessTokenEntry, CacheData};
use super::key::normalize_scope;

/// Three-way merge of the cache: per entry, ours where we changed it since `base`, else theirs.
pub(crate) fn merge(base: &CacheData, ours: &CacheData, theirs: &CacheData) -> CacheData {
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
    // Both sides may have stored a token for overlapping scopes of one resource: only the
    // newest of those is kept, as if one process had stored both.
    for tokens in merged.access_tokens.values_mut() {
        keep_newest_of_overlapping(tokens);
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

/// Drops the tokens that a newer token of overlapping scopes supersedes (MSAL's replacement
/// rule, [`super::key::supersedes`]), newest first.
pub(crate) fn keep_newest_of_overlapping(tokens: &mut Vec<AccessTokenEntry>) {
    tokens.sort_by_key(|t| std::cmp::Reverse((t.cached_at, t.expires_on)));
    let mut kept: Vec<AccessTokenEntry> = Vec::with_capacity(tokens.len());
    for token in tokens.drain(..) {
        if !kept
            .iter()
            .any(|newer| super::key::supersedes(&newer.target, &token.target))
        {
            kept.push(token);
        }
    }
    *tokens = kept;
}

/// Removes the access tokens that expired at `now` (and the keys left empty). Only ever applied
/// to what is being written, never recorded as this process's change: a merge must not take a
/// local "deletion" of an expired token for a reason to drop another process's fresh one.
pub(crate) fn drop_expired(data: &mut CacheData, now: i64) -> usize {
    let mut dropped = 0;
    data.access_tokens.retain(|_, tokens| {
        let before = tokens.len();
        tokens.retain(|t| t.expires_on > now);
        dropped += before - tokens.len();
        !tokens.is_empty()
    });
    dropped
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
