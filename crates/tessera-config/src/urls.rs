//! The URL rules every endpoint setting follows, with nothing else of the configuration: the
//! settings check their values with them, and the endpoints are built with them.

use std::net::IpAddr;

use url::Url;

/// A value that is not a URL the app may use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is not a valid URL ({value:?}): {reason}")]
pub struct BadUrl {
    /// The setting or variable.
    pub name: &'static str,
    /// What it held.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

fn bad(name: &'static str, value: &str, reason: &str) -> BadUrl {
    BadUrl {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A redirect URI the sign-in window can intercept: `https`, loopback `http`, or a private-use
/// scheme (RFC 8252 §7.1, `msal{client_id}://auth`); never a scheme a page could abuse.
pub(crate) fn parse_redirect_uri(name: &'static str, value: &str) -> Result<Url, BadUrl> {
    let url = Url::parse(value).map_err(|e| bad(name, value, &e.to_string()))?;
    match url.scheme() {
        "https" | "http" => parse_url(name, value),
        "javascript" | "data" | "file" | "about" | "blob" | "ws" | "wss" | "ftp" => Err(bad(
            name,
            value,
            &format!("the {} scheme cannot be a redirect URI", url.scheme()),
        )),
        _ => Ok(url),
    }
}

/// An absolute `https` URL, or `http` on a loopback host (RFC 8252 §8.3).
pub(crate) fn parse_url(name: &'static str, value: &str) -> Result<Url, BadUrl> {
    let url = Url::parse(value).map_err(|e| bad(name, value, &e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(bad(
            name,
            value,
            "plain http is allowed for loopback hosts only",
        )),
        other => Err(bad(
            name,
            value,
            &format!("the scheme must be https, not {other}"),
        )),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
