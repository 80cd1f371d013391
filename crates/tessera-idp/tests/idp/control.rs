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
