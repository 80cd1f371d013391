//! Token caches of any size, as the persistence layer stores them, without a provider: for the
//! benchmarks of the engine and the vault.

/// The client id of [`synthetic_cache`]'s tokens.
pub const SYNTHETIC_CLIENT_ID: &str = "3b2c9d1e-5a7f-4e60-8c1b-2d4f6a8e0c15";
/// The authority whose environment [`synthetic_cache`]'s accounts belong to.
pub const SYNTHETIC_AUTHORITY: &str = "https://login.microsoftonline.com/common";
const SYNTHETIC_TENANT: &str = "5e7a1d3c-0b9f-4c2e-9a41-7c1d2e3f4a5b";

/// Account number `index` of [`synthetic_cache`].
pub fn synthetic_account(index: usize) -> tessera_auth::Account {
    tessera_auth::Account {
        home_account_id: format!("{index:08x}-0000-4000-8000-000000000000.{SYNTHETIC_TENANT}"),
        environment: "login.microsoftonline.com".into(),
        realm: SYNTHETIC_TENANT.into(),
        username: format!("user{index}@contoso.example"),
        name: Some(format!("User {index}")),
        local_account_id: format!("{index:08x}-0000-4000-8000-000000000000"),
        tenant_profiles: vec![],
    }
}

/// A serialised cache (as the persistence layer stores it) with `tokens` access tokens valid
/// for an hour, `apis_per_account` per account (`api://api{n}/read`), and a refresh token per
/// account: a cache of any size without a provider, for benchmarks.
pub fn synthetic_cache(tokens: usize, apis_per_account: usize) -> Vec<u8> {
    use serde_json::{json, Map, Value};
    let now = tessera_auth::clock::Clock::now(&tessera_auth::clock::SystemClock);
    let environment = "login.microsoftonline.com";
    let mut accounts = Map::new();
    let mut access_tokens = Map::new();
    let mut refresh_tokens = Map::new();
    let mut made = 0;
    for index in 0..tokens.div_ceil(apis_per_account.max(1)).max(1) {
        let account = synthetic_account(index);
        let key = format!("{}|{environment}", account.home_account_id);
        let entries: Vec<Value> = (0..apis_per_account)
            .take_while(|_| {
                made += 1;
                made <= tokens
            })
            .map(|api| {
                json!({
                    "home_account_id": account.home_account_id,
                    "environment": environment,
                    "realm": SYNTHETIC_TENANT,
                    "client_id": SYNTHETIC_CLIENT_ID,
                    "target": [format!("api://api{api}/read"), "openid", "profile"],
                    "secret": format!("access-token-{index}-{api}"),
                    "cached_at": now - 60,
                    "expires_on": now + 3600,
                    "ext_expires_on": now + 3600,
                    "refresh_on": null,
                })
            })
            .collect();
        access_tokens.insert(
            format!("{key}|{SYNTHETIC_TENANT}|{SYNTHETIC_CLIENT_ID}"),
            Value::Array(entries),
        );
        refresh_tokens.insert(
            format!("{key}|{SYNTHETIC_CLIENT_ID}"),
            json!({ "secret": format!("refresh-token-{index}") }),
        );
        accounts.insert(key, serde_json::to_value(&account).unwrap_or_default());
    }
    serde_json::to_vec(&json!({
        "version": tessera_auth::cache::CACHE_FORMAT_VERSION,
        "data": {
            "accounts": accounts,
            "access_tokens": access_tokens,
            "refresh_tokens": refresh_tokens,
            "id_tokens": {},
        }
    }))
    .unwrap_or_default()
}
