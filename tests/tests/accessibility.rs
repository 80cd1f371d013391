//! Accessibility in the real window (issue 22): axe-core (pinned in tests/a11y, installed by
//! `scripts/setup --test-tools`) runs inside the app's webview on each screen a user meets —
//! signed out, signed in, an error banner, the settings — and finds no serious or critical
//! violation; the keyboard focus goes somewhere sensible when a busy state disables the
//! focused button and when the signed-out and signed-in screens swap.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{json, Value};
use tessera_e2e::App;

const WAIT: Duration = Duration::from_secs(20);

/// axe-core's script, or a loud failure: a check that cannot run must not pass.
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("a11y/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing ({}: {e}): run scripts/setup --test-tools",
            path.display()
        )
    })
}

/// Runs axe-core on the page as it is now and fails on any serious or critical violation,
/// naming each rule and the elements it found.
async fn assert_accessible(app: &App, screen: &str, axe: &str) {
    app.client
        .execute(&format!("{axe}\nreturn typeof axe;"), vec![])
        .await
        .unwrap();
    let result = app
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] })
              .then((r) => done({ violations: r.violations.map((v) => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map((n) => n.target.join(" ")) })) }))
              .catch((e) => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap();
    assert!(
        result["error"].is_null(),
        "axe-core failed on {screen}: {result}"
    );
    let severe: Vec<&Value> = result["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        severe.is_empty(),
        "{screen}: serious or critical accessibility violations: {}",
        serde_json::to_string_pretty(&severe).unwrap()
    );
}

/// The focused element's id (empty for the page itself).
async fn focused(app: &App) -> String {
    app.client
        .execute(
            "const a = document.activeElement; return a && a !== document.body ? a.id : '';",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the page's state says `condition` (a JavaScript expression).
async fn wait_until(app: &App, condition: &str, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let holds = app
            .client
            .execute(&format!("return Boolean({condition});"), vec![])
            .await
            .unwrap();
        if holds == Value::Bool(true) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Focuses the button `id` as a keyboard user would have, and presses it (once it can be
/// pressed: a busy state disables every button).
async fn press(app: &App, id: &str) {
    wait_until(
        app,
        &format!("!document.getElementById('{id}').disabled"),
        &format!("#{id} enabled"),
    )
    .await;
    app.client
        .execute(&format!("document.getElementById('{id}').focus();"), vec![])
        .await
        .unwrap();
    app.client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for_focus(app: &App, accept: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let id = focused(app).await;
        if accept(&id) {
            return id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the focus never went to {what}: it is on {id:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_passes_axe_core_and_the_focus_follows_the_screens() {
    let axe = axe_source();
    let idp = tessera_idp::start(tessera_idp::IdpOptions::default())
        .await
        .unwrap();
    let authority = idp.authority().to_string();
    let app = App::launch_with_env(&[("TESSERA_AUTHORITY", &authority)]).await;
    app.wait_for_text("#sign-in", WAIT, |t| t == "Sign in")
        .await;
    assert_accessible(&app, "signed out (with the settings)", &axe).await;

    // Signing in from the keyboard: the focused button is disabled while the popup is open,
    // and the focus goes to what can be acted on (Cancel), then to the signed-in screen.
    press(&app, "sign-in").await;
    wait_for_focus(
        &app,
        |id| id == "busy-cancel",
        "Cancel while the popup is open",
    )
    .await;
    let popup = app.wait_for_popup(WAIT).await;
    app.sign_in_in_popup(&popup, "ada@tessera.test", "tessera")
        .await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "ada@tessera.test")
        .await;
    wait_for_focus(
        &app,
        |id| id == "profile-name",
        "the signed-in screen's heading",
    )
    .await;
    assert_accessible(&app, "signed in", &axe).await;

    // A button that disables itself while it works gives the focus back when done.
    app.client
        .execute(
            "document.getElementById('get-token-silently').focus();",
            vec![],
        )
        .await
        .unwrap();
    press(&app, "get-token-silently").await;
    // The click started the busy state (the handler runs before the click returns); once it
    // is over the focus is back on the button.
    wait_until(
        &app,
        "document.getElementById('busy').hidden",
        "the busy state over",
    )
    .await;
    wait_for_focus(&app, |id| id == "get-token-silently", "the button again").await;

    // An error banner: a tenant that does not exist.
    app.type_into("#token-tenant", "nobody.example").await;
    app.client
        .find(Locator::Css("#get-token-silently"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.wait_for_text("#banner-message", WAIT, |t| !t.is_empty())
        .await;
    assert_accessible(&app, "an error banner", &axe).await;

    // Signed out: the focus goes to the signed-out screen's heading.
    let status = app.invoke("accounts", json!({})).await.unwrap();
    assert_eq!(status.as_array().unwrap().len(), 1);
    press(&app, "sign-out").await;
    app.wait_for_text("#sign-in", WAIT, |t| t == "Sign in")
        .await;
    wait_for_focus(
        &app,
        |id| id == "welcome-title",
        "the signed-out screen's heading",
    )
    .await;
    app.close().await;
}
