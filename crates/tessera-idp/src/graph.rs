//! The slice of Microsoft Graph Tessera uses: `/v1.0/me` and the profile photo, behind bearer
//! token validation, with Continuous Access Evaluation claims challenges.
//!
//! Shapes from <https://learn.microsoft.com/graph/api/user-get>,
//! <https://learn.microsoft.com/graph/api/profilephoto-get> and
//! <https://learn.microsoft.com/entra/identity-platform/claims-challenge>.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::scopes::{GRAPH_APP_ID, GRAPH_RESOURCE};
use crate::seed::User;
use crate::state::{ClaimsChallenge, Idp};

/// Permissions that allow reading the signed-in user's profile.
const PROFILE_SCOPES: [&str; 4] = [
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "Directory.Read.All",
];

/// `GET /v1.0/me`.
pub async fn me(idp: Arc<Idp>, headers: HeaderMap, query: HashMap<String, String>) -> Response {
    idp.store().count("graph:me");
    let user = match authenticate(&idp, &headers) {
        Ok(user) => user,
        Err(response) => return response,
    };
    let profile = profile(&user);
    let Some(select) = query.get("$select") else {
        let mut body = profile;
        body.insert(
            "@odata.context".into(),
            json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity"),
        );
        return with_request_id(axum::Json(Value::Object(body)).into_response(), &headers);
    };
    let mut body = Map::new();
    let mut names = vec![];
    for wanted in select.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((name, value)) = profile.iter().find(|(k, _)| k.eq_ignore_ascii_case(wanted))
        else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!(
                    "Could not find a property named '{wanted}' on type 'microsoft.graph.user'."
                ),
            );
        };
        names.push(name.clone());
        body.insert(name.clone(), value.clone());
    }
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "https://graph.microsoft.com/v1.0/$metadata#users({})/$entity",
            names.join(",")
        )),
    );
    with_request_id(axum::Json(Value::Object(body)).into_response(), &headers)
}

/// `GET /v1.0/me/photo/$value` (`size` None) and `/v1.0/me/photos/{size}/$value`.
pub async fn photo(idp: Arc<Idp>, headers: HeaderMap, size: Option<String>) -> Response {
    idp.store().count("graph:photo");
    let user = match authenticate(&idp, &headers) {
        Ok(user) => user,
        Err(response) => return response,
    };
    let not_found = || {
        graph_error(
            StatusCode::NOT_FOUND,
            "ImageNotFound",
            "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
        )
    };
    let Some(photo) = idp.photos.get(&user.object_id) else {
        return not_found();
    };
    let bytes = match size.as_deref() {
        None => photo.large.clone(),
        Some("48x48" | "64x64" | "96x96") => photo.small.clone(),
        Some("120x120" | "240x240" | "360x360" | "432x432" | "504x504" | "648x648") => {
            photo.large.clone()
        }
        Some(_) => return not_found(),
    };
    with_request_id(
        ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response(),
        &headers,
    )
}

fn profile(user: &User) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("businessPhones".into(), json!(user.business_phones));
    map.insert("displayName".into(), json!(user.display_name));
    map.insert("givenName".into(), json!(user.given_name));
    map.insert("jobTitle".into(), json!(user.job_title));
    map.insert("mail".into(), json!(user.mail));
    map.insert("mobilePhone".into(), json!(user.mobile_phone));
    map.insert("officeLocation".into(), json!(user.office_location));
    map.insert("preferredLanguage".into(), json!(user.preferred_language));
    map.insert("surname".into(), json!(user.surname));
    map.insert("userPrincipalName".into(), json!(user.username));
    map.insert("id".into(), json!(user.object_id));
    map
}

