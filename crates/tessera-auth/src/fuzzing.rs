//! Entry points for the fuzz targets (`fuzz/`) and their regression tests.
//!
//! Each one hands untrusted bytes to the very function the engine runs on them, the way the
//! engine calls it, and checks what must hold whatever the input: no panic, and no input
//! accepted that the engine should refuse (a code without our `state`, a token response
//! without an access token). Built only with the `fuzzing` feature.

use futures_util::FutureExt;
use url::Url;

use crate::authority::{Jwks, Metadata};
use crate::cache::TokenCache;
use crate::error::Error;
use crate::id_token;
use crate::request::{self, AuthorizeOptions};
use crate::secret::{Nonce, RefreshToken};
use crate::token_client::{self, HttpError, Redemption};

const CLIENT_ID: &str = "3b2c9d1e-5a7f-4e60-8c1b-2d4f6a8e0c15";
const ISSUER: &str = "https://login.example/tid/v2.0";

fn metadata(iss_parameter: bool) -> Metadata {
    let url = |path: &str| Url::parse(&format!("https://login.example/tid/{path}")).ok();
    Metadata {
        issuer: ISSUER.into(),
        authorization_endpoint: url("oauth2/v2.0/authorize").unwrap_or_else(redirect_base),
        token_endpoint: url("oauth2/v2.0/token").unwrap_or_else(redirect_base),
        jwks_uri: url("discovery/v2.0/keys").unwrap_or_else(redirect_base),
        end_session_endpoint: None,
        device_authorization_endpoint: None,
        userinfo_endpoint: None,
        authorization_response_iss_parameter_supported: iss_parameter,
        claims_parameter_supported: false,
        id_token_signing_alg_values_supported: vec!["RS256".into()],
        msgraph_host: None,
    }
}

fn redirect_base() -> Url {
    Url::parse("http://localhost:4711/").unwrap_or_else(|_| unreachable!("a valid literal"))
}

/// The redirect-URL parser: `input` is what an agent hands back (a whole URL, or a query to
/// put on the redirect URI). Whatever it is, a code comes out only with our `state` (and, when
/// the provider sends `iss`, the provider's issuer).
pub fn redirect_url(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let redirect = Url::parse(text).or_else(|_| redirect_base().join(&format!("?{text}")));
    let Ok(redirect) = redirect else { return };
    for iss_parameter in [false, true] {
        let metadata = metadata(iss_parameter);
        let ours = request::authorize(
            &metadata,
            CLIENT_ID,
            &redirect_base(),
            AuthorizeOptions::default(),
        );
        // The fuzzer cannot guess a fresh random state, so also try its own value as ours.
        let own_state = redirect
            .query_pairs()
            .chain(url::form_urlencoded::parse(
                redirect.fragment().unwrap_or("").as_bytes(),
            ))
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned());
        let mut candidates = vec![];
        if let Some(state) = own_state {
            candidates.push(request::PendingAuthorization {
                url: ours.url.clone(),
                redirect_uri: ours.redirect_uri.clone(),
                state: crate::secret::CsrfState::chosen(&state),
                nonce: Nonce::chosen("n1"),
                verifier: crate::secret::PkceCodeVerifier::generate(),
            });
        }
        candidates.push(ours);
        for pending in candidates {
            if let Ok(code) = request::parse_redirect(&redirect, &pending, &metadata) {
                let pairs: Vec<(String, String)> = redirect.query_pairs().into_owned().collect();
                let pairs = if pairs.is_empty() {
                    url::form_urlencoded::parse(redirect.fragment().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect()
                } else {
                    pairs
                };
                let state = pairs.iter().find(|(k, _)| k == "state").map(|(_, v)| v);
                assert!(
                    state.is_some_and(|s| pending.state.matches(s)),
                    "a code was accepted without our state"
                );
                assert!(!code.code.secret().is_empty(), "an empty code was accepted");
                if iss_parameter {
                    let iss = pairs.iter().find(|(k, _)| k == "iss").map(|(_, v)| v);
                    assert_eq!(iss.map(String::as_str), Some(ISSUER), "iss unchecked");
                }
            }
        }
    }
}

/// The token-response parser: the first byte picks the HTTP status (and whether a
/// `Retry-After` and a JSON content type come with it), the rest is the body. Both ways the
/// engine reads token responses run: through `oauth2` (code and refresh) and the device-code
/// poll's own.
pub fn token_response(input: &[u8]) {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let status = [200u16, 200, 200, 400, 401, 403, 429, 500, 503][selector as usize % 9];
    let mut headers = reqwest::header::HeaderMap::new();
    if selector & 0x10 == 0 {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    if selector & 0x20 != 0 {
        headers.insert(
            reqwest::header::RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("7"),
        );
    }
    let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::OK);
    let transport = move |_request: oauth2::HttpRequest| {
        std::future::ready::<Result<oauth2::HttpResponse, HttpError>>(
            token_client::screen_response(status, &headers, body.to_vec()),
        )
    };
    let metadata = metadata(false);
    let redirect_uri = redirect_base();
    let scopes = ["User.Read".to_owned()];
    let redemption = Redemption {
        client_id: CLIENT_ID,
        redirect_uri: &redirect_uri,
        scopes: &scopes,
        claims: None,
        client_info: true,
        correlation_id: "fuzz",
        headers: &[],
        observed: None,
    };
    let refresh_token = RefreshToken::new("fuzz-refresh-token");
    let outcome = token_client::refresh_through(&transport, &metadata, &refresh_token, redemption)
        .now_or_never()
        .unwrap_or_else(|| unreachable!("the canned transport answers at once"));
    let retry_after = selector & 0x20 != 0;
    check_token_outcome(status, retry_after, outcome);
    if status == reqwest::StatusCode::OK {
        check_token_outcome(status, retry_after, token_client::parse_device_token(body));
    }
}

