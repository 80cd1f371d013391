//! Tessera's configuration, shared by the app and the command-line tool: the settings, where
//! they come from, and who may change them.
//!
//! Precedence, lowest first: **defaults < user settings < environment < policy**.
//! - *User settings* are what the user chose in the app, stored by `tauri-plugin-store` in
//!   `settings.json` in the app's config folder. Each bad value is reported and replaced by its
//!   default; it never stops the app.
//! - *Environment* variables are for development and tests: `TESSERA_AUTHORITY`,
//!   `TESSERA_CLIENT_ID` (and, outside the settings, `TESSERA_GRAPH_URL`,
//!   `TESSERA_REDIRECT_URI`). A bad value stops the app with a message: it was set on purpose.
//! - The *policy* file ([`policy`]) pins settings machine-wide; pinned settings cannot be
//!   changed by the user and the UI shows them as managed.

#![warn(missing_docs)]

pub mod endpoints;
pub mod policy;
pub mod settings;
mod urls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

pub use endpoints::{ConfigError, Endpoints, ProviderChoice};
pub use policy::{Policy, PolicyError};
pub use settings::{InteractionMode, LogLevel, Settings, FIELDS};

/// The app's identifier (`tauri.conf.json`), which names its folders.
pub const IDENTIFIER: &str = "dev.tessera.desktop";

/// The key under which the settings object is stored in `settings.json`.
pub const STORE_KEY: &str = "settings";

/// The environment variables that override settings, by setting.
pub const ENV_OVERRIDES: [(&str, &str); 8] = [
    ("TESSERA_AUTHORITY", "authority"),
    ("TESSERA_AUTHORITY_TYPE", "authorityType"),
    ("TESSERA_CLIENT_ID", "clientId"),
    ("TESSERA_GRAPH_URL", "graphUrl"),
    ("TESSERA_REDIRECT_URI", "redirectUri"),
    ("TESSERA_EXTRA_CA_FILE", "extraCaFile"),
    ("TESSERA_REDIRECT_PORT", "redirectPort"),
    ("TESSERA_LOG_LEVEL", "logLevel"),
];

/// Settings that say where tokens go or whom to trust: while a policy is in force, the
/// environment may not override them (a user's shell could otherwise send the organisation's
/// tokens elsewhere), whether or not the policy pins them.
pub const ENDPOINT_SETTINGS: [&str; 6] = [
    "authority",
    "authorityType",
    "clientId",
    "graphUrl",
    "redirectUri",
    "extraCaFile",
];

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Nobody set it.
    Default,
    /// The user's settings.
    User,
    /// An environment variable (development).
    Environment,
    /// The machine's policy: managed, read-only for the user.
    Policy,
}

/// The settings in effect, where each came from, and what was ignored on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The values in effect.
    pub settings: Settings,
    /// Each field's source, by stored name.
    pub sources: BTreeMap<&'static str, Source>,
    /// User settings that were ignored, and why.
    pub warnings: Vec<String>,
    /// The policy file, when one applies.
    pub policy_path: Option<PathBuf>,
}

/// Resolves the layers. `user` is the stored settings object (if any); `var` reads the
/// environment; `policy` is the loaded policy (if any). Only the environment and the policy can
/// make it fail.
pub fn resolve(
    user: Option<&Value>,
    var: impl Fn(&str) -> Option<String>,
    policy: Option<&Policy>,
) -> Result<Resolved, ConfigError> {
    let mut resolved = Resolved {
        settings: Settings::default(),
        sources: FIELDS.iter().map(|f| (*f, Source::Default)).collect(),
        warnings: vec![],
        policy_path: policy.map(|p| p.path.clone()),
    };
    match user {
        None => {}
        Some(Value::Object(fields)) => {
            let current = fields
                .iter()
                .filter(|(name, _)| !settings::RETIRED.contains(&name.as_str()));
            for (name, value) in current {
                let outcome = if settings::POLICY_ONLY.contains(&name.as_str()) {
                    Err("only a policy sets it".to_owned())
                } else {
                    resolved.settings.set_field(name, value)
                };
                match outcome {
                    Ok(()) => resolved.set_source(name, Source::User),
                    Err(reason) => resolved.warnings.push(format!(
                        "setting {name} = {value} was ignored ({reason}); using the default"
                    )),
                }
            }
        }
        Some(other) => resolved.warnings.push(format!(
            "the stored settings are not an object ({other}); using the defaults"
        )),
    }
    for (variable, name) in ENV_OVERRIDES {
        let Some(value) = var(variable).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if let (Some(policy), true) = (policy, ENDPOINT_SETTINGS.contains(&name)) {
            return Err(ConfigError::Environment {
                name: variable,
                value,
                reason: format!(
                    "the policy file {} is in force, and the environment may not change where tokens go or whom to trust",
                    policy.path.display()
                ),
            });
        }
        resolved
            .settings
            .set_field(name, &Value::String(value.clone()))
            .map_err(|reason| ConfigError::Environment {
                name: variable,
                value,
                reason,
            })?;
        resolved.set_source(name, Source::Environment);
    }
    if let Some(policy) = policy {
        resolved.apply_policy(policy)?;
    }
    Ok(resolved)
}

impl Resolved {
    fn set_source(&mut self, name: &str, source: Source) {
        if let Some(field) = FIELDS.iter().find(|f| **f == name) {
            self.sources.insert(field, source);
        }
    }

