//! Authorities of every kind, parsed and checked against metadata shaped as their providers
//! document it.

use super::*;
use serde_json::{json, Value};

fn kind(authority: &str) -> AuthorityKind {
    Authority::parse(authority).unwrap().kind().clone()
}

fn metadata(document: Value) -> Metadata {
    serde_json::from_value(document).unwrap()
}

/// Entra's multi-tenant document, as <https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration>
/// answers (Microsoft Learn, "OpenID Connect on the Microsoft identity platform").
fn entra_common(host: &str, graph: &str) -> Value {
    json!({
        "token_endpoint": format!("https://{host}/common/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("https://{host}/common/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("https://{host}/{{tenantid}}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("https://{graph}/oidc/userinfo"),
        "authorization_endpoint": format!("https://{host}/common/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("https://{host}/common/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("https://{host}/common/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("https://{host}/common/kerberos"),
        "tenant_region_scope": null,
        "cloud_instance_name": host.trim_start_matches("login."),
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": graph,
        "rbac_url": "https://pas.windows.net"
    })
}

#[test]
fn microsoft_hosts_decide_the_kind_and_other_hosts_are_oidc_whatever_their_path() {
    for host in [
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    ] {
        assert_eq!(
            kind(&format!("https://{host}/organizations/")),
            AuthorityKind::Entra {
                tenant: "organizations".into()
            },
            "{host}"
        );
    }
    // Issue 19: a tenant-like path used to make any host Entra-shaped (client_info, xms_cc,
    // Graph, the {tenantid} issuer template). Only Microsoft's hosts are.
    for authority in [
        "https://sso.example.com/realms/staff",
        "https://accounts.example.com",
        "https://idp.example.com/common",
        "https://idp.example.com/5e7a1d3c-0b9f-4c2e-9a41-7c1d2e3f4a5b",
        "https://idp.example.com/contoso.com",
    ] {
        assert_eq!(kind(authority), AuthorityKind::Oidc, "{authority}");
    }
    // On loopback (the emulator), the path decides.
    assert!(Authority::parse("http://127.0.0.1:47100/common")
        .unwrap()
        .is_entra());
    assert_eq!(kind("http://127.0.0.1:8800/"), AuthorityKind::Oidc);
    // A declared type wins (a Microsoft authority on a custom domain, MSAL's known
    // authorities).
    let declared = Authority::parse_as(
        "https://login.contoso.com/contoso.com",
        Some(AuthorityType::Entra),
    );
    assert!(declared.unwrap().is_microsoft());
    let declared = Authority::parse_as(
        "https://login.microsoftonline.com/common",
        Some(AuthorityType::Oidc),
    );
    assert_eq!(declared.unwrap().kind(), &AuthorityKind::Oidc);
    assert_eq!("CIAM".parse::<AuthorityType>(), Ok(AuthorityType::Ciam));
    assert!("entraid".parse::<AuthorityType>().is_err());
}

// Issue 20, point 2: B2C authorities were taken for plain OIDC.
#[test]
fn b2c_authorities_carry_tenant_and_policy_and_discover_under_the_policy() {
    let b2c = Authority::parse(
        "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signupsignin1",
    )
    .unwrap();
    assert_eq!(
        b2c.kind(),
        &AuthorityKind::B2c {
            tenant: "contoso.onmicrosoft.com".into(),
            policy: "B2C_1_signupsignin1".into()
        }
    );
    assert!(b2c.is_microsoft() && !b2c.is_entra());
    assert_eq!(
        b2c.discovery_url(),
        "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signupsignin1/v2.0/.well-known/openid-configuration"
    );
    let tfp =
        Authority::parse("https://contoso.b2clogin.com/tfp/contoso.onmicrosoft.com/B2C_1_susi")
            .unwrap();
    assert!(matches!(tfp.kind(), AuthorityKind::B2c { policy, .. } if policy == "B2C_1_susi"));
    assert!(Authority::parse("https://contoso.b2clogin.com/contoso.onmicrosoft.com").is_err());

    // As the B2C user-flow metadata document reads: the issuer carries the tenant's id, with
    // a trailing slash, not the authority's path.
    let m = metadata(json!({
        "issuer": "https://contoso.b2clogin.com/775527ff-9a37-4307-8b3d-cc311f58d925/v2.0/",
        "authorization_endpoint": "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1_signupsignin1/oauth2/v2.0/authorize",
        "token_endpoint": "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1_signupsignin1/oauth2/v2.0/token",
        "end_session_endpoint": "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1_signupsignin1/oauth2/v2.0/logout",
        "jwks_uri": "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1_signupsignin1/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "code id_token", "code token", "code id_token token", "id_token", "id_token token", "token", "token id_token"],
        "scopes_supported": ["openid"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["name", "emails", "idp", "sub", "iss", "iat", "exp", "aud", "acr", "nonce", "auth_time"]
    }));
    assert!(m.validate(&b2c).is_ok(), "{:?}", m.validate(&b2c));
    assert_eq!(
        b2c.graph_url(&m),
        None,
        "B2C tokens are for the tenant's own APIs"
    );
    let mut elsewhere = m.clone();
    elsewhere.issuer =
        "https://evil.b2clogin.com/775527ff-9a37-4307-8b3d-cc311f58d925/v2.0/".into();
    assert!(elsewhere.validate(&b2c).is_err(), "another tenant's host");
}

// Issue 20, point 3: a host-only External ID authority means the tenant of its first label,
// as MSAL's `transformCIAMAuthority` rewrites it.
#[test]
fn external_id_host_only_authorities_name_their_tenant() {
    let ciam = Authority::parse("https://contoso.ciamlogin.com/").unwrap();
    assert_eq!(
        ciam.url().as_str(),
        "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
    );
    assert_eq!(
        ciam.kind(),
        &AuthorityKind::Ciam {
            tenant: "contoso.onmicrosoft.com".into()
        }
    );
    assert_eq!(
        ciam.discovery_url(),
        "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    );
    let by_id =
        Authority::parse("https://contoso.ciamlogin.com/aaaabbbb-0000-cccc-1111-dddd2222eeee")
            .unwrap();
    assert_eq!(by_id.tenant(), Some("aaaabbbb-0000-cccc-1111-dddd2222eeee"));
    // External ID's issuer is a ciamlogin.com host named after the tenant id.
    let tid = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
    let m = metadata(json!({
        "issuer": format!("https://{tid}.ciamlogin.com/{tid}/v2.0"),
        "authorization_endpoint": format!("https://contoso.ciamlogin.com/{tid}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("https://contoso.ciamlogin.com/{tid}/oauth2/v2.0/token"),
        "jwks_uri": format!("https://contoso.ciamlogin.com/{tid}/discovery/v2.0/keys"),
        "end_session_endpoint": format!("https://contoso.ciamlogin.com/{tid}/oauth2/v2.0/logout"),
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "id_token_signing_alg_values_supported": ["RS256"],
        "msgraph_host": "graph.microsoft.com"
    }));
    assert!(m.validate(&ciam).is_ok(), "{:?}", m.validate(&ciam));
    assert_eq!(
        ciam.graph_url(&m).unwrap().as_str(),
        "https://graph.microsoft.com/v1.0"
    );
}

// Issue 20, point 4: Graph was fixed to graph.microsoft.com, and the aliases of one cloud
// were different cache environments.
#[test]
fn sovereign_clouds_have_their_graph_and_aliases_share_an_environment() {
    for (host, graph) in [
        ("login.microsoftonline.com", "graph.microsoft.com"),
        ("login.microsoftonline.us", "graph.microsoft.us"),
        ("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"),
    ] {
        let authority = Authority::parse(&format!("https://{host}/common")).unwrap();
        let m = metadata(entra_common(host, graph));
        assert!(
            m.validate(&authority).is_ok(),
            "{host}: {:?}",
            m.validate(&authority)
        );
        assert_eq!(
            authority.graph_url(&m).unwrap().as_str(),
            format!("https://{graph}/v1.0"),
            "{host}: discovery's msgraph_host"
        );
        let mut without = m.clone();
        without.msgraph_host = None;
        assert_eq!(
            authority.graph_url(&without).unwrap().as_str(),
            format!("https://{graph}/v1.0"),
            "{host}: the cloud's table"
        );
    }
    let environments: Vec<String> = [
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
    ]
    .iter()
    .map(|h| {
        Authority::parse(&format!("https://{h}/common"))
            .unwrap()
            .environment()
    })
    .collect();
    assert!(
        environments
            .iter()
            .all(|e| e == "login.microsoftonline.com"),
        "{environments:?}"
    );
    assert_eq!(
        Authority::parse("https://login.chinacloudapi.cn/common")
            .unwrap()
            .environment(),
        "login.partner.microsoftonline.cn"
    );
}

#[test]
fn insecure_or_malformed_authorities_are_refused() {
    for bad in [
        "http://login.example.com/common",
        "ftp://x/common",
        "not a url",
        "https://login.microsoftonline.com/",
        "https://login.microsoftonline.com/a/b",
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
fn the_tenantid_template_is_substituted_and_issuers_must_belong_to_the_authority() {
    let entra = Authority::parse("https://login.microsoftonline.com/common").unwrap();
    let m = metadata(entra_common(
        "login.microsoftonline.com",
        "graph.microsoft.com",
    ));
    assert_eq!(
        m.issuer_for(Some("72f988bf-86f1-41af-91ab-2d7cd011db47")),
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    );
    assert!(m.validate(&entra).is_ok());
    let oidc = Authority::parse("https://accounts.example.com").unwrap();
    assert!(
        m.validate(&oidc).is_err(),
        "an OIDC issuer must be the authority itself"
    );
    let mut foreign = m.clone();
    foreign.issuer = "https://login.example.com/{tenantid}/v2.0".into();
    assert!(
        foreign.validate(&entra).is_err(),
        "Entra's issuer is on its cloud's hosts"
    );
    let us = Authority::parse("https://login.microsoftonline.us/common").unwrap();
    assert!(m.validate(&us).is_err(), "another cloud's issuer");
}

// Issue 21, point 11: the end-session endpoint skipped the https check.
#[test]
fn every_discovered_endpoint_must_be_https() {
    let entra = Authority::parse("https://login.microsoftonline.com/common").unwrap();
    for member in [
        "end_session_endpoint",
        "userinfo_endpoint",
        "device_authorization_endpoint",
        "token_endpoint",
    ] {
        let mut document = entra_common("login.microsoftonline.com", "graph.microsoft.com");
        document[member] = json!("http://login.example.com/x");
        assert!(metadata(document).validate(&entra).is_err(), "{member}");
    }
}

// Issue 21, point 3: a loopback authority's metadata may not send the engine elsewhere.
#[test]
fn a_loopback_authoritys_endpoints_stay_on_its_origin() {
    let local = Authority::parse("http://127.0.0.1:47100/common").unwrap();
    let at = |path: &str| format!("http://127.0.0.1:47100/common/{path}");
    let document = json!({
        "issuer": "http://127.0.0.1:47100/{tenantid}/v2.0",
        "authorization_endpoint": at("oauth2/v2.0/authorize"),
        "token_endpoint": at("oauth2/v2.0/token"),
        "jwks_uri": at("discovery/v2.0/keys"),
    });
    assert!(metadata(document.clone()).validate(&local).is_ok());
    let mut moved = document.clone();
    moved["token_endpoint"] = json!("http://127.0.0.1:9999/token");
    assert!(metadata(moved).validate(&local).is_err(), "another port");
    let mut away = document;
    away["jwks_uri"] = json!("https://keys.example.com/jwks");
    assert!(metadata(away).validate(&local).is_err(), "another host");
}
