//! Faults injected through tessera-idp's control API. Each asserts a clear typed error, no
//! panic, no account lost, and no retry storm (the provider counts the requests). Truncated and
//! non-JSON bodies, a missing `expires_in`, a dropped connection and 429 with `Retry-After` on
//! the refresh path are in `concurrency.rs`
//! (`throttling_and_broken_responses_leave_the_cache_intact`); the disk filling up and a
//! process killed while writing the cache are in tessera-vault's `tests/faults.rs`.

use super::persistence::SharedStore;
use super::*;

fn forced(w: &World, account: &tessera_auth::Account) -> SilentRequest {
    SilentRequest {
        force_refresh: true,
        ..w.silent(account)
    }
}

/// A process started while the provider is down still has its accounts and cached tokens;
/// what needs the provider fails as a transient network error.
#[tokio::test]
async fn a_provider_down_at_start_up_leaves_the_cache_usable() {
    let w = world(Flavor::Entra, &[]).await;
    let store = Arc::new(SharedStore::default());
    let first = w.second_process(&store);
    let signed_in = first
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &Browser::user("ada@tessera.test"),
        )
        .await
        .unwrap();
    let account = signed_in.account.clone();
    let idp_port = w.idp.base_url().port().unwrap();
    let authority = w.idp.authority().to_string();
    let World { idp, .. } = w;
    idp.stop().await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", idp_port))
            .await
            .is_err(),
        "the provider is down"
    );

    let mut config = Config::new(DEFAULT_CLIENT_ID, &authority);
    config.default_scopes = vec!["User.Read".into()];
    let restarted = PublicClientApplication::builder(config)
        .persistence(Arc::new(super::persistence::view(&store)))
        .build()
        .unwrap();
    assert_eq!(
        restarted.accounts(),
        vec![account.clone()],
        "no account lost"
    );
    // Served from the cache without the provider (its metadata is cached too).
    let cached = from_cache(&restarted, &account).await;
    assert_eq!(cached.access_token, signed_in.access_token);
    let refresh = restarted
        .acquire_token_silent(
            SilentRequest {
                force_refresh: true,
                ..SilentRequest::new(account.clone(), vec![])
            },
            None,
        )
        .await;
    match &refresh {
        Err(error @ Error::Network(message)) => {
            assert!(error.is_transient());
            assert!(message.contains("could not connect"), "{message}");
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    let interactive = restarted
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &Browser::user("ada@tessera.test"),
        )
        .await;
    assert!(
        matches!(&interactive, Err(e) if e.is_transient()),
        "{interactive:?}"
    );
    assert_eq!(
        restarted.accounts(),
        vec![account],
        "still there after the failures"
    );
}

/// 500s, 502s, 503s and 504s without `Retry-After`, many in a row: the first call makes two
/// requests (one retry, MSAL.NET `HttpManager`) and fails as transient; the request is then
/// throttled for a minute (msal-common `ThrottlingUtils`: every 5xx), so four more calls send
/// nothing; the cache keeps its tokens throughout.
#[tokio::test]
async fn a_5xx_storm_costs_two_requests_then_waits_a_minute() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    for status in [500, 502, 503, 504] {
        w.control(
            "faults",
            json!({ "target": "token", "kind": "status", "status": status, "count": 20 }),
        )
        .await;
    }
    let before = w.stat("token").await;
    for call in 0..5 {
        let result = w
            .app
            .acquire_token_silent(forced(&w, &first.account), None)
            .await;
        // Entra's 5xx carry an OAuth body (server_error, AADSTS90033); a bare one is a
        // network error; later calls are throttled. All are transient.
        match &result {
            Err(error @ (Error::Server(_) | Error::Network(_))) if call == 0 => {
                assert!(error.is_transient(), "call {call}: {error:?}");
            }
            Err(error @ Error::Throttled { .. }) if call > 0 => {
                assert!(error.is_transient(), "call {call}: {error:?}");
            }
            other => panic!("call {call}: expected a transient error, got {other:?}"),
        }
    }
    assert_eq!(w.stat("token").await, before + 2, "two requests in all");
    let cached = from_cache(&w.app, &first.account).await;
    assert_eq!(cached.access_token, first.access_token);
    assert_eq!(w.app.accounts(), vec![first.account.clone()]);
    w.delete("faults").await;
    w.advance(61).await;
    let recovered = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .unwrap();
    assert_eq!(recovered.source, TokenSource::RefreshToken);
}

/// A burst of 429s meets fifty callers at once: one request reaches the provider, every caller
/// gets `Throttled` with the provider's `Retry-After`, and nothing is sent until it has passed.
#[tokio::test]
async fn a_429_burst_meets_fifty_callers_with_one_request() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    w.advance(3600).await;
    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 429, "retry_after": 20, "count": 100 }),
    )
    .await;
    let before = w.stat("token").await;
    let callers = (0..50).map(|_| w.app.acquire_token_silent(w.silent(&first.account), None));
    let results = futures_util::future::join_all(callers).await;
    for result in &results {
        assert!(
            matches!(result, Err(Error::Throttled { retry_after }) if retry_after.as_secs() <= 20),
            "{result:?}"
        );
    }
    assert_eq!(
        w.stat("token").await,
        before + 1,
        "one request for fifty callers"
    );
    w.advance(10).await;
    let again = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await;
    assert!(matches!(again, Err(Error::Throttled { .. })), "{again:?}");
    assert_eq!(w.stat("token").await, before + 1, "none before Retry-After");
    w.delete("faults").await;
    w.advance(11).await;
    let renewed = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await
        .unwrap();
    assert_eq!(renewed.source, TokenSource::RefreshToken);
    assert_eq!(w.stat("token").await, before + 2);
}

