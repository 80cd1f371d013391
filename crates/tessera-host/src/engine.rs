//! The engine as every host builds it, so that the app and the command line are one client
//! to the provider and read each other's tokens: same client id, same authority, same default
//! scopes and capabilities, same cache.

use std::time::Duration;

use tessera_auth::{Config, PublicClientApplication};
use tessera_config::{Endpoints, Settings};

use crate::storage::Storage;

/// The engine's configuration for `endpoints`. Tokens carry the `cp1` capability, so the
/// provider may send Continuous Access Evaluation claims challenges, which Tessera answers;
/// requests that name no scopes get Graph's profile scopes.
pub fn engine_config(endpoints: &Endpoints, settings: &Settings) -> Config {
    let mut config = Config::new(&endpoints.client_id, endpoints.authority.as_str());
    config.default_scopes = tessera_graph::PROFILE_SCOPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    config.client_capabilities = vec!["cp1".into()];
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
