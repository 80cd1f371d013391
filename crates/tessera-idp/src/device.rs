//! The device authorization grant (RFC 8628), as Entra serves it
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>).
//!
//! - `POST …/oauth2/v2.0/devicecode` (`/devicecode` for the OIDC flavour) hands out a device
//!   code, a user code and the verification URL.
//! - `GET|POST /devicelogin` is where the user types the user code. The sign-in itself is the
//!   ordinary authorize flow (password, MFA, consent pages), sent back to
//!   `/devicelogin/complete`, which marks the device code approved.
//! - The token endpoint answers the polling client with `authorization_pending`, `slow_down`
//!   (when it polls faster than its interval, or when the control API asks for it),
//!   `expired_token`, `authorization_declined` (OIDC: `access_denied`), and finally tokens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use serde_json::json;

use crate::ids::random_token;
use crate::oauth_error::scope_error;
use crate::oauth_error::{no_store, OAuthError};
use crate::pages;
use crate::scopes::{Permission, Scopes};
use crate::state::{secret_key, Flavor, Idp, Store};
pub use crate::state::{DeviceGrant, DeviceStatus};

/// How long a device code stays usable (Entra: 15 minutes).
const DEVICE_CODE_SECONDS: i64 = 900;
/// RFC 8628 §3.5: each `slow_down` adds five seconds to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Letters that cannot be mistaken for one another when typed from another screen.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";

fn normalise_user_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn new_user_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..9)
        .map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

/// `POST …/devicecode`: a device code for `client_id` and `scope`.
pub async fn device_code(
    idp: Arc<Idp>,
    tenant: String,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    match issue_device_code(&idp, &tenant, &headers, &body) {
        Ok(document) => {
            let mut response = axum::Json(document).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => error.into_response_for(&idp, None),
    }
}

fn issue_device_code(
    idp: &Idp,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    idp.resolve_tenant(tenant)?;
    let mut store = idp.store();
    store.count("devicecode");
    if !store.device.enabled {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The device authorization grant is not enabled on this provider.",
        ));
    }
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body)
        .ok()
        .filter(|_| form_encoded)
        .ok_or_else(|| {
            OAuthError::invalid_request(
                9002313,
                "Invalid request. Request is malformed or invalid.",
            )
        })?;
    let get = |name: &str| form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let client_id = get("client_id").ok_or_else(|| {
        OAuthError::invalid_request(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    })?;
    let client = idp.seed.client(client_id).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                idp.seed.tenant.display_name
            ),
        )
    })?;
    let scopes = Scopes::parse(get("scope").unwrap_or(""), &idp.seed, client)
        .map_err(|e| scope_error("invalid_scope", &e))?;
    let claims = match get("claims") {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| {
                    OAuthError::invalid_request(
                        9002313,
                        "Invalid request. Request is malformed or invalid. The claims parameter is not a JSON object.",
                    )
                })?,
        ),
    };
    let now = idp.clock.now();
    store
        .device_codes
        .retain(|_, grant| grant.expires_at >= now);
    let device_code = random_token(48);
    idp.witness(&device_code);
    let user_code = new_user_code();
    let interval = store.device.interval;
    store.device_codes.insert(
        secret_key(&device_code),
        DeviceGrant {
            client_id: client.client_id.clone(),
            tenant: tenant.to_owned(),
            user_code: user_code.clone(),
            handle: random_token(24),
            permissions: scopes.permissions,
            claims,
            expires_at: now + DEVICE_CODE_SECONDS,
            interval: Duration::from_secs(interval),
            last_poll: None,
            status: DeviceStatus::Pending,
        },
    );
    let verification_uri = idp.url("devicelogin");
    Ok(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_SECONDS,
        "interval": interval,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
    }))
}

