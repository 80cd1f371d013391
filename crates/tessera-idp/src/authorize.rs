//! The authorization endpoint and the sign-in pages behind it: credentials, account picker,
//! multi-factor approval, "Stay signed in?", consent, then the redirect with the code.
//!
//! Request validation follows Entra: an unknown client or an unregistered redirect URI is shown
//! to the user (the redirect URI cannot be trusted); every later error goes back to the client
//! on the redirect URI with `error`, `error_description` and `state`
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response>).

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use crate::behaviour::{ClaimsParameter, RedirectUriMatching};
use crate::ids::random_token;
use crate::oauth_error::{consent_required_error, mfa_required_error, scope_error, OAuthError};
use crate::pages;
use crate::scopes::{Permission, ScopeError, Scopes};
use crate::state::{
    secret_key, AuthorizeRequest, BrowserSession, CodeGrant, Flavor, Idp, SessionUser, Store,
    Transaction,
};

/// Persistent ("Stay signed in: yes") session cookie, with an expiry.
pub const PERSISTENT_COOKIE: &str = "ESTSAUTHPERSISTENT";
/// Browser-session cookie ("Stay signed in: no").
pub const SESSION_COOKIE: &str = "ESTSAUTH";
const PERSISTENT_SESSION_SECONDS: i64 = 90 * 86_400;
const BROWSER_SESSION_SECONDS: i64 = 86_400;
const TRANSACTION_SECONDS: i64 = 15 * 60;

/// `GET …/oauth2/v2.0/authorize`.
pub async fn authorize(
    idp: Arc<Idp>,
    tenant: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let request = {
        let mut store = idp.store();
        if query.get("prompt").map(String::as_str) == Some("none") {
            store.count("authorize:prompt=none");
        }
        // MSAL puts its correlation id on the authorize URL too (msal-common
        // `RequestParameterBuilder.addCorrelationId`): counted so tests see it arrive.
        if query.contains_key("client-request-id") {
            store.count("authorize:client-request-id");
        }
        match validate(&idp, &tenant, &query) {
            Ok(request) => request,
            Err(Rejection::Show(status, message)) => {
                return (status, Html(pages::error(&message))).into_response()
            }
            Err(Rejection::Redirect(target, error)) => {
                return redirect_error(&idp, &target, &error);
            }
        }
    };
    let tx_id = random_token(24);
    let tx = Transaction {
        request,
        session_id: session_cookie(&headers),
        user: None,
        fresh_login: false,
        picked: false,
        mfa: false,
        keep_signed_in: None,
        consented: false,
        expires_at: idp.clock.now() + TRANSACTION_SECONDS,
    };
    idp.store().transactions.insert(tx_id.clone(), tx);
    advance(&idp, &tx_id)
}

