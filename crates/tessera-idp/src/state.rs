//! Everything the provider remembers between requests, behind one mutex.
//!
//! Critical sections are short and never cross an `.await`, so a `std::sync::Mutex` is the
//! right lock (and `clippy::await_holding_lock` guards it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::faults::Fault;
use crate::keys::KeySet;
use crate::scopes::Permission;
use crate::seed::{Photo, Seed};

/// The key under which a secret the provider handed out (a refresh token, a session cookie) is
/// remembered: its SHA-256, so the provider's memory (and its state file) holds no usable
/// secret, as a real provider stores hashes.
pub fn secret_key(secret: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// Which protocol dialect the provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Microsoft Entra ID v2.0: tenant paths, `client_info`, AADSTS error codes.
    Entra,
    /// A plain OpenID Connect provider: issuer at the root, standard error codes only.
    Oidc,
}

/// Token lifetimes, in seconds; the control API changes them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Lifetimes {
    /// `expires_in` of access tokens. Entra's default is 60–90 minutes.
    pub access_token: i64,
    /// How long a refresh token stays redeemable (Entra: 90 days of inactivity).
    pub refresh_token: i64,
    /// `refresh_in`, Entra's hint to renew early; sent only when set.
    pub refresh_in: Option<i64>,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token: 3600,
            refresh_token: 90 * 86_400,
            refresh_in: None,
        }
    }
}

/// One signed-in user inside a browser session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// The user's object id.
    pub oid: String,
    /// Whether this sign-in satisfied multi-factor authentication.
    pub mfa: bool,
    /// When the user entered credentials.
    pub auth_time: i64,
}

/// A browser session (Entra's ESTSAUTH cookie): the users signed in in that browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserSession {
    /// Users, most recent first.
    pub users: Vec<SessionUser>,
    /// Whether the user chose "Stay signed in" (a cookie with an expiry).
    pub persistent: bool,
    /// When the server forgets the session.
    pub expires_at: i64,
}

/// Where a sign-in stands, between the pages of the authorize flow.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The validated authorize request.
    pub request: AuthorizeRequest,
    /// The browser session cookie seen at the start, if any.
    pub session_id: Option<String>,
    /// Chosen user's oid.
    pub user: Option<String>,
    /// Credentials were entered in this transaction.
    pub fresh_login: bool,
    /// The account picker was answered.
    pub picked: bool,
    /// MFA was completed in this transaction.
    pub mfa: bool,
    /// "Stay signed in?" answer, once given.
    pub keep_signed_in: Option<bool>,
    /// Consent was given in this transaction.
    pub consented: bool,
    /// When the transaction stops being accepted.
    pub expires_at: i64,
}

/// An authorize request that passed validation.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    /// The tenant path segment (`common`, a GUID, a domain), or empty for the OIDC flavour.
    pub tenant: String,
    /// Client id as registered.
    pub client_id: String,
    /// The redirect URI exactly as sent.
    pub redirect_uri: String,
    /// Parsed scopes.
    pub permissions: BTreeSet<Permission>,
    /// `state`, returned untouched.
    pub state: Option<String>,
    /// `nonce`, copied into the id token.
    pub nonce: Option<String>,
    /// S256 `code_challenge`.
    pub code_challenge: Option<String>,
    /// `none`, `login`, `consent`, `select_account`.
    pub prompt: Option<String>,
    /// `login_hint`: a username, or an earlier ID token's `login_hint` claim.
    pub login_hint: Option<String>,
    /// `sid`: an earlier ID token's session id, for `prompt=none`.
    pub sid: Option<String>,
    /// `client_info=1`: Entra returns `client_info` with the code.
    pub client_info: bool,
    /// `query`, `fragment` or `form_post`.
    pub response_mode: String,
    /// The `claims` request (JSON), if any.
    pub claims: Option<serde_json::Value>,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    /// Who may redeem it.
    pub client_id: String,
    /// Must be repeated exactly at the token endpoint.
    pub redirect_uri: String,
    /// The user's oid.
    pub oid: String,
    /// Permissions consented for this request.
    pub permissions: BTreeSet<Permission>,
    /// Copied into the id token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// The `claims` request of the authorize call.
    pub claims: Option<serde_json::Value>,
    /// Whether the sign-in satisfied MFA.
    pub mfa: bool,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Issue time; codes live 10 minutes.
    pub issued_at: i64,
    /// Redeemed already (codes are single-use).
    pub redeemed: bool,
    /// The `sid` of the browser session it was issued in.
    pub session: Option<String>,
}

