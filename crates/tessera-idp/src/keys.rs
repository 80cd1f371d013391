//! The provider's signing keys and its JSON Web Key Set, with rotation.
//!
//! JWTs are built and checked here directly (RFC 7515 compact form) with `ring`, the TLS
//! stack's own cryptography: RS256 (RSASSA-PKCS1-v1_5 with SHA-256, Entra's) or ES256 (ECDSA
//! P-256, RFC 7518 §3.4, as providers that sign with elliptic curves do). Keys are kept as
//! PKCS#8; the `rsa` crate is used only to generate RSA keys, which `ring` cannot.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The signing algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, on a 2048-bit key (Entra ID's).
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

impl Algorithm {
    /// The JWA name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// One key pair with its key id.
pub struct SigningKey {
    /// `kid` in JWT headers and the JWKS.
    pub kid: String,
    algorithm: Algorithm,
    pkcs8: Vec<u8>,
    signer: Signer,
    /// The public half, as the JWKS publishes it (without `kid`).
    public: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Why a JWT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// `alg` is not ours or `kid` names no key of ours.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
}

/// Key generation or loading failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl SigningKey {
    /// A fresh 2048-bit RSA key (RS256).
    pub fn generate() -> Result<SigningKey, KeyError> {
        Self::generate_for(Algorithm::Rs256)
    }

    /// A fresh key for `algorithm`.
    pub fn generate_for(algorithm: Algorithm) -> Result<SigningKey, KeyError> {
        let pkcs8 = match algorithm {
            Algorithm::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                    .map_err(|e| KeyError(format!("RSA key generation: {e}")))?;
                private
                    .to_pkcs8_der()
                    .map_err(|e| KeyError(e.to_string()))?
                    .as_bytes()
                    .to_vec()
            }
            Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| KeyError("ECDSA key generation failed".into()))?
            .as_ref()
            .to_vec(),
        };
        Self::from_pkcs8_der(&pkcs8).map_err(KeyError)
    }

    /// The key from its PKCS#8 DER form ([`Self::to_pkcs8_der`]): RSA or P-256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, String> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let (algorithm, signer, public) = if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            let parts: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
            let public =
                json!({ "kty": "RSA", "use": "sig", "n": b64(&parts.n), "e": b64(&parts.e) });
            (Algorithm::Rs256, Signer::Rsa(pair), public)
        } else {
            let pair = EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &SystemRandom::new(),
            )
            .map_err(|e| format!("not an RSA or P-256 PKCS#8 key: {e}"))?;
            let point = pair.public_key().as_ref();
            let public = json!({ "kty": "EC", "use": "sig", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) });
            (Algorithm::Es256, Signer::Ec(pair), public)
        };
        // The kid is derived from the public key, like a thumbprint, so it changes with it.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public.to_string().as_bytes())[..15]);
        Ok(SigningKey {
            kid,
            algorithm,
            pkcs8: der.to_vec(),
            signer,
            public,
        })
    }

    /// The private key as PKCS#8 DER, to keep the provider's keys across restarts.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, String> {
        Ok(self.pkcs8.clone())
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Signs `claims` as a compact JWT with header `{alg, typ: JWT, kid}`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(claims, true)
    }

    /// [`Self::sign`], naming the key in the header only when `with_kid` (RFC 7515 §4.1.4:
    /// `kid` is optional, and some providers leave it out).
    pub fn sign_with(&self, claims: &Value, with_kid: bool) -> String {
        let mut header = json!({ "typ": "JWT", "alg": self.algorithm.name() });
        if with_kid {
            header["kid"] = json!(self.kid);
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    signing_input.as_bytes(),
                    &mut out,
                )
                .map(|()| out)
                .unwrap_or_default()
            }
            Signer::Ec(pair) => pair
                .sign(&rng, signing_input.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        };
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The public key as a JWK (RFC 7517), with `kid`, and Entra's `issuer` member when given.
    pub fn jwk(&self, issuer: Option<&str>) -> Value {
        let mut jwk = self.public.clone();
        jwk["kid"] = json!(self.kid);
        if let Some(issuer) = issuer {
            jwk["issuer"] = json!(issuer);
        }
        jwk
    }

    /// The public key as a JWK without `kid` (RFC 7517 §4.5: optional).
    pub fn jwk_without_kid(&self) -> Value {
        self.public.clone()
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let b64 = |member: &str| {
            URL_SAFE_NO_PAD
                .decode(self.public[member].as_str().unwrap_or_default())
                .unwrap_or_default()
        };
        match self.algorithm {
            Algorithm::Rs256 => signature::RsaPublicKeyComponents {
                n: b64("n"),
                e: b64("e"),
            }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
            .is_ok(),
            Algorithm::Es256 => {
                let point = [&[0x04][..], &b64("x"), &b64("y")].concat();
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
        }
    }
}

/// The active key and the retired ones still published for validation.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// Signs everything new.
    pub active: Arc<SigningKey>,
    /// Still in the JWKS, so tokens they signed stay valid until they expire.
    pub retired: Vec<Arc<SigningKey>>,
}

