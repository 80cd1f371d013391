//! Store validation and policy precedence.

use serde_json::json;

use super::*;

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn policy_file(dir: &Path, text: &str) -> Result<Option<Policy>, PolicyError> {
    let path = dir.join("policy.json");
    std::fs::write(&path, text).unwrap();
    Policy::load(&path)
}

#[test]
fn nothing_anywhere_means_the_defaults() {
    let r = resolve(None, env(&[]), None).unwrap();
    assert_eq!(r.settings, Settings::default());
    assert!(r.sources.values().all(|s| *s == Source::Default));
    assert!(r.warnings.is_empty());
}

#[test]
fn each_bad_stored_value_is_reported_and_defaulted_and_the_good_ones_kept() {
    let stored = json!({
        "interactionMode": "redirect",
        "scopes": ["User.Read", "has space"],
        "interactionTimeLimitSecs": 5,
        "renewalOffsetSecs": 120,
        "allowedInteractionModes": ["popup"],
        "colour": "blue",
    });
    let r = resolve(Some(&stored), env(&[]), None).unwrap();
    assert_eq!(r.settings.interaction_mode, InteractionMode::Redirect);
    assert_eq!(r.settings.renewal_offset_secs, 120);
    assert_eq!(r.settings.scopes, Settings::default().scopes);
    assert_eq!(r.settings.interaction_time_limit_secs, 300);
    assert_eq!(r.settings.allowed_interaction_modes.len(), 3);
    assert_eq!(r.warnings.len(), 4, "{:?}", r.warnings);
    assert!(r.warnings.iter().any(|w| w.contains("has space")));
    assert!(r.warnings.iter().any(|w| w.contains("colour")));
    assert!(r.warnings.iter().any(|w| w.contains("only a policy")));
    assert_eq!(r.sources["interactionMode"], Source::User);
    assert_eq!(r.sources["scopes"], Source::Default);

    let r = resolve(Some(&json!("garbage")), env(&[]), None).unwrap();
    assert_eq!((r.settings, r.warnings.len()), (Settings::default(), 1));
}

#[test]
fn precedence_is_defaults_then_user_then_environment_then_policy() {
    let dir = tempfile::tempdir().unwrap();
    let stored = json!({
        "authority": "https://login.microsoftonline.com/user.example",
        "clientId": "user-client",
        "scopes": ["Mail.Read"],
        "renewalOffsetSecs": 60,
    });
    let vars = env(&[
        (
            "TESSERA_AUTHORITY",
            "https://login.microsoftonline.com/env.example",
        ),
        ("TESSERA_CLIENT_ID", "env-client"),
    ]);
    let r = resolve(Some(&stored), &vars, None).unwrap();
    assert_eq!(
        r.settings.authority.as_deref(),
        Some("https://login.microsoftonline.com/env.example")
    );
    assert_eq!(r.settings.client_id.as_deref(), Some("env-client"));
    assert_eq!(r.sources["authority"], Source::Environment);

    let policy = policy_file(
        dir.path(),
        r#"{ "clientId": "it-client", "scopes": ["User.Read"] }"#,
    )
    .unwrap()
    .unwrap();
    // With a policy in force the environment may not move endpoints (issue 21, point 4):
    // here only a loopback port comes from it.
    assert!(resolve(Some(&stored), &vars, Some(&policy)).is_err());
    let vars = env(&[("TESSERA_REDIRECT_PORT", "8400")]);
    let r = resolve(Some(&stored), &vars, Some(&policy)).unwrap();
    assert_eq!(r.settings.client_id.as_deref(), Some("it-client"));
    assert_eq!(r.settings.scopes, ["User.Read"]);
    assert_eq!(
        r.settings.authority.as_deref(),
        Some("https://login.microsoftonline.com/user.example"),
        "not pinned: the user's"
    );
    assert_eq!(r.settings.renewal_offset_secs, 60, "not pinned: the user's");
    assert_eq!(
        (
            r.sources["clientId"],
            r.sources["scopes"],
            r.sources["authority"],
            r.sources["redirectPort"],
            r.sources["logLevel"]
        ),
        (
            Source::Policy,
            Source::Policy,
            Source::User,
            Source::Environment,
            Source::Default
        )
    );
    assert_eq!(r.policy_path.as_deref(), Some(policy.path.as_path()));
}

