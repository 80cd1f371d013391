//! The plain OpenID Connect flavour: no tenant paths, no client_info, no AADSTS codes, RFC 9207 `iss`.

use reqwest::StatusCode;
use tessera_idp::Flavor;
use tessera_test_support::user_agent::{Script, UserAgent};

use crate::*;

#[tokio::test]
async fn the_oidc_flavour_is_a_standard_provider() {
    let f = fixture_with(Flavor::Oidc).await;
    let issuer = f.idp.base_url().as_str().trim_end_matches('/').to_owned();
    let config: Value = f
        .http
        .get(f.idp.url(".well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], issuer);
    assert_eq!(
        config["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(config["code_challenge_methods_supported"], json!(["S256"]));
    let entra_path = f
        .http
        .get(f.idp.url("common/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        entra_path.status(),
        StatusCode::NOT_FOUND,
        "no tenant paths"
    );

    let agent = UserAgent::new(Script::user("alan@tessera.test"));
    let outcome = f.sign_in(&agent, &[]).await;
    assert_eq!(
        outcome.param("iss").as_deref(),
        Some(issuer.as_str()),
        "RFC 9207 iss on the response"
    );
    let (status, tokens) = f.redeem(&outcome.param("code").unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(
        tokens.get("client_info").is_none(),
        "client_info is Entra's"
    );
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], issuer);
    assert_eq!(id["sub"], "7a9b3c2d-4e5f-4061-8273-9a8b7c6d5e4f");
    assert!(id.get("tid").is_none() && id.get("oid").is_none());
    assert_eq!(
        f.me(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    let (status, error) = f.redeem(&outcome.param("code").unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_grant");
    assert!(
        error.get("error_codes").is_none(),
        "standard error body only: {error}"
    );
    assert!(!error["error_description"]
        .as_str()
        .unwrap()
        .contains("AADSTS"));

    let silent = agent
        .sign_in(
            &f.authorize_url(&[("prompt", "none"), ("login_hint", "ada@tessera.test")]),
            REDIRECT,
        )
        .await
        .unwrap();
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
    assert!(!silent
        .param("error_description")
        .unwrap()
        .contains("AADSTS"));
}
