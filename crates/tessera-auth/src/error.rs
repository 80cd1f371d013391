//! The engine's one error type, shaped by what the caller must do next.
//!
//! Classification follows MSAL: an identity provider error that only a user can resolve becomes
//! [`Error::InteractionRequired`], with the provider's code, `suberror` and a
//! [`Classification`]; transient failures say so through [`Error::is_transient`]
//! (<https://learn.microsoft.com/entra/identity-platform/reference-error-codes>,
//! <https://learn.microsoft.com/entra/msal/dotnet/advanced/exceptions/msal-error-handling>).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An OAuth 2.0 error response (RFC 6749 §5.2), with Entra's extra members kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// `error`, e.g. `invalid_grant`.
    pub error: String,
    /// `error_description`: human text (Entra's starts with the AADSTS code).
    #[serde(default)]
    pub error_description: Option<String>,
    /// `error_uri`.
    #[serde(default)]
    pub error_uri: Option<String>,
    /// Entra's `error_codes` (the AADSTS numbers).
    #[serde(default)]
    pub error_codes: Vec<u32>,
    /// Entra's `suberror`, e.g. `basic_action`, `consent_required`, `bad_token`.
    #[serde(default, alias = "error_subcode")]
    pub suberror: Option<String>,
    /// A claims challenge to send with the next request.
    #[serde(default)]
    pub claims: Option<String>,
    /// Entra's `trace_id`.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Entra's `correlation_id`.
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl OAuthError {
    /// The first AADSTS number, from `error_codes` or the description's `AADSTSnnnn:` prefix.
    pub fn aadsts(&self) -> Option<u32> {
        self.error_codes.first().copied().or_else(|| {
            let text = self.error_description.as_deref()?.strip_prefix("AADSTS")?;
            text.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
    }

    /// The description's first line (Entra appends trace lines).
    pub fn summary(&self) -> String {
        self.error_description
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(str::to_owned)
            .unwrap_or_else(|| self.error.clone())
    }

    /// Whether only a user can resolve it: RFC 6749 §5.2's `invalid_grant` (the grant or
    /// refresh token is invalid, expired or revoked), and MSAL's interaction-required error
    /// codes and suberrors (msal-common `InteractionRequiredAuthError.ts`,
    /// `isInteractionRequiredError`). Matched on the codes, never on the description's text.
    pub fn requires_interaction(&self) -> bool {
        matches!(
            self.error.as_str(),
            "invalid_grant"
                | "interaction_required"
                | "login_required"
                | "consent_required"
                | "bad_token"
        ) || matches!(
            self.suberror.as_deref(),
            Some(
                "message_only"
                    | "additional_action"
                    | "basic_action"
                    | "user_password_expired"
                    | "consent_required"
                    | "bad_token"
            )
        )
    }

    /// Whether the client's own registration or request is wrong, which no sign-in fixes
    /// (RFC 6749 §5.2: `invalid_client`, `unauthorized_client`, `invalid_scope`,
    /// `unsupported_grant_type`; §4.1.2.1: `unsupported_response_type`).
    pub fn is_client_configuration(&self) -> bool {
        matches!(
            self.error.as_str(),
            "invalid_client"
                | "unauthorized_client"
                | "invalid_scope"
                | "unsupported_grant_type"
                | "unsupported_response_type"
        )
    }

    /// The kind of interaction the provider asks for.
    pub fn classification(&self) -> Classification {
        match self.suberror.as_deref() {
            Some("basic_action") => return Classification::BasicAction,
            Some("additional_action") => return Classification::AdditionalAction,
            Some("message_only") => return Classification::MessageOnly,
            Some("consent_required") => return Classification::ConsentRequired,
            Some("user_password_expired") => return Classification::UserPasswordExpired,
            Some("bad_token") => return Classification::BadToken,
            Some("token_expired") => return Classification::TokenExpired,
            _ => {}
        }
        match (self.error.as_str(), self.aadsts()) {
            ("consent_required", _) | (_, Some(65001)) => Classification::ConsentRequired,
            ("login_required", _) | (_, Some(50058)) => Classification::LoginRequired,
            (_, Some(50076 | 50079 | 50158)) => Classification::BasicAction,
            (_, Some(50055)) => Classification::UserPasswordExpired,
            (_, Some(700082 | 70008)) => Classification::TokenExpired,
            (_, Some(50173 | 70000 | 9002313)) => Classification::BadToken,
            _ => Classification::Other,
        }
    }
}

/// Why interaction is needed, in MSAL's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Classification {
    /// Nothing cached for this account and request.
    NoTokens,
    /// The user (or an admin) must consent.
    ConsentRequired,
    /// No session at the provider (silent SSO failed).
    LoginRequired,
    /// A step the user can do in the sign-in UI, such as MFA.
    BasicAction,
    /// A step outside the sign-in UI (device registration, say).
    AdditionalAction,
    /// A message to show; nothing the user can do in the flow.
    MessageOnly,
    /// The password expired.
    UserPasswordExpired,
    /// The refresh token is invalid or revoked.
    BadToken,
    /// The refresh token expired.
    TokenExpired,
    /// Anything else.
    Other,
}

/// Everything that can go wrong in the engine.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Only an interactive sign-in can continue. Pass `claims` to it when present.
    #[error("interaction required ({classification:?}): {description}")]
    InteractionRequired {
        /// The provider's `error` (`invalid_grant`, `login_required`, …), or `no_tokens`.
        error: String,
        /// The provider's AADSTS number, if any.
        code: Option<u32>,
        /// The provider's `suberror`, if any.
        suberror: Option<String>,
        /// What kind of interaction.
        classification: Classification,
        /// A claims challenge to pass to the interactive request.
        claims: Option<String>,
        /// Human text, first line of the provider's description.
        description: String,
    },
    /// The user closed the sign-in window or browser.
    #[error("the user cancelled the sign-in")]
    UserCancelled,
    /// The sign-in did not finish in time.
    #[error("the sign-in did not finish in time")]
    Timeout,
    /// Another interactive request is running.
    #[error("another sign-in is already in progress")]
    InteractionInProgress,
    /// The provider refused the request and neither a sign-in nor a change of configuration
    /// is known to help (e.g. `temporarily_unavailable`, `invalid_request`).
    #[error("the identity provider refused the request: {}", .0.summary())]
    Server(Box<OAuthError>),
    /// The provider refused this app's registration or request (`invalid_client`,
    /// `unauthorized_client`, `invalid_scope`, `unsupported_grant_type`): a configuration to
    /// fix, not a sign-in to repeat.
    #[error("the identity provider refuses this app's configuration: {}", .0.summary())]
    ClientConfiguration(Box<OAuthError>),
    /// The provider asked us to wait (HTTP 429 or 503 with `Retry-After`).
    #[error("the identity provider is throttling requests; retry in {} s", retry_after.as_secs())]
    Throttled {
        /// How long to wait before the same request.
        retry_after: Duration,
    },
    /// The provider or network failed (connection, timeout, 5xx).
    #[error("network or provider failure: {0}")]
    Network(String),
    /// The provider answered something that is not a valid response.
    #[error("invalid response from the identity provider: {0}")]
    InvalidResponse(String),
    /// The ID token failed validation.
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The redirect's `state` is not the one we sent: possibly a forged response.
    #[error("the sign-in response does not belong to this request (state mismatch)")]
    StateMismatch,
    /// The configuration is unusable.
    #[error("configuration error: {0}")]
    Configuration(String),
    /// No such account in the cache.
    #[error("unknown account {0}")]
    AccountNotFound(String),
}

