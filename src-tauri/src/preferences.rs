//! The user's preferences: how to sign in and what to ask for. Stored with
//! `tauri-plugin-store`, validated field by field on load (a bad value is reported and replaced
//! by its default, never fatal) and as a whole on change (a bad change is refused, nothing lost).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the preferences live in the store file.
pub const STORE_KEY: &str = "preferences";

/// How an interactive sign-in is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InteractionMode {
    /// The embedded sign-in window.
    #[default]
    Popup,
    /// The system browser with a loopback redirect.
    Redirect,
}

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    /// The interactive mode of "Sign in" and of fallbacks.
    pub interaction_mode: InteractionMode,
    /// Scopes of "Get token" (one resource).
    pub scopes: Vec<String>,
    /// How long the sign-in window or the browser may take, in seconds.
    pub interaction_time_limit_secs: u64,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            interaction_mode: InteractionMode::Popup,
            scopes: tessera_graph::PROFILE_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            interaction_time_limit_secs: 300,
        }
    }
}

/// Bounds of the interaction time limit: long enough to type a password and approve MFA, short
/// enough that a forgotten window does not hold the sign-in lock for ever.
pub const TIME_LIMIT_RANGE: std::ops::RangeInclusive<u64> = 30..=3600;

impl Preferences {
    /// Reads stored preferences; each invalid or unknown field is reported and left at its
    /// default.
    pub fn load(stored: Option<&Value>) -> (Preferences, Vec<String>) {
        let mut preferences = Preferences::default();
        let mut warnings = vec![];
        let Some(stored) = stored else {
            return (preferences, warnings);
        };
        let Some(fields) = stored.as_object() else {
            warnings.push("stored preferences are not an object; using the defaults".into());
            return (preferences, warnings);
        };
        for (name, value) in fields {
            let mut candidate = preferences.clone();
            let parsed = match name.as_str() {
                "interactionMode" => serde_json::from_value(value.clone())
                    .map(|v| candidate.interaction_mode = v)
                    .map_err(|e| e.to_string()),
                "scopes" => serde_json::from_value(value.clone())
                    .map(|v| candidate.scopes = v)
                    .map_err(|e| e.to_string()),
                "interactionTimeLimitSecs" => serde_json::from_value(value.clone())
                    .map(|v| candidate.interaction_time_limit_secs = v)
                    .map_err(|e| e.to_string()),
                _ => Err("unknown setting".to_owned()),
            }
            .and_then(|()| candidate.validate());
            match parsed {
                Ok(()) => preferences = candidate,
                Err(reason) => warnings.push(format!(
                    "setting {name} = {value} was ignored ({reason}); using the default"
                )),
            }
        }
        (preferences, warnings)
    }

    /// Whether the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.scopes.is_empty() {
            return Err("at least one scope is needed".into());
        }
        if self.scopes.len() > 50 {
            return Err("at most 50 scopes".into());
        }
        for scope in &self.scopes {
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            let valid = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(format!("{scope:?} is not a valid scope"));
            }
        }
        if !TIME_LIMIT_RANGE.contains(&self.interaction_time_limit_secs) {
            return Err(format!(
                "the interaction time limit must be between {} and {} seconds",
                TIME_LIMIT_RANGE.start(),
                TIME_LIMIT_RANGE.end()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nothing_stored_means_the_defaults() {
        assert_eq!(Preferences::load(None), (Preferences::default(), vec![]));
    }

    #[test]
    fn valid_fields_are_kept_and_each_bad_one_is_reported_and_defaulted() {
        let stored = json!({
            "interactionMode": "redirect",
            "scopes": ["User.Read", "has space"],
            "interactionTimeLimitSecs": 5,
            "colour": "blue",
        });
        let (preferences, warnings) = Preferences::load(Some(&stored));
        assert_eq!(preferences.interaction_mode, InteractionMode::Redirect);
        assert_eq!(preferences.scopes, Preferences::default().scopes);
        assert_eq!(preferences.interaction_time_limit_secs, 300);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("has space")));
        assert!(warnings.iter().any(|w| w.contains("colour")));
        let (_, warnings) = Preferences::load(Some(&json!("garbage")));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn validation_refuses_empty_or_malformed_scopes_and_silly_time_limits() {
        let with = |f: fn(&mut Preferences)| {
            let mut p = Preferences::default();
            f(&mut p);
            p.validate()
        };
        assert!(with(|_| {}).is_ok());
        assert!(with(|p| p.scopes.clear()).is_err());
        assert!(with(|p| p.scopes = vec!["a\"b".into()]).is_err());
        assert!(with(|p| p.interaction_time_limit_secs = 29).is_err());
        assert!(with(|p| p.interaction_time_limit_secs = 3601).is_err());
        assert!(with(|p| p.scopes = vec!["api://x/.default".into()]).is_ok());
    }
}