/// Validates the bearer token: signature, issuer, audience, lifetime, user, claims challenge
/// and scope. Graph allows no clock skew here, so that tests can expire tokens in seconds.
fn authenticate(idp: &Idp, headers: &HeaderMap) -> Result<User, Response> {
    let unauthorized = |message: &str| {
        let mut response = graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
        let challenge = format!(
            "Bearer realm=\"\", authorization_uri=\"{}\", client_id=\"{GRAPH_APP_ID}\"",
            idp.url("common/oauth2/authorize")
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    let claims = token_claims(idp, token)
        .map_err(|e| unauthorized(&format!("Access token validation failure: {e}.")))?;
    let audience_ok = [GRAPH_APP_ID, GRAPH_RESOURCE]
        .iter()
        .any(|a| claims["aud"] == *a);
    if !audience_ok {
        return Err(unauthorized(
            "Access token validation failure. Invalid audience.",
        ));
    }
    if !idp.issues(claims["iss"].as_str().unwrap_or_default()) {
        return Err(unauthorized(
            "Access token validation failure. Invalid issuer.",
        ));
    }
    let now = idp.clock.now();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(i64::MAX);
    if exp <= now {
        return Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if nbf > now {
        return Err(unauthorized(
            "Lifetime validation failed, the token is not yet valid.",
        ));
    }
    let oid = claims["oid"].as_str().unwrap_or_default();
    let user = idp
        .seed
        .user_by_any_oid(oid)
        .cloned()
        .ok_or_else(|| unauthorized("The token's user does not exist in the directory."))?;
    // Revocation events belong to the person, whichever tenant's token it is.
    if let Some(challenge) = unmet_challenge(idp, &user.object_id, &claims) {
        let mut response = graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp",
        );
        let header_value = format!(
            "Bearer realm=\"\", authorization_uri=\"{}\", client_id=\"{GRAPH_APP_ID}\", error=\"insufficient_claims\", claims=\"{}\"",
            idp.url("common/oauth2/authorize"),
            STANDARD.encode(challenge.to_string())
        );
        if let Ok(value) = HeaderValue::from_str(&header_value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return Err(response);
    }
    let scopes: Vec<&str> = claims["scp"].as_str().unwrap_or("").split(' ').collect();
    if !PROFILE_SCOPES.iter().any(|s| scopes.contains(s)) {
        // Graph answers a valid token without the permission with 403, not 401.
        return Err(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    Ok(user)
}

/// The claims challenge a token fails, if any. As Graph does, only clients that declared the
/// `cp1` capability (`xms_cc`) get challenges; others keep working until their tokens expire.
fn unmet_challenge(idp: &Idp, oid: &str, claims: &Value) -> Option<Value> {
    // Capabilities compare case-insensitively: MSAL sends what the app configured (`CP1` as
    // well as `cp1`).
    let capable = claims["xms_cc"].as_array().is_some_and(|values| {
        values
            .iter()
            .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case("cp1")))
    });
    if !capable {
        return None;
    }
    let challenge = idp.store().users.get(oid)?.claims_challenge.clone()?;
    match challenge {
        ClaimsChallenge::Nbf { since } => {
            let issued = claims["iat"].as_i64().unwrap_or(0);
            (issued < since).then(|| {
                json!({ "access_token": { "nbf": { "essential": true, "value": since.to_string() } } })
            })
        }
        ClaimsChallenge::Acrs { value } => {
            let has = claims["acrs"]
                .as_array()
                .is_some_and(|values| values.iter().any(|v| *v == value.as_str()));
            (!has).then(
                || json!({ "access_token": { "acrs": { "essential": true, "value": value } } }),
            )
        }
    }
}

/// The claims an access token stands for: a JWT's, verified against the provider's keys, or
/// an opaque token's, looked up.
pub(crate) fn token_claims(idp: &Idp, token: &str) -> Result<Value, String> {
    if !token.contains('.') {
        return idp
            .store()
            .opaque_tokens
            .get(&crate::state::secret_key(token))
            .cloned()
            .ok_or_else(|| "the token is unknown".to_owned());
    }
    idp.keyset().verify(token).map_err(|e| e.to_string())
}

/// The bearer token's claims, checked as a resource server checks them: known, from this
/// issuer, not expired (no clock skew, so tests can expire tokens with the clock control).
pub(crate) fn bearer_claims(idp: &Idp, headers: &HeaderMap) -> Result<Value, String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("no bearer token")?;
    let claims = token_claims(idp, token)?;
    if !idp.issues(claims["iss"].as_str().unwrap_or_default()) {
        return Err("the token is from another issuer".into());
    }
    if claims["exp"].as_i64().unwrap_or(0) <= idp.clock.now() {
        return Err("the token is expired".into());
    }
    Ok(claims)
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "error": { "code": code, "message": message, "innerError": {
            "request-id": crate::ids::guid(),
        } } }),
        ),
    )
        .into_response()
}

fn with_request_id(mut response: Response, headers: &HeaderMap) -> Response {
    if let Ok(value) = HeaderValue::from_str(&crate::ids::guid()) {
        response.headers_mut().insert("request-id", value);
    }
    if let Some(id) = headers.get("client-request-id") {
        response
            .headers_mut()
            .insert("client-request-id", id.clone());
    }
    response
}