impl Error {
    /// The `InteractionRequired` error for an OAuth error that needs the user.
    pub(crate) fn interaction(oauth: &OAuthError) -> Error {
        Error::InteractionRequired {
            error: oauth.error.clone(),
            code: oauth.aadsts(),
            suberror: oauth.suberror.clone(),
            classification: oauth.classification(),
            claims: oauth.claims.clone(),
            description: oauth.summary(),
        }
    }

    /// Nothing cached for this request.
    pub(crate) fn no_tokens(description: &str) -> Error {
        Error::InteractionRequired {
            error: "no_tokens".into(),
            code: None,
            suberror: None,
            classification: Classification::NoTokens,
            claims: None,
            description: description.into(),
        }
    }

    /// Maps a provider error: interaction-required kinds become [`Error::InteractionRequired`],
    /// configuration ones [`Error::ClientConfiguration`], the rest [`Error::Server`].
    pub(crate) fn from_oauth(oauth: OAuthError) -> Error {
        Self::from_oauth_with(oauth, &[])
    }

    /// [`Self::from_oauth`], with the `error` codes a provider documents for a refresh token
    /// it no longer honours besides `invalid_grant` (such as `invalid_request`): those too
    /// need a new sign-in.
    pub(crate) fn from_oauth_with(oauth: OAuthError, refusals: &[String]) -> Error {
        if oauth.requires_interaction() || refusals.iter().any(|r| r == &oauth.error) {
            Error::interaction(&oauth)
        } else if oauth.is_client_configuration() {
            Error::ClientConfiguration(Box::new(oauth))
        } else {
            Error::Server(Box::new(oauth))
        }
    }

