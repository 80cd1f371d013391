//! What the engine knows of its provider: the network stack to reach it, its metadata (cached
//! for a day, in memory and with the persisted cache), its signing keys, and what it accepts
//! in a request (scopes, claims).

use std::sync::Arc;

use super::{PublicClientApplication, METADATA_MAX_AGE};
use crate::authority::{is_guid, Jwks, Metadata};
use crate::cache::{Account, OIDC_SCOPES};
use crate::error::{Error, Result};
use crate::request;

/// How long the provider's signing keys are trusted before they are fetched again, and how
/// soon after a fetch caused by an unknown `kid` another may be: Microsoft.IdentityModel's
/// `ConfigurationManager` defaults (`DefaultAutomaticRefreshInterval`, 12 hours;
/// `DefaultRefreshInterval`, 5 minutes), so that a stream of forged `kid`s cannot make the
/// engine hammer the provider, while a real rotation is picked up at once.
const JWKS_MAX_AGE: i64 = 12 * 3600;
const JWKS_REFETCH_COOLDOWN: i64 = 5 * 60;

impl PublicClientApplication {
    /// The HTTP client, built on first use (a bad CA file or an empty trust store is reported
    /// then): a start-up served from the cache never pays for loading root certificates.
    pub(super) fn http(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.inner.http.get() {
            return Ok(client);
        }
        let client = crate::http::client(&self.inner.config.http)?;
        Ok(self.inner.http.get_or_init(|| client))
    }

    /// The engine's HTTP client (cheap to clone), for a host's other requests to the same
    /// provider or its APIs (the profile): one network stack, one trust store.
    pub fn http_client(&self) -> Result<reqwest::Client> {
        self.http().cloned()
    }

    /// The provider's metadata, fetched once.
    pub async fn metadata(&self) -> Result<Arc<Metadata>> {
        self.metadata_of(&self.inner.authority, false).await
    }

    /// The metadata of the authority a request names a tenant of (see
    /// [`PublicClientApplication::request_authority`]).
    pub(super) async fn metadata_for(&self, tenant: Option<&str>) -> Result<Arc<Metadata>> {
        match tenant {
            None => self.metadata().await,
            Some(tenant) => {
                let authority = self.request_authority(tenant)?;
                self.metadata_of(&authority, false).await
            }
        }
    }

    /// The configured metadata, fetched from the provider even when cached when `fetch` is set.
    pub(super) async fn metadata_from(&self, fetch: bool) -> Result<Arc<Metadata>> {
        self.metadata_of(&self.inner.authority, fetch).await
    }

    /// The Entra authority of another tenant than the configured one: a guest account gets
    /// tokens from the tenant that invited it by asking that tenant's authority (Microsoft
    /// Learn, "Microsoft identity platform and B2B guest users"; MSAL's `authority` per
    /// request). Other providers have no tenant to name.
    pub(super) fn request_authority(&self, tenant: &str) -> Result<crate::authority::Authority> {
        let tenant = tenant.trim();
        if !self.inner.authority.is_entra() {
            return Err(Error::Configuration(
                "a request can name a tenant only with a Microsoft Entra ID authority".into(),
            ));
        }
        let well_formed = !tenant.is_empty()
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
        if !well_formed {
            return Err(Error::Configuration(format!(
                "{tenant:?} is not a tenant: give a tenant id (a GUID) or a verified domain"
            )));
        }
        Ok(self.inner.authority.for_tenant(tenant))
    }

