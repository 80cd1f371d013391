//! Why a command failed, the exit code that says so, and how it is reported: one readable line
//! on standard error (with the provider's code), and with `--json` a JSON object on standard
//! output as well.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use tessera_auth::Error;
use tessera_graph::GraphError;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: anything else.
    Other = 1,
    /// 2: bad usage or configuration.
    Usage = 2,
    /// 3: only an interactive sign-in can continue.
    InteractionRequired = 3,
    /// 4: the user cancelled, or the sign-in timed out.
    Cancelled = 4,
    /// 5: the network or the provider is unavailable.
    Unavailable = 5,
    /// 6: the provider (or Graph) is throttling; retry later.
    Throttled = 6,
}

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// A stable name for the kind (the engine's `Error::kind`, or the CLI's own).
    pub kind: &'static str,
    /// One line for a person.
    pub message: String,
    /// The provider's `error` (`invalid_grant`…), when it gave one.
    pub error: Option<String>,
    /// The provider's AADSTS number, when it gave one.
    pub aadsts: Option<u32>,
    /// `InteractionRequired`'s classification, snake_case.
    pub classification: Option<String>,
    /// A claims challenge to pass to `login`/`token --claims`.
    pub claims: Option<String>,
    /// When to try again, for throttling.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure with nothing but a message.
    pub fn new(exit: Exit, kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            kind,
            message: message.into(),
            error: None,
            aadsts: None,
            classification: None,
            claims: None,
            retry_after: None,
        }
    }

    /// Bad usage or configuration.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, "usage", message)
    }

    /// The account asked for is not signed in, or none is.
    pub fn no_account(message: impl Into<String>) -> Failure {
        Failure {
            error: Some("no_account".into()),
            ..Failure::new(Exit::InteractionRequired, "interaction_required", message)
        }
    }

    /// The JSON `--json` prints.
    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "kind": self.kind,
                "message": self.message,
                "exit_code": self.exit as u8,
                "code": self.error,
                "aadsts": self.aadsts,
                "classification": self.classification,
                "claims": self.claims,
                "retry_after_seconds": self.retry_after.map(|d| d.as_secs()),
            }
        })
    }

    /// The line on standard error: the message, then the provider's codes, then what to do.
    pub fn line(&self) -> String {
        let mut line = format!("tessera-cli: {}", self.message);
        let codes: Vec<String> = self
            .error
            .iter()
            .cloned()
            .chain(self.aadsts.map(|n| format!("AADSTS{n}")))
            .collect();
        if !codes.is_empty() && !codes.iter().all(|c| self.message.contains(c.as_str())) {
            line.push_str(&format!(" [{}]", codes.join(", ")));
        }
        match self.exit {
            Exit::InteractionRequired => {
                line.push_str("; sign in with `tessera-cli login`, or add --interactive")
            }
            // The engine's and Graph's messages name the wait already.
            Exit::Throttled if !self.message.contains("retry in") => {
                if let Some(wait) = self.retry_after {
                    line.push_str(&format!("; retry in {} s", wait.as_secs().max(1)));
                }
            }
            _ => {}
        }
        line
    }

    /// Reports the failure and gives its exit code.
    pub fn report(&self, json: bool) -> ExitCode {
        eprintln!("{}", self.line());
        if json {
            println!("{}", self.to_json());
        }
        ExitCode::from(self.exit as u8)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let message = error.to_string();
        let exit = match &error {
            Error::InteractionRequired { .. } | Error::AccountNotFound(_) => {
                Exit::InteractionRequired
            }
            Error::UserCancelled | Error::Timeout => Exit::Cancelled,
            Error::Throttled { .. } => Exit::Throttled,
            Error::Configuration(_) | Error::ClientConfiguration(_) => Exit::Usage,
            e if e.is_transient() => Exit::Unavailable,
            _ => Exit::Other,
        };
        let mut failure = Failure::new(exit, error.kind(), message);
        match error {
            Error::InteractionRequired {
                error,
                code,
                classification,
                claims,
                ..
            } => {
                failure.error = Some(error);
                failure.aadsts = code;
                failure.classification = serde_json::to_value(classification)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
                failure.claims = claims;
            }
            Error::Server(oauth) | Error::ClientConfiguration(oauth) => {
                failure.aadsts = oauth.aadsts();
                failure.error = Some(oauth.error);
            }
            Error::Throttled { retry_after } => failure.retry_after = Some(retry_after),
            _ => {}
        }
        failure
    }
}

impl From<GraphError> for Failure {
    fn from(error: GraphError) -> Failure {
        let message = error.to_string();
        match error {
            GraphError::Throttled { retry_after, .. } => Failure {
                retry_after: Some(retry_after),
                ..Failure::new(Exit::Throttled, "throttled", message)
            },
            GraphError::Status { status, code, .. } => Failure {
                error: Some(code),
                ..Failure::new(
                    if status >= 500 {
                        Exit::Unavailable
                    } else {
                        Exit::Other
                    },
                    "profile",
                    message,
                )
            },
            GraphError::ClaimsChallenge { claims, .. } => Failure {
                claims: Some(claims),
                ..Failure::new(Exit::InteractionRequired, "interaction_required", message)
            },
            GraphError::InvalidToken { .. } | GraphError::InvalidResponse { .. } => {
                Failure::new(Exit::Other, "profile", message)
            }
            GraphError::Network { .. } => Failure::new(Exit::Unavailable, "network", message),
        }
    }
}
