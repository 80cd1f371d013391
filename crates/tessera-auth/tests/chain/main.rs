//! The whole acquisition chain against tessera-idp in-process, with a scripted browser as the
//! agent: interactive → cache → refresh (rotated) → revoked → silent SSO → session ended →
//! InteractionRequired, plus the faults and classifications on the way.

// Test helpers panic on purpose: a failed request is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tessera_auth::clock::{Clock, SystemClock};
use tessera_auth::{
    AgentError, AgentRequest, BoxFuture, CacheLookupPolicy, Classification, Config, Error,
    InteractiveAgent, InteractiveRequest, LoopbackAgent, PublicClientApplication, SilentAgent,
    SilentRequest, TokenSource, NATIVE_CLIENT_REDIRECT_URI,
};
use tessera_idp::user_agent::{Outcome, Script, UserAgent};
use tessera_idp::{Flavor, IdpOptions, RunningIdp, DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID};
use url::Url;

const ADA_OID: &str = "0d1c6a5e-2f4b-4a8e-9c3d-1b7e5f9a2c40";

/// The system clock plus an offset the test moves; the provider's clock moves with it.
#[derive(Debug, Default)]
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.0.load(Ordering::SeqCst)
    }
}

/// The scripted browser as both agents, stopping at the native-client redirect URI.
struct Browser(UserAgent);

impl Browser {
    fn user(username: &str) -> Browser {
        Browser(UserAgent::new(Script::user(username)))
    }

    fn go(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        Box::pin(async move {
            match self
                .0
                .sign_in(&request.authorize_url, request.redirect_uri.as_str())
                .await
            {
                Ok(Outcome::Redirect(url)) => Ok(url),
                Ok(other) => Err(AgentError::Failed(format!("unexpected outcome {other:?}"))),
                Err(e) => Err(AgentError::Failed(e.to_string())),
            }
        })
    }
}

impl InteractiveAgent for Browser {
    fn redirect_uri(&self) -> Url {
        Url::parse(NATIVE_CLIENT_REDIRECT_URI).unwrap()
    }
    fn authorize(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        self.go(request)
    }
}

impl SilentAgent for Browser {
    fn redirect_uri(&self) -> Url {
        Url::parse(NATIVE_CLIENT_REDIRECT_URI).unwrap()
    }
    fn authorize_silently(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        self.go(request)
    }
}

struct World {
    idp: RunningIdp,
    app: PublicClientApplication,
    clock: Arc<TestClock>,
    http: reqwest::Client,
}

