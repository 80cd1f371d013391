//! ID token signatures of every supported algorithm, key selection, and the claims rules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

use super::*;
use crate::authority::Jwks;

fn claims(overrides: Value) -> Value {
    let mut base = json!({ "iss": "https://idp/tid/v2.0", "sub": "s", "aud": "client", "exp": 2000, "iat": 1000, "nonce": "n1" });
    for (k, v) in overrides.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// Signs a message with a private key.
type Sign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A private key of some algorithm, its public JWK, and how it signs.
struct TestKey {
    alg: &'static str,
    jwk: Value,
    sign: Sign,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(alg: &'static str) -> TestKey {
    let der = tessera_idp::SigningKey::generate()
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "kid": format!("{alg}-key"),
        "n": b64(&public.n),
        "e": b64(&public.e),
    });
    let padding: &'static dyn signature::RsaEncoding = match alg {
        "RS256" => &signature::RSA_PKCS1_SHA256,
        "RS384" => &signature::RSA_PKCS1_SHA384,
        "RS512" => &signature::RSA_PKCS1_SHA512,
        "PS256" => &signature::RSA_PSS_SHA256,
        "PS384" => &signature::RSA_PSS_SHA384,
        _ => &signature::RSA_PSS_SHA512,
    };
    TestKey {
        alg,
        jwk,
        sign: Box::new(move |message| {
            let mut out = vec![0; pair.public().modulus_len()];
            pair.sign(padding, &SystemRandom::new(), message, &mut out)
                .unwrap();
            out
        }),
    }
}

fn ec_key(alg: &'static str) -> TestKey {
    let (signing, crv, len): (&'static signature::EcdsaSigningAlgorithm, _, _) = match alg {
        "ES256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        _ => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
    };
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({
        "kty": "EC", "crv": crv, "kid": format!("{alg}-key"),
        "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
    });
    TestKey {
        alg,
        jwk,
        sign: Box::new(move |message| {
            pair.sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec()
        }),
    }
}

fn ed25519_key() -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "EdDSA-key", "x": b64(pair.public_key().as_ref()) });
    TestKey {
        alg: "EdDSA",
        jwk,
        sign: Box::new(move |message| pair.sign(message).as_ref().to_vec()),
    }
}

fn all_keys() -> Vec<TestKey> {
    let mut keys: Vec<TestKey> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        .into_iter()
        .map(rsa_key)
        .collect();
    keys.extend(["ES256", "ES384"].map(ec_key));
    keys.push(ed25519_key());
    keys
}

