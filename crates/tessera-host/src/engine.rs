//! The engine as every host builds it, so that the app and the command line are one client
//! to the provider and read each other's tokens: same client id, same authority, same default
//! scopes and capabilities, same cache.

use std::time::Duration;

use tessera_auth::{Config, PublicClientApplication};
use tessera_config::{Endpoints, Settings};

use crate::storage::Storage;

/// What an OpenID Connect provider's profile needs: the userinfo endpoint's claims
/// (Core §5.4), and a refresh token.
pub const OIDC_DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The engine's configuration for `endpoints`. For Microsoft authorities, tokens carry the
/// client capabilities (`cp1`: Continuous Access Evaluation claims challenges, which Tessera
/// answers) and requests that name no scopes get Graph's profile scopes; other providers get
/// no capabilities and the OpenID Connect scopes of their userinfo endpoint.
pub fn engine_config(endpoints: &Endpoints, settings: &Settings) -> Config {
    let mut config = Config::new(&endpoints.client_id, endpoints.authority.as_str());
    config.authority_type = endpoints.authority_type;
    let microsoft = endpoints
        .parsed_authority()
        .is_ok_and(|authority| authority.is_microsoft());
    config.default_scopes = match (&settings.scopes[..], microsoft) {
        ([], true) => tessera_graph::PROFILE_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ([], false) => OIDC_DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        (scopes, _) => scopes.to_vec(),
    };
    if microsoft {
        config.client_capabilities = settings.client_capabilities.clone();
    }
    config.refresh_token_refusals = settings.refresh_token_refusals.clone();
    config.http.extra_ca_file = settings.extra_ca_file.as_deref().map(Into::into);
    config.renewal_offset = Duration::from_secs(settings.renewal_offset_secs);
    config
}

/// The engine for `endpoints`, its cache in `storage`, with the saved active account (or else
/// the first signed-in one) active.
pub fn build_engine(
    endpoints: &Endpoints,
    settings: &Settings,
    storage: &Storage,
) -> Result<PublicClientApplication, String> {
    let mut builder = PublicClientApplication::builder(engine_config(endpoints, settings));
    if let Some(persistence) = storage.persistence() {
        builder = builder.persistence(persistence);
    }
    let auth = builder.build().map_err(|e| e.to_string())?;
    let accounts = auth.accounts();
    let active = settings
        .active_account
        .as_deref()
        .filter(|id| accounts.iter().any(|a| a.home_account_id == *id))
        .or(accounts.first().map(|a| a.home_account_id.as_str()));
    if let Some(id) = active {
        auth.set_active_account(Some(id))
            .map_err(|e| e.to_string())?;
    }
    Ok(auth)
}
