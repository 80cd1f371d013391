//! Which identity provider to talk to, from the resolved settings: the embedded test provider
//! when neither an authority nor a client id is set, else the configured one. What kind of
//! provider it is (Microsoft's or another OpenID Connect provider) is the engine's decision
//! ([`tessera_auth::authority::Authority`]); the defaults that follow from it (the redirect
//! URI, Graph) are made here.

use tessera_auth::authority::{Authority, AuthorityType};
use url::Url;

use crate::settings::Settings;
pub use crate::urls::BadUrl;
pub(crate) use crate::urls::{is_loopback, parse_redirect_uri, parse_url};

/// Microsoft Entra ID's multi-tenant authority, used when only a client id is set.
pub const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com/common";
/// Microsoft Graph v1.0.
pub const GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Entra's redirect URI for desktop apps' embedded sign-in windows.
pub const NATIVE_CLIENT_REDIRECT_URI: &str =
    "https://login.microsoftonline.com/common/oauth2/nativeclient";
/// The embedded window's redirect URI for providers that are not Microsoft's: a private-use
/// scheme named after the app's identifier (RFC 8252 §7.1: reverse DNS, one slash), which
/// any provider lets a native client register and which no web page can answer.
pub const PRIVATE_USE_REDIRECT_URI: &str = "dev.tessera.desktop:/oauth2redirect";
/// The embedded provider's client id (tessera-idp's default app registration).
pub const EMBEDDED_CLIENT_ID: &str = "3b2c9d1e-5a7f-4e60-8c1b-2d4f6a8e0c15";

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
// One value per process, moved once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Its kind, when a setting declares it.
    pub authority_type: Option<AuthorityType>,
    /// The application (client) id.
    pub client_id: String,
    /// Microsoft Graph's base URL, `…/v1.0`, when set; else the provider's cloud's.
    pub graph_url: Option<Url>,
    /// The redirect URI the sign-in window intercepts.
    pub redirect_uri: Url,
}

impl Endpoints {
    /// The authority, parsed as the engine parses it.
    pub fn parsed_authority(&self) -> Result<Authority, ConfigError> {
        Authority::parse_as(self.authority.as_str(), self.authority_type)
            .map_err(|e| bad("authority", self.authority.as_str(), &e.to_string()))
    }
}

