//! The chain under every provider profile the emulator plays (tessera-idp's `Behaviour`, each
//! a clause of the specifications or a provider seen in the field): sign-in, the cache, a
//! forced refresh served from the cache afterwards, the profile from userinfo, sign-out.

use super::*;

/// What an OpenID Connect provider's client asks for by default (no Graph).
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

async fn oidc_world(behaviour: Behaviour) -> World {
    let w = world_with(Setup {
        flavor: Some(Flavor::Oidc),
        // The host configures cp1 whatever the provider: the engine must not send it here.
        capabilities: &["cp1"],
        behaviour: Some(behaviour),
        ..Setup::default()
    })
    .await;
    let app = w.another_app(|config| {
        config.default_scopes = OIDC_SCOPES.iter().map(|s| s.to_string()).collect();
        config.client_capabilities = vec!["cp1".into()];
        config.refresh_token_refusals = vec!["invalid_request".into()];
    });
    World { app, ..w }
}

async fn the_chain_under(name: &str, behaviour: Behaviour) {
    let w = oidc_world(behaviour).await;
    let (browser, first) = w.sign_in("ada@tessera.test").await;
    assert_eq!(first.source, TokenSource::Interactive, "{name}");
    let account = first.account.clone();
    assert_eq!(account.realm, "", "{name}: not an Entra account");
    assert!(
        account
            .home_account_id
            .ends_with(w.authority.trim_end_matches('/')),
        "{name}: sub.issuer"
    );
    assert_eq!(
        from_cache(&w.app, &account).await.access_token,
        first.access_token,
        "{name}"
    );

    let forced = SilentRequest {
        force_refresh: true,
        ..w.silent(&account)
    };
    let refreshed = w
        .app
        .acquire_token_silent(forced.clone(), None)
        .await
        .unwrap();
    assert_eq!(refreshed.source, TokenSource::RefreshToken, "{name}");
    assert_ne!(refreshed.access_token, first.access_token, "{name}");
    // Issue 19, point 3: the refreshed token is what the cache serves next.
    assert_eq!(
        from_cache(&w.app, &account).await.access_token,
        refreshed.access_token,
        "{name}: the cache serves the refreshed token"
    );
    // A second forced refresh: the refresh token kept (or rotated) still works.
    let again = w.app.acquire_token_silent(forced, None).await.unwrap();
    assert_eq!(again.source, TokenSource::RefreshToken, "{name}");

    // The profile, from the userinfo endpoint the provider advertises (Core §5.3).
    let metadata = w.app.metadata().await.unwrap();
    let userinfo = metadata.userinfo_endpoint.clone().expect("advertised");
    let info: Value = w
        .http
        .get(userinfo)
        .bearer_auth(again.access_token.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "Ada Lovelace", "{name}: {info}");
    assert_eq!(info["email"], "ada@tessera.test", "{name}: {info}");
    if let Some(claims) = &first.id_token_claims {
        assert_eq!(info["sub"].as_str(), Some(claims.sub.as_str()), "{name}");
    }

    // Sign-out: the end-session request, then the account forgotten.
    let end = w
        .app
        .end_session_url(&account, None)
        .await
        .unwrap()
        .expect("advertised");
    let query: std::collections::HashMap<String, String> = end.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], DEFAULT_CLIENT_ID, "{name}");
    assert!(
        !query.contains_key("logout_hint"),
        "{name}: Entra's hint, not sent elsewhere"
    );
    assert_eq!(browser.0.visit(&end).await.unwrap(), 200, "{name}");
    w.app.remove_account(&account).unwrap();
    assert!(w.app.accounts().is_empty(), "{name}");
}

#[tokio::test]
async fn the_chain_runs_under_every_provider_profile() {
    for (name, behaviour) in Behaviour::profiles() {
        the_chain_under(name, behaviour).await;
    }
}