#[test]
fn managed_and_environment_settings_cannot_be_changed_and_a_bad_change_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        r#"{ "authority": "https://login.microsoftonline.com/contoso.example", "allowedInteractionModes": ["popup"] }"#,
    )
    .unwrap()
    .unwrap();
    let stored = json!({ "interactionMode": "redirect", "scopes": "oops" });
    let mut r = resolve(
        Some(&stored),
        env(&[("TESSERA_REDIRECT_PORT", "8400")]),
        Some(&policy),
    )
    .unwrap();
    assert_eq!(
        r.settings.interaction_mode,
        InteractionMode::Popup,
        "the user's mode is not allowed"
    );
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("not allowed by policy")));
    assert!(!r.is_user_settable("authority") && !r.is_user_settable("interactionMode"));
    assert!(!r.is_user_settable("redirectPort") && r.is_user_settable("scopes"));

    let before = r.clone();
    let change = |pairs: Value| pairs.as_object().unwrap().clone();
    let refused = [
        (
            json!({ "authority": "https://login.microsoftonline.com/other" }),
            "managed by your organisation's policy",
        ),
        (json!({ "interactionMode": "redirect" }), "managed"),
        (
            json!({ "redirectPort": 9000 }),
            "set by TESSERA_REDIRECT_PORT",
        ),
        (
            json!({ "allowedInteractionModes": ["redirect"] }),
            "managed",
        ),
        (
            json!({ "scopes": ["Mail.Read"], "renewalOffsetSecs": 99999 }),
            "renewalOffsetSecs",
        ),
        (json!({ "shoeSize": 42 }), "unknown setting"),
    ];
    for (changes, why) in refused {
        let err = r
            .change(Some(&stored), &change(changes.clone()))
            .unwrap_err();
        assert!(err.contains(why), "{changes}: {err}");
        assert_eq!(r, before, "{changes} changed something");
    }

    let written = r
        .change(
            Some(&stored),
            &change(json!({ "scopes": ["Mail.Read"], "renewalOffsetSecs": 120 })),
        )
        .unwrap();
    assert_eq!(r.settings.scopes, ["Mail.Read"]);
    assert_eq!(r.sources["renewalOffsetSecs"], Source::User);
    assert_eq!(
        written,
        json!({ "interactionMode": "redirect", "scopes": ["Mail.Read"], "renewalOffsetSecs": 120 }),
        "the stored mode is kept for when the policy goes"
    );
}

#[test]
fn a_policy_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Policy::load(&dir.path().join("absent.json"))
        .unwrap()
        .is_none());
    let refused = [
        ("{ not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (r#"{ "clientID": "x" }"#, "unknown setting \"clientID\""),
        (
            r#"{ "authority": "http://evil.example/common" }"#,
            "authority",
        ),
        (
            r#"{ "allowedInteractionModes": [] }"#,
            "allowedInteractionModes",
        ),
        (
            r#"{ "allowedInteractionModes": ["popup"], "interactionMode": "redirect" }"#,
            "interactionMode",
        ),
        (
            r#"{ "interactionTimeLimitSecs": 1 }"#,
            "interactionTimeLimitSecs",
        ),
    ];
    for (text, why) in refused {
        let err = policy_file(dir.path(), text).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("policy.json") && message.contains(why),
            "{text}: {message}"
        );
    }
    let ok = policy_file(dir.path(), r#"{ "allowedInteractionModes": ["redirect"] }"#).unwrap();
    let r = resolve(None, env(&[]), ok.as_ref()).unwrap();
    assert_eq!(r.settings.interaction_mode, InteractionMode::Redirect);
}

