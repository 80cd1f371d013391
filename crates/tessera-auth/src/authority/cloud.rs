//! Microsoft's clouds: which hosts are Entra ID's, which names are one cache environment, and
//! where each cloud's Microsoft Graph is.
//!
//! The aliases are MSAL's instance-discovery metadata (msal-common
//! `src/authority/AuthorityMetadata.ts`, `InstanceDiscoveryMetadata`; the same as
//! `https://login.microsoftonline.com/common/discovery/instance` answers). The Graph hosts are
//! Microsoft Learn's "National cloud deployments" table; an authority's own discovery document
//! (`msgraph_host`) wins over it.

use std::borrow::Cow;

/// One of Microsoft's clouds.
#[derive(Debug, PartialEq, Eq)]
pub struct Cloud {
    /// Its login hosts; the first is the one the cache keys on.
    pub hosts: &'static [&'static str],
    /// Its Microsoft Graph host.
    pub graph_host: &'static str,
}

/// The clouds MSAL knows without asking instance discovery.
pub const CLOUDS: &[Cloud] = &[
    Cloud {
        hosts: &[
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ],
        graph_host: "graph.microsoft.com",
    },
    Cloud {
        hosts: &["login.microsoftonline.us", "login.usgovcloudapi.net"],
        graph_host: "graph.microsoft.us",
    },
    Cloud {
        hosts: &["login-us.microsoftonline.com"],
        graph_host: "graph.microsoft.us",
    },
    Cloud {
        hosts: &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
        graph_host: "microsoftgraph.chinacloudapi.cn",
    },
    Cloud {
        hosts: &["login.microsoftonline.de"],
        graph_host: "graph.microsoft.de",
    },
];

/// Host suffixes of Azure AD B2C (MSAL Python `WELL_KNOWN_B2C_HOSTS`).
pub const B2C_SUFFIXES: [&str; 4] = [
    ".b2clogin.com",
    ".b2clogin.cn",
    ".b2clogin.us",
    ".b2clogin.de",
];

/// Host suffix of Microsoft Entra External ID (msal-common `Constants.CIAM_AUTH_URL`).
pub const CIAM_SUFFIX: &str = ".ciamlogin.com";

/// The cloud whose login host `host` is (case-insensitive).
pub fn cloud_of(host: &str) -> Option<&'static Cloud> {
    CLOUDS
        .iter()
        .find(|cloud| cloud.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
}

/// The environment the cache keys on: a cloud's first host for any of its aliases (so a token
/// from `login.windows.net` serves a request to `login.microsoftonline.com`), the environment
/// itself otherwise.
pub fn canonical_environment(environment: &str) -> Cow<'_, str> {
    match cloud_of(environment) {
        Some(cloud) if cloud.hosts[0] != environment => Cow::Borrowed(cloud.hosts[0]),
        _ => Cow::Borrowed(environment),
    }
}

/// Whether `host` ends with `suffix`, ignoring case, with something before it.
pub(crate) fn has_suffix(host: &str, suffix: &str) -> bool {
    host.len() > suffix.len()
        && host
            .get(host.len() - suffix.len()..)
            .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_of_one_cloud_are_one_environment_and_clouds_have_their_graph() {
        for alias in [
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ] {
            assert_eq!(canonical_environment(alias), "login.microsoftonline.com");
        }
        assert_eq!(
            canonical_environment("login.chinacloudapi.cn"),
            "login.partner.microsoftonline.cn"
        );
        assert_eq!(canonical_environment("127.0.0.1:47100"), "127.0.0.1:47100");
        assert_eq!(
            cloud_of("login.microsoftonline.us").map(|c| c.graph_host),
            Some("graph.microsoft.us")
        );
        assert_eq!(
            cloud_of("LOGIN.CHINACLOUDAPI.CN").map(|c| c.graph_host),
            Some("microsoftgraph.chinacloudapi.cn")
        );
        assert!(has_suffix("contoso.b2clogin.com", ".b2clogin.com"));
        assert!(!has_suffix(".b2clogin.com", ".b2clogin.com"));
        assert!(!has_suffix("evilb2clogin.com", ".b2clogin.com"));
    }
}
