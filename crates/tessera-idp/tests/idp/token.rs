//! The token endpoint: code redemption, refresh with rotation, the bad inputs, the faults.

use reqwest::StatusCode;
use tessera_idp::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID};
use tessera_test_support::user_agent::{Script, UserAgent};

use crate::*;
use tessera_idp::behaviour::RefreshTokenReuse;
use tessera_idp::Behaviour;

#[tokio::test]
async fn a_code_redeems_once_for_entra_shaped_tokens() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let code = f.sign_in(&agent, &[]).await.param("code").unwrap();
    let (status, body) = f.redeem(&code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"], "User.Read openid profile",
        "granted scopes, offline_access not echoed"
    );
    assert!(body["expires_in"].as_i64().unwrap() > 3000);
    assert!(body["ext_expires_in"].is_i64());
    assert!(
        body["refresh_token"].is_string(),
        "offline_access was asked"
    );

    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], DEFAULT_CLIENT_ID);
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["tid"], DEFAULT_TENANT_ID);
    assert_eq!(id["oid"], "0d1c6a5e-2f4b-4a8e-9c3d-1b7e5f9a2c40");
    assert_eq!(id["preferred_username"], "ada@tessera.test");
    assert_eq!(id["name"], "Ada Lovelace");
    assert_eq!(
        id["iss"],
        format!("{}{DEFAULT_TENANT_ID}/v2.0", f.idp.base_url())
    );
    assert_eq!(id["sub"].as_str().unwrap().len(), 43, "pairwise subject");

    let info: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(body["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info, json!({ "uid": id["oid"], "utid": DEFAULT_TENANT_ID }));

    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        access["aud"], "00000003-0000-0000-c000-000000000000",
        "Graph's app id"
    );
    assert_eq!(access["scp"], "User.Read openid profile");
    assert_eq!(access["azp"], DEFAULT_CLIENT_ID);
    assert!(
        access.get("xms_cc").is_none(),
        "no capabilities were declared"
    );

    let (status, again) = f.redeem(&code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant");
    assert_eq!(aadsts(&again), 54005, "codes are single-use");
    assert!(again["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS54005:"));
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(
            again[field].is_string(),
            "Entra error bodies carry {field}: {again}"
        );
    }
    let stats = f.stats().await;
    assert_eq!(stats["token:authorization_code"], 2);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_spent_one_is_refused() {
    let f = fixture_with_options(IdpOptions {
        behaviour: Some(Behaviour {
            refresh_token_reuse: RefreshTokenReuse::RotateAndRefuse,
            ..Behaviour::entra()
        }),
        ..IdpOptions::default()
    })
    .await;
    let first = f.tokens_for("ada@tessera.test").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = f.refresh(rt1, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "each use returns a new refresh token");
    assert!(second["id_token"].is_string());
    assert!(
        claims(second["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none(),
        "no nonce on refresh"
    );

    let (status, reused) = f.refresh(rt1, SCOPE).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reused["error"], "invalid_grant");
    let (status, third) = f.refresh(rt2, SCOPE).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the newest one still works: {third}"
    );
    assert_eq!(f.stats().await["token:refresh_token"], 3);

    // Refresh for a resource that was never consented.
    let (status, body) = f
        .refresh(third["refresh_token"].as_str().unwrap(), "Mail.Read")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("invalid_grant"), 65001)
    );
    assert_eq!(body["suberror"], "consent_required");
}

