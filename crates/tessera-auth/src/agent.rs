//! Agents: whatever shows the authorize request to the user (or to the provider's session) and
//! comes back with the redirect URL. AppAuth calls this the external user agent; the app has an
//! embedded-webview popup and a hidden webview, the engine a system-browser loopback agent, and
//! tests a scripted browser.

use std::future::Future;
use std::pin::Pin;

use url::Url;

use crate::event::InteractionStatus;

/// A boxed, sendable future (agents are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an agent is asked to do.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    /// The full authorize URL to load.
    pub authorize_url: Url,
    /// The redirect URI: the agent stops at the first navigation to a URL starting with it.
    pub redirect_uri: Url,
}

/// How an agent can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The user closed the window or browser tab.
    #[error("cancelled by the user")]
    Cancelled,
    /// No redirect within the agent's time limit.
    #[error("timed out")]
    Timeout,
    /// The agent could not show the request (page failed to load, no browser…).
    #[error("{0}")]
    Failed(String),
    /// The authorization endpoint answered the request with a client error (HTTP 4xx): the
    /// provider refuses it as sent (an unregistered redirect URI, an unknown client), and no
    /// waiting helps.
    #[error("the identity provider refused the sign-in request (HTTP {0})")]
    Refused(u16),
}

/// Shows an authorize request to the user and returns the redirect URL.
pub trait InteractiveAgent: Send + Sync {
    /// The redirect URI this agent can catch (the embedded window's native-client URI, the
    /// loopback listener's `http://localhost:{port}`).
    fn redirect_uri(&self) -> Url;

    /// Presents `request`; resolves with the URL the provider redirected to.
    fn authorize(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>>;

    /// `response_mode` this agent can receive: `query` (a navigation the agent intercepts) or
    /// `form_post` (a POST to a loopback listener, which keeps the code out of browser history).
    fn response_mode(&self) -> &'static str {
        "query"
    }

    /// What the UI should say is happening while this agent works.
    fn interaction_status(&self) -> InteractionStatus {
        InteractionStatus::Popup
    }

    /// Called once the code was redeemed (or not), so an agent that holds the browser's
    /// request open (the loopback listener) can answer it with the real outcome.
    fn finished(&self, _outcome: Result<(), String>) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Runs a `prompt=none` authorize request invisibly against the provider's session.
pub trait SilentAgent: Send + Sync {
    /// The redirect URI this agent can catch.
    fn redirect_uri(&self) -> Url;

    /// Loads `request` without showing anything; resolves with the redirect URL.
    fn authorize_silently(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>>;
}
