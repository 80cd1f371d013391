//! The window onto the profile and the tokens, driven as a user would, against a tessera-idp
//! this test runs: where a token came from after its access token expired, a Continuous Access
//! Evaluation challenge answered without the user noticing, multi-factor authentication
//! demanded (banner, "Sign in again"), a second account, signing out. Each screen is written to
//! `screenshots/`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use tessera_e2e::App;
use tessera_idp::{IdpOptions, RunningIdp};

const WAIT: Duration = Duration::from_secs(30);

async fn idp() -> RunningIdp {
    tessera_idp::start(IdpOptions::default()).await.unwrap()
}

async fn control(idp: &RunningIdp, method: reqwest::Method, path: &str, body: Value) {
    idp.control(method, path, body).await.unwrap();
}

/// The app on `idp`, with `username` signed in through the popup.
async fn signed_in(idp: &RunningIdp, username: &str) -> App {
    let authority = idp.authority().to_string();
    let app = App::launch_with_env(&[("TESSERA_AUTHORITY", &authority)]).await;
    app.sign_in_with_popup(username).await;
    app
}

async fn click(app: &App, css: &str) {
    app.click(css).await;
}

async fn wait_for_attribute(app: &App, css: &str, name: &str, test: impl Fn(Option<&str>) -> bool) {
    app.wait_for_attribute(css, name, test).await;
}

/// The `data-source` of the token panel once it shows `source`.
async fn wait_for_source(app: &App, source: &str) {
    wait_for_attribute(app, "#token-source", "data-source", |s| s == Some(source)).await;
}