/// A provider slower than the engine's time limit: the call ends as a transient "timed out"
/// after at most one retry, and the token it was refreshing stays cached.
#[tokio::test]
async fn a_provider_slower_than_the_time_limit_times_out() {
    let w = world(Flavor::Entra, &[]).await;
    let impatient = w.another_app(|config| config.http.timeout = Duration::from_millis(500));
    let first = impatient
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &Browser::user("ada@tessera.test"),
        )
        .await
        .unwrap();
    w.control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 3000, "count": 2 }),
    )
    .await;
    let before = w.stat("token").await;
    let result = impatient
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    match &result {
        Err(error @ Error::Network(message)) => {
            assert!(error.is_transient());
            assert!(message.contains("timed out"), "{message}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(w.stat("token").await, before + 2, "one retry, no more");
    from_cache(&impatient, &first.account).await;
}

/// Broken discovery and key documents at the first sign-in: typed errors, then success once the
/// provider answers properly.
#[tokio::test]
async fn broken_discovery_and_keys_are_invalid_responses() {
    let w = world(Flavor::Entra, &[]).await;
    for (target, kind) in [
        ("discovery", "malformed"),
        ("discovery", "truncated"),
        ("keys", "malformed"),
        ("keys", "truncated"),
    ] {
        w.control("faults", json!({ "target": target, "kind": kind }))
            .await;
        let app = w.another_app(|_| {});
        let result = app
            .acquire_token_interactive(
                InteractiveRequest::default(),
                &Browser::user("ada@tessera.test"),
            )
            .await;
        assert!(
            matches!(result, Err(Error::InvalidResponse(_))),
            "{target} {kind}: {result:?}"
        );
        assert!(app.accounts().is_empty());
        let retried = app
            .acquire_token_interactive(
                InteractiveRequest::default(),
                &Browser::user("ada@tessera.test"),
            )
            .await;
        assert!(retried.is_ok(), "{target} {kind} then fine: {retried:?}");
    }
}

/// The provider's clock ten minutes ahead of ours or behind: sign-in, the cache, refresh and
/// Graph all work. Two hours ahead, no clock error explains it: the ID token is refused with a
/// message that names the clock, and nothing is cached.
#[tokio::test]
async fn clocks_ten_minutes_apart_either_way_still_work() {
    for skew in [-600, 600] {
        let w = world(Flavor::Entra, &[]).await;
        w.control("clock", json!({ "skew_seconds": skew })).await;
        let (_, first) = w.sign_in("ada@tessera.test").await;
        assert_eq!(
            w.me(first.access_token.secret()).await.status(),
            200,
            "skew {skew}"
        );
        from_cache(&w.app, &first.account).await;
        let refreshed = w
            .app
            .acquire_token_silent(forced(&w, &first.account), None)
            .await
            .unwrap();
        assert_eq!(refreshed.source, TokenSource::RefreshToken, "skew {skew}");
        assert_eq!(w.me(refreshed.access_token.secret()).await.status(), 200);
    }
    let w = world(Flavor::Entra, &[]).await;
    w.control("clock", json!({ "skew_seconds": 7200 })).await;
    let result = w
        .app
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &Browser::user("ada@tessera.test"),
        )
        .await;
    match &result {
        Err(Error::InvalidIdToken(message)) => assert!(message.contains("clock"), "{message}"),
        other => panic!("expected an invalid ID token, got {other:?}"),
    }
    assert!(w.app.accounts().is_empty());
}

/// The engine's HTTP client follows no redirect (the `oauth2` crate's advice against SSRF): a
/// provider answering 307 to another address gets an error, and the other address no request.
#[tokio::test]
async fn redirects_from_the_provider_are_not_followed() {
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_port = elsewhere.local_addr().unwrap().port();
    let visits = Arc::new(AtomicUsize::new(0));
    let counted = visits.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = elsewhere.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let provider = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = provider.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = provider.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{elsewhere_port}/.well-known/openid-configuration\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    let config = Config::new(DEFAULT_CLIENT_ID, format!("http://127.0.0.1:{port}/"));
    let app = PublicClientApplication::builder(config).build().unwrap();
    let result = app
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &Browser::user("ada@tessera.test"),
        )
        .await;
    match &result {
        Err(Error::Network(message)) => assert!(message.contains("307"), "{message}"),
        other => panic!("expected a network error, got {other:?}"),
    }
    assert_eq!(
        visits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

// Issue 21, point 12: `token_type` was never checked, so a `pop` token (RFC 7800; Entra issues
// them to clients that ask) would have been sent as a Bearer credential. RFC 6749 §7.1: "The
// client MUST NOT use an access token if it does not understand the token type."
#[tokio::test]
async fn a_token_of_a_type_other_than_bearer_is_refused() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    for token_type in ["pop", "mac", "N_A"] {
        w.control(
            "faults",
            json!({ "target": "token", "kind": "set", "field": "token_type", "value": token_type }),
        )
        .await;
        let result = w
            .app
            .acquire_token_silent(forced(&w, &first.account), None)
            .await;
        match result {
            Err(Error::InvalidResponse(message)) => {
                assert!(
                    message.contains(&token_type.to_lowercase()),
                    "{token_type}: {message}"
                )
            }
            other => panic!("a {token_type} token was accepted: {other:?}"),
        }
    }
    // The type compares case-insensitively (RFC 6749 §5.1): "bearer" is a Bearer token.
    w.control(
        "faults",
        json!({ "target": "token", "kind": "set", "field": "token_type", "value": "bearer" }),
    )
    .await;
    let lower = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .expect("a lower-case bearer token");
    assert_eq!(lower.source, TokenSource::RefreshToken);
}
