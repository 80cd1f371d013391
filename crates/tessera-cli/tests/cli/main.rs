//! `tessera-cli` run as a program against tessera-idp (both flavours), with `$BROWSER` set to
//! `tessera-browser`, which fills the provider's pages over HTTP. Tokens are kept in the real
//! vault (the key in the Secret Service `scripts/with-desktop` provides); without one the
//! sign-ins fail, loudly.

// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Value};
use tessera_auth::{Account, SilentRequest, TokenSource};
use tessera_idp::{Flavor, IdpOptions, RunningIdp};
use tessera_test_support::user_agent::{Script, UserAgent};
use tessera_test_support::workspace_binary;
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

mod providers;

/// What a run printed, and how it ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    fn succeeded(self) -> Run {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// A user's machine: its own folders (settings, the token cache), a provider, and the
/// variables the CLI runs with.
struct Machine {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Machine {
    /// A machine whose CLI talks to `idp` (or, without one, to the embedded default).
    fn new(idp: Option<&RunningIdp>) -> Machine {
        let home = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = [
            ("XDG_DATA_HOME", home.path().join("data")),
            ("XDG_CONFIG_HOME", home.path().join("config")),
            ("XDG_CACHE_HOME", home.path().join("cache")),
            ("TESSERA_POLICY_FILE", home.path().join("no-policy.json")),
            ("BROWSER", workspace_binary("tessera-browser")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.display().to_string()))
        .collect();
        if let Some(idp) = idp {
            env.push(("TESSERA_AUTHORITY".into(), idp.authority().to_string()));
        }
        Machine { home, env }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.into(), value.into()));
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera-cli"));
        command
            .args(args)
            .env_remove("TESSERA_AUTHORITY")
            .env_remove("TESSERA_CLIENT_ID")
            .env_remove("TESSERA_GRAPH_URL")
            .env_remove("TESSERA_CACHE_DIR")
            .env_remove("TESSERA_BROWSER_CONSENT")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().await.unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The folder the app keeps its token cache in, on this machine.
    fn cache_dir(&self) -> PathBuf {
        self.home
            .path()
            .join("data")
            .join(tessera_config::IDENTIFIER)
    }
}

async fn provider(flavor: Flavor) -> RunningIdp {
    tessera_idp::start(IdpOptions {
        flavor,
        ..IdpOptions::default()
    })
    .await
    .unwrap()
}