/// An issued refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The user's oid.
    pub oid: String,
    /// Whether the original sign-in satisfied MFA.
    pub mfa: bool,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Issue order, compared with the user's revocation marks.
    pub sequence: u64,
    /// When it stops being redeemable.
    pub expires_at: i64,
    /// Replaced by a newer one (rotation); a second use is refused.
    pub rotated: bool,
    /// The grant it belongs to: every token rotated from one sign-in shares it, so reuse
    /// detection can revoke them all (RFC 9700 §4.14.2).
    #[serde(default)]
    pub family: String,
    /// Revoked with its whole grant after a spent token of it was reused.
    #[serde(default)]
    pub revoked: bool,
}

/// What Graph demands from a user's tokens after a Continuous Access Evaluation event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClaimsChallenge {
    /// A critical event (revocation, password change): tokens issued before `since` fail.
    Nbf {
        /// Unix time of the event.
        since: i64,
    },
    /// A Conditional Access authentication context (`acrs`) is required.
    Acrs {
        /// The authentication context id, e.g. `c1`.
        value: String,
    },
}

/// Per-user levers of the control API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserFlags {
    /// Refresh tokens with `sequence <= expired_upto` are expired (AADSTS700082).
    pub expired_upto: u64,
    /// Refresh tokens with `sequence <= revoked_upto` are revoked (AADSTS50173).
    pub revoked_upto: u64,
    /// Sign-ins and refreshes need MFA (AADSTS50076).
    pub mfa_required: bool,
    /// Graph answers tokens that do not satisfy this with a claims challenge.
    pub claims_challenge: Option<ClaimsChallenge>,
}

/// The mutable part of the provider.
#[derive(Debug, Default)]
pub struct Store {
    /// Current lifetimes.
    pub lifetimes: Lifetimes,
    /// Browser sessions by the cookie value's [`secret_key`].
    pub sessions: HashMap<String, BrowserSession>,
    /// Sign-ins in progress by transaction id.
    pub transactions: HashMap<String, Transaction>,
    /// Authorization codes.
    pub codes: HashMap<String, CodeGrant>,
    /// Refresh tokens, by [`secret_key`].
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Consented permissions by (user oid, client id).
    pub consents: HashMap<(String, String), BTreeSet<Permission>>,
    /// Control-API levers by user oid.
    pub users: HashMap<String, UserFlags>,
    /// Pending injected faults, in order.
    pub faults: Vec<Fault>,
    /// Request counters by endpoint and grant type.
    pub stats: BTreeMap<String, u64>,
    /// Last issued refresh-token sequence number.
    pub sequence: u64,
    /// The device flow's settings.
    pub device: DeviceSettings,
    /// Device codes handed out, by [`secret_key`].
    pub device_codes: HashMap<String, DeviceGrant>,
    /// Opaque access tokens handed out, by [`secret_key`], with the claims they stand for.
    pub opaque_tokens: HashMap<String, serde_json::Value>,
}

impl Store {
    /// Counts one request under `key`.
    pub fn count(&mut self, key: &str) {
        *self.stats.entry(key.to_owned()).or_default() += 1;
    }

    /// The user's control flags, created on first use.
    pub fn flags(&mut self, oid: &str) -> &mut UserFlags {
        self.users.entry(oid.to_owned()).or_default()
    }

