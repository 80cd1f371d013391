//! The real app window under WebDriver.

use std::time::Duration;

use tessera_e2e::App;

#[tokio::test]
async fn main_window_shows_the_ui_and_reaches_the_shell() {
    let app = App::launch().await;
    let title = app.client.title().await.expect("document title");
    assert_eq!(title, "Tessera", "the main window loads ui/index.html");

    // The version can only appear through the `about` command, so this proves the IPC path and
    // the main window's capability, not just static HTML.
    let version = env!("CARGO_PKG_VERSION");
    let about = app
        .wait_for_text("#about", Duration::from_secs(20), |text| {
            text.contains(version)
        })
        .await;
    assert!(about.starts_with("Tessera "), "about line: {about}");
    let shot = app.screenshot("main-window").await;
    assert!(shot.metadata().map(|m| m.len() > 1_000).unwrap_or(false));
    app.close().await;
}
