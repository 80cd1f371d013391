//! The commands under Tauri's mock runtime against tessera-idp in-process: the real engine, the
//! real Graph client and the real ACL, no display. The user is signed in by the engine's
//! scripted browser (the mock runtime has no webview to show the popup); the popup, the hidden
//! window and the system browser are exercised by the WebDriver tests in `tests/`.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tauri::test::MockRuntime;
use tauri::{Listener, Manager};
use tessera_auth::InteractiveRequest;
use tessera_idp::{IdpOptions, RunningIdp, DEFAULT_CLIENT_ID};
use tessera_test_support::ScriptedBrowser;

use crate::labels;
use crate::provider::{Endpoints, Provider, ProviderChoice};
use crate::tests::{build, invoke, window};
use tauri_plugin_tessera::{TesseraExt, ENGINE_EVENT};

struct World {
    idp: RunningIdp,
    app: tauri::App<MockRuntime>,
    main: tauri::WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

/// The app's provider: the test's `tessera-idp`.
fn provider_on(idp: &RunningIdp) -> Provider {
    let endpoints = Endpoints {
        authority: idp.authority(),
        client_id: DEFAULT_CLIENT_ID.into(),
        authority_type: None,
        graph_url: Some(idp.graph_url()),
        redirect_uri: tessera_auth::NATIVE_CLIENT_REDIRECT_URI.parse().unwrap(),
    };
    tauri::async_runtime::block_on(Provider::start(ProviderChoice::Configured(endpoints), None))
        .unwrap()
}

fn world() -> World {
    let idp = tauri::async_runtime::block_on(tessera_idp::start(IdpOptions::default())).unwrap();
    let provider = provider_on(&idp);
    let dir = tempfile::tempdir().unwrap();
    let app = build(provider, dir.path());
    let main = window(&app, labels::MAIN);
    World {
        idp,
        app,
        main,
        dir,
    }
}

impl World {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        invoke(&self.main, cmd, args)
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// Signs `username` in as the popup would, through the scripted browser.
    fn sign_in(&self, username: &str) -> tessera_auth::AuthenticationResult {
        let engine = self.app.tessera().engine();
        let result = tauri::async_runtime::block_on(engine.acquire_token_interactive(
            InteractiveRequest::default(),
            &ScriptedBrowser::user(username),
        ))
        .unwrap();
        engine
            .set_active_account(Some(&result.account.home_account_id))
            .unwrap();
        result
    }

    /// The app started again on the same folder and provider, as after a quit.
    fn restarted(&self) -> tauri::App<MockRuntime> {
        build(provider_on(&self.idp), self.dir.path())
    }

    fn stat(&self, key: &str) -> u64 {
        tauri::async_runtime::block_on(self.idp.stat(key)).unwrap()
    }
}

#[test]
fn signed_out_the_commands_say_so_without_opening_anything() {
    let w = world();
    assert_eq!(w.ok("accounts", json!({})), json!([]));
    assert_eq!(w.ok("token_status", json!({})), Value::Null);
    let err = w
        .call("acquire_token", json!({ "interaction": "none" }))
        .unwrap_err();
    assert_eq!(err["kind"], "no_account", "{err}");
    let err = w.call("profile", json!({})).unwrap_err();
    assert_eq!(err["kind"], "no_account", "{err}");
    assert_eq!(w.stat("authorize"), 0);
    assert_eq!(w.stat("token"), 0);
}

/// Every `"secret"` string in the engine's cache (access, refresh and ID tokens), as it is now.
fn cached_secrets(app: &tauri::App<MockRuntime>) -> Vec<String> {
    let blob = app.tessera().engine().cache().serialize();
    tessera_test_support::secrets_in(&serde_json::from_slice(&blob).unwrap())
}

#[test]
fn signed_in_the_token_comes_from_the_cache_then_a_forced_refresh_and_never_crosses() {
    let w = world();
    // Everything the UI receives: command results, errors and events.
    let crossed = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let crossed = crossed.clone();
        w.main.listen_any(ENGINE_EVENT, move |event| {
            crossed.lock().unwrap().push(event.payload().to_owned());
        });
    }
    let call = |cmd: &str, args: Value| {
        let outcome = w.call(cmd, args);
        let text = match &outcome {
            Ok(v) | Err(v) => v.to_string(),
        };
        crossed.lock().unwrap().push(text);
        outcome.unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    };
    w.sign_in("ada@tessera.test");
    let accounts = call("accounts", json!({}));
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(accounts[0]["username"], "ada@tessera.test");
    assert_eq!(accounts[0]["active"], true);