    fn apply_policy(&mut self, policy: &Policy) -> Result<(), ConfigError> {
        let invalid = |reason: String| {
            ConfigError::Policy(PolicyError::Invalid {
                path: policy.path.clone(),
                reason,
            })
        };
        // The allowed modes first: a user's mode outside them falls back to the first allowed.
        if let Some(allowed) = policy.pinned.get("allowedInteractionModes") {
            let modes: Vec<InteractionMode> = serde_json::from_value(allowed.clone())
                .map_err(|e| invalid(format!("allowedInteractionModes: {e}")))?;
            let current = self.settings.interaction_mode;
            // The app's own mode falls back to the first of popup and redirect allowed.
            let app_modes = modes.iter().find(|m| **m != InteractionMode::DeviceCode);
            if let (Some(first), false) = (app_modes, modes.contains(&current)) {
                self.warnings.push(format!(
                    "the {} interaction mode is not allowed by policy; using {}",
                    mode_name(current),
                    mode_name(*first)
                ));
                self.settings.interaction_mode = *first;
            }
            self.settings
                .set_field("allowedInteractionModes", allowed)
                .map_err(|e| invalid(format!("allowedInteractionModes: {e}")))?;
            self.set_source("allowedInteractionModes", Source::Policy);
            if modes.len() == 1 {
                self.set_source("interactionMode", Source::Policy);
            }
        }
        for (name, value) in &policy.pinned {
            if name == "allowedInteractionModes" {
                continue;
            }
            self.settings
                .set_field(name, value)
                .map_err(|e| invalid(format!("{name}: {e}")))?;
            self.set_source(name, Source::Policy);
        }
        Ok(())
    }

    /// Whether the user may change `name` (neither the policy nor the environment sets it).
    pub fn is_user_settable(&self, name: &str) -> bool {
        matches!(self.sources.get(name), Some(Source::Default | Source::User))
            && !settings::POLICY_ONLY.contains(&name)
    }

    /// Applies a user's changes: refused whole, with the reason, if any field is managed,
    /// unknown or invalid. Returns the settings object to store (`stored` with the changes) and
    /// updates `self`. Stored values the changes do not touch are kept as they are, even
    /// invalid ones (they stay reported, not destroyed).
    pub fn change(
        &mut self,
        stored: Option<&Value>,
        changes: &Map<String, Value>,
    ) -> Result<Value, String> {
        let mut next = self.settings.clone();
        for (name, value) in changes {
            match self.sources.get(name.as_str()) {
                None => return Err(format!("unknown setting {name:?}")),
                Some(Source::Policy) => {
                    return Err(format!(
                        "{name} is managed by your organisation's policy ({})",
                        self.policy_path
                            .as_deref()
                            .map(Path::display)
                            .map(|p| p.to_string())
                            .unwrap_or_default()
                    ))
                }
                Some(Source::Environment) => {
                    let variable = ENV_OVERRIDES
                        .iter()
                        .find(|(_, field)| field == name)
                        .map_or("an environment variable", |(v, _)| v);
                    return Err(format!(
                        "{name} is set by {variable}, which overrides the settings"
                    ));
                }
                Some(_) if settings::POLICY_ONLY.contains(&name.as_str()) => {
                    return Err(format!("{name} can only be set by a policy"))
                }
                Some(_) => next
                    .set_field(name, value)
                    .map_err(|reason| format!("{name}: {reason}"))?,
            }
        }
        let mut object = match stored {
            Some(Value::Object(object)) => object.clone(),
            _ => Map::new(),
        };
        object.retain(|name, _| !settings::RETIRED.contains(&name.as_str()));
        for (name, value) in changes {
            object.insert(name.clone(), value.clone());
            self.set_source(name, Source::User);
        }
        self.settings = next;
        Ok(Value::Object(object))
    }
}

fn mode_name(mode: InteractionMode) -> &'static str {
    match mode {
        InteractionMode::Popup => "popup",
        InteractionMode::Redirect => "redirect",
        InteractionMode::DeviceCode => "device_code",
    }
}

/// The app's config folder (`settings.json`), as Tauri's path resolver computes it.
pub fn app_config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join(IDENTIFIER))
}

/// The app's data folder (the token cache), as Tauri's path resolver computes it.
pub fn app_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join(IDENTIFIER))
}

/// The token cache's folder: `$TESSERA_CACHE_DIR` when set, else the app's data folder.
pub fn cache_dir(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    var("TESSERA_CACHE_DIR")
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
        .or_else(app_data_dir)
}

/// Reads the user's stored settings object from the store file at `path`. A file that is not
/// JSON is moved aside (kept as `settings.json.damaged-<time>`) so that the next save does not
/// destroy it, and reported; it never stops the app.
pub fn read_user_settings(path: &Path) -> (Option<Value>, Vec<String>) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (None, vec![]),
        Err(e) => {
            return (
                None,
                vec![format!(
                    "the settings file {} cannot be read ({e}); using the defaults",
                    path.display()
                )],
            )
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut store)) => (store.remove(STORE_KEY), vec![]),
        Ok(_) | Err(_) => {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".damaged-{seconds}"));
            let kept = match std::fs::rename(path, &aside) {
                Ok(()) => format!("it was kept as {}", Path::new(&aside).display()),
                Err(e) => format!("it could not be set aside: {e}"),
            };
            (
                None,
                vec![format!(
                    "the settings file {} is damaged; {kept}; using the defaults",
                    path.display()
                )],
            )
        }
    }
}

#[cfg(test)]
mod tests;