    /// The tenant whose access and ID tokens a request wants, as the cache names it (the
    /// `tid` of the tokens; msal-common `ResponseHandler` caches them under it): the tenant
    /// the request or the configured Entra authority names, or the account's home tenant for
    /// `common`, `organizations` and `consumers` (Entra signs a user in to their home tenant
    /// there) and for other providers. A tenant named by its domain is known by its id only
    /// once its metadata says which (its issuer, `https://{host}/{tid}/v2.0`). When the
    /// provider cannot say (offline) for the configured authority's domain, the home tenant's,
    /// which is the domain's for a member: a cached token must not need the network. A tenant
    /// the request names must be found, or the request fails: the home tenant's token is not
    /// what was asked for.
    pub(super) async fn token_realm(
        &self,
        tenant: Option<&str>,
        account: &Account,
    ) -> Result<String> {
        let tenant = tenant.map(str::trim);
        if let Some(tenant) = tenant {
            self.request_authority(tenant)?;
        }
        if !self.inner.authority.is_entra() {
            return Ok(account.realm.clone());
        }
        let Some(segment) = tenant.or(self.inner.authority.tenant()) else {
            return Ok(account.realm.clone());
        };
        if is_guid(segment) {
            return Ok(segment.to_ascii_lowercase());
        }
        if !segment.contains('.') {
            return Ok(account.realm.clone());
        }
        let metadata = match self.metadata_for(tenant).await {
            Ok(metadata) => metadata,
            Err(_) if tenant.is_none() => return Ok(account.realm.clone()),
            Err(error) => return Err(error),
        };
        Ok(url::Url::parse(&metadata.issuer)
            .ok()
            .and_then(|issuer| {
                issuer
                    .path_segments()?
                    .find(|s| is_guid(s))
                    .map(str::to_ascii_lowercase)
            })
            .unwrap_or_else(|| account.realm.clone()))
    }

    async fn metadata_of(
        &self,
        authority: &crate::authority::Authority,
        fetch: bool,
    ) -> Result<Arc<Metadata>> {
        let now = self.inner.clock.now();
        let url = authority.discovery_url();
        // One fetch at a time: concurrent first requests wait for it.
        let mut current = self.inner.metadata.lock().await;
        if let Some((fetched_at, metadata)) = current.get(&url) {
            if now - fetched_at < METADATA_MAX_AGE && !fetch {
                return Ok(metadata.clone());
            }
        }
        // A loopback provider's metadata is never kept across processes: whatever answers on
        // that port next time must be asked again (and its endpoints stay on its origin).
        let persisted = !authority.is_loopback();
        self.reload();
        let cached = match fetch || !persisted {
            true => None,
            false => self.inner.cache.metadata(&url, now, METADATA_MAX_AGE),
        };
        let (fetched_at, metadata) = match cached {
            Some(cached) => (cached.fetched_at, cached.metadata),
            None => {
                let metadata: Metadata = self.get_json(&url).await?;
                metadata.validate(authority)?;
                if persisted {
                    self.inner.cache.store_metadata(&url, now, metadata.clone());
                    self.persist();
                }
                (now, metadata)
            }
        };
        let metadata = Arc::new(metadata);
        current.insert(url, (fetched_at, metadata.clone()));
        Ok(metadata)
    }

    /// The provider's signing keys: cached for [`JWKS_MAX_AGE`]; with `refetch` (a token named
    /// a key we do not have: the provider rotated), fetched again unless that was done in the
    /// last [`JWKS_REFETCH_COOLDOWN`].
    pub(super) async fn jwks(&self, metadata: &Metadata, refetch: bool) -> Result<Arc<Jwks>> {
        let now = self.inner.clock.now();
        let mut held = self.inner.jwks.lock().await;
        if let Some(keys) = held.as_ref() {
            let fresh = (0..JWKS_MAX_AGE).contains(&(now - keys.fetched_at));
            let cooling = keys
                .forced_at
                .is_some_and(|at| (0..JWKS_REFETCH_COOLDOWN).contains(&(now - at)));
            if (fresh && !refetch) || (refetch && cooling) {
                return Ok(keys.jwks.clone());
            }
        }
        let jwks: Arc<Jwks> = Arc::new(self.get_json(metadata.jwks_uri.as_str()).await?);
        let forced_at = match refetch {
            true => Some(now),
            false => held.as_ref().and_then(|k| k.forced_at),
        };
        *held = Some(super::KeySet {
            jwks: jwks.clone(),
            fetched_at: now,
            forced_at,
        });
        Ok(jwks)
    }

