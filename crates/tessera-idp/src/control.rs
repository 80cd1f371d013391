//! `/__control/`: the tests' levers (lifetimes, revocation, MFA, consent, sessions, faults,
//! claims challenges, key rotation, clock skew) and counters. Loopback callers only.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::keys::SigningKey;
use crate::state::{ClaimsChallenge, Idp};
use crate::tls::Peer;

type Shared = State<Arc<Idp>>;

/// The control routes, to be nested under `/__control`; with a `token`, only callers that
/// send it as `Authorization: Bearer` get in (the app's embedded instance: any local program
/// can reach its port, and the token is what proves the caller shares the user's data folder).
pub fn routes(token: Option<Arc<str>>) -> Router<Arc<Idp>> {
    let proof_token = token.clone();
    let authenticate = move |request: Request, next: Next| {
        let token = token.clone();
        async move {
            match &token {
                Some(token) if !bearer_matches(&request, token) => problem(
                    StatusCode::UNAUTHORIZED,
                    "the control API of this provider needs its bearer token",
                ),
                _ => next.run(request).await,
            }
        }
    };
    Router::new()
        .route("/", get(index))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/lifetimes", get(get_lifetimes).post(set_lifetimes))
        .route(
            "/users/{username}/refresh-tokens/expire",
            post(expire_refresh_tokens),
        )
        .route(
            "/users/{username}/refresh-tokens/revoke",
            post(revoke_refresh_tokens),
        )
        .route(
            "/users/{username}/refresh-tokens/forget",
            post(forget_refresh_tokens),
        )
        .route("/users/{username}/mfa", post(set_mfa))
        .route("/users/{username}/consent", delete(withdraw_consent))
        .route("/users/{username}/sessions", delete(end_sessions))
        .route(
            "/users/{username}/claims-challenge",
            post(set_claims_challenge).delete(clear_claims_challenge),
        )
        .route(
            "/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/keys/rotate", post(rotate_keys))
        .route("/clock", post(set_clock))
        .route("/device-code", get(get_device).post(set_device))
        .layer(axum::middleware::from_fn(authenticate))
        // Outside the token check: how a client that holds the token learns that this is the
        // provider that holds it too, without sending it to whatever listens on the port.
        .route(
            "/proof",
            get(
                move |axum::extract::Query(q): axum::extract::Query<ProofQuery>| {
                    let token = proof_token.clone();
                    async move {
                        match token {
                            Some(token) => {
                                ok(json!({ "proof": control_proof(&token, &q.challenge) }))
                            }
                            None => {
                                problem(StatusCode::NOT_FOUND, "this provider has no control token")
                            }
                        }
                    }
                },
            ),
        )
        .layer(axum::middleware::from_fn(loopback_only))
}

#[derive(Deserialize)]
struct ProofQuery {
    challenge: String,
}

/// `GET /__control/proof?challenge=C`'s answer: HMAC-SHA256 keyed with the control token over
/// [`PROOF_CONTEXT`] and `C`, in lower-case hex. A client that holds the token checks it; one
/// that does not learns nothing about the token.
pub fn control_proof(token: &str, challenge: &str) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()) else {
        return String::new();
    };
    mac.update(PROOF_CONTEXT.as_bytes());
    mac.update(challenge.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the proof's MAC covers before the challenge, so that it proves nothing else.
pub const PROOF_CONTEXT: &str = "tessera-idp control proof\n";

/// Whether the request carries `token` as its bearer credential, compared in constant time.
fn bearer_matches(request: &Request, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(token.as_bytes())))
}

/// Refuses callers that are not on this machine, even if the provider was bound wider, and
/// state-changing requests that are not JSON: a web page can send a "simple" cross-site
/// request (a form, a bodiless `fetch`) to a loopback port without a CORS preflight, but not
/// one with `Content-Type: application/json` (Fetch Standard, CORS-safelisted request
/// headers).
async fn loopback_only(request: Request, next: Next) -> Response {
    let loopback = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .is_some_and(|ConnectInfo(Peer(addr))| addr.ip().is_loopback());
    if !loopback {
        return problem(
            StatusCode::FORBIDDEN,
            "the control API answers loopback callers only",
        );
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if changes_state && !json {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "state-changing control requests must be application/json",
        );
    }
    next.run(request).await
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn ok(value: Value) -> Response {
    Json(value).into_response()
}

/// A JSON body, or a 400 that says what is wrong with it.
fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, Response> {
    payload.map(|Json(v)| v).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("invalid JSON body: {}", e.body_text()),
        )
    })
}

