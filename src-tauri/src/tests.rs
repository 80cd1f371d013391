//! The shell under Tauri's mock runtime: no display needed, the real capabilities apply.

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::command_list::COMMANDS;
use crate::provider::{Endpoints, Provider, ProviderChoice};
use crate::{app_builder, labels, About, Startup};

pub(crate) fn app() -> tauri::App<MockRuntime> {
    let endpoints = Endpoints {
        authority: "https://login.microsoftonline.com/organizations"
            .parse()
            .unwrap(),
        client_id: "11111111-2222-3333-4444-555555555555".into(),
        authority_type: None,
        graph_url: Some("https://graph.microsoft.com/v1.0".parse().unwrap()),
        redirect_uri: tessera_auth::NATIVE_CLIENT_REDIRECT_URI.parse().unwrap(),
    };
    let provider = tauri::async_runtime::block_on(Provider::start(
        ProviderChoice::Configured(endpoints),
        None,
    ))
    .expect("a configured provider needs no start-up");
    // No test of this app writes settings: the folder may go at once.
    build(provider, tempfile::tempdir().unwrap().path())
}

/// The app under the mock runtime, its settings file and token cache in `dir` (the cache key
/// in memory: the real keyring is the vault's and the end-to-end tests' business).
pub(crate) fn build(provider: Provider, dir: &std::path::Path) -> tauri::App<MockRuntime> {
    build_with(provider, dir, &*TEST_KEYS, None)
}

/// One key store for every test app, as the OS keyring is one per machine.
static TEST_KEYS: std::sync::LazyLock<tessera_vault::MemoryKeyStore> =
    std::sync::LazyLock::new(tessera_vault::MemoryKeyStore::default);

/// [`build`] with a policy and another key store.
pub(crate) fn build_with(
    provider: Provider,
    dir: &std::path::Path,
    keys: &dyn tessera_vault::KeyStore,
    policy: Option<&tessera_config::Policy>,
) -> tauri::App<MockRuntime> {
    let settings_file = dir.join("settings.json");
    let resolved = crate::config::resolve_file(&settings_file, |_| None, policy)
        .expect("test settings resolve");
    let startup = Startup {
        resolved,
        settings_file,
        storage: crate::config::Storage::open_with(&dir.join("cache"), keys),
    };
    let app = app_builder(mock_builder(), provider, startup)
        .build(tauri::generate_context!())
        .expect("the app must build under the mock runtime");
    // The mock runtime never runs the event loop, so never the setup hook.
    crate::on_start(app.handle());
    app
}

pub(crate) fn window(app: &tauri::App<MockRuntime>, label: &str) -> WebviewWindow<MockRuntime> {
    WebviewWindowBuilder::new(app, label, WebviewUrl::default())
        .build()
        .expect("mock windows always build")
}

/// A command as the UI calls it: Tessera's own by name, the plugin's as
/// `plugin:tessera|<name>`.
pub(crate) fn invoke(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    body: Value,
) -> Result<Value, Value> {
    invoke_from(window, "tauri://localhost", &ipc_name(cmd), body)
}

fn ipc_name(cmd: &str) -> String {
    if tauri_plugin_tessera::COMMANDS.contains(&cmd) {
        format!("plugin:tessera|{cmd}")
    } else {
        cmd.to_owned()
    }
}

/// Every command a page could name: Tessera's and the plugin's.
fn every_command() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .chain(tauri_plugin_tessera::COMMANDS)
        .copied()
}

/// An IPC call as a page loaded from `origin` in `window` would send it.
fn invoke_from(
    window: &WebviewWindow<MockRuntime>,
    origin: &str,
    cmd: &str,
    body: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: origin.parse().expect("a test origin is a URL"),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("responses are JSON"))
}

#[test]
fn about_reports_this_build() {
    let app = app();
    let main = window(&app, labels::MAIN);
    let about = invoke(&main, "about", json!({})).expect("main may call about");
    let expected = About::of_this_build();
    assert_eq!(about["product"], "Tessera");
    assert_eq!(
        about["version"], expected.version,
        "version comes from Cargo"
    );
    assert_eq!(about["commit"], expected.commit);
    assert_eq!(about["buildDate"], expected.build_date);
}

