//! Authorities and their metadata: which provider, where its endpoints are, which issuer its
//! tokens carry (OpenID Connect Discovery 1.0; Entra's v2.0 metadata).
//!
//! Whether an authority is Microsoft's is decided here, once: a host of one of Microsoft's
//! clouds, `*.b2clogin.com` or `*.ciamlogin.com` (MSAL's known authorities), or whatever an
//! `authorityType` setting declares; on loopback hosts (the emulator) a tenant-like path
//! decides. Everything else is a plain OpenID Connect provider, whatever its path looks like.
//! Client capabilities, the profile's source, default scopes, the redirect URI and the issuer
//! rules all follow from [`Authority::is_microsoft`].
//!
//! Entra's `common` and `organizations` metadata carries the literal issuer
//! `https://login.microsoftonline.com/{tenantid}/v2.0`; an ID token is checked against it with
//! its own `tid` substituted (the trap of openidconnect-rs #216).

mod cloud;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::Url;

pub use cloud::{canonical_environment, cloud_of, Cloud, CLOUDS};
use cloud::{has_suffix, B2C_SUFFIXES, CIAM_SUFFIX};

use crate::error::{Error, Result};

/// What kind of provider an authority is, as a setting can declare it (MSAL's
/// `authorityType` / known authorities): for a Microsoft authority on a custom domain, or a
/// provider that MSAL's host rules would misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorityType {
    /// Microsoft Entra ID (workforce), any cloud: `https://{host}/{tenant}`.
    Entra,
    /// Azure AD B2C: `https://{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}`.
    B2c,
    /// Microsoft Entra External ID: `https://{tenant}.ciamlogin.com/[{tenant}]`.
    Ciam,
    /// Any OpenID Connect provider: the authority is the issuer.
    Oidc,
}

impl std::str::FromStr for AuthorityType {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "entra" => Ok(AuthorityType::Entra),
            "b2c" => Ok(AuthorityType::B2c),
            "ciam" => Ok(AuthorityType::Ciam),
            "oidc" => Ok(AuthorityType::Oidc),
            other => Err(format!(
                "{other:?} is not an authority type (entra, b2c, ciam or oidc)"
            )),
        }
    }
}

