//! The token endpoint: authorization-code redemption (with PKCE) and refresh-token redemption
//! (with rotation), answering as Entra does
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token>,
//! <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token>).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::behaviour::{
    AccessTokenFormat, AudienceShape, ProfileClaims, RefreshResponse, RefreshTokenReuse,
    UnknownRefreshToken,
};
use crate::hints::{client_info, login_hint};
use crate::ids::random_token;
use crate::oauth_error::{
    consent_required_error, mfa_required_error, no_store, scope_error, OAuthError,
};
use crate::scopes::{Permission, Scopes, GRAPH_APP_ID, GRAPH_RESOURCE};
use crate::seed::User;
use crate::state::{secret_key, Flavor, Idp, RefreshGrant, Store};

const CODE_LIFETIME_SECONDS: i64 = 600;
/// RFC 8628 §3.4's grant type.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ID_TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// `POST …/oauth2/v2.0/token`.
pub async fn token(
    idp: Arc<Idp>,
    tenant: String,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if idp.ledger.is_some() {
        for (name, value) in url::form_urlencoded::parse(&body) {
            if matches!(
                &*name,
                "code" | "code_verifier" | "refresh_token" | "device_code"
            ) {
                idp.witness(&value);
            }
        }
    }
    match redeem(&idp, &tenant, &headers, &body) {
        Ok(response) => {
            for name in ["access_token", "refresh_token", "id_token"] {
                if let Some(secret) = response[name].as_str() {
                    idp.witness(secret);
                }
            }
            count_library_headers(&idp, &headers, &response);
            let mut response = (StatusCode::OK, axum::Json(response)).into_response();
            no_store(response.headers_mut());
            if let Some(id) = client_request_id.as_deref().and_then(|v| v.parse().ok()) {
                response.headers_mut().insert("client-request-id", id);
            }
            response
        }
        Err(error) => error.into_response_for(&idp, client_request_id.as_deref()),
    }
}

/// Counts the headers MSAL sends Entra's token endpoint, so tests see what arrived:
/// `x-ms-lib-capability: retry-after, h429` (msal-common `ThrottlingConstants`), `x-client-SKU`
/// (with `-VER` and `-OS`), and `X-AnchorMailbox: Oid:{uid}@{utid}` naming the account the
/// tokens are for (`token:x-anchormailbox`; `…:other` when it names someone else).
fn count_library_headers(idp: &Idp, headers: &HeaderMap, response: &Value) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut store = idp.store();
    if header("x-ms-lib-capability") == Some("retry-after, h429") {
        store.count("token:x-ms-lib-capability");
    }
    if ["x-client-sku", "x-client-ver", "x-client-os"]
        .iter()
        .all(|name| header(name).is_some_and(|v| !v.is_empty()))
    {
        store.count("token:x-client-sku");
    }
    if let Some(anchor) = header("x-anchormailbox") {
        // The anchor names the home account (`uid@utid` of `client_info`), which for a guest
        // is not the token's own `oid`/`tid`.
        let decode = |text: &str| {
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        };
        let named = match response["client_info"].as_str().and_then(decode) {
            Some(info) => Some(format!(
                "Oid:{}@{}",
                info["uid"].as_str().unwrap_or_default(),
                info["utid"].as_str().unwrap_or_default()
            )),
            None => response["id_token"]
                .as_str()
                .or(response["access_token"].as_str())
                .and_then(|jwt| jwt.split('.').nth(1))
                .and_then(decode)
                .and_then(|claims| {
                    Some(format!(
                        "Oid:{}@{}",
                        claims["oid"].as_str()?,
                        claims["tid"].as_str()?
                    ))
                }),
        };
        if named
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(anchor))
        {
            store.count("token:x-anchormailbox");
        } else {
            store.count("token:x-anchormailbox:other");
        }
    }
}

