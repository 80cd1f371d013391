//! Several processes sharing one persisted cache, damaged caches, persisted metadata.

use super::*;

/// One persisted cache shared by several "processes", each with its own view of what it saw.
#[derive(Debug, Default)]
struct SharedStore {
    blob: std::sync::Mutex<(u64, Option<Vec<u8>>)>,
}

#[derive(Debug)]
struct View {
    store: Arc<SharedStore>,
    seen: std::sync::Mutex<u64>,
}

impl tessera_auth::CachePersistence for View {
    fn load_if_changed(&self) -> Result<Option<Vec<u8>>, tessera_auth::PersistenceError> {
        let stored = self.store.blob.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        if stored.0 == *seen {
            return Ok(None);
        }
        *seen = stored.0;
        Ok(stored.1.clone())
    }

    fn save(&self, blob: &[u8]) -> Result<(), tessera_auth::PersistenceError> {
        let mut stored = self.store.blob.lock().unwrap();
        stored.0 += 1;
        stored.1 = Some(blob.to_vec());
        *self.seen.lock().unwrap() = stored.0;
        Ok(())
    }
}

impl World {
    fn second_process(&self, store: &Arc<SharedStore>) -> PublicClientApplication {
        let mut config = Config::new(DEFAULT_CLIENT_ID, self.idp.authority().as_str());
        config.default_scopes = vec!["User.Read".into()];
        PublicClientApplication::builder(config)
            .clock(self.clock.clone())
            .persistence(Arc::new(View {
                store: store.clone(),
                seen: std::sync::Mutex::new(0),
            }))
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
async fn a_damaged_persisted_cache_starts_signed_out_and_says_why() {
    let w = world(Flavor::Entra, &[]).await;
    for blob in [
        b"\x00\x01 not a cache".to_vec(),
        br#"{"version":42,"data":null}"#.to_vec(),
    ] {
        let store = Arc::new(SharedStore {
            blob: std::sync::Mutex::new((1, Some(blob))),
        });
        let app = w.second_process(&store);
        assert!(app.accounts().is_empty());
        let why = app.persistence_error().expect("the load failure is kept");
        assert!(
            why.starts_with("load: ") && (why.contains("damaged") || why.contains("version 42")),
            "{why}"
        );
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

#[tokio::test]
async fn provider_metadata_is_persisted_and_fetched_again_after_a_day() {
    let w = world(Flavor::Entra, &[]).await;
    let store = Arc::new(SharedStore::default());
    let a = w.second_process(&store);
    let ada = Browser::user("ada@tessera.test");
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