// Issue 19, point 1: the engine sent Entra's client capabilities (`xms_cc`) in a `claims`
// parameter to every provider, and one that refuses claims beyond Core §5.5's refused the
// sign-in ("claims parameter should have userinfo or id_token properties").
#[tokio::test]
async fn capabilities_go_to_microsoft_only_and_claims_only_where_supported() {
    let w = oidc_world(Behaviour::oidc()).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    assert_eq!(
        first.source,
        TokenSource::Interactive,
        "no claims parameter was sent"
    );
    // A caller's claims to a provider that does not advertise claims_parameter_supported: a
    // clear error, before anything is sent to it.
    let authorize = w.stat("authorize").await;
    let token = w.stat("token").await;
    let request = SilentRequest {
        claims: Some(r#"{"id_token":{"acr":{"essential":true}}}"#.into()),
        ..w.silent(&first.account)
    };
    match w.app.acquire_token_silent(request, None).await {
        Err(Error::Configuration(message)) => {
            assert!(message.contains("claims_parameter_supported"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        (w.stat("authorize").await, w.stat("token").await),
        (authorize, token)
    );
}

// Issue 19, "Refusals classified, not guessed": provider B answers `invalid_request` for a
// refresh token it no longer knows; configured as its dead-token answer, that is "sign in
// again", not a provider failure.
#[tokio::test]
async fn a_providers_documented_dead_token_answer_asks_for_a_sign_in() {
    let w = oidc_world(Behaviour::provider_b()).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    w.control("users/ada@tessera.test/refresh-tokens/forget", json!({}))
        .await;
    let forced = SilentRequest {
        force_refresh: true,
        ..w.silent(&first.account)
    };
    match w.app.acquire_token_silent(forced.clone(), None).await {
        Err(Error::InteractionRequired { error, .. }) => assert_eq!(error, "invalid_request"),
        other => panic!("{other:?}"),
    }
    // Without the setting, the same answer is a provider error.
    let unconfigured = w.another_app(|config| {
        config.default_scopes = OIDC_SCOPES.iter().map(|s| s.to_string()).collect();
    });
    let (_, second) = {
        let browser = w.browser("ada@tessera.test");
        let result = unconfigured
            .acquire_token_interactive(InteractiveRequest::default(), &browser)
            .await
            .unwrap();
        (browser, result)
    };
    w.control("users/ada@tessera.test/refresh-tokens/forget", json!({}))
        .await;
    let forced = SilentRequest {
        force_refresh: true,
        ..SilentRequest::new(second.account.clone(), vec![])
    };
    assert!(matches!(
        unconfigured.acquire_token_silent(forced, None).await,
        Err(Error::Server(_))
    ));
}

// Issue 19, point 3: 100 forced refreshes with OpenID-only scopes grew the persisted cache by
// ~336 bytes each, and served the first token.
#[tokio::test]
async fn a_hundred_forced_refreshes_keep_the_cache_the_size_it_was() {
    let w = oidc_world(Behaviour::oidc()).await;
    let store = Arc::new(persistence::SharedStore::default());
    let app = {
        let mut config = Config::new(DEFAULT_CLIENT_ID, &w.authority);
        config.default_scopes = OIDC_SCOPES.iter().map(|s| s.to_string()).collect();
        PublicClientApplication::builder(config)
            .clock(w.clock.clone())
            .persistence(Arc::new(persistence::view(&store)))
            .build()
            .unwrap()
    };
    let first = app
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &w.browser("ada@tessera.test"),
        )
        .await
        .unwrap();
    let size = || store.blob.lock().unwrap().1.as_ref().map_or(0, Vec::len);
    let forced = SilentRequest {
        force_refresh: true,
        ..SilentRequest::new(first.account.clone(), vec![])
    };
    let mut sizes = vec![];
    let mut last = first.access_token.clone();
    for _ in 0..100 {
        last = app
            .acquire_token_silent(forced.clone(), None)
            .await
            .unwrap()
            .access_token;
        sizes.push(size());
    }
    let served = from_cache(&app, &first.account).await;
    assert_eq!(served.access_token, last, "the newest token is served");
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    // Tokens differ in length by a few bytes (random values, base64); growth would be
    // hundreds per refresh.
    assert!(
        max - min < 64,
        "the cache stays the same size: {min}..{max} bytes"
    );
    let blob: Value =
        serde_json::from_slice(store.blob.lock().unwrap().1.as_ref().unwrap()).unwrap();
    let tokens: usize = blob["data"]["access_tokens"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(tokens, 1, "one grant, one access token");
}
