//! A cold start of the persisted cache (issue 9): open the vault, decrypt the file, and load a
//! cache of 100 accounts (10 access tokens and a refresh token each) into a new engine, as the
//! app does at start-up. `cargo bench -p tessera-vault`; the target is under 10 ms.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tessera_auth::{CachePersistence, Config, PublicClientApplication};
use tessera_test_support::synthetic::{synthetic_cache, SYNTHETIC_AUTHORITY, SYNTHETIC_CLIENT_ID};
use tessera_vault::{MemoryKeyStore, Vault};

const ACCOUNTS: usize = 100;
const APIS_PER_ACCOUNT: usize = 10;

fn cold_start(c: &mut Criterion) {
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let blob = synthetic_cache(ACCOUNTS * APIS_PER_ACCOUNT, APIS_PER_ACCOUNT);
    Vault::open(folder.path(), &keys)
        .unwrap()
        .save(&mut |_| Ok(tessera_auth::CacheBlob::new(blob.clone())))
        .unwrap();
    c.bench_function("cold_start_100_accounts", |b| {
        b.iter(|| {
            let vault = Arc::new(Vault::open(folder.path(), &keys).unwrap());
            let app = PublicClientApplication::builder(Config::new(
                SYNTHETIC_CLIENT_ID,
                SYNTHETIC_AUTHORITY,
            ))
            .persistence(vault)
            .build()
            .unwrap();
            assert_eq!(app.accounts().len(), ACCOUNTS);
            app
        });
    });
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
