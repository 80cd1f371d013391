//! How the provider behaves where real providers differ from each other, one switch each, so
//! that the emulator can play each of them and the engine's tests run under each. Every switch
//! names the specification clause or the provider documentation it reproduces; the presets
//! are what the two flavours do by default.

use serde::{Deserialize, Serialize};

use crate::keys::Algorithm;

/// What a refresh token redeemed once is worth afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenReuse {
    /// A new refresh token comes back and the old one stays valid: Entra ID ("Refresh tokens
    /// in the Microsoft identity platform": refresh tokens are not revoked when used).
    Allowed,
    /// Rotated on every use; a spent one is refused (RFC 9700 §2.2.2).
    RotateAndRefuse,
    /// Rotated, and the reuse of a spent one revokes the whole grant, the newest token
    /// included (RFC 9700 §4.14.2, refresh token reuse detection).
    RotateAndRevokeGrant,
}

/// The shape of the ID token's `aud`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudienceShape {
    /// The client id as a string (OpenID Connect Core §2, "the common special case").
    String,
    /// An array of the client id and another audience, with `azp` (Core §2: "in the general
    /// case, the aud value is an array"; §3.1.3.7 requires `azp` then).
    ArrayWithAzp,
}

/// What a refresh answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshResponse {
    /// A new refresh token and `scope`, as Entra answers.
    Full,
    /// Neither: RFC 6749 §6 ("the authorization server MAY issue a new refresh token"; the old
    /// one stays valid then) and §5.1 (`scope` may be omitted when it is what was asked).
    WithoutRefreshTokenOrScope,
}

/// How access tokens look to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// A signed JWT (Entra, for Graph).
    Jwt,
    /// A random string the provider looks up: RFC 6749 §1.4, "usually opaque to the client".
    Opaque,
}

/// Where the profile claims (`name`, `email`, `preferred_username`) are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileClaims {
    /// In the ID token (and userinfo).
    InIdToken,
    /// Only at the userinfo endpoint: OpenID Connect Core §5.4, when an access token is issued
    /// the scope values' claims are returned from the userinfo endpoint.
    UserinfoOnly,
}

/// What the authorization endpoint does with a `claims` request parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimsParameter {
    /// Accepted, whatever its members (Entra, which reads `access_token.xms_cc`).
    Accepted,
    /// Not advertised (Discovery §3: `claims_parameter_supported` defaults to false), and a
    /// request whose members are not `userinfo` or `id_token` (Core §5.5) refused with
    /// `invalid_request`, as certified providers do.
    Refused,
}

/// How a redirect URI is matched against the registered ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectUriMatching {
    /// Exactly, except that a loopback one matches on any port: RFC 8252 §7.3, Entra's
    /// "localhost exceptions".
    LoopbackAnyPort,
    /// Exactly, always: OpenID Connect Core §3.1.2.1 ("MUST exactly match").
    Exact,
}

/// What a refresh token the provider does not know gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownRefreshToken {
    /// `invalid_grant` (RFC 6749 §5.2).
    InvalidGrant,
    /// `invalid_request`, as some providers answer; a client must be told it for that provider.
    InvalidRequest,
}

/// The switches, with serde names for the control API and `--set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// See [`RefreshTokenReuse`].
    pub refresh_token_reuse: RefreshTokenReuse,
    /// See [`AudienceShape`].
    pub audience: AudienceShape,
    /// See [`RefreshResponse`].
    pub refresh_response: RefreshResponse,
    /// See [`AccessTokenFormat`].
    pub access_tokens: AccessTokenFormat,
    /// See [`ProfileClaims`].
    pub profile_claims: ProfileClaims,
    /// See [`ClaimsParameter`].
    pub claims_parameter: ClaimsParameter,
    /// See [`RedirectUriMatching`].
    pub redirect_uri_matching: RedirectUriMatching,
    /// How ID and access tokens are signed: RS256 (Entra's), or ES256 (RFC 7518 §3.4).
    pub signing_algorithm: Algorithm,
    /// Whether the JWKS and the tokens name their key (`kid`, RFC 7517 §4.5: optional; OpenID
    /// Connect Core §10.1 lets a set of one key go without).
    pub key_ids: bool,
    /// Whether a refresh answer carries an ID token (Core §12.2: it "MAY").
    pub id_token_on_refresh: bool,
    /// See [`UnknownRefreshToken`].
    pub unknown_refresh_token: UnknownRefreshToken,
    /// Whether `offline_access` counts only with `prompt=consent`: OpenID Connect Core §11
    /// ("a prompt parameter value of consent MUST be used"), as node-oidc-provider enforces;
    /// without it the scope is dropped and no refresh token is issued. Entra does not.
    pub offline_access_needs_consent: bool,
    /// Whether Entra's ID tokens carry the `login_hint` claim: an *optional* claim, present
    /// only when the app registration adds it (Microsoft Learn, "Optional claims reference").
    /// The built-in registration adds it; without it Entra's sign-out shows an account picker.
    #[serde(default = "yes")]
    pub login_hint_claim: bool,
}

fn yes() -> bool {
    true
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::entra()
    }
}