    /// Refuses scopes of more than one resource: an Entra access token is for one API (others
    /// can be consented to with `extra_scopes_to_consent`). Other providers have no such rule.
    pub(super) fn check_one_resource(&self, scopes: &[String]) -> Result<()> {
        if !self.inner.authority.is_microsoft() {
            return Ok(());
        }
        // The common case, one resource, without allocating (it is on every silent request).
        let mut found = scopes
            .iter()
            .filter_map(|s| crate::cache::resource_slice(s));
        let first = found.next();
        if found.all(|r| first.is_some_and(|f| f.eq_ignore_ascii_case(r))) {
            return Ok(());
        }
        let mut resources: Vec<String> = scopes
            .iter()
            .filter_map(|s| crate::cache::resource_of(s))
            .collect();
        resources.sort();
        resources.dedup();
        if resources.len() > 1 {
            return Err(Error::Configuration(format!(
                "one request may ask for scopes of one resource only, not {}; consent to the others with extra_scopes_to_consent",
                resources.join(" and ")
            )));
        }
        Ok(())
    }

    /// The request's scopes (or the defaults) plus the OpenID Connect scopes MSAL always adds.
    pub(super) fn request_scopes(&self, scopes: &[String]) -> Vec<String> {
        let mut all: Vec<String> = if scopes.is_empty() {
            self.inner.config.default_scopes.clone()
        } else {
            scopes.to_vec()
        };
        for oidc in OIDC_SCOPES {
            if !all.iter().any(|s| s.eq_ignore_ascii_case(oidc)) {
                all.push(oidc.to_owned());
            }
        }
        all
    }

    /// The `claims` parameter of a request. Microsoft authorities get the client capabilities
    /// merged in (`xms_cc`, as MSAL does). Other providers get one only when the caller asks
    /// for claims, and only if discovery advertises `claims_parameter_supported` (Discovery
    /// §3: absent means false): certified providers refuse a parameter they do not support,
    /// so the request is refused here, before it is sent, with the reason.
    pub(super) fn claims_request(
        &self,
        asked: Option<&str>,
        metadata: &Metadata,
    ) -> Result<Option<String>> {
        if self.inner.authority.is_microsoft() {
            return request::merge_claims(asked, &self.inner.config.client_capabilities);
        }
        let claims = request::merge_claims(asked, &[])?;
        if claims.is_some() && !metadata.claims_parameter_supported {
            return Err(Error::Configuration(
                "this identity provider does not support the claims request parameter (its metadata does not advertise claims_parameter_supported), so the claims cannot be asked for".into(),
            ));
        }
        Ok(claims)
    }

    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let response = self
            .http()?
            .get(url)
            .send()
            .await
            .map_err(|e| Error::Network(crate::http::describe(&e)))?;
        let status = response.status();
        if status.as_u16() == 429 || status.as_u16() == 503 {
            if let Some(retry_after) = crate::throttle::RetryAfter::from_headers(response.headers())
            {
                return Err(Error::Throttled {
                    retry_after: retry_after
                        .wait_from(self.inner.clock.now())
                        .min(crate::throttle::MAX_THROTTLE),
                });
            }
        }
        if !status.is_success() {
            // An Entra error body (a misspelt tenant: AADSTS90002) says what to fix.
            let body = response.bytes().await.unwrap_or_default();
            if let Ok(oauth) = serde_json::from_slice::<crate::error::OAuthError>(&body) {
                if !oauth.error.is_empty() {
                    return Err(crate::error::Error::discovery_refused(
                        url,
                        status.as_u16(),
                        oauth,
                    ));
                }
            }
            return Err(Error::Network(format!("{url} answered HTTP {status}")));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Network(crate::http::describe(&e)))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(format!("{url}: {e}")))
    }
}