/// A configuration the app refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that is not an absolute URL.
    #[error(transparent)]
    BadUrl(#[from] BadUrl),
    /// A remote provider without a client id of its own.
    #[error("a client id is required with a non-local authority ({0}): register an app and set its client id (TESSERA_CLIENT_ID or the clientId setting)")]
    ClientIdRequired(String),
    /// An environment variable holds a value the setting it overrides refuses.
    #[error("{name} is invalid ({value:?}): {reason}")]
    Environment {
        /// The variable.
        name: &'static str,
        /// What it held.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The policy file is unusable.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
}

impl ProviderChoice {
    /// The provider the settings name.
    pub fn from_settings(settings: &Settings) -> Result<ProviderChoice, ConfigError> {
        let set_redirect = settings
            .redirect_uri
            .as_deref()
            .map(|uri| parse_redirect_uri("redirectUri", uri))
            .transpose()?;
        let (authority, client_id) = (&settings.authority, &settings.client_id);
        if authority.is_none() && client_id.is_none() {
            return Ok(ProviderChoice::Embedded {
                redirect_uri: set_redirect.unwrap_or_else(native_client_redirect_uri),
            });
        }
        let authority = parse_url("authority", authority.as_deref().unwrap_or(ENTRA_AUTHORITY))?;
        let authority_type = settings
            .authority_type
            .as_deref()
            .map(|t| {
                t.parse::<AuthorityType>()
                    .map_err(|reason| bad("authorityType", t, &reason))
            })
            .transpose()?;
        let parsed = Authority::parse_as(authority.as_str(), authority_type)
            .map_err(|e| bad("authority", authority.as_str(), &e.to_string()))?;
        let local = is_loopback(&authority);
        let client_id = match client_id {
            Some(id) => id.clone(),
            None if local => EMBEDDED_CLIENT_ID.to_owned(),
            None => return Err(ConfigError::ClientIdRequired(authority.to_string())),
        };
        let graph_url = settings
            .graph_url
            .as_deref()
            .map(|url| parse_url("graphUrl", url))
            .transpose()?;
        let redirect_uri = match set_redirect {
            Some(uri) => uri,
            None if parsed.is_microsoft() => native_client_redirect_uri(),
            None => Url::parse(PRIVATE_USE_REDIRECT_URI).expect("a constant, valid URL"),
        };
        Ok(ProviderChoice::Configured(Endpoints {
            // The engine's form: a host-only External ID authority names its tenant.
            authority: parsed.url().clone(),
            authority_type,
            client_id,
            graph_url,
            redirect_uri,
        }))
    }
}

fn bad(name: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadUrl(BadUrl {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    })
}

fn native_client_redirect_uri() -> Url {
    Url::parse(NATIVE_CLIENT_REDIRECT_URI).expect("a constant, valid URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(
        settings: &[(&str, &str)],
        vars: &[(&str, &str)],
    ) -> Result<ProviderChoice, ConfigError> {
        let mut s = Settings::default();
        for (name, value) in settings {
            s.set_field(name, &serde_json::json!(value))
                .map_err(|reason| bad("setting", value, &reason))?;
        }
        for (name, value) in vars {
            s.set_field(name, &serde_json::json!(value))
                .map_err(|reason| bad("setting", value, &reason))?;
        }
        ProviderChoice::from_settings(&s)
    }

    fn endpoints(settings: &[(&str, &str)], vars: &[(&str, &str)]) -> Endpoints {
        match choose(settings, vars) {
            Ok(ProviderChoice::Configured(e)) => e,
            other => panic!("expected a configured provider: {other:?}"),
        }
    }

    #[test]
    fn nothing_configured_means_the_embedded_provider() {
        let embedded = ProviderChoice::Embedded {
            redirect_uri: native_client_redirect_uri(),
        };
        assert_eq!(choose(&[], &[]).unwrap(), embedded.clone());
        assert_eq!(choose(&[("authority", "  ")], &[]).unwrap(), embedded);
    }

    #[test]
    fn a_client_id_alone_means_entra_and_graph() {
        let e = endpoints(&[("clientId", "11111111-2222-3333-4444-555555555555")], &[]);
        assert_eq!(
            e.authority.as_str(),
            "https://login.microsoftonline.com/common"
        );
        assert_eq!(e.graph_url, None, "Graph of the authority's cloud");
    }

    #[test]
    fn a_local_authority_gets_the_default_client_and_graph_beside_it() {
        let e = endpoints(&[("authority", "http://127.0.0.1:8800/common")], &[]);
        assert_eq!(e.client_id, EMBEDDED_CLIENT_ID);
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let err = choose(&[("authority", "https://login.example.com/common")], &[]).unwrap_err();
        assert!(matches!(err, ConfigError::ClientIdRequired(_)), "{err}");
        let err = choose(&[("clientId", "x")], &[("graphUrl", "ftp://graph")]).unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
        let err = choose(&[], &[("redirectUri", "javascript:alert(1)")]).unwrap_err();
        assert!(err.to_string().contains("javascript"), "{err}");
        let err = parse_url("authority", "http://login.example.com/common").unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[test]
    fn the_redirect_uri_is_entras_native_client_unless_configured() {
        let e = endpoints(&[("clientId", "x")], &[]);
        assert_eq!(
            e.redirect_uri.as_str(),
            "https://login.microsoftonline.com/common/oauth2/nativeclient"
        );
        let e = endpoints(&[("clientId", "x")], &[("redirectUri", "msalx://auth")]);
        assert_eq!(e.redirect_uri.as_str(), "msalx://auth");
        // Issue 19: Microsoft's native-client URI was the embedded window's redirect for every
        // provider, and no other provider lets a client register it.
        let e = endpoints(
            &[
                ("clientId", "x"),
                ("authority", "https://accounts.example.com"),
            ],
            &[],
        );
        assert_eq!(e.redirect_uri.as_str(), PRIVATE_USE_REDIRECT_URI);
        let e = endpoints(
            &[
                ("clientId", "x"),
                ("authority", "https://login.contoso.com/contoso.com"),
            ],
            &[("authorityType", "entra")],
        );
        assert_eq!(
            e.redirect_uri.as_str(),
            NATIVE_CLIENT_REDIRECT_URI,
            "declared Entra"
        );
        let e = endpoints(
            &[
                ("clientId", "x"),
                ("authority", "https://contoso.ciamlogin.com/"),
            ],
            &[],
        );
        assert_eq!(
            e.authority.as_str(),
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
        );
    }
}
