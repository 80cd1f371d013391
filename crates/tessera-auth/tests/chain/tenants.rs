//! Tenants: an account lives in its home tenant, and a guest of another tenant gets that
//! tenant's tokens from that tenant's authority (Microsoft Learn, "B2B collaboration
//! overview"; MSAL's per-request `authority`). The cache keeps access and ID tokens under the
//! tenant that issued them (their `tid`) and the account under its home tenant (msal-common
//! `ResponseHandler`, `AccountEntity.createAccount`), and an Entra refresh token is not bound
//! to a tenant (MSAL Python `application.py`: "AAD RTs are tenant-independent").

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_idp::GUEST_TENANT_ID;

use super::*;

/// Ada's guest object in Fabrikam (the emulator's built-in seed).
const ADA_IN_FABRIKAM: &str = "c4f1e2d3-8a7b-4c6d-9e5f-0a1b2c3d4e5f";

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn for_tenant(account: &tessera_auth::Account, tenant: &str) -> SilentRequest {
    SilentRequest {
        tenant: Some(tenant.into()),
        ..SilentRequest::new(account.clone(), vec![])
    }
}

#[tokio::test]
async fn a_guest_gets_the_resource_tenants_token_with_its_home_refresh_token_each_cached_under_its_tid(
) {
    let w = world(Flavor::Entra, &[]).await;
    let (_, home) = w.sign_in("ada@tessera.test").await;
    assert_eq!(home.account.realm, DEFAULT_TENANT_ID);
    assert_eq!(claims(home.access_token.secret())["tid"], DEFAULT_TENANT_ID);

    let guest = w
        .app
        .acquire_token_silent(for_tenant(&home.account, GUEST_TENANT_ID), None)
        .await
        .unwrap();
    assert_eq!(guest.source, TokenSource::RefreshToken);
    let token = claims(guest.access_token.secret());
    assert_eq!(token["tid"], GUEST_TENANT_ID, "the resource tenant's token");
    assert_eq!(token["oid"], ADA_IN_FABRIKAM, "the guest object's id there");
    // The same account, still known by its home tenant.
    assert_eq!(guest.account.home_account_id, home.account.home_account_id);
    assert_eq!(guest.account.realm, DEFAULT_TENANT_ID);
    // X-AnchorMailbox named the home account (uid@utid), as MSAL sends it.
    assert_eq!(w.stat("token:x-anchormailbox:other").await, 0);

    // Each tenant's token is served from the cache, by id or by verified domain.
    for tenant in [GUEST_TENANT_ID, "fabrikam.test", "FABRIKAM.test"] {
        let again = w
            .app
            .acquire_token_silent(for_tenant(&home.account, tenant), None)
            .await
            .unwrap();
        assert_eq!(again.source, TokenSource::Cache, "{tenant}");
        assert_eq!(again.access_token, guest.access_token, "{tenant}");
        assert_eq!(again.account.realm, DEFAULT_TENANT_ID);
    }
    // A tenant that cannot be found is an error, never the home tenant's token.
    let unknown = w
        .app
        .acquire_token_silent(for_tenant(&home.account, "nobody.example"), None)
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    let at_home = from_cache(&w.app, &home.account).await;
    assert_eq!(at_home.access_token, home.access_token);
    assert_eq!(w.stat("token:refresh_token").await, 1);

    // One account, with both tenants: the app shows them.
    let accounts = w.app.accounts();
    assert_eq!(accounts.len(), 1);
    let tenants: Vec<(&str, &str, bool)> = accounts[0]
        .tenant_profiles
        .iter()
        .map(|p| {
            (
                p.tenant_id.as_str(),
                p.local_account_id.as_str(),
                p.is_home_tenant,
            )
        })
        .collect();
    assert_eq!(
        tenants,
        [
            (DEFAULT_TENANT_ID, ADA_OID, true),
            (GUEST_TENANT_ID, ADA_IN_FABRIKAM, false)
        ]
    );
}