/// `POST …/login/{step}`: a sign-in page's form.
pub async fn login_step(idp: Arc<Idp>, step: String, form: HashMap<String, String>) -> Response {
    let tx_id = form.get("tx").cloned().unwrap_or_default();
    let now = idp.clock.now();
    let mut store = idp.store();
    store.count(&format!("login:{step}"));
    // Users of the transaction's browser session: the only ones the account picker may choose.
    let session_oids: Vec<String> = store
        .transactions
        .get(&tx_id)
        .and_then(|tx| tx.session_id.as_ref())
        .and_then(|sid| store.sessions.get(&secret_key(sid)))
        .map(|s| s.users.iter().map(|u| u.oid.clone()).collect())
        .unwrap_or_default();
    let Some(tx) = store
        .transactions
        .get_mut(&tx_id)
        .filter(|tx| tx.expires_at > now)
    else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::error(
                "Your sign-in request has expired or is unknown. Go back to the application and start again.",
            )),
        )
            .into_response();
    };
    match step.as_str() {
        "credentials" => {
            let username = form.get("username").map(String::as_str).unwrap_or("");
            let password = form.get("password").map(String::as_str).unwrap_or("");
            let message = match idp.seed.user_by_name(username) {
                None => Some(
                    "AADSTS50034: We couldn't find an account with that username. Try another, or use one of the test users.",
                ),
                Some(user) if user.password != password => {
                    Some("AADSTS50126: Your account or password is incorrect.")
                }
                Some(user) => {
                    tx.user = Some(user.object_id.clone());
                    tx.fresh_login = true;
                    tx.keep_signed_in = None;
                    None
                }
            };
            if let Some(message) = message {
                let action = login_action(&idp, &tx.request.tenant, "credentials");
                return Html(pages::login(&action, &tx_id, username, Some(message)))
                    .into_response();
            }
        }
        "pick" => match form.get("account").map(String::as_str) {
            Some("other") | None => {
                tx.picked = true;
                let action = login_action(&idp, &tx.request.tenant, "credentials");
                return Html(pages::login(&action, &tx_id, "", None)).into_response();
            }
            Some(oid) => {
                tx.picked = true;
                if session_oids.iter().any(|o| o == oid) {
                    tx.user = Some(oid.to_owned());
                } else {
                    let action = login_action(&idp, &tx.request.tenant, "credentials");
                    return Html(pages::login(&action, &tx_id, "", None)).into_response();
                }
            }
        },
        "mfa" if tx.user.is_some() => tx.mfa = true,
        "kmsi" if tx.fresh_login => {
            tx.keep_signed_in = Some(form.get("keep").map(String::as_str) == Some("yes"))
        }
        "consent" if tx.user.is_some() => {
            if form.get("decision").map(String::as_str) == Some("accept") {
                tx.consented = true;
            } else {
                let request = tx.request.clone();
                store.transactions.remove(&tx_id);
                drop(store);
                // Entra answers the user's cancel with `error_subcode=cancel`, which is how MSAL
                // tells it from other denials (MSAL.NET `AuthorizationResult`).
                let error = OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "access_denied",
                    65004,
                    "User declined to consent to access the app.",
                )
                .with_suberror("cancel");
                return redirect_error(&idp, &Target::from(&request), &error);
            }
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Html(pages::error(&format!(
                    "The sign-in step {step:?} is not expected now. Go back to the application and start again."
                ))),
            )
                .into_response()
        }
    }
    drop(store);
    advance(&idp, &tx_id)
}

/// What the sign-in needs next.
enum Step {
    Credentials,
    Pick,
    Mfa,
    KeepSignedIn,
    Consent,
    Done,
}