/// Chooses an account in the switcher, as a user picking it from the list does.
async fn choose_account(app: &App, username: &str) {
    app.client
        .execute(
            "const select = document.getElementById('accounts');\
             const option = [...select.options].find((o) => o.textContent.includes(arguments[0]));\
             select.value = option.value;\
             select.dispatchEvent(new Event('change'));",
            vec![json!(username)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_profile_shows_the_photo_and_an_expired_token_comes_from_the_refresh_token() {
    let idp = idp().await;
    // Access tokens that live 4 minutes: within the 5-minute renewal offset, so the cached one
    // counts as expired at once and the next silent request redeems the refresh token.
    control(
        &idp,
        reqwest::Method::POST,
        "lifetimes",
        json!({ "access_token": 240 }),
    )
    .await;
    let app = signed_in(&idp, "ada@tessera.test").await;
    wait_for_attribute(&app, "#profile-photo", "hidden", |h| h.is_none()).await;
    wait_for_attribute(&app, "#profile-photo", "src", |s| {
        s.is_some_and(|s| s.starts_with("data:image/"))
    })
    .await;
    let job = app
        .wait_for_text("#profile-job", WAIT, |t| !t.is_empty())
        .await;
    assert_eq!(job, "Analyst of the Engine");
    // The profile's own request already found the fresh sign-in's token expiring too soon.
    wait_for_source(&app, "refresh_token").await;
    app.screenshot("profile").await;

    let refreshes = idp.stat("token:refresh_token").await.unwrap();
    click(&app, "#get-token-silently").await;
    let deadline = std::time::Instant::now() + WAIT;
    while idp.stat("token:refresh_token").await.unwrap() == refreshes {
        assert!(std::time::Instant::now() < deadline, "no refresh");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_source(&app, "refresh_token").await;
    let source = app
        .wait_for_text("#token-source", WAIT, |t| t.starts_with("refresh token"))
        .await;
    assert!(source.starts_with("refresh token"), "{source}");
    assert!(idp.stat("token:refresh_token").await.unwrap() >= 1);
    app.screenshot("token-from-refresh-token").await;

    // Issue 20, point 9: a guest's token from the tenant that invited it, and the account's
    // tenants on screen.
    app.type_into("#token-tenant", "fabrikam.test").await;
    click(&app, "#get-token-silently").await;
    app.wait_for_text("#token-authority", WAIT, |t| t.ends_with("/fabrikam.test"))
        .await;
    let tenants = app
        .wait_for_text("#profile-tenants", WAIT, |t| t.contains("(guest)"))
        .await;
    assert_eq!(
        tenants,
        format!(
            "{} (home), {} (guest)",
            tessera_idp::DEFAULT_TENANT_ID,
            tessera_idp::GUEST_TENANT_ID
        )
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claims_challenge_from_graph_is_answered_and_the_profile_still_loads() {
    let idp = idp().await;
    let app = signed_in(&idp, "ada@tessera.test").await;
    let graph_before = idp.stat("graph").await.unwrap();
    // A critical event (say, the password changed): Graph refuses tokens issued before now
    // with `insufficient_claims` until the app brings a token that carries the claims.
    tokio::time::sleep(Duration::from_secs(1)).await;
    control(
        &idp,
        reqwest::Method::POST,
        "users/ada@tessera.test/claims-challenge",
        json!({ "kind": "nbf" }),
    )
    .await;
    app.reload().await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "ada@tessera.test")
        .await;
    wait_for_source(&app, "refresh_token").await;
    assert!(
        idp.stat("graph").await.unwrap() >= graph_before + 2,
        "refused once with the challenge, then answered"
    );
    wait_for_attribute(&app, "#banner", "hidden", |h| h.is_some()).await;
    assert_eq!(app.windows().await.len(), 1, "no sign-in window");
    app.screenshot("profile-after-claims-challenge").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_factor_demanded_shows_a_banner_and_signing_in_again_loads_the_profile() {
    let idp = idp().await;
    let app = signed_in(&idp, "ada@tessera.test").await;
    control(
        &idp,
        reqwest::Method::POST,
        "users/ada@tessera.test/mfa",
        json!({ "required": true }),
    )
    .await;

    click(&app, "#force-refresh").await;
    wait_for_attribute(&app, "#banner", "data-kind", |k| {
        k == Some("interaction_required")
    })
    .await;
    let code = app
        .wait_for_text("#banner-code", WAIT, |t| !t.is_empty())
        .await;
    assert_eq!(code, "AADSTS50076");
    let action = app
        .wait_for_text("#banner-action", WAIT, |t| !t.is_empty())
        .await;
    assert_eq!(action, "Sign in again");
    app.screenshot("banner-mfa-required").await;

    click(&app, "#banner-action").await;
    let popup = app.wait_for_popup(WAIT).await;
    app.sign_in_in_popup(&popup, "ada@tessera.test", "tessera")
        .await;
    wait_for_source(&app, "interactive").await;
    wait_for_attribute(&app, "#banner", "hidden", |h| h.is_some()).await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "ada@tessera.test")
        .await;
    assert_eq!(
        idp.stat("login:mfa").await.unwrap(),
        1,
        "the MFA page was answered once"
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_account_is_added_and_switched_to_and_both_sign_out() {
    let idp = idp().await;
    let app = signed_in(&idp, "ada@tessera.test").await;

    click(&app, "#add-account").await;
    let popup = app.wait_for_popup(WAIT).await;
    app.sign_in_in_popup(&popup, "alan@tessera.test", "tessera")
        .await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "alan@tessera.test")
        .await;
    let options = app
        .client
        .execute(
            "return [...document.querySelectorAll('#accounts option')].map((o) => o.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        options,
        json!([
            "Ada Lovelace (ada@tessera.test)",
            "Alan Turing (alan@tessera.test)"
        ])
    );
    app.screenshot("two-accounts").await;

    let authorize = idp.stat("authorize").await.unwrap();
    choose_account(&app, "ada@tessera.test").await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "ada@tessera.test")
        .await;
    wait_for_source(&app, "cache").await;
    assert_eq!(
        idp.stat("authorize").await.unwrap(),
        authorize,
        "switching needs no sign-in"
    );

    click(&app, "#sign-out").await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "alan@tessera.test")
        .await;
    click(&app, "#sign-out").await;
    app.wait_for_text("#sign-in", WAIT, |t| t == "Sign in")
        .await;
    wait_for_attribute(&app, "#signed-in", "hidden", |h| h.is_some()).await;
    assert_eq!(app.invoke("accounts", json!({})).await.unwrap(), json!([]));
    app.screenshot("signed-out").await;
    app.close().await;
}
