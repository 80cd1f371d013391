//! The example app (`examples/sign-in`), which uses nothing but tauri-plugin-tessera's public
//! API (Rust: `init`; JavaScript: tauri-plugin-tessera-api), driven through WebDriver against a
//! tessera-idp this test runs: it signs in through the plugin's sign-in window, shows the
//! name, gets a token silently (from the cache: no request reaches the provider) and signs out.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tessera_e2e::App;
use tessera_idp::{IdpOptions, DEFAULT_CLIENT_ID};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_example_app_signs_in_gets_a_token_silently_and_signs_out() {
    let idp = tessera_idp::start(IdpOptions::default()).await.unwrap();
    let authority = idp.authority().to_string();
    let binary = tessera_test_support::workspace_binary("tessera-example-sign-in");
    assert!(
        binary.is_file(),
        "{} not found: build it first with `cargo build --workspace --bins` (scripts/test does)",
        binary.display()
    );
    let env = [
        ("EXAMPLE_AUTHORITY", authority.as_str()),
        ("EXAMPLE_CLIENT_ID", DEFAULT_CLIENT_ID),
    ];
    let app = App::launch_binary(&binary, &env, &[]).await;
    app.wait_for_text("#who", WAIT, |t| t == "Signed out").await;

    app.click("#sign-in").await;
    let popup = app.wait_for_popup(WAIT).await;
    app.sign_in_in_popup(&popup, "ada@tessera.test", "tessera")
        .await;
    app.wait_for_text("#who", WAIT, |t| t == "Hello, Ada Lovelace")
        .await;
    app.wait_for_text("#status", WAIT, |t| t == "Signed in (interactive)")
        .await;
    let redeemed = idp.stat("token").await.unwrap();

    app.click("#token").await;
    app.wait_for_text("#status", WAIT, |t| t.starts_with("Token from cache"))
        .await;
    assert_eq!(
        idp.stat("token").await.unwrap(),
        redeemed,
        "a silent token from the cache asks the provider nothing"
    );

    app.click("#sign-out").await;
    app.wait_for_text("#who", WAIT, |t| t == "Signed out").await;
    app.wait_for_text("#status", WAIT, |t| t == "Signed out")
        .await;
    app.close().await;
}
