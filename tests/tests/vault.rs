//! The token vault against the real Secret Service (gnome-keyring on the private D-Bus session
//! that `scripts/with-desktop` starts), across real processes: each `vault-session` run is a
//! separate Tessera client on the same cache folder.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tessera_e2e::workspace_binary;
use tessera_idp::{IdpOptions, RunningIdp};

struct World {
    idp: RunningIdp,
    folder: tempfile::TempDir,
}

/// Panics with the fix when there is no session bus: these tests must not pass by not running.
fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: the vault tests need a Secret Service; run scripts/test, which starts \
         gnome-keyring under dbus-run-session (scripts/with-desktop)"
    );
    assert!(
        Command::new("secret-tool")
            .arg("--version")
            .output()
            .is_ok()
            || Path::new("/usr/bin/secret-tool").exists(),
        "secret-tool is missing: run scripts/setup (package libsecret-tools)"
    );
}

async fn world() -> World {
    require_secret_service();
    World {
        idp: tessera_idp::start(IdpOptions::default()).await.unwrap(),
        folder: tempfile::tempdir().unwrap(),
    }
}

impl World {
    fn cache(&self) -> PathBuf {
        self.folder.path().join(tessera_vault::CACHE_FILE)
    }

    /// One client process on this folder and provider.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(workspace_binary("vault-session"));
        command
            .arg(self.folder.path())
            .arg(self.idp.authority().to_string())
            .args(args)
            .envs(env.iter().copied());
        command
    }

    /// Runs one client process and waits for it (the provider answers it from the runtime's
    /// other threads); returns its JSON report.
    fn session(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let output = self.command(args, env).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "vault-session {args:?}: {e}: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }

    fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args, &[])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn secret_tool(&self, action: &str) -> std::process::Output {
        tessera_e2e::secret_tool(action, &self.cache())
    }

    async fn stat(&self, key: &str) -> u64 {
        self.idp.stat(key).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_lives_in_the_secret_service_and_a_new_process_signs_in_silently() {
    let w = world().await;
    let first = w.session(&["sign-in", "ada@tessera.test"], &[]);
    assert_eq!(
        (&first["storage"], &first["source"], &first["error"]),
        (
            &Value::from("encrypted"),
            &Value::from("interactive"),
            &Value::Null
        ),
        "{first}"
    );

    // Another program (libsecret's secret-tool) reads the key back from the Secret Service,
    // and that key opens the cache file.
    let tokens = tessera_e2e::cached_secrets(&w.cache());
    assert_eq!(
        tokens.len(),
        3,
        "access, refresh and ID token: {}",
        tokens.len()
    );

    // Nothing secret in plaintext anywhere in the folder.
    tessera_e2e::assert_no_plaintext(w.folder.path(), &tokens, &["ada@tessera.test"]);

    let authorize = w.stat("authorize").await;
    let token_calls = w.stat("token").await;
    let second = w.session(&["silent", "ada@tessera.test"], &[]);
    assert_eq!(second["source"], "cache", "{second}");
    assert_eq!(w.stat("authorize").await, authorize, "no authorize request");
    assert_eq!(w.stat("token").await, token_calls, "not even a refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_deleted_from_the_keyring_signs_the_user_out_and_keeps_the_old_file() {
    let w = world().await;
    w.session(&["sign-in", "ada@tessera.test"], &[]);
    let clear = w.secret_tool("clear");
    assert!(clear.status.success(), "secret-tool clear: {clear:?}");
    assert!(!w.secret_tool("lookup").status.success(), "the key is gone");

    let after = w.session(&["accounts"], &[]);
    assert_eq!(after["accounts"], Value::Array(vec![]), "{after}");
    let notice = after["notice"].as_str().unwrap();
    assert!(
        notice.contains("missing from the OS keyring") && notice.contains("kept as"),
        "{notice}"
    );
    let names: Vec<String> = std::fs::read_dir(w.folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("token-cache.no-key-")),
        "{names:?}"
    );
    assert!(
        w.secret_tool("lookup").status.success(),
        "a new key was made"
    );
    let again = w.session(&["sign-in", "alan@tessera.test"], &[]);
    assert_eq!(again["accounts"], serde_json::json!(["alan@tessera.test"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_cache_file_is_set_aside_and_reported() {
    let w = world().await;
    w.session(&["sign-in", "ada@tessera.test"], &[]);
    let mut bytes = std::fs::read(w.cache()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(w.cache(), &bytes).unwrap();

    let after = w.session(&["accounts"], &[]);
    assert_eq!(after["accounts"], Value::Array(vec![]), "{after}");
    let why = after["persistence_error"].as_str().unwrap();
    assert!(
        why.contains("could not be decrypted") && why.contains("kept as"),
        "{why}"
    );
    let kept = std::fs::read_dir(w.folder.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("token-cache.unreadable-"))
        .unwrap();
    assert_eq!(std::fs::read(kept).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_service_tokens_stay_in_memory_and_nothing_is_written() {
    let w = world().await;
    let alone = w.session(
        &["sign-in", "ada@tessera.test"],
        &[(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/tessera-test-bus",
        )],
    );
    assert_eq!(
        alone["source"], "interactive",
        "signing in still works: {alone}"
    );
    let storage = alone["storage"].as_str().unwrap();
    assert!(
        storage.starts_with("memory: no OS keyring is available"),
        "{storage}"
    );
    assert!(!w.cache().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_signing_in_at_once_lose_no_account() {
    let w = world().await;
    // The token endpoint answers both slowly, so both processes hold their sign-in in memory
    // at the same time and then write the same file.
    for _ in 0..2 {
        w.idp
            .control(
                reqwest::Method::POST,
                "faults",
                serde_json::json!({ "target": "token", "kind": "delay", "millis": 1500 }),
            )
            .await
            .unwrap();
    }
    let children = [
        w.spawn(&["sign-in", "ada@tessera.test"]),
        w.spawn(&["sign-in", "alan@tessera.test"]),
    ];
    let children: Vec<_> = children
        .into_iter()
        .map(|child| tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()))
        .collect();
    for child in children {
        let output = child.await.unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let everyone = w.session(&["accounts"], &[]);
    assert_eq!(
        everyone["accounts"],
        serde_json::json!(["ada@tessera.test", "alan@tessera.test"]),
        "{everyone}"
    );
}
