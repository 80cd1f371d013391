//! The settings in effect: defaults < the user's `settings.json` < `TESSERA_*` variables < the
//! machine's policy file, as `tessera-config` orders them.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tessera_config::{policy, ConfigError, Policy, Resolved, STORE_KEY};

/// The settings in effect from the real environment, and the store file: `settings.json` in
/// the app's config folder, the policy file, the `TESSERA_*` variables.
pub fn resolve_environment(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Resolved, PathBuf), ConfigError> {
    let settings_file = tessera_config::app_config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("settings.json");
    let (policy, ignored) = policy::load_in_force(&policy::default_policy_path(), &var)?;
    let mut resolved = resolve_file(&settings_file, &var, policy.as_ref())?;
    resolved.warnings.extend(ignored);
    Ok((resolved, settings_file))
}

/// Reads the user's settings from the store file and resolves them with the other layers.
/// What was ignored (a damaged file, an unknown field) is in `warnings`, for the caller to
/// show.
pub fn resolve_file(
    settings_file: &Path,
    var: impl Fn(&str) -> Option<String>,
    policy: Option<&Policy>,
) -> Result<Resolved, ConfigError> {
    let (stored, mut warnings) = tessera_config::read_user_settings(settings_file);
    let mut resolved = tessera_config::resolve(stored.as_ref(), var, policy)?;
    warnings.append(&mut resolved.warnings);
    resolved.warnings = warnings;
    Ok(resolved)
}

/// Records `home_account_id` as the active account in the user's `settings.json`, so that the
/// app and the command line share one default account. Nothing is written when a policy or
/// the environment pins the setting.
pub fn remember_active_account(
    settings_file: &Path,
    resolved: &mut Resolved,
    home_account_id: &str,
) -> Result<(), String> {
    const FIELD: &str = "activeAccount";
    if !resolved.is_user_settable(FIELD)
        || resolved.settings.active_account.as_deref() == Some(home_account_id)
    {
        return Ok(());
    }
    let mut change = Map::new();
    change.insert(FIELD.to_owned(), Value::String(home_account_id.to_owned()));
    change_user_settings(settings_file, resolved, &change)
}

/// Applies a user's setting `changes` (refused whole if any is managed or invalid, see
/// [`Resolved::change`]) to `settings.json` and to `resolved`.
pub fn change_user_settings(
    settings_file: &Path,
    resolved: &mut Resolved,
    changes: &Map<String, Value>,
) -> Result<(), String> {
    update_settings_file(settings_file, |file| {
        let next = resolved.change(file.get(STORE_KEY), changes)?;
        file.insert(STORE_KEY.to_owned(), next);
        Ok(())
    })
}

/// The JSON object of `settings.json` as it is on disk now (empty when there is none).
pub fn read_settings_file(settings_file: &Path) -> Result<Map<String, Value>, String> {
    let shown = settings_file.display();
    match std::fs::read(settings_file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{shown} is not a JSON object, left as it is: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// The one writer of `settings.json`, for the app and the command line alike: under an
/// exclusive lock (a `settings.json.lock` beside it), the file is read as it is now, `edit`
/// changes its object, and the result replaces the file atomically. Two processes, or two
/// changes in one, each keep what the other wrote (an in-memory copy written back would
/// undo the other's change: the last writer would win). A damaged file is left as it is.
pub fn update_settings_file<T>(
    settings_file: &Path,
    edit: impl FnOnce(&mut Map<String, Value>) -> Result<T, String>,
) -> Result<T, String> {
    let shown = settings_file.display();
    let folder = settings_file
        .parent()
        .ok_or_else(|| format!("{shown} has no folder"))?;
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let lock_path = settings_file.with_extension("json.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    // Held until `lock` is dropped at the end of this function (std's advisory file lock).
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let mut file = read_settings_file(settings_file)?;
    let outcome = edit(&mut file)?;
    let text = serde_json::to_vec_pretty(&Value::Object(file))
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    let temporary = settings_file.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, settings_file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            format!("cannot write {shown}: {e}")
        })?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_account_is_written_beside_the_other_settings_unless_pinned() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("config").join("settings.json");
        let mut resolved = resolve_file(&file, |_| None, None).expect("defaults resolve");
        remember_active_account(&file, &mut resolved, "one.tenant").expect("written");
        std::fs::write(
            &file,
            r#"{"settings":{"activeAccount":"one.tenant","renewalOffsetSecs":120},"other":1}"#,
        )
        .expect("a settings file");
        let mut resolved = resolve_file(&file, |_| None, None).expect("it resolves");
        remember_active_account(&file, &mut resolved, "two.tenant").expect("written");
        let written: Value =
            serde_json::from_slice(&std::fs::read(&file).expect("the file")).expect("JSON");
        assert_eq!(written["settings"]["activeAccount"], "two.tenant");
        assert_eq!(written["settings"]["renewalOffsetSecs"], 120, "kept");
        assert_eq!(written["other"], 1, "other keys kept");
        assert_eq!(
            resolved.settings.active_account.as_deref(),
            Some("two.tenant")
        );

        std::fs::write(&file, "{ damaged").expect("a damaged file");
        let error = remember_active_account(&file, &mut resolved, "three.tenant").unwrap_err();
        assert!(error.contains("left as it is"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&file).expect("the file"),
            "{ damaged"
        );
    }

    /// Issue 22: the app and the CLI each held their own copy of `settings.json` and wrote it
    /// back whole, so the last writer undid the other's change. Two writers whose settings
    /// were read before either wrote both keep their change.
    #[test]
    fn two_writers_with_stale_copies_both_keep_their_change() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("settings.json");
        let mut app = resolve_file(&file, |_| None, None).expect("defaults resolve");
        let mut cli = resolve_file(&file, |_| None, None).expect("defaults resolve");
        let change = |name: &str, value: Value| Map::from_iter([(name.to_owned(), value)]);
        change_user_settings(&file, &mut app, &change("renewalOffsetSecs", 120.into()))
            .expect("the app's change");
        remember_active_account(&file, &mut cli, "one.tenant").expect("the CLI's change");
        change_user_settings(
            &file,
            &mut app,
            &change("interactionTimeLimitSecs", 200.into()),
        )
        .expect("the app's second change");
        let written = read_settings_file(&file).expect("the file");
        assert_eq!(written[STORE_KEY]["renewalOffsetSecs"], 120);
        assert_eq!(written[STORE_KEY]["activeAccount"], "one.tenant");
        assert_eq!(written[STORE_KEY]["interactionTimeLimitSecs"], 200);

        // Many writers at once: every change lands.
        std::thread::scope(|scope| {
            for n in 0..8u64 {
                let file = &file;
                scope.spawn(move || {
                    update_settings_file(file, |object| {
                        object.insert(format!("writer{n}"), n.into());
                        Ok(())
                    })
                    .expect("written");
                });
            }
        });
        let written = read_settings_file(&file).expect("the file");
        for n in 0..8u64 {
            assert_eq!(written[&format!("writer{n}")], n, "writer {n} kept");
        }
        assert_eq!(written[STORE_KEY]["activeAccount"], "one.tenant");
    }
}
