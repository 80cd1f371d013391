//! Issue 20, point 13: Microsoft's MSAL Python (pinned in tests/msal-python/requirements.txt,
//! installed by `scripts/setup --test-tools`) signs in to the emulator over TLS and walks the
//! whole token life: interactive → cache → expiry → refresh → revoked → MFA → consent →
//! device code → CAE. Where MSAL and the emulator disagree, the emulator is wrong.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tessera_idp::{IdpOptions, TlsOptions, DEFAULT_CLIENT_ID};
use tessera_test_support::workspace_binary;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_walks_the_token_life_against_the_emulator_over_tls() {
    let folder = workspace().join("tests/msal-python");
    let python = folder.join(".venv/bin/python");
    // Loud, not skipped: the test command installs it.
    assert!(
        python.is_file(),
        "MSAL Python is not installed in {}: run scripts/setup --test-tools (it makes the virtual environment)",
        folder.join(".venv").display()
    );
    let ca = tempfile::tempdir().unwrap();
    let idp = tessera_idp::start(IdpOptions {
        tls: Some(TlsOptions {
            ca_file: Some(ca.path().join("ca.pem")),
            ..TlsOptions::default()
        }),
        ..IdpOptions::default()
    })
    .await
    .expect("the provider starts");
    let ca_file = idp.ca_file().expect("a CA with --tls").to_path_buf();
    let output = tokio::process::Command::new(&python)
        .arg(folder.join("conformance.py"))
        .env("AUTHORITY", idp.authority().as_str())
        .env("GRAPH", idp.graph_url().as_str())
        .env("CONTROL", idp.control_url().as_str())
        .env("CA_FILE", &ca_file)
        .env("CLIENT_ID", DEFAULT_CLIENT_ID)
        .env("BROWSER", workspace_binary("tessera-browser"))
        .env("TESSERA_BROWSER_BACKGROUND", "1")
        // tessera-browser trusts the emulator's CA the way the engine does.
        .env("SSL_CERT_FILE", &ca_file)
        // Requests lets these override a session's `verify` (psf/requests#3829), so a machine
        // that sets them would hide the CA handed to MSAL.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("TESSERA_BROWSER_USER")
        .env_remove("TESSERA_BROWSER_CONSENT")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "MSAL Python's walk failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all steps passed"), "{stdout}");
    idp.stop().await;
}
