//! Graph `/me` and the photo behind bearer-token validation, claims challenges, key rotation.

use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use tessera_idp::DEFAULT_CLIENT_ID;
use tessera_test_support::user_agent::{Script, UserAgent};

use crate::*;

fn www_authenticate(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn me_returns_the_profile_and_honours_select() {
    let f = fixture().await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    let at = tokens["access_token"].as_str().unwrap();
    let r = f.me(at).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["displayName"], "Ada Lovelace");
    assert_eq!(me["userPrincipalName"], "ada@tessera.test");
    assert_eq!(me["jobTitle"], "Analyst of the Engine");
    assert!(me["businessPhones"].is_array());
    assert_eq!(
        me["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    );

    let selected: Value = f
        .http
        .get(f.idp.url("v1.0/me?$select=displayName,MAIL"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(selected["displayName"], "Ada Lovelace");
    assert_eq!(selected["mail"], "ada@tessera.test");
    assert!(selected.get("jobTitle").is_none());
    let r = f
        .http
        .get(f.idp.url("v1.0/me?$select=shoeSize"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(f.stats().await["graph:me"], 3);
}

#[tokio::test]
async fn photos_are_jpeg_or_404() {
    let f = fixture().await;
    let ada = f.tokens_for("ada@tessera.test").await;
    let at = ada["access_token"].as_str().unwrap();
    for path in [
        "v1.0/me/photo/$value",
        "v1.0/me/photos/96x96/$value",
        "v1.0/me/photos/240x240/$value",
    ] {
        let r = f
            .http
            .get(f.idp.url(path))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        assert!(
            r.bytes().await.unwrap().starts_with(&[0xff, 0xd8, 0xff]),
            "{path} is a JPEG"
        );
    }
    let r = f
        .http
        .get(f.idp.url("v1.0/me/photos/7x7/$value"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let alan = f.tokens_for("alan@tessera.test").await;
    let r = f
        .http
        .get(f.idp.url("v1.0/me/photo/$value"))
        .bearer_auth(alan["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ImageNotFound");
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_bearer_challenge() {
    let f = fixture().await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    let at = tokens["access_token"].as_str().unwrap();

    let r = f.http.get(f.idp.url("v1.0/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        www_authenticate(&r).starts_with("Bearer "),
        "{}",
        www_authenticate(&r)
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    // Tampered payload, same signature.
    let parts: Vec<&str> = at.split('.').collect();
    let mut forged = claims(at);
    forged["oid"] = json!("7a9b3c2d-4e5f-4061-8273-9a8b7c6d5e4f");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_eq!(f.me(&forged).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(f.me("not-a-jwt").await.status(), StatusCode::UNAUTHORIZED);

    // A token for another API is not a Graph token.
    let (_, api) = f
        .refresh(
            tokens["refresh_token"].as_str().unwrap(),
            "api://tessera-demo/access_as_user",
        )
        .await;
    assert_eq!(
        api["error"], "invalid_grant",
        "no consent for the API yet: {api}"
    );

    // An expired token: move the provider's clock past its lifetime.
    f.post_control("clock", json!({ "skew_seconds": 3601 }))
        .await;
    let r = f.me(at).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_without_a_profile_permission_is_forbidden() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let code = f
        .sign_in(&agent, &[("scope", "Mail.Read openid offline_access")])
        .await
        .param("code")
        .unwrap();
    let (_, tokens) = f.redeem(&code).await;
    assert_eq!(tokens["scope"], "Mail.Read openid");
    let r = f.me(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "Graph answers 403 for a missing permission"
    );
}

#[tokio::test]
async fn claims_challenges_reach_cp1_clients_until_a_token_satisfies_them() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let cp1 = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
    let code = f
        .sign_in(&agent, &[("claims", cp1)])
        .await
        .param("code")
        .unwrap();
    let (_, tokens) = f.redeem(&code).await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["xms_cc"], json!(["cp1"]));
    let plain = f.tokens_for("ada@tessera.test").await;

    // CAE nbf challenges compare whole seconds: make sure the event is after issuance.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    f.post_control(
        "users/ada@tessera.test/claims-challenge",
        json!({ "kind": "nbf" }),
    )
    .await;
    let r = f.me(at).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let header = www_authenticate(&r);
    assert!(header.contains("error=\"insufficient_claims\""), "{header}");
    let encoded = header
        .split("claims=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"');
    let challenge: Value = serde_json::from_slice(&STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(challenge["access_token"]["nbf"]["essential"], true);

    assert_eq!(
        f.me(plain["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK,
        "clients without cp1 are not challenged"
    );

    let (status, renewed) = f.post_token(&[
        ("grant_type", "refresh_token"), ("client_id", DEFAULT_CLIENT_ID),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("scope", SCOPE),
        ("claims", &serde_json::to_string(&json!({ "access_token": { "xms_cc": { "values": ["cp1"] }, "nbf": challenge["access_token"]["nbf"] } })).unwrap()),
    ]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        f.me(renewed["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK,
        "a token issued after the event passes"
    );

    f.post_control(
        "users/ada@tessera.test/claims-challenge",
        json!({ "kind": "acrs", "value": "c1" }),
    )
    .await;
    let r = f.me(renewed["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let acrs = json!({ "access_token": { "xms_cc": { "values": ["cp1"] }, "acrs": { "essential": true, "value": "c1" } } });
    let (_, stepped_up) = f
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("refresh_token", renewed["refresh_token"].as_str().unwrap()),
            ("scope", SCOPE),
            ("claims", &acrs.to_string()),
        ])
        .await;
    assert_eq!(
        f.me(stepped_up["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let (status, _) = f
        .control(
            reqwest::Method::DELETE,
            "users/ada@tessera.test/claims-challenge",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired() {
    let f = fixture().await;
    let old = f.tokens_for("ada@tessera.test").await;
    let old_at = old["access_token"].as_str().unwrap().to_owned();
    let rotated = f.post_control("keys/rotate", json!({})).await;
    let keys: Value = f
        .http
        .get(format!("{}/discovery/v2.0/keys", f.authority))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert_eq!(keys["keys"][0]["kid"], rotated["kid"]);
    assert_eq!(f.me(&old_at).await.status(), StatusCode::OK);

    let new = f.tokens_for("ada@tessera.test").await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(new["id_token"].as_str().unwrap().split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["kid"], rotated["kid"],
        "new tokens are signed with the new key"
    );

    f.post_control("keys/rotate", json!({ "retire_old": true }))
        .await;
    assert_eq!(f.me(&old_at).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn graph_faults() {
    let f = fixture().await;
    let tokens = f.tokens_for("ada@tessera.test").await;
    let at = tokens["access_token"].as_str().unwrap();
    f.post_control(
        "faults",
        json!({ "target": "graph", "kind": "status", "status": 429, "retry_after": 3 }),
    )
    .await;
    let r = f.me(at).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "TooManyRequests"
    );
    assert_eq!(f.me(at).await.status(), StatusCode::OK);
}