    /// A provider that answers its discovery document with an OAuth error: a 4xx says the
    /// authority is wrong (a misspelt tenant is Entra's AADSTS90002), which is configuration
    /// to fix and not worth retrying; a 5xx is the provider failing, which is.
    pub(crate) fn discovery_refused(url: &str, status: u16, oauth: OAuthError) -> Error {
        if status >= 500 {
            return Error::Network(format!("{url} answered HTTP {status}: {}", oauth.summary()));
        }
        Error::ClientConfiguration(Box::new(oauth))
    }

    /// A stable snake_case name for the variant, for events, logs and the UI's error kinds.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InteractionRequired { .. } => "interaction_required",
            Error::UserCancelled => "user_cancelled",
            Error::Timeout => "timeout",
            Error::InteractionInProgress => "interaction_in_progress",
            Error::Server(_) => "server",
            Error::ClientConfiguration(_) => "configuration",
            Error::Throttled { .. } => "throttled",
            Error::Network(_) => "network",
            Error::InvalidResponse(_) => "invalid_response",
            Error::InvalidIdToken(_) => "invalid_id_token",
            Error::StateMismatch => "state_mismatch",
            Error::Configuration(_) => "configuration",
            Error::AccountNotFound(_) => "account_not_found",
        }
    }

    /// The classification of an `InteractionRequired` error.
    pub fn classification(&self) -> Option<Classification> {
        match self {
            Error::InteractionRequired { classification, .. } => Some(*classification),
            _ => None,
        }
    }

    /// Whether trying the same thing later may succeed without the user.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network(_) | Error::Throttled { .. } => true,
            Error::Server(e) => {
                matches!(e.error.as_str(), "temporarily_unavailable" | "server_error")
            }
            _ => false,
        }
    }
}