/// What kind of provider an authority is, with what its path says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityKind {
    /// Entra ID v2.0: metadata at `{authority}/v2.0/.well-known/openid-configuration`,
    /// `client_info`, AADSTS codes.
    Entra {
        /// `common`, `organizations`, `consumers`, a tenant id or a domain.
        tenant: String,
    },
    /// Azure AD B2C: a user flow (policy) of a B2C tenant.
    B2c {
        /// The tenant (`contoso.onmicrosoft.com` or its id).
        tenant: String,
        /// The user flow or custom policy (`B2C_1_signupsignin`).
        policy: String,
    },
    /// Entra External ID (CIAM).
    Ciam {
        /// The tenant (`contoso.onmicrosoft.com` or its id).
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
    /// Parses an authority, deciding its kind from its host (see the module documentation).
    /// It must be `https`, except on loopback hosts (RFC 8252 §8.3).
    pub fn parse(authority: &str) -> Result<Authority> {
        Self::parse_as(authority, None)
    }

    /// Parses an authority whose kind a setting may declare (`None`: from its host).
    pub fn parse_as(authority: &str, declared: Option<AuthorityType>) -> Result<Authority> {
        let bad = |why: String| Error::Configuration(format!("authority {authority:?}: {why}"));
        let mut url = Url::parse(authority.trim()).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
            return Err(bad(
                "it must use https (plain http is allowed for loopback hosts only)".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or fragment".into()));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let declared_or_known = declared.or_else(|| {
            if cloud_of(&host).is_some() {
                Some(AuthorityType::Entra)
            } else if B2C_SUFFIXES.iter().any(|s| has_suffix(&host, s)) {
                Some(AuthorityType::B2c)
            } else if has_suffix(&host, CIAM_SUFFIX) {
                Some(AuthorityType::Ciam)
            } else {
                None
            }
        });
        let authority_type = match declared_or_known {
            Some(t) => t,
            // The emulator on loopback plays Entra at tenant paths and OIDC at the root.
            None if is_loopback(&url) => match segments.as_slice() {
                [tenant] if tenant_like(tenant) => AuthorityType::Entra,
                [_, policy] if policy.to_ascii_lowercase().starts_with("b2c_") => {
                    AuthorityType::B2c
                }
                _ => AuthorityType::Oidc,
            },
            None => AuthorityType::Oidc,
        };
        let kind = match authority_type {
            AuthorityType::Entra => match segments.as_slice() {
                [tenant] => AuthorityKind::Entra {
                    tenant: tenant.clone(),
                },
                _ => {
                    return Err(bad(format!(
                        "an Entra ID authority is https://{host}/{{tenant}} (common, organizations, a tenant id or domain)"
                    )))
                }
            },
            AuthorityType::B2c => {
                // MSAL also accepts the older `/tfp/{tenant}/{policy}` form.
                if segments.first().is_some_and(|s| s.eq_ignore_ascii_case("tfp")) {
                    segments.remove(0);
                }
                match segments.as_slice() {
                    [tenant, policy] => AuthorityKind::B2c {
                        tenant: tenant.clone(),
                        policy: policy.clone(),
                    },
                    _ => {
                        return Err(bad(format!(
                            "an Azure AD B2C authority is https://{host}/{{tenant}}.onmicrosoft.com/{{policy}}"
                        )))
                    }
                }
            }
            AuthorityType::Ciam => match segments.as_slice() {
                // MSAL's `transformCIAMAuthority`: a host-only External ID authority means the
                // tenant named by its first label.
                [] => {
                    let tenant = format!(
                        "{}.onmicrosoft.com",
                        host.split('.').next().unwrap_or_default()
                    );
                    url.set_path(&tenant);
                    AuthorityKind::Ciam { tenant }
                }
                [tenant] => AuthorityKind::Ciam {
                    tenant: tenant.clone(),
                },
                _ => {
                    return Err(bad(format!(
                        "an External ID authority is https://{host}/ or https://{host}/{{tenant}}"
                    )))
                }
            },
            AuthorityType::Oidc => AuthorityKind::Oidc,
        };
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Authority { url, kind })
    }

    /// The authority URL, without a trailing slash.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// What kind of provider it is.
    pub fn kind(&self) -> &AuthorityKind {
        &self.kind
    }

    /// Whether it is one of Microsoft's (Entra ID, B2C, External ID): `client_info`, client
    /// capabilities, AADSTS codes, Microsoft Graph.
    pub fn is_microsoft(&self) -> bool {
        !matches!(self.kind, AuthorityKind::Oidc)
    }

    /// Whether it is Entra ID (workforce), whose tokens call Microsoft Graph.
    pub fn is_entra(&self) -> bool {
        matches!(self.kind, AuthorityKind::Entra { .. })
    }

    /// The tenant in the path, for Microsoft authorities.
    pub fn tenant(&self) -> Option<&str> {
        match &self.kind {
            AuthorityKind::Entra { tenant }
            | AuthorityKind::B2c { tenant, .. }
            | AuthorityKind::Ciam { tenant } => Some(tenant),
            AuthorityKind::Oidc => None,
        }
    }

    /// The same Entra authority for another tenant (a guest account's resource tenant); the
    /// authority itself for other kinds.
    pub fn for_tenant(&self, tenant: &str) -> Authority {
        match &self.kind {
            AuthorityKind::Entra { .. } => {
                let mut url = self.url.clone();
                url.set_path(tenant);
                Authority {
                    url,
                    kind: AuthorityKind::Entra {
                        tenant: tenant.to_owned(),
                    },
                }
            }
            _ => self.clone(),
        }
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.url)
    }

    /// `host[:port]`: MSAL's "environment", part of every cache key. The aliases of one
    /// Microsoft cloud are one environment.
    pub fn environment(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => canonical_environment(host).into_owned(),
        }
    }

    /// The cloud of an Entra authority.
    pub fn cloud(&self) -> Option<&'static Cloud> {
        cloud_of(self.url.host_str().unwrap_or_default())
    }

    /// Where the metadata is: Microsoft's under `v2.0`, the others where OpenID Connect
    /// Discovery §4 puts it.
    pub fn discovery_url(&self) -> String {
        let base = self.url.as_str().trim_end_matches('/');
        match self.kind {
            AuthorityKind::Oidc => format!("{base}/.well-known/openid-configuration"),
            _ => format!("{base}/v2.0/.well-known/openid-configuration"),
        }
    }

    /// Microsoft Graph's `v1.0` base for this authority: the discovery document's
    /// `msgraph_host`, else the cloud's; none for B2C (its tokens are for the tenant's own
    /// APIs) and other providers.
    pub fn graph_url(&self, metadata: &Metadata) -> Option<Url> {
        let host = match &self.kind {
            AuthorityKind::Entra { .. } | AuthorityKind::Ciam { .. } => metadata
                .msgraph_host
                .clone()
                .or_else(|| self.cloud().map(|c| c.graph_host.to_owned()))
                .unwrap_or_else(|| "graph.microsoft.com".to_owned()),
            AuthorityKind::B2c { .. } | AuthorityKind::Oidc => return None,
        };
        // The emulator on loopback serves Graph beside itself, over whatever it speaks.
        let scheme = if self.is_loopback() {
            self.url.scheme()
        } else {
            "https"
        };
        Url::parse(&format!("{scheme}://{}/v1.0", host.trim_end_matches('/'))).ok()
    }
}

