//! Which identity provider the app talks to.
//!
//! With nothing configured the app starts `tessera-idp` inside its own process on loopback (the
//! embedded default: a newcomer signs in with a test user and no registration). With
//! `TESSERA_CLIENT_ID` (and optionally `TESSERA_AUTHORITY`, `TESSERA_GRAPH_URL`) the same
//! binary talks to Microsoft Entra ID or any OpenID Connect provider.

use std::net::IpAddr;

use tessera_idp::{IdpOptions, RunningIdp, Seed, DEFAULT_CLIENT_ID};
use url::Url;

/// The embedded provider's preferred port, so that its authority stays the same from one run
/// to the next; another free port is used when it is taken.
pub const EMBEDDED_PORT: u16 = 47100;
const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com/common";
const GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderChoice {
    /// Start `tessera-idp` in-process.
    Embedded {
        /// The redirect URI to intercept.
        redirect_uri: Url,
    },
    /// Use a provider somewhere else.
    Configured(Endpoints),
}

/// Where the app signs in and reads the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The authority (Entra `https://login.microsoftonline.com/{tenant}` or an OIDC issuer).
    pub authority: Url,
    /// The application (client) id.
    pub client_id: String,
    /// Microsoft Graph's base URL, `…/v1.0`.
    pub graph_url: Url,
    /// The redirect URI the sign-in window intercepts (Entra's native-client URI by default).
    pub redirect_uri: Url,
}

/// A configuration the app refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value that is not an absolute URL.
    #[error("{name} is not a valid URL ({value:?}): {reason}")]
    BadUrl {
        /// The variable.
        name: &'static str,
        /// What it held.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A remote provider without a client id of its own.
    #[error("TESSERA_CLIENT_ID is required with a non-local TESSERA_AUTHORITY ({0}): register an app and set its client id")]
    ClientIdRequired(String),
}

impl ProviderChoice {
    /// Reads `TESSERA_AUTHORITY`, `TESSERA_CLIENT_ID` and `TESSERA_GRAPH_URL` through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<ProviderChoice, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let authority = get("TESSERA_AUTHORITY");
        let client_id = get("TESSERA_CLIENT_ID");
        let redirect_uri = match get("TESSERA_REDIRECT_URI") {
            Some(uri) => parse_redirect_uri(&uri)?,
            None => native_client_redirect_uri(),
        };
        if authority.is_none() && client_id.is_none() {
            return Ok(ProviderChoice::Embedded { redirect_uri });
        }
        let authority = parse_url(
            "TESSERA_AUTHORITY",
            authority.as_deref().unwrap_or(ENTRA_AUTHORITY),
        )?;
        let local = is_loopback(&authority);
        let client_id = match client_id {
            Some(id) => id,
            None if local => DEFAULT_CLIENT_ID.to_owned(),
            None => return Err(ConfigError::ClientIdRequired(authority.to_string())),
        };
        let graph_url = match get("TESSERA_GRAPH_URL") {
            Some(url) => parse_url("TESSERA_GRAPH_URL", &url)?,
            // A local provider (tessera-idp) serves Graph beside itself.
            None if local => authority
                .join("/v1.0")
                .map_err(|e| bad("TESSERA_AUTHORITY", authority.as_str(), &e.to_string()))?,
            None => parse_url("TESSERA_GRAPH_URL", GRAPH_URL)?,
        };
        Ok(ProviderChoice::Configured(Endpoints {
            authority,
            client_id,
            graph_url,
            redirect_uri,
        }))
    }
}

/// The provider in use, and the embedded server when there is one.
#[derive(Debug)]
pub struct Provider {
    /// Where the app signs in.
    pub endpoints: Endpoints,
    /// The in-process `tessera-idp`, kept alive as long as the app.
    embedded: Option<RunningIdp>,
}

impl Provider {
    /// Starts the embedded provider when the choice asks for it.
    pub async fn start(choice: ProviderChoice) -> Result<Provider, String> {
        let redirect_uri = match choice {
            ProviderChoice::Configured(endpoints) => {
                return Ok(Provider {
                    endpoints,
                    embedded: None,
                })
            }
            ProviderChoice::Embedded { redirect_uri } => redirect_uri,
        };
        let options = |port| IdpOptions {
            port,
            ..IdpOptions::default()
        };
        let idp = match tessera_idp::start(options(EMBEDDED_PORT)).await {
            Ok(idp) => idp,
            // Taken (another copy of the app, say): any free port will do for this run.
            Err(tessera_idp::StartError::Bind { .. }) => tessera_idp::start(options(0))
                .await
                .map_err(|e| format!("embedded identity provider: {e}"))?,
            Err(e) => return Err(format!("embedded identity provider: {e}")),
        };
        Ok(Provider {
            endpoints: Endpoints {
                authority: idp.authority(),
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                graph_url: idp.graph_url(),
                redirect_uri,
            },
            embedded: Some(idp),
        })
    }