/// A compact JWS of `claims` signed by `key`, with `kid` in the header when given.
fn token(key: &TestKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({ "alg": key.alg, "typ": "JWT" });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = (key.sign)(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn jwks(keys: &[&Value]) -> Jwks {
    serde_json::from_value(json!({ "keys": keys })).unwrap()
}

fn everything() -> Vec<String> {
    SUPPORTED_ALGORITHMS.iter().map(|a| a.to_string()).collect()
}

// Issue 19: only RS256 was verified, so a provider signing with ES256 (or naming another
// algorithm) could not be used.
#[test]
fn every_algorithm_ring_verifies_is_accepted_and_forgeries_are_not() {
    let keys = all_keys();
    let set = jwks(&keys.iter().map(|k| &k.jwk).collect::<Vec<_>>());
    for key in &keys {
        let kid = key.jwk["kid"].as_str();
        let signed = token(key, kid, &claims(json!({})));
        let verify = |t: &str| decode(t).unwrap().verify_signature(&set, &everything());
        assert_eq!(verify(&signed), Ok(()), "{}", key.alg);
        let [header, _, signature] = signed.split('.').collect::<Vec<_>>()[..] else {
            panic!("a compact JWS");
        };
        let forged = b64(claims(json!({ "sub": "mallory" })).to_string().as_bytes());
        assert_eq!(
            verify(&format!("{header}.{forged}.{signature}")),
            Err(IdTokenError::Signature),
            "{}: claims changed after signing",
            key.alg
        );
        let only_rs256 = decode(&signed)
            .unwrap()
            .verify_signature(&set, &["RS256".into()]);
        if key.alg != "RS256" {
            assert_eq!(
                only_rs256,
                Err(IdTokenError::Algorithm(key.alg.into())),
                "an algorithm the provider does not advertise"
            );
        }
    }
}

#[test]
fn none_and_hmac_are_never_accepted_even_when_advertised() {
    let key = rsa_key("RS256");
    let set = jwks(&[&key.jwk]);
    let payload = b64(claims(json!({})).to_string().as_bytes());
    for alg in ["none", "HS256", "HS512", ""] {
        let header = b64(json!({ "alg": alg, "kid": "RS256-key" })
            .to_string()
            .as_bytes());
        let advertised = vec![alg.to_owned(), "RS256".into()];
        assert_eq!(
            decode(&format!("{header}.{payload}."))
                .unwrap()
                .verify_signature(&set, &advertised),
            Err(IdTokenError::Algorithm(alg.into())),
            "{alg:?}"
        );
    }
}

// OIDC Core §10.1: the key is chosen by kid; without a kid, only when exactly one key fits.
#[test]
fn the_key_is_chosen_by_kid_type_use_and_algorithm() {
    let (first, second, ec) = (rsa_key("RS256"), rsa_key("RS256"), ec_key("ES256"));
    let signed = |kid: Option<&str>| token(&first, kid, &claims(json!({})));
    let verify = |t: &str, set: &Jwks| decode(t).unwrap().verify_signature(set, &everything());
    let mut first_unnamed = first.jwk.clone();
    first_unnamed.as_object_mut().unwrap().remove("kid");

    // No kid, one RSA key (an EC key does not fit RS256): accepted.
    assert_eq!(
        verify(&signed(None), &jwks(&[&first_unnamed, &ec.jwk])),
        Ok(())
    );
    // No kid, two RSA keys: ambiguous, whichever would verify.
    assert_eq!(
        verify(&signed(None), &jwks(&[&first_unnamed, &second.jwk])),
        Err(IdTokenError::AmbiguousKey)
    );
    // The kid picks among several.
    assert_eq!(
        verify(
            &signed(Some("RS256-key")),
            &jwks(&[&second.jwk, &first.jwk])
        ),
        Ok(())
    );
    // A kid the set lacks: unknown (the engine fetches the set again).
    assert_eq!(
        verify(&signed(Some("rotated")), &jwks(&[&first.jwk])),
        Err(IdTokenError::UnknownKey)
    );
    // Keys reserved for encryption or for another algorithm are not signing keys for this.
    for (member, value) in [("use", "enc"), ("alg", "PS256")] {
        let mut reserved = first.jwk.clone();
        reserved[member] = json!(value);
        assert_eq!(
            verify(&signed(Some("RS256-key")), &jwks(&[&reserved])),
            Err(IdTokenError::UnknownKey),
            "{member}={value}"
        );
    }
    // An EC key of another curve does not fit ES256.
    let p384 = ec_key("ES384");
    let mut renamed = p384.jwk.clone();
    renamed["kid"] = json!("ES256-key");
    let es256 = token(&ec, Some("ES256-key"), &claims(json!({})));
    assert_eq!(
        verify(&es256, &jwks(&[&renamed])),
        Err(IdTokenError::UnknownKey)
    );
}

#[test]
fn claims_are_checked_one_by_one() {
    let nonce = Nonce::generate();
    let ok = |c| validate_claims(&c, "https://idp/tid/v2.0", "client", None, 1500);
    assert!(ok(claims(json!({}))).is_ok());
    assert!(ok(claims(json!({ "iss": "https://evil/tid/v2.0" }))).is_err());
    assert!(ok(claims(json!({ "aud": "other" }))).is_err());
    assert!(
        ok(claims(json!({ "exp": 1000 }))).is_err(),
        "expired beyond the skew"
    );
    assert!(
        ok(claims(json!({ "exp": 1300 }))).is_ok(),
        "expired within the skew"
    );
    assert!(
        ok(claims(json!({ "iat": 2100, "exp": 5000 }))).is_ok(),
        "issued ten minutes ahead: a provider's clock ahead of ours"
    );
    assert!(
        ok(claims(json!({ "iat": 1500 + 3601, "exp": 9000 }))).is_err(),
        "issued beyond any clock error"
    );
    assert!(ok(claims(json!({ "sub": null }))).is_err());
    let with_nonce = validate_claims(
        &claims(json!({})),
        "https://idp/tid/v2.0",
        "client",
        Some(&nonce),
        1500,
    );
    assert!(with_nonce.is_err(), "another request's nonce");
    let good = claims(json!({ "nonce": nonce.secret() }));
    assert!(validate_claims(&good, "https://idp/tid/v2.0", "client", Some(&nonce), 1500).is_ok());
}

// Issue 19, point 2: provider B's `aud` is an array, which the engine read as a string.
#[test]
fn an_audience_array_needs_our_client_id_and_an_authorized_party() {
    let ok = |c| validate_claims(&c, "https://idp/tid/v2.0", "client", None, 1500);
    let several = ok(claims(
        json!({ "aud": ["client", "https://api.example"], "azp": "client" }),
    ))
    .unwrap();
    assert_eq!(
        several.aud,
        Audience(vec!["client".into(), "https://api.example".into()])
    );
    assert!(
        ok(claims(json!({ "aud": ["client"] }))).is_ok(),
        "one audience, in an array"
    );
    assert!(
        ok(claims(json!({ "aud": ["client", "other"] }))).is_err(),
        "several audiences, no azp"
    );
    assert!(
        ok(claims(
            json!({ "aud": ["client", "other"], "azp": "other" })
        ))
        .is_err(),
        "azp is someone else"
    );
    assert!(
        ok(claims(json!({ "aud": ["other", "x"], "azp": "client" }))).is_err(),
        "not among the audiences"
    );
    assert!(
        ok(claims(json!({ "azp": "other" }))).is_err(),
        "azp present must be us"
    );
    // One audience serialises as the string it was (the cached claims keep their shape).
    let one = ok(claims(json!({}))).unwrap();
    assert_eq!(serde_json::to_value(&one).unwrap()["aud"], "client");
    assert_eq!(
        serde_json::to_value(&several).unwrap()["aud"],
        json!(["client", "https://api.example"])
    );
}

#[test]
fn not_before_is_honoured_within_the_clock_tolerance() {
    let ok = |c| validate_claims(&c, "https://idp/tid/v2.0", "client", None, 1500);
    assert!(
        ok(claims(json!({ "nbf": 2100, "exp": 5000 }))).is_ok(),
        "a provider ten minutes ahead"
    );
    assert!(
        ok(claims(json!({ "nbf": 1500 + 3601, "exp": 9000 }))).is_err(),
        "not valid yet, beyond any clock error"
    );
}

// Issue 20, point 9: MSAL's username order.
#[test]
fn the_username_is_preferred_username_then_upn_then_emails_then_email() {
    let parsed = |extra: Value| {
        validate_claims(&claims(extra), "https://idp/tid/v2.0", "client", None, 1500).unwrap()
    };
    let all = json!({ "preferred_username": "p", "upn": "u", "emails": ["b2c"], "email": "e" });
    assert_eq!(parsed(all).username(), Some("p"));
    assert_eq!(
        parsed(json!({ "upn": "u", "emails": ["b2c"], "email": "e" })).username(),
        Some("u")
    );
    assert_eq!(
        parsed(json!({ "emails": ["b2c", "x"], "email": "e" })).username(),
        Some("b2c")
    );
    assert_eq!(parsed(json!({ "email": "e" })).username(), Some("e"));
    assert_eq!(parsed(json!({})).username(), None);
}

#[test]
fn garbage_is_malformed() {
    for bad in ["", "a.b", "a.b.c", "e30.e30.!!", "e30.W10.e30"] {
        assert!(decode(bad).is_err(), "{bad}");
    }
}
