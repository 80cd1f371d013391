//! The chain against a certified third-party OpenID Provider nobody here wrote
//! (panva/node-oidc-provider on loopback TLS; `tessera_test_support::oidc_provider`): the
//! evidence that the engine works with a real provider, not only with its own emulator.

use tessera_test_support::oidc_provider::{OidcProvider, CLIENT_ID};

use super::*;

#[tokio::test]
async fn the_chain_works_against_node_oidc_provider() {
    let provider = OidcProvider::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let net = HttpConfig {
        extra_ca_file: Some(provider.ca_file.clone()),
        ..HttpConfig::default()
    };
    let mut config = Config::new(CLIENT_ID, provider.issuer.as_str());
    config.default_scopes = ["openid", "profile", "email", "offline_access"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // The host always configures cp1: it must not reach this provider.
    config.client_capabilities = vec!["cp1".into()];
    config.http = net.clone();
    let app = PublicClientApplication::new(config).unwrap();
    assert!(!app.authority().is_microsoft());

    // Sign in through the system-browser agent: its dev login form, then consent.
    let agent =
        LoopbackAgent::bind(false)
            .await
            .unwrap()
            .with_opener(super::loopback::scripted_opener(
                net.clone(),
                "ada@tessera.test",
            ));
    let first = app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await
        .unwrap();
    assert_eq!(first.source, TokenSource::Interactive);
    let account = first.account.clone();
    assert_eq!(account.username, "ada@tessera.test");
    assert_eq!(
        from_cache(&app, &account).await.access_token,
        first.access_token
    );

    // A forced refresh: it rotates refresh tokens and would revoke the grant on reuse.
    let forced = SilentRequest {
        force_refresh: true,
        ..SilentRequest::new(account.clone(), vec![])
    };
    let refreshed = app
        .acquire_token_silent(forced.clone(), None)
        .await
        .unwrap();
    assert_eq!(refreshed.source, TokenSource::RefreshToken);
    assert_eq!(
        from_cache(&app, &account).await.access_token,
        refreshed.access_token,
        "the cache serves the refreshed token"
    );
    let again = app.acquire_token_silent(forced, None).await.unwrap();
    assert_eq!(
        again.source,
        TokenSource::RefreshToken,
        "the rotated token was kept"
    );

    // The profile comes from its userinfo endpoint (it keeps scope claims out of ID tokens).
    let metadata = app.metadata().await.unwrap();
    let info: Value = tessera_auth::http::client(&net)
        .unwrap()
        .get(metadata.userinfo_endpoint.clone().unwrap())
        .bearer_auth(again.access_token.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "Ada Lovelace", "{info}");

    // Sign-out: RP-Initiated Logout's request names the client and the ID token.
    let end = app.end_session_url(&account, None).await.unwrap().unwrap();
    let query: std::collections::HashMap<String, String> = end.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert!(query.contains_key("id_token_hint"));
    app.remove_account(&account).unwrap();
    assert!(app.accounts().is_empty());
    provider.stop().await;
}