fn user_oid(idp: &Idp, username: &str) -> Result<String, Response> {
    idp.seed
        .user_by_name(username)
        .map(|u| u.object_id.clone())
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, &format!("unknown user {username:?}")))
}

async fn index() -> Response {
    ok(json!({
        "GET /__control/stats": "request counts by endpoint and grant type",
        "POST /__control/stats/reset": "zero the counters",
        "GET|POST /__control/lifetimes": "{access_token, refresh_token, refresh_in} in seconds",
        "POST /__control/users/{username}/refresh-tokens/expire": "next refresh: invalid_grant AADSTS700082",
        "POST /__control/users/{username}/refresh-tokens/revoke": "next refresh: invalid_grant AADSTS50173",
        "POST /__control/users/{username}/refresh-tokens/forget": "the provider forgets them, as after losing its state: next refresh gets the unknown-token answer",
        "POST /__control/users/{username}/mfa": "{required: bool}; refresh: interaction_required AADSTS50076",
        "DELETE /__control/users/{username}/consent": "withdraw consent (AADSTS65001)",
        "DELETE /__control/users/{username}/sessions": "end the user's browser sessions (prompt=none: login_required)",
        "POST|DELETE /__control/users/{username}/claims-challenge": "{kind: nbf} or {kind: acrs, value}; Graph answers insufficient_claims",
        "GET|POST|DELETE /__control/faults": "{target, kind, count, ...} or a list of them",
        "POST /__control/keys/rotate": "{retire_old: bool}",
        "POST /__control/clock": "{skew_seconds}",
        "GET|POST /__control/device-code": "{enabled, interval, slow_down}: the device flow's availability, polling interval in seconds, and how many next polls get slow_down",
    }))
}

