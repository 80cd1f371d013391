//! The settings and their rules. Every field is validated on its own, so one bad value in a
//! file costs that value (reported, default kept), never the others.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::urls;

/// How an interactive sign-in is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum InteractionMode {
    /// The embedded sign-in window.
    #[default]
    Popup,
    /// The system browser with a loopback redirect.
    Redirect,
    /// A code typed on another device (RFC 8628): `tessera-cli login --device-code`. Never the
    /// app's own mode; a policy allows or forbids it like the others.
    DeviceCode,
}

/// How much the app writes to its log file (`tessera-cli -v` has its own switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and what was ignored or worked around.
    Warn,
    /// And what the app did (sign-ins, refreshes): the default.
    #[default]
    Info,
    /// And why (each step of the silent chain). Still no secret: the engine redacts them.
    Debug,
    /// Everything Tessera's crates say (other libraries stay at warnings in the app's log).
    Trace,
}

impl LogLevel {
    /// The `log` crate's filter for this level.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// Everything a user or a policy can set. Nothing secret: tokens live in the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The authority (Entra `https://login.microsoftonline.com/{tenant}` or an OpenID Connect
    /// issuer); `None` with no client id means the embedded test provider.
    pub authority: Option<String>,
    /// What kind of provider the authority is (`entra`, `b2c`, `ciam`, `oidc`), when its host
    /// does not say it (a Microsoft authority on a custom domain); `None`: from the host.
    pub authority_type: Option<String>,
    /// The application (client) id registered with the provider.
    pub client_id: Option<String>,
    /// Scopes of "Get token" (one resource); empty: the provider's default (Microsoft Graph's
    /// `User.Read` for Microsoft authorities, `openid profile email offline_access` for others).
    pub scopes: Vec<String>,
    /// Client capabilities announced to Microsoft authorities (`cp1`: Continuous Access
    /// Evaluation challenges); never sent to other providers.
    pub client_capabilities: Vec<String>,
    /// A PEM file of CA certificates to trust besides the system's (a private CA).
    pub extra_ca_file: Option<String>,
    /// The redirect URI the sign-in window intercepts; `None`: Entra's native-client URI for
    /// Microsoft authorities, the app's private-use scheme URI for others.
    pub redirect_uri: Option<String>,
    /// The loopback port of browser sign-ins (0: any free one), for providers that match
    /// redirect URIs exactly.
    pub redirect_port: u16,
    /// Microsoft Graph's base URL; `None`: the provider's cloud's (discovery's `msgraph_host`).
    pub graph_url: Option<String>,
    /// The `error` codes this provider documents for a refresh token it no longer honours,
    /// besides `invalid_grant` (some answer `invalid_request`).
    pub refresh_token_refusals: Vec<String>,
    /// The interactive mode of "Sign in" and of fallbacks.
    pub interaction_mode: InteractionMode,
    /// The modes the user may choose from (a policy narrows it).
    pub allowed_interaction_modes: Vec<InteractionMode>,
    /// A token expiring within this many seconds counts as expired (MSAL: 300).
    pub renewal_offset_secs: u64,
    /// How long the sign-in window or the browser may take, in seconds.
    pub interaction_time_limit_secs: u64,
    /// How much the app writes to its log file.
    pub log_level: LogLevel,
    /// The account shown at start-up (its home account id).
    pub active_account: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            authority: None,
            authority_type: None,
            client_id: None,
            scopes: vec![],
            client_capabilities: vec!["cp1".into()],
            extra_ca_file: None,
            redirect_uri: None,
            redirect_port: 0,
            graph_url: None,
            refresh_token_refusals: vec![],
            interaction_mode: InteractionMode::Popup,
            allowed_interaction_modes: vec![
                InteractionMode::Popup,
                InteractionMode::Redirect,
                InteractionMode::DeviceCode,
            ],
            renewal_offset_secs: 300,
            interaction_time_limit_secs: 300,
            log_level: LogLevel::Info,
            active_account: None,
        }
    }
}

/// Every field's name as stored (camelCase), in display order.
pub const FIELDS: [&str; 16] = [
    "authority",
    "authorityType",
    "clientId",
    "scopes",
    "clientCapabilities",
    "extraCaFile",
    "redirectUri",
    "redirectPort",
    "graphUrl",
    "refreshTokenRefusals",
    "interactionMode",
    "allowedInteractionModes",
    "renewalOffsetSecs",
    "interactionTimeLimitSecs",
    "logLevel",
    "activeAccount",
];

/// Fields only a policy sets: a user narrowing their own choices makes no sense.
pub const POLICY_ONLY: [&str; 1] = ["allowedInteractionModes"];

/// Settings of earlier versions that nothing reads any more: a stored one is dropped without
/// a warning, at the next change. `window`: the main window's geometry, kept since by
/// tauri-plugin-window-state in its own file.
pub const RETIRED: [&str; 1] = ["window"];

/// Fields the engine reads when it starts: a change applies at the next start.
pub const APPLIED_AT_START: [&str; 11] = [
    "authority",
    "authorityType",
    "clientId",
    "clientCapabilities",
    "extraCaFile",
    "redirectUri",
    "graphUrl",
    "refreshTokenRefusals",
    "renewalOffsetSecs",
    "redirectPort",
    "logLevel",
];