    /// The next refresh-token sequence number.
    pub fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

/// The whole provider: configuration plus state.
#[derive(Debug)]
pub struct Idp {
    /// Protocol dialect.
    pub flavor: Flavor,
    /// `http://127.0.0.1:{port}`, known once bound.
    pub base: Url,
    /// The directory.
    pub seed: Seed,
    /// Photos by user oid.
    pub photos: HashMap<String, Photo>,
    /// The provider's (skewable) clock.
    pub clock: Clock,
    /// Signing keys.
    pub keys: RwLock<KeySet>,
    store: Mutex<Store>,
    /// Where the state is kept across restarts, if anywhere (see `durable`).
    pub state_file: Option<std::path::PathBuf>,
    /// What was last written there.
    pub(crate) saved: Mutex<Vec<u8>>,
    /// Every secret issued or received (codes, PKCE verifiers, device codes, tokens), when the
    /// starter asked for them (`IdpOptions::record_secrets`): tests scan logs for them.
    pub ledger: Option<std::sync::Arc<Mutex<Vec<String>>>>,
    /// How it behaves where providers differ.
    pub behaviour: crate::behaviour::Behaviour,
    /// The `msgraph_host` Entra discovery advertises, when not its own host.
    pub msgraph_host: Option<String>,
}

impl Idp {
    /// Notes a secret in the ledger, when there is one.
    pub fn witness(&self, secret: &str) {
        if let Some(ledger) = &self.ledger {
            if !secret.is_empty() {
                ledger
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(secret.to_owned());
            }
        }
    }

    /// Assembles a provider; photos are loaded from the (already validated) seed.
    pub fn new(flavor: Flavor, base: Url, seed: Seed, keys: KeySet) -> Result<Idp, String> {
        let mut photos = HashMap::new();
        for user in &seed.users {
            if let Some(reference) = &user.photo {
                photos.insert(user.object_id.clone(), crate::seed::load_photo(reference)?);
            }
        }
        Ok(Idp {
            flavor,
            base,
            seed,
            photos,
            clock: Clock::default(),
            keys: RwLock::new(keys),
            store: Mutex::new(Store::default()),
            state_file: None,
            saved: Mutex::new(vec![]),
            ledger: None,
            behaviour: match flavor {
                Flavor::Entra => crate::behaviour::Behaviour::entra(),
                Flavor::Oidc => crate::behaviour::Behaviour::oidc(),
            },
            msgraph_host: None,
        })
    }

    /// Locks the state. A panic while locked cannot leave it half-updated in a way that
    /// matters to an emulator, so poisoning is ignored.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The signing keys (read).
    pub fn keyset(&self) -> KeySet {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Tokens' issuer for a tenant id: Entra's `{base}/{tid}/v2.0`, or the base URL (without
    /// a trailing slash) for the OIDC flavour.
    pub fn issuer(&self, tenant_id: &str) -> String {
        match self.flavor {
            Flavor::Entra => format!("{}{tenant_id}/v2.0", self.base),
            Flavor::Oidc => self.base.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// Whether `issuer` is one of this provider's: the home tenant's or an inviting tenant's.
    pub fn issues(&self, issuer: &str) -> bool {
        std::iter::once(&self.seed.tenant.id)
            .chain(self.seed.guest_tenants.iter().map(|t| &t.id))
            .any(|tid| self.issuer(tid) == issuer)
    }

    /// An absolute URL on this provider.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }
}

/// The device flow's settings; the control API changes them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DeviceSettings {
    /// Whether the provider offers the grant (and advertises its endpoint).
    pub enabled: bool,
    /// The polling interval handed out, in seconds (Entra: 5).
    pub interval: u64,
    /// Answer this many of the next polls with `slow_down`, whatever their pace.
    pub slow_down: u32,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            enabled: true,
            interval: 5,
            slow_down: 0,
        }
    }
}

/// Where one device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not finished signing in.
    Pending,
    /// Signed in: this authorization code stands for the grant.
    Approved(String),
    /// The user refused (cancelled consent).
    Declined,
}

/// An issued device code, kept under its [`secret_key`] (the device flow, `device`).
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    /// Who may poll for it.
    pub client_id: String,
    /// The tenant path it was requested on.
    pub tenant: String,
    /// What the user types, normalised (upper case, no separators).
    pub user_code: String,
    /// `state` of the authorize request that completes it.
    pub handle: String,
    /// Permissions requested.
    pub permissions: std::collections::BTreeSet<Permission>,
    /// The `claims` request, if any.
    pub claims: Option<serde_json::Value>,
    /// When it stops being usable.
    pub expires_at: i64,
    /// The interval the client must keep, grown by each `slow_down`.
    pub interval: Duration,
    /// When the client last polled.
    pub last_poll: Option<Instant>,
    /// Whether the user finished.
    pub status: DeviceStatus,
}
