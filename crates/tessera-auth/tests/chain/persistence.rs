//! Several processes sharing one persisted cache, damaged caches, persisted metadata.

use super::*;

/// One persisted cache shared by several "processes", each with its own view of what it saw.
#[derive(Debug, Default)]
pub(super) struct SharedStore {
    /// A version number (the file's modification stamp) and the blob.
    pub(super) blob: std::sync::Mutex<(u64, Option<Vec<u8>>)>,
    /// Unreadable blobs set aside.
    aside: std::sync::Mutex<Vec<Vec<u8>>>,
}

#[derive(Debug)]
struct View {
    store: Arc<SharedStore>,
    seen: std::sync::Mutex<u64>,
}

impl tessera_auth::CachePersistence for View {
    fn load_if_changed(
        &self,
    ) -> Result<Option<tessera_auth::CacheBlob>, tessera_auth::PersistenceError> {
        let stored = self.store.blob.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        if stored.0 == *seen {
            return Ok(None);
        }
        *seen = stored.0;
        Ok(stored.1.clone().map(tessera_auth::CacheBlob::new))
    }

    fn save(
        &self,
        merge: &mut tessera_auth::SaveMerge<'_>,
    ) -> Result<(), tessera_auth::PersistenceError> {
        // The store's lock is held throughout, as a file lock would be.
        let mut stored = self.store.blob.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        let changed = (stored.0 != *seen)
            .then(|| stored.1.clone())
            .flatten()
            .map(tessera_auth::CacheBlob::new);
        let blob = match merge(changed) {
            Err(tessera_auth::PersistenceError::Cache(_)) => {
                if let Some(old) = stored.1.take() {
                    self.store.aside.lock().unwrap().push(old);
                }
                merge(None)?
            }
            other => other?,
        };
        stored.0 += 1;
        stored.1 = Some(blob.to_vec());
        *seen = stored.0;
        Ok(())
    }

    fn set_aside(&self) -> Result<Option<String>, tessera_auth::PersistenceError> {
        let mut stored = self.store.blob.lock().unwrap();
        let Some(old) = stored.1.take() else {
            return Ok(None);
        };
        let mut aside = self.store.aside.lock().unwrap();
        aside.push(old);
        stored.0 += 1;
        Ok(Some(format!("aside #{}", aside.len())))
    }
}

/// A new view of `store`, as a process starting now has.
pub(super) fn view(store: &Arc<SharedStore>) -> impl tessera_auth::CachePersistence {
    View {
        store: store.clone(),
        seen: std::sync::Mutex::new(0),
    }
}