/// Decides the next page, or finishes with the code.
fn advance(idp: &Idp, tx_id: &str) -> Response {
    let mut store = idp.store();
    let Some(mut tx) = store.transactions.get(tx_id).cloned() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let step = next_step(idp, &mut store, &mut tx);
    let silent = tx.request.prompt.as_deref() == Some("none");
    let target = Target::from(&tx.request);
    // A tenant that has not invited the user refuses them once they are known (AADSTS50020).
    let user = tx.user.as_deref().and_then(|oid| idp.seed.user_by_oid(oid));
    if let Some(Err(error)) = user.map(|u| idp.object_id_in(&tx.request.tenant, u)) {
        store.transactions.remove(tx_id);
        drop(store);
        return redirect_error(idp, &target, &error);
    }
    if silent {
        let error = match step {
            Step::Credentials => Some(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            )),
            Step::Pick => Some(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "interaction_required",
                16000,
                "Multiple user identities are available for the current request. Select one account.",
            )),
            Step::Mfa => Some(mfa_required_error(&tx.request.client_id)),
            Step::Consent => Some(consent_required_error(idp, &tx.request.client_id)),
            Step::KeepSignedIn | Step::Done => None,
        };
        if let Some(error) = error {
            store.transactions.remove(tx_id);
            drop(store);
            return redirect_error(idp, &target, &error);
        }
    }
    let tenant = tx.request.tenant.clone();
    let page = match step {
        Step::Credentials => {
            // An opaque login_hint claim stands for its user's name on the form.
            let hint = tx.request.login_hint.clone().unwrap_or_default();
            let hint = crate::hints::login_hint_oid(&hint)
                .and_then(|oid| idp.seed.user_by_oid(&oid).map(|u| u.username.clone()))
                .unwrap_or(hint);
            pages::login(
                &login_action(idp, &tenant, "credentials"),
                tx_id,
                &hint,
                None,
            )
        }
        Step::Pick => {
            let accounts = session_users(idp, &store, &tx)
                .into_iter()
                .filter_map(|u| idp.seed.user_by_oid(&u.oid))
                .map(|u| {
                    (
                        u.object_id.clone(),
                        u.username.clone(),
                        u.display_name.clone(),
                    )
                })
                .collect::<Vec<_>>();
            pages::pick_account(&login_action(idp, &tenant, "pick"), tx_id, &accounts)
        }
        Step::Mfa => {
            let username = tx
                .user
                .as_deref()
                .and_then(|oid| idp.seed.user_by_oid(oid))
                .map(|u| u.username.clone())
                .unwrap_or_default();
            pages::mfa(&login_action(idp, &tenant, "mfa"), tx_id, &username)
        }
        Step::KeepSignedIn => pages::keep_signed_in(&login_action(idp, &tenant, "kmsi"), tx_id),
        Step::Consent => {
            let app = idp
                .seed
                .client(&tx.request.client_id)
                .map(|c| c.display_name.clone())
                .unwrap_or_default();
            let permissions: Vec<&Permission> = tx.request.permissions.iter().collect();
            pages::consent(
                &login_action(idp, &tenant, "consent"),
                tx_id,
                &app,
                &permissions,
            )
        }
        Step::Done => {
            store.transactions.remove(tx_id);
            let (code, cookie) = finish(idp, &mut store, &tx);
            drop(store);
            let mut params = vec![("code", code)];
            if idp.flavor == Flavor::Entra {
                params.push(("session_state", crate::ids::guid()));
                // Entra returns `client_info` on the authorization response too when asked
                // (`client_info=1`), as MSAL reads it there.
                if tx.request.client_info {
                    if let Some(oid) = &tx.user {
                        params.push((
                            "client_info",
                            crate::hints::client_info(oid, &idp.seed.tenant.id),
                        ));
                    }
                }
            }
            let mut response = redirect(idp, &target, params);
            if let Some(cookie) = cookie {
                for value in cookie {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        response.headers_mut().append(header::SET_COOKIE, value);
                    }
                }
            }
            return response;
        }
    };
    // Keep what next_step decided (a user chosen from the session, for instance).
    store.transactions.insert(tx_id.to_owned(), tx);
    Html(page).into_response()
}

fn next_step(idp: &Idp, store: &mut Store, tx: &mut Transaction) -> Step {
    let signed_in = session_users(idp, store, tx);
    let prompt = tx.request.prompt.as_deref();
    if tx.user.is_none() {
        if prompt == Some("login") {
            return Step::Credentials;
        }
        if prompt == Some("select_account") && !tx.picked {
            return if signed_in.is_empty() {
                Step::Credentials
            } else {
                Step::Pick
            };
        }
        // `sid` (OpenID Connect Front-Channel Logout §3) names one user's session in this
        // browser.
        let session_named = tx.request.sid.as_ref().and_then(|sid| {
            let cookie = tx.session_id.as_deref()?;
            signed_in
                .iter()
                .find(|u| &session_id_claim(cookie, &u.oid) == sid)
        });
        if let Some(user) = session_named {
            tx.user = Some(user.oid.clone());
        } else if let Some(hint) = &tx.request.login_hint {
            // A username, or the opaque `login_hint` claim of an earlier ID token.
            let claimed = crate::hints::login_hint_oid(hint);
            let hinted = signed_in.iter().find(|u| {
                claimed.as_deref() == Some(u.oid.as_str())
                    || idp
                        .seed
                        .user_by_oid(&u.oid)
                        .is_some_and(|user| user.username.eq_ignore_ascii_case(hint))
            });
            match hinted {
                Some(user) => tx.user = Some(user.oid.clone()),
                None => return Step::Credentials,
            }
        } else {
            match signed_in.as_slice() {
                [] => return Step::Credentials,
                [only] => tx.user = Some(only.oid.clone()),
                _ => return Step::Pick,
            }
        }
    }
    let Some(oid) = tx.user.clone() else {
        return Step::Credentials;
    };
    let session_mfa = signed_in.iter().any(|u| u.oid == oid && u.mfa);
    if store.flags(&oid).mfa_required && !tx.mfa && !session_mfa {
        return Step::Mfa;
    }
    if tx.fresh_login && tx.keep_signed_in.is_none() {
        return Step::KeepSignedIn;
    }
    let consented = store
        .consents
        .get(&(oid, tx.request.client_id.clone()))
        .cloned()
        .unwrap_or_default();
    let missing = tx
        .request
        .permissions
        .iter()
        .any(|p| !consented.contains(p));
    if !tx.consented && (prompt == Some("consent") || missing) {
        return Step::Consent;
    }
    Step::Done
}

