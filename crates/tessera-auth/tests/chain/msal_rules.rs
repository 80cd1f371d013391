//! MSAL's rules for throttling, retries, the silent chain's fallbacks and the headers Entra
//! gets (issue 20, points 7–9). Each test names the MSAL source or the specification clause
//! it reproduces; each failed on the engine before them.

use std::time::{Duration, SystemTime};

use super::*;

fn forced(w: &World, account: &tessera_auth::Account) -> SilentRequest {
    SilentRequest {
        force_refresh: true,
        ..w.silent(account)
    }
}

fn throttled_for(result: &Result<tessera_auth::AuthenticationResult, Error>) -> Duration {
    match result {
        Err(Error::Throttled { retry_after }) => *retry_after,
        other => panic!("expected Throttled, got {other:?}"),
    }
}

/// msal-common `ThrottlingUtils.checkResponseStatus`: any 5xx throttles its request, for 60 s
/// without `Retry-After` (`DEFAULT_THROTTLE_TIME_SECONDS`). The one retry MSAL.NET's
/// `HttpManager` makes comes first.
#[tokio::test]
async fn a_5xx_without_retry_after_throttles_the_request_for_a_minute() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 502, "count": 20 }),
    )
    .await;
    let before = w.stat("token").await;
    let failed = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert!(matches!(&failed, Err(e) if e.is_transient()), "{failed:?}");
    assert_eq!(
        w.stat("token").await,
        before + 2,
        "the request and one retry"
    );
    for _ in 0..4 {
        let held = w
            .app
            .acquire_token_silent(forced(&w, &first.account), None)
            .await;
        let wait = throttled_for(&held);
        assert!(
            wait <= Duration::from_secs(60) && wait >= Duration::from_secs(50),
            "{wait:?}"
        );
    }
    assert_eq!(
        w.stat("token").await,
        before + 2,
        "nothing sent while throttled"
    );
    // The cached token still serves: throttling holds back the network, not the cache.
    from_cache(&w.app, &first.account).await;
    w.delete("faults").await;
    w.advance(61).await;
    let renewed = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .unwrap();
    assert_eq!(renewed.source, TokenSource::RefreshToken);
}

/// RFC 9110 §10.2.3: `Retry-After` is delay-seconds or an HTTP-date. msal-common throttles
/// any non-2xx answer that carries one (`checkResponseForRetryAfter`), for at most an hour
/// (`DEFAULT_MAX_THROTTLE_TIME_SECONDS`).
#[tokio::test]
async fn retry_after_throttles_as_a_date_on_any_status_and_for_at_most_an_hour() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;

    let in_two_minutes = SystemTime::now() + Duration::from_secs(120);
    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 503, "retry_after": httpdate::fmt_http_date(in_two_minutes) }),
    )
    .await;
    let answered = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    let wait = throttled_for(&answered);
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    let before = w.stat("token").await;
    let held = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert!(
        throttled_for(&held) > Duration::from_secs(100),
        "the date, not 60 s"
    );
    assert_eq!(w.stat("token").await, before);
    w.advance(121).await;
    w.app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .unwrap();

    // A 400 with Retry-After: the answer is the provider's error, and the request waits.
    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 400, "retry_after": 30 }),
    )
    .await;
    let refused = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert!(matches!(refused, Err(Error::Server(_))), "{refused:?}");
    let before = w.stat("token").await;
    let held = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert!(throttled_for(&held) <= Duration::from_secs(30));
    assert_eq!(
        w.stat("token").await,
        before,
        "nothing sent before Retry-After"
    );
    w.advance(31).await;

    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 429, "retry_after": 99999 }),
    )
    .await;
    let answered = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert_eq!(
        throttled_for(&answered),
        Duration::from_secs(3600),
        "capped"
    );
    let held = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert!(throttled_for(&held) <= Duration::from_secs(3600));
}

/// MSAL.NET `UiRequiredProvider`: an interaction-required answer is remembered for 120 s,
/// keyed on the request and the refresh token it sent, so silent calls do not resend a
/// refresh token the provider just refused; a new sign-in (another refresh token) is not
/// answered from that memory.
#[tokio::test]
async fn a_refused_refresh_token_is_not_resent_for_two_minutes_and_a_new_sign_in_is_not_held_back()
{
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    w.control("users/ada@tessera.test/mfa", json!({ "required": true }))
        .await;
    let before = w.stat("token:refresh_token").await;
    let refused = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert_eq!(classification(refused).0, Classification::BasicAction);
    assert_eq!(w.stat("token:refresh_token").await, before + 1);
    for _ in 0..3 {
        let again = w
            .app
            .acquire_token_silent(forced(&w, &first.account), None)
            .await;
        assert_eq!(
            classification(again).0,
            Classification::BasicAction,
            "remembered"
        );
    }
    assert_eq!(
        w.stat("token:refresh_token").await,
        before + 1,
        "the refused refresh token was not sent again"
    );
    // Two minutes on, the provider is asked again.
    w.advance(121).await;
    let asked = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await;
    assert_eq!(classification(asked).0, Classification::BasicAction);
    assert_eq!(w.stat("token:refresh_token").await, before + 2);

    // The user signs in (with MFA); the new refresh token is redeemed at once.
    w.app
        .acquire_token_interactive(
            InteractiveRequest {
                login_hint: Some(first.account.username.clone()),
                ..Default::default()
            },
            &ada,
        )
        .await
        .unwrap();
    let renewed = w
        .app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .unwrap();
    assert_eq!(renewed.source, TokenSource::RefreshToken);
}

