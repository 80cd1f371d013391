//! The device authorization grant: code, verification page, polling, and its errors.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use tessera_idp::{Flavor, DEFAULT_CLIENT_ID};
use tessera_test_support::user_agent::{Script, UserAgent};

use crate::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl Fixture {
    async fn discovery(&self) -> Value {
        let url = self.endpoint(
            "v2.0/.well-known/openid-configuration",
            ".well-known/openid-configuration",
        );
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn device_code(&self, scope: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.endpoint("oauth2/v2.0/devicecode", "devicecode"))
            .form(&[("client_id", DEFAULT_CLIENT_ID), ("scope", scope)])
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn poll(&self, device_code: &str) -> (StatusCode, Value) {
        self.post_token(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", DEFAULT_CLIENT_ID),
            ("device_code", device_code),
        ])
        .await
    }
}

async fn device_flow_for(flavor: Flavor) {
    let f = fixture_with(flavor).await;
    let discovery = f.discovery().await;
    let endpoint = discovery["device_authorization_endpoint"].as_str().unwrap();
    assert!(endpoint.ends_with("devicecode"), "{endpoint}");
    f.post_control("device-code", json!({ "interval": 1 }))
        .await;

    let (status, issued) = f.device_code(SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let device_code = issued["device_code"].as_str().unwrap();
    let user_code = issued["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(issued["interval"], 1);
    assert_eq!(issued["expires_in"], 900);
    let verification = Url::parse(issued["verification_uri"].as_str().unwrap()).unwrap();
    assert!(issued["message"].as_str().unwrap().contains(user_code));

    let (status, pending) = f.poll(device_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(pending["error"], "authorization_pending", "{pending}");
    let (_, too_fast) = f.poll(device_code).await;
    assert_eq!(too_fast["error"], "slow_down", "polled at once again");

    let browser = UserAgent::new(Script::user("ada@tessera.test"));
    let wrong = browser
        .device_sign_in(&verification, "BBBBBBBBB")
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("didn't work"), "{wrong}");
    // Typed as a person would: lower case, with a dash.
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_lowercase();
    let done = browser.device_sign_in(&verification, &typed).await.unwrap();
    assert!(done.contains("signed in"), "{done}");

    // The interval grew to 1 + 5 s with the slow_down.
    tokio::time::sleep(Duration::from_millis(6100)).await;
    let (status, tokens) = f.poll(device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["preferred_username"], "ada@tessera.test");
    assert!(id.get("nonce").is_none(), "the device flow has no nonce");
    let (status, again) = f.poll(device_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        again["error"], "invalid_grant",
        "a device code redeems once"
    );
    let stats = f.stats().await;
    assert_eq!(stats["devicecode"], 1);
    assert_eq!(stats["token:device_code:slow_down"], 1);
}

#[tokio::test]
async fn the_device_flow_signs_in_on_another_screen_entra() {
    device_flow_for(Flavor::Entra).await;
}

#[tokio::test]
async fn the_device_flow_signs_in_on_another_screen_oidc() {
    device_flow_for(Flavor::Oidc).await;
}

/// Entra takes MSAL.NET's short grant type (`OAuth2GrantType.DeviceCode` = `device_code`) and
/// the code under MSAL Python's `code` as well as RFC 8628's `device_code`; a plain OpenID
/// provider takes only RFC 8628 §3.4's form.
#[tokio::test]
async fn entra_takes_msals_other_spellings_of_the_device_code_grant() {
    for flavor in [Flavor::Entra, Flavor::Oidc] {
        let f = fixture_with(flavor).await;
        f.post_control("device-code", json!({ "interval": 1 }))
            .await;
        let (_, issued) = f.device_code(SCOPE).await;
        let device_code = issued["device_code"].as_str().unwrap();
        let (status, answer) = f
            .post_token(&[
                ("grant_type", "device_code"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("code", device_code),
            ])
            .await;
        match flavor {
            Flavor::Entra => assert_eq!(answer["error"], "authorization_pending", "{answer}"),
            _ => assert_eq!(answer["error"], "unsupported_grant_type", "{answer}"),
        }
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn declined_expired_forced_slow_down_and_disabled_device_codes() {
    for flavor in [Flavor::Entra, Flavor::Oidc] {
        let f = fixture_with(flavor).await;
        f.post_control("device-code", json!({ "interval": 1, "slow_down": 1 }))
            .await;
        let (_, issued) = f.device_code(SCOPE).await;
        let device_code = issued["device_code"].as_str().unwrap();
        let (_, forced) = f.poll(device_code).await;
        assert_eq!(forced["error"], "slow_down", "asked for by the control API");

        let decline = UserAgent::new(Script {
            accept_consent: false,
            ..Script::user("alan@tessera.test")
        });
        let verification = Url::parse(issued["verification_uri"].as_str().unwrap()).unwrap();
        let done = decline
            .device_sign_in(&verification, issued["user_code"].as_str().unwrap())
            .await
            .unwrap();
        assert!(done.contains("declined"), "{done}");
        tokio::time::sleep(Duration::from_millis(6100)).await;
        let (_, declined) = f.poll(device_code).await;
        let expected = match flavor {
            Flavor::Entra => "authorization_declined",
            Flavor::Oidc => "access_denied",
        };
        assert_eq!(declined["error"], expected, "{declined}");

        let (_, issued) = f.device_code(SCOPE).await;
        f.post_control("clock", json!({ "skew_seconds": 901 }))
            .await;
        let (_, expired) = f.poll(issued["device_code"].as_str().unwrap()).await;
        assert_eq!(expired["error"], "expired_token", "{expired}");
        f.post_control("clock", json!({ "skew_seconds": 0 })).await;

        let (status, _) = f
            .control(Method::POST, "device-code", Some(json!({ "interval": 0 })))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "interval 0 is refused");
        f.post_control("device-code", json!({ "enabled": false }))
            .await;
        assert!(f
            .discovery()
            .await
            .get("device_authorization_endpoint")
            .is_none());
        let (status, refused) = f.device_code(SCOPE).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(refused["error"], "unsupported_grant_type", "{refused}");
    }
}