/// The users signed in in the transaction's browser session, if it is still alive.
fn session_users(idp: &Idp, store: &Store, tx: &Transaction) -> Vec<SessionUser> {
    let now = idp.clock.now();
    tx.session_id
        .as_ref()
        .and_then(|sid| store.sessions.get(&secret_key(sid)))
        .filter(|s| s.expires_at > now)
        .map(|s| s.users.clone())
        .unwrap_or_default()
}

/// Records consent and the browser session, and issues the code. Returns the code and the
/// cookies to set.
fn finish(idp: &Idp, store: &mut Store, tx: &Transaction) -> (String, Option<Vec<String>>) {
    let now = idp.clock.now();
    let oid = tx.user.clone().unwrap_or_default();
    let client_id = tx.request.client_id.clone();
    if tx.consented {
        store
            .consents
            .entry((oid.clone(), client_id.clone()))
            .or_default()
            .extend(tx.request.permissions.iter().cloned());
    }
    let existing = session_users(idp, store, tx)
        .into_iter()
        .find(|u| u.oid == oid);
    let mfa = tx.mfa || existing.as_ref().is_some_and(|u| u.mfa);
    let auth_time = if tx.fresh_login {
        now
    } else {
        existing.as_ref().map_or(now, |u| u.auth_time)
    };
    let mut cookies = None;
    let mut session_cookie_value = tx.session_id.clone();
    if tx.fresh_login || tx.mfa {
        let alive = tx.session_id.clone().filter(|sid| {
            store
                .sessions
                .get(&secret_key(sid))
                .is_some_and(|s| s.expires_at > now)
        });
        let sid = alive.unwrap_or_else(|| random_token(32));
        let persistent = tx.keep_signed_in.unwrap_or_else(|| {
            store
                .sessions
                .get(&secret_key(&sid))
                .is_some_and(|s| s.persistent)
        });
        let lifetime = if persistent {
            PERSISTENT_SESSION_SECONDS
        } else {
            BROWSER_SESSION_SECONDS
        };
        let session = store
            .sessions
            .entry(secret_key(&sid))
            .or_insert(BrowserSession {
                users: vec![],
                persistent,
                expires_at: now + lifetime,
            });
        session.users.retain(|u| u.oid != oid);
        session.users.insert(
            0,
            SessionUser {
                oid: oid.clone(),
                mfa,
                auth_time,
            },
        );
        session.persistent = persistent;
        session.expires_at = now + lifetime;
        cookies = Some(session_cookies(&sid, persistent));
        session_cookie_value = Some(sid);
    }
    let session = session_cookie_value.map(|cookie| session_id_claim(&cookie, &oid));
    let code = random_token(48);
    idp.witness(&code);
    store.codes.insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri: tx.request.redirect_uri.clone(),
            oid,
            permissions: tx.request.permissions.clone(),
            nonce: tx.request.nonce.clone(),
            code_challenge: tx.request.code_challenge.clone(),
            claims: tx.request.claims.clone(),
            mfa,
            auth_time,
            issued_at: now,
            redeemed: false,
            session,
        },
    );
    (code, cookies)
}

