//! `CommandError`: how every failure crosses to the UI. A serialisable value with a stable
//! `kind` the UI can branch on, never a debug string and never a secret.

use serde::Serialize;
use tessera_auth::{Classification, Error};
use tessera_graph::{CallError, GraphError};

/// A failed command, as the UI receives it: `{ kind, message, code?, classification?,
/// retry_after? }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[error("{message}")]
pub struct CommandError {
    /// Stable snake_case name: the engine's error kinds (`interaction_required`,
    /// `user_cancelled`, `timeout`, `interaction_in_progress`, `throttled`, `network`, …), plus
    /// `profile`, `invalid_argument`, `no_account`, `not_allowed` and `end_session` from the
    /// plugin (and `settings` from Tessera's own window).
    pub kind: String,
    /// One human sentence.
    pub message: String,
    /// The provider's code: `AADSTS50076`, or its `error` (`login_required`) when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub code: Option<String>,
    /// For `interaction_required`: what kind of interaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub classification: Option<Classification>,
    /// For `throttled`: seconds to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub retry_after: Option<u64>,
}

impl CommandError {
    /// An error of the plugin's (or its host's) own.
    pub fn new(kind: &str, message: impl Into<String>) -> CommandError {
        CommandError {
            kind: kind.to_owned(),
            message: message.into(),
            code: None,
            classification: None,
            retry_after: None,
        }
    }

    /// A bad argument from the UI.
    pub fn invalid(message: impl Into<String>) -> CommandError {
        CommandError::new("invalid_argument", message)
    }
}

impl From<Error> for CommandError {
    fn from(error: Error) -> CommandError {
        let mut out = CommandError::new(error.kind(), error.to_string());
        out.classification = error.classification();
        match &error {
            Error::InteractionRequired {
                error,
                code,
                description,
                ..
            } => {
                out.code = Some(match code {
                    Some(n) => format!("AADSTS{n}"),
                    None => error.clone(),
                });
                out.message = description.clone();
            }
            Error::Server(oauth) | Error::ClientConfiguration(oauth) => {
                out.code = Some(match oauth.aadsts() {
                    Some(n) => format!("AADSTS{n}"),
                    None => oauth.error.clone(),
                });
            }
            Error::Throttled { retry_after } => {
                out.retry_after = Some(retry_after.as_secs().max(1));
            }
            _ => {}
        }
        out
    }
}

impl From<GraphError> for CommandError {
    fn from(error: GraphError) -> CommandError {
        let mut out = CommandError::new("profile", error.to_string());
        match &error {
            GraphError::Throttled { retry_after, .. } => {
                out.kind = "throttled".into();
                out.retry_after = Some(retry_after.as_secs().max(1));
            }
            GraphError::Network { .. } => out.kind = "network".into(),
            GraphError::Status { code, .. } => out.code = Some(code.clone()),
            _ => {}
        }
        out
    }
}

impl From<CallError<CommandError>> for CommandError {
    fn from(error: CallError<CommandError>) -> CommandError {
        match error {
            CallError::Token(e) => e,
            CallError::Graph(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn interaction_required_carries_the_provider_code_and_classification() {
        let error = Error::InteractionRequired {
            error: "invalid_grant".into(),
            code: Some(50076),
            suberror: Some("basic_action".into()),
            classification: Classification::BasicAction,
            claims: None,
            description: "AADSTS50076: you must use multi-factor authentication".into(),
        };
        let json = serde_json::to_value(CommandError::from(error)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "interaction_required",
                "message": "AADSTS50076: you must use multi-factor authentication",
                "code": "AADSTS50076",
                "classification": "basic_action",
            })
        );
    }

    #[test]
    fn throttling_says_how_long_to_wait_and_other_errors_say_only_what_they_know() {
        let json = serde_json::to_value(CommandError::from(Error::Throttled {
            retry_after: Duration::from_secs(7),
        }))
        .unwrap();
        assert_eq!(json["kind"], "throttled");
        assert_eq!(json["retry_after"], 7);
        let json = serde_json::to_value(CommandError::from(Error::UserCancelled)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "user_cancelled", "message": "the user cancelled the sign-in"})
        );
    }
}
