//! Scope strings as Entra reads them: OpenID Connect scopes, bare Microsoft Graph permissions
//! (`User.Read`), and permissions of other APIs prefixed by their URI
//! (`api://tessera-demo/access_as_user`, `https://graph.microsoft.com/.default`).
//!
//! <https://learn.microsoft.com/entra/identity-platform/scopes-oidc>

use std::collections::BTreeSet;

use crate::seed::{Client, Seed};

/// Microsoft Graph's resource URI.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's application id: the `aud` of Graph access tokens.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The OpenID Connect scopes; their pseudo-resource is the empty string.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Delegated Graph permissions the emulator knows, with the consent page's wording.
const GRAPH_PERMISSIONS: &[(&str, &str)] = &[
    ("User.Read", "Sign you in and read your profile"),
    ("User.ReadBasic.All", "Read the basic profiles of all users"),
    ("Mail.Read", "Read your mail"),
    ("Calendars.Read", "Read your calendars"),
    ("Files.Read", "Read your files"),
];

/// One permission: a resource and a scope name in its registered spelling.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Permission {
    /// Resource URI, or `""` for the OpenID Connect scopes.
    pub resource: String,
    /// Scope name as the resource registered it.
    pub name: String,
}

impl Permission {
    fn oidc(name: &str) -> Self {
        Permission {
            resource: String::new(),
            name: name.into(),
        }
    }

    /// How Entra writes it in a token response's `scope`: Graph and OIDC scopes bare, other
    /// APIs with their URI.
    pub fn display(&self) -> String {
        if self.resource.is_empty() || self.resource == GRAPH_RESOURCE {
            self.name.clone()
        } else {
            format!("{}/{}", self.resource, self.name)
        }
    }

    /// The consent page's line for it.
    pub fn description(&self) -> String {
        match (self.resource.as_str(), self.name.as_str()) {
            ("", "openid") => "Sign you in".into(),
            ("", "profile") => "View your basic profile".into(),
            ("", "email") => "View your email address".into(),
            ("", "offline_access") => "Maintain access to data you have given it access to".into(),
            (GRAPH_RESOURCE, name) => GRAPH_PERMISSIONS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, d)| (*d).to_string())
                .unwrap_or_else(|| name.to_string()),
            (resource, name) => format!("Access {resource} as you ({name})"),
        }
    }

    /// Whether this is one of the OpenID Connect scopes.
    pub fn is_oidc(&self) -> bool {
        self.resource.is_empty()
    }
}

/// Why a scope string was refused, with Entra's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The parameter is missing or blank.
    #[error("AADSTS900144: The request body must contain the following parameter: 'scope'.")]
    Missing,
    /// A resource URI the directory does not know.
    #[error("AADSTS500011: The resource principal named {0} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")]
    UnknownResource(String),
    /// A scope the resource does not expose.
    #[error("AADSTS650053: The application asked for scope '{scope}' that doesn't exist on the resource '{resource}'.")]
    UnknownScope {
        /// The scope as requested.
        scope: String,
        /// The resource it was resolved to.
        resource: String,
    },
    /// Scopes of two APIs in one token request.
    #[error("AADSTS28000: Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {0} is not valid.")]
    MultipleResources(String),
}

/// A parsed `scope` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    /// Every permission asked for, `/.default` already expanded.
    pub permissions: BTreeSet<Permission>,
}

impl Scopes {
    /// Parses a space-separated scope string against the directory's APIs and the client's
    /// static permissions (for `/.default`). Matching is case-insensitive, as Entra's.
    pub fn parse(scope: &str, seed: &Seed, client: &Client) -> Result<Scopes, ScopeError> {
        let mut permissions = BTreeSet::new();
        for item in scope.split_whitespace() {
            if let Some(oidc) = OIDC_SCOPES.iter().find(|s| s.eq_ignore_ascii_case(item)) {
                permissions.insert(Permission::oidc(oidc));
                continue;
            }
            let (resource, name) = resolve(item, seed)?;
            if name == ".default" {
                for static_scope in &client.api_permissions {
                    let (r, n) = resolve(static_scope, seed)?;
                    if r == resource {
                        permissions.insert(Permission {
                            resource: r,
                            name: n,
                        });
                    }
                }
                continue;
            }
            permissions.insert(Permission { resource, name });
        }
        if permissions.is_empty() {
            return Err(ScopeError::Missing);
        }
        Ok(Scopes { permissions })
    }

