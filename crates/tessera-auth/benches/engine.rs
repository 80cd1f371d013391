//! The engine's speed without a network: `cargo bench -p tessera-auth --bench engine`;
//! criterion prints the figures. The network benchmarks are in `network.rs`, the persisted
//! cache's cold start in tessera-vault; `scripts/perf` runs them all (README, "Performance").
//!
//! - `silent_cache_hit/N`: `acquire_token_silent` answered from a cache holding N access tokens
//!   (accounts × APIs). The lookup is by key (account, client and resource), so the time should
//!   not grow with N.

#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use tessera_auth::{Config, PublicClientApplication, SilentRequest};
use tessera_test_support::synthetic::{synthetic_account as account, synthetic_cache};

const CLIENT_ID: &str = tessera_test_support::synthetic::SYNTHETIC_CLIENT_ID;
/// APIs each account holds a token for.
const APIS_PER_ACCOUNT: usize = 10;

fn silent_cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("silent_cache_hit");
    for tokens in [1usize, 100, 10_000] {
        let app = PublicClientApplication::new(Config::new(
            CLIENT_ID,
            tessera_test_support::synthetic::SYNTHETIC_AUTHORITY,
        ))
        .unwrap();
        app.cache()
            .deserialize(&synthetic_cache(tokens, APIS_PER_ACCOUNT))
            .unwrap();
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
        // The request is built, and the result dropped, outside the timed part: what is timed
        // is the call.
        group.bench_with_input(BenchmarkId::from_parameter(tokens), &tokens, |b, _| {
            b.to_async(&runtime).iter_batched(
                || request.clone(),
                |request| app.acquire_token_silent(request, None),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, silent_cache_hit);
criterion_main!(benches);