/// MSAL.NET `HttpManager` retries a 5xx once after a second, and for every token request: a
/// blip while the code is redeemed does not lose a sign-in the user has just finished.
#[tokio::test]
async fn a_5xx_while_the_code_is_redeemed_is_retried_and_the_sign_in_kept() {
    let w = world(Flavor::Entra, &[]).await;
    w.control(
        "faults",
        json!({ "target": "token", "kind": "status", "status": 500, "count": 1 }),
    )
    .await;
    let (_, result) = w.sign_in("ada@tessera.test").await;
    assert_eq!(result.source, TokenSource::Interactive);
    assert_eq!(w.stat("token").await, 2, "the failed request and its retry");
    assert_eq!(w.stat("token:authorization_code").await, 1);
}

/// msal-browser `checkIfRefreshTokenErrorCanBeResolvedSilently`: only a refresh token that
/// is gone, expired, revoked or `bad_token` (no interaction suberror) is worth a hidden
/// window. Multi-factor authentication demanded at the token endpoint comes back at once with
/// its claims (for the interactive request), and no hidden window is opened.
#[tokio::test]
async fn multi_factor_demanded_at_refresh_skips_the_hidden_window_and_keeps_the_claims() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    w.control("users/ada@tessera.test/mfa", json!({ "required": true }))
        .await;
    let outcome = w
        .app
        .acquire_token_silent(forced(&w, &first.account), Some(&ada))
        .await;
    match outcome {
        Err(Error::InteractionRequired {
            suberror, claims, ..
        }) => {
            assert_eq!(suberror.as_deref(), Some("basic_action"));
            let claims = claims.expect("the token endpoint's claims are kept");
            assert!(
                claims.contains("capolids"),
                "the MFA policy's claims: {claims}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.stat("authorize:prompt=none").await, 0, "no hidden window");

    // Consent withdrawn: the same (past the two minutes the MFA answer is remembered).
    w.control("users/ada@tessera.test/mfa", json!({ "required": false }))
        .await;
    w.delete("users/ada@tessera.test/consent").await;
    w.advance(121).await;
    let outcome = w
        .app
        .acquire_token_silent(forced(&w, &first.account), Some(&ada))
        .await;
    assert_eq!(classification(outcome).0, Classification::ConsentRequired);
    assert_eq!(w.stat("authorize:prompt=none").await, 0);
}

/// The converse, as a regression test: a revoked refresh token (`bad_token`) is what the
/// provider's session can answer, so the hidden window is tried, and serves.
#[tokio::test]
async fn a_revoked_refresh_token_is_answered_by_the_hidden_window() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    w.control("users/ada@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    let result = w
        .app
        .acquire_token_silent(forced(&w, &first.account), Some(&ada))
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::SilentSso);
    assert_eq!(w.stat("authorize:prompt=none").await, 1);
}

/// What MSAL sends Entra besides the grant: `x-ms-lib-capability: retry-after, h429`
/// (msal-common `ThrottlingConstants`), `x-client-SKU`/`-VER`/`-OS`, `X-AnchorMailbox:
/// Oid:{uid}@{utid}` on redemption (from the authorization response's `client_info`) and on
/// refresh (msal-common `addCcsOid`), and the correlation id on the authorize URL.
#[tokio::test]
async fn entra_gets_msals_headers_and_the_account_anchor() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    assert_eq!(w.stat("authorize:client-request-id").await, 1);
    assert_eq!(w.stat("token:x-ms-lib-capability").await, 1);
    assert_eq!(w.stat("token:x-client-sku").await, 1);
    assert_eq!(w.stat("token:x-anchormailbox").await, 1, "on redemption");
    w.app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .unwrap();
    assert_eq!(w.stat("token:x-anchormailbox").await, 2, "on refresh");
    assert_eq!(w.stat("token:x-anchormailbox:other").await, 0);
    assert_eq!(w.stat("token:x-ms-lib-capability").await, 2);
}

/// And none of it to a provider that is not Microsoft's: the headers mean nothing there and
/// would only say what software the user runs.
#[tokio::test]
async fn other_providers_get_none_of_microsofts_headers() {
    let w = world(Flavor::Oidc, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    w.app
        .acquire_token_silent(forced(&w, &first.account), None)
        .await
        .unwrap();
    for stat in [
        "authorize:client-request-id",
        "token:x-ms-lib-capability",
        "token:x-client-sku",
        "token:x-anchormailbox",
        "token:x-anchormailbox:other",
    ] {
        assert_eq!(w.stat(stat).await, 0, "{stat}");
    }
}
