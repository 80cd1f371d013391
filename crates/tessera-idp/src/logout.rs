//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0), as Entra ID answers it.
//!
//! - Entra signs a user out without asking only when `logout_hint` carries the `login_hint`
//!   claim of an ID token it issued (Microsoft Learn, "Send a sign-out request" and the
//!   `login_hint` optional claim); otherwise, even with one account signed in, it shows an
//!   account picker. The OIDC flavour takes a valid `id_token_hint` for the same purpose.
//! - A `post_logout_redirect_uri` is followed only when the provider knows the client it
//!   belongs to, from `client_id` or `id_token_hint` (§2: the OP must be able to check it is
//!   registered; both present must agree), and when it is registered; otherwise the
//!   "signed out" page is shown instead.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::authorize::{redirect_uri_matches, session_cookie, PERSISTENT_COOKIE, SESSION_COOKIE};
use crate::pages;
use crate::state::{secret_key, Flavor, Idp};

/// Where a sign-out goes once done, if anywhere.
struct Return {
    uri: Option<url::Url>,
    state: Option<String>,
}

/// `GET …/logout`.
pub async fn logout(idp: Arc<Idp>, headers: HeaderMap, query: HashMap<String, String>) -> Response {
    idp.store().count("logout");
    let back = match return_to(&idp, &query) {
        Ok(back) => back,
        Err(message) => {
            return (StatusCode::BAD_REQUEST, Html(pages::error(&message))).into_response()
        }
    };
    let Some(cookie) = session_cookie(&headers) else {
        return finish(back, true);
    };
    let users: Vec<String> = idp
        .store()
        .sessions
        .get(&secret_key(&cookie))
        .map(|s| s.users.iter().map(|u| u.oid.clone()).collect())
        .unwrap_or_default();
    if users.is_empty() {
        return finish(back, true);
    }
    let hinted = match idp.flavor {
        Flavor::Entra => query
            .get("logout_hint")
            .and_then(|hint| crate::hints::login_hint_oid(hint)),
        Flavor::Oidc => query
            .get("id_token_hint")
            .and_then(|hint| idp.keyset().verify(hint).ok())
            .and_then(|claims| claims["sub"].as_str().map(str::to_owned)),
    };
    match hinted.filter(|oid| users.contains(oid)) {
        Some(oid) => {
            let emptied = end_user_session(&idp, &cookie, &oid);
            finish(back, emptied)
        }
        None => {
            idp.store().count("logout:picker");
            let accounts: Vec<(String, String, String)> = users
                .iter()
                .filter_map(|oid| idp.seed.user_by_oid(oid))
                .map(|u| {
                    (
                        u.object_id.clone(),
                        u.username.clone(),
                        u.display_name.clone(),
                    )
                })
                .collect();
            let mut carried = vec![];
            if let Some(uri) = &back.uri {
                carried.push(("post_logout_redirect_uri", uri.to_string()));
            }
            if let Some(state) = &back.state {
                carried.push(("state", state.clone()));
            }
            // What lets the picked sign-out check its return address again.
            for name in ["client_id", "id_token_hint"] {
                if let Some(value) = query.get(name) {
                    carried.push((name, value.clone()));
                }
            }
            let action = match idp.flavor {
                Flavor::Entra => idp.url("common/oauth2/v2.0/logout/pick"),
                Flavor::Oidc => idp.url("logout/pick"),
            };
            Html(pages::logout_picker(&action, &accounts, &carried)).into_response()
        }
    }
}

/// `POST …/logout/pick`: the account the user picked on the picker.
pub async fn logout_pick(
    idp: Arc<Idp>,
    headers: HeaderMap,
    form: HashMap<String, String>,
) -> Response {
    let Some(cookie) = session_cookie(&headers) else {
        return finish(
            Return {
                uri: None,
                state: None,
            },
            true,
        );
    };
    // The carried redirect was checked when the picker was shown; check it again, since a
    // form can be forged.
    let back = return_to(&idp, &form).unwrap_or(Return {
        uri: None,
        state: None,
    });
    let oid = form.get("account").cloned().unwrap_or_default();
    let emptied = end_user_session(&idp, &cookie, &oid);
    finish(back, emptied)
}

/// Where the sign-out may return to: the redirect URI, when its client is known and it is
/// registered for that client.
fn return_to(idp: &Idp, query: &HashMap<String, String>) -> Result<Return, String> {
    let state = query.get("state").cloned();
    let Some(uri) = query.get("post_logout_redirect_uri") else {
        return Ok(Return { uri: None, state });
    };
    let from_hint = query
        .get("id_token_hint")
        .and_then(|hint| idp.keyset().verify(hint).ok())
        .and_then(|claims| match &claims["aud"] {
            serde_json::Value::String(aud) => Some(aud.clone()),
            serde_json::Value::Array(auds) => {
                auds.first().and_then(|a| a.as_str()).map(str::to_owned)
            }
            _ => None,
        });
    let client_id = match (query.get("client_id"), from_hint) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(&b) => {
            return Err("The client_id does not match the application the id_token_hint was issued to.".into())
        }
        (Some(client), _) => client.clone(),
        (None, Some(client)) => client,
        (None, None) => {
            return Err("A post_logout_redirect_uri needs an id_token_hint or a client_id, so that it can be checked against the application's registration.".into())
        }
    };
    let registered = idp
        .seed
        .client(&client_id)
        .is_some_and(|c| redirect_uri_matches(idp, &c.redirect_uris, uri));
    Ok(Return {
        uri: registered.then(|| url::Url::parse(uri).ok()).flatten(),
        state,
    })
}

/// Signs `oid` out of the browser session `cookie`; returns whether the session is now empty
/// (and gone).
fn end_user_session(idp: &Idp, cookie: &str, oid: &str) -> bool {
    let mut store = idp.store();
    let key = secret_key(cookie);
    let Some(session) = store.sessions.get_mut(&key) else {
        return true;
    };
    session.users.retain(|u| u.oid != oid);
    let empty = session.users.is_empty();
    if empty {
        store.sessions.remove(&key);
    }
    store.count("logout:signed_out");
    empty
}

fn finish(back: Return, clear_cookies: bool) -> Response {
    let mut response = match back.uri {
        Some(mut url) => {
            if let Some(state) = &back.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            match HeaderValue::from_str(url.as_str()) {
                Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            }
        }
        None => Html(pages::signed_out()).into_response(),
    };
    if clear_cookies {
        for name in [PERSISTENT_COOKIE, SESSION_COOKIE] {
            if let Ok(value) = HeaderValue::from_str(&format!(
                "{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
            )) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
    }
    response
}