impl World {
    pub(super) fn second_process(&self, store: &Arc<SharedStore>) -> PublicClientApplication {
        let mut config = Config::new(DEFAULT_CLIENT_ID, &self.authority);
        config.default_scopes = vec!["User.Read".into()];
        config.http = self.net.clone();
        PublicClientApplication::builder(config)
            .clock(self.clock.clone())
            .persistence(Arc::new(view(store)))
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn processes_sharing_a_persisted_cache_see_each_others_tokens() {
    let w = world(Flavor::Entra, &[]).await;
    let store = Arc::new(SharedStore::default());
    let (a, b) = (w.second_process(&store), w.second_process(&store));
    let ada = Browser::user("ada@tessera.test");
    let first = a
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    let account = first.account.clone();

    assert_eq!(b.accounts(), vec![account.clone()], "B sees A's sign-in");
    let from_b = b
        .acquire_token_silent(SilentRequest::new(account.clone(), vec![]), None)
        .await
        .unwrap();
    assert_eq!(
        (from_b.source, &from_b.access_token),
        (TokenSource::Cache, &first.access_token)
    );

    w.advance(3600).await;
    let refreshed = a
        .acquire_token_silent(SilentRequest::new(account.clone(), vec![]), None)
        .await
        .unwrap();
    assert_eq!(refreshed.source, TokenSource::RefreshToken);
    let from_b = b
        .acquire_token_silent(SilentRequest::new(account.clone(), vec![]), None)
        .await
        .unwrap();
    assert_eq!(
        from_b.source,
        TokenSource::Cache,
        "B reloads A's fresh token instead of refreshing"
    );
    assert_eq!(w.stat("token:refresh_token").await, 1);

    // B redeems the refresh token A rotated: with a stale one the provider would refuse it.
    w.advance(3600).await;
    let by_b = b
        .acquire_token_silent(SilentRequest::new(account.clone(), vec![]), None)
        .await
        .unwrap();
    assert_eq!(by_b.source, TokenSource::RefreshToken);
    let by_a = a
        .acquire_token_silent(SilentRequest::new(account.clone(), vec![]), None)
        .await
        .unwrap();
    assert_eq!(by_a.source, TokenSource::Cache, "and A picks up B's");

    b.remove_account(&account).unwrap();
    assert!(
        a.accounts().is_empty(),
        "sign-out reaches the other process"
    );
}

#[tokio::test]
async fn two_processes_signing_in_at_once_keep_both_accounts() {
    let w = world(Flavor::Entra, &[]).await;
    let store = Arc::new(SharedStore::default());
    let (a, b) = (w.second_process(&store), w.second_process(&store));
    // Both start from the same (empty) view; neither reads before it writes.
    let (ada, alan) = (
        Browser::user("ada@tessera.test"),
        Browser::user("alan@tessera.test"),
    );
    let (by_a, by_b) = tokio::join!(
        a.acquire_token_interactive(InteractiveRequest::default(), &ada),
        b.acquire_token_interactive(InteractiveRequest::default(), &alan),
    );
    let (by_a, by_b) = (by_a.unwrap(), by_b.unwrap());
    let mut everyone: Vec<String> = w
        .second_process(&store)
        .accounts()
        .into_iter()
        .map(|a| a.username)
        .collect();
    everyone.sort();
    assert_eq!(everyone, ["ada@tessera.test", "alan@tessera.test"]);

    // A refreshes ada's Graph token while B has her consent to another API (a code, not the
    // refresh token: the provider refuses a refresh token two processes spend at once): both
    // tokens are kept.
    w.advance(3600).await;
    let graph = SilentRequest::new(by_a.account.clone(), vec![]);
    let api_scopes = vec!["api://tessera-demo/access_as_user".to_owned()];
    let api = SilentRequest::new(by_a.account.clone(), api_scopes.clone());
    let consent = InteractiveRequest {
        scopes: api_scopes,
        login_hint: Some("ada@tessera.test".into()),
        ..InteractiveRequest::default()
    };
    let (g, o) = tokio::join!(
        a.acquire_token_silent(graph.clone(), None),
        b.acquire_token_interactive(consent, &ada),
    );
    let (g, o) = (g.unwrap(), o.unwrap());
    let third = w.second_process(&store);
    let again_g = third.acquire_token_silent(graph, None).await.unwrap();
    let again_o = third.acquire_token_silent(api, None).await.unwrap();
    assert_eq!(
        (
            again_g.source,
            &again_g.access_token,
            again_o.source,
            &again_o.access_token
        ),
        (
            TokenSource::Cache,
            &g.access_token,
            TokenSource::Cache,
            &o.access_token
        )
    );

    // B refreshes alan's token slowly; meanwhile A signs alan out. Sign-out wins: no token
    // of alan's is stored afterwards.
    w.advance(3600).await;
    w.control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 300 }),
    )
    .await;
    let alan_silent = SilentRequest::new(by_b.account.clone(), vec![]);
    let (refreshed, ()) = tokio::join!(b.acquire_token_silent(alan_silent, None), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.remove_account(&by_b.account).unwrap();
    });
    assert!(
        matches!(refreshed, Err(Error::AccountNotFound(_))),
        "{refreshed:?}"
    );
    let blob = String::from_utf8(store.blob.lock().unwrap().1.clone().unwrap()).unwrap();
    assert!(
        !blob.contains(&by_b.account.home_account_id),
        "alan is still stored"
    );
    assert_eq!(third.accounts(), vec![by_a.account.clone()]);
}

#[tokio::test]
async fn a_damaged_persisted_cache_starts_signed_out_and_says_why() {
    let w = world(Flavor::Entra, &[]).await;
    for blob in [
        b"\x00\x01 not a cache".to_vec(),
        br#"{"version":42,"data":null}"#.to_vec(),
    ] {
        let store = Arc::new(SharedStore {
            blob: std::sync::Mutex::new((1, Some(blob.clone()))),
            ..SharedStore::default()
        });
        let app = w.second_process(&store);
        assert!(app.accounts().is_empty());
        let why = app.persistence_error().expect("the load failure is kept");
        assert!(
            why.starts_with("load: ")
                && (why.contains("damaged") || why.contains("version 42"))
                && why.ends_with("(kept as aside #1)"),
            "{why}"
        );
        assert_eq!(*store.aside.lock().unwrap(), vec![blob], "nothing is lost");
        let mut events = app.subscribe();
        // Signing in works and replaces the damaged blob with a good one.
        let ada = Browser::user("ada@tessera.test");
        app.acquire_token_interactive(InteractiveRequest::default(), &ada)
            .await
            .unwrap();
        assert_eq!(w.second_process(&store).accounts().len(), 1);
        assert_eq!(
            app.persistence_error(),
            None,
            "a good save clears the warning"
        );
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(event, tessera_auth::Event::PersistenceFailed { .. }),
                "saving works: {event:?}"
            );
        }
    }
}

