//! Many callers at once, one interaction at a time, throttling and broken responses.

use super::*;

#[tokio::test]
async fn a_second_interaction_fails_fast_while_one_runs() {
    let w = world(Flavor::Entra, &[]).await;
    struct Held(tokio::sync::Notify);
    impl InteractiveAgent for Held {
        fn redirect_uri(&self) -> Url {
            Url::parse(NATIVE_CLIENT_REDIRECT_URI).unwrap()
        }
        fn authorize(&self, _: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
            Box::pin(async move {
                self.0.notified().await;
                Err(AgentError::Cancelled)
            })
        }
    }
    let held = Held(tokio::sync::Notify::new());
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &held);
    let second = async {
        tokio::task::yield_now().await;
        let result = w
            .app
            .acquire_token_interactive(InteractiveRequest::default(), &ada)
            .await;
        held.0.notify_one();
        result
    };
    let (first, second) = tokio::join!(first, second);
    assert!(
        matches!(second, Err(Error::InteractionInProgress)),
        "{second:?}"
    );
    assert!(
        matches!(first, Err(Error::UserCancelled)),
        "closing the window cancels: {first:?}"
    );
    // Afterwards interaction is possible again.
    assert!(w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .is_ok());
}

#[tokio::test]
async fn throttling_and_broken_responses_leave_the_cache_intact() {
    // Under strict rotation, which makes the last step's spent token a refusal; Entra's own
    // reuse allowance is `the_token_a_refused_response_rotated_stays_usable_on_entra`.
    let w = strict_rotation_world().await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    let forced = SilentRequest {
        force_refresh: true,
        ..w.silent(&first.account)
    };

    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 429, "retry_after": 30 }),
    )
    .await;
    match w.app.acquire_token_silent(forced.clone(), None).await {
        Err(error @ Error::Throttled { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(30));
            assert!(error.is_transient());
        }
        other => panic!("{other:?}"),
    }
    let sent = w.stat("token").await;
    w.advance(10).await;
    match w.app.acquire_token_silent(forced.clone(), None).await {
        Err(Error::Throttled { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(20), "the time left")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.stat("token").await,
        sent,
        "not sent again before Retry-After"
    );
    w.advance(21).await;

    for kind in ["malformed", "truncated"] {
        w.control("faults", json!({ "target": "token", "kind": kind }))
            .await;
        let result = w.app.acquire_token_silent(forced.clone(), None).await;
        assert!(
            matches!(result, Err(Error::InvalidResponse(_))),
            "{kind}: {result:?}"
        );
    }
    // A dropped connection is retried once (two requests), then reported as transient.
    let before = w.stat("token").await;
    w.control(
        "faults",
        json!({ "target": "token", "kind": "reset", "count": 2 }),
    )
    .await;
    let result = w.app.acquire_token_silent(forced.clone(), None).await;
    assert!(
        matches!(&result, Err(e) if e.is_transient()),
        "a dropped connection is transient: {result:?}"
    );
    assert_eq!(w.stat("token").await, before + 2, "one retry, no storm");
    // One 503 then success: the retry hides the blip.
    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 503 }),
    )
    .await;
    let recovered = w
        .app
        .acquire_token_silent(forced.clone(), None)
        .await
        .unwrap();
    assert_eq!(recovered.source, TokenSource::RefreshToken);

    w.control(
        "faults",
        json!({ "target": "token", "kind": "omit", "field": "expires_in" }),
    )
    .await;
    assert!(matches!(
        w.app.acquire_token_silent(forced.clone(), None).await,
        Err(Error::InvalidResponse(_))
    ));
    let cached = from_cache(&w.app, &first.account).await;
    assert_eq!(
        cached.access_token, recovered.access_token,
        "the last good token is still there"
    );
    // omit ran the endpoint, so the refresh token rotated there; but the engine refused that
    // response, so the next refresh uses a spent token and must be classified, not crash.
    let after = w.app.acquire_token_silent(forced, None).await;
    assert!(
        matches!(after, Err(Error::InteractionRequired { .. })),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_silent_callers_cause_one_refresh() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    w.advance(3600).await;
    // A slow provider keeps the first call in flight while the others arrive.
    w.control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 300 }),
    )
    .await;
    let callers = (0..100).map(|_| w.app.acquire_token_silent(w.silent(&first.account), None));
    let results = futures_util::future::join_all(callers).await;
    assert_eq!(
        w.stat("token:refresh_token").await,
        1,
        "exactly one refresh for 100 callers"
    );
    let token = &results[0].as_ref().unwrap().access_token;
    for result in &results {
        let result = result.as_ref().unwrap();
        assert_eq!(result.source, TokenSource::RefreshToken);
        assert_eq!(&result.access_token, token, "everyone gets the same result");
    }
    // Errors are shared the same way.
    w.control("users/ada@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    w.advance(3600).await;
    w.control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 300 }),
    )
    .await;
    let callers = (0..100).map(|_| w.app.acquire_token_silent(w.silent(&first.account), None));
    let results = futures_util::future::join_all(callers).await;
    assert_eq!(w.stat("token:refresh_token").await, 2);
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(Error::InteractionRequired { .. }))));
}

