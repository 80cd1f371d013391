//! `tessera-test-support`: what Tessera's tests share, in one crate that nothing shipped
//! depends on (the engine uses it as a dev-dependency only, so it never depends on the
//! emulator).
//!
//! - [`user_agent`]: a scripted browser that follows a provider's redirects, keeps its cookies
//!   and fills its sign-in pages over plain HTTP, as a user would;
//! - [`ScriptedBrowser`]: that browser as the engine's interactive and silent agents, stopping
//!   at the redirect URI like the app's sign-in window;
//! - `tessera-browser`: the same browser as a program, a stand-in for the system browser
//!   (`BROWSER=tessera-browser`) that delivers the response to a loopback listener;
//! - [`synthetic`]: token caches of any size without a provider, for the benchmarks;
//! - [`oidc_provider`]: a certified third-party OpenID Provider (node-oidc-provider) to run
//!   the engine and the CLI against;
//! - [`workspace_binary`]: a program of this workspace, for tests that run it.

#![warn(missing_docs)]

mod agents;
pub mod oidc_provider;
pub mod synthetic;
pub mod user_agent;

pub use agents::ScriptedBrowser;

use std::path::{Path, PathBuf};

/// Every `"secret"` string in a serialised token cache (its access, refresh and ID tokens): what
/// a test then looks for where no secret may be (logs, command results, events).
pub fn secrets_in(cache: &serde_json::Value) -> Vec<String> {
    let mut found = vec![];
    let mut pending = vec![cache];
    while let Some(value) = pending.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match value.as_str() {
                        Some(secret) if key == "secret" => found.push(secret.to_owned()),
                        _ => pending.push(value),
                    }
                }
            }
            serde_json::Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

/// A binary of this workspace, beside the running test's own target folder (tests run from
/// `<target>/<profile>/deps/<name>-<hash>`). Fails the test, saying how to build it, when it
/// is not there: a test that needs a program must not pass without it.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} not found: build the workspace's binaries first with `cargo build --workspace --bins` (scripts/test does)",
        binary.display()
    );
    binary
}
