//! Tenant resolution, OpenID Connect discovery, the JWKS, logout and the native-client page.
//!
//! Entra's discovery document: <https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri>.
//! For `common` and `organizations` its issuer is the literal template
//! `https://login.microsoftonline.com/{tenantid}/v2.0`: clients substitute the token's `tid`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Value};

use crate::ids::is_guid;
use crate::oauth_error::OAuthError;
use crate::state::{Flavor, Idp};

impl Idp {
    /// Checks a tenant path segment: `common`, `organizations`, the tenant id or its domain
    /// (Entra), or empty (OIDC flavour).
    pub fn resolve_tenant(&self, tenant: &str) -> Result<(), OAuthError> {
        let known = match self.flavor {
            Flavor::Oidc => tenant.is_empty(),
            Flavor::Entra => {
                ["common", "organizations"].contains(&tenant.to_ascii_lowercase().as_str())
                    || tenant.eq_ignore_ascii_case(&self.seed.tenant.id)
                    || tenant.eq_ignore_ascii_case(&self.seed.tenant.domain)
                    || self.seed.guest_tenant(tenant).is_some()
            }
        };
        if known {
            return Ok(());
        }
        let hint = if tenant.eq_ignore_ascii_case("consumers") {
            " This provider has no Microsoft-account (consumers) tenant."
        } else if !is_guid(tenant) && !tenant.contains('.') {
            " The tenant must be common, organizations, a tenant id or a verified domain."
        } else {
            ""
        };
        Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.{hint}"),
        ))
    }

    /// The id of the directory a (resolved) tenant segment signs in to: a guest tenant, or
    /// the home tenant (`common` and `organizations` sign a user in to their home tenant).
    pub fn directory_id(&self, tenant: &str) -> &str {
        match self.seed.guest_tenant(tenant) {
            Some(guest) => &guest.id,
            None => &self.seed.tenant.id,
        }
    }

    /// The user's object id in the directory a tenant segment names: their own at home, their
    /// guest object's in a tenant that invited them, and AADSTS50020 in one that did not.
    pub fn object_id_in(
        &self,
        tenant: &str,
        user: &crate::seed::User,
    ) -> Result<String, OAuthError> {
        let Some(directory) = self.seed.guest_tenant(tenant) else {
            return Ok(user.object_id.clone());
        };
        directory
            .guests
            .iter()
            .find(|g| g.username.eq_ignore_ascii_case(&user.username))
            .map(|g| g.object_id.clone())
            .ok_or_else(|| {
                OAuthError::invalid_grant(
                    50020,
                    &format!(
                        "User account '{}' from identity provider '{}' does not exist in tenant '{}' and cannot access the application in that tenant. The account needs to be added as an external user in the tenant first.",
                        user.username, self.seed.tenant.domain, directory.display_name
                    ),
                )
            })
    }

    /// The issuer the discovery document advertises for a tenant segment.
    fn advertised_issuer(&self, tenant: &str) -> String {
        match self.flavor {
            Flavor::Oidc => self.issuer(""),
            Flavor::Entra if is_guid(tenant) || tenant.contains('.') => {
                self.issuer(self.directory_id(tenant))
            }
            Flavor::Entra => self.issuer("{tenantid}"),
        }
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` or `/.well-known/openid-configuration`.
pub async fn openid_configuration(idp: Arc<Idp>, tenant: String) -> Response {
    if let Err(error) = idp.resolve_tenant(&tenant) {
        return error.into_response_for(&idp, None);
    }
    let device = idp.store().device.enabled;
    let algorithm = idp.keyset().active.algorithm().name();
    let claims_parameter =
        idp.behaviour.claims_parameter == crate::behaviour::ClaimsParameter::Accepted;
    let mut document = match idp.flavor {
        Flavor::Entra => {
            // A tenant named by its domain is its id in every endpoint, as Entra answers.
            let segment = if tenant.contains('.') {
                idp.directory_id(&tenant).to_owned()
            } else {
                tenant.clone()
            };
            let at = |path: &str| idp.url(&format!("{segment}/{path}"));
            let graph_host = idp.msgraph_host.clone().unwrap_or_else(|| {
                let host = idp.base.host_str().unwrap_or("127.0.0.1");
                match idp.base.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                }
            });
            json!({
                "token_endpoint": at("oauth2/v2.0/token"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": at("discovery/v2.0/keys"),
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": [algorithm],
                "claims_parameter_supported": claims_parameter,
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": idp.advertised_issuer(&tenant),
                "request_uri_parameter_supported": false,
                "userinfo_endpoint": idp.url("oidc/userinfo"),
                "authorization_endpoint": at("oauth2/v2.0/authorize"),
                "http_logout_supported": true,
                "frontchannel_logout_supported": true,
                "end_session_endpoint": at("oauth2/v2.0/logout"),
                "device_authorization_endpoint": device.then(|| at("oauth2/v2.0/devicecode")),
                "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": idp.base.host_str().unwrap_or("127.0.0.1"),
                "cloud_graph_host_name": idp.base.host_str().unwrap_or("127.0.0.1"),
                "msgraph_host": graph_host,
            })
        }
        Flavor::Oidc => json!({
            "issuer": idp.advertised_issuer(""),
            "authorization_endpoint": idp.url("authorize"),
            "token_endpoint": idp.url("token"),
            "jwks_uri": idp.url("jwks"),
            "end_session_endpoint": idp.url("logout"),
            "userinfo_endpoint": idp.url("userinfo"),
            "device_authorization_endpoint": device.then(|| idp.url("devicecode")),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": if device {
                json!(["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"])
            } else {
                json!(["authorization_code", "refresh_token"])
            },
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [algorithm],
            "claims_parameter_supported": claims_parameter,
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "preferred_username", "email"],
            "authorization_response_iss_parameter_supported": true,
        }),
    };
    // Without the device grant the member is left out, as providers that lack it do.
    if let Some(map) = document.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    axum::Json(document).into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys` or `/jwks`.
pub async fn keys(idp: Arc<Idp>, tenant: String) -> Response {
    if let Err(error) = idp.resolve_tenant(&tenant) {
        return error.into_response_for(&idp, None);
    }
    let issuer = match idp.flavor {
        Flavor::Entra => Some(idp.issuer("{tenantid}")),
        Flavor::Oidc => None,
    };
    let keys: Vec<Value> = idp
        .keyset()
        .all()
        .map(|k| match idp.behaviour.key_ids {
            true => k.jwk(issuer.as_deref()),
            false => k.jwk_without_kid(),
        })
        .collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

/// `GET /common/oauth2/nativeclient`: the page desktop apps' embedded webviews land on.
pub async fn native_client() -> Response {
    Html("<!doctype html><html><head><title></title></head><body></body></html>").into_response()
}