async fn get_device(State(idp): Shared) -> Response {
    ok(json!(idp.store().device))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicePatch {
    enabled: Option<bool>,
    interval: Option<u64>,
    slow_down: Option<u32>,
}

async fn set_device(
    State(idp): Shared,
    payload: Result<Json<DevicePatch>, JsonRejection>,
) -> Response {
    let patch = match body(payload) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if patch.interval.is_some_and(|i| !(1..=60).contains(&i)) {
        return problem(StatusCode::BAD_REQUEST, "interval must be 1 to 60 seconds");
    }
    let mut store = idp.store();
    let device = &mut store.device;
    if let Some(v) = patch.enabled {
        device.enabled = v;
    }
    if let Some(v) = patch.interval {
        device.interval = v;
    }
    if let Some(v) = patch.slow_down {
        device.slow_down = v;
    }
    ok(json!(*device))
}

async fn stats(State(idp): Shared) -> Response {
    ok(json!(idp.store().stats))
}

async fn reset_stats(State(idp): Shared) -> Response {
    idp.store().stats.clear();
    ok(json!({}))
}

async fn get_lifetimes(State(idp): Shared) -> Response {
    ok(json!(idp.store().lifetimes))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LifetimesPatch {
    access_token: Option<i64>,
    refresh_token: Option<i64>,
    /// `null` clears `refresh_in`; absent leaves it.
    #[serde(default, with = "double_option")]
    refresh_in: Option<Option<i64>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

async fn set_lifetimes(
    State(idp): Shared,
    payload: Result<Json<LifetimesPatch>, JsonRejection>,
) -> Response {
    let patch = match body(payload) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let positive = |v: Option<i64>| v.is_none_or(|s| s > 0);
    if !positive(patch.access_token)
        || !positive(patch.refresh_token)
        || !positive(patch.refresh_in.flatten())
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "lifetimes must be positive numbers of seconds",
        );
    }
    let mut store = idp.store();
    if let Some(v) = patch.access_token {
        store.lifetimes.access_token = v;
    }
    if let Some(v) = patch.refresh_token {
        store.lifetimes.refresh_token = v;
    }
    if let Some(v) = patch.refresh_in {
        store.lifetimes.refresh_in = v;
    }
    ok(json!(store.lifetimes))
}

async fn expire_refresh_tokens(State(idp): Shared, Path(username): Path<String>) -> Response {
    let oid = match user_oid(&idp, &username) {
        Ok(oid) => oid,
        Err(r) => return r,
    };
    let mut store = idp.store();
    let upto = store.sequence;
    store.flags(&oid).expired_upto = upto;
    ok(json!({ "expired_upto": upto }))
}

async fn revoke_refresh_tokens(State(idp): Shared, Path(username): Path<String>) -> Response {
    let oid = match user_oid(&idp, &username) {
        Ok(oid) => oid,
        Err(r) => return r,
    };
    let mut store = idp.store();
    let upto = store.sequence;
    store.flags(&oid).revoked_upto = upto;
    ok(json!({ "revoked_upto": upto }))
}

async fn forget_refresh_tokens(State(idp): Shared, Path(username): Path<String>) -> Response {
    let oid = match user_oid(&idp, &username) {
        Ok(oid) => oid,
        Err(r) => return r,
    };
    let mut store = idp.store();
    let before = store.refresh_tokens.len();
    store.refresh_tokens.retain(|_, grant| grant.oid != oid);
    ok(json!({ "forgotten": before - store.refresh_tokens.len() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaSetting {
    required: bool,
}

async fn set_mfa(
    State(idp): Shared,
    Path(username): Path<String>,
    payload: Result<Json<MfaSetting>, JsonRejection>,
) -> Response {
    let (oid, setting) = match (user_oid(&idp, &username), body(payload)) {
        (Ok(oid), Ok(s)) => (oid, s),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    idp.store().flags(&oid).mfa_required = setting.required;
    ok(json!({ "mfa_required": setting.required }))
}

async fn withdraw_consent(State(idp): Shared, Path(username): Path<String>) -> Response {
    let oid = match user_oid(&idp, &username) {
        Ok(oid) => oid,
        Err(r) => return r,
    };
    let mut store = idp.store();
    let before = store.consents.len();
    store.consents.retain(|(user, _), _| *user != oid);
    ok(json!({ "withdrawn": before - store.consents.len() }))
}

async fn end_sessions(State(idp): Shared, Path(username): Path<String>) -> Response {
    let oid = match user_oid(&idp, &username) {
        Ok(oid) => oid,
        Err(r) => return r,
    };
    let mut store = idp.store();
    let mut ended = 0;
    for session in store.sessions.values_mut() {
        let before = session.users.len();
        session.users.retain(|u| u.oid != oid);
        ended += before - session.users.len();
    }
    ok(json!({ "ended": ended }))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ChallengeRequest {
    Nbf,
    Acrs { value: String },
}

async fn set_claims_challenge(
    State(idp): Shared,
    Path(username): Path<String>,
    payload: Result<Json<ChallengeRequest>, JsonRejection>,
) -> Response {
    let (oid, request) = match (user_oid(&idp, &username), body(payload)) {
        (Ok(oid), Ok(r)) => (oid, r),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let challenge = match request {
        ChallengeRequest::Nbf => ClaimsChallenge::Nbf {
            since: idp.clock.now(),
        },
        ChallengeRequest::Acrs { value } => ClaimsChallenge::Acrs { value },
    };
    idp.store().flags(&oid).claims_challenge = Some(challenge.clone());
    ok(json!(challenge))
}

async fn clear_claims_challenge(State(idp): Shared, Path(username): Path<String>) -> Response {
    let oid = match user_oid(&idp, &username) {
        Ok(oid) => oid,
        Err(r) => return r,
    };
    idp.store().flags(&oid).claims_challenge = None;
    ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<Fault>),
    One(Fault),
}

async fn add_faults(
    State(idp): Shared,
    payload: Result<Json<OneOrMany>, JsonRejection>,
) -> Response {
    let faults = match body(payload) {
        Ok(OneOrMany::One(f)) => vec![f],
        Ok(OneOrMany::Many(f)) => f,
        Err(r) => return r,
    };
    let mut store = idp.store();
    store.faults.extend(faults);
    ok(json!(store.faults))
}

async fn list_faults(State(idp): Shared) -> Response {
    ok(json!(idp.store().faults))
}

async fn clear_faults(State(idp): Shared) -> Response {
    idp.store().faults.clear();
    ok(json!([]))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    #[serde(default)]
    retire_old: bool,
}

async fn rotate_keys(State(idp): Shared, payload: Option<Json<RotateRequest>>) -> Response {
    let request = payload.map(|Json(r)| r).unwrap_or_default();
    let algorithm = idp.behaviour.signing_algorithm;
    let key = match tokio::task::spawn_blocking(move || SigningKey::generate_for(algorithm)).await {
        Ok(Ok(key)) => key,
        _ => return problem(StatusCode::INTERNAL_SERVER_ERROR, "key generation failed"),
    };
    let kid = key.kid.clone();
    idp.keys
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .rotate(key, request.retire_old);
    ok(json!({ "kid": kid }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    skew_seconds: i64,
}

async fn set_clock(
    State(idp): Shared,
    payload: Result<Json<ClockRequest>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(request) => {
            idp.clock.set_skew(request.skew_seconds);
            ok(json!({ "skew_seconds": request.skew_seconds, "now": idp.clock.now() }))
        }
        Err(r) => r,
    }
}
