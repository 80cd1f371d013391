//! One short-lived "process" of a Tessera client on the real token vault, for the tests in
//! `tests/tests/vault.rs`: the engine with its cache in the vault (key in the OS keyring),
//! signing in through the engine's scripted browser. Prints one JSON line describing the
//! outcome; never a token.
//!
//! usage: vault-session FOLDER AUTHORITY (sign-in USER | silent USER | accounts)

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{json, Value};
use tessera_auth::{Config, InteractiveRequest, PublicClientApplication, SilentRequest};
use tessera_test_support::ScriptedBrowser;
use tessera_vault::Vault;

const CLIENT_ID: &str = "3b2c9d1e-5a7f-4e60-8c1b-2d4f6a8e0c15";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, authority, command, rest @ ..] = args.as_slice() else {
        eprintln!("usage: vault-session FOLDER AUTHORITY (sign-in USER | silent USER | accounts)");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vault-session: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(session(
        PathBuf::from(folder),
        authority,
        command,
        rest.first().map(String::as_str),
    ));
    println!("{outcome}");
    if outcome["error"].is_null() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn session(folder: PathBuf, authority: &str, command: &str, user: Option<&str>) -> Value {
    let mut config = Config::new(CLIENT_ID, authority);
    config.default_scopes = vec!["User.Read".into()];
    let mut builder = PublicClientApplication::builder(config);
    let (storage, notice) = match Vault::open_with_os_keyring(&folder) {
        Ok(vault) => {
            let vault = Arc::new(vault);
            builder = builder.persistence(vault.clone());
            ("encrypted".to_owned(), vault.notice())
        }
        Err(why) => (format!("memory: {why}"), None),
    };
    let app = match builder.build() {
        Ok(app) => app,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let account = |name: &str| app.accounts().into_iter().find(|a| a.username == name);
    let result = match (command, user) {
        ("sign-in", Some(user)) => app
            .acquire_token_interactive(InteractiveRequest::default(), &ScriptedBrowser::user(user))
            .await
            .map(|r| Some(r.source)),
        ("silent", Some(user)) => match account(user) {
            Some(account) => app
                .acquire_token_silent(SilentRequest::new(account, vec![]), None)
                .await
                .map(|r| Some(r.source)),
            None => Err(tessera_auth::Error::AccountNotFound(user.to_owned())),
        },
        ("accounts", None) => Ok(None),
        _ => return json!({ "error": format!("unknown command {command}") }),
    };
    let mut accounts: Vec<String> = app.accounts().into_iter().map(|a| a.username).collect();
    accounts.sort();
    json!({
        "storage": storage,
        "notice": notice,
        "persistence_error": app.persistence_error(),
        "source": result.as_ref().ok().copied().flatten(),
        "error": result.err().map(|e| e.to_string()),
        "accounts": accounts,
    })
}
