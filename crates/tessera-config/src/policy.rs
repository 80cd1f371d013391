//! The machine-wide policy an IT department deploys: a JSON object of the settings it pins.
//!
//! ```json
//! { "clientId": "11111111-2222-3333-4444-555555555555",
//!   "authority": "https://login.microsoftonline.com/contoso.onmicrosoft.com",
//!   "allowedInteractionModes": ["popup"],
//!   "scopes": ["User.Read"] }
//! ```
//!
//! Unlike a user's settings, a policy is not repaired: a file that is not valid JSON, an unknown
//! setting or a bad value is an error naming the file, and the app does not start. Running with
//! part of a policy silently dropped (a pinned tenant, say) would be worse than not running.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::settings::{Settings, FIELDS};

/// The environment variable that points to another policy file (tests, or a managed
/// deployment that keeps it elsewhere).
pub const POLICY_FILE_VAR: &str = "TESSERA_POLICY_FILE";

/// The platform's policy file: `/etc/tessera/policy.json` on Linux,
/// `%ProgramData%\Tessera\policy.json` on Windows, `/Library/Application
/// Support/Tessera/policy.json` on macOS.
pub fn default_policy_path() -> PathBuf {
    if cfg!(windows) {
        let program_data =
            std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
        PathBuf::from(program_data)
            .join("Tessera")
            .join("policy.json")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Tessera/policy.json")
    } else {
        PathBuf::from("/etc/tessera/policy.json")
    }
}

/// The policy in force: the machine's (`machine`, the platform's path in the app and the
/// CLI), or, only where the machine has none, the file `$TESSERA_POLICY_FILE` names (tests, a
/// deployment that keeps it elsewhere). A user's variable can add a policy but never replace
/// or hide the machine's; when it is ignored, the second value says so.
pub fn load_in_force(
    machine: &Path,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Option<Policy>, Option<String>), PolicyError> {
    let requested = var(POLICY_FILE_VAR)
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from);
    if let Some(policy) = Policy::load(machine)? {
        let ignored = requested.filter(|p| p != machine).map(|p| {
            format!(
                "{POLICY_FILE_VAR}={} is ignored: the machine's policy {} is in force",
                p.display(),
                machine.display()
            )
        });
        return Ok((Some(policy), ignored));
    }
    match requested {
        Some(path) => Ok((Policy::load(&path)?, None)),
        None => Ok((None, None)),
    }
}

/// A loaded, checked policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The file it came from.
    pub path: PathBuf,
    /// The pinned settings, by stored name; each checked on its own.
    pub pinned: Map<String, Value>,
}

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// It exists but cannot be read.
    #[error("the policy file {path} cannot be read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// It is not what a policy looks like.
    #[error("the policy file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the setting's name.
        reason: String,
    },
}

impl Policy {
    /// Reads the policy at `path`; `None` when there is no file (no policy).
    pub fn load(path: &Path) -> Result<Option<Policy>, PolicyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PolicyError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let invalid = |reason: String| PolicyError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            invalid(format!(
                "not JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(pinned) = value else {
            return Err(invalid("it must be a JSON object of settings".into()));
        };
        // Each value must be valid on its own terms; how pinned values combine with the
        // others is checked when the layers are resolved.
        let mut check = Settings::default();
        for (name, value) in &pinned {
            if !FIELDS.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "unknown setting {name:?} (known: {})",
                    FIELDS.join(", ")
                )));
            }
            if name == "allowedInteractionModes" {
                // Checked against a mode it allows, whatever the default mode is.
                let modes: Vec<crate::InteractionMode> = serde_json::from_value(value.clone())
                    .map_err(|e| invalid(format!("{name}: {e}")))?;
                if let Some(first) = modes.first() {
                    check.interaction_mode = *first;
                }
            }
            check
                .set_field(name, value)
                .map_err(|reason| invalid(format!("{name}: {reason}")))?;
        }
        Ok(Some(Policy {
            path: path.to_owned(),
            pinned,
        }))
    }
}