/// The `sid` claim of `oid`'s session in the browser whose session cookie is `cookie`: a
/// digest, never the cookie itself.
pub fn session_id_claim(cookie: &str, oid: &str) -> String {
    secret_key(&format!("{cookie}:{oid}"))[..22].to_owned()
}

/// `Set-Cookie` values for a session: a persistent cookie with an expiry, or a browser-session
/// cookie, and the other one cleared.
pub fn session_cookies(sid: &str, persistent: bool) -> Vec<String> {
    let attributes = "Path=/; HttpOnly; SameSite=Lax";
    if persistent {
        vec![
            format!(
                "{PERSISTENT_COOKIE}={sid}; Max-Age={PERSISTENT_SESSION_SECONDS}; {attributes}"
            ),
            format!("{SESSION_COOKIE}=; Max-Age=0; {attributes}"),
        ]
    } else {
        vec![
            format!("{SESSION_COOKIE}={sid}; {attributes}"),
            format!("{PERSISTENT_COOKIE}=; Max-Age=0; {attributes}"),
        ]
    }
}

/// The session id from the request's cookies, persistent cookie first.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let mut found: HashMap<&str, &str> = HashMap::new();
    for value in headers.get_all(header::COOKIE) {
        for pair in value.to_str().unwrap_or("").split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                found.insert(name, value);
            }
        }
    }
    [PERSISTENT_COOKIE, SESSION_COOKIE]
        .iter()
        .filter_map(|name| found.get(name))
        .find(|v| !v.is_empty())
        .map(|v| (*v).to_owned())
}

/// Where and how a response goes back to the client.
#[derive(Debug, Clone)]
pub struct Target {
    redirect_uri: String,
    response_mode: String,
    state: Option<String>,
}

impl From<&AuthorizeRequest> for Target {
    fn from(request: &AuthorizeRequest) -> Self {
        Target {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode.clone(),
            state: request.state.clone(),
        }
    }
}

fn redirect_error(idp: &Idp, target: &Target, error: &OAuthError) -> Response {
    redirect(idp, target, error.redirect_params(idp.flavor))
}

/// Sends `params` (plus `state`, and `iss` per RFC 9207 for the OIDC flavour) to the redirect
/// URI in the requested response mode.
fn redirect(idp: &Idp, target: &Target, mut params: Vec<(&'static str, String)>) -> Response {
    if let Some(state) = &target.state {
        params.push(("state", state.clone()));
    }
    if idp.flavor == Flavor::Oidc {
        params.push(("iss", idp.issuer("")));
    }
    let Ok(mut url) = Url::parse(&target.redirect_uri) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::error("The redirect URI is not a valid URL.")),
        )
            .into_response();
    };
    match target.response_mode.as_str() {
        "form_post" => Html(pages::form_post(&target.redirect_uri, &params)).into_response(),
        "fragment" => {
            let fragment = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            url.set_fragment(Some(&fragment));
            found(url.as_str())
        }
        _ => {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            found(url.as_str())
        }
    }
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The form action for a sign-in step.
fn login_action(idp: &Idp, tenant: &str, step: &str) -> String {
    match idp.flavor {
        Flavor::Entra => idp.url(&format!("{tenant}/login/{step}")),
        Flavor::Oidc => idp.url(&format!("login/{step}")),
    }
}

enum Rejection {
    /// Shown to the user: the redirect URI cannot be trusted.
    Show(StatusCode, String),
    /// Sent to the (validated) redirect URI.
    Redirect(Target, OAuthError),
}