impl Behaviour {
    /// Entra ID, as Microsoft documents it.
    pub fn entra() -> Behaviour {
        Behaviour {
            refresh_token_reuse: RefreshTokenReuse::Allowed,
            audience: AudienceShape::String,
            refresh_response: RefreshResponse::Full,
            access_tokens: AccessTokenFormat::Jwt,
            profile_claims: ProfileClaims::InIdToken,
            claims_parameter: ClaimsParameter::Accepted,
            redirect_uri_matching: RedirectUriMatching::LoopbackAnyPort,
            signing_algorithm: Algorithm::Rs256,
            key_ids: true,
            id_token_on_refresh: true,
            unknown_refresh_token: UnknownRefreshToken::InvalidGrant,
            offline_access_needs_consent: false,
            login_hint_claim: true,
        }
    }

    /// The plain OpenID Connect flavour's default: Entra's shapes, with strict rotation
    /// (RFC 9700 §2.2.2) and without the Entra-only claims parameter use.
    pub fn oidc() -> Behaviour {
        Behaviour {
            refresh_token_reuse: RefreshTokenReuse::RotateAndRefuse,
            claims_parameter: ClaimsParameter::Refused,
            offline_access_needs_consent: true,
            ..Behaviour::entra()
        }
    }

    /// The named profiles the engine's tests run under, each a provider seen in the field.
    pub fn profiles() -> Vec<(&'static str, Behaviour)> {
        let oidc = Behaviour::oidc;
        vec![
            ("oidc", oidc()),
            (
                "audience-array",
                Behaviour {
                    audience: AudienceShape::ArrayWithAzp,
                    ..oidc()
                },
            ),
            (
                "reuse-detection",
                Behaviour {
                    refresh_token_reuse: RefreshTokenReuse::RotateAndRevokeGrant,
                    ..oidc()
                },
            ),
            (
                "minimal-refresh",
                Behaviour {
                    refresh_response: RefreshResponse::WithoutRefreshTokenOrScope,
                    ..oidc()
                },
            ),
            (
                "opaque-access-tokens",
                Behaviour {
                    access_tokens: AccessTokenFormat::Opaque,
                    ..oidc()
                },
            ),
            (
                "userinfo-profile",
                Behaviour {
                    profile_claims: ProfileClaims::UserinfoOnly,
                    ..oidc()
                },
            ),
            (
                "exact-redirect",
                Behaviour {
                    redirect_uri_matching: RedirectUriMatching::Exact,
                    ..oidc()
                },
            ),
            (
                "es256",
                Behaviour {
                    signing_algorithm: Algorithm::Es256,
                    ..oidc()
                },
            ),
            (
                "keys-without-kid",
                Behaviour {
                    key_ids: false,
                    ..oidc()
                },
            ),
            (
                "no-id-token-on-refresh",
                Behaviour {
                    id_token_on_refresh: false,
                    ..oidc()
                },
            ),
            ("provider-b", Behaviour::provider_b()),
        ]
    }

    /// All of "provider B"'s differences at once: refresh answers without a refresh token or
    /// scope, opaque access tokens, the profile only at userinfo, exact redirect URIs, an
    /// audience array, and `invalid_request` for a refresh token it no longer knows.
    pub fn provider_b() -> Behaviour {
        Behaviour {
            audience: AudienceShape::ArrayWithAzp,
            refresh_response: RefreshResponse::WithoutRefreshTokenOrScope,
            access_tokens: AccessTokenFormat::Opaque,
            profile_claims: ProfileClaims::UserinfoOnly,
            redirect_uri_matching: RedirectUriMatching::Exact,
            unknown_refresh_token: UnknownRefreshToken::InvalidRequest,
            ..Behaviour::oidc()
        }
    }

    /// A named profile, or the Entra and OIDC presets (`entra`, `oidc`).
    pub fn named(name: &str) -> Option<Behaviour> {
        if name == "entra" {
            return Some(Behaviour::entra());
        }
        Behaviour::profiles()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b)
    }

    /// This behaviour with one switch changed, `switch=value` as the control API names them
    /// (`refresh_token_reuse=rotate_and_revoke_grant`, `key_ids=false`).
    pub fn with(&self, assignment: &str) -> Result<Behaviour, String> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("{assignment:?} is not switch=value"))?;
        let mut document = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let parsed: serde_json::Value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        match document.get_mut(name.trim()) {
            Some(slot) => *slot = parsed,
            None => return Err(format!("no switch named {name:?}")),
        }
        serde_json::from_value(document).map_err(|e| format!("{assignment}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_are_set_by_name_and_bad_ones_are_refused() {
        let b = Behaviour::oidc()
            .with("refresh_token_reuse=rotate_and_revoke_grant")
            .unwrap()
            .with("key_ids=false")
            .unwrap()
            .with("signing_algorithm=ES256")
            .unwrap();
        assert_eq!(
            b.refresh_token_reuse,
            RefreshTokenReuse::RotateAndRevokeGrant
        );
        assert!(!b.key_ids);
        assert_eq!(b.signing_algorithm, Algorithm::Es256);
        assert!(Behaviour::oidc().with("colour=blue").is_err());
        assert!(Behaviour::oidc().with("key_ids=maybe").is_err());
        assert!(Behaviour::oidc().with("key_ids").is_err());
        assert_eq!(
            Behaviour::named("provider-b"),
            Some(Behaviour::provider_b())
        );
        assert_eq!(
            Behaviour::entra().refresh_token_reuse,
            RefreshTokenReuse::Allowed
        );
    }
}
