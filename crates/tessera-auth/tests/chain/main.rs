//! The whole acquisition chain against tessera-idp in-process, with a scripted browser as the
//! agent: interactive → cache → refresh (rotated) → revoked → silent SSO → session ended →
//! InteractionRequired, plus the faults and classifications on the way.

// Test helpers panic on purpose: a failed request is a failed test.
#![allow(clippy::unwrap_used)]

mod concurrency;
mod device_code;
mod faults;
mod flows;
mod loopback;
mod msal_rules;
mod persistence;
mod profiles;
mod real_provider;
mod sign_out;
mod tenants;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tessera_auth::clock::{Clock, SystemClock};
use tessera_auth::http::HttpConfig;
use tessera_auth::{
    AgentError, AgentRequest, BoxFuture, CacheLookupPolicy, Classification, Config, Error,
    InteractiveAgent, InteractiveRequest, LoopbackAgent, PublicClientApplication, SilentRequest,
    TokenSource, NATIVE_CLIENT_REDIRECT_URI,
};
use tessera_idp::{
    Behaviour, Flavor, IdpOptions, RunningIdp, DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID,
};
use tessera_test_support::user_agent::{Outcome, Script, UserAgent};
use url::Url;

const ADA_OID: &str = "0d1c6a5e-2f4b-4a8e-9c3d-1b7e5f9a2c40";

/// The system clock plus an offset the test moves; the provider's clock moves with it.
#[derive(Debug, Default)]
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.0.load(Ordering::SeqCst)
    }
}

/// The scripted browser as both agents, stopping at the native-client redirect URI.
type Browser = tessera_test_support::ScriptedBrowser;

struct World {
    idp: RunningIdp,
    app: PublicClientApplication,
    clock: Arc<TestClock>,
    http: reqwest::Client,
    /// The network stack every engine and browser of this world uses (the provider's CA and
    /// a resolver pointing its public host here, when it plays one).
    net: HttpConfig,
    /// The authority the engines are configured with.
    authority: String,
}

/// How a world's provider is set up.
#[derive(Default)]
struct Setup {
    flavor: Option<Flavor>,
    capabilities: &'static [&'static str],
    behaviour: Option<Behaviour>,
    /// Over TLS, under this public host name (`login.microsoftonline.com`), which the
    /// engines' resolver sends to the provider on loopback.
    public_host: Option<&'static str>,
}

async fn world(flavor: Flavor, capabilities: &'static [&'static str]) -> World {
    world_with(Setup {
        flavor: Some(flavor),
        capabilities,
        ..Setup::default()
    })
    .await
}

/// Entra under strict refresh-token rotation (RFC 9700 §2.2.2: a spent token is refused),
/// where Entra itself lets a spent token be used again.
async fn strict_rotation_world() -> World {
    world_with(Setup {
        behaviour: Some(Behaviour {
            refresh_token_reuse: tessera_idp::behaviour::RefreshTokenReuse::RotateAndRefuse,
            ..Behaviour::entra()
        }),
        ..Setup::default()
    })
    .await
}

async fn world_with(setup: Setup) -> World {
    let flavor = setup.flavor.unwrap_or(Flavor::Entra);
    let idp = tessera_idp::start(IdpOptions {
        flavor,
        behaviour: setup.behaviour,
        tls: setup.public_host.map(|host| tessera_idp::TlsOptions {
            names: vec![host.to_owned()],
            ca_file: None,
        }),
        public_url: setup
            .public_host
            .map(|host| Url::parse(&format!("https://{host}/")).unwrap()),
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    let net = HttpConfig {
        extra_ca_file: idp.ca_file().map(Path::to_owned),
        resolve: setup
            .public_host
            .map(|host| vec![(host.to_owned(), idp.local_addr())])
            .unwrap_or_default(),
        ..HttpConfig::default()
    };
    let clock = Arc::new(TestClock::default());
    let authority = idp.authority().to_string();
    let mut config = Config::new(DEFAULT_CLIENT_ID, &authority);
    config.default_scopes = vec!["User.Read".into()];
    config.client_capabilities = setup.capabilities.iter().map(|c| c.to_string()).collect();
    config.http = net.clone();
    let app = PublicClientApplication::builder(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    World {
        http: tessera_auth::http::client(&net).unwrap(),
        idp,
        app,
        clock,
        net,
        authority,
    }
}

impl World {
    /// Moves both clocks forward.
    async fn advance(&self, seconds: i64) {
        let offset = self.clock.0.fetch_add(seconds, Ordering::SeqCst) + seconds;
        self.control("clock", json!({ "skew_seconds": offset }))
            .await;
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.idp.url(&format!("__control/{path}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "control {path}");
        r.json().await.unwrap()
    }

    async fn delete(&self, path: &str) {
        let r = self
            .http
            .delete(self.idp.url(&format!("__control/{path}")))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "control DELETE {path}");
    }

    async fn stat(&self, key: &str) -> u64 {
        self.idp.stat(key).await.unwrap()
    }

    async fn me(&self, token: &str) -> reqwest::Response {
        self.http
            .get(self.idp.url("v1.0/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A scripted browser on this world's network.
    fn browser(&self, username: &str) -> Browser {
        tessera_test_support::ScriptedBrowser(UserAgent::with_http(
            Script::user(username),
            &self.net,
        ))
    }

    /// Signs `username` in interactively through the scripted browser.
    async fn sign_in(&self, username: &str) -> (Browser, tessera_auth::AuthenticationResult) {
        let browser = self.browser(username);
        let result = self
            .app
            .acquire_token_interactive(InteractiveRequest::default(), &browser)
            .await
            .unwrap();
        (browser, result)
    }

    /// Another engine on the same provider and clock, configured by `configure`, with a cache
    /// of its own.
    fn another_app(&self, configure: impl FnOnce(&mut Config)) -> PublicClientApplication {
        let mut config = Config::new(DEFAULT_CLIENT_ID, &self.authority);
        config.default_scopes = vec!["User.Read".into()];
        config.http = self.net.clone();
        configure(&mut config);
        PublicClientApplication::builder(config)
            .clock(self.clock.clone())
            .build()
            .unwrap()
    }

    fn silent(&self, account: &tessera_auth::Account) -> SilentRequest {
        SilentRequest::new(account.clone(), vec![])
    }
}

/// `account`'s token from `app`'s cache, silently; fails the test if it came from elsewhere.
async fn from_cache(
    app: &PublicClientApplication,
    account: &tessera_auth::Account,
) -> tessera_auth::AuthenticationResult {
    let result = app
        .acquire_token_silent(SilentRequest::new(account.clone(), vec![]), None)
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::Cache, "not from the cache");
    result
}

fn classification(
    result: Result<tessera_auth::AuthenticationResult, Error>,
) -> (Classification, Option<u32>) {
    match result {
        Err(Error::InteractionRequired {
            classification,
            code,
            ..
        }) => (classification, code),
        other => panic!("expected InteractionRequired, got {other:?}"),
    }
}
