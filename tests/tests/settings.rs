//! Settings in the real window: a machine policy shown as managed and enforced, and the main
//! window put back where the user left it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fantoccini::Locator;
use tessera_e2e::App;

const WAIT: Duration = Duration::from_secs(20);

async fn attribute(app: &App, css: &str, name: &str) -> Option<String> {
    app.client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .attr(name)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_pins_settings_which_the_window_shows_as_managed() {
    let idp = tessera_idp::start(tessera_idp::IdpOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    // Where tokens go comes from the policy: with a policy in force the environment may not
    // change it (the app refuses to start; tessera-config's tests cover that refusal).
    let pinned = serde_json::json!({
        "authority": idp.authority().to_string(),
        "scopes": ["User.Read"],
        "allowedInteractionModes": ["popup"],
        "renewalOffsetSecs": 600,
    });
    std::fs::write(&policy, pinned.to_string()).unwrap();
    let policy_path = policy.display().to_string();
    let app = App::launch_with_env(&[("TESSERA_POLICY_FILE", &policy_path)]).await;
    app.wait_for_text("[data-badge=\"scopes\"]", WAIT, |t| t == "Managed")
        .await;
    let note = app
        .wait_for_text("#policy-note", WAIT, |t| !t.is_empty())
        .await;
    assert!(note.contains(&policy_path), "{note}");
    assert!(attribute(&app, "#setting-scopes", "disabled")
        .await
        .is_some());
    assert!(attribute(&app, "#setting-renewal-offset", "disabled")
        .await
        .is_some());
    assert!(attribute(&app, "#setting-mode", "disabled").await.is_some());
    assert!(
        attribute(&app, "#setting-authority", "disabled")
            .await
            .is_some(),
        "set by the policy"
    );
    assert!(attribute(&app, "#setting-time-limit", "disabled")
        .await
        .is_none());
    assert!(
        attribute(&app, "#sign-in-browser", "hidden")
            .await
            .is_some(),
        "the browser mode is not allowed"
    );
    let refused = app
        .invoke(
            "set_settings",
            serde_json::json!({ "changes": { "scopes": ["Mail.Read"] } }),
        )
        .await
        .unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("managed"),
        "{refused}"
    );
    let refused = app
        .invoke("sign_in", serde_json::json!({ "mode": "redirect" }))
        .await
        .unwrap_err();
    assert_eq!(refused["kind"], "not_allowed", "{refused}");
    app.client
        .execute(
            "document.getElementById('settings-form').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    app.screenshot("settings-managed").await;
    app.close().await;
}

#[tokio::test]
async fn the_main_window_comes_back_where_it_was() {
    let app = App::launch().await;
    app.wait_for_text("#about", WAIT, |t| t.starts_with("Tessera"))
        .await;
    app.client
        .set_window_rect(60, 40, 900, 660)
        .await
        .expect("WebDriver moves the window");
    let moved = app.client.get_window_rect().await.unwrap();
    // Saved once the window has stopped moving (half a second).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settings = app.invoke("settings", serde_json::json!({})).await.unwrap();
    assert_eq!(settings["window"]["width"], moved.2, "{settings}");

    let app = app.restart().await;
    app.wait_for_text("#about", WAIT, |t| t.starts_with("Tessera"))
        .await;
    let restored = app.client.get_window_rect().await.unwrap();
    assert_eq!(restored, moved, "position and size restored");
    app.close().await;
}

/// A D-Bus address where nothing listens: no Secret Service (and no other session service).
const NO_SESSION_BUS: (&str, &str) = (
    "DBUS_SESSION_BUS_ADDRESS",
    "unix:path=/nonexistent/tessera-no-bus",
);

#[tokio::test(flavor = "multi_thread")]
async fn without_a_keyring_the_window_warns_that_sign_ins_are_not_saved() {
    let idp = tessera_idp::start(tessera_idp::IdpOptions::default())
        .await
        .unwrap();
    let authority = idp.authority().to_string();
    let app = App::launch_with_env(&[("TESSERA_AUTHORITY", &authority), NO_SESSION_BUS]).await;
    let warning = app
        .wait_for_text("#storage-warning", WAIT, |t| !t.is_empty())
        .await;
    assert!(
        warning.contains("in memory only") && warning.contains("--insecure-plaintext-cache"),
        "{warning}"
    );
    app.wait_for_text("#storage", WAIT, |t| t == "not saved: memory only")
        .await;
    app.screenshot("storage-memory-only").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn asked_for_the_plaintext_cache_keeps_sign_ins_and_says_it_is_unencrypted() {
    let idp = tessera_idp::start(tessera_idp::IdpOptions::default())
        .await
        .unwrap();
    let authority = idp.authority().to_string();
    let app = App::launch_with_args(
        &[("TESSERA_AUTHORITY", &authority), NO_SESSION_BUS],
        &["--insecure-plaintext-cache"],
    )
    .await;
    let warning = app
        .wait_for_text("#storage-warning", WAIT, |t| !t.is_empty())
        .await;
    assert!(warning.contains("unencrypted"), "{warning}");
    app.wait_for_text("#storage", WAIT, |t| t == "unencrypted (asked for)")
        .await;
    app.sign_in_with_popup("ada@tessera.test").await;
    let file = app
        .data_home()
        .join("data/dev.tessera.desktop")
        .join(tessera_vault::PLAINTEXT_CACHE_FILE);
    assert!(file.is_file(), "{}", file.display());

    let app = app.restart().await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "ada@tessera.test")
        .await;
    app.close().await;
}