    /// The APIs (not OIDC) these scopes are for.
    pub fn resources(&self) -> BTreeSet<&str> {
        self.permissions
            .iter()
            .filter(|p| !p.is_oidc())
            .map(|p| p.resource.as_str())
            .collect()
    }

    /// The one API a token request is for (Graph when only OIDC scopes were asked), or
    /// `MultipleResources`.
    pub fn single_resource(&self) -> Result<String, ScopeError> {
        let resources = self.resources();
        let mut iter = resources.iter();
        match (iter.next(), iter.next()) {
            (None, _) => Ok(GRAPH_RESOURCE.into()),
            (Some(one), None) => Ok((*one).to_string()),
            (Some(_), Some(second)) => Err(ScopeError::MultipleResources(second.to_string())),
        }
    }
}

/// Splits one scope into (resource URI, registered scope name).
fn resolve(item: &str, seed: &Seed) -> Result<(String, String), ScopeError> {
    let lower = item.to_ascii_lowercase();
    // Graph, by URI or by application id, or bare.
    for prefix in [GRAPH_RESOURCE, GRAPH_APP_ID] {
        if let Some(rest) = lower.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            return graph_scope(&item[item.len() - rest.len()..]);
        }
    }
    for api in &seed.apis {
        let uri = api.identifier_uri.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix(&uri).and_then(|r| r.strip_prefix('/')) {
            if rest == ".default" {
                return Ok((api.identifier_uri.clone(), ".default".into()));
            }
            return api
                .scopes
                .iter()
                .find(|s| s.eq_ignore_ascii_case(rest))
                .map(|s| (api.identifier_uri.clone(), s.clone()))
                .ok_or_else(|| ScopeError::UnknownScope {
                    scope: item.into(),
                    resource: api.identifier_uri.clone(),
                });
        }
    }
    if item.contains("://") {
        let resource = item.rsplit_once('/').map(|(r, _)| r).unwrap_or(item);
        return Err(ScopeError::UnknownResource(resource.into()));
    }
    graph_scope(item)
}

fn graph_scope(name: &str) -> Result<(String, String), ScopeError> {
    if name == ".default" {
        return Ok((GRAPH_RESOURCE.into(), ".default".into()));
    }
    GRAPH_PERMISSIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, _)| (GRAPH_RESOURCE.to_string(), (*n).to_string()))
        .ok_or_else(|| ScopeError::UnknownScope {
            scope: name.into(),
            resource: GRAPH_RESOURCE.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Scopes, ScopeError> {
        let seed = Seed::default();
        Scopes::parse(s, &seed, &seed.clients[0])
    }

    fn shown(s: &Scopes) -> Vec<String> {
        s.permissions.iter().map(Permission::display).collect()
    }

    #[test]
    fn bare_and_prefixed_graph_scopes_are_the_same_permission() {
        let a = parse("openid user.read").unwrap();
        let b = parse("OpenID https://graph.microsoft.com/User.Read").unwrap();
        assert_eq!(a, b, "case and the Graph prefix must not matter");
        assert_eq!(shown(&a), vec!["openid", "User.Read"]);
        assert_eq!(a.single_resource().unwrap(), GRAPH_RESOURCE);
    }

    #[test]
    fn dot_default_expands_to_the_clients_static_permissions() {
        let s = parse("https://graph.microsoft.com/.default offline_access").unwrap();
        assert_eq!(shown(&s), vec!["offline_access", "User.Read"]);
    }

    #[test]
    fn other_apis_keep_their_prefix_and_cannot_mix_in_one_token() {
        let s = parse("api://tessera-demo/access_as_user User.Read").unwrap();
        // Ordered by resource URI: api:// sorts before https://.
        assert_eq!(
            shown(&s),
            vec!["api://tessera-demo/access_as_user", "User.Read"]
        );
        assert!(matches!(
            s.single_resource(),
            Err(ScopeError::MultipleResources(_))
        ));
    }

    #[test]
    fn unknown_scopes_and_resources_get_entras_codes() {
        let err = parse("User.Fly").unwrap_err();
        assert!(err.to_string().starts_with("AADSTS650053"), "{err}");
        let err = parse("https://unknown.example/x").unwrap_err();
        assert!(err.to_string().starts_with("AADSTS500011"), "{err}");
        assert_eq!(parse("  ").unwrap_err(), ScopeError::Missing);
    }

    #[test]
    fn oidc_only_requests_are_for_graph() {
        let s = parse("openid profile").unwrap();
        assert!(s.resources().is_empty());
        assert_eq!(s.single_resource().unwrap(), GRAPH_RESOURCE);
    }
}
