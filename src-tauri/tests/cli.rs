//! The `tessera` binary's command line, without a display: flags and configuration errors are
//! handled before any window exists.

use std::process::Command;

fn tessera(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    // The user's own settings and policy must not leak in: private folders, no policy.
    let home = std::env::temp_dir().join(format!("tessera-cli-test-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("TESSERA_POLICY_FILE", home.join("no-policy.json"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TESSERA_") && name != "TESSERA_POLICY_FILE" {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().copied())
        .output()
        .expect("run tessera")
}

#[test]
fn version_prints_the_build_identity() {
    let out = tessera(&["--version"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("Tessera {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn a_bad_configuration_exits_2_with_the_reason() {
    for (env, expected) in [
        (
            vec![("TESSERA_AUTHORITY", "ftp://login.example.com")],
            "scheme must be https",
        ),
        (
            vec![
                ("TESSERA_AUTHORITY", "http://login.example.com/common"),
                ("TESSERA_CLIENT_ID", "x"),
            ],
            "loopback",
        ),
        (
            vec![("TESSERA_AUTHORITY", "https://login.example.com/common")],
            "a client id is required",
        ),
        (
            vec![(
                "TESSERA_POLICY_FILE",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            )],
            "the policy file",
        ),
    ] {
        let out = tessera(&[], &env);
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("keyring"),
            "refused before touching the keyring: {stderr}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
    }
}

#[test]
fn unknown_arguments_are_refused_with_usage() {
    let out = tessera(&["--frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: tessera"));
}
