//! Turning a token response into a cached result: ID token validation, account identity.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{AuthenticationResult, PublicClientApplication, TokenSource};
use crate::authority::Metadata;
use crate::cache::{AccessTokenEntry, Account, IdTokenEntry};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::id_token::{self, IdTokenClaims, IdTokenError};
use crate::secret::{IdToken, Nonce};
use crate::token_client::TokenResponse;

impl PublicClientApplication {
    /// Validates the ID token, identifies the account, and caches everything in one step.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn complete(
        &self,
        metadata: &Metadata,
        response: TokenResponse,
        nonce: Option<&Nonce>,
        expected_account: Option<&Account>,
        scopes: &[String],
        source: TokenSource,
        correlation_id: &str,
    ) -> Result<AuthenticationResult> {
        let now = self.inner.clock.now();
        let claims = match &response.id_token {
            Some(token) => Some(Arc::new(
                self.validate_id_token(metadata, token, nonce, now).await?,
            )),
            None => None,
        };
        let account = match (&claims, expected_account) {
            (Some(claims), _) => self.account_from(claims, response.client_info.as_deref())?,
            // No ID token: the account as stored (a request for another tenant carries that
            // tenant as its realm, which is not the account's home).
            (None, Some(account)) => self
                .account(&account.home_account_id)
                .unwrap_or_else(|| account.clone()),
            (None, None) => {
                return Err(Error::InvalidResponse(
                    "the response has no ID token to identify the account".into(),
                ))
            }
        };
        if let Some(expected) = expected_account {
            if expected.home_account_id != account.home_account_id {
                return Err(Error::InvalidResponse(
                    "the provider returned a token for another account".into(),
                ));
            }
        }
        // RFC 6749 §5.1: `scope` may be omitted when the grant is what was asked for.
        let target = response.scopes.clone().unwrap_or_else(|| scopes.to_vec());
        let expires_on = now + response.expires_in as i64;
        // Access and ID tokens are cached under the tenant that issued them (a guest's token
        // comes from the resource tenant), the account under its home tenant (msal-common
        // `ResponseHandler`).
        let realm = claims
            .as_ref()
            .and_then(|c| c.tid.clone())
            .or_else(|| expected_account.map(|a| a.realm.clone()))
            .unwrap_or_else(|| account.realm.clone());
        let entry = AccessTokenEntry {
            home_account_id: account.home_account_id.clone(),
            environment: account.environment.clone(),
            realm,
            client_id: self.inner.config.client_id.clone(),
            target: target.clone(),
            secret: response.access_token.clone(),
            cached_at: now,
            expires_on,
            ext_expires_on: response
                .ext_expires_in
                .map_or(expires_on, |s| now + s as i64),
            refresh_on: response.refresh_in.map(|s| now + s as i64),
        };
        let ext_expires_on = entry.ext_expires_on;
        let new_account = self.account(&account.home_account_id).is_none();
        if new_account && source == TokenSource::RefreshToken {
            // Signed out (here or in another process) while the refresh was in flight:
            // sign-out wins, the tokens are not stored.
            return Err(Error::AccountNotFound(account.home_account_id));
        }
        let id_entry = match (response.id_token, &claims) {
            (Some(secret), Some(claims)) => Some(IdTokenEntry {
                secret,
                claims: claims.clone(),
            }),
            _ => None,
        };
        let account = self.inner.cache.save(
            &account,
            &self.inner.config.client_id,
            entry,
            response.refresh_token,
            id_entry,
        );
        self.persist();
        if new_account {
            self.emit(Event::AccountAdded {
                account: account.clone(),
            });
        }
        Ok(AuthenticationResult {
            access_token: response.access_token,
            expires_on,
            ext_expires_on,
            scopes: target,
            account,
            id_token_claims: claims,
            source,
            correlation_id: correlation_id.to_owned(),
        })
    }

    pub(super) async fn validate_id_token(
        &self,
        metadata: &Metadata,
        token: &IdToken,
        nonce: Option<&Nonce>,
        now: i64,
    ) -> Result<IdTokenClaims> {
        let invalid = |e: IdTokenError| Error::InvalidIdToken(e.to_string());
        let unverified = id_token::decode(token.secret()).map_err(invalid)?;
        let algorithms = &metadata.id_token_signing_alg_values_supported;
        match unverified.verify_signature(&*self.jwks(metadata, false).await?, algorithms) {
            Ok(()) => {}
            // A key we have not seen: the provider rotated its keys; fetch them once more
            // (unless that was done a moment ago).
            Err(IdTokenError::UnknownKey) => unverified
                .verify_signature(&*self.jwks(metadata, true).await?, algorithms)
                .map_err(invalid)?,
            Err(e) => return Err(invalid(e)),
        }
        let issuer = metadata.issuer_for(unverified.claims["tid"].as_str());
        id_token::validate_claims(
            &unverified.claims,
            &issuer,
            &self.inner.config.client_id,
            nonce,
            now,
        )
        .map_err(invalid)
    }

    /// The account an ID token names: Entra's `client_info` (`uid.utid`) when present, else
    /// `oid.tid`, else `sub.issuer` for other providers.
    pub(super) fn account_from(
        &self,
        claims: &IdTokenClaims,
        client_info: Option<&str>,
    ) -> Result<Account> {
        let environment = self.inner.authority.environment();
        let (home_account_id, realm) = match client_info {
            Some(info) => {
                let home_account_id = home_account_id(info)?;
                let utid = home_account_id
                    .split_once('.')
                    .map(|(_, utid)| utid.to_owned())
                    .unwrap_or_default();
                (home_account_id, utid)
            }
            None => match (&claims.oid, &claims.tid) {
                (Some(oid), Some(tid)) => (format!("{oid}.{tid}"), tid.clone()),
                _ => (format!("{}.{}", claims.sub, claims.iss), String::new()),
            },
        };
        // The tenant of this token; the home tenant is the one in the home account id.
        let tenant_profiles = match (&claims.tid, &claims.oid) {
            (Some(tid), Some(oid)) => vec![crate::cache::TenantProfile {
                tenant_id: tid.clone(),
                local_account_id: oid.clone(),
                is_home_tenant: home_account_id.ends_with(&format!(".{tid}")),
            }],
            _ => vec![],
        };
        Ok(Account {
            home_account_id,
            environment,
            realm,
            username: claims.username().unwrap_or(&claims.sub).to_owned(),
            name: claims.name.clone(),
            local_account_id: claims.oid.clone().unwrap_or_else(|| claims.sub.clone()),
            tenant_profiles,
        })
    }
}

/// The home account id (`uid.utid`) Entra's `client_info` names (base64url JSON).
pub(super) fn home_account_id(client_info: &str) -> Result<String> {
    let decoded: serde_json::Value = URL_SAFE_NO_PAD
        .decode(client_info.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| Error::InvalidResponse("client_info is not base64url JSON".into()))?;
    match (decoded["uid"].as_str(), decoded["utid"].as_str()) {
        (Some(uid), Some(utid)) if !uid.contains('.') && !utid.is_empty() => {
            Ok(format!("{uid}.{utid}"))
        }
        _ => Err(Error::InvalidResponse(
            "client_info lacks uid or utid".into(),
        )),
    }
}