/// Shorthand for the engine's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn entra(body: &str) -> OAuthError {
        serde_json::from_str(body).expect("an Entra error body")
    }

    // Bodies as Entra sends them (reference-error-codes and the auth-code-flow error samples).
    #[test]
    fn real_entra_bodies_classify_as_msal_does() {
        let mfa = entra(
            r#"{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'.\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[50076],"timestamp":"2024-01-01 00:00:00Z","trace_id":"0000","correlation_id":"1111","error_uri":"https://login.microsoftonline.com/error?code=50076","suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"x\"]}}}"}"#,
        );
        assert!(mfa.requires_interaction());
        assert_eq!(mfa.classification(), Classification::BasicAction);
        assert!(mfa.summary().starts_with("AADSTS50076:") && !mfa.summary().contains("Trace ID"));

        let consent = entra(
            r#"{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented to use the application with ID 'x'.","error_codes":[65001],"suberror":"consent_required"}"#,
        );
        assert_eq!(consent.classification(), Classification::ConsentRequired);

        let expired = entra(
            r#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity.","error_codes":[700082]}"#,
        );
        assert_eq!(expired.classification(), Classification::TokenExpired);

        let revoked = entra(
            r#"{"error":"invalid_grant","error_description":"AADSTS50173: The provided grant has expired due to it being revoked.","error_codes":[50173]}"#,
        );
        assert_eq!(revoked.classification(), Classification::BadToken);

        let client = entra(
            r#"{"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.","error_codes":[7000218]}"#,
        );
        assert!(!client.requires_interaction());
        assert!(matches!(
            Error::from_oauth(client),
            Error::ClientConfiguration(_)
        ));

        let login = entra(
            r#"{"error":"login_required","error_description":"AADSTS50058: A silent sign-in request was sent but no user is signed in."}"#,
        );
        assert_eq!(
            login.aadsts(),
            Some(50058),
            "the code can come from the description"
        );
        assert_eq!(login.classification(), Classification::LoginRequired);
    }

    // Issue 19, "Refusals classified, not guessed": configuration errors were reported as
    // provider failures (CLI exit 1), and a provider's documented dead-token answer was not
    // taken for one.
    #[test]
    fn refusals_are_classified_by_their_codes() {
        let oauth = |error: &str, suberror: Option<&str>| OAuthError {
            error: error.into(),
            suberror: suberror.map(str::to_owned),
            ..OAuthError::default()
        };
        for code in [
            "invalid_grant",
            "interaction_required",
            "login_required",
            "consent_required",
            "bad_token",
        ] {
            assert!(
                matches!(
                    Error::from_oauth(oauth(code, None)),
                    Error::InteractionRequired { .. }
                ),
                "{code}"
            );
        }
        for sub in [
            "message_only",
            "additional_action",
            "basic_action",
            "user_password_expired",
            "consent_required",
            "bad_token",
        ] {
            assert!(
                matches!(
                    Error::from_oauth(oauth("invalid_request", Some(sub))),
                    Error::InteractionRequired { .. }
                ),
                "suberror {sub}"
            );
        }
        for code in [
            "invalid_client",
            "unauthorized_client",
            "invalid_scope",
            "unsupported_grant_type",
        ] {
            let error = Error::from_oauth(oauth(code, None));
            assert!(matches!(error, Error::ClientConfiguration(_)), "{code}");
            assert_eq!(error.kind(), "configuration");
        }
        let dead = oauth("invalid_request", None);
        assert!(
            matches!(Error::from_oauth(dead.clone()), Error::Server(_)),
            "not guessed from the text"
        );
        assert!(
            matches!(
                Error::from_oauth_with(dead, &["invalid_request".into()]),
                Error::InteractionRequired { .. }
            ),
            "a documented dead-token answer"
        );
        let mentions = OAuthError {
            error: "invalid_request".into(),
            error_description: Some("the refresh token is bad_token, login_required".into()),
            ..OAuthError::default()
        };
        assert!(
            matches!(Error::from_oauth(mentions), Error::Server(_)),
            "descriptions are not codes"
        );
    }

    #[test]
    fn transient_errors_say_so() {
        assert!(Error::Throttled {
            retry_after: Duration::from_secs(5)
        }
        .is_transient());
        assert!(Error::Server(Box::new(OAuthError {
            error: "temporarily_unavailable".into(),
            ..Default::default()
        }))
        .is_transient());
        assert!(!Error::UserCancelled.is_transient());
        assert!(!Error::no_tokens("x").is_transient());
    }
}
