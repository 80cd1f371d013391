//! The ID token's signature (RFC 7515 compact JWS): the key chosen as OpenID Connect Core
//! §10.1 says (by `kid`, else the one key that fits), and verified with `ring`, the TLS
//! stack's own cryptography. Only the algorithms the provider advertises
//! (`id_token_signing_alg_values_supported`) among those `ring` verifies are accepted; `none`
//! and the HMAC ones never are (a public client has no shared secret, and `none` is no
//! signature).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::IdTokenError;
use crate::authority::{Jwk, Jwks};

/// The algorithms this engine verifies (RFC 7518 §3.1 names).
pub const SUPPORTED_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A decoded but not yet verified ID token.
#[derive(Debug)]
pub(crate) struct Unverified<'a> {
    pub kid: Option<String>,
    pub alg: String,
    signing_input: &'a str,
    signature: Vec<u8>,
    pub claims: serde_json::Value,
}

/// Splits and decodes a compact JWT.
pub(crate) fn decode(jwt: &str) -> Result<Unverified<'_>, IdTokenError> {
    let (signing_input, signature) = jwt.rsplit_once('.').ok_or(IdTokenError::Malformed)?;
    let (header, payload) = signing_input
        .split_once('.')
        .ok_or(IdTokenError::Malformed)?;
    let json = |part: &str| -> Result<serde_json::Value, IdTokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| IdTokenError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Malformed)
    };
    let header = json(header)?;
    let claims = json(payload)?;
    if !claims.is_object() {
        return Err(IdTokenError::Malformed);
    }
    Ok(Unverified {
        kid: header["kid"].as_str().map(str::to_owned),
        alg: header["alg"].as_str().unwrap_or_default().to_owned(),
        signing_input,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| IdTokenError::Malformed)?,
        claims,
    })
}

/// What one algorithm needs of a key, and how `ring` checks it.
enum Scheme {
    Rsa(&'static signature::RsaParameters),
    Ec {
        curve: &'static str,
        coordinate_len: usize,
        algorithm: &'static signature::EcdsaVerificationAlgorithm,
    },
    Ed25519,
}

fn scheme(alg: &str) -> Option<Scheme> {
    Some(match alg {
        // ring's RSA checks refuse keys under 2048 bits.
        "RS256" => Scheme::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Scheme::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Scheme::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => Scheme::Rsa(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => Scheme::Rsa(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => Scheme::Rsa(&signature::RSA_PSS_2048_8192_SHA512),
        // JWS ECDSA signatures are R || S of fixed length (RFC 7518 §3.4).
        "ES256" => Scheme::Ec {
            curve: "P-256",
            coordinate_len: 32,
            algorithm: &signature::ECDSA_P256_SHA256_FIXED,
        },
        "ES384" => Scheme::Ec {
            curve: "P-384",
            coordinate_len: 48,
            algorithm: &signature::ECDSA_P384_SHA384_FIXED,
        },
        // RFC 8037: EdDSA with an OKP key; ring verifies Ed25519 (not Ed448).
        "EdDSA" => Scheme::Ed25519,
        _ => return None,
    })
}

impl Scheme {
    /// Whether `key` is a signing key of the type and curve this algorithm needs, and not
    /// one the provider reserved for another algorithm or use.
    fn fits(&self, key: &Jwk, alg: &str) -> bool {
        let type_fits = match self {
            Scheme::Rsa(_) => key.kty == "RSA",
            Scheme::Ec { curve, .. } => key.kty == "EC" && key.crv.as_deref() == Some(curve),
            Scheme::Ed25519 => key.kty == "OKP" && key.crv.as_deref() == Some("Ed25519"),
        };
        type_fits
            && key.key_use.as_deref().is_none_or(|u| u == "sig")
            && key.alg.as_deref().is_none_or(|a| a == alg)
    }

    fn verify(&self, key: &Jwk, message: &[u8], signature: &[u8]) -> Result<(), IdTokenError> {
        let part = |value: &Option<String>| -> Result<Vec<u8>, IdTokenError> {
            URL_SAFE_NO_PAD
                .decode(value.as_deref().ok_or(IdTokenError::UnknownKey)?)
                .map_err(|_| IdTokenError::UnknownKey)
        };
        let checked = match self {
            Scheme::Rsa(parameters) => {
                // Unsigned big-endian; ring refuses leading zero octets, which RFC 7518
                // forbids but some providers send.
                let strip = |bytes: Vec<u8>| {
                    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
                    bytes[first..].to_vec()
                };
                signature::RsaPublicKeyComponents {
                    n: strip(part(&key.n)?),
                    e: strip(part(&key.e)?),
                }
                .verify(parameters, message, signature)
            }
            Scheme::Ec {
                coordinate_len,
                algorithm,
                ..
            } => {
                let (x, y) = (part(&key.x)?, part(&key.y)?);
                if x.len() != *coordinate_len || y.len() != *coordinate_len {
                    return Err(IdTokenError::UnknownKey);
                }
                // The uncompressed point (SEC 1 §2.3.3).
                let point = [&[0x04][..], &x, &y].concat();
                verify_with(*algorithm, &point, message, signature)
            }
            Scheme::Ed25519 => verify_with(&signature::ED25519, &part(&key.x)?, message, signature),
        };
        checked.map_err(|_| IdTokenError::Signature)
    }
}

fn verify_with(
    algorithm: &'static dyn VerificationAlgorithm,
    key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), ring::error::Unspecified> {
    UnparsedPublicKey::new(algorithm, key).verify(message, signature)
}

impl Unverified<'_> {
    /// Verifies the signature with the key the token names (`kid`), or, when it names none,
    /// with the one key of the set that fits its algorithm (more than one is ambiguous, and
    /// refused). `allowed` is what the provider advertises.
    pub fn verify_signature(&self, jwks: &Jwks, allowed: &[String]) -> Result<(), IdTokenError> {
        let scheme = match scheme(&self.alg) {
            Some(scheme) if allowed.iter().any(|a| a == &self.alg) => scheme,
            _ => return Err(IdTokenError::Algorithm(self.alg.clone())),
        };
        let fitting: Vec<&Jwk> = jwks
            .keys
            .iter()
            .filter(|k| scheme.fits(k, &self.alg))
            .filter(|k| self.kid.is_none() || k.kid == self.kid)
            .collect();
        if fitting.is_empty() {
            return Err(IdTokenError::UnknownKey);
        }
        // Core §10.1: when the set has more than one key, the token must say which.
        if fitting.len() > 1 && self.kid.is_none() {
            return Err(IdTokenError::AmbiguousKey);
        }
        // Several keys may share one kid (the same key for two algorithms, say): any of them.
        let mut outcome = Err(IdTokenError::Signature);
        for key in fitting {
            outcome = scheme.verify(key, self.signing_input.as_bytes(), &self.signature);
            if outcome.is_ok() {
                break;
            }
        }
        outcome
    }
}
