//! The cache's persisted shapes (MSAL's unified cache entities), and the versioned envelope
//! they are serialised in. Secrets are serialised here, and only here: the blob goes to the
//! persistence layer, which stores it encrypted.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::authority::Metadata;
use crate::id_token::IdTokenClaims;
use crate::secret::{AccessToken, IdToken, RefreshToken};

/// The serialised format's version; [`super::TokenCache::deserialize`] refuses any other.
pub const CACHE_FORMAT_VERSION: u32 = 1;

/// A signed-in user, as the cache knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `uid.utid` from Entra's `client_info`; `sub.issuer` for other providers.
    pub home_account_id: String,
    /// The authority host (`host[:port]`); one name for a cloud's aliases.
    pub environment: String,
    /// The home tenant id (Entra), empty for other providers.
    pub realm: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// `oid` (Entra) or `sub`.
    pub local_account_id: String,
    /// The tenants (Entra) this account has signed in to, home tenant included; empty for
    /// other providers.
    #[serde(default)]
    pub tenant_profiles: Vec<TenantProfile>,
}

/// One tenant an account has used (MSAL's tenant profile): a guest in another tenant has a
/// profile there with another object id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantProfile {
    /// The tenant id (`tid`).
    pub tenant_id: String,
    /// The user's object id in that tenant (`oid`).
    pub local_account_id: String,
    /// Whether it is the account's home tenant (the `utid` of `client_info`).
    pub is_home_tenant: bool,
}

/// A cached access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccessTokenEntry {
    pub home_account_id: String,
    pub environment: String,
    /// The tenant that issued the token (its `tid`), which for a guest is not the home one.
    pub realm: String,
    pub client_id: String,
    /// Granted scopes, as the provider returned them.
    pub target: Vec<String>,
    pub secret: AccessToken,
    pub cached_at: i64,
    pub expires_on: i64,
    pub ext_expires_on: i64,
    /// Entra's `refresh_in`: renew in the background after this time.
    pub refresh_on: Option<i64>,
}

/// A cached refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RefreshTokenEntry {
    pub secret: RefreshToken,
}

/// A cached ID token with its validated claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdTokenEntry {
    pub secret: IdToken,
    pub claims: Arc<IdTokenClaims>,
}

/// The cache contents.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CacheData {
    /// By `account_key`.
    pub accounts: BTreeMap<String, Account>,
    /// By `account_key` + realm + client id + resource; several scope sets per key.
    pub access_tokens: BTreeMap<String, Vec<AccessTokenEntry>>,
    /// By `account_key` + client id.
    pub refresh_tokens: BTreeMap<String, RefreshTokenEntry>,
    /// By `account_key` + realm + client id.
    pub id_tokens: BTreeMap<String, IdTokenEntry>,
    /// Provider metadata by discovery URL, with when it was fetched.
    #[serde(default)]
    pub authority_metadata: BTreeMap<String, CachedMetadata>,
}

/// Provider metadata as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CachedMetadata {
    pub fetched_at: i64,
    pub metadata: Metadata,
    /// [`crate::authority::METADATA_FORMAT`] of the build that fetched it (absent: the first).
    #[serde(default)]
    pub format: u32,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    #[serde(default)]
    data: Option<CacheData>,
}

/// Why a serialised cache was not loaded. The caller keeps running signed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// Written by a newer (or unknown) version of Tessera.
    #[error("token cache format version {0} is not supported (this build reads version {CACHE_FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// Not a cache blob, or damaged.
    #[error("the token cache is damaged: {0}")]
    Corrupt(String),
}

pub(crate) fn encode(data: &CacheData) -> Vec<u8> {
    let envelope = Envelope {
        version: CACHE_FORMAT_VERSION,
        data: Some(data.clone()),
    };
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// Reads a blob as it was written (the caller files its entries under this build's keys).
pub(crate) fn decode(blob: &[u8]) -> Result<CacheData, CacheError> {
    let envelope: Envelope = serde_json::from_slice(blob)
        .map_err(|e| CacheError::Corrupt(format!("line {}, column {}", e.line(), e.column())))?;
    if envelope.version != CACHE_FORMAT_VERSION {
        return Err(CacheError::UnsupportedVersion(envelope.version));
    }
    envelope
        .data
        .ok_or_else(|| CacheError::Corrupt("no data".into()))
}
