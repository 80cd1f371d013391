//! The settings in effect: defaults < the user's `settings.json` < `TESSERA_*` variables < the
//! machine's policy file, as `tessera-config` orders them.

use std::path::{Path, PathBuf};

use tessera_config::{policy, ConfigError, Policy, Resolved};

/// The settings in effect from the real environment, and the store file: `settings.json` in
/// the app's config folder, the policy file, the `TESSERA_*` variables.
pub fn resolve_environment(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Resolved, PathBuf), ConfigError> {
    let settings_file = tessera_config::app_config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("settings.json");
    let policy = Policy::load(&policy::policy_path(&var))?;
    let resolved = resolve_file(&settings_file, &var, policy.as_ref())?;
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
