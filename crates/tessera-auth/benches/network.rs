//! The engine against a provider (issue 9): `cargo bench -p tessera-auth --bench network`.
//! tessera-idp runs in the same process, on loopback; its work (an RSA signature per token
//! response) is in every figure, the same for both sides of each comparison.
//!
//! - `dedup/N`: N concurrent `acquire_token_silent` callers for an expired access token (the
//!   engine's and the provider's clocks are moved an hour on before each batch, untimed). They
//!   share one refresh request (counted at the provider and checked after the run), so
//!   `(dedup/1000 − dedup/1) / 999` is what each extra caller costs.
//! - `refresh_overhead/engine`: one `acquire_token_silent` that refreshes (the cached access
//!   token is inside the renewal offset), ID token validation and cache update included.
//!   `refresh_overhead/bare_reqwest`: a bare `reqwest` POST of the same refresh grant to the
//!   same endpoint, its JSON parsed. The ratio of the two is the engine's overhead; it is
//!   measured again with the two interleaved and printed as `figure refresh_ratio`.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::future::join_all;
use serde_json::{json, Value};
use tessera_auth::clock::{Clock, SystemClock};
use tessera_auth::{
    AuthenticationResult, Config, InteractiveRequest, PublicClientApplication, SilentRequest,
    TokenSource,
};
use tessera_idp::{IdpOptions, RunningIdp, DEFAULT_CLIENT_ID};
use tessera_test_support::ScriptedBrowser;

const SCOPES: &str = "User.Read openid profile offline_access";
/// Shorter than the engine's 5-minute renewal offset: every cached access token is due for
/// renewal, so each silent call refreshes.
const STALE_ACCESS_TOKEN_SECONDS: i64 = 240;
/// Access tokens live an hour (Entra's default); the dedup batches move the clocks by this.
const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// The system clock plus an offset the benchmark moves, in step with the provider's.
#[derive(Debug, Default)]
struct MovableClock(AtomicI64);

impl Clock for MovableClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.0.load(Ordering::SeqCst)
    }
}

struct Provider {
    idp: RunningIdp,
    clock: Arc<MovableClock>,
}

impl Provider {
    async fn start(access_token_seconds: i64) -> Provider {
        let idp = tessera_idp::start(IdpOptions::default()).await.unwrap();
        // Refresh tokens outlive any number of batches an hour apart.
        idp.control(
            reqwest::Method::POST,
            "lifetimes",
            json!({ "access_token": access_token_seconds, "refresh_token": 100_i64 * 365 * 86_400 }),
        )
        .await
        .unwrap();
        Provider {
            idp,
            clock: Arc::default(),
        }
    }

    /// Moves the engine's and the provider's clocks `seconds` on.
    async fn advance(&self, seconds: i64) {
        let offset = self.clock.0.fetch_add(seconds, Ordering::SeqCst) + seconds;
        self.idp
            .control(
                reqwest::Method::POST,
                "clock",
                json!({ "skew_seconds": offset }),
            )
            .await
            .unwrap();
    }

    /// A new engine on this provider's clock, with `username` signed in through the scripted
    /// browser.
    async fn signed_in(&self, username: &str) -> (PublicClientApplication, AuthenticationResult) {
        let mut config = Config::new(DEFAULT_CLIENT_ID, self.idp.authority().as_str());
        config.default_scopes = vec!["User.Read".into()];
        let app = PublicClientApplication::builder(config)
            .clock(self.clock.clone())
            .build()
            .unwrap();
        let result = app
            .acquire_token_interactive(
                InteractiveRequest::default(),
                &ScriptedBrowser::user(username),
            )
            .await
            .unwrap();
        (app, result)
    }

    async fn refreshes(&self) -> u64 {
        self.idp.stat("token:refresh_token").await.unwrap()
    }
}

