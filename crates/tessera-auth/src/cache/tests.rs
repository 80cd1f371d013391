//! The cache's rules: scope matching, replacement, keys, expiry, serialisation and merges.

use super::key::supersedes;
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
    assert!(cache
        .access_token(&a, "tid", "c", &want, 1000, 300)
        .is_some());
    assert!(cache
        .access_token(&a, "tid", "c", &want, 4699, 300)
        .is_some());
    assert!(
        cache
            .access_token(&a, "tid", "c", &want, 4700, 300)
            .is_none(),
        "within the renewal offset"
    );
    assert!(
        cache
            .access_token(&a, "tid", "c", &want, 999, 300)
            .is_none(),
        "cached in the future"
    );
    assert!(cache
        .access_token(&a, "tid", "other-client", &want, 1000, 300)
        .is_none());
    assert!(cache
        .access_token(&account("b"), "tid", "c", &want, 1000, 300)
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
        .access_token(&a, "tid", "c", &scopes(&["User.Read"]), 1000, 0)
        .unwrap();
    assert_eq!(
        hit.expires_on, 6000,
        "the newer token replaced the overlapping one"
    );
    assert!(cache
        .access_token(&a, "tid", "c", &scopes(&["api://x/y"]), 1000, 0)
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
            .access_token(&a, "tid", "c", &scopes(&[scope, "profile"]), 2000, 0)
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
    let (stored, snapshot) = ours.snapshot(0);
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
        ours.access_token(&a, "tid", "c", &want(&["User.Read"]), 2000, 0)
            .unwrap()
            .expires_on,
        9000,
        "their refresh"
    );
    assert!(
        ours.access_token(&a, "tid", "c", &want(&["api://x/y"]), 2000, 0)
            .is_some(),
        "our API token"
    );
    assert_eq!(ours.refresh_token(&a, "c").unwrap().secret(), "rt-a2");
    assert_eq!(ours.refresh_token(&b, "c").unwrap().secret(), "rt-b");

    // They sign a out while we store another token of a's: a is gone, tokens and all.
    let (ours_blob, snapshot) = ours.snapshot(0);
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
        .access_token(&a, "tid", "c", &want(&["api://z/w"]), 3000, 0)
        .is_none());
    assert!(ours.refresh_token(&b, "c").is_some());
}

// Issue 19, point 3: a forced refresh with OpenID-only scopes stored a second token beside the
// first, and the lookup served the first: the refreshed token was lost.
#[test]
fn openid_only_tokens_supersede_each_other_and_the_newest_serves() {
    let cache = TokenCache::default();
    let a = account("a");
    let oidc = ["openid", "profile", "email"];
    for (n, cached_at) in [1000, 1100, 1200].into_iter().enumerate() {
        let mut token = at(&oidc, cached_at, cached_at + 3600);
        token.secret = AccessToken::new(format!("token-{n}"));
        cache.save(&a, "c", token, None, None);
    }
    let hit = cache
        .access_token(&a, "tid", "c", &scopes(&["email"]), 1300, 0)
        .unwrap();
    assert_eq!(hit.secret.secret(), "token-2", "the newest token serves");
    assert_eq!(
        cache
            .read()
            .access_tokens
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        1,
        "one grant, one token: the older ones were superseded"
    );
    assert!(supersedes(
        &scopes(&["openid"]),
        &scopes(&["profile", "email"])
    ));
    assert!(supersedes(
        &scopes(&["User.Read"]),
        &scopes(&["user.read", "Mail.Read"])
    ));
    assert!(!supersedes(
        &scopes(&["User.Read"]),
        &scopes(&["Mail.Read", "openid"])
    ));
    assert!(!supersedes(&scopes(&["openid"]), &scopes(&["User.Read"])));
}