    let status = call("acquire_token", json!({ "interaction": "none" }));
    assert_eq!(status["source"], "cache");
    assert_eq!(status["account"]["username"], "ada@tessera.test");
    assert!(status["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "User.Read"));
    assert!(status["expiresOn"].as_i64().unwrap() > 0);
    assert!(!status["correlationId"].as_str().unwrap().is_empty());
    let before_refresh = cached_secrets(&w.app);

    let status = call(
        "acquire_token",
        json!({ "interaction": "none", "forceRefresh": true }),
    );
    assert_eq!(status["source"], "refresh_token");
    assert_eq!(call("token_status", json!({})), status);
    assert_eq!(w.stat("token:refresh_token"), 1);
    call("profile", json!({}));
    call("about", json!({}));

    // Issue 21: no access, refresh or ID token, old or new, reached the UI by any path.
    let mut secrets = before_refresh;
    secrets.extend(cached_secrets(&w.app));
    assert!(
        secrets.len() >= 5,
        "tokens of both sign-ins: {}",
        secrets.len()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let crossed = crossed.lock().unwrap();
    assert!(crossed.len() > 6, "the events arrived: {}", crossed.len());
    for text in crossed.iter() {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a token crossed: {text}");
        }
        assert!(
            !text.contains("eyJ"),
            "something JWT-shaped crossed: {text}"
        );
    }
}

/// Issue 20, point 9: a guest asks the tenant that invited it, by id or domain; the status
/// names that tenant's authority, and the account lists both tenants.
#[test]
fn a_guest_gets_a_token_from_the_resource_tenant_and_the_account_lists_both_tenants() {
    let w = world();
    w.sign_in("ada@tessera.test");
    let accounts = w.ok("accounts", json!({}));
    assert_eq!(
        accounts[0]["tenants"],
        json!([{ "tenantId": tessera_idp::DEFAULT_TENANT_ID, "home": true }])
    );
    let status = w.ok(
        "acquire_token",
        json!({ "interaction": "none", "tenant": "fabrikam.test" }),
    );
    assert_eq!(status["source"], "refresh_token");
    assert!(
        status["authority"]
            .as_str()
            .unwrap()
            .ends_with("/fabrikam.test"),
        "{status}"
    );
    let status = w.ok(
        "acquire_token",
        json!({ "interaction": "none", "tenant": tessera_idp::GUEST_TENANT_ID }),
    );
    assert_eq!(status["source"], "cache");
    let accounts = w.ok("accounts", json!({}));
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(accounts[0]["tenantId"], tessera_idp::DEFAULT_TENANT_ID);
    assert_eq!(
        accounts[0]["tenants"],
        json!([
            { "tenantId": tessera_idp::DEFAULT_TENANT_ID, "home": true },
            { "tenantId": tessera_idp::GUEST_TENANT_ID, "home": false },
        ])
    );
    // An empty tenant field is the home tenant's token, from the cache.
    let status = w.ok(
        "acquire_token",
        json!({ "interaction": "none", "tenant": " " }),
    );
    assert_eq!(status["source"], "cache");
    assert_eq!(w.stat("token:refresh_token"), 1);
}

#[test]
fn profile_and_photo_come_from_graph_with_the_cached_token() {
    let w = world();
    w.sign_in("ada@tessera.test");
    let profile = w.ok("profile", json!({}));
    assert_eq!(profile["displayName"], "Ada Lovelace");
    assert_eq!(profile["userPrincipalName"], "ada@tessera.test");
    let photo = w.ok("profile_photo", json!({}));
    assert!(
        photo
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,/9j/"),
        "a JPEG data URL"
    );
    assert_eq!(w.stat("token"), 1, "the sign-in's token served both calls");
}

#[test]
fn engine_events_reach_the_ui_as_tauri_events() {
    let w = world();
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    {
        let seen = seen.clone();
        w.main.listen(ENGINE_EVENT, move |event| {
            seen.lock()
                .unwrap()
                .push(serde_json::from_str(event.payload()).unwrap());
        });
    }
    // Issue 21: the events went to every window, the provider's pages in the sign-in window
    // included; they go to the main window only.
    let popup = window(&w.app, labels::POPUP);
    let leaked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let leaked = leaked.clone();
        popup.listen(ENGINE_EVENT, move |_| {
            leaked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    w.sign_in("ada@tessera.test");
    w.ok("acquire_token", json!({ "interaction": "none" }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let types: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect();
        if types.iter().any(|t| t == "account_added")
            && types
                .iter()
                .filter(|t| *t == "acquire_token_success")
                .count()
                >= 2
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events seen: {types:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        leaked.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "an engine event reached the sign-in window"
    );
}

#[test]
fn accounts_switch_and_sign_out_forgets_only_the_one_signed_out() {
    let w = world();
    let ada = w.sign_in("ada@tessera.test").account;
    let alan = w.sign_in("alan@tessera.test").account;
    let accounts = w.ok(
        "set_active_account",
        json!({ "homeAccountId": ada.home_account_id }),
    );
    let active: Vec<&Value> = accounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["username"], "ada@tessera.test");
    assert_eq!(
        w.ok("profile", json!({}))["userPrincipalName"],
        "ada@tessera.test"
    );

    let err = w
        .call("set_active_account", json!({ "homeAccountId": "nobody" }))
        .unwrap_err();
    assert_eq!(err["kind"], "account_not_found");

    let left = w.ok(
        "sign_out",
        json!({ "homeAccountId": ada.home_account_id, "endSession": false }),
    );
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["username"], "alan@tessera.test");
    assert_eq!(
        w.ok("token_status", json!({})),
        Value::Null,
        "ada's status went with her"
    );
    let err = w
        .call(
            "sign_out",
            json!({ "homeAccountId": ada.home_account_id, "endSession": false }),
        )
        .unwrap_err();
    assert_eq!(err["kind"], "account_not_found");
    assert!(w
        .app
        .tessera()
        .engine()
        .account(&alan.home_account_id)
        .is_some());
}

/// Issue 22: the app (through the store plugin's in-memory copy, never reloaded) and the CLI
/// (writing the file directly) both wrote `settings.json`, and the last writer won. Both now
/// go through one writer that reads the file afresh under a lock.
#[test]
fn a_setting_the_cli_wrote_meanwhile_survives_the_apps_next_change() {
    let w = world();
    let file = w.dir.path().join("settings.json");
    w.ok(
        "set_settings",
        json!({ "changes": { "interactionMode": "redirect" } }),
    );
    // `tessera-cli token --account …` records the default account, as the CLI does it.
    let mut cli = tessera_host::resolve_file(&file, |_| None, None).unwrap();
    tessera_host::remember_active_account(&file, &mut cli, "cli.tenant").unwrap();
    w.ok(
        "set_settings",
        json!({ "changes": { "interactionTimeLimitSecs": 200 } }),
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        written["settings"]["activeAccount"], "cli.tenant",
        "{written}"
    );
    assert_eq!(written["settings"]["interactionMode"], "redirect");
    assert_eq!(written["settings"]["interactionTimeLimitSecs"], 200);
}

#[test]
fn settings_changes_are_validated_saved_and_reloaded() {
    let w = world();
    let settings = w.ok("settings", json!({}));
    assert_eq!(settings["interactionMode"], "popup");
    assert_eq!(
        settings["scopes"],
        json!([]),
        "the provider's default scopes"
    );
    assert_eq!(settings["provider"]["microsoft"], true);
    assert_eq!(
        settings["provider"]["redirectUri"],
        "https://login.microsoftonline.com/common/oauth2/nativeclient"
    );
    assert_eq!(settings["sources"]["scopes"], "default");
    assert_eq!(settings["restartNeeded"], false);

    let changed = w.ok(
        "set_settings",
        json!({ "changes": { "interactionMode": "redirect", "scopes": ["User.Read", "Mail.Read"] } }),
    );
    assert_eq!(changed["interactionMode"], "redirect");
    let file: Value =
        serde_json::from_slice(&std::fs::read(w.dir.path().join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(file["settings"]["interactionMode"], "redirect");
    assert_eq!(
        file["settings"]["scopes"],
        json!(["User.Read", "Mail.Read"])
    );
    assert_eq!(changed["sources"]["scopes"], "user");

    // The provider and the renewal offset are read at start-up: saved, flagged for a restart.
    let changed = w.ok(
        "set_settings",
        json!({ "changes": { "renewalOffsetSecs": 120, "authority": "https://login.microsoftonline.com/contoso.example", "clientId": "11111111-2222-3333-4444-555555555555" } }),
    );
    assert_eq!(changed["restartNeeded"], true);
    assert_eq!(changed["renewalOffsetSecs"], 120);
    assert_eq!(
        changed["provider"]["authority"],
        w.idp.authority().as_str(),
        "until a restart"
    );

    for bad in [
        json!({ "scopes": ["two words"] }),
        json!({ "redirectPort": 70000 }),
        json!({ "interactionMode": "device_code" }),
        json!({ "interactionTimeLimitSecs": 1 }),
        json!({ "interactionMode": "carrier-pigeon" }),
        json!({ "unknown": true }),
        json!({ "authority": "http://evil.example/common" }),
        json!({ "allowedInteractionModes": ["popup"] }),
    ] {
        let err = w
            .call("set_settings", json!({ "changes": bad }))
            .unwrap_err();
        assert!(
            err["kind"] == "invalid_argument" || err.as_str().is_some(),
            "refused: {err}"
        );
    }
    assert_eq!(
        w.ok("settings", json!({}))["scopes"],
        json!(["User.Read", "Mail.Read"]),
        "a refused change changes nothing"
    );

    // A new process reads them back; a hand-damaged value is reported and defaulted.
    std::fs::write(
        w.dir.path().join("settings.json"),
        r#"{"settings":{"interactionMode":"redirect","interactionTimeLimitSecs":"soon"}}"#,
    )
    .unwrap();
    let again = w.restarted();
    let main = window(&again, "main");
    let settings = invoke(&main, "settings", json!({})).unwrap();
    assert_eq!(settings["interactionMode"], "redirect");
    assert_eq!(settings["interactionTimeLimitSecs"], 300);
    assert_eq!(settings["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn a_restarted_app_is_signed_in_from_its_encrypted_cache_without_the_provider() {
    let w = world();
    // The event relay remembers each change of the active account a moment later, in order:
    // wait for each one, since a value seen early may be an earlier change's (ada is active
    // first and last here).
    let stored_active = || {
        let bytes = std::fs::read(w.dir.path().join("settings.json")).unwrap_or_default();
        serde_json::from_slice::<Value>(&bytes).unwrap_or_default()["settings"]["activeAccount"]
            .clone()
    };
    let remembered = |id: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stored_active() != id && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            stored_active(),
            id,
            "the relay remembers the active account"
        );
    };
    let ada = w.sign_in("ada@tessera.test");
    let alan = w.sign_in("alan@tessera.test");
    remembered(&alan.account.home_account_id);
    // Back to ada: the active account is remembered for the next start.
    w.ok(
        "set_active_account",
        json!({ "homeAccountId": ada.account.home_account_id }),
    );
    remembered(&ada.account.home_account_id);
    let cache = std::fs::read(w.dir.path().join("cache").join(tessera_vault::CACHE_FILE)).unwrap();
    assert!(
        !String::from_utf8_lossy(&cache).contains("ada@tessera.test"),
        "encrypted"
    );
    let authorize = w.stat("authorize");

    let again = w.restarted();
    let main = window(&again, labels::MAIN);
    let accounts = invoke(&main, "accounts", json!({})).unwrap();
    assert_eq!(accounts.as_array().unwrap().len(), 2);
    let status = invoke(&main, "acquire_token", json!({ "interaction": "none" })).unwrap();
    assert_eq!(
        (&status["source"], &status["account"]["username"]),
        (&json!("cache"), &json!("ada@tessera.test"))
    );
    assert_eq!(w.stat("authorize"), authorize, "no sign-in page");
}

#[test]
fn a_policy_pins_settings_and_interaction_modes() {
    let idp = tauri::async_runtime::block_on(tessera_idp::start(IdpOptions::default())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("policy.json");
    std::fs::write(
        &policy_path,
        r#"{ "scopes": ["User.Read"], "allowedInteractionModes": ["redirect"] }"#,
    )
    .unwrap();
    let policy = tessera_config::Policy::load(&policy_path).unwrap().unwrap();
    let provider = provider_on(&idp);
    let keys = tessera_vault::MemoryKeyStore::default();
    let app = crate::tests::build_with(provider, dir.path(), &keys, Some(&policy));
    let main = window(&app, labels::MAIN);
    let settings = invoke(&main, "settings", json!({})).unwrap();
    assert_eq!(settings["interactionMode"], "redirect");
    assert_eq!(
        (
            &settings["sources"]["scopes"],
            &settings["sources"]["interactionMode"]
        ),
        (&json!("policy"), &json!("policy"))
    );
    assert_eq!(settings["policyFile"], policy_path.display().to_string());
    let err = invoke(
        &main,
        "set_settings",
        json!({ "changes": { "scopes": ["Mail.Read"] } }),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("managed"),
        "{err}"
    );
    let err = invoke(&main, "sign_in", json!({ "mode": "popup" })).unwrap_err();
    assert_eq!(err["kind"], "not_allowed", "{err}");
    // Issue 21, point 8: the profile's commands take an interaction too, and make the same
    // check (they once made none, so a page could open the window the policy forbids).
    for command in ["profile", "profile_photo"] {
        let err = invoke(&main, command, json!({ "interaction": "popup" })).unwrap_err();
        assert_eq!(err["kind"], "not_allowed", "{command}: {err}");
    }
    assert!(app.webview_windows().keys().all(|l| l == labels::MAIN));
}

#[test]
fn without_a_keyring_sign_ins_live_in_memory_and_the_window_says_so() {
    let idp = tauri::async_runtime::block_on(tessera_idp::start(IdpOptions::default())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = tessera_vault::MemoryKeyStore::default();
    keys.unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let provider = provider_on(&idp);
    let app = crate::tests::build_with(provider, dir.path(), &keys, None);
    let main = window(&app, labels::MAIN);
    let storage = &invoke(&main, "settings", json!({})).unwrap()["storage"];
    assert_eq!(storage["kind"], "memory");
    let warning = storage["warning"].as_str().unwrap();
    assert!(
        warning.contains("in memory only") && warning.contains("no OS keyring"),
        "{warning}"
    );
    assert!(!dir
        .path()
        .join("cache")
        .join(tessera_vault::CACHE_FILE)
        .exists());
}
