//! The requests, results and settings of the public API.

use std::sync::Arc;
use std::time::Duration;

use crate::authority::AuthorityType;
use crate::cache::Account;
use crate::event::TokenSource;
use crate::http::HttpConfig;
use crate::id_token::IdTokenClaims;
use crate::secret::AccessToken;

/// How the application is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Application (client) id.
    pub client_id: String,
    /// Authority URL: `https://login.microsoftonline.com/{tenant}` or any OIDC issuer.
    pub authority: String,
    /// The authority's kind, when its host does not say it (MSAL's known authorities); `None`
    /// decides from the host ([`crate::authority::Authority::parse_as`]).
    pub authority_type: Option<AuthorityType>,
    /// Scopes added to every request that names none.
    pub default_scopes: Vec<String>,
    /// A token expiring within this much counts as expired (default 5 minutes).
    pub renewal_offset: Duration,
    /// Client capabilities (`cp1` lets Entra send Continuous Access Evaluation challenges).
    /// Sent to Microsoft authorities only: they mean nothing to other providers, which may
    /// refuse a `claims` parameter they do not understand.
    pub client_capabilities: Vec<String>,
    /// The network stack: time limit of each request, an extra CA file.
    pub http: HttpConfig,
    /// The `error` codes this provider documents for a refresh token it no longer honours,
    /// besides RFC 6749's `invalid_grant` (some answer `invalid_request`): they mean "sign in
    /// again" rather than a provider failure.
    pub refresh_token_refusals: Vec<String>,
}

impl Config {
    /// A configuration with the defaults: the kind from the authority's host, no default
    /// scopes, 5-minute renewal offset, no capabilities, 30-second HTTP time limit.
    pub fn new(client_id: impl Into<String>, authority: impl Into<String>) -> Config {
        Config {
            client_id: client_id.into(),
            authority: authority.into(),
            authority_type: None,
            default_scopes: vec![],
            renewal_offset: Duration::from_secs(300),
            client_capabilities: vec![],
            http: HttpConfig::default(),
            refresh_token_refusals: vec![],
        }
    }
}

/// A token and what is known about it.
#[derive(Debug, Clone)]
pub struct AuthenticationResult {
    /// The access token, for the `Authorization: Bearer` header.
    pub access_token: AccessToken,
    /// Expiry, Unix seconds.
    pub expires_on: i64,
    /// Extended expiry (Entra's resilience window), Unix seconds.
    pub ext_expires_on: i64,
    /// Granted scopes, which may differ from the requested ones.
    pub scopes: Vec<String>,
    /// The account.
    pub account: Account,
    /// The validated ID token claims, when there is an ID token (shared with the cache).
    pub id_token_claims: Option<Arc<IdTokenClaims>>,
    /// Where it came from.
    pub source: TokenSource,
    /// The correlation id sent to the provider (`client-request-id`).
    pub correlation_id: String,
}

/// Which parts of the cache a silent request may use (MSAL's `CacheLookupPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheLookupPolicy {
    /// Access token, then refresh token, then silent SSO.
    #[default]
    Default,
    /// The cached access token only: no network at all.
    AccessToken,
    /// Access token, then refresh token; no silent SSO.
    AccessTokenAndRefreshToken,
    /// Refresh token only (skip the cached access token); no silent SSO.
    RefreshToken,
    /// Skip the cache: silent SSO only.
    Skip,
}

impl CacheLookupPolicy {
    pub(super) fn access_token(self) -> bool {
        matches!(
            self,
            Self::Default | Self::AccessToken | Self::AccessTokenAndRefreshToken
        )
    }
    pub(super) fn refresh_token(self) -> bool {
        matches!(
            self,
            Self::Default | Self::AccessTokenAndRefreshToken | Self::RefreshToken
        )
    }
    pub(super) fn silent_sso(self) -> bool {
        matches!(self, Self::Default | Self::Skip)
    }
}

/// A silent request.
#[derive(Debug, Clone)]
pub struct SilentRequest {
    /// Scopes of one resource; empty means the configured defaults.
    pub scopes: Vec<String>,
    /// Whose token.
    pub account: Account,
    /// Skip the cached access token.
    pub force_refresh: bool,
    /// A claims challenge (from a resource's 401); always skips the cached access token.
    pub claims: Option<String>,
    /// Which parts of the cache to use.
    pub cache_lookup_policy: CacheLookupPolicy,
    /// Another Entra tenant than the configured authority's (its id or verified domain):
    /// where a guest account gets tokens for that tenant's resources, with the refresh token
    /// of its sign-in (Entra's are not bound to a tenant).
    pub tenant: Option<String>,
}

impl SilentRequest {
    /// A default request for `account`.
    pub fn new(account: Account, scopes: Vec<String>) -> SilentRequest {
        SilentRequest {
            scopes,
            account,
            force_refresh: false,
            claims: None,
            cache_lookup_policy: CacheLookupPolicy::Default,
            tenant: None,
        }
    }
}

/// `prompt` of an interactive request (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Ask for credentials even with a session.
    Login,
    /// Show the consent page.
    Consent,
    /// Show the account picker.
    SelectAccount,
}

impl Prompt {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }
}

/// An interactive request.
#[derive(Debug, Clone, Default)]
pub struct InteractiveRequest {
    /// Scopes of one resource; empty means the configured defaults.
    pub scopes: Vec<String>,
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `login_hint`: the user to sign in.
    pub login_hint: Option<String>,
    /// `domain_hint`.
    pub domain_hint: Option<String>,
    /// A claims challenge to satisfy.
    pub claims: Option<String>,
    /// Scopes of other resources to consent to now, without a token for them.
    pub extra_scopes_to_consent: Vec<String>,
    /// Another Entra tenant than the configured authority's to sign in to (a guest's
    /// resource tenant); see [`SilentRequest::tenant`].
    pub tenant: Option<String>,
}
