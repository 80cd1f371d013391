//! ID token validation (OpenID Connect Core §3.1.3.7): the signature against the provider's
//! JWKS ([`jws`]), then `iss`, `aud` (a string or an array containing our client id, with
//! `azp` when there are several), `exp`, `nbf` and `iat` with a clock-skew allowance, and
//! `nonce`. MSAL skips the signature because the token came over TLS from the token endpoint;
//! we check it anyway.

mod jws;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::Nonce;

pub(crate) use jws::decode;
pub use jws::SUPPORTED_ALGORITHMS;

/// How far the provider's clock may be behind ours when checking `exp`.
pub const CLOCK_SKEW_SECONDS: i64 = 300;

/// How far in the future `iat` and `nbf` may be: desktop clocks are often minutes off, sometimes an hour
/// (a wrong time zone), and freshness is proven by the nonce, not by `iat`. MSAL does not check
/// `iat` at all; we refuse only what no clock error explains.
pub const ISSUED_AT_TOLERANCE_SECONDS: i64 = 3600;

/// The `aud` claim: one audience or several (OpenID Connect Core §2: "In the general case,
/// the aud value is an array of case-sensitive strings. In the common special case when there
/// is one audience, the aud value MAY be a single case-sensitive string."). Serialised as it
/// came: a string for one, an array for several.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// Whether `client_id` is one of the audiences.
    pub fn contains(&self, client_id: &str) -> bool {
        self.0.iter().any(|a| a == client_id)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(one) => Audience(vec![one]),
            OneOrMany::Many(many) => Audience(many),
        })
    }
}

/// The claims of a validated ID token that the engine and its callers use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject (pairwise per app on Entra).
    pub sub: String,
    /// Audiences: our client id among them.
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The authorized party: our client id, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
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
    /// Entra's user principal name (v1.0 tokens, and v2.0 with the optional claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Azure AD B2C's e-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Entra's `login_hint` optional claim: what `prompt=none` and `logout_hint` should carry
    /// (Microsoft Learn, "Optional claims reference").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// The session id (OpenID Connect Front-Channel Logout 1.0 §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl IdTokenClaims {
    /// The sign-in name, as MSAL picks it: `preferred_username`, then `upn`, then the first of
    /// B2C's `emails`, then `email` (msal-common `AccountEntity`; MSAL Python
    /// `token_cache.py`).
    pub fn username(&self) -> Option<&str> {
        self.preferred_username
            .as_deref()
            .or(self.upn.as_deref())
            .or(self.emails.first().map(String::as_str))
            .or(self.email.as_deref())
    }
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a compact JWS of JSON.
    #[error("malformed token")]
    Malformed,
    /// An algorithm the provider does not advertise, or that this engine does not verify
    /// (`none` and HMAC never).
    #[error("unsupported or unadvertised signing algorithm {0:?}")]
    Algorithm(String),
    /// No key with this `kid` (or none fitting the algorithm) in the JWKS, even after
    /// refetching it.
    #[error("unknown signing key")]
    UnknownKey,
    /// The token names no key and more than one fits.
    #[error("the token names no signing key (kid) and several fit")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// A claim is wrong.
    #[error("{0}")]
    Claim(String),
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
    // §3.1.3.7 (3)-(5): our client id among the audiences; with several, `azp` must be there;
    // when `azp` is there, it must be us.
    if !parsed.aud.contains(client_id) {
        return Err(IdTokenError::Claim(format!(
            "the audience ({}) does not include this client",
            parsed.aud.0.join(", ")
        )));
    }
    match &parsed.azp {
        Some(azp) if azp != client_id => {
            return Err(IdTokenError::Claim(format!(
                "the authorized party {azp} is not this client"
            )))
        }
        None if parsed.aud.0.len() > 1 => {
            return Err(IdTokenError::Claim(
                "the token has several audiences and no authorized party (azp)".into(),
            ))
        }
        _ => {}
    }
    if parsed.exp + CLOCK_SKEW_SECONDS < now {
        return Err(IdTokenError::Claim(
            "the token has expired (is this computer's clock right?)".into(),
        ));
    }
    // Not-before is the issue time's twin: a provider's clock ahead of ours moves both, and
    // the nonce, not the clock, proves the token fresh.
    if parsed
        .nbf
        .is_some_and(|nbf| nbf - ISSUED_AT_TOLERANCE_SECONDS > now)
    {
        return Err(IdTokenError::Claim(
            "the token is not valid yet (is this computer's clock right?)".into(),
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
mod tests;
