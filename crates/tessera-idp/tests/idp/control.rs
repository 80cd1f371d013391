//! The control API refuses bad input clearly.

use reqwest::{Method, StatusCode};

use crate::*;

#[tokio::test]
async fn bad_control_requests_say_what_is_wrong() {
    let f = fixture().await;
    let (status, body) = f
        .control(
            Method::POST,
            "users/nobody@tessera.test/mfa",
            Some(json!({ "required": true })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("unknown user"));

    let (status, body) = f
        .control(
            Method::POST,
            "lifetimes",
            Some(json!({ "access_token": -5 })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = f
        .control(Method::POST, "lifetimes", Some(json!({ "acess_token": 5 })))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a misspelt field is refused: {body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("acess_token"),
        "{body}"
    );

    let (status, body) = f
        .control(
            Method::POST,
            "faults",
            Some(json!({ "target": "token", "kind": "explode" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let r = f
        .http
        .post(f.idp.url("__control/clock"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = f.http.get(f.idp.control_url()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let index: Value = r.json().await.unwrap();
    assert!(
        index.as_object().unwrap().len() >= 10,
        "the index documents the levers"
    );

    let (_, lifetimes) = f.control(Method::GET, "lifetimes", None).await;
    assert_eq!(
        lifetimes["access_token"], 3600,
        "unchanged by the refused requests"
    );

    f.post_control("stats/reset", json!({})).await;
    assert_eq!(f.stats().await, json!({}));
}

// Issue 21, point 5: the embedded instance's control API was open to any local program. With
// a control token it answers only that bearer, and proves it holds the token without taking it.
#[tokio::test]
async fn with_a_control_token_the_control_api_answers_only_its_bearer() {
    let token = "a-control-token-of-at-least-thirty-two-characters";
    let f = fixture_with_options(tessera_idp::IdpOptions {
        control_token: Some(tessera_idp::ControlToken(token.into())),
        ..tessera_idp::IdpOptions::default()
    })
    .await;
    let stats = f.idp.url("__control/stats");
    let plain = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(plain.get(stats.clone()).send().await.unwrap()),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            plain
                .get(stats.clone())
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
        ),
        StatusCode::UNAUTHORIZED
    );
    let revoke = f
        .idp
        .url("__control/users/ada@tessera.test/refresh-tokens/revoke");
    assert_eq!(
        status(plain.post(revoke).json(&json!({})).send().await.unwrap()),
        StatusCode::UNAUTHORIZED,
        "no lever moves without the token"
    );
    assert_eq!(
        status(plain.get(stats).bearer_auth(token).send().await.unwrap()),
        StatusCode::OK
    );
    // The provider's own client sends it.
    assert!(f.idp.stat("token").await.is_ok());
    let mut proof = f.idp.url("__control/proof");
    proof.query_pairs_mut().append_pair("challenge", "c-123");
    let answer: Value = plain.get(proof).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["proof"], tessera_idp::control_proof(token, "c-123"));
    assert_ne!(
        answer["proof"],
        tessera_idp::control_proof("another", "c-123")
    );

    // Without the control API at all, nothing is there.
    let bare = fixture_with_options(tessera_idp::IdpOptions {
        control: false,
        ..tessera_idp::IdpOptions::default()
    })
    .await;
    assert_eq!(
        status(
            plain
                .get(bare.idp.url("__control/stats"))
                .send()
                .await
                .unwrap()
        ),
        StatusCode::NOT_FOUND
    );
}
