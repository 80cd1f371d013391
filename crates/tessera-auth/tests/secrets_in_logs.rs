//! No token, code or verifier in any log line, error string or event.
//!
//! The whole chain runs with the `log` facade at TRACE for every crate (the engine's own lines
//! and those of reqwest and its cookie store beneath it; hyper logs only through `tracing`,
//! which nothing here enables): interactive sign-in through both agents, the cache, refresh,
//! rotation, silent SSO, revocation, a claims request, the device code flow, throttling and
//! broken responses, sign-out. The provider records every secret it issued or received
//! (`record_secrets`), including the PKCE verifiers only the engine and the provider ever see;
//! then every captured line, every error's `Display` and `Debug`, and every event (its `Debug`
//! and its JSON) is searched for each of them.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tessera_auth::{
    Config, DeviceCodeInfo, DeviceCodeRequest, Error, Event, InteractiveAgent, InteractiveRequest,
    LoopbackAgent, PublicClientApplication, SilentRequest, TokenSource,
};
use tessera_idp::{IdpOptions, DEFAULT_CLIENT_ID};
use tessera_test_support::user_agent::{Script, UserAgent};
use tessera_test_support::ScriptedBrowser;
use url::Url;

/// Every log record, formatted as a logger would print it.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "{} {} {}:{} {}",
            record.level(),
            record.target(),
            record.file().unwrap_or(""),
            record.line().unwrap_or(0),
            record.args()
        );
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// Where each secret (or, for a JWT, its payload or signature) appears in `outputs`.
fn leaks(secrets: &[String], outputs: &[String]) -> Vec<String> {
    let mut found = vec![];
    for secret in secrets {
        let mut needles = vec![secret.as_str()];
        // A JWT's header is shared by every token the key signs: look for its other parts.
        let parts: Vec<&str> = secret.split('.').collect();
        if parts.len() == 3 {
            needles = vec![parts[1], parts[2]];
        }
        for needle in needles.into_iter().filter(|n| n.len() >= 16) {
            for output in outputs {
                if output.contains(needle) {
                    found.push(format!(
                        "a secret of {} characters in: {output}",
                        secret.len()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_scan_finds_a_planted_secret() {
    let secret = "0.AXkA-planted-refresh-token-value".to_owned();
    let jwt =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwbGFudGVkLXN1YmplY3QifQ.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"
            .to_owned();
    let outputs = vec![
        "DEBUG a harmless line".to_owned(),
        format!("TRACE refreshing with {secret}"),
        "an error quoting c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw".to_owned(),
    ];
    assert_eq!(leaks(&[secret, jwt], &outputs).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_an_error_or_an_event() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let idp = tessera_idp::start(IdpOptions {
        record_secrets: true,
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let control = |path: &str, body: serde_json::Value| {
        let request = http.post(idp.url(&format!("__control/{path}"))).json(&body);
        async move { assert!(request.send().await.unwrap().status().is_success()) }
    };
    let mut config = Config::new(DEFAULT_CLIENT_ID, idp.authority().as_str());
    config.default_scopes = vec!["User.Read".into()];
    config.client_capabilities = vec!["cp1".into()];
    let app = PublicClientApplication::builder(config).build().unwrap();
    let mut events = app.subscribe();
    let mut errors: Vec<String> = vec![];
    let mut note = |result: &Result<tessera_auth::AuthenticationResult, Error>| {
        if let Err(error) = result {
            errors.push(error.to_string());
            errors.push(format!("{error:?}"));
        }
    };

    // Interactive, through the embedded-window stand-in and through the loopback listener (with
    // a stray request carrying a forged state).
    // This "browser" keeps ada's session cookie for silent SSO later.
    let ada_browser = ScriptedBrowser::user("ada@tessera.test");
    let ada = app
        .acquire_token_interactive(InteractiveRequest::default(), &ada_browser)
        .await
        .unwrap();
    let loopback = LoopbackAgent::bind(true).await.unwrap();
    let redirect = loopback.redirect_uri();
    let browser = UserAgent::new(Script::user("alan@tessera.test"));
    let loopback = loopback.with_opener(Arc::new(move |url: &Url| {
        let (browser, url, redirect) = (browser.clone(), url.clone(), redirect.clone());
        tokio::spawn(async move {
            let _ = reqwest::get(format!(
                "{redirect}?code=stray-code-value-0123456789&state=forged"
            ))
            .await;
            let outcome = browser.sign_in(&url, redirect.as_str()).await.unwrap();
            browser.deliver(&outcome).await.unwrap();
        });
        Ok(())
    }));
    let alan = app
        .acquire_token_interactive(InteractiveRequest::default(), &loopback)
        .await
        .unwrap();

    // Cache, forced refresh (rotation), a claims request, and an expired token renewed.
    let silent = |account: &tessera_auth::Account| SilentRequest::new(account.clone(), vec![]);
    let cached = app.acquire_token_silent(silent(&ada.account), None).await;
    assert_eq!(cached.as_ref().unwrap().source, TokenSource::Cache);
    let forced = SilentRequest {
        force_refresh: true,
        ..silent(&ada.account)
    };
    note(&app.acquire_token_silent(forced.clone(), None).await);
    let claims = SilentRequest {
        claims: Some(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#.into()),
        ..silent(&alan.account)
    };
    note(&app.acquire_token_silent(claims, None).await);

    // Faults on the token endpoint: each error string is kept for the scan.
    for fault in [
        json!({ "target": "token", "kind": "status", "status": 429, "retry_after": 1 }),
        json!({ "target": "token", "kind": "malformed" }),
        json!({ "target": "token", "kind": "truncated" }),
        json!({ "target": "token", "kind": "omit", "field": "expires_in" }),
        json!({ "target": "token", "kind": "reset", "count": 2 }),
    ] {
        control("faults", fault).await;
        note(&app.acquire_token_silent(forced.clone(), None).await);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    // Revoked refresh tokens: silent SSO in the "hidden window", then with the session ended
    // too, InteractionRequired.
    control("users/ada@tessera.test/refresh-tokens/revoke", json!({})).await;
    let sso = app
        .acquire_token_silent(forced.clone(), Some(&ada_browser))
        .await;
    assert_eq!(sso.as_ref().unwrap().source, TokenSource::SilentSso);
    control("users/ada@tessera.test/refresh-tokens/revoke", json!({})).await;
    let sessions = http
        .delete(idp.url("__control/users/ada@tessera.test/sessions"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(sessions.status().is_success());
    let required = app
        .acquire_token_silent(forced.clone(), Some(&ada_browser))
        .await;
    assert!(matches!(required, Err(Error::InteractionRequired { .. })));
    note(&required);

    // The device code flow.
    control("device-code", json!({ "interval": 1 })).await;
    let (shown, received) = tokio::sync::oneshot::channel::<DeviceCodeInfo>();
    let typist = tokio::spawn(async move {
        let info = received.await.unwrap();
        let page = Url::parse(&info.verification_uri).unwrap();
        UserAgent::new(Script::user("ada@tessera.test"))
            .device_sign_in(&page, &info.user_code)
            .await
    });
    let device = app
        .acquire_token_with_device_code(DeviceCodeRequest::default(), move |info| {
            let _ = shown.send(info.clone());
        })
        .await;
    typist.await.unwrap().unwrap();
    note(&device);

    // Sign-out.
    for account in app.accounts() {
        app.remove_account(&account).unwrap();
    }

    let mut outputs = CAPTURE.0.lock().unwrap().clone();
    let mut sources: Vec<String> = outputs
        .iter()
        .filter_map(|line| line.split(' ').nth(1).map(str::to_owned))
        .collect();
    sources.sort();
    sources.dedup();
    eprintln!("{} log lines from {sources:?}", outputs.len());
    outputs.extend(errors);
    while let Ok(event) = events.try_recv() {
        outputs.push(format!("{event:?}"));
        outputs.push(serde_json::to_string(&event).unwrap());
        if let Event::PersistenceFailed { .. } = event {
            outputs.extend(app.persistence_error());
        }
    }
    let secrets = idp.secrets_seen().unwrap();

    // The scan is only as good as what it scans: the secrets include these results' tokens and
    // verifiers, and the logs hold the engine's lines and the HTTP stack's.
    for token in [&ada.access_token, &alan.access_token] {
        assert!(secrets.contains(&token.secret().to_owned()));
    }
    assert!(
        secrets.len() >= 30,
        "codes, verifiers, refresh and ID and access tokens: {} recorded",
        secrets.len()
    );
    for expected in [
        "tessera_auth::token_client",
        "tessera_auth::loopback",
        "refused a request",
        "failed, interaction_required",
        "AcquireTokenSuccess",
        "reqwest::connect",
    ] {
        assert!(
            outputs.iter().any(|line| line.contains(expected)),
            "nothing mentions {expected:?}: the capture missed a source"
        );
    }
    let found = leaks(&secrets, &outputs);
    assert!(
        found.is_empty(),
        "{} leak(s) among {} outputs:\n{}",
        found.len(),
        outputs.len(),
        found.join("\n")
    );
}
