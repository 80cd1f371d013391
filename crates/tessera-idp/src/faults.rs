//! Injected faults: the control API queues them, the endpoints consume them in order.
//!
//! A fault that stands for a broken network or gateway (`status`, `malformed`, `truncated`,
//! `reset`) answers *instead of* the endpoint, which therefore changes no state: a refresh
//! token is not rotated by a request that got a 503. `delay` and `omit` let the endpoint run.

use serde::{Deserialize, Serialize};

/// Which endpoint a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// `POST …/oauth2/v2.0/token`.
    Token,
    /// `GET …/oauth2/v2.0/authorize`.
    Authorize,
    /// `GET …/.well-known/openid-configuration`.
    Discovery,
    /// `GET …/discovery/v2.0/keys`.
    Keys,
    /// Every Graph endpoint.
    Graph,
}

impl Target {
    /// The request counter this endpoint increments.
    pub fn counter(self) -> &'static str {
        match self {
            Target::Token => "token",
            Target::Authorize => "authorize",
            Target::Discovery => "discovery",
            Target::Keys => "keys",
            Target::Graph => "graph",
        }
    }
}

/// What the fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status (429, 500, 503, …) and an error body of the endpoint's
    /// shape, with `Retry-After` when given.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header: seconds, or any text (an HTTP-date, RFC 9110 §10.2.3).
        #[serde(default)]
        retry_after: Option<RetryAfter>,
    },
    /// Wait, then answer normally.
    Delay {
        /// How long, in milliseconds.
        millis: u64,
    },
    /// 200 with an HTML body, as a captive portal or a proxy's error page would send.
    Malformed,
    /// 200 with a JSON body cut off in the middle (the message itself is complete).
    Truncated,
    /// Start the response, then drop the connection mid-body.
    Reset,
    /// Answer normally but without this top-level JSON field (e.g. `expires_in`).
    Omit {
        /// The field to drop.
        field: String,
    },
    /// Answer normally but with this top-level JSON field set to `value` (e.g. a
    /// `token_type` of `pop`, which RFC 7800 and Entra's PoP tokens use).
    Set {
        /// The field to set.
        field: String,
        /// Its value.
        value: serde_json::Value,
    },
}

/// A `Retry-After` value as a test writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RetryAfter {
    /// `delay-seconds`.
    Seconds(u64),
    /// Sent as written (an HTTP-date, or something malformed).
    Text(String),
}

/// A queued fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The endpoint.
    pub target: Target,
    /// The effect.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it applies to.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}