/// The authority types a setting may declare (MSAL's known authorities).
pub const AUTHORITY_TYPES: [&str; 4] = ["entra", "b2c", "ciam", "oidc"];

/// Bounds of the interaction time limit: long enough to type a password and approve MFA, short
/// enough that a forgotten window does not hold the sign-in lock for ever.
pub const TIME_LIMIT_RANGE: std::ops::RangeInclusive<u64> = 30..=3600;

/// Bounds of the renewal offset: from none to an hour (tokens commonly live 60–90 minutes).
pub const RENEWAL_OFFSET_RANGE: std::ops::RangeInclusive<u64> = 0..=3600;

impl Settings {
    /// Sets one field from its stored JSON form, after checking it; on error nothing changes.
    pub fn set_field(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let mut next = self.clone();
        let parse_error = |e: serde_json::Error| e.to_string();
        match name {
            "authority" => next.authority = optional_text(value)?,
            "authorityType" => {
                next.authority_type = optional_text(value)?.map(|t| t.to_ascii_lowercase())
            }
            "clientId" => next.client_id = optional_text(value)?,
            "scopes" => next.scopes = serde_json::from_value(value.clone()).map_err(parse_error)?,
            "clientCapabilities" => {
                next.client_capabilities =
                    serde_json::from_value(value.clone()).map_err(parse_error)?
            }
            "extraCaFile" => next.extra_ca_file = optional_text(value)?,
            "redirectUri" => next.redirect_uri = optional_text(value)?,
            "redirectPort" => next.redirect_port = number_or_text(value)?,
            "graphUrl" => next.graph_url = optional_text(value)?,
            "refreshTokenRefusals" => {
                next.refresh_token_refusals =
                    serde_json::from_value(value.clone()).map_err(parse_error)?
            }
            "interactionMode" => {
                next.interaction_mode =
                    serde_json::from_value(value.clone()).map_err(parse_error)?
            }
            "allowedInteractionModes" => {
                next.allowed_interaction_modes =
                    serde_json::from_value(value.clone()).map_err(parse_error)?
            }
            "renewalOffsetSecs" => {
                next.renewal_offset_secs =
                    serde_json::from_value(value.clone()).map_err(parse_error)?
            }
            "interactionTimeLimitSecs" => {
                next.interaction_time_limit_secs =
                    serde_json::from_value(value.clone()).map_err(parse_error)?
            }
            "logLevel" => {
                next.log_level = match value {
                    // Any case, as an environment variable may spell it.
                    Value::String(text) => {
                        serde_json::from_value(Value::String(text.trim().to_ascii_lowercase()))
                    }
                    other => serde_json::from_value(other.clone()),
                }
                .map_err(|_| "the log level is error, warn, info, debug or trace".to_owned())?
            }
            "activeAccount" => next.active_account = optional_text(value)?,
            _ => return Err("unknown setting".into()),
        }
        next.validate_field(name)?;
        *self = next;
        Ok(())
    }

    /// The stored JSON form of one field.
    pub fn field(&self, name: &str) -> Option<Value> {
        let all = serde_json::to_value(self).ok()?;
        all.get(name).cloned()
    }

    /// Checks one field (and what it must agree with).
    pub fn validate_field(&self, name: &str) -> Result<(), String> {
        match name {
            "authority" => match &self.authority {
                Some(authority) => urls::parse_url("authority", authority)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            },
            "authorityType" => match &self.authority_type {
                Some(t) if !AUTHORITY_TYPES.contains(&t.as_str()) => Err(format!(
                    "{t:?} is not an authority type ({})",
                    AUTHORITY_TYPES.join(", ")
                )),
                _ => Ok(()),
            },
            "clientCapabilities" | "refreshTokenRefusals" => {
                let list = if name == "clientCapabilities" {
                    &self.client_capabilities
                } else {
                    &self.refresh_token_refusals
                };
                match list.iter().find(|c| {
                    c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_graphic())
                }) {
                    Some(bad) => Err(format!("{bad:?} is not a capability or error code")),
                    None if list.len() > 16 => Err("at most 16 of them".into()),
                    None => Ok(()),
                }
            }
            "extraCaFile" => match &self.extra_ca_file {
                Some(path) if !std::path::Path::new(path).is_absolute() => {
                    Err(format!("{path:?} must be an absolute path"))
                }
                _ => Ok(()),
            },
            "redirectUri" => match &self.redirect_uri {
                Some(uri) => urls::parse_redirect_uri("redirectUri", uri)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            },
            "redirectPort" => Ok(()),
            "graphUrl" => match &self.graph_url {
                Some(url) => urls::parse_url("graphUrl", url)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            },
            "clientId" => match &self.client_id {
                Some(id) if id.len() > 128 || id.chars().any(char::is_whitespace) => {
                    Err("a client id has no spaces and at most 128 characters".into())
                }
                _ => Ok(()),
            },
            "scopes" => validate_scopes(&self.scopes),
            "interactionMode" | "allowedInteractionModes" => {
                if self.allowed_interaction_modes.is_empty() {
                    return Err("at least one interaction mode must be allowed".into());
                }
                if self.interaction_mode == InteractionMode::DeviceCode {
                    return Err(
                        "the app signs in with popup or redirect; device_code is tessera-cli's"
                            .into(),
                    );
                }
                // A policy that allows only the device code leaves the app no mode at all:
                // it then refuses both.
                let app_mode_allowed = self
                    .allowed_interaction_modes
                    .iter()
                    .any(|m| *m != InteractionMode::DeviceCode);
                if app_mode_allowed
                    && !self
                        .allowed_interaction_modes
                        .contains(&self.interaction_mode)
                {
                    return Err(format!(
                        "the {:?} interaction mode is not allowed here",
                        self.interaction_mode
                    )
                    .to_lowercase());
                }
                Ok(())
            }
            "renewalOffsetSecs" => in_range(
                "the renewal offset",
                self.renewal_offset_secs,
                &RENEWAL_OFFSET_RANGE,
            ),
            "interactionTimeLimitSecs" => in_range(
                "the interaction time limit",
                self.interaction_time_limit_secs,
                &TIME_LIMIT_RANGE,
            ),
            "logLevel" => Ok(()),
            "activeAccount" => match &self.active_account {
                Some(id) if id.len() > 512 => Err("an account id is at most 512 characters".into()),
                _ => Ok(()),
            },
            _ => Err("unknown setting".into()),
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), String> {
        FIELDS.iter().try_for_each(|name| {
            self.validate_field(name)
                .map_err(|e| format!("{name}: {e}"))
        })
    }
}