async fn world(flavor: Flavor, capabilities: &[&str]) -> World {
    let idp = tessera_idp::start(IdpOptions {
        flavor,
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    let clock = Arc::new(TestClock::default());
    let mut config = Config::new(DEFAULT_CLIENT_ID, idp.authority().as_str());
    config.default_scopes = vec!["User.Read".into()];
    config.client_capabilities = capabilities.iter().map(|c| c.to_string()).collect();
    let app = PublicClientApplication::builder(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    World {
        idp,
        app,
        clock,
        http: reqwest::Client::new(),
    }
}

impl World {
    /// Moves both clocks forward.
    async fn advance(&self, seconds: i64) {
        let offset = self.clock.0.fetch_add(seconds, Ordering::SeqCst) + seconds;
        self.control("clock", json!({ "skew_seconds": offset }))
            .await;
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.idp.url(&format!("__control/{path}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "control {path}");
        r.json().await.unwrap()
    }

    async fn delete(&self, path: &str) {
        let r = self
            .http
            .delete(self.idp.url(&format!("__control/{path}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "control DELETE {path}");
    }

    async fn stat(&self, key: &str) -> u64 {
        let stats: Value = self
            .http
            .get(self.idp.url("__control/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats[key].as_u64().unwrap_or(0)
    }

    async fn me(&self, token: &str) -> reqwest::Response {
        self.http
            .get(self.idp.url("v1.0/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    fn silent(&self, account: &tessera_auth::Account) -> SilentRequest {
        SilentRequest::new(account.clone(), vec![])
    }
}

fn classification(
    result: Result<tessera_auth::AuthenticationResult, Error>,
) -> (Classification, Option<u32>) {
    match result {
        Err(Error::InteractionRequired {
            classification,
            code,
            ..
        }) => (classification, code),
        other => panic!("expected InteractionRequired, got {other:?}"),
    }
}

#[tokio::test]
async fn the_whole_chain_against_an_entra_shaped_provider() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");

    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    assert_eq!(first.source, TokenSource::Interactive);
    let account = first.account.clone();
    assert_eq!(
        account.home_account_id,
        format!("{ADA_OID}.{DEFAULT_TENANT_ID}"),
        "uid.utid from client_info"
    );
    assert_eq!(account.username, "ada@tessera.test");
    assert_eq!(account.realm, DEFAULT_TENANT_ID);
    assert!(
        first.scopes.iter().any(|s| s == "User.Read"),
        "{:?}",
        first.scopes
    );
    assert!(first.id_token_claims.as_ref().unwrap().nonce.is_some());
    assert!(
        !format!("{first:?}").contains(first.access_token.secret()),
        "the result's Debug redacts"
    );
    assert_eq!(
        w.me(first.access_token.secret()).await.status(),
        200,
        "the token works at Graph"
    );
    assert_eq!(w.app.accounts(), vec![account.clone()]);
    assert_eq!(w.stat("token").await, 1);

    let cached = w
        .app
        .acquire_token_silent(w.silent(&account), None)
        .await
        .unwrap();
    assert_eq!(cached.source, TokenSource::Cache);
    assert_eq!(cached.access_token, first.access_token);
    assert_eq!(w.stat("token").await, 1, "a cache hit makes no request");

    // Within the 5-minute renewal offset of expiry: refresh.
    w.advance(3600 - 200).await;
    let refreshed = w
        .app
        .acquire_token_silent(w.silent(&account), None)
        .await
        .unwrap();
    assert_eq!(refreshed.source, TokenSource::RefreshToken);
    assert_ne!(refreshed.access_token, first.access_token);
    assert_eq!(
        w.stat("token:refresh_token").await,
        1,
        "exactly one token call"
    );
    assert_eq!(
        w.app
            .acquire_token_silent(w.silent(&account), None)
            .await
            .unwrap()
            .source,
        TokenSource::Cache
    );

    // The rotated refresh token was stored: the provider refuses a spent one.
    w.advance(3600).await;
    let again = w
        .app
        .acquire_token_silent(w.silent(&account), None)
        .await
        .unwrap();
    assert_eq!(again.source, TokenSource::RefreshToken);
    assert_eq!(w.stat("token:refresh_token").await, 2);

    // Refresh token revoked; the provider's session is alive: silent SSO.
    w.control("users/ada@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    w.advance(3600).await;
    assert_eq!(
        classification(w.app.acquire_token_silent(w.silent(&account), None).await),
        (Classification::BadToken, Some(50173)),
        "no silent agent: the provider's reason comes back"
    );
    let sso = w
        .app
        .acquire_token_silent(w.silent(&account), Some(&ada))
        .await
        .unwrap();
    assert_eq!(sso.source, TokenSource::SilentSso);
    assert_eq!(sso.account, account);
    assert_eq!(w.stat("authorize:prompt=none").await, 1);

    // Session ended too: only interaction helps.
    w.control("users/ada@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    w.delete("users/ada@tessera.test/sessions").await;
    w.advance(3600).await;
    assert_eq!(
        classification(
            w.app
                .acquire_token_silent(w.silent(&account), Some(&ada))
                .await
        ),
        (Classification::LoginRequired, Some(50058))
    );
}

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
async fn mfa_and_consent_are_classified_and_claims_carry_into_interaction() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let account = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap()
        .account;

    w.control("users/ada@tessera.test/mfa", json!({ "required": true }))
        .await;
    let forced = SilentRequest {
        force_refresh: true,
        ..w.silent(&account)
    };
    match w.app.acquire_token_silent(forced.clone(), None).await {
        Err(Error::InteractionRequired {
            classification,
            code,
            suberror,
            claims,
            ..
        }) => {
            assert_eq!(
                (classification, code, suberror.as_deref()),
                (
                    Classification::BasicAction,
                    Some(50076),
                    Some("basic_action")
                )
            );
            let claims = claims.expect("the MFA error carries claims");
            let request = InteractiveRequest {
                claims: Some(claims),
                login_hint: Some(account.username.clone()),
                ..Default::default()
            };
            let result = w
                .app
                .acquire_token_interactive(request, &ada)
                .await
                .unwrap();
            assert_eq!(result.account, account);
            assert_eq!(w.stat("login:mfa").await, 1, "the user approved MFA");
        }
        other => panic!("{other:?}"),
    }
    w.control("users/ada@tessera.test/mfa", json!({ "required": false }))
        .await;

    w.delete("users/ada@tessera.test/consent").await;
    assert_eq!(
        classification(w.app.acquire_token_silent(forced, None).await),
        (Classification::ConsentRequired, Some(65001))
    );
}

#[tokio::test]
async fn throttling_and_broken_responses_leave_the_cache_intact() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
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
    let cached = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await
        .unwrap();
    assert_eq!(
        (cached.source, &cached.access_token),
        (TokenSource::Cache, &recovered.access_token),
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
async fn claims_challenges_from_graph_are_answered_silently() {
    let w = world(Flavor::Entra, &["cp1"]).await;
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.control(
        "users/ada@tessera.test/claims-challenge",
        json!({ "kind": "nbf" }),
    )
    .await;
    let denied = w.me(first.access_token.secret()).await;
    assert_eq!(denied.status(), 401);
    let header = denied.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let encoded = header
        .split("claims=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"');
    use base64::Engine;
    let claims = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();

    let request = SilentRequest {
        claims: Some(claims),
        ..w.silent(&first.account)
    };
    let renewed = w.app.acquire_token_silent(request, None).await.unwrap();
    assert_eq!(
        renewed.source,
        TokenSource::RefreshToken,
        "a claims request skips the cache"
    );
    assert_eq!(w.me(renewed.access_token.secret()).await.status(), 200);
}

#[tokio::test]
async fn rotated_signing_keys_are_fetched_again() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    w.control("keys/rotate", json!({ "retire_old": true }))
        .await;
    let forced = SilentRequest {
        force_refresh: true,
        ..w.silent(&first.account)
    };
    let refreshed = w.app.acquire_token_silent(forced, None).await.unwrap();
    assert_eq!(
        refreshed.source,
        TokenSource::RefreshToken,
        "the new key's ID token validated"
    );
    assert_eq!(w.stat("keys").await, 2, "the JWKS was fetched again once");
}

#[tokio::test]
async fn the_same_chain_works_against_a_plain_oidc_provider() {
    let w = world(Flavor::Oidc, &[]).await;
    let alan = Browser::user("alan@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &alan)
        .await
        .unwrap();
    let issuer = w.idp.base_url().as_str().trim_end_matches('/').to_owned();
    assert_eq!(
        first.account.home_account_id,
        format!("7a9b3c2d-4e5f-4061-8273-9a8b7c6d5e4f.{issuer}"),
        "sub.issuer without client_info"
    );
    assert_eq!(first.account.realm, "");
    assert_eq!(
        w.app
            .acquire_token_silent(w.silent(&first.account), None)
            .await
            .unwrap()
            .source,
        TokenSource::Cache
    );
    w.advance(3600).await;
    assert_eq!(
        w.app
            .acquire_token_silent(w.silent(&first.account), None)
            .await
            .unwrap()
            .source,
        TokenSource::RefreshToken
    );
    w.control("users/alan@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    w.advance(3600).await;
    let sso = w
        .app
        .acquire_token_silent(w.silent(&first.account), Some(&alan))
        .await
        .unwrap();
    assert_eq!(sso.source, TokenSource::SilentSso);
}

#[tokio::test]
async fn cache_lookup_policies_limit_the_chain() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    let with = |policy| SilentRequest {
        cache_lookup_policy: policy,
        ..w.silent(&first.account)
    };
    assert_eq!(
        w.app
            .acquire_token_silent(with(CacheLookupPolicy::AccessToken), None)
            .await
            .unwrap()
            .source,
        TokenSource::Cache
    );
    assert_eq!(
        w.app
            .acquire_token_silent(with(CacheLookupPolicy::RefreshToken), None)
            .await
            .unwrap()
            .source,
        TokenSource::RefreshToken
    );
    w.advance(3600).await;
    let only_cache = w
        .app
        .acquire_token_silent(with(CacheLookupPolicy::AccessToken), None)
        .await;
    assert_eq!(
        classification(only_cache).0,
        Classification::NoTokens,
        "no network allowed"
    );
    let skip = w
        .app
        .acquire_token_silent(with(CacheLookupPolicy::Skip), Some(&ada))
        .await
        .unwrap();
    assert_eq!(skip.source, TokenSource::SilentSso);

    w.app.remove_account(&first.account).unwrap();
    assert!(w.app.accounts().is_empty());
    assert_eq!(
        classification(
            w.app
                .acquire_token_silent(w.silent(&first.account), None)
                .await
        )
        .0,
        Classification::NoTokens
    );
    assert!(matches!(
        w.app.remove_account(&first.account),
        Err(Error::AccountNotFound(_))
    ));
}

#[tokio::test]
async fn a_hundred_concurrent_silent_callers_cause_one_refresh() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
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
async fn events_follow_the_chain_and_carry_no_secret() {
    let w = world(Flavor::Entra, &[]).await;
    let mut events = w.app.subscribe();
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
    let cached = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await
        .unwrap();
    w.app
        .set_active_account(Some(&first.account.home_account_id))
        .unwrap();
    assert_eq!(w.app.active_account(), Some(first.account.clone()));
    w.app.remove_account(&first.account).unwrap();
    let missing = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await;
    assert!(missing.is_err());

    let mut seen = vec![];
    while let Ok(event) = events.try_recv() {
        let text = serde_json::to_string(&event).unwrap();
        assert!(
            !text.contains(first.access_token.secret())
                && !text.contains(cached.access_token.secret()),
            "{text}"
        );
        seen.push(
            serde_json::to_value(&event).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        seen,
        [
            "acquire_token_start",
            "interaction_status",
            "account_added",
            "interaction_status",
            "acquire_token_success",
            "acquire_token_start",
            "acquire_token_success",
            "active_account_changed",
            "account_removed",
            "active_account_changed",
            "acquire_token_start",
            "acquire_token_failure",
        ]
    );
}

/// A loopback agent whose "browser" is the scripted user agent: it first sends two stray
/// requests (wrong path, wrong state), then signs in and delivers the response. Resolves with
/// (stray statuses, what the browser was finally shown).
async fn loopback_with_script(
    script: Script,
) -> (
    LoopbackAgent,
    tokio::sync::oneshot::Receiver<((u16, u16), (u16, String))>,
) {
    let agent = LoopbackAgent::bind(true).await.unwrap();
    let redirect = agent.redirect_uri();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let ua = UserAgent::new(script);
    let agent = agent.with_opener(Arc::new(move |url: &Url| {
        let (ua, url, redirect, tx) = (ua.clone(), url.clone(), redirect.clone(), tx.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let wrong_path = http
                .get(redirect.join("favicon.ico").unwrap())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let wrong_state = http
                .get(format!("{redirect}?code=x&state=forged"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let outcome = ua.sign_in(&url, redirect.as_str()).await.unwrap();
            assert!(
                matches!(outcome, Outcome::FormPost { .. }),
                "the agent asks for form_post: {outcome:?}"
            );
            let shown = ua.deliver(&outcome).await.unwrap();
            let _ = tx
                .lock()
                .unwrap()
                .take()
                .unwrap()
                .send(((wrong_path, wrong_state), shown));
        });
        Ok(())
    }));
    (agent, rx)
}

#[tokio::test]
async fn the_system_browser_agent_answers_the_browser_after_redemption() {
    let w = world(Flavor::Entra, &[]).await;
    let (agent, shown) = loopback_with_script(Script::user("ada@tessera.test")).await;
    let mut events = w.app.subscribe();
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::Interactive);
    let ((wrong_path, wrong_state), (status, page)) = shown.await.unwrap();
    assert_eq!(
        (wrong_path, wrong_state),
        (404, 400),
        "strays are refused without ending the sign-in"
    );
    assert_eq!(status, 200);
    assert!(page.contains("You are signed in"), "{page}");
    let mut statuses = vec![];
    while let Ok(event) = events.try_recv() {
        if let tessera_auth::Event::InteractionStatus { status } = event {
            statuses.push(status);
        }
    }
    assert_eq!(statuses[0], tessera_auth::InteractionStatus::Redirect);

    let (declining, shown) = loopback_with_script(Script {
        accept_consent: false,
        ..Script::user("alan@tessera.test")
    })
    .await;
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &declining)
        .await;
    assert!(matches!(result, Err(Error::UserCancelled)), "{result:?}");
    let (_, (_, page)) = shown.await.unwrap();
    assert!(
        page.contains("could not complete"),
        "the browser shows the real outcome: {page}"
    );
}

#[tokio::test]
async fn the_system_browser_agent_gives_up_at_its_time_limit() {
    let w = world(Flavor::Entra, &[]).await;
    let agent = LoopbackAgent::bind(true)
        .await
        .unwrap()
        .with_time_limit(Duration::from_millis(500))
        .with_opener(Arc::new(|_: &Url| Ok(())));
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    let agent = LoopbackAgent::bind(true)
        .await
        .unwrap()
        .with_opener(Arc::new(|_: &Url| Err("no browser".into())));
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await;
    assert!(
        matches!(result, Err(Error::Network(ref m)) if m.contains("no browser")),
        "{result:?}"
    );
}

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
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
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
    let served = w
        .app
        .acquire_token_silent(w.silent(&first.account), None)
        .await
        .unwrap();
    assert_eq!(
        (served.source, &served.access_token),
        (TokenSource::Cache, &first.access_token),
        "served at once"
    );
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

#[tokio::test]
async fn several_accounts_side_by_side_and_sign_out_everywhere() {
    let w = world(Flavor::Entra, &[]).await;
    let ada_browser = Browser::user("ada@tessera.test");
    let ada = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada_browser)
        .await
        .unwrap();
    // "Add another account": the same browser, the account picker, another user.
    let alan_browser = Browser(ada_browser.0.with_script(Script::user("alan@tessera.test")));
    let request = InteractiveRequest {
        prompt: Some(tessera_auth::Prompt::SelectAccount),
        ..Default::default()
    };
    let alan = w
        .app
        .acquire_token_interactive(request, &alan_browser)
        .await
        .unwrap();
    assert_ne!(ada.account.home_account_id, alan.account.home_account_id);
    assert_eq!(w.app.accounts().len(), 2);
    assert_eq!(
        ada.account.tenant_profiles,
        vec![tessera_auth::TenantProfile {
            tenant_id: DEFAULT_TENANT_ID.into(),
            local_account_id: ADA_OID.into(),
            is_home_tenant: true,
        }]
    );

    for (result, name) in [(&ada, "Ada Lovelace"), (&alan, "Alan Turing")] {
        let silent = w
            .app
            .acquire_token_silent(w.silent(&result.account), None)
            .await
            .unwrap();
        assert_eq!(silent.source, TokenSource::Cache);
        let me: Value = w
            .me(silent.access_token.secret())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["displayName"], name, "each account gets its own token");
    }

    let end_session = w
        .app
        .end_session_url(&ada.account, None)
        .await
        .unwrap()
        .expect("the provider has one");
    assert!(
        end_session
            .as_str()
            .starts_with(&format!("{}/oauth2/v2.0/logout", w.idp.authority())),
        "{end_session}"
    );
    assert!(end_session
        .query_pairs()
        .any(|(k, v)| k == "logout_hint" && v == "ada@tessera.test"));
    assert_eq!(ada_browser.0.visit(&end_session).await.unwrap(), 200);
    w.app.remove_account(&ada.account).unwrap();
    assert_eq!(
        w.app.accounts(),
        vec![alan.account.clone()],
        "the other account stays"
    );

    // The provider's session is gone too: signing Ada in again asks for her password.
    let again = InteractiveRequest {
        login_hint: Some("ada@tessera.test".into()),
        ..Default::default()
    };
    w.app
        .acquire_token_interactive(again, &ada_browser)
        .await
        .unwrap();
    assert_eq!(
        w.stat("login:credentials").await,
        3,
        "Ada, Alan, then Ada again after the sign-out"
    );
}

#[tokio::test]
async fn concurrent_silent_sso_opens_one_hidden_sign_in() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let first = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &ada)
        .await
        .unwrap();
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

#[tokio::test]
async fn extra_scopes_are_consented_up_front_and_one_request_is_one_resource() {
    let w = world(Flavor::Entra, &[]).await;
    let ada = Browser::user("ada@tessera.test");
    let api = "api://tessera-demo/access_as_user".to_owned();
    let request = InteractiveRequest {
        extra_scopes_to_consent: vec![api.clone()],
        ..Default::default()
    };
    let first = w
        .app
        .acquire_token_interactive(request, &ada)
        .await
        .unwrap();
    assert!(
        first.scopes.iter().any(|s| s == "User.Read"),
        "the token is for Graph: {:?}",
        first.scopes
    );

    // The API was consented to at sign-in: its token comes silently.
    let for_api = w
        .app
        .acquire_token_silent(
            SilentRequest::new(first.account.clone(), vec![api.clone()]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(for_api.source, TokenSource::RefreshToken);
    assert!(for_api.scopes.contains(&api), "{:?}", for_api.scopes);
    // And both tokens stay cached side by side.
    assert_eq!(
        w.app
            .acquire_token_silent(w.silent(&first.account), None)
            .await
            .unwrap()
            .source,
        TokenSource::Cache
    );

    let mixed = SilentRequest::new(first.account.clone(), vec!["User.Read".into(), api]);
    let before = w.stat("token").await;
    assert!(
        matches!(w.app.acquire_token_silent(mixed, None).await, Err(Error::Configuration(m)) if m.contains("one resource"))
    );
    assert_eq!(w.stat("token").await, before, "refused before any request");
}