// Entra at its real host name, over TLS, the resolver sending it to the emulator: metadata
// of a provider that is not on loopback is kept with the cache for a day.
#[tokio::test]
async fn provider_metadata_is_persisted_and_fetched_again_after_a_day() {
    let w = world_with(Setup {
        public_host: Some("login.microsoftonline.com"),
        ..Setup::default()
    })
    .await;
    assert_eq!(w.authority, "https://login.microsoftonline.com/common");
    let store = Arc::new(SharedStore::default());
    let a = w.second_process(&store);
    let ada = w.browser("ada@tessera.test");
    let first = a
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    assert_eq!(w.stat("discovery").await, 1);
    let forced = SilentRequest {
        force_refresh: true,
        ..SilentRequest::new(first.account.clone(), vec![])
    };

    let b = w.second_process(&store);
    assert_eq!(
        b.acquire_token_silent(forced.clone(), None)
            .await
            .unwrap()
            .source,
        TokenSource::RefreshToken
    );
    assert_eq!(
        w.stat("discovery").await,
        1,
        "the second process used the persisted metadata"
    );

    w.advance(25 * 3600).await;
    b.acquire_token_silent(forced, None).await.unwrap();
    assert_eq!(
        w.stat("discovery").await,
        2,
        "fetched again after a day, in memory too"
    );
}

#[tokio::test]
async fn a_refresh_token_another_process_spent_meanwhile_is_replaced_by_the_one_it_stored() {
    // Under strict rotation (RFC 9700 §2.2.2): Entra itself lets a spent token be used again.
    let w = strict_rotation_world().await;
    let store = Arc::new(SharedStore::default());
    let (a, b) = (w.second_process(&store), w.second_process(&store));
    let ada = Browser::user("ada@tessera.test");
    let first = a
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    let silent = SilentRequest::new(first.account.clone(), vec![]);
    w.advance(3600).await;
    // B's request is slow at the provider: it leaves with the refresh token both hold, and
    // arrives after A has spent it and stored the rotated one.
    w.control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 500 }),
    )
    .await;
    let (by_b, by_a) = tokio::join!(b.acquire_token_silent(silent.clone(), None), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.acquire_token_silent(silent.clone(), None).await
    });
    assert_eq!(by_a.unwrap().source, TokenSource::RefreshToken);
    assert_eq!(
        by_b.expect("B retried with A's rotated refresh token")
            .source,
        TokenSource::RefreshToken
    );
    assert_eq!(
        w.stat("token:refresh_token").await,
        3,
        "A's, B's refused, B's retry"
    );
}

// Issue 21, point 3: a loopback provider's metadata was persisted, so whatever answered on
// the embedded provider's port could steer the app to its endpoints for a day.
#[tokio::test]
async fn a_loopback_providers_metadata_is_never_persisted() {
    let w = world(Flavor::Entra, &[]).await;
    let store = Arc::new(SharedStore::default());
    let a = w.second_process(&store);
    let first = a
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &Browser::user("ada@tessera.test"),
        )
        .await
        .unwrap();
    let blob = store.blob.lock().unwrap().1.clone().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&blob).unwrap();
    assert_eq!(
        saved["data"]["authority_metadata"],
        json!({}),
        "no metadata in the persisted cache"
    );
    let b = w.second_process(&store);
    let forced = SilentRequest {
        force_refresh: true,
        ..SilentRequest::new(first.account.clone(), vec![])
    };
    b.acquire_token_silent(forced, None).await.unwrap();
    assert_eq!(
        w.stat("discovery").await,
        2,
        "the second process asked again"
    );
}

/// Issue 20, point 9: a cache written by the first release (before tokens were filed by the
/// tenant that issued them and before a cloud's host names became one environment) still
/// loads, with its accounts and tokens. The file was written by that build's own cache code
/// (commit d4a0fc1): Ada under `login.windows.net`, Alan under `login.microsoftonline.com`,
/// each with a Graph token, an API token, a refresh token and an ID token whose `aud` is a
/// string.
#[tokio::test]
async fn a_cache_written_by_the_first_release_loads_with_its_accounts_and_tokens() {
    let golden = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cache-round1.json"),
    )
    .unwrap();
    let store = Arc::new(SharedStore::default());
    *store.blob.lock().unwrap() = (1, Some(golden));
    let mut config = Config::new(
        DEFAULT_CLIENT_ID,
        "https://login.microsoftonline.com/common",
    );
    config.default_scopes = vec!["User.Read".into()];
    let app = PublicClientApplication::builder(config)
        .persistence(Arc::new(view(&store)))
        .build()
        .unwrap();
    let accounts = app.accounts();
    let names: Vec<&str> = accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(
        names,
        ["ada@tessera.test", "alan@tessera.test"],
        "{accounts:?}"
    );
    for account in &accounts {
        assert_eq!(
            account.environment, "login.microsoftonline.com",
            "one environment"
        );
        let user = &account.username;
        let graph = from_cache(&app, account).await;
        assert_eq!(graph.access_token.secret(), format!("graph-token-{user}"));
        let claims = graph
            .id_token_claims
            .expect("the ID token's claims came along");
        assert_eq!(claims.preferred_username.as_deref(), Some(user.as_str()));
        let api = app
            .acquire_token_silent(
                SilentRequest::new(
                    account.clone(),
                    vec!["api://tessera-demo/access_as_user".into()],
                ),
                None,
            )
            .await
            .unwrap();
        assert_eq!(api.source, TokenSource::Cache);
        assert_eq!(api.access_token.secret(), format!("api-token-{user}"));
    }
}