/// A number, or text holding one (an environment variable's value).
fn number_or_text<T: std::str::FromStr + serde::de::DeserializeOwned>(
    value: &Value,
) -> Result<T, String> {
    match value {
        Value::String(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number in range")),
        other => serde_json::from_value(other.clone()).map_err(|e| e.to_string()),
    }
}

/// Text, where `null` or blank means "not set".
fn optional_text(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text.trim().to_owned())),
        other => Err(format!("expected text, found {other}")),
    }
}

fn in_range(what: &str, value: u64, range: &std::ops::RangeInclusive<u64>) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{what} must be between {} and {} seconds",
            range.start(),
            range.end()
        ))
    }
}

/// RFC 6749 §3.3 scope tokens, up to fifty of them (none: the provider's defaults).
fn validate_scopes(scopes: &[String]) -> Result<(), String> {
    if scopes.len() > 50 {
        return Err("at most 50 scopes".into());
    }
    for scope in scopes {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(format!("{scope:?} is not a valid scope"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_field_is_checked_and_a_refused_value_changes_nothing() {
        let mut s = Settings::default();
        let refused = [
            ("authorityType", json!("adfs")),
            ("clientCapabilities", json!(["has space"])),
            ("extraCaFile", json!("relative/ca.pem")),
            ("redirectUri", json!("javascript:alert(1)")),
            ("redirectPort", json!(70000)),
            ("redirectPort", json!("soon")),
            ("graphUrl", json!("http://graph.example.com/v1.0")),
            ("interactionMode", json!("device_code")),
            ("scopes", json!(["a\"b"])),
            ("scopes", json!("User.Read")),
            ("interactionTimeLimitSecs", json!(29)),
            ("interactionTimeLimitSecs", json!(3601)),
            ("interactionTimeLimitSecs", json!("soon")),
            ("logLevel", json!("verbose")),
            ("logLevel", json!(3)),
            ("renewalOffsetSecs", json!(-1)),
            ("renewalOffsetSecs", json!(3601)),
            ("interactionMode", json!("telepathy")),
            ("allowedInteractionModes", json!([])),
            ("authority", json!("http://login.example.com/common")),
            ("authority", json!("not a url")),
            ("authority", json!(42)),
            ("clientId", json!("has space")),
            ("colour", json!("blue")),
        ];
        for (name, value) in refused {
            assert!(s.set_field(name, &value).is_err(), "{name} = {value}");
            assert_eq!(s, Settings::default(), "{name} = {value} changed something");
        }
        s.set_field("scopes", &json!(["api://x/.default"])).unwrap();
        s.set_field(
            "authority",
            &json!(" https://login.microsoftonline.com/contoso.com "),
        )
        .unwrap();
        assert_eq!(
            s.authority.as_deref(),
            Some("https://login.microsoftonline.com/contoso.com")
        );
        s.set_field("authority", &json!("")).unwrap();
        assert_eq!(s.authority, None, "blank means unset");
        assert!(s.validate().is_ok());
    }

    #[test]
    fn the_interaction_mode_must_be_an_allowed_one() {
        let mut s = Settings::default();
        s.set_field("allowedInteractionModes", &json!(["popup"]))
            .unwrap();
        assert!(s.set_field("interactionMode", &json!("redirect")).is_err());
        s.interaction_mode = InteractionMode::Redirect;
        assert!(s
            .set_field("allowedInteractionModes", &json!(["popup"]))
            .is_err());
    }
}