async fn control(idp: &RunningIdp, path: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(idp.url(&format!("__control/{path}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "control {path}");
}

/// The keys `token --json` prints, and nothing else: no refresh token, no ID token.
fn assert_token_json(token: &Value, source: &str) {
    let mut keys: Vec<&str> = token
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "account",
            "correlation_id",
            "expires_on",
            "scopes",
            "source",
            "token_type"
        ]
    );
    assert_eq!(token["source"], source, "{token}");
    assert_eq!(token["account"]["username"], "ada@tessera.test");
    assert_eq!(
        token["access_token"].as_str().unwrap().split('.').count(),
        3
    );
}

async fn the_whole_chain(flavor: Flavor) {
    let idp = provider(flavor).await;
    let machine = Machine::new(Some(&idp));

    let login = machine.run(&["login", "--json"]).await.succeeded();
    assert_eq!(login.json()["source"], "interactive", "{login:?}");
    assert_eq!(login.json()["account"]["username"], "ada@tessera.test");
    assert!(
        !login.stdout.contains("eyJ"),
        "login prints no token: {login:?}"
    );

    let cached = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_token_json(&cached, "cache");
    let bare = machine.run(&["token"]).await.succeeded();
    assert_eq!(
        bare.stdout,
        format!("{}\n", cached["access_token"].as_str().unwrap()),
        "the token alone"
    );

    // From now on access tokens live 60 s, inside the 5-minute renewal offset.
    control(&idp, "lifetimes", json!({ "access_token": 60 })).await;
    let forced = machine
        .run(&["token", "--force-refresh", "--json"])
        .await
        .succeeded()
        .json();
    assert_token_json(&forced, "refresh_token");
    assert_ne!(forced["access_token"], cached["access_token"]);
    let renewed = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_token_json(&renewed, "refresh_token");
    assert_ne!(
        renewed["access_token"], forced["access_token"],
        "a token about to expire counts as expired"
    );
    assert_eq!(idp.stat("token:refresh_token").await.unwrap(), 2);

    control(
        &idp,
        "users/ada@tessera.test/refresh-tokens/revoke",
        json!({}),
    )
    .await;
    let revoked = machine.run(&["token", "--json"]).await;
    assert_eq!(revoked.code, 3, "interaction required: {revoked:?}");
    let error = &revoked.json()["error"];
    assert_eq!(error["kind"], "interaction_required");
    assert_eq!(error["code"], "invalid_grant");
    assert_eq!(error["exit_code"], 3);
    let line = revoked.stderr.lines().last().unwrap();
    assert!(line.contains("invalid_grant"), "{line}");
    if flavor == Flavor::Entra {
        assert_eq!(error["aadsts"], 50173);
        assert!(line.contains("AADSTS50173"), "{line}");
    }
    assert!(
        line.contains("tessera-cli login"),
        "says what to do: {line}"
    );

    // --interactive answers the provider's demand through the browser.
    let interactive = machine
        .run(&["token", "--interactive", "--json"])
        .await
        .succeeded()
        .json();
    assert_token_json(&interactive, "interactive");

    let logout = machine
        .run(&["logout", "--all", "--json"])
        .await
        .succeeded();
    assert_eq!(logout.json(), json!({ "signed_out": ["ada@tessera.test"] }));
    let accounts = machine.run(&["accounts", "--json"]).await.succeeded();
    assert_eq!(accounts.json(), json!([]));
    let none = machine.run(&["token"]).await;
    assert_eq!(none.code, 3, "{none:?}");
    assert!(none.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_refresh_revocation_and_logout_entra() {
    the_whole_chain(Flavor::Entra).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_refresh_revocation_and_logout_oidc() {
    the_whole_chain(Flavor::Oidc).await;
}

/// Issue 22: `-v`…`-vvv` put the engine's log on standard error, through env_logger, and no
/// token with it, at the most verbose level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_runs_say_what_the_engine_does_and_print_no_token() {
    let idp = provider(Flavor::Entra).await;
    let machine = Machine::new(Some(&idp));
    machine.run(&["login"]).await.succeeded();
    let quiet = machine.run(&["token", "--force-refresh"]).await.succeeded();
    assert_eq!(quiet.stderr, "", "without -v the engine says nothing");
    let verbose = machine
        .run(&["-vvv", "token", "--force-refresh", "--json"])
        .await
        .succeeded();
    assert!(
        verbose.stderr.contains("refreshing"),
        "the silent chain's step: {}",
        verbose.stderr
    );
    let token = verbose.json();
    let access_token = token["access_token"].as_str().unwrap();
    assert!(
        !verbose.stderr.contains(access_token),
        "the access token was logged"
    );
    assert!(
        !verbose.stderr.contains("eyJ"),
        "something JWT-shaped was logged"
    );
    // Nor the refresh token, nor anything else the cache keeps secret.
    let cache: Value =
        serde_json::from_slice(&app_engine(&machine, &idp).cache().serialize()).unwrap();
    let secrets = tessera_test_support::secrets_in(&cache);
    assert!(secrets.len() >= 2, "the cache's tokens: {}", secrets.len());
    for secret in &secrets {
        assert!(
            !verbose.stderr.contains(secret.as_str()),
            "a cached secret was logged"
        );
    }
    let info = machine.run(&["-v", "accounts"]).await.succeeded();
    assert!(!info.stderr.contains("DEBUG"), "{}", info.stderr);
}

/// Issue 20, point 9: `--tenant` gets a guest's token from the tenant that invited it, with
/// the home sign-in's refresh token, and `accounts` lists both tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_a_token_from_the_resource_tenant() {
    let idp = provider(Flavor::Entra).await;
    let machine = Machine::new(Some(&idp));
    machine.run(&["login"]).await.succeeded();
    let guest = machine
        .run(&["token", "--tenant", "fabrikam.test", "--json"])
        .await
        .succeeded()
        .json();
    assert_token_json(&guest, "refresh_token");
    let payload = guest["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["tid"], tessera_idp::GUEST_TENANT_ID);
    assert_eq!(
        guest["account"]["tenant_id"],
        tessera_idp::DEFAULT_TENANT_ID
    );
    let again = machine
        .run(&["token", "--tenant", tessera_idp::GUEST_TENANT_ID, "--json"])
        .await
        .succeeded()
        .json();
    assert_token_json(&again, "cache");
    assert_eq!(again["access_token"], guest["access_token"]);
    let accounts = machine
        .run(&["accounts", "--json"])
        .await
        .succeeded()
        .json();
    assert_eq!(
        accounts[0]["tenants"],
        json!([
            { "tenant_id": tessera_idp::DEFAULT_TENANT_ID, "home": true },
            { "tenant_id": tessera_idp::GUEST_TENANT_ID, "home": false },
        ])
    );
}

/// The engine exactly as the desktop app builds it, on `machine`'s folders.
fn app_engine(machine: &Machine, idp: &RunningIdp) -> tessera_auth::PublicClientApplication {
    let storage = tessera_host::Storage::open(&machine.cache_dir(), false);
    assert!(
        storage.memory_reason().is_none(),
        "the app's vault needs the Secret Service (run under scripts/with-desktop): {:?}",
        storage.memory_reason()
    );
    let endpoints = tessera_config::Endpoints {
        authority: idp.authority(),
        client_id: tessera_idp::DEFAULT_CLIENT_ID.into(),
        authority_type: None,
        graph_url: Some(idp.graph_url()),
        redirect_uri: Url::parse(tessera_auth::NATIVE_CLIENT_REDIRECT_URI).unwrap(),
    };
    tessera_host::build_engine(&endpoints, &tessera_config::Settings::default(), &storage).unwrap()
}

fn account(app: &tessera_auth::PublicClientApplication, username: &str) -> Account {
    app.accounts()
        .into_iter()
        .find(|a| a.username == username)
        .unwrap_or_else(|| panic!("{username} is not in the shared cache"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_app_share_one_cache_both_ways() {
    let idp = provider(Flavor::Entra).await;
    let machine = Machine::new(Some(&idp));
    machine.run(&["login"]).await.succeeded();
    let from_cli = machine.run(&["token", "--json"]).await.succeeded().json();

    let app = app_engine(&machine, &idp);
    let ada = account(&app, "ada@tessera.test");
    let found = app
        .acquire_token_silent(SilentRequest::new(ada, vec![]), None)
        .await
        .unwrap();
    assert_eq!(found.source, TokenSource::Cache);
    assert_eq!(found.access_token.secret(), from_cli["access_token"]);

    let browser = tessera_test_support::ScriptedBrowser::user("alan@tessera.test");
    let from_app = app
        .acquire_token_interactive(tessera_auth::InteractiveRequest::default(), &browser)
        .await
        .unwrap();
    assert!(app.persistence_error().is_none());
    let listed = machine
        .run(&["accounts", "--json"])
        .await
        .succeeded()
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&"alan@tessera.test"));
    let in_cli = machine
        .run(&["token", "--account", "alan@tessera.test", "--json"])
        .await
        .succeeded()
        .json();
    assert_eq!(in_cli["source"], "cache");
    assert_eq!(in_cli["access_token"], from_app.access_token.secret());

    // The login made ada the default account, for the app too (its active account).
    let settings: Value = serde_json::from_slice(
        &std::fs::read(
            machine
                .home
                .path()
                .join("config")
                .join(tessera_config::IDENTIFIER)
                .join("settings.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        settings["settings"]["activeAccount"],
        from_cli["account"]["home_account_id"]
    );

    // A sign-out in the CLI is one in the app.
    machine
        .run(&["logout", "--account", "alan@tessera.test"])
        .await
        .succeeded();
    let app = app_engine(&machine, &idp);
    let names: Vec<String> = app.accounts().into_iter().map(|a| a.username).collect();
    assert_eq!(names, ["ada@tessera.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_code_sign_in_is_finished_on_another_screen() {
    let idp = provider(Flavor::Entra).await;
    control(
        &idp,
        "device-code",
        json!({ "interval": 1, "slow_down": 1 }),
    )
    .await;
    let machine = Machine::new(Some(&idp));
    let mut child = machine
        .command(&["login", "--device-code", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let message = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .expect("the CLI prints the code");
        if line.contains("enter the code") {
            break line;
        }
    };
    let words: Vec<&str> = message.split_whitespace().collect();
    let url = words.iter().find(|w| w.starts_with("http")).unwrap();
    let code = words[words.iter().position(|w| *w == "code").unwrap() + 1];
    UserAgent::new(Script::user("ada@tessera.test"))
        .device_sign_in(&Url::parse(url).unwrap(), code)
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["source"], "interactive");
    assert_eq!(result["account"]["username"], "ada@tessera.test");
    // slow_down honoured: the provider never caught the CLI polling too fast afterwards.
    assert_eq!(idp.stat("token:device_code:slow_down").await.unwrap(), 1);
    machine.run(&["token"]).await.succeeded();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_browser_the_url_is_printed_and_the_sign_in_finishes_elsewhere() {
    let idp = provider(Flavor::Oidc).await;
    let mut machine = Machine::new(Some(&idp));
    machine.set("BROWSER", "/nonexistent/browser");
    // No platform opener either.
    let empty = machine.home.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    machine.set("PATH", &empty.display().to_string());
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = machine
        .command(&["login", "--json", "--redirect-port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let authorize = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .expect("the CLI prints the URL");
        if line.starts_with("http") {
            break Url::parse(&line).unwrap();
        }
    };
    let redirect_uri = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(
        redirect_uri,
        format!("http://127.0.0.1:{port}/"),
        "--redirect-port"
    );
    let browser = UserAgent::new(Script::user("ada@tessera.test"));
    let outcome = browser.sign_in(&authorize, &redirect_uri).await.unwrap();
    let (status, page) = browser.deliver(&outcome).await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You are signed in"), "{page}");
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_has_its_exit_code() {
    let idp = provider(Flavor::Entra).await;
    let mut machine = Machine::new(Some(&idp));

    let usage = machine.run(&["token", "--no-such-flag"]).await;
    assert_eq!(usage.code, 2, "{usage:?}");
    let bad_config = machine.run(&["--authority", "not a url", "accounts"]).await;
    assert_eq!(bad_config.code, 2, "{bad_config:?}");
    assert!(bad_config.stderr.contains("authority"), "{bad_config:?}");

    machine.set("TESSERA_BROWSER_CONSENT", "decline");
    let cancelled = machine.run(&["login", "--json"]).await;
    assert_eq!(cancelled.code, 4, "declined consent: {cancelled:?}");
    assert_eq!(cancelled.json()["error"]["kind"], "user_cancelled");
    machine.set("TESSERA_BROWSER_CONSENT", "accept");
    machine.run(&["login"]).await.succeeded();

    control(
        &idp,
        "faults",
        json!({ "target": "token", "kind": "status", "status": 429, "retry_after": 30, "count": 1 }),
    )
    .await;
    let throttled = machine.run(&["token", "--force-refresh", "--json"]).await;
    assert_eq!(throttled.code, 6, "{throttled:?}");
    assert_eq!(throttled.json()["error"]["retry_after_seconds"], 30);
    assert!(
        throttled.stderr.contains("retry in 30 s")
            && throttled.stderr.matches("retry").count() == 1,
        "{throttled:?}"
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = machine
        .run(&[
            "--authority",
            &format!("http://127.0.0.1:{closed}/common"),
            "login",
        ])
        .await;
    assert_eq!(down.code, 5, "provider unreachable: {down:?}");
    let unknown = machine
        .run(&["token", "--account", "nobody@tessera.test"])
        .await;
    assert_eq!(unknown.code, 3, "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help_and_completions_are_generated() {
    let machine = Machine::new(None);
    for command in ["login", "token", "accounts", "logout", "me", "completions"] {
        let help = machine.run(&[command, "--help"]).await.succeeded();
        assert!(help.stdout.contains("Usage: tessera-cli"), "{help:?}");
    }
    let top = machine.run(&["--help"]).await.succeeded();
    assert!(top.stdout.contains("Exit codes"), "{top:?}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = machine.run(&["completions", shell]).await.succeeded();
        assert!(
            script.stdout.contains("tessera-cli") && script.stdout.contains("force-refresh"),
            "{shell}: {script:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_prints_the_profile_and_answers_a_claims_challenge() {
    let idp = provider(Flavor::Entra).await;
    let machine = Machine::new(Some(&idp));
    machine.run(&["login"]).await.succeeded();
    let me = machine.run(&["me", "--json"]).await.succeeded().json();
    assert_eq!(me["userPrincipalName"], "ada@tessera.test");
    assert_eq!(me["displayName"], "Ada Lovelace");

    // A critical event after the token was issued (the challenge compares whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    control(
        &idp,
        "users/ada@tessera.test/claims-challenge",
        json!({ "kind": "nbf" }),
    )
    .await;
    let text = machine.run(&["me"]).await.succeeded();
    assert!(text.stdout.contains("Ada Lovelace"), "{text:?}");
    assert!(
        idp.stat("token:refresh_token").await.unwrap() >= 1,
        "the challenge was answered with a new token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_configuration_it_signs_in_to_the_embedded_provider() {
    let machine = Machine::new(None);
    let login = machine.run(&["login", "--json"]).await.succeeded();
    let authority_host = login.json()["account"]["environment"].clone();
    assert_eq!(authority_host, "127.0.0.1:47100", "{login:?}");
    let token = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_eq!(token["source"], "cache");
    assert!(machine.cache_dir().join("embedded-idp.json").is_file());
    // A later run starts the provider again from its state file: the refresh token holds.
    let refreshed = machine
        .run(&["token", "--force-refresh", "--json"])
        .await
        .succeeded()
        .json();
    assert_eq!(refreshed["source"], "refresh_token");

    // Issue 21, points 3 and 5: the CLI joined anything on the port that answered
    // /__control/stats with a JSON object, and sent it refresh tokens. An emulator without
    // the user's control token (from the data folder) is refused like any squatter.
    let impostor = tessera_idp::start(IdpOptions {
        port: 47100,
        state_file: Some(machine.cache_dir().join("embedded-idp.json")),
        ..IdpOptions::default()
    })
    .await
    .expect("port 47100 is free for the test's impostor");
    let refused = machine.run(&["token", "--force-refresh"]).await;
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(
        refused.stderr.contains("not Tessera's identity provider"),
        "{refused:?}"
    );
    assert_eq!(
        impostor.stat("token").await.unwrap(),
        0,
        "no token sent to it"
    );
    impostor.stop().await;
    // The token file is the user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let token_file = machine
            .cache_dir()
            .join(tessera_host::provider::EMBEDDED_TOKEN_FILE);
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The app running (its provider on the port, from the same state file and with the same
    // token): the CLI uses it rather than starting a second one.
    let app_provider = tessera_idp::start(IdpOptions {
        port: 47100,
        state_file: Some(machine.cache_dir().join("embedded-idp.json")),
        control_token: Some(
            tessera_host::provider::embedded_control_token(&machine.cache_dir()).unwrap(),
        ),
        ..IdpOptions::default()
    })
    .await
    .expect("port 47100 is free for the test's stand-in for the app");
    // Without the token its control API is closed to other programs.
    let closed = reqwest::Client::new()
        .get(app_provider.url("__control/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), reqwest::StatusCode::UNAUTHORIZED);
    let joined = machine
        .run(&["token", "--force-refresh", "--json"])
        .await
        .succeeded()
        .json();
    assert_eq!(joined["source"], "refresh_token");
    assert_eq!(
        app_provider.stat("token:refresh_token").await.unwrap(),
        1,
        "the refresh went to the running provider"
    );
    app_provider.stop().await;

    // Something else on the port: said, not silently worked around.
    let squatter = std::net::TcpListener::bind("127.0.0.1:47100").unwrap();
    let refused = machine.run(&["token", "--force-refresh"]).await;
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(
        refused.stderr.contains("not Tessera's identity provider"),
        "{refused:?}"
    );
    drop(squatter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_file_outranks_options_and_can_forbid_the_browser() {
    let idp = provider(Flavor::Entra).await;
    let mut machine = Machine::new(None);
    let policy = machine.home.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({ "authority": idp.authority().to_string() }).to_string(),
    )
    .unwrap();
    machine.set("TESSERA_POLICY_FILE", &policy.display().to_string());
    // Issue 21, point 4: with a policy in force, an option (or variable) may not move the
    // authority, pinned or not; it is refused, naming the policy.
    let moved = machine
        .run(&[
            "--authority",
            "http://127.0.0.1:9/common",
            "login",
            "--json",
        ])
        .await;
    assert_eq!(moved.code, 2, "{moved:?}");
    assert!(moved.stderr.contains("policy file"), "{moved:?}");
    let login = machine.run(&["login", "--json"]).await.succeeded();
    let authority = idp.authority();
    let host = format!(
        "{}:{}",
        authority.host_str().unwrap(),
        authority.port().unwrap()
    );
    assert_eq!(login.json()["account"]["environment"], host.as_str());

    std::fs::write(
        &policy,
        json!({ "authority": authority.to_string(), "allowedInteractionModes": ["popup"] })
            .to_string(),
    )
    .unwrap();
    let refused = machine.run(&["login"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("policy"), "{refused:?}");
    // Issue 21, point 7: the device code was not a mode the policy controlled (this waited
    // for the code).
    let devicecode = idp.stat("devicecode").await.unwrap();
    let refused = machine.run(&["login", "--device-code"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("device code"), "{refused:?}");
    assert_eq!(
        idp.stat("devicecode").await.unwrap(),
        devicecode,
        "nothing asked of the provider"
    );

    std::fs::write(&policy, "{ not json").unwrap();
    let broken = machine.run(&["accounts"]).await;
    assert_eq!(broken.code, 2, "{broken:?}");
    assert!(broken.stderr.contains("policy.json"), "{broken:?}");
}