#[tokio::test]
async fn a_running_interaction_can_be_cancelled() {
    let w = world(Flavor::Entra, &[]).await;
    struct Forever;
    impl InteractiveAgent for Forever {
        fn redirect_uri(&self) -> Url {
            Url::parse(NATIVE_CLIENT_REDIRECT_URI).unwrap()
        }
        fn authorize(&self, _: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
            Box::pin(std::future::pending())
        }
    }
    let running = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &Forever);
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        w.app.cancel_interaction();
    };
    let (result, ()) = tokio::join!(running, cancel);
    assert!(matches!(result, Err(Error::UserCancelled)), "{result:?}");
    let ada = Browser::user("ada@tessera.test");
    assert!(
        w.app
            .acquire_token_interactive(InteractiveRequest::default(), &ada)
            .await
            .is_ok(),
        "the lock was released"
    );
}

#[tokio::test]
async fn past_refresh_in_the_cached_token_is_served_and_renewed_in_the_background() {
    let w = world(Flavor::Entra, &[]).await;
    w.control(
        "lifetimes",
        json!({ "access_token": 7200, "refresh_in": 3600 }),
    )
    .await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    w.advance(3601).await;
    // A slow provider, and many callers past refresh_in: still one background refresh.
    w.control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 300 }),
    )
    .await;
    let callers = (0..50).map(|_| w.app.acquire_token_silent(w.silent(&first.account), None));
    for result in futures_util::future::join_all(callers).await {
        assert_eq!(result.unwrap().source, TokenSource::Cache);
    }
    let served = from_cache(&w.app, &first.account).await;
    assert_eq!(served.access_token, first.access_token, "served at once");
    for _ in 0..50 {
        if w.stat("token:refresh_token").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        w.stat("token:refresh_token").await,
        1,
        "one background refresh"
    );
    let renewed = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await
        .unwrap();
    assert_eq!(renewed.source, TokenSource::Cache);
    assert_ne!(
        renewed.access_token, first.access_token,
        "the renewed token replaced it"
    );
}

#[tokio::test]
async fn concurrent_silent_sso_opens_one_hidden_sign_in() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    w.control("users/ada@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    w.advance(3600).await;
    w.control(
        "faults",
        json!({ "target": "authorize", "kind": "delay", "millis": 300 }),
    )
    .await;
    let callers = (0..50).map(|_| {
        w.app
            .acquire_token_silent(w.silent(&first.account), Some(&ada))
    });
    let results = futures_util::future::join_all(callers).await;
    assert_eq!(
        w.stat("authorize:prompt=none").await,
        1,
        "one hidden sign-in for 50 callers"
    );
    assert_eq!(
        w.stat("token:refresh_token").await,
        1,
        "and one refresh attempt before it"
    );
    for result in results {
        assert_eq!(result.unwrap().source, TokenSource::SilentSso);
    }
}

// Entra does not revoke a refresh token when it is used (Microsoft Learn, "Refresh tokens in
// the Microsoft identity platform"): a response the engine refused leaves the token it used
// redeemable.
#[tokio::test]
async fn the_token_a_refused_response_rotated_stays_usable_on_entra() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    let forced = SilentRequest {
        force_refresh: true,
        ..w.silent(&first.account)
    };
    w.control(
        "faults",
        json!({ "target": "token", "kind": "omit", "field": "expires_in" }),
    )
    .await;
    assert!(matches!(
        w.app.acquire_token_silent(forced.clone(), None).await,
        Err(Error::InvalidResponse(_))
    ));
    let again = w.app.acquire_token_silent(forced, None).await.unwrap();
    assert_eq!(again.source, TokenSource::RefreshToken);
}
