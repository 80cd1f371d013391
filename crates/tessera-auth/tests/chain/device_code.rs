//! The device authorization grant through the engine: the user signs in on "another screen"
//! (the scripted browser) while the engine polls.

use tessera_auth::{DeviceCodeInfo, DeviceCodeRequest};

use crate::*;

/// Runs the device flow, the scripted `browser` typing the code as soon as it is shown.
async fn device_sign_in(
    w: &World,
    browser: UserAgent,
) -> Result<tessera_auth::AuthenticationResult, Error> {
    let (shown, received) = tokio::sync::oneshot::channel::<DeviceCodeInfo>();
    let user = tokio::spawn(async move {
        let info = received.await.unwrap();
        let page = Url::parse(&info.verification_uri).unwrap();
        browser.device_sign_in(&page, &info.user_code).await
    });
    let result = w
        .app
        .acquire_token_with_device_code(DeviceCodeRequest::default(), move |info| {
            shown.send(info.clone()).unwrap();
        })
        .await;
    user.await.unwrap().unwrap();
    result
}

#[tokio::test]
async fn a_device_code_sign_in_polls_patiently_and_caches_the_account() {
    for flavor in [Flavor::Entra, Flavor::Oidc] {
        let w = world(flavor, &["cp1"]).await;
        w.control("device-code", json!({ "interval": 1, "slow_down": 1 }))
            .await;
        let result = device_sign_in(&w, UserAgent::new(Script::user("ada@tessera.test")))
            .await
            .unwrap();
        assert_eq!(result.source, TokenSource::Interactive);
        assert_eq!(result.account.username, "ada@tessera.test");
        assert!(result.scopes.iter().any(|s| s.ends_with("User.Read")));
        // The forced slow_down is the only one: after it the engine polled 5 s slower, so the
        // provider never found it polling too fast.
        assert_eq!(w.stat("token:device_code:slow_down").await, 1);
        assert!(w.stat("token:device_code").await >= 2);
        let again = w
            .app
            .acquire_token_silent(w.silent(&result.account), None)
            .await
            .unwrap();
        assert_eq!(again.source, TokenSource::Cache);
        assert_eq!(again.access_token, result.access_token);
    }
}

#[tokio::test]
async fn a_declined_device_code_is_a_cancellation_and_a_provider_without_one_says_so() {
    let w = world(Flavor::Entra, &[]).await;
    w.control("device-code", json!({ "interval": 1 })).await;
    let decline = UserAgent::new(Script {
        accept_consent: false,
        ..Script::user("alan@tessera.test")
    });
    let declined = device_sign_in(&w, decline).await;
    assert!(
        matches!(declined, Err(Error::UserCancelled)),
        "{declined:?}"
    );
    assert!(w.app.accounts().is_empty());

    // The metadata the engine holds still names the endpoint: it asks the provider again
    // before giving up.
    w.control("device-code", json!({ "enabled": false })).await;
    let refused = w
        .app
        .acquire_token_with_device_code(DeviceCodeRequest::default(), |_| {
            panic!("no code without a device endpoint")
        })
        .await;
    assert!(
        matches!(&refused, Err(Error::ClientConfiguration(e)) if e.error == "unsupported_grant_type"),
        "{refused:?}"
    );
    let fresh =
        PublicClientApplication::new(Config::new(DEFAULT_CLIENT_ID, w.idp.authority().as_str()))
            .unwrap();
    let unsupported = fresh
        .acquire_token_with_device_code(DeviceCodeRequest::default(), |_| {
            panic!("no code without a device endpoint")
        })
        .await;
    assert!(
        matches!(&unsupported, Err(Error::Configuration(m)) if m.contains("device code flow")),
        "{unsupported:?}"
    );
}