    /// Whether the app runs on its own test provider.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The sign-in names of the embedded provider's test users (none otherwise).
    pub fn test_users(&self) -> Vec<String> {
        if self.is_embedded() {
            Seed::default()
                .users
                .into_iter()
                .map(|u| u.username)
                .collect()
        } else {
            vec![]
        }
    }
}

fn bad(name: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadUrl {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn native_client_redirect_uri() -> Url {
    Url::parse(tessera_auth::NATIVE_CLIENT_REDIRECT_URI).expect("a constant, valid URL")
}

/// A redirect URI the sign-in window can intercept: `https`, loopback `http`, or a private-use
/// scheme (RFC 8252 §7.1, `msal{client_id}://auth`); never a scheme a page could abuse.
fn parse_redirect_uri(value: &str) -> Result<Url, ConfigError> {
    const NAME: &str = "TESSERA_REDIRECT_URI";
    let url = Url::parse(value).map_err(|e| bad(NAME, value, &e.to_string()))?;
    match url.scheme() {
        "https" | "http" => parse_url(NAME, value),
        "javascript" | "data" | "file" | "about" | "blob" | "ws" | "wss" | "ftp" => Err(bad(
            NAME,
            value,
            &format!("the {} scheme cannot be a redirect URI", url.scheme()),
        )),
        _ => Ok(url),
    }
}

/// An absolute `https` URL, or `http` on a loopback host (RFC 8252 §8.3).
fn parse_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
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

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(vars: &[(&str, &str)]) -> Result<ProviderChoice, ConfigError> {
        ProviderChoice::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn endpoints(vars: &[(&str, &str)]) -> Endpoints {
        match choose(vars) {
            Ok(ProviderChoice::Configured(e)) => e,
            other => panic!("expected a configured provider: {other:?}"),
        }
    }

    #[test]
    fn nothing_configured_means_the_embedded_provider() {
        let embedded = ProviderChoice::Embedded {
            redirect_uri: native_client_redirect_uri(),
        };
        assert_eq!(choose(&[]), Ok(embedded.clone()));
        assert_eq!(choose(&[("TESSERA_AUTHORITY", "  ")]), Ok(embedded));
    }

    #[test]
    fn a_client_id_alone_means_entra_and_graph() {
        let e = endpoints(&[("TESSERA_CLIENT_ID", "11111111-2222-3333-4444-555555555555")]);
        assert_eq!(
            e.authority.as_str(),
            "https://login.microsoftonline.com/common"
        );
        assert_eq!(e.graph_url.as_str(), "https://graph.microsoft.com/v1.0");
    }

    #[test]
    fn a_local_authority_gets_the_default_client_and_graph_beside_it() {
        let e = endpoints(&[("TESSERA_AUTHORITY", "http://127.0.0.1:8800/common")]);
        assert_eq!(e.client_id, DEFAULT_CLIENT_ID);
        assert_eq!(e.graph_url.as_str(), "http://127.0.0.1:8800/v1.0");
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let err = choose(&[
            ("TESSERA_AUTHORITY", "http://login.example.com/common"),
            ("TESSERA_CLIENT_ID", "x"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = choose(&[("TESSERA_AUTHORITY", "not a url")]).unwrap_err();
        assert!(err.to_string().contains("TESSERA_AUTHORITY"), "{err}");
        let err = choose(&[("TESSERA_AUTHORITY", "https://login.example.com/common")]).unwrap_err();
        assert!(matches!(err, ConfigError::ClientIdRequired(_)), "{err}");
        let err = choose(&[
            ("TESSERA_CLIENT_ID", "x"),
            ("TESSERA_GRAPH_URL", "ftp://graph"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
        let err = choose(&[("TESSERA_REDIRECT_URI", "javascript:alert(1)")]).unwrap_err();
        assert!(err.to_string().contains("TESSERA_REDIRECT_URI"), "{err}");
    }

    #[test]
    fn the_redirect_uri_is_entras_native_client_unless_configured() {
        let e = endpoints(&[("TESSERA_CLIENT_ID", "x")]);
        assert_eq!(
            e.redirect_uri.as_str(),
            "https://login.microsoftonline.com/common/oauth2/nativeclient"
        );
        let e = endpoints(&[
            ("TESSERA_CLIENT_ID", "x"),
            ("TESSERA_REDIRECT_URI", "msalx://auth"),
        ]);
        assert_eq!(e.redirect_uri.as_str(), "msalx://auth");
    }
}
