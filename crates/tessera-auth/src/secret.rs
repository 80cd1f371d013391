//! Secrets as newtypes: `Debug` prints `Name([redacted])`, there is no `Display`, and the value
//! comes out only through `secret()` (borrow) or `into_secret()` (move), so that no token, code
//! or verifier reaches a log line, an error message or an event by accident.
//!
//! The value is shared (`Arc<str>`): the cache and every result handed out hold the same bytes,
//! so a cache hit copies no token and memory holds one copy of each.

use std::fmt;
use std::sync::Arc;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Arc::from(value.into()))
            }

            /// The secret value.
            ///
            /// # Security Warning
            /// Do not log it, put it in an error message, or send it to the UI.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Consumes the wrapper and returns the secret value.
            ///
            /// # Security Warning
            /// As for [`Self::secret`].
            pub fn into_secret(self) -> String {
                self.0.to_string()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// An OAuth 2.0 access token (RFC 6749 §1.4), opaque to this client.
    AccessToken
);
secret_type!(
    /// An OAuth 2.0 refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// A raw OpenID Connect ID token (a JWT).
    IdToken
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_type!(
    /// A device code (RFC 8628 §3.2): what the client polls with. Not the user code, which the
    /// user types and may be shown.
    DeviceCode
);

/// The PKCE code verifier (RFC 7636 §4.1). Not `Clone`: it is used once, for one redemption.
pub struct PkceCodeVerifier(String);

impl PkceCodeVerifier {
    /// A fresh verifier: 32 random bytes, base64url (43 characters).
    pub fn generate() -> Self {
        Self(random_urlsafe(32))
    }

    /// The S256 challenge: `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
    pub fn s256_challenge(&self) -> String {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(self.0.as_bytes()))
    }

    /// The verifier.
    ///
    /// # Security Warning
    /// Send it only to the token endpoint.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

// Wiped when dropped (issue 21): the verifier is what makes a stolen code useless, so no copy
// of it should linger in freed memory. `ZeroizeOnDrop` is the compile-time promise of that.
impl Drop for PkceCodeVerifier {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl zeroize::ZeroizeOnDrop for PkceCodeVerifier {}

const _: fn() = || {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<PkceCodeVerifier>();
};

impl fmt::Debug for PkceCodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceCodeVerifier([redacted])")
    }
}

macro_rules! compared_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// A fresh random value (32 bytes, base64url).
            pub fn generate() -> Self {
                Self(random_urlsafe(32))
            }

            /// The value, to put in the authorize URL.
            ///
            /// # Security Warning
            /// Do not log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Compares with a received value in constant time.
            pub fn matches(&self, received: &str) -> bool {
                constant_time_eq(self.0.as_bytes(), received.as_bytes())
            }

            /// A chosen value: the fuzz targets cannot guess a random one.
            #[cfg(feature = "fuzzing")]
            pub(crate) fn chosen(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

compared_secret!(
    /// The `state` parameter binding a redirect to the request that caused it (RFC 6749 §10.12).
    CsrfState
);
compared_secret!(
    /// The OpenID Connect `nonce` binding an ID token to its request (OIDC Core §3.1.2.1).
    Nonce
);

/// `n` random bytes from the OS, base64url without padding.
pub(crate) fn random_urlsafe(n: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Equal length and equal bytes, without an early exit.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let canary = "canary-0123456789";
        let shown = [
            format!("{:?}", AccessToken::new(canary)),
            format!("{:?}", RefreshToken::new(canary)),
            format!("{:?}", IdToken::new(canary)),
            format!("{:?}", AuthorizationCode::new(canary)),
            format!("{:?}", PkceCodeVerifier(canary.into())),
            format!("{:?}", CsrfState(canary.into())),
            format!("{:?}", Nonce(canary.into())),
            format!("{:?}", Some(vec![AccessToken::new(canary)])),
        ];
        for text in shown {
            assert!(!text.contains(canary), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let verifier = PkceCodeVerifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(
            verifier.s256_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(PkceCodeVerifier::generate().secret().len(), 43);
    }

    #[test]
    fn state_and_nonce_compare_exactly() {
        let state = CsrfState::generate();
        let copy = state.secret().to_owned();
        assert!(state.matches(&copy));
        assert!(!state.matches(&copy[1..]));
        assert!(!state.matches(""));
        assert_ne!(CsrfState::generate().secret(), state.secret());
    }
}