/// An app whose authority is the resource tenant (a line-of-business app of Fabrikam that
/// its guests use): the guest's tokens carry Fabrikam's `tid` while the account's home tenant
/// is another, and the cache must find them again under the tenant the authority names.
#[tokio::test]
async fn an_app_on_the_resource_tenants_authority_serves_a_guest_from_its_cache() {
    let w = world(Flavor::Entra, &[]).await;
    for tenant in [GUEST_TENANT_ID, "fabrikam.test"] {
        let authority = w.idp.tenant_authority(tenant).to_string();
        let app = w.another_app(|c| c.authority = authority.clone());
        let browser = w.browser("ada@tessera.test");
        let signed_in = app
            .acquire_token_interactive(InteractiveRequest::default(), &browser)
            .await
            .unwrap();
        assert_eq!(
            claims(signed_in.access_token.secret())["tid"],
            GUEST_TENANT_ID
        );
        assert_eq!(signed_in.account.realm, DEFAULT_TENANT_ID, "home tenant");
        let again = from_cache(&app, &signed_in.account).await;
        assert_eq!(again.access_token, signed_in.access_token, "{tenant}");
    }
}

/// An authority named by its domain needs discovery to know the tenant's id; a process started
/// while the provider is unreachable still serves a member's cached token (a cache hit never
/// needs the network), and says what failed only when it has to go there.
#[tokio::test]
async fn with_a_domain_authority_a_cached_token_needs_no_network() {
    let w = world(Flavor::Entra, &[]).await;
    let authority = w.idp.tenant_authority("tessera.test").to_string();
    let store = Arc::new(super::persistence::SharedStore::default());
    let process = || {
        let mut config = Config::new(DEFAULT_CLIENT_ID, &authority);
        config.default_scopes = vec!["User.Read".into()];
        config.http = w.net.clone();
        PublicClientApplication::builder(config)
            .clock(w.clock.clone())
            .persistence(Arc::new(super::persistence::view(&store)))
            .build()
            .unwrap()
    };
    let first = process()
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &w.browser("ada@tessera.test"),
        )
        .await
        .unwrap();
    w.control(
        "faults",
        json!({ "target": "discovery", "kind": "status", "status": 503, "count": 50 }),
    )
    .await;
    let later = process();
    let cached = from_cache(&later, &first.account).await;
    assert_eq!(cached.access_token, first.access_token);
    let forced = later
        .acquire_token_silent(
            SilentRequest {
                force_refresh: true,
                ..w.silent(&first.account)
            },
            None,
        )
        .await;
    assert!(forced.is_err(), "the refresh needs discovery: {forced:?}");
}

/// A tenant that never invited the user refuses them (AADSTS50020); the home tenant's tokens
/// and the refresh token stay, even under strict rotation (the refusal spends nothing).
#[tokio::test]
async fn a_tenant_that_has_not_invited_the_user_refuses_and_the_home_tokens_stay() {
    let w = strict_rotation_world().await;
    let (_, home) = w.sign_in("alan@tessera.test").await;
    let refused = w
        .app
        .acquire_token_silent(for_tenant(&home.account, GUEST_TENANT_ID), None)
        .await;
    match refused {
        Err(Error::InteractionRequired { code, .. }) => assert_eq!(code, Some(50020)),
        other => panic!("expected AADSTS50020, got {other:?}"),
    }
    from_cache(&w.app, &home.account).await;
    let refreshed = w
        .app
        .acquire_token_silent(
            SilentRequest {
                force_refresh: true,
                ..w.silent(&home.account)
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(refreshed.source, TokenSource::RefreshToken);
}

/// Only Entra has tenants to name; for another provider the request is refused before any
/// network call, rather than silently answered by the one authority there is.
#[tokio::test]
async fn a_tenant_can_be_named_only_with_an_entra_authority() {
    let w = world(Flavor::Oidc, &[]).await;
    let (_, signed_in) = w.sign_in("ada@tessera.test").await;
    let before = w.stat("token:authorization_code").await;
    let refused = w
        .app
        .acquire_token_silent(for_tenant(&signed_in.account, GUEST_TENANT_ID), None)
        .await;
    assert!(
        matches!(&refused, Err(Error::Configuration(m)) if m.contains("Entra")),
        "{refused:?}"
    );
    assert_eq!(w.stat("token:authorization_code").await, before);
}
