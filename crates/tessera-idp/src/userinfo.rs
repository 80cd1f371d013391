//! The userinfo endpoint (OpenID Connect Core §5.3): the signed-in user's claims for an access
//! token issued with `openid`, per the scopes it carries (§5.4: `profile`, `email`), and their
//! picture at a public URL, as providers publish it.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::Idp;

/// `GET|POST /userinfo` (and Entra's `/oidc/userinfo`).
pub async fn userinfo(idp: Arc<Idp>, headers: HeaderMap) -> Response {
    idp.store().count("userinfo");
    let claims = match crate::graph::bearer_claims(&idp, &headers) {
        Ok(claims) => claims,
        Err(reason) => return refused(&reason),
    };
    let scopes: Vec<&str> = claims["scp"].as_str().unwrap_or("").split(' ').collect();
    if !scopes.contains(&"openid") {
        return refused("the access token was not issued for openid");
    }
    let Some(user) = idp
        .seed
        .user_by_any_oid(claims["oid"].as_str().unwrap_or_default())
    else {
        return refused("the token's user does not exist");
    };
    // §5.3.2: `sub` is the ID token's.
    let mut body = json!({ "sub": claims["sub"] });
    if scopes.contains(&"profile") {
        body["name"] = json!(user.display_name);
        body["given_name"] = json!(user.given_name);
        body["family_name"] = json!(user.surname);
        body["preferred_username"] = json!(user.username);
        if let Some(language) = &user.preferred_language {
            body["locale"] = json!(language);
        }
        if idp.photos.contains_key(&user.object_id) {
            body["picture"] = json!(idp.url(&format!("pictures/{}.jpg", user.object_id)));
        }
    }
    if scopes.contains(&"email") {
        if let Some(mail) = &user.mail {
            body["email"] = json!(mail);
            body["email_verified"] = json!(true);
        }
    }
    let mut response = axum::Json(body).into_response();
    crate::oauth_error::no_store(response.headers_mut());
    response
}

/// `GET /pictures/{oid}.jpg`: a user's picture, public as `picture` URLs are.
pub async fn picture(idp: Arc<Idp>, file: String) -> Response {
    let oid = file.strip_suffix(".jpg").unwrap_or_default();
    match idp.photos.get(oid) {
        Some(photo) => {
            ([(header::CONTENT_TYPE, "image/jpeg")], photo.large.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// RFC 6750 §3.1: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
fn refused(description: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": "invalid_token", "error_description": description })),
    )
        .into_response();
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        description.replace('"', "'")
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