/// What the token endpoint makes of a device-code poll: the grant to redeem (its code and
/// permissions), or the error to answer with.
pub fn poll(
    idp: &Idp,
    store: &mut Store,
    device_code: &str,
    client_id: &str,
) -> Result<(String, Option<serde_json::Value>), OAuthError> {
    let key = secret_key(device_code);
    let now = idp.clock.now();
    let Some(grant) = store.device_codes.get_mut(&key) else {
        return Err(OAuthError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed. The device code is not known.",
        ));
    };
    if !grant.client_id.eq_ignore_ascii_case(client_id) {
        return Err(OAuthError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed. The device code was issued to another application.",
        ));
    }
    if grant.expires_at < now {
        store.device_codes.remove(&key);
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        ));
    }
    let polled = Instant::now();
    let too_fast = grant
        .last_poll
        .is_some_and(|last| polled.duration_since(last) < grant.interval);
    grant.last_poll = Some(polled);
    let forced = store.device.slow_down > 0;
    if forced || too_fast {
        store.device.slow_down = store.device.slow_down.saturating_sub(1);
        if let Some(grant) = store.device_codes.get_mut(&key) {
            grant.interval += SLOW_DOWN_STEP;
        }
        store.count("token:device_code:slow_down");
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "slow_down",
            70016,
            "OAuth 2.0 device flow error. The client is polling too often; wait five seconds more between requests.",
        ));
    }
    match grant.status.clone() {
        DeviceStatus::Pending => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )),
        DeviceStatus::Declined => {
            store.device_codes.remove(&key);
            let error = match idp.flavor {
                Flavor::Entra => "authorization_declined",
                Flavor::Oidc => "access_denied",
            };
            Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                error,
                70019,
                "The end user denied the authorization request.",
            ))
        }
        DeviceStatus::Approved(code) => {
            let claims = grant.claims.clone();
            store.device_codes.remove(&key);
            Ok((code, claims))
        }
    }
}

/// The redirect URI of the authorize requests that complete device codes.
pub fn completion_uri(idp: &Idp) -> String {
    idp.url("devicelogin/complete")
}

/// `GET /devicelogin`: the form for the user code.
pub async fn enter_code_page(idp: Arc<Idp>) -> Response {
    Html(pages::device_code(&idp.url("devicelogin"), None)).into_response()
}

/// `POST /devicelogin`: checks the user code and starts the sign-in for it.
pub async fn submit_code(idp: Arc<Idp>, form: HashMap<String, String>) -> Response {
    let typed = normalise_user_code(form.get("user_code").map(String::as_str).unwrap_or(""));
    let now = idp.clock.now();
    let found = {
        let store = idp.store();
        store
            .device_codes
            .values()
            .find(|g| {
                g.user_code == typed && g.expires_at >= now && g.status == DeviceStatus::Pending
            })
            .cloned()
    };
    let Some(grant) = found else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::device_code(
                &idp.url("devicelogin"),
                Some("That code didn't work. Check the code and try again."),
            )),
        )
            .into_response();
    };
    let authorize = match idp.flavor {
        Flavor::Entra => idp.url(&format!("{}/oauth2/v2.0/authorize", grant.tenant)),
        Flavor::Oidc => idp.url("authorize"),
    };
    let scope: Vec<String> = grant.permissions.iter().map(Permission::display).collect();
    let mut url = match url::Url::parse(&authorize) {
        Ok(url) => url,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(pages::error(&e.to_string())),
            )
                .into_response()
        }
    };
    url.query_pairs_mut()
        .append_pair("client_id", &grant.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &completion_uri(&idp))
        .append_pair("response_mode", "query")
        .append_pair("scope", &scope.join(" "))
        .append_pair("state", &grant.handle)
        .append_pair("prompt", "select_account");
    if let Some(claims) = &grant.claims {
        url.query_pairs_mut()
            .append_pair("claims", &claims.to_string());
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// `GET /devicelogin/complete`: the end of the sign-in for a device code.
pub async fn complete(idp: Arc<Idp>, query: HashMap<String, String>) -> Response {
    let handle = query.get("state").map(String::as_str).unwrap_or("");
    let mut store = idp.store();
    let Some(grant) = store
        .device_codes
        .values_mut()
        .find(|g| !handle.is_empty() && g.handle == handle && g.status == DeviceStatus::Pending)
    else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::error(
                "This sign-in request is not known or has already been used.",
            )),
        )
            .into_response();
    };
    match query.get("code") {
        Some(code) => {
            grant.status = DeviceStatus::Approved(code.clone());
            Html(pages::device_done(
                "You're signed in",
                "You have signed in to Tessera on your device. You may now close this window.",
            ))
            .into_response()
        }
        None => {
            grant.status = DeviceStatus::Declined;
            Html(pages::device_done(
                "Sign-in cancelled",
                "You declined the sign-in on your device. You may now close this window.",
            ))
            .into_response()
        }
    }
}
