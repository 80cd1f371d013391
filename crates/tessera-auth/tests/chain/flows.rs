//! The chain end to end: interactive, cache, refresh, silent SSO, classifications, accounts.

use super::*;

#[tokio::test]
async fn the_whole_chain_against_an_entra_shaped_provider() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
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
async fn claims_challenges_from_graph_are_answered_silently() {
    let w = world(Flavor::Entra, &["cp1"]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
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
    let (_, first) = w.sign_in("ada@tessera.test").await;
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
    let (alan, first) = w.sign_in("alan@tessera.test").await;
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
    let (ada, first) = w.sign_in("ada@tessera.test").await;
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
async fn events_follow_the_chain_and_carry_no_secret() {
    let w = world(Flavor::Entra, &[]).await;
    let mut events = w.app.subscribe();
    let (_, first) = w.sign_in("ada@tessera.test").await;
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

#[tokio::test]
async fn several_accounts_side_by_side_and_sign_out_everywhere() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada_browser, ada) = w.sign_in("ada@tessera.test").await;
    // "Add another account": the same browser, the account picker, another user.
    let alan_browser = tessera_test_support::ScriptedBrowser(
        ada_browser.0.with_script(Script::user("alan@tessera.test")),
    );
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
    // RP-Initiated Logout §2 and Entra's `logout_hint`: the ID token's `login_hint` claim.
    let query: std::collections::HashMap<String, String> =
        end_session.query_pairs().into_owned().collect();
    let claims = ada.id_token_claims.as_ref().unwrap();
    assert_eq!(query.get("logout_hint"), claims.login_hint.as_ref());
    assert_eq!(query["client_id"], DEFAULT_CLIENT_ID);
    assert!(query.contains_key("id_token_hint"));
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

// Issue 21, point 10: the key set was cached for the process's life and refetched without a
// cooldown, so a provider (or a forger) sending unknown key ids made the engine fetch the
// JWKS on every token. It now lives 12 hours, and an unknown `kid` refetches it at most once
// per 5 minutes.
#[tokio::test]
async fn the_key_set_ages_out_and_unknown_keys_refetch_it_at_most_every_five_minutes() {
    let w = world(Flavor::Entra, &[]).await;
    let (_, first) = w.sign_in("ada@tessera.test").await;
    let forced = || SilentRequest {
        force_refresh: true,
        ..w.silent(&first.account)
    };
    assert_eq!(w.stat("keys").await, 1);
    w.control("keys/rotate", json!({ "retire_old": true }))
        .await;
    w.app.acquire_token_silent(forced(), None).await.unwrap();
    assert_eq!(w.stat("keys").await, 2, "an unknown kid: fetched again");
    // Rotated again at once: the new key is unknown, but the last refetch was just now.
    w.control("keys/rotate", json!({ "retire_old": true }))
        .await;
    let refused = w.app.acquire_token_silent(forced(), None).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(
        w.stat("keys").await,
        2,
        "no second refetch within 5 minutes"
    );
    w.advance(6 * 60).await;
    w.app.acquire_token_silent(forced(), None).await.unwrap();
    assert_eq!(w.stat("keys").await, 3, "after the cooldown");
    // Twelve hours on, the same keys are fetched again though no kid was unknown.
    w.advance(12 * 3600 + 60).await;
    w.app.acquire_token_silent(forced(), None).await.unwrap();
    assert_eq!(w.stat("keys").await, 4, "the key set aged out");
}