fn check_token_outcome(
    status: reqwest::StatusCode,
    retry_after: bool,
    outcome: crate::error::Result<token_client::TokenResponse>,
) {
    match outcome {
        Ok(response) => {
            assert_eq!(
                status,
                reqwest::StatusCode::OK,
                "tokens from an error status"
            );
            let _ = response.access_token.secret();
        }
        // MSAL's rule: 429, or any other failure that says when to come back (Retry-After).
        Err(Error::Throttled { .. }) => {
            assert!(status.as_u16() == 429 || (retry_after && !status.is_success()));
        }
        Err(error) => {
            // Every refusal can be shown and classified.
            let _ = (error.to_string(), error.kind(), error.classification());
        }
    }
}

/// The ID token decoder and claim checks: decoding never panics, a token with a bad signature
/// never verifies against the fixed key set, and the claim checks refuse what they must.
pub fn id_token(input: &[u8]) {
    let Ok(jwt) = std::str::from_utf8(input) else {
        return;
    };
    let Ok(unverified) = id_token::decode(jwt) else {
        return;
    };
    // A well-formed 2048-bit RSA public key (odd modulus, top bit set) whose private half is
    // nowhere here: nothing the fuzzer builds may verify against it.
    let jwks: Jwks = serde_json::from_value(serde_json::json!({ "keys": [{
        "kty": "RSA", "kid": "k1", "use": "sig",
        "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
        "e": "AQAB"
    }] }))
    .unwrap_or(Jwks { keys: vec![] });
    let every_algorithm: Vec<String> = id_token::SUPPORTED_ALGORITHMS
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert!(
        unverified
            .verify_signature(&jwks, &every_algorithm)
            .is_err(),
        "a token the fuzzer made verified against a key it does not hold"
    );
    let nonce = Nonce::chosen("n1");
    let now = 1_700_000_000;
    if let Ok(claims) =
        id_token::validate_claims(&unverified.claims, ISSUER, CLIENT_ID, Some(&nonce), now)
    {
        assert_eq!(claims.iss, ISSUER);
        assert!(claims.aud.contains(CLIENT_ID), "a token for someone else");
        assert!(
            claims.azp.as_deref().is_none_or(|azp| azp == CLIENT_ID),
            "a token authorized for someone else"
        );
        assert!(claims.exp + id_token::CLOCK_SKEW_SECONDS >= now);
        assert_eq!(claims.nonce.as_deref(), Some("n1"));
    }
}

/// The persisted-cache decoder: a blob from disk either loads (and then serialises to a blob
/// that loads to the same accounts) or is refused with nothing changed.
pub fn persisted_cache(input: &[u8]) {
    let cache = TokenCache::default();
    match cache.deserialize(input) {
        Ok(()) => {
            let accounts = cache.accounts();
            let again = TokenCache::default();
            assert!(
                again.deserialize(&cache.serialize()).is_ok(),
                "a loaded cache serialises to a blob it cannot load"
            );
            assert_eq!(
                again.accounts(),
                accounts,
                "accounts changed on a round trip"
            );
        }
        Err(_) => assert!(
            cache.accounts().is_empty(),
            "a refused blob changed the cache"
        ),
    }
    // The merge path: a process with its own account takes in the blob from another.
    let ours = TokenCache::default();
    let _ = ours.deserialize(input);
    let before = ours.serialize();
    if ours.merge_stored(input).is_err() {
        assert_eq!(
            ours.serialize(),
            before,
            "a refused merge changed the cache"
        );
    }
}

/// The `WWW-Authenticate` claims-challenge parser: whatever the header, claims come out only as
/// a JSON object, and only from a `Bearer` challenge with `error="insufficient_claims"`.
pub fn www_authenticate(input: &[u8]) {
    let Ok(header) = std::str::from_utf8(input) else {
        return;
    };
    if let Some(claims) = crate::challenge::claims_challenge(header) {
        let value: serde_json::Value =
            serde_json::from_str(&claims).unwrap_or(serde_json::Value::Null);
        assert!(value.is_object(), "claims that are not a JSON object");
        // Quoted strings may escape any character (RFC 9110 §5.6.4), so compare unescaped.
        assert!(
            header
                .replace('\\', "")
                .to_ascii_lowercase()
                .contains("insufficient_claims"),
            "claims from a challenge that is not insufficient_claims"
        );
    }
}
