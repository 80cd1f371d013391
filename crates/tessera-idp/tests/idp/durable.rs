//! A provider with a state file (the app's embedded one) survives a restart: same keys, same
//! sessions, same refresh tokens; and the file holds no secret it handed out.

use reqwest::StatusCode;
use tessera_idp::{Flavor, IdpOptions};
use tessera_test_support::user_agent::{Script, UserAgent};

use crate::*;

async fn durable_fixture(state_file: &std::path::Path, port: u16) -> Fixture {
    fixture_with_options(IdpOptions {
        flavor: Flavor::Entra,
        port,
        state_file: Some(state_file.to_owned()),
        // Strict rotation, so that the rotation state is seen to survive the restart.
        behaviour: Some(tessera_idp::Behaviour {
            refresh_token_reuse: tessera_idp::behaviour::RefreshTokenReuse::RotateAndRefuse,
            ..tessera_idp::Behaviour::entra()
        }),
        ..IdpOptions::default()
    })
    .await
}

#[tokio::test]
async fn keys_sessions_and_refresh_tokens_survive_a_restart_and_no_secret_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    // A folder the provider makes itself: owner-only, like the file (issue 21).
    let state = dir.path().join("made-by-the-provider/idp-state.json");
    let f = durable_fixture(&state, 0).await;
    let port = f.idp.base_url().port().unwrap();
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let code = f.sign_in(&agent, &[]).await.param("code").unwrap();
    let (_, tokens) = f.redeem(&code).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    f.idp.stop().await;

    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        !text.contains(&refresh_token),
        "refresh tokens are kept as hashes"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder = std::fs::metadata(state.parent().unwrap()).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
    }

    let f = durable_fixture(&state, port).await;
    assert_eq!(
        f.me(&access_token).await.status(),
        StatusCode::OK,
        "tokens signed before the restart still verify"
    );
    let (status, renewed) = f.refresh(&refresh_token, SCOPE).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (status, _) = f.refresh(&refresh_token, SCOPE).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "still single-use");
    let silent = f.sign_in(&agent, &[("prompt", "none")]).await;
    assert!(
        silent.param("code").is_some(),
        "the browser session survived: {silent:?}"
    );
    assert_eq!(
        f.stats().await["login:credentials"],
        Value::Null,
        "no password typed"
    );
}

#[tokio::test]
async fn a_damaged_state_file_is_set_aside_and_the_provider_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("idp-state.json");
    std::fs::write(&state, "{ not state").unwrap();
    let f = durable_fixture(&state, 0).await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("idp-state.damaged")).unwrap(),
        "{ not state"
    );
    let tokens = f.tokens_for("ada@tessera.test").await;
    assert!(tokens["access_token"].is_string());
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .contains("\"version\":1"));
}
