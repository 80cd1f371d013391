//! The engine's speed (issue 9): `cargo bench -p tessera-auth --bench engine`; criterion prints
//! the figures. The other benchmarks of that issue (deduplication, refresh overhead, a cold
//! cache) are still to come.
//!
//! - `silent_cache_hit/N`: `acquire_token_silent` answered from a cache holding N access tokens
//!   (accounts × APIs). The lookup is by key, so the time should not grow with N.

#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::{json, Map, Value};
use tessera_auth::{Account, Config, PublicClientApplication, SilentRequest};

const CLIENT_ID: &str = "3b2c9d1e-5a7f-4e60-8c1b-2d4f6a8e0c15";
const ENVIRONMENT: &str = "login.microsoftonline.com";
const TENANT: &str = "5e7a1d3c-0b9f-4c2e-9a41-7c1d2e3f4a5b";
/// APIs each account holds a token for.
const APIS_PER_ACCOUNT: usize = 10;

fn account(index: usize) -> Account {
    Account {
        home_account_id: format!("{index:08x}-0000-4000-8000-000000000000.{TENANT}"),
        environment: ENVIRONMENT.into(),
        realm: TENANT.into(),
        username: format!("user{index}@contoso.example"),
        name: Some(format!("User {index}")),
        local_account_id: format!("{index:08x}-0000-4000-8000-000000000000"),
        tenant_profiles: vec![],
    }
}

/// A persisted-cache blob with `tokens` access tokens, valid for an hour from now.
fn cache_blob(tokens: usize) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let accounts_needed = tokens.div_ceil(APIS_PER_ACCOUNT).max(1);
    let mut accounts = Map::new();
    let mut access_tokens = Map::new();
    let mut made = 0;
    for index in 0..accounts_needed {
        let account = account(index);
        let key = format!("{}|{ENVIRONMENT}", account.home_account_id);
        accounts.insert(key.clone(), serde_json::to_value(&account).unwrap());
        let entries: Vec<Value> = (0..APIS_PER_ACCOUNT)
            .take_while(|_| {
                made += 1;
                made <= tokens
            })
            .map(|api| {
                json!({
                    "home_account_id": account.home_account_id,
                    "environment": ENVIRONMENT,
                    "realm": TENANT,
                    "client_id": CLIENT_ID,
                    "target": [format!("api://api{api}/read"), "openid", "profile"],
                    "secret": format!("token-{index}-{api}"),
                    "cached_at": now - 60,
                    "expires_on": now + 3600,
                    "ext_expires_on": now + 3600,
                    "refresh_on": null,
                })
            })
            .collect();
        access_tokens.insert(format!("{key}|{TENANT}|{CLIENT_ID}"), Value::Array(entries));
    }
    serde_json::to_vec(&json!({
        "version": 1,
        "data": {
            "accounts": accounts,
            "access_tokens": access_tokens,
            "refresh_tokens": {},
            "id_tokens": {},
        }
    }))
    .unwrap()
}

fn silent_cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("silent_cache_hit");
    for tokens in [1usize, 100, 10_000] {
        let app = PublicClientApplication::new(Config::new(
            CLIENT_ID,
            "https://login.microsoftonline.com/common",
        ))
        .unwrap();
        app.cache().deserialize(&cache_blob(tokens)).unwrap();
        // An account in the middle, asking for the API of its last token.
        let middle = tokens.div_ceil(APIS_PER_ACCOUNT) / 2;
        let api = (tokens - 1).min(APIS_PER_ACCOUNT - 1);
        let request = SilentRequest::new(account(middle), vec![format!("api://api{api}/read")]);
        assert!(
            runtime
                .block_on(app.acquire_token_silent(request.clone(), None))
                .is_ok(),
            "the benchmark's request must hit the cache"
        );
        group.bench_with_input(BenchmarkId::from_parameter(tokens), &tokens, |b, _| {
            b.to_async(&runtime)
                .iter(|| app.acquire_token_silent(request.clone(), None));
        });
    }
    group.finish();
}

criterion_group!(benches, silent_cache_hit);
criterion_main!(benches);