#[tokio::test]
async fn bad_redemptions_get_clear_errors_and_the_server_keeps_serving() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let code = f.sign_in(&agent, &[]).await.param("code").unwrap();
    let base = vec![
        ("grant_type", "authorization_code"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let with = |k: &'static str, v: &'static str| {
        let mut form = base.clone();
        form.retain(|(name, _)| *name != k);
        if !v.is_empty() {
            form.push((k, v));
        }
        form
    };
    for (form, status, error, code) in [
        (
            with(
                "code_verifier",
                "the-wrong-verifier-the-wrong-verifier-0000000",
            ),
            400,
            "invalid_grant",
            50148,
        ),
        (with("code_verifier", ""), 400, "invalid_request", 900144),
        (
            with("redirect_uri", "http://localhost:1/other"),
            400,
            "invalid_grant",
            70000,
        ),
        (
            with("client_id", "00000000-0000-0000-0000-000000000000"),
            400,
            "unauthorized_client",
            700016,
        ),
        (with("client_id", ""), 400, "invalid_request", 900144),
        (with("grant_type", ""), 400, "invalid_request", 900144),
        (
            with("grant_type", "password"),
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            with("client_secret", "s3cret"),
            401,
            "invalid_client",
            700025,
        ),
        (with("code", "made-up"), 400, "invalid_grant", 70000),
        (
            with("scope", "User.Read api://tessera-demo/access_as_user"),
            400,
            "invalid_scope",
            28000,
        ),
        (with("claims", "{oops"), 400, "invalid_request", 9002313),
    ] {
        let (got, body) = f.post_token(&form).await;
        assert_eq!(got.as_u16(), status, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}");
        assert_eq!(aadsts(&body), code, "{form:?}");
    }
    // Not a form at all.
    let r = f
        .http
        .post(f.token_url())
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = f
        .http
        .post(f.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0xc3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // After all that, the untouched code still redeems: failed attempts do not burn it.
    let (status, _) = f.redeem(&code).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_old_code_is_expired() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let code = f.sign_in(&agent, &[]).await.param("code").unwrap();
    f.post_control("clock", json!({ "skew_seconds": 11 * 60 }))
        .await;
    let (_, body) = f.redeem(&code).await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("invalid_grant"), 70008)
    );
}

#[tokio::test]
async fn revoked_expired_and_mfa_refreshes_fail_as_entra_classifies_them() {
    let f = fixture().await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

    f.post_control("users/ada@tessera.test/mfa", json!({ "required": true }))
        .await;
    let (_, body) = f.refresh(&rt, SCOPE).await;
    // At the token endpoint Entra's word is invalid_grant with the suberror (MSAL Python's
    // fixture, tests/test_application.py); interaction_required is the authorize endpoint's.
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(aadsts(&body), 50076);
    assert_eq!(body["suberror"], "basic_action");
    assert!(
        body["claims"].as_str().unwrap().contains("capolids"),
        "{body}"
    );

    // Signing in again with MFA approved satisfies the policy for the new refresh token.
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let code = f.sign_in(&agent, &[]).await.param("code").unwrap();
    assert_eq!(f.stats().await["login:mfa"], 1, "the MFA page was shown");
    let (_, with_mfa) = f.redeem(&code).await;
    assert!(claims(with_mfa["access_token"].as_str().unwrap())["amr"]
        .as_array()
        .unwrap()
        .contains(&json!("mfa")));
    let mfa_rt = with_mfa["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = f.refresh(&mfa_rt, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    f.post_control("users/ada@tessera.test/mfa", json!({ "required": false }))
        .await;

    let current = refreshed["refresh_token"].as_str().unwrap().to_owned();
    f.post_control("users/ada@tessera.test/refresh-tokens/expire", json!({}))
        .await;
    let (_, body) = f.refresh(&current, SCOPE).await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("invalid_grant"), 700082)
    );

    let fresh = f.tokens_for("ada@tessera.test").await;
    f.post_control("users/ada@tessera.test/refresh-tokens/revoke", json!({}))
        .await;
    let (_, body) = f
        .refresh(fresh["refresh_token"].as_str().unwrap(), SCOPE)
        .await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("invalid_grant"), 50173)
    );

    // Tokens issued after the revocation work again.
    let after = f.tokens_for("ada@tessera.test").await;
    let (status, latest) = f
        .refresh(after["refresh_token"].as_str().unwrap(), SCOPE)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = f
        .control(
            reqwest::Method::DELETE,
            "users/ada@tessera.test/consent",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = f
        .refresh(latest["refresh_token"].as_str().unwrap(), SCOPE)
        .await;
    assert_eq!(
        (aadsts(&body), body["suberror"].as_str()),
        (65001, Some("consent_required"))
    );
}