#[test]
fn of_two_tokens_for_the_same_scopes_the_newest_serves() {
    // Two processes stored a token for the same scopes; the merge keeps both until written.
    let cache = TokenCache::default();
    let a = account("a");
    cache.save(&a, "c", at(&["User.Read"], 1000, 5000), None, None);
    let blob = cache.serialize();
    let mut value: serde_json::Value = serde_json::from_slice(&blob).unwrap();
    let entries = value["data"]["access_tokens"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    let mut newer = entries[0].clone();
    newer["cached_at"] = 2000.into();
    newer["secret"] = "newer".into();
    entries.as_array_mut().unwrap().insert(0, newer);
    cache
        .deserialize(&serde_json::to_vec(&value).unwrap())
        .unwrap();
    let hit = cache
        .access_token(&a, "tid", "c", &scopes(&["User.Read"]), 2500, 0)
        .unwrap();
    assert_eq!(hit.secret.secret(), "newer");
}

// Issue 19, point 3: the encrypted cache grew with every forced refresh because expired and
// superseded tokens were never dropped.
#[test]
fn expired_tokens_leave_what_is_written_without_costing_another_process_its_fresh_token() {
    let (a, b) = (account("a"), account("b"));
    let ours = TokenCache::default();
    ours.save(&a, "c", at(&["api://x/y"], 1000, 2000), None, None);
    let (stored, snapshot) = ours.snapshot(1500);
    ours.mark_saved(snapshot);
    let theirs = TokenCache::default();
    theirs.deserialize(&stored).unwrap();
    // Later: they refresh a's expired API token; we sign b in.
    theirs.save(&a, "c", at(&["api://x/y"], 3000, 9000), None, None);
    let mut b_token = at(&["User.Read"], 3000, 9000);
    b_token.home_account_id = "b.tid".into();
    ours.save(&b, "c", b_token, None, None);
    ours.merge_stored(&theirs.serialize()).unwrap();
    let (blob, snapshot) = ours.snapshot(3100);
    ours.mark_saved(snapshot);
    let written = TokenCache::default();
    written.deserialize(&blob).unwrap();
    assert_eq!(
        written
            .access_token(&a, "tid", "c", &scopes(&["api://x/y"]), 3100, 0)
            .map(|t| t.expires_on),
        Some(9000),
        "their fresh token survives our write"
    );

    // Now a's token expires everywhere: nobody keeps it, and a later merge does not bring it
    // back as a change of ours.
    let (blob, snapshot) = ours.snapshot(9500);
    ours.mark_saved(snapshot);
    let value: serde_json::Value = serde_json::from_slice(&blob).unwrap();
    let tokens: usize = value["data"]["access_tokens"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(tokens, 0, "expired tokens are not written: {value}");
    assert!(ours.read().access_tokens.is_empty(), "nor kept in memory");
}

#[test]
fn a_refused_refresh_token_is_removed_only_if_it_is_still_the_stored_one() {
    let cache = TokenCache::default();
    let a = account("a");
    cache.save(
        &a,
        "c",
        at(&["User.Read"], 1000, 5000),
        Some(RefreshToken::new("rt1")),
        None,
    );
    assert!(!cache.remove_refresh_token_if(&a, "c", &RefreshToken::new("rt0")));
    assert_eq!(
        cache.refresh_token(&a, "c").unwrap().secret(),
        "rt1",
        "a newer one survives"
    );
    assert!(cache.remove_refresh_token_if(&a, "c", &RefreshToken::new("rt1")));
    assert!(cache.refresh_token(&a, "c").is_none());
}

// Graph scopes in other clouds (Microsoft Learn, "National cloud deployments") are the same
// permission as their bare names, which Entra returns.
#[test]
fn graph_scopes_of_every_cloud_are_one_resource() {
    for scope in [
        "https://graph.microsoft.us/User.Read",
        "https://microsoftgraph.chinacloudapi.cn/User.Read",
        "HTTPS://GRAPH.MICROSOFT.COM/User.Read",
    ] {
        assert_eq!(normalize_scope(scope), "user.read", "{scope}");
        assert_eq!(resource_slice(scope), Some(key::GRAPH_RESOURCE), "{scope}");
        assert!(
            covers(&scopes(&["User.Read"]), &scopes(&[scope])),
            "{scope}"
        );
    }
}
