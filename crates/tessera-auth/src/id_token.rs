//! ID token validation (OpenID Connect Core §3.1.3.7): RS256 signature against the provider's
//! JWKS, then `iss`, `aud`, `exp`, `iat` with a clock-skew allowance, and `nonce`. MSAL skips the
//! signature because the token came over TLS from the token endpoint; we check it anyway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::authority::Jwks;
use crate::secret::Nonce;

/// How far the provider's clock may be behind ours when checking `exp`.
pub const CLOCK_SKEW_SECONDS: i64 = 300;

/// How far in the future `iat` may be: desktop clocks are often minutes off, sometimes an hour
/// (a wrong time zone), and freshness is proven by the nonce, not by `iat`. MSAL does not check
/// `iat` at all; we refuse only what no clock error explains.
pub const ISSUED_AT_TOLERANCE_SECONDS: i64 = 3600;

/// The claims of a validated ID token that the engine and its callers use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject (pairwise per app on Entra).
    pub sub: String,
    /// Audience: our client id.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// The nonce of the request, when one was sent.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Entra object id.
    #[serde(default)]
    pub oid: Option<String>,
    /// Entra tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    /// Sign-in name.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a compact JWS of JSON.
    #[error("malformed token")]
    Malformed,
    /// Not RS256.
    #[error("unsupported algorithm {0}")]
    Algorithm(String),
    /// No key with this `kid` in the JWKS (even after refetching it).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// A claim is wrong.
    #[error("{0}")]
    Claim(String),
}

/// A decoded but not yet verified ID token.
#[derive(Debug)]
pub(crate) struct Unverified<'a> {
    pub kid: Option<String>,
    alg: String,
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
    Ok(Unverified {
        kid: header["kid"].as_str().map(str::to_owned),
        alg: header["alg"].as_str().unwrap_or_default().to_owned(),
        signing_input,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| IdTokenError::Malformed)?,
        claims: json(payload)?,
    })
}

impl Unverified<'_> {
    /// Verifies the RS256 signature with the JWKS key named by `kid`.
    pub fn verify_signature(&self, jwks: &Jwks) -> Result<(), IdTokenError> {
        if self.alg != "RS256" {
            return Err(IdTokenError::Algorithm(self.alg.clone()));
        }
        let jwk = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "RSA")
            .find(|k| self.kid.is_none() || k.kid == self.kid)
            .ok_or(IdTokenError::UnknownKey)?;
        let component = |v: &Option<String>| -> Result<Vec<u8>, IdTokenError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(v.as_deref().ok_or(IdTokenError::UnknownKey)?)
                .map_err(|_| IdTokenError::UnknownKey)?;
            // Unsigned big-endian; ring refuses leading zero octets, which RFC 7518 forbids
            // but some providers send.
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
            Ok(bytes[first..].to_vec())
        };
        // ring's RSASSA-PKCS1-v1_5 with SHA-256 (RS256), the TLS stack's own implementation:
        // about 20 times faster than a generic big-number one, and it refuses keys under
        // 2048 bits.
        let key = ring::signature::RsaPublicKeyComponents {
            n: component(&jwk.n)?,
            e: component(&jwk.e)?,
        };
        key.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            self.signing_input.as_bytes(),
            &self.signature,
        )
        .map_err(|_| IdTokenError::Signature)
    }
}

/// Checks the claims of a signature-verified token.
pub(crate) fn validate_claims(
    claims: &serde_json::Value,
    expected_issuer: &str,
    client_id: &str,
    nonce: Option<&Nonce>,
    now: i64,
) -> Result<IdTokenClaims, IdTokenError> {
    let parsed: IdTokenClaims = serde_json::from_value(claims.clone())
        .map_err(|e| IdTokenError::Claim(format!("missing or malformed claim: {e}")))?;
    if parsed.iss != expected_issuer {
        return Err(IdTokenError::Claim(format!(
            "issuer {} is not the expected {expected_issuer}",
            parsed.iss
        )));
    }
    if parsed.aud != client_id {
        return Err(IdTokenError::Claim(format!(
            "audience {} is not this client",
            parsed.aud
        )));
    }
    if parsed.exp + CLOCK_SKEW_SECONDS < now {
        return Err(IdTokenError::Claim(
            "the token has expired (is this computer's clock right?)".into(),
        ));
    }
    if parsed.iat - ISSUED_AT_TOLERANCE_SECONDS > now {
        return Err(IdTokenError::Claim(
            "the token was issued in the future (is this computer's clock right?)".into(),
        ));
    }
    if let Some(expected) = nonce {
        match &parsed.nonce {
            Some(got) if expected.matches(got) => {}
            _ => return Err(IdTokenError::Claim("nonce mismatch".into())),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(overrides: serde_json::Value) -> serde_json::Value {
        let mut base = json!({ "iss": "https://idp/tid/v2.0", "sub": "s", "aud": "client", "exp": 2000, "iat": 1000, "nonce": "n1" });
        for (k, v) in overrides.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn the_signature_is_checked_with_the_key_the_token_names() {
        let key = tessera_idp::SigningKey::generate().unwrap();
        let other = tessera_idp::SigningKey::generate().unwrap();
        let jwks: Jwks = serde_json::from_value(json!({ "keys": [key.jwk(None)] })).unwrap();
        let verify = |token: &str| decode(token).unwrap().verify_signature(&jwks);

        let token = key.sign(&claims(json!({})));
        assert!(verify(&token).is_ok());
        let [header, payload, signature] = token.split('.').collect::<Vec<_>>()[..] else {
            panic!("a compact JWT");
        };
        // Claims changed after signing.
        let forged = URL_SAFE_NO_PAD.encode(claims(json!({ "sub": "mallory" })).to_string());
        assert!(matches!(
            verify(&format!("{header}.{forged}.{signature}")),
            Err(IdTokenError::Signature)
        ));
        // Signed by another key, under this key's id.
        let elsewhere = other.sign(&claims(json!({})));
        let foreign_signature = elsewhere.rsplit('.').next().unwrap();
        assert!(matches!(
            verify(&format!("{header}.{payload}.{foreign_signature}")),
            Err(IdTokenError::Signature)
        ));
        // A key the set does not have, and an algorithm other than RS256.
        assert!(matches!(verify(&elsewhere), Err(IdTokenError::UnknownKey)));
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(matches!(
            verify(&format!("{none}.{payload}.{signature}")),
            Err(IdTokenError::Algorithm(_))
        ));
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
        assert!(
            validate_claims(&good, "https://idp/tid/v2.0", "client", Some(&nonce), 1500).is_ok()
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in ["", "a.b", "a.b.c", "e30.e30.!!"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