#[tokio::test]
async fn lifetimes_and_refresh_in_are_adjustable() {
    let f = fixture().await;
    f.post_control(
        "lifetimes",
        json!({ "access_token": 7200, "refresh_in": 3600 }),
    )
    .await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    assert_eq!(tokens["expires_in"], 7200);
    assert_eq!(tokens["refresh_in"], 3600);
    f.post_control(
        "lifetimes",
        json!({ "refresh_in": null, "refresh_token": 1 }),
    )
    .await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    assert!(tokens.get("refresh_in").is_none());
    f.post_control("clock", json!({ "skew_seconds": 5 })).await;
    let (_, body) = f
        .refresh(tokens["refresh_token"].as_str().unwrap(), SCOPE)
        .await;
    assert_eq!(
        aadsts(&body),
        700082,
        "a refresh token past its lifetime: {body}"
    );
}

#[tokio::test]
async fn injected_faults_answer_instead_of_the_endpoint_and_change_nothing() {
    let f = fixture().await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    f.post_control(
        "faults",
        json!([
            { "target": "token", "kind": "status", "status": 429, "retry_after": 7, "count": 2 },
            { "target": "token", "kind": "status", "status": 503 },
        ]),
    )
    .await;
    for expected in [429, 429, 503] {
        let r = f
            .http
            .post(f.token_url())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("refresh_token", &rt),
                ("scope", SCOPE),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected);
        if expected == 429 {
            assert_eq!(r.headers()["retry-after"], "7");
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    let (status, _) = f.refresh(&rt, SCOPE).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token was not rotated by the failed calls"
    );

    let fresh = f.tokens_for("ada@tessera.test").await;
    let rt = fresh["refresh_token"].as_str().unwrap().to_owned();
    let send = || {
        f.http
            .post(f.token_url())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("refresh_token", rt.as_str()),
                ("scope", SCOPE),
            ])
            .send()
    };

    f.post_control("faults", json!({ "target": "token", "kind": "malformed" }))
        .await;
    let r = send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err(),
        "an HTML body"
    );

    f.post_control("faults", json!({ "target": "token", "kind": "truncated" }))
        .await;
    let text = send().await.unwrap().text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "a cut JSON body: {text}"
    );

    f.post_control("faults", json!({ "target": "token", "kind": "reset" }))
        .await;
    let result = async { send().await?.text().await }.await;
    assert!(result.is_err(), "the connection drops mid-body: {result:?}");

    f.post_control(
        "faults",
        json!({ "target": "token", "kind": "delay", "millis": 300 }),
    )
    .await;
    let started = std::time::Instant::now();
    let r = send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a delay still answers");
    assert!(started.elapsed().as_millis() >= 300);
    let body: Value = r.json().await.unwrap();

    f.post_control(
        "faults",
        json!({ "target": "token", "kind": "omit", "field": "expires_in" }),
    )
    .await;
    let (status, body) = f
        .refresh(body["refresh_token"].as_str().unwrap(), SCOPE)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.get("expires_in").is_none() && body["access_token"].is_string(),
        "{body}"
    );

    let (_, left) = f.control(reqwest::Method::GET, "faults", None).await;
    assert_eq!(left, json!([]), "every fault was used up");
}

#[tokio::test]
async fn correlation_ids_are_echoed() {
    let f = fixture().await;
    let r = f
        .http
        .post(f.token_url())
        .header("client-request-id", "4b1e2c9a-0000-4000-8000-000000000001")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("refresh_token", "x"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["client-request-id"],
        "4b1e2c9a-0000-4000-8000-000000000001"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["correlation_id"],
        "4b1e2c9a-0000-4000-8000-000000000001"
    );
    assert_eq!(aadsts(&body), 9002313);
}