fn redeem(idp: &Idp, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let mut store = idp.store();
    idp.resolve_tenant(tenant)?;
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return Err(OAuthError::invalid_request(
            900144,
            "The request body must contain the following parameter: 'grant_type'. (The body must be application/x-www-form-urlencoded.)",
        ));
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::invalid_request(9002313, "Invalid request. Request is malformed or invalid.")
    })?;
    let get = |name: &str| form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let require = |name: &str| {
        get(name).ok_or_else(|| {
            OAuthError::invalid_request(
                900144,
                &format!("The request body must contain the following parameter: '{name}'."),
            )
        })
    };
    let grant_type = require("grant_type")?;
    let client_id = require("client_id")?;
    let client = idp.seed.client(client_id).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", idp.seed.tenant.display_name),
        )
    })?;
    if get("client_secret").is_some() || get("client_assertion").is_some() {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        ));
    }
    let claims_request = match get("claims") {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    OAuthError::invalid_request(
                        9002313,
                        "Invalid request. Request is malformed or invalid. The claims parameter is not a JSON object.",
                    )
                })?,
        ),
    };
    let parse_scopes = |scope: &str| {
        Scopes::parse(scope, &idp.seed, client).map_err(|e| scope_error("invalid_scope", &e))
    };
    let now = idp.clock.now();
    let grant = match grant_type {
        "authorization_code" => {
            store.count("token:authorization_code");
            let code = require("code")?;
            let redirect_uri = require("redirect_uri")?;
            let Some(grant) = store.codes.get(code).cloned() else {
                return Err(OAuthError::invalid_grant(
                    70000,
                    "Provided grant is invalid or malformed.",
                ));
            };
            if grant.redeemed {
                return Err(OAuthError::invalid_grant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."));
            }
            if grant.issued_at + CODE_LIFETIME_SECONDS < now {
                return Err(OAuthError::invalid_grant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."));
            }
            if !grant.client_id.eq_ignore_ascii_case(client_id) {
                return Err(OAuthError::invalid_grant(70000, "Provided grant is invalid or malformed. The code was issued to another application."));
            }
            if grant.redirect_uri != redirect_uri {
                return Err(OAuthError::invalid_grant(70000, "Provided grant is invalid or malformed. The redirect_uri does not match the one used in the authorization request."));
            }
            match (&grant.code_challenge, get("code_verifier")) {
                (Some(challenge), verifier) => {
                    let verifier = verifier.ok_or_else(|| {
                        OAuthError::invalid_request(
                            900144,
                            "The request body must contain the following parameter: 'code_verifier'.",
                        )
                    })?;
                    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                    if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                        return Err(OAuthError::invalid_grant(50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE."));
                    }
                }
                // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a
                // downgrade attempt (the challenge was stripped from the authorization
                // request), and must be refused.
                (None, Some(_)) => {
                    return Err(OAuthError::invalid_grant(50148, "A code_verifier was sent for an authorization code issued without a code_challenge (PKCE downgrade)."));
                }
                (None, None) => {}
            }
            let permissions = match get("scope") {
                Some(scope) => parse_scopes(scope)?.permissions,
                None => grant.permissions.clone(),
            };
            Grant {
                oid: grant.oid,
                mfa: grant.mfa,
                auth_time: grant.auth_time,
                permissions,
                nonce: grant.nonce,
                claims: claims_request.or(grant.claims),
                spends: Spends::Code(code.to_owned()),
                family: None,
                session: grant.session.clone(),
            }
        }
        "refresh_token" => {
            store.count("token:refresh_token");
            let refresh_token = require("refresh_token")?;
            let scope = require("scope")?;
            let key = secret_key(refresh_token);
            let Some(grant) = store.refresh_tokens.get(&key).cloned() else {
                return Err(match idp.behaviour.unknown_refresh_token {
                    UnknownRefreshToken::InvalidGrant => OAuthError::invalid_grant(9002313, "Invalid request. Request is malformed or invalid. The refresh token is not valid."),
                    UnknownRefreshToken::InvalidRequest => OAuthError::invalid_request(9002313, "The refresh token is not valid."),
                });
            };
            if !grant.client_id.eq_ignore_ascii_case(client_id) {
                return Err(OAuthError::invalid_grant(70000, "Provided grant is invalid or malformed. The refresh token was issued to another application."));
            }
            if grant.revoked {
                return Err(OAuthError::invalid_grant(70000, "Provided grant is invalid or malformed. The grant was revoked after a spent refresh token of it was used again.").with_suberror("bad_token"));
            }
            if grant.rotated {
                // RFC 9700 §4.14.2: reuse of a spent refresh token means two parties hold it;
                // the provider revokes the grant, so neither can go on with it.
                if idp.behaviour.refresh_token_reuse == RefreshTokenReuse::RotateAndRevokeGrant {
                    for other in store.refresh_tokens.values_mut() {
                        if other.family == grant.family {
                            other.revoked = true;
                        }
                    }
                    store.count("token:refresh_token:reuse_detected");
                    return Err(OAuthError::invalid_grant(70000, "Provided grant is invalid or malformed. This refresh token was already redeemed: the grant is revoked (refresh token reuse).").with_suberror("bad_token"));
                }
                return Err(OAuthError::invalid_grant(70000, "Provided grant is invalid or malformed. This refresh token was already redeemed and replaced by a newer one.").with_suberror("bad_token"));
            }
            let flags = store.flags(&grant.oid).clone();
            // Revoked and expired refresh tokens carry `suberror: bad_token`, which MSAL reads
            // to remove them (msal-common `RefreshTokenClient`).
            if grant.sequence <= flags.revoked_upto {
                return Err(OAuthError::invalid_grant(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.").with_suberror("bad_token"));
            }
            if grant.sequence <= flags.expired_upto || grant.expires_at < now {
                return Err(OAuthError::invalid_grant(700082, "The refresh token has expired due to inactivity. The token was issued on a date past the maximum inactive time of the refresh token.").with_suberror("bad_token"));
            }
            Grant {
                oid: grant.oid.clone(),
                mfa: grant.mfa,
                auth_time: grant.auth_time,
                permissions: parse_scopes(scope)?.permissions,
                nonce: None,
                claims: claims_request,
                spends: Spends::RefreshToken(refresh_token.to_owned()),
                family: Some(grant.family.clone()),
                session: None,
            }
        }
        // Entra takes RFC 8628's grant type and also the short `device_code` (MSAL.NET's
        // `OAuth2GrantType.DeviceCode`), and the code as `device_code` or `code` (MSAL Python
        // sends both: "service seemingly need both device_code and code parameter").
        kind if kind == DEVICE_CODE_GRANT
            || (kind == "device_code" && idp.flavor == crate::state::Flavor::Entra) =>
        {
            store.count("token:device_code");
            let device_code = get("device_code")
                .or_else(|| get("code").filter(|_| idp.flavor == crate::state::Flavor::Entra))
                .ok_or_else(|| {
                    OAuthError::invalid_request(
                        900144,
                        "The request body must contain the following parameter: 'device_code'.",
                    )
                })?;
            let (code, device_claims) =
                crate::device::poll(idp, &mut store, device_code, client_id)?;
            let Some(grant) = store.codes.get(&code).cloned().filter(|g| !g.redeemed) else {
                return Err(OAuthError::invalid_grant(
                    70000,
                    "Provided grant is invalid or malformed. The device sign-in has no usable code.",
                ));
            };
            Grant {
                oid: grant.oid,
                mfa: grant.mfa,
                auth_time: grant.auth_time,
                permissions: grant.permissions.clone(),
                nonce: None,
                claims: claims_request.or(device_claims).or(grant.claims),
                spends: Spends::Code(code),
                family: None,
                session: grant.session.clone(),
            }
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ))
        }
    };
    let resource = Scopes {
        permissions: grant.permissions.clone(),
    }
    .single_resource()
    .map_err(|e| scope_error("invalid_scope", &e))?;
    let consented = store
        .consents
        .get(&(grant.oid.clone(), client.client_id.clone()))
        .cloned()
        .unwrap_or_default();
    if grant.permissions.iter().any(|p| !consented.contains(p)) {
        return Err(consent_required_error(idp, &client.client_id).with_invalid_grant());
    }
    if store.flags(&grant.oid).mfa_required && !grant.mfa {
        // At the token endpoint Entra says `invalid_grant` with the suberror (as MSAL
        // Python's own fixture has it: tests/test_application.py); `interaction_required` is
        // the authorize endpoint's word (OpenID Connect Core §3.1.2.6).
        return Err(mfa_required_error(&resource).with_invalid_grant());
    }
    let user = idp
        .seed
        .user_by_oid(&grant.oid)
        .ok_or_else(|| {
            OAuthError::invalid_grant(50034, "The user account does not exist in the directory.")
        })?
        .clone();
    // Entra's refresh tokens are not bound to a tenant: one from the home tenant redeems at a
    // tenant that invited the user (MSAL Python `_acquire_token_silent_by_finding_specific_refresh_token`:
    // "AAD RTs are tenant-independent"), and the token is that tenant's. A tenant that did not
    // invite the user refuses before anything is spent.
    let directory = Directory {
        tid: idp.directory_id(tenant).to_owned(),
        oid: idp.object_id_in(tenant, &user)?,
    };
    // Only a request that passed every check spends its grant: codes are single-use, and
    // refresh tokens rotate.
    match &grant.spends {
        Spends::Code(code) => {
            if let Some(entry) = store.codes.get_mut(code) {
                entry.redeemed = true;
            }
        }
        // A refresh token rotates when a new one replaces it, unless the provider lets old
        // ones live on (Entra).
        Spends::RefreshToken(old) => {
            let rotates = idp.behaviour.refresh_token_reuse != RefreshTokenReuse::Allowed
                && idp.behaviour.refresh_response == RefreshResponse::Full;
            if let Some(entry) = store.refresh_tokens.get_mut(&secret_key(old)) {
                entry.rotated |= rotates;
            }
        }
    }
    let include_client_info = get("client_info") == Some("1");
    Ok(issue(
        idp,
        &mut store,
        &user,
        &directory,
        &client.client_id,
        &resource,
        &grant,
        &consented,
        include_client_info,
    ))
}

/// The directory a token is issued in, and the user's object id there.
struct Directory {
    tid: String,
    oid: String,
}

/// What a redeemed grant stands for.
struct Grant {
    oid: String,
    mfa: bool,
    auth_time: i64,
    permissions: BTreeSet<Permission>,
    nonce: Option<String>,
    claims: Option<Value>,
    /// The code or refresh token this request redeems.
    spends: Spends,
    /// The grant (refresh-token family) a refresh continues; a new one for a code.
    family: Option<String>,
    /// The browser session the sign-in belongs to, for the ID token's `sid`.
    session: Option<String>,
}

/// The credential a token request uses up.
enum Spends {
    Code(String),
    RefreshToken(String),
}

#[allow(clippy::too_many_arguments)]
fn issue(
    idp: &Idp,
    store: &mut Store,
    user: &User,
    directory: &Directory,
    client_id: &str,
    resource: &str,
    grant: &Grant,
    consented: &BTreeSet<Permission>,
    include_client_info: bool,
) -> Value {
    let now = idp.clock.now();
    let lifetimes = store.lifetimes;
    let tid = directory.tid.clone();
    let issuer = idp.issuer(&tid);
    let home_tid = &idp.seed.tenant.id;
    let asked_oidc = |name: &str| {
        grant
            .permissions
            .iter()
            .any(|p| p.is_oidc() && p.name == name)
    };
    // Entra grants every permission consented for the resource, not only those asked for.
    let granted: Vec<&Permission> = consented
        .iter()
        .filter(|p| p.resource == resource)
        .chain(
            grant
                .permissions
                .iter()
                .filter(|p| p.is_oidc() && p.name != "offline_access"),
        )
        .collect();
    let scope: Vec<String> = granted.iter().map(|p| p.display()).collect();
    let scp: Vec<&str> = granted.iter().map(|p| p.name.as_str()).collect();
    let subject = match idp.flavor {
        // Entra's `sub` is pairwise: unique per user and application.
        Flavor::Entra => URL_SAFE_NO_PAD
            .encode(Sha256::digest(format!("{}:{client_id}", directory.oid)))[..43]
            .to_owned(),
        Flavor::Oidc => user.object_id.clone(),
    };
    let mut amr = vec!["pwd"];
    if grant.mfa {
        amr.push("mfa");
    }
    let aud = if resource == GRAPH_RESOURCE {
        GRAPH_APP_ID
    } else {
        resource
    };
    let mut access = json!({
        "aud": aud, "iss": issuer, "iat": now, "nbf": now, "exp": now + lifetimes.access_token,
        "scp": scp.join(" "), "oid": directory.oid, "tid": tid, "sub": subject,
        "name": user.display_name, "preferred_username": user.username, "upn": user.username,
        "azp": client_id, "azpacr": "0", "amr": amr, "ver": "2.0", "uti": random_token(16),
    });
    if let Some(claims) = &grant.claims {
        let requested = &claims["access_token"];
        if let Some(capabilities) = requested["xms_cc"]["values"].as_array() {
            access["xms_cc"] = json!(capabilities);
        }
        if let Some(value) = requested["acrs"]["value"].as_str() {
            access["acrs"] = json!([value]);
        } else if let Some(values) = requested["acrs"]["values"].as_array() {
            access["acrs"] = json!(values);
        }
    }
    let keys = idp.keyset();
    let behaviour = &idp.behaviour;
    let sign = |claims: &Value| keys.active.sign_with(claims, behaviour.key_ids);
    let access_token = match behaviour.access_tokens {
        AccessTokenFormat::Jwt => sign(&access),
        // Opaque: the provider remembers what the token stands for (its resource servers
        // look it up, as introspection would).
        AccessTokenFormat::Opaque => {
            let token = random_token(40);
            store
                .opaque_tokens
                .insert(secret_key(&token), access.clone());
            token
        }
    };
    let refreshing = matches!(grant.spends, Spends::RefreshToken(_));
    let minimal =
        refreshing && behaviour.refresh_response == RefreshResponse::WithoutRefreshTokenOrScope;
    let mut response = json!({
        "token_type": "Bearer",
        "expires_in": lifetimes.access_token,
        "ext_expires_in": lifetimes.access_token,
        "access_token": access_token,
    });
    if !minimal {
        response["scope"] = json!(scope.join(" "));
    }
    if let Some(refresh_in) = lifetimes.refresh_in {
        response["refresh_in"] = json!(refresh_in);
    }
    // A refresh grant returns a new refresh token (rotation), unless the provider keeps the
    // old one (RFC 6749 §6: "MAY issue a new refresh token").
    if (asked_oidc("offline_access") || refreshing) && !minimal {
        let refresh_token = random_token(64);
        let sequence = store.next_sequence();
        store.refresh_tokens.insert(
            secret_key(&refresh_token),
            RefreshGrant {
                client_id: client_id.to_owned(),
                oid: user.object_id.clone(),
                mfa: grant.mfa,
                auth_time: grant.auth_time,
                sequence,
                expires_at: now + lifetimes.refresh_token,
                rotated: false,
                family: grant.family.clone().unwrap_or_else(|| random_token(16)),
                revoked: false,
            },
        );
        response["refresh_token"] = json!(refresh_token);
    }
    if asked_oidc("openid") && (!refreshing || behaviour.id_token_on_refresh) {
        let mut id = json!({
            "aud": client_id, "iss": issuer, "iat": now, "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME_SECONDS, "sub": subject, "auth_time": grant.auth_time,
        });
        if behaviour.audience == AudienceShape::ArrayWithAzp {
            id["aud"] = json!([client_id, SECOND_AUDIENCE]);
            id["azp"] = json!(client_id);
        }
        if behaviour.profile_claims == ProfileClaims::InIdToken {
            if asked_oidc("profile") {
                id["name"] = json!(user.display_name);
                id["preferred_username"] = json!(user.username);
            }
            if asked_oidc("email") {
                if let Some(mail) = &user.mail {
                    id["email"] = json!(mail);
                }
            }
        }
        if let Some(nonce) = &grant.nonce {
            id["nonce"] = json!(nonce);
        }
        if let Some(session) = &grant.session {
            id["sid"] = json!(session);
        }
        if idp.flavor == Flavor::Entra {
            id["oid"] = json!(directory.oid);
            id["tid"] = json!(tid);
            id["ver"] = json!("2.0");
            id["uti"] = json!(random_token(16));
            // The optional `login_hint` claim (Microsoft Learn, "Optional claims reference"):
            // an opaque hint for `prompt=none` and for the end-session request's
            // `logout_hint`.
            if idp.behaviour.login_hint_claim {
                id["login_hint"] = json!(login_hint(&user.object_id, home_tid, &user.username));
            }
        }
        response["id_token"] = json!(sign(&id));
    }
    if include_client_info && idp.flavor == Flavor::Entra {
        // The home account, in whichever tenant the token was issued.
        response["client_info"] = json!(client_info(&user.object_id, home_tid));
    }
    response
}

/// The other audience of [`AudienceShape::ArrayWithAzp`] ID tokens.
const SECOND_AUDIENCE: &str = "https://api.tessera.test";

impl OAuthError {
    /// At the token endpoint Entra reports missing consent as `invalid_grant` (the authorize
    /// endpoint says `consent_required`).
    fn with_invalid_grant(mut self) -> Self {
        self.error = "invalid_grant";
        self
    }
}

/// Compares without leaking the position of the first difference through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