/// The refresh token an engine holds, read from its serialised cache: the bare client needs
/// a token of its own to redeem.
fn refresh_token_of(app: &PublicClientApplication) -> String {
    let blob: Value = serde_json::from_slice(&app.cache().serialize()).unwrap();
    let tokens = blob["data"]["refresh_tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), 1);
    let entry = tokens.values().next().unwrap();
    entry["secret"].as_str().unwrap().to_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn dedup(c: &mut Criterion) {
    let runtime = runtime();
    let provider = runtime.block_on(Provider::start(ACCESS_TOKEN_SECONDS));
    let (app, first) = runtime.block_on(provider.signed_in("ada@tessera.test"));
    let request = SilentRequest::new(first.account.clone(), vec![]);
    let mut group = c.benchmark_group("dedup");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for callers in [1usize, 1000] {
        let batches = AtomicU64::new(0);
        let before = runtime.block_on(provider.refreshes());
        group.bench_with_input(BenchmarkId::from_parameter(callers), &callers, |b, &n| {
            b.to_async(&runtime).iter_custom(|batches_asked| {
                let (provider, app, request, batches) = (&provider, &app, &request, &batches);
                async move {
                    let mut timed = Duration::ZERO;
                    for _ in 0..batches_asked {
                        provider.advance(ACCESS_TOKEN_SECONDS).await;
                        let started = Instant::now();
                        let results = join_all(
                            (0..n).map(|_| app.acquire_token_silent(request.clone(), None)),
                        )
                        .await;
                        timed += started.elapsed();
                        batches.fetch_add(1, Ordering::Relaxed);
                        for result in results {
                            assert_ne!(result.unwrap().source, TokenSource::Interactive);
                        }
                    }
                    timed
                }
            });
        });
        let refreshes = runtime.block_on(provider.refreshes()) - before;
        assert_eq!(
            refreshes,
            batches.load(Ordering::Relaxed),
            "each batch of {callers} callers must cause exactly one refresh request"
        );
        println!("dedup/{callers}: {refreshes} batches, one refresh request each (counted at the provider)");
    }
    group.finish();
}

fn refresh_overhead(c: &mut Criterion) {
    let runtime = runtime();
    let provider = runtime.block_on(Provider::start(STALE_ACCESS_TOKEN_SECONDS));
    let (app, first) = runtime.block_on(provider.signed_in("ada@tessera.test"));
    let request = SilentRequest::new(first.account.clone(), vec![]);
    // Another sign-in, so the bare client's refresh tokens (rotated at each use) are its own.
    let (minter, _) = runtime.block_on(provider.signed_in("alan@tessera.test"));
    let bare_token = Mutex::new(refresh_token_of(&minter));
    let token_endpoint = provider.idp.url("common/oauth2/v2.0/token");
    let http = Arc::new(reqwest::Client::new());

    let engine = || async {
        let result = app
            .acquire_token_silent(request.clone(), None)
            .await
            .unwrap();
        assert_eq!(result.source, TokenSource::RefreshToken);
    };
    let bare = || async {
        let refresh_token = bare_token.lock().unwrap().clone();
        let response = http
            .post(token_endpoint.clone())
            .header("client-request-id", "00000000-0000-4000-8000-000000000000")
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("refresh_token", refresh_token.as_str()),
                ("scope", SCOPES),
            ])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let body: Value = response.json().await.unwrap();
        *bare_token.lock().unwrap() = body["refresh_token"].as_str().unwrap().to_owned();
    };

    let mut group = c.benchmark_group("refresh_overhead");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("engine", |b| b.to_async(&runtime).iter(engine));
    group.bench_function("bare_reqwest", |b| b.to_async(&runtime).iter(bare));
    group.finish();

    // The two figures above are measured one after the other, so a change in the machine's
    // load between them skews their ratio. The ratio is measured interleaved instead: pairs
    // of one engine refresh and one bare POST, in alternating order.
    let (mut engine_times, mut bare_times) = (Vec::new(), Vec::new());
    // `cargo test --benches` (no `--bench` argument) runs everything once, as a check.
    let pairs = if std::env::args().any(|a| a == "--bench") {
        RATIO_PAIRS
    } else {
        2
    };
    runtime.block_on(async {
        for pair in 0..pairs {
            for side in [pair % 2, 1 - pair % 2] {
                let started = Instant::now();
                if side == 0 {
                    engine().await;
                    engine_times.push(started.elapsed());
                } else {
                    bare().await;
                    bare_times.push(started.elapsed());
                }
            }
        }
    });
    let (engine_median, bare_median) = (median(&mut engine_times), median(&mut bare_times));
    println!(
        "refresh_overhead interleaved, {pairs} pairs: engine {engine_median:.2?}, bare reqwest {bare_median:.2?}"
    );
    println!(
        "figure refresh_ratio {:.3}",
        engine_median.as_secs_f64() / bare_median.as_secs_f64()
    );
}

/// Pairs of refreshes in the interleaved ratio measurement.
const RATIO_PAIRS: usize = 200;

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

criterion_group!(benches, dedup, refresh_overhead);
criterion_main!(benches);