#[tokio::test]
async fn faults_hit_discovery_keys_and_authorize_too() {
    let f = fixture().await;
    f.post_control(
        "faults",
        json!([
            { "target": "discovery", "kind": "status", "status": 503, "retry_after": 1 },
            { "target": "keys", "kind": "malformed" },
            { "target": "authorize", "kind": "status", "status": 500 },
        ]),
    )
    .await;
    let discovery = f.idp.url("common/v2.0/.well-known/openid-configuration");
    let r = f.http.get(discovery.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    assert_eq!(
        f.http.get(discovery).send().await.unwrap().status(),
        StatusCode::OK,
        "one use only"
    );

    let keys = f
        .http
        .get(f.idp.url("common/discovery/v2.0/keys"))
        .send()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&keys.text().await.unwrap()).is_err());

    let r = f.http.get(f.authorize_url(&[])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().await.unwrap().contains("unavailable"));
    assert_eq!(f.stats().await["discovery"], 2);
}

// Entra: "refresh tokens aren't revoked when used to acquire new access tokens" (Microsoft
// Learn, "Refresh tokens in the Microsoft identity platform").
#[tokio::test]
async fn on_entra_a_used_refresh_token_stays_valid_and_a_new_one_comes_back() {
    let f = fixture().await;
    let first = f.tokens_for("ada@tessera.test").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = f.refresh(rt1, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(
        second["refresh_token"].as_str().unwrap(),
        rt1,
        "a new one comes back"
    );
    let (status, again) = f.refresh(rt1, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "the old one is still good: {again}");
}

// RFC 9700 §4.14.2: a spent refresh token used again revokes the whole grant.
#[tokio::test]
async fn reuse_detection_revokes_the_whole_grant() {
    let f = fixture_with_options(IdpOptions {
        flavor: Flavor::Oidc,
        behaviour: Some(Behaviour {
            refresh_token_reuse: RefreshTokenReuse::RotateAndRevokeGrant,
            ..Behaviour::oidc()
        }),
        ..IdpOptions::default()
    })
    .await;
    let first = f.tokens_for("ada@tessera.test").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let (_, second) = f.refresh(rt1, SCOPE).await;
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    let (status, reused) = f.refresh(rt1, SCOPE).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, newest) = f.refresh(&rt2, SCOPE).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the newest token went with the grant: {newest}"
    );
    assert_eq!(f.stats().await["token:refresh_token:reuse_detected"], 1);
}

// The "provider B" switches: a refresh answer without refresh token or scope, opaque access
// tokens that its userinfo endpoint still knows, and `invalid_request` for an unknown token.
#[tokio::test]
async fn provider_b_answers_refreshes_minimally_with_opaque_tokens() {
    // Provider B matches redirect URIs exactly: the fixture's own is registered as it is.
    let mut seed = tessera_idp::Seed::default();
    seed.clients[0].redirect_uris.push(REDIRECT.to_owned());
    let f = fixture_with_options(IdpOptions {
        flavor: Flavor::Oidc,
        behaviour: Some(Behaviour::provider_b()),
        seed,
        ..IdpOptions::default()
    })
    .await;
    let first = f.tokens_for("ada@tessera.test").await;
    let access = first["access_token"].as_str().unwrap();
    assert!(!access.contains('.'), "opaque: {access}");
    let id = claims(first["id_token"].as_str().unwrap());
    assert_eq!(
        id["aud"],
        json!([DEFAULT_CLIENT_ID, "https://api.tessera.test"])
    );
    assert_eq!(id["azp"], DEFAULT_CLIENT_ID);
    assert!(id.get("name").is_none(), "profile claims only at userinfo");
    let info: Value = f
        .http
        .get(f.idp.url("userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["sub"].clone(), info["name"].as_str()),
        (id["sub"].clone(), Some("Ada Lovelace"))
    );
    let rt = first["refresh_token"].as_str().unwrap();
    let (status, second) = f.refresh(rt, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert!(
        second.get("refresh_token").is_none() && second.get("scope").is_none(),
        "{second}"
    );
    let (status, _) = f.refresh(rt, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "the old refresh token stays valid");
    let (status, unknown) = f.refresh("no-such-token", SCOPE).await;
    assert_eq!(
        (status, unknown["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}
