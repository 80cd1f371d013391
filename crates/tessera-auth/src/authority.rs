//! Authorities and their metadata: which provider, where its endpoints are, which issuer its
//! tokens carry (OpenID Connect Discovery 1.0; Entra's v2.0 metadata).
//!
//! Entra's `common` and `organizations` metadata carries the literal issuer
//! `https://login.microsoftonline.com/{tenantid}/v2.0`; an ID token is checked against it with
//! its own `tid` substituted (the trap of openidconnect-rs #216).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// Hosts of Entra ID's clouds: their authorities are `https://{host}/{tenant}`.
const ENTRA_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// What kind of provider an authority is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityKind {
    /// Entra ID v2.0: metadata at `{authority}/v2.0/.well-known/openid-configuration`,
    /// `client_info`, AADSTS codes.
    Entra {
        /// `common`, `organizations`, `consumers`, a tenant id or a domain.
        tenant: String,
    },
    /// Any OpenID Connect provider: the authority is the issuer.
    Oidc,
}

/// A validated authority URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    url: Url,
    kind: AuthorityKind,
}

impl Authority {
    /// Parses an authority. It must be `https`, except on loopback hosts (RFC 8252 §8.3). An
    /// Entra cloud host, or any host with a single tenant-like path segment (`common`,
    /// `organizations`, `consumers`, a GUID, a domain), is Entra-shaped; anything else is an
    /// OpenID Connect issuer.
    pub fn parse(authority: &str) -> Result<Authority> {
        let url = Url::parse(authority.trim())
            .map_err(|e| Error::Configuration(format!("authority {authority:?}: {e}")))?;
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
            return Err(Error::Configuration(format!(
                "authority {authority:?} must use https (plain http is allowed for loopback hosts only)"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Configuration(format!(
                "authority {authority:?} must not have a query or fragment"
            )));
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let tenant_like = |s: &str| {
            ["common", "organizations", "consumers"].contains(&s.to_ascii_lowercase().as_str())
                || s.contains('.')
                || (s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        };
        let kind = match segments.as_slice() {
            [tenant] if ENTRA_HOSTS.contains(&host.as_str()) || tenant_like(tenant) => {
                AuthorityKind::Entra {
                    tenant: (*tenant).to_owned(),
                }
            }
            _ if ENTRA_HOSTS.contains(&host.as_str()) => {
                return Err(Error::Configuration(format!(
                    "Entra authority {authority:?} must be https://{host}/{{tenant}}"
                )))
            }
            _ => AuthorityKind::Oidc,
        };
        let mut url = url;
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Authority { url, kind })
    }

    /// The authority URL, without a trailing slash.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Entra-shaped or plain OIDC.
    pub fn kind(&self) -> &AuthorityKind {
        &self.kind
    }

    /// Whether this is Entra-shaped (sends `client_info=1`, keys accounts by `uid.utid`).
    pub fn is_entra(&self) -> bool {
        matches!(self.kind, AuthorityKind::Entra { .. })
    }

    /// `host[:port]`: MSAL's "environment", part of every cache key.
    pub fn environment(&self) -> String {
        match self.url.port() {
            Some(port) => format!("{}:{port}", self.url.host_str().unwrap_or_default()),
            None => self.url.host_str().unwrap_or_default().to_owned(),
        }
    }

    /// Where the metadata is.
    pub fn discovery_url(&self) -> String {
        let base = self.url.as_str().trim_end_matches('/');
        match self.kind {
            AuthorityKind::Entra { .. } => format!("{base}/v2.0/.well-known/openid-configuration"),
            AuthorityKind::Oidc => format!("{base}/.well-known/openid-configuration"),
        }
    }
}

/// The parts of a provider's metadata the engine uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `issuer`; Entra's multi-tenant ones contain `{tenantid}`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Url,
    /// `token_endpoint`.
    pub token_endpoint: Url,
    /// `jwks_uri`.
    pub jwks_uri: Url,
    /// `end_session_endpoint`, for a full sign-out.
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// `device_authorization_endpoint` (RFC 8628), when the provider offers the device flow.
    #[serde(default)]
    pub device_authorization_endpoint: Option<Url>,
    /// RFC 9207: the provider adds `iss` to authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl Metadata {
    /// The issuer expected in a token from tenant `tid` (Entra's template substituted).
    pub fn issuer_for(&self, tid: Option<&str>) -> String {
        match tid {
            Some(tid) => self.issuer.replace("{tenantid}", tid),
            None => self.issuer.clone(),
        }
    }

    /// Checks what discovery returned: endpoints must be https (or loopback), and a plain OIDC
    /// issuer must be the authority itself (OpenID Connect Discovery §4.3).
    pub(crate) fn validate(&self, authority: &Authority) -> Result<()> {
        for endpoint in [
            Some(&self.authorization_endpoint),
            Some(&self.token_endpoint),
            Some(&self.jwks_uri),
            self.device_authorization_endpoint.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if endpoint.scheme() != "https"
                && !(endpoint.scheme() == "http" && is_loopback(endpoint))
            {
                return Err(Error::InvalidResponse(format!(
                    "metadata endpoint {endpoint} is not https"
                )));
            }
        }
        if authority.kind == AuthorityKind::Oidc
            && self.issuer.trim_end_matches('/') != authority.url.as_str().trim_end_matches('/')
        {
            return Err(Error::InvalidResponse(format!(
                "the provider's issuer {} is not the configured authority {}",
                self.issuer, authority.url
            )));
        }
        Ok(())
    }
}

/// A public key from the provider's JWKS.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Key type; only `RSA` is used.
    pub kty: String,
    /// RSA modulus, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(default)]
    pub e: Option<String>,
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Whether a URL's host is a loopback address or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_and_oidc_authorities_are_told_apart() {
        let entra = Authority::parse("https://login.microsoftonline.com/organizations/").unwrap();
        assert_eq!(
            entra.kind(),
            &AuthorityKind::Entra {
                tenant: "organizations".into()
            }
        );
        assert_eq!(
            entra.discovery_url(),
            "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(entra.environment(), "login.microsoftonline.com");

        let local = Authority::parse("http://127.0.0.1:47100/common").unwrap();
        assert!(
            local.is_entra(),
            "a tenant-like path on loopback is Entra-shaped (tessera-idp)"
        );
        assert_eq!(local.environment(), "127.0.0.1:47100");

        let oidc = Authority::parse("https://accounts.example.com").unwrap();
        assert_eq!(oidc.kind(), &AuthorityKind::Oidc);
        assert_eq!(
            oidc.discovery_url(),
            "https://accounts.example.com/.well-known/openid-configuration"
        );
        let realm = Authority::parse("https://sso.example.com/realms/staff").unwrap();
        assert_eq!(realm.kind(), &AuthorityKind::Oidc);
    }

    #[test]
    fn insecure_or_malformed_authorities_are_refused() {
        for bad in [
            "http://login.example.com/common",
            "ftp://x/common",
            "not a url",
            "https://login.microsoftonline.com/",
            "https://x.example/common?x=1",
        ] {
            assert!(
                matches!(Authority::parse(bad), Err(Error::Configuration(_))),
                "{bad}"
            );
        }
        assert!(Authority::parse("http://localhost:8080/").is_ok());
        assert!(Authority::parse("http://[::1]:8080/").is_ok());
    }

    #[test]
    fn the_tenantid_template_is_substituted() {
        let m: Metadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "authorization_endpoint": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
        }))
        .unwrap();
        assert_eq!(
            m.issuer_for(Some("72f988bf-86f1-41af-91ab-2d7cd011db47")),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
        assert!(m
            .validate(&Authority::parse("https://login.microsoftonline.com/common").unwrap())
            .is_ok());
        let oidc = Authority::parse("https://accounts.example.com").unwrap();
        assert!(
            m.validate(&oidc).is_err(),
            "an OIDC issuer must be the authority itself"
        );
    }
}
