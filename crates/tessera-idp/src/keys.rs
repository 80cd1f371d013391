//! The provider's RS256 signing keys and its JSON Web Key Set, with rotation.
//!
//! JWTs are built and checked here directly (RFC 7515 compact form, RS256 = RSASSA-PKCS1-v1_5
//! with SHA-256) so that the emulator owns exactly what it signs.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey as RsaSigner, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One RSA key pair with its key id.
pub struct SigningKey {
    /// `kid` in JWT headers and the JWKS.
    pub kid: String,
    signer: RsaSigner<Sha256>,
    verifier: VerifyingKey<Sha256>,
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// Why a JWT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// `alg` is not RS256 or `kid` names no key of ours.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
}

impl SigningKey {
    /// A fresh 2048-bit key.
    pub fn generate() -> Result<SigningKey, rsa::Error> {
        Ok(Self::from_private(RsaPrivateKey::new(
            &mut rand::rngs::OsRng,
            2048,
        )?))
    }

    /// The key from its PKCS#8 DER form ([`Self::to_pkcs8_der`]).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, String> {
        use rsa::pkcs8::DecodePrivateKey;
        RsaPrivateKey::from_pkcs8_der(der)
            .map(Self::from_private)
            .map_err(|e| e.to_string())
    }

    /// The private key as PKCS#8 DER, to keep the provider's keys across restarts.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, String> {
        use rsa::pkcs8::EncodePrivateKey;
        let private: &RsaPrivateKey = self.signer.as_ref();
        private
            .to_pkcs8_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|e| e.to_string())
    }

    fn from_private(private: RsaPrivateKey) -> SigningKey {
        let public = private.to_public_key();
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
        // The kid is derived from the modulus, like a thumbprint, so it changes with the key.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(n.as_bytes())[..15]);
        SigningKey {
            kid,
            signer: RsaSigner::new(private),
            verifier: VerifyingKey::new(public),
            n,
            e,
        }
    }

    /// Signs `claims` as a compact JWT with header `{alg: RS256, typ: JWT, kid}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "typ": "JWT", "alg": "RS256", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signer.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// The public key as a JWK (RFC 7517), with Entra's `issuer` member when given.
    pub fn jwk(&self, issuer: Option<&str>) -> Value {
        let mut jwk =
            json!({ "kty": "RSA", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e });
        if let Some(issuer) = issuer {
            jwk["issuer"] = json!(issuer);
        }
        jwk
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

impl KeySet {
    /// Every published key, active first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<SigningKey>> {
        std::iter::once(&self.active).chain(self.retired.iter())
    }

    /// Makes `next` the signing key; the old one stays published unless `retire_old`.
    pub fn rotate(&mut self, next: SigningKey, retire_old: bool) {
        let old = std::mem::replace(&mut self.active, Arc::new(next));
        if retire_old {
            self.retired.clear();
        } else {
            self.retired.insert(0, old);
        }
    }

    /// Verifies a JWT's signature against the published keys and returns its claims.
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
        if header["alg"] != "RS256" {
            return Err(JwtError::UnknownKey);
        }
        let key = self
            .all()
            .find(|k| header["kid"] == k.kid.as_str())
            .ok_or(JwtError::UnknownKey)?;
        let signature = Signature::try_from(decode(signature)?.as_slice())
            .map_err(|_| JwtError::BadSignature)?;
        let signing_input = &token[..header_len(token)];
        key.verifier
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)?;
        Ok(claims)
    }
}

/// Length of `header.payload`, the signed part of a compact JWT.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset() -> KeySet {
        KeySet {
            active: Arc::new(SigningKey::generate().unwrap()),
            retired: vec![],
        }
    }

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let keys = keyset();
        let token = keys.active.sign(&json!({ "sub": "ada", "n": 1 }));
        assert_eq!(keys.verify(&token).unwrap()["sub"], "ada");

        let (head, _) = token.rsplit_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(json!({ "sub": "eve", "n": 1 }).to_string());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(keys.verify(&forged), Err(JwtError::BadSignature));
        assert_eq!(keys.verify(head), Err(JwtError::Malformed));
        assert_eq!(keys.verify("a.b.c"), Err(JwtError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_old_key_is_retired() {
        let mut keys = keyset();
        let old_token = keys.active.sign(&json!({ "v": 1 }));
        let old_kid = keys.active.kid.clone();
        keys.rotate(SigningKey::generate().unwrap(), false);
        assert_ne!(keys.active.kid, old_kid, "a new key has a new kid");
        assert!(keys.verify(&old_token).is_ok());
        keys.rotate(SigningKey::generate().unwrap(), true);
        assert_eq!(keys.verify(&old_token), Err(JwtError::UnknownKey));
    }

    #[test]
    fn jwks_entries_carry_no_private_material() {
        let keys = keyset();
        let jwk = keys.active.jwk(Some("https://issuer"));
        let text = jwk.to_string();
        for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\""] {
            assert!(!text.contains(private), "{text}");
        }
        assert_eq!(jwk["issuer"], "https://issuer");
        assert!(!format!("{:?}", keys.active).contains(&keys.active.n));
    }
}
