//! Engine events on a broadcast channel, so a UI can follow (MSAL's events API). Events carry
//! no secret: accounts, sources, error kinds and correlation ids only.

use serde::{Deserialize, Serialize};

use crate::cache::Account;
use crate::error::Classification;

/// Where a token came from, in results and in events (here, so that events need nothing of
/// the application that emits them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The cache: no network.
    Cache,
    /// A refresh-token redemption.
    RefreshToken,
    /// A `prompt=none` request through the silent agent.
    SilentSso,
    /// An interactive sign-in.
    Interactive,
}

/// What kind of interaction is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum InteractionStatus {
    /// Nothing.
    None,
    /// A silent agent (hidden window) is working.
    Silent,
    /// An embedded sign-in window is open.
    Popup,
    /// The system browser is out (loopback redirect).
    Redirect,
}

/// Something that happened in the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A token request started.
    AcquireTokenStart {
        /// Interactive or silent.
        interactive: bool,
        /// The request's correlation id.
        correlation_id: String,
    },
    /// A token request succeeded.
    AcquireTokenSuccess {
        /// Where the token came from.
        source: TokenSource,
        /// Whose token.
        home_account_id: String,
        /// Expiry, Unix seconds.
        expires_on: i64,
        /// The request's correlation id.
        correlation_id: String,
    },
    /// A token request failed.
    AcquireTokenFailure {
        /// The error's kind ([`crate::Error::kind`]).
        error: String,
        /// For `interaction_required`, what kind.
        classification: Option<Classification>,
        /// The request's correlation id.
        correlation_id: String,
    },
    /// An account signed in for the first time.
    AccountAdded {
        /// The account.
        account: Account,
    },
    /// An account was removed (signed out).
    AccountRemoved {
        /// Its home account id.
        home_account_id: String,
    },
    /// The active account changed.
    ActiveAccountChanged {
        /// The new one, or none.
        home_account_id: Option<String>,
    },
    /// The cache could not be loaded from or saved to its persistence layer; the engine goes
    /// on from memory.
    PersistenceFailed {
        /// `load` or `save`.
        operation: String,
        /// Why, without any secret.
        message: String,
    },
    /// An interaction started or ended.
    InteractionStatus {
        /// Now.
        status: InteractionStatus,
        /// The redirect URI the interaction waits at, while one runs: what a provider that
        /// matches redirect URIs exactly must have registered (not a secret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redirect_uri: Option<String>,
    },
}
