//! The real app window under WebDriver.

use std::time::Duration;

use tessera_e2e::App;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn main_window_shows_the_ui_and_reaches_the_shell() {
    let app = App::launch().await;
    let title = app.client.title().await.expect("document title");
    assert_eq!(title, "Tessera", "the main window loads ui/index.html");

    // The version can only appear through the `about` command, so this proves the IPC path and
    // the main window's capability, not just static HTML.
    let version = env!("CARGO_PKG_VERSION");
    let about = app
        .wait_for_text("#about", WAIT, |text| text.contains(version))
        .await;
    assert!(about.starts_with("Tessera "), "about line: {about}");
    app.close().await;
}

#[tokio::test]
async fn with_no_configuration_the_app_runs_its_embedded_identity_provider() {
    let app = App::launch().await;
    let authority = app
        .wait_for_text("#authority", WAIT, |t| t.starts_with("http://127.0.0.1:"))
        .await;
    assert!(authority.ends_with("/common"), "{authority}");
    let note = app
        .wait_for_text("#embedded-note", WAIT, |t| !t.is_empty())
        .await;
    assert!(
        note.contains("ada@tessera.test") && note.contains("alan@tessera.test"),
        "{note}"
    );

    // The provider really runs inside the app: its discovery document answers.
    let discovery = format!("{authority}/v2.0/.well-known/openid-configuration");
    let status = http_status(&discovery).await;
    assert_eq!(status, 200, "{discovery}");
    let shot = app.screenshot("main-window").await;
    assert!(shot.metadata().map(|m| m.len() > 1_000).unwrap_or(false));

    // Signed in on the embedded provider, the user is still signed in after a restart: the
    // provider keeps its keys and refresh tokens in the app's data folder.
    app.sign_in_with_popup("alan@tessera.test").await;
    let app = app.restart().await;
    app.wait_for_text("#profile-upn", WAIT, |t| t == "alan@tessera.test")
        .await;
    assert_eq!(app.windows().await.len(), 1, "no sign-in window");
    let forced = app
        .invoke(
            "acquire_token",
            serde_json::json!({ "interaction": "none", "forceRefresh": true }),
        )
        .await
        .expect("the refresh token from before the restart still works");
    assert_eq!(forced["source"], "refresh_token");
    app.close().await;
    assert_ne!(
        http_status(&discovery).await,
        200,
        "the embedded provider stops with the app"
    );
}

#[tokio::test]
async fn a_configured_provider_replaces_the_embedded_one() {
    let idp = tessera_idp::start(tessera_idp::IdpOptions {
        flavor: tessera_idp::Flavor::Oidc,
        ..Default::default()
    })
    .await
    .expect("a provider for the app to use");
    let authority = idp.authority().to_string();
    let app = App::launch_with_env(&[("TESSERA_AUTHORITY", &authority)]).await;
    let shown = app
        .wait_for_text("#authority", WAIT, |t| !t.starts_with('\u{2026}'))
        .await;
    assert_eq!(shown, authority);
    // A plain OpenID provider: the profile comes from its userinfo, and nothing says Graph.
    let service = app
        .wait_for_text("#profile-service", WAIT, |t| !t.starts_with('\u{2026}'))
        .await;
    assert!(service.contains("userinfo"), "{service}");
    let name = app
        .wait_for_text("#profile-service-name", WAIT, |_| true)
        .await;
    assert_eq!(name, "Profile");
    let note_hidden = app
        .client
        .find(fantoccini::Locator::Css("#embedded-note"))
        .await
        .expect("the note element exists")
        .is_displayed()
        .await
        .expect("visibility");
    assert!(
        !note_hidden,
        "no embedded-provider note for a configured provider"
    );
    app.close().await;
}

/// The HTTP status of a GET, or 0 when nothing answers.
async fn http_status(url: &str) -> u16 {
    match reqwest::get(url).await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn the_window_works_at_800_by_600_and_follows_a_dark_system_theme() {
    // GTK's dark variant is what a dark desktop selects; WebKit turns it into
    // `prefers-color-scheme: dark`.
    let app = App::launch_with_env(&[("GTK_THEME", "Adwaita:dark")]).await;
    app.wait_for_text("#sign-in", WAIT, |t| t == "Sign in")
        .await;
    app.client
        .set_window_rect(0, 0, 800, 600)
        .await
        .expect("WebDriver resizes the window");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let layout = app
        .client
        .execute(
            "return { dark: matchMedia('(prefers-color-scheme: dark)').matches,\
                      background: getComputedStyle(document.body).backgroundColor,\
                      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,\
                      width: window.innerWidth };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout["dark"], true, "{layout}");
    assert_eq!(
        layout["background"], "rgb(17, 21, 29)",
        "the dark palette: {layout}"
    );
    assert!(layout["width"].as_i64().unwrap() <= 800, "{layout}");
    assert_eq!(
        layout["overflow"], 0,
        "no horizontal scrolling at 800×600: {layout}"
    );
    app.screenshot("dark-800x600").await;

    // The keyboard alone signs in: Tab reaches "Sign in" first, Enter opens the sign-in window.
    let body = app
        .client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap();
    body.send_keys(&fantoccini::key::Key::Tab).await.unwrap();
    let focused = app.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("sign-in")
    );
    focused
        .send_keys(&fantoccini::key::Key::Enter)
        .await
        .unwrap();
    app.wait_for_popup(WAIT).await;
    app.close().await;
}