fn validate(
    idp: &Idp,
    tenant: &str,
    query: &HashMap<String, String>,
) -> Result<AuthorizeRequest, Rejection> {
    let show = |code: u32, message: String| {
        Rejection::Show(StatusCode::BAD_REQUEST, format!("AADSTS{code}: {message}"))
    };
    if let Err(error) = idp.resolve_tenant(tenant) {
        return Err(show(error.code, error.description));
    }
    let get = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let client_id = get("client_id").ok_or_else(|| {
        show(
            900144,
            "The request body must contain the following parameter: 'client_id'.".into(),
        )
    })?;
    let client = idp.seed.client(client_id).ok_or_else(|| {
        show(700016, format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", idp.seed.tenant.display_name))
    })?;
    let redirect_uri = get("redirect_uri").ok_or_else(|| {
        show(
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.".into(),
        )
    })?;
    // The device flow's own completion page is every public client's redirect URI here.
    if !redirect_uri_matches(idp, &client.redirect_uris, redirect_uri)
        && redirect_uri != crate::device::completion_uri(idp)
    {
        return Err(show(50011, format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", client.client_id)));
    }
    let response_mode = get("response_mode").unwrap_or("query").to_owned();
    let target = Target {
        redirect_uri: redirect_uri.to_owned(),
        response_mode: if ["query", "fragment", "form_post"].contains(&response_mode.as_str()) {
            response_mode.clone()
        } else {
            "query".into()
        },
        state: query.get("state").cloned(),
    };
    let reject = |error: OAuthError| Rejection::Redirect(target.clone(), error);
    let malformed = |detail: &str| {
        reject(OAuthError::invalid_request(
            9002313,
            &format!("Invalid request. Request is malformed or invalid. {detail}"),
        ))
    };
    if target.response_mode != response_mode {
        return Err(malformed(&format!(
            "response_mode '{response_mode}' is not supported."
        )));
    }
    match get("response_type") {
        Some("code") => {}
        None => {
            return Err(reject(OAuthError::invalid_request(
                900144,
                "The request body must contain the following parameter: 'response_type'.",
            )))
        }
        Some(other) => {
            return Err(reject(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                700054,
                &format!("response_type '{other}' is not enabled for the application."),
            )))
        }
    }
    let scopes = Scopes::parse(get("scope").unwrap_or(""), &idp.seed, client).map_err(|e| {
        let error = match e {
            ScopeError::Missing => "invalid_request",
            _ => "invalid_scope",
        };
        reject(scope_error(error, &e))
    })?;
    let code_challenge = get("code_challenge").map(str::to_owned);
    match (get("code_challenge_method"), &code_challenge) {
        (_, None) => {}
        (Some("S256"), Some(challenge)) => {
            if challenge.len() != 43
                || !challenge
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(malformed(
                    "code_challenge must be the base64url SHA-256 of the verifier (43 characters).",
                ));
            }
        }
        // An absent method means `plain` (RFC 7636 §4.3), which this provider refuses.
        (method, Some(_)) => {
            return Err(malformed(&format!(
                "code_challenge_method '{}' is not supported; use S256.",
                method.unwrap_or("plain")
            )))
        }
    }
    let prompt = get("prompt").map(str::to_owned);
    if let Some(p) = &prompt {
        if !["none", "login", "consent", "select_account"].contains(&p.as_str()) {
            return Err(malformed(&format!("prompt '{p}' is not supported.")));
        }
    }
    let mut scopes = scopes;
    // The device flow's sign-in passes through here too, but RFC 8628's device authorization
    // request has no `prompt`, and node-oidc-provider keeps offline_access there (its scope
    // check applies the consent rule only to requests whose parameters include `prompt`).
    let device_sign_in = redirect_uri == crate::device::completion_uri(idp);
    if idp.behaviour.offline_access_needs_consent
        && prompt.as_deref() != Some("consent")
        && !device_sign_in
    {
        scopes
            .permissions
            .retain(|p| !(p.is_oidc() && p.name == "offline_access"));
    }
    let claims = match get("claims") {
        None => None,
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) if value.is_object() => Some(value),
            _ => return Err(malformed("The claims parameter is not a JSON object.")),
        },
    };
    // A provider that does not support Entra's use of `claims` (`access_token.xms_cc`)
    // refuses any member but Core §5.5's two, as certified providers do.
    if let Some(object) = claims.as_ref().and_then(|c| c.as_object()) {
        let core_only = object.keys().all(|k| k == "userinfo" || k == "id_token");
        if idp.behaviour.claims_parameter == ClaimsParameter::Refused && !core_only {
            return Err(reject(OAuthError::invalid_request(
                9002313,
                "claims parameter should have userinfo or id_token properties",
            )));
        }
    }
    Ok(AuthorizeRequest {
        tenant: tenant.to_owned(),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        permissions: scopes.permissions,
        state: query.get("state").cloned(),
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        login_hint: get("login_hint").map(str::to_owned),
        sid: get("sid").map(str::to_owned),
        client_info: get("client_info") == Some("1"),
        response_mode,
        claims,
    })
}