#[test]
fn settings_report_the_configured_provider_and_no_secret() {
    let app = app();
    let main = window(&app, labels::MAIN);
    let settings = invoke(&main, "settings", json!({})).expect("main may read settings");
    let provider = &settings["provider"];
    assert_eq!(
        provider["authority"],
        "https://login.microsoftonline.com/organizations"
    );
    assert_eq!(provider["clientId"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(provider["embedded"], false);
    assert_eq!(provider["testUsers"], json!([]));
    assert_eq!(settings["storage"]["kind"], "encrypted");
    assert_eq!(settings["storage"]["warning"], Value::Null);
}

#[test]
fn every_listed_command_is_handled_and_allowed_on_main() {
    let app = app();
    let main = window(&app, labels::MAIN);
    // `access_token` is handled but not in `tessera:default`: see the next tests.
    for cmd in every_command().filter(|cmd| *cmd != "access_token") {
        // Missing arguments are fine here; "not found" or "not allowed" means the list,
        // generate_handler! and the capability have drifted apart.
        if let Err(err) = invoke(&main, cmd, json!({})) {
            let text = err.to_string();
            assert!(
                !text.contains("not found") && !text.contains("not allowed"),
                "command {cmd} must be registered and granted to main: {text}"
            );
        }
    }
}

#[test]
fn windows_other_than_main_are_refused_every_command() {
    let app = app();
    // Labels of the sign-in popup and the hidden silent-SSO window, which show the IdP's pages.
    let silent = format!("{}1", labels::SILENT_PREFIX);
    for label in [labels::POPUP, silent.as_str(), "anything-else"] {
        let other = window(&app, label);
        for cmd in every_command() {
            let err = invoke(&other, cmd, json!({}))
                .expect_err("only the main window may call the app's commands");
            assert!(
                err.to_string().contains("not allowed"),
                "{cmd} on {label} must be refused by the ACL, got {err}"
            );
        }
    }
}

/// The plugins' commands a page could try and no window gets: the access token itself (the
/// app has no page that calls an API), and core's; events are the main window's alone.
const PLUGIN_COMMANDS: &[&str] = &[
    "plugin:tessera|access_token",
    "plugin:event|emit",
    "plugin:event|emit_to",
    "plugin:webview|create_webview_window",
    "plugin:window|set_title",
];

fn refused(outcome: Result<Value, Value>) -> bool {
    outcome.is_err_and(|e| e.to_string().contains("not allowed"))
}

/// SECURITY.md, "the sign-in windows cannot reach the app": the pages the sign-in windows
/// show, and any page from a remote origin in any window, the main one included (a
/// navigation the fence missed), can call neither the app's commands nor a plugin's.
#[test]
fn remote_origins_and_sign_in_windows_reach_no_command_of_the_app_or_a_plugin() {
    let app = app();
    let main = window(&app, labels::MAIN);
    let popup = window(&app, labels::POPUP);
    let silent = window(&app, &format!("{}1", labels::SILENT_PREFIX));
    let remote = [
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        "http://127.0.0.1:8080/common/login",
        "https://evil.example/",
    ];
    let names: Vec<String> = every_command().map(ipc_name).collect();
    let commands = names
        .iter()
        .map(String::as_str)
        .chain(PLUGIN_COMMANDS.iter().copied())
        .chain(["plugin:event|listen", "plugin:event|unlisten"]);
    for cmd in commands {
        for origin in remote {
            for (label, w) in [("main", &main), ("popup", &popup), ("silent", &silent)] {
                assert!(
                    refused(invoke_from(w, origin, cmd, json!({}))),
                    "{cmd} from {origin} in {label} must be refused by the ACL"
                );
            }
        }
        for (label, w) in [("popup", &popup), ("silent", &silent)] {
            assert!(
                refused(invoke_from(w, "tauri://localhost", cmd, json!({}))),
                "{cmd} from the app's origin in {label} must be refused"
            );
        }
    }
    for cmd in PLUGIN_COMMANDS {
        assert!(
            refused(invoke(&main, cmd, json!({}))),
            "{cmd} is not granted even to the main window"
        );
    }
    // The controls: what the capability grants passes the ACL from the app's own origin.
    assert!(invoke(&main, "about", json!({})).is_ok());
    assert!(invoke(&main, "accounts", json!({})).is_ok());
    let listen = json!({ "event": "tessera://engine", "target": { "kind": "Any" }, "handler": 7 });
    assert!(!refused(invoke(&main, "plugin:event|listen", listen)));
}

#[test]
fn capability_grants_exactly_the_listed_commands_to_main_only() {
    let capability: Value = serde_json::from_str(include_str!("../capabilities/main.json"))
        .expect("capabilities/main.json is JSON");
    assert_eq!(capability["windows"], json!([labels::MAIN]));
    assert_eq!(capability["local"], json!(true));
    assert!(
        capability.get("remote").is_none(),
        "no remote origin may get IPC"
    );
    let mut granted: Vec<String> = capability["permissions"]
        .as_array()
        .expect("permissions is a list")
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    granted.sort();
    let mut listed: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    listed.sort();
    assert_eq!(
        granted, listed,
        "capabilities/main.json and COMMANDS must agree"
    );
    // The plugin's commands through its documented default set, never `access_token`.
    let permissions = capability["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!("tessera:default")));
    assert!(!permissions
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.contains("access-token"))));
}

#[test]
fn version_and_help_flags_exit_cleanly_and_unknown_arguments_do_not() {
    use std::process::ExitCode;
    let run = |args: &[&str]| crate::main_with_args(args.iter().map(|a| a.to_string()));
    assert_eq!(run(&["--version"]), ExitCode::SUCCESS);
    assert_eq!(run(&["--help"]), ExitCode::SUCCESS);
    assert_eq!(run(&["--bogus"]), ExitCode::from(2));
    assert_eq!(run(&["--version", "extra"]), ExitCode::from(2));
}

#[test]
fn the_configuration_crate_uses_the_apps_folders() {
    let app = app();
    assert_eq!(app.config().identifier, tessera_config::IDENTIFIER);
    assert_eq!(
        app.path().app_config_dir().ok(),
        tessera_config::app_config_dir()
    );
    assert_eq!(
        app.path().app_data_dir().ok(),
        tessera_config::app_data_dir()
    );
}