/// How many retired keys stay published: enough for tokens signed before a rotation or two to
/// stay valid, and a bound on a key set that the control API could otherwise grow for ever.
pub const RETIRED_KEYS_KEPT: usize = 2;

impl KeySet {
    /// Every published key, active first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<SigningKey>> {
        std::iter::once(&self.active).chain(self.retired.iter())
    }

    /// Makes `next` the signing key; the old one stays published unless `retire_old` (at most
    /// [`RETIRED_KEYS_KEPT`] of them).
    pub fn rotate(&mut self, next: SigningKey, retire_old: bool) {
        let old = std::mem::replace(&mut self.active, Arc::new(next));
        if retire_old {
            self.retired.clear();
        } else {
            self.retired.insert(0, old);
            self.retired.truncate(RETIRED_KEYS_KEPT);
        }
    }

    /// Verifies a JWT's signature against the published keys and returns its claims: the key
    /// its `kid` names, or without one any published key of its algorithm.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JwtError::Malformed)
        };
        let header: Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed)?;
        let claims: Value =
            serde_json::from_slice(&decode(payload)?).map_err(|_| JwtError::Malformed)?;
        let signature = decode(signature)?;
        let signing_input = &token[..token.rfind('.').unwrap_or(token.len())];
        let candidates: Vec<&Arc<SigningKey>> = self
            .all()
            .filter(|k| header["alg"] == k.algorithm.name())
            .filter(|k| header["kid"].is_null() || header["kid"] == k.kid.as_str())
            .collect();
        if candidates.is_empty() {
            return Err(JwtError::UnknownKey);
        }
        if candidates
            .iter()
            .any(|k| k.verify(signing_input.as_bytes(), &signature))
        {
            Ok(claims)
        } else {
            Err(JwtError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset(algorithm: Algorithm) -> KeySet {
        KeySet {
            active: Arc::new(SigningKey::generate_for(algorithm).unwrap()),
            retired: vec![],
        }
    }

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        for algorithm in [Algorithm::Rs256, Algorithm::Es256] {
            let keys = keyset(algorithm);
            for with_kid in [true, false] {
                let token = keys
                    .active
                    .sign_with(&json!({ "sub": "ada", "n": 1 }), with_kid);
                assert_eq!(keys.verify(&token).unwrap()["sub"], "ada", "{algorithm:?}");
                let (head, _) = token.rsplit_once('.').unwrap();
                let forged_payload =
                    URL_SAFE_NO_PAD.encode(json!({ "sub": "eve", "n": 1 }).to_string());
                let parts: Vec<&str> = token.split('.').collect();
                let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
                assert_eq!(keys.verify(&forged), Err(JwtError::BadSignature));
                assert_eq!(keys.verify(head), Err(JwtError::Malformed));
            }
        }
        assert_eq!(
            keyset(Algorithm::Rs256).verify("a.b.c"),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn keys_round_trip_through_pkcs8() {
        for algorithm in [Algorithm::Rs256, Algorithm::Es256] {
            let key = SigningKey::generate_for(algorithm).unwrap();
            let again = SigningKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(
                (again.kid.as_str(), again.algorithm()),
                (key.kid.as_str(), algorithm)
            );
            let token = key.sign(&json!({ "x": 1 }));
            let set = KeySet {
                active: Arc::new(again),
                retired: vec![],
            };
            assert!(set.verify(&token).is_ok());
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_old_key_is_retired() {
        let mut keys = keyset(Algorithm::Rs256);
        let old_token = keys.active.sign(&json!({ "v": 1 }));
        let old_kid = keys.active.kid.clone();
        keys.rotate(SigningKey::generate().unwrap(), false);
        assert_ne!(keys.active.kid, old_kid, "a new key has a new kid");
        assert!(keys.verify(&old_token).is_ok());
        keys.rotate(SigningKey::generate().unwrap(), true);
        assert_eq!(keys.verify(&old_token), Err(JwtError::UnknownKey));
    }

    // Issue 21, point 5: rotating without retire_old grew the key set without bound.
    #[test]
    fn rotation_keeps_a_bounded_number_of_retired_keys() {
        let mut keys = keyset(Algorithm::Es256);
        for _ in 0..5 {
            keys.rotate(SigningKey::generate_for(Algorithm::Es256).unwrap(), false);
        }
        assert_eq!(keys.all().count(), 1 + RETIRED_KEYS_KEPT);
    }

    #[test]
    fn jwks_entries_carry_no_private_material() {
        for algorithm in [Algorithm::Rs256, Algorithm::Es256] {
            let keys = keyset(algorithm);
            let jwk = keys.active.jwk(Some("https://issuer"));
            let text = jwk.to_string();
            for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\""] {
                assert!(!text.contains(private), "{text}");
            }
            assert_eq!(jwk["issuer"], "https://issuer");
            assert!(keys.active.jwk_without_kid().get("kid").is_none());
        }
    }
}