/// Whether `candidate` is one of `registered`, as this provider matches them
/// ([`RedirectUriMatching`]).
pub fn redirect_uri_matches(idp: &Idp, registered: &[String], candidate: &str) -> bool {
    match idp.behaviour.redirect_uri_matching {
        RedirectUriMatching::LoopbackAnyPort => redirect_uri_registered(registered, candidate),
        RedirectUriMatching::Exact => registered.iter().any(|r| r == candidate),
    }
}

/// Entra's rule: exact match, except that loopback redirect URIs match on any port
/// (<https://learn.microsoft.com/entra/identity-platform/reply-url#localhost-exceptions>).
pub fn redirect_uri_registered(registered: &[String], candidate: &str) -> bool {
    let Ok(wanted) = Url::parse(candidate) else {
        return false;
    };
    registered.iter().any(|r| {
        if r == candidate {
            return true;
        }
        let Ok(reg) = Url::parse(r) else { return false };
        let loopback = matches!(reg.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        loopback
            && reg.scheme() == "http"
            && wanted.scheme() == "http"
            && reg.host_str() == wanted.host_str()
            && reg.path() == wanted.path()
            && reg.query() == wanted.query()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_any_port_and_nothing_else_is_loose() {
        let registered = vec![
            "http://localhost".to_owned(),
            "http://127.0.0.1/cb".to_owned(),
            "https://login.microsoftonline.com/common/oauth2/nativeclient".to_owned(),
            "msalabc://auth".to_owned(),
        ];
        assert!(redirect_uri_registered(
            &registered,
            "http://localhost:53211"
        ));
        assert!(redirect_uri_registered(
            &registered,
            "http://localhost:53211/"
        ));
        assert!(redirect_uri_registered(
            &registered,
            "http://127.0.0.1:8400/cb"
        ));
        assert!(!redirect_uri_registered(
            &registered,
            "http://127.0.0.1:8400/other"
        ));
        assert!(!redirect_uri_registered(
            &registered,
            "https://localhost:53211"
        ));
        assert!(!redirect_uri_registered(
            &registered,
            "http://evil.example:80"
        ));
        assert!(redirect_uri_registered(&registered, "msalabc://auth"));
        assert!(!redirect_uri_registered(&registered, "msalabc://auth/x"));
        assert!(redirect_uri_registered(
            &registered,
            "https://login.microsoftonline.com/common/oauth2/nativeclient"
        ));
        assert!(!redirect_uri_registered(
            &registered,
            "https://login.microsoftonline.com/common/oauth2/nativeclient?x=1"
        ));
    }

    #[test]
    fn session_cookie_prefers_the_persistent_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("ESTSAUTH=short; ESTSAUTHPERSISTENT=long"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("long"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("ESTSAUTHPERSISTENT=; ESTSAUTH=s"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("s"));
    }
}