/// Issue 22: the log's level is a setting like the others: stored, from `TESSERA_LOG_LEVEL`
/// (any case), pinned by a policy; a bad value names the variable.
#[test]
fn the_log_level_is_a_setting_the_environment_and_a_policy_can_set() {
    assert_eq!(Settings::default().log_level, LogLevel::Info);
    let stored = json!({ "logLevel": "warn" });
    let r = resolve(Some(&stored), env(&[]), None).unwrap();
    assert_eq!(r.settings.log_level, LogLevel::Warn);
    assert_eq!(r.settings.log_level.filter(), log::LevelFilter::Warn);
    let r = resolve(Some(&stored), env(&[("TESSERA_LOG_LEVEL", "DEBUG")]), None).unwrap();
    assert_eq!(r.settings.log_level, LogLevel::Debug);
    assert_eq!(r.sources["logLevel"], Source::Environment);
    let err = resolve(None, env(&[("TESSERA_LOG_LEVEL", "loud")]), None).unwrap_err();
    assert!(
        err.to_string().starts_with("TESSERA_LOG_LEVEL is invalid"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), r#"{ "logLevel": "error" }"#)
        .unwrap()
        .unwrap();
    let mut r = resolve(Some(&stored), env(&[]), Some(&policy)).unwrap();
    assert_eq!(r.settings.log_level, LogLevel::Error);
    let change = serde_json::Map::from_iter([("logLevel".to_owned(), json!("trace"))]);
    assert!(r.change(None, &change).unwrap_err().contains("managed"));
}

#[test]
fn bad_environment_values_stop_with_the_variable_named() {
    let err = resolve(None, env(&[("TESSERA_AUTHORITY", "ftp://x")]), None).unwrap_err();
    assert!(
        err.to_string().starts_with("TESSERA_AUTHORITY is invalid"),
        "{err}"
    );
}

#[test]
fn the_machine_policy_is_the_platforms() {
    #[cfg(target_os = "linux")]
    assert_eq!(
        policy::default_policy_path(),
        PathBuf::from("/etc/tessera/policy.json")
    );
}

// Issue 21, point 4: `TESSERA_POLICY_FILE=/nonexistent` switched the machine's policy off.
#[test]
fn the_environment_may_add_a_policy_but_never_replace_or_hide_the_machines() {
    let dir = tempfile::tempdir().unwrap();
    let machine = dir.path().join("machine.json");
    let own = dir.path().join("own.json");
    std::fs::write(&own, r#"{ "scopes": ["Mail.Read"] }"#).unwrap();
    let elsewhere = |path: &'static str| env(Box::leak(Box::new([("TESSERA_POLICY_FILE", path)])));
    let own_path: &'static str = Box::leak(own.display().to_string().into_boxed_str());

    // No machine policy: the variable's file applies (tests, a managed elsewhere).
    let (policy, note) = policy::load_in_force(&machine, elsewhere(own_path)).unwrap();
    assert_eq!(policy.unwrap().path, own);
    assert_eq!(note, None);

    // A machine policy: the variable can neither hide it nor replace it.
    std::fs::write(&machine, r#"{ "allowedInteractionModes": ["redirect"] }"#).unwrap();
    for path in ["/nonexistent/policy.json", own_path] {
        let (policy, note) = policy::load_in_force(&machine, elsewhere(path)).unwrap();
        assert_eq!(policy.unwrap().path, machine, "{path}");
        assert!(note.unwrap().contains("is ignored"), "{path}");
    }
    let (policy, note) = policy::load_in_force(&machine, env(&[])).unwrap();
    assert_eq!((policy.unwrap().path, note), (machine, None));
}

// Issue 21, point 4: with a policy in force, TESSERA_GRAPH_URL (and TESSERA_REDIRECT_URI)
// still sent bearer tokens elsewhere.
#[test]
fn with_a_policy_the_environment_cannot_move_endpoints_or_trust() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), r#"{ "clientId": "pinned" }"#)
        .unwrap()
        .unwrap();
    for (variable, value) in [
        ("TESSERA_GRAPH_URL", "https://graph.evil.example/v1.0"),
        ("TESSERA_REDIRECT_URI", "https://evil.example/cb"),
        (
            "TESSERA_AUTHORITY",
            "https://login.microsoftonline.com/common",
        ),
        ("TESSERA_EXTRA_CA_FILE", "/tmp/evil-ca.pem"),
        ("TESSERA_AUTHORITY_TYPE", "oidc"),
    ] {
        let vars: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([(variable, value)]));
        let error = resolve(None, env(vars), Some(&policy)).unwrap_err();
        assert!(
            error.to_string().contains("policy file"),
            "{variable}: {error}"
        );
    }
    // A loopback port is not an endpoint.
    let r = resolve(
        None,
        env(&[("TESSERA_REDIRECT_PORT", "8400")]),
        Some(&policy),
    )
    .unwrap();
    assert_eq!(r.settings.redirect_port, 8400);
    // Every endpoint setting can be pinned.
    let pinned = policy_file(
        dir.path(),
        r#"{ "graphUrl": "https://graph.microsoft.us/v1.0", "redirectUri": "http://localhost", "extraCaFile": "/etc/tessera/ca.pem", "authorityType": "entra", "clientCapabilities": [] }"#,
    )
    .unwrap()
    .unwrap();
    let r = resolve(None, env(&[]), Some(&pinned)).unwrap();
    for field in [
        "graphUrl",
        "redirectUri",
        "extraCaFile",
        "authorityType",
        "clientCapabilities",
    ] {
        assert_eq!(r.sources[field], Source::Policy, "{field}");
    }
}

#[test]
fn a_damaged_settings_file_is_kept_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    assert_eq!(read_user_settings(&path), (None, vec![]));
    std::fs::write(
        &path,
        r#"{"settings": {"scopes": ["Mail.Read"]}, "other": 1}"#,
    )
    .unwrap();
    assert_eq!(
        read_user_settings(&path),
        (Some(json!({"scopes": ["Mail.Read"]})), vec![])
    );
    std::fs::write(&path, "{ half a file").unwrap();
    let (value, warnings) = read_user_settings(&path);
    assert_eq!(value, None);
    assert!(
        warnings[0].contains("damaged") && warnings[0].contains("kept as"),
        "{warnings:?}"
    );
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].starts_with("settings.json.damaged-"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(&kept[0])).unwrap(),
        "{ half a file"
    );
}

#[test]
fn a_window_geometry_left_by_an_earlier_version_is_dropped_without_a_warning() {
    // Tessera 0.1 kept the main window's geometry as a setting; tauri-plugin-window-state
    // keeps it now. An old settings file must neither warn at every start nor keep the key.
    let stored = json!({
        "window": { "x": 0, "y": 0, "width": 1024, "height": 720 },
        "scopes": ["User.Read"]
    });
    let mut r = resolve(Some(&stored), env(&[]), None).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.settings.scopes, ["User.Read"]);
    let mut change = serde_json::Map::new();
    change.insert("renewalOffsetSecs".into(), json!(60));
    let next = r.change(Some(&stored), &change).unwrap();
    assert_eq!(
        next,
        json!({ "scopes": ["User.Read"], "renewalOffsetSecs": 60 })
    );
}