/// `common`, `organizations`, `consumers`, a GUID or a domain: what Entra's tenant segment
/// looks like (used on loopback hosts only, where the host says nothing).
fn tenant_like(segment: &str) -> bool {
    ["common", "organizations", "consumers"].contains(&segment.to_ascii_lowercase().as_str())
        || segment.contains('.')
        || is_guid(segment)
}

/// Whether `s` has a GUID's 8-4-4-4-12 hexadecimal form (a tenant id).
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The version of [`Metadata`]'s shape; metadata cached by a build that read fewer members is
/// fetched again rather than trusted for its full age.
pub const METADATA_FORMAT: u32 = 2;

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
    /// `end_session_endpoint` (RP-Initiated Logout 1.0), for a full sign-out.
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// `device_authorization_endpoint` (RFC 8628), when the provider offers the device flow.
    #[serde(default)]
    pub device_authorization_endpoint: Option<Url>,
    /// `userinfo_endpoint` (OpenID Connect Core §5.3): the profile of other providers.
    #[serde(default)]
    pub userinfo_endpoint: Option<Url>,
    /// RFC 9207: the provider adds `iss` to authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Discovery §3: whether the `claims` request parameter is supported (default false).
    #[serde(default)]
    pub claims_parameter_supported: bool,
    /// Discovery §3: the ID token's signing algorithms; RS256 when absent, which it must
    /// include.
    #[serde(default = "default_signing_algorithms")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Entra's `msgraph_host`: where this cloud's Microsoft Graph is.
    #[serde(default)]
    pub msgraph_host: Option<String>,
}

fn default_signing_algorithms() -> Vec<String> {
    vec!["RS256".to_owned()]
}

impl Metadata {
    /// The issuer expected in a token from tenant `tid` (Entra's template substituted).
    pub fn issuer_for(&self, tid: Option<&str>) -> String {
        match tid {
            Some(tid) => self.issuer.replace("{tenantid}", tid),
            None => self.issuer.clone(),
        }
    }

    /// Checks what discovery returned: every endpoint must be https (or loopback), a loopback
    /// authority's endpoints must be on its own origin, and the issuer must be one the
    /// authority's kind allows: for OpenID Connect the authority itself (Discovery §4.3), for
    /// Microsoft's a host of the same kind (Entra: the same cloud; B2C: the same host, with the
    /// tenant id in the path; External ID: a `ciamlogin.com` host named after the tenant id).
    pub(crate) fn validate(&self, authority: &Authority) -> Result<()> {
        for endpoint in [
            Some(&self.authorization_endpoint),
            Some(&self.token_endpoint),
            Some(&self.jwks_uri),
            self.device_authorization_endpoint.as_ref(),
            self.end_session_endpoint.as_ref(),
            self.userinfo_endpoint.as_ref(),
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
            if authority.is_loopback() && endpoint.origin() != authority.url.origin() {
                return Err(Error::InvalidResponse(format!(
                    "metadata endpoint {endpoint} is not on the loopback authority's own origin"
                )));
            }
        }
        let issuer_host = Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let authority_host = authority
            .url
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let issuer_ok = match &authority.kind {
            AuthorityKind::Oidc => {
                self.issuer.trim_end_matches('/') == authority.url.as_str().trim_end_matches('/')
            }
            _ if authority.is_loopback() => issuer_host == authority_host,
            AuthorityKind::Entra { .. } => {
                authority
                    .cloud()
                    .is_some_and(|cloud| cloud.hosts.contains(&issuer_host.as_str()))
                    || issuer_host == authority_host
            }
            AuthorityKind::B2c { .. } => issuer_host == authority_host,
            AuthorityKind::Ciam { .. } => has_suffix(&issuer_host, CIAM_SUFFIX),
        };
        if !issuer_ok
            || !self.issuer.starts_with(if authority.is_loopback() {
                "http"
            } else {
                "https://"
            })
        {
            return Err(Error::InvalidResponse(format!(
                "the provider's issuer {} does not belong to the configured authority {}",
                self.issuer, authority.url
            )));
        }
        Ok(())
    }
}

/// A public key from the provider's JWKS (RFC 7517).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwk {
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Key type: `RSA`, `EC` or `OKP`.
    #[serde(default)]
    pub kty: String,
    /// `sig` for a signing key (absent: any use).
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    /// The algorithm the key is for, when the provider says.
    #[serde(default)]
    pub alg: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(default)]
    pub e: Option<String>,
    /// Curve of an `EC` or `OKP` key (`P-256`, `P-384`, `Ed25519`).
    #[serde(default)]
    pub crv: Option<String>,
    /// Public point x (EC) or the public key (OKP), base64url.
    #[serde(default)]
    pub x: Option<String>,
    /// Public point y (EC), base64url.
    #[serde(default)]
    pub y: Option<String>,
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
mod tests;
