//! `tessera-idp`: an offline identity provider shaped like Microsoft Entra ID v2.0, plus the
//! slice of Microsoft Graph that Tessera uses, with fault injection for tests.
//!
//! It is Tessera's embedded default (a newcomer can sign in before registering anything) and
//! the fixture of every integration and end-to-end test. It binds `127.0.0.1` only and speaks
//! plain HTTP, which RFC 8252 §8.3 and Entra allow for loopback. It is an emulator: passwords
//! are plain text, keys are generated at start, state lives in memory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_idp::StartError> {
//! let idp = tessera_idp::start(tessera_idp::IdpOptions::default()).await?;
//! println!("authority {} graph {}", idp.authority(), idp.graph_url());
//! idp.stop().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
// Handlers return early with complete HTTP responses (`Result<_, Response>`), the usual axum
// shape; the error's size does not matter on these paths.
#![allow(clippy::result_large_err)]

mod authorize;
pub mod behaviour;
mod clock;
mod control;
mod device;
mod discovery;
mod durable;
mod faults;
mod graph;
mod hints;
mod ids;
mod injection;
mod keys;
mod logout;
mod oauth_error;
mod pages;
mod scopes;
mod seed;
mod state;
mod tls;
mod token;
mod userinfo;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use behaviour::Behaviour;
pub use control::control_proof;
pub use faults::{Fault, FaultKind, RetryAfter, Target};
pub use keys::{Algorithm, SigningKey};
pub use seed::{
    Api, Client, Guest, GuestTenant, Seed, SeedError, Tenant, User, DEFAULT_CLIENT_ID,
    DEFAULT_PASSWORD, DEFAULT_TENANT_ID, GUEST_TENANT_ID,
};
pub use state::{ClaimsChallenge, Flavor, Lifetimes};
pub use tls::{write_certificates, CertificateFiles, Peer, TlsOptions};

use faults::Target as T;
use state::Idp;

/// How to start a provider.
#[derive(Debug)]
pub struct IdpOptions {
    /// Entra ID v2.0 or plain OpenID Connect.
    pub flavor: Flavor,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The directory.
    pub seed: Seed,
    /// A key to sign with; a fresh one is generated when `None`.
    pub signing_key: Option<SigningKey>,
    /// A file to keep keys, sessions and refresh tokens in across restarts (the app's embedded
    /// provider); `None` keeps everything in memory. A file that cannot be read is set aside
    /// and the provider starts afresh.
    pub state_file: Option<std::path::PathBuf>,
    /// Keep every secret issued or received, for [`RunningIdp::secrets_seen`] (tests that
    /// check logs for leaks). Off by default: the app's embedded provider keeps none.
    pub record_secrets: bool,
    /// How it behaves where providers differ; the flavour's preset when `None`
    /// ([`Behaviour::entra`], [`Behaviour::oidc`]).
    pub behaviour: Option<Behaviour>,
    /// Serve HTTPS with a throw-away CA ([`RunningIdp::ca_file`]); plain HTTP when `None`.
    pub tls: Option<TlsOptions>,
    /// The base URL the provider names itself by (issuer, endpoints, pages), when it plays a
    /// public host (`https://login.microsoftonline.com/`) that a client's resolver sends here.
    /// `https://127.0.0.1:{port}/` (or `http://` without TLS) when `None`.
    pub public_url: Option<Url>,
    /// The `msgraph_host` its Entra discovery document advertises; its own host when `None`.
    pub msgraph_host: Option<String>,
    /// Mount the control API (`/__control`). The tests' provider has it; the app's embedded
    /// one has it only behind [`Self::control_token`], so that no other local program can
    /// revoke, skew or rotate anything there.
    pub control: bool,
    /// When set, the control API answers only requests with `Authorization: Bearer {token}`
    /// ([`RunningIdp::control`] sends it).
    pub control_token: Option<ControlToken>,
}

/// The control API's bearer token; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(pub String);

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken([redacted])")
    }
}

impl Default for IdpOptions {
    fn default() -> Self {
        IdpOptions {
            flavor: Flavor::Entra,
            port: 0,
            seed: Seed::default(),
            signing_key: None,
            state_file: None,
            record_secrets: false,
            behaviour: None,
            tls: None,
            public_url: None,
            msgraph_host: None,
            control: true,
            control_token: None,
        }
    }
}

/// Why the provider did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The seed is inconsistent.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// Key generation or photo loading failed.
    #[error("cannot start the identity provider: {0}")]
    Setup(String),
}

/// A provider serving in the background. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningIdp {
    base: Url,
    local_addr: SocketAddr,
    /// Its own loopback address (for the control API when it plays a public host), and a
    /// client that trusts its certificate.
    local_base: Url,
    control_client: reqwest::Client,
    ca_file: Option<std::path::PathBuf>,
    flavor: Flavor,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    ledger: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl RunningIdp {
    /// `http://127.0.0.1:{port}/` (`https://` with TLS), or the public URL it plays.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Where it listens: the address a client's resolver must send its public host to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The PEM file of the CA that signed its certificate, when it serves TLS.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// The authority clients configure: `{base}common` for Entra, the issuer for OIDC.
    pub fn authority(&self) -> Url {
        match self.flavor {
            Flavor::Entra => self.url("common"),
            Flavor::Oidc => self.base.clone(),
        }
    }

    /// The authority for a tenant segment (`organizations`, the tenant id, a domain).
    pub fn tenant_authority(&self, tenant: &str) -> Url {
        self.url(tenant)
    }

    /// Graph's base URL: `{base}v1.0`.
    pub fn graph_url(&self) -> Url {
        self.url("v1.0")
    }

    /// The control API's base URL: `{base}__control`.
    pub fn control_url(&self) -> Url {
        self.url("__control")
    }

    /// An absolute URL on the provider.
    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base.clone())
    }

    /// Calls the control API (`{base}__control/{path}`) and returns its JSON answer; a non-2xx
    /// status is an error with the body. For tests, which drive the provider through it.
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let url = self
            .local_base
            .join(&format!("__control/{}", path.trim_start_matches('/')))
            .map_err(|e| format!("control {path}: {e}"))?;
        let response = self
            .control_client
            .request(method, url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("control {path}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("control {path}: {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// One request counter of `/__control/stats` (0 when never counted).
    pub async fn stat(&self, key: &str) -> Result<u64, String> {
        let stats = self
            .control(reqwest::Method::GET, "stats", serde_json::Value::Null)
            .await?;
        Ok(stats[key].as_u64().unwrap_or(0))
    }

    /// Every code, PKCE verifier, device code and token the provider issued or received so far,
    /// when started with `record_secrets`; `None` otherwise.
    pub fn secrets_seen(&self) -> Option<Vec<String>> {
        self.ledger
            .as_ref()
            .map(|ledger| ledger.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Stops serving and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningIdp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Binds 127.0.0.1, then serves in a background task.
pub async fn start(options: IdpOptions) -> Result<RunningIdp, StartError> {
    options.seed.validate()?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))
        .await
        .map_err(|source| StartError::Bind {
            port: options.port,
            source,
        })?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| StartError::Setup(e.to_string()))?;
    let port = local_addr.port();
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let base = match &options.public_url {
        Some(url) => {
            let mut url = url.clone();
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url
        }
        None => Url::parse(&format!("{scheme}://127.0.0.1:{port}/"))
            .map_err(|e| StartError::Setup(e.to_string()))?,
    };
    let behaviour = options.behaviour.clone().unwrap_or(match options.flavor {
        Flavor::Entra => Behaviour::entra(),
        Flavor::Oidc => Behaviour::oidc(),
    });
    let kept = options.state_file.as_deref().and_then(load_kept_state);
    let keys = match (&kept, options.signing_key) {
        (Some((keys, _)), _) => keys.clone(),
        (None, Some(key)) => keys::KeySet {
            active: Arc::new(key),
            retired: vec![],
        },
        (None, None) => {
            let algorithm = behaviour.signing_algorithm;
            keys::KeySet {
                active: Arc::new(
                    tokio::task::spawn_blocking(move || SigningKey::generate_for(algorithm))
                        .await
                        .map_err(|e| StartError::Setup(e.to_string()))?
                        .map_err(|e| StartError::Setup(e.to_string()))?,
                ),
                retired: vec![],
            }
        }
    };
    let tls = match &options.tls {
        Some(tls_options) => Some(tls::generate(tls_options, port).map_err(StartError::Setup)?),
        None => None,
    };
    let mut idp =
        Idp::new(options.flavor, base.clone(), options.seed, keys).map_err(StartError::Setup)?;
    idp.behaviour = behaviour;
    idp.msgraph_host = options.msgraph_host;
    if let Some((_, durable)) = kept {
        durable.restore(&mut idp.store());
    }
    idp.state_file = options.state_file;
    let ledger = options
        .record_secrets
        .then(|| Arc::new(std::sync::Mutex::new(Vec::new())));
    idp.ledger = ledger.clone();
    idp.persist_if_changed();
    let idp = Arc::new(idp);
    let control = options.control.then(|| {
        options
            .control_token
            .as_ref()
            .map(|t| Arc::<str>::from(t.0.as_str()))
    });
    let app = router(idp, control).into_make_service_with_connect_info::<Peer>();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let ca_file = tls.as_ref().map(|t| t.ca_file.clone());
    let local_base = Url::parse(&format!("{scheme}://127.0.0.1:{port}/"))
        .map_err(|e| StartError::Setup(e.to_string()))?;
    let mut control_client = reqwest::Client::builder().no_proxy();
    if let Some(tls) = &tls {
        let pem = std::fs::read(&tls.ca_file).map_err(|e| StartError::Setup(e.to_string()))?;
        let ca =
            reqwest::Certificate::from_pem(&pem).map_err(|e| StartError::Setup(e.to_string()))?;
        control_client = control_client.add_root_certificate(ca);
    }
    if let Some(ControlToken(token)) = &options.control_token {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| StartError::Setup(format!("the control token: {e}")))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
        control_client = control_client.default_headers(headers);
    }
    let control_client = control_client
        .build()
        .map_err(|e| StartError::Setup(e.to_string()))?;
    let task = match tls {
        None => tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        }),
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls.acceptor)
                .map_err(|e| StartError::Setup(e.to_string()))?;
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            })
        }
    };
    Ok(RunningIdp {
        base,
        local_addr,
        local_base,
        control_client,
        ca_file,
        flavor: options.flavor,
        shutdown: Some(shutdown),
        task: Some(task),
        ledger,
    })
}

/// The kept state and its keys, or `None` (nothing kept, or a file that was set aside).
fn load_kept_state(path: &std::path::Path) -> Option<(keys::KeySet, durable::Durable)> {
    let outcome = durable::Durable::load(path)
        .and_then(|kept| kept.map(|d| d.keyset().map(|keys| (keys, d))).transpose());
    match outcome {
        Ok(kept) => kept,
        Err(why) => {
            let aside = path.with_extension("damaged");
            let _ = std::fs::rename(path, &aside);
            eprintln!(
                "tessera-idp: starting afresh: {why} (kept as {})",
                aside.display()
            );
            None
        }
    }
}

/// Saves the provider's state after every request that changed it.
async fn persist_after(
    State(idp): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    idp.persist_if_changed();
    response
}

type Shared = State<Arc<Idp>>;
type Params = Query<HashMap<String, String>>;

/// `control`: `None` leaves the control API out; `Some(token)` mounts it, behind the token if
/// there is one.
fn router(idp: Arc<Idp>, control: Option<Option<Arc<str>>>) -> Router {
    let protocol = match idp.flavor {
        Flavor::Entra => {
            Router::new()
                .route(
                    "/{tenant}/v2.0/.well-known/openid-configuration",
                    get(|State(idp): Shared, Path(t): Path<String>| async move {
                        idp.with_faults(
                            T::Discovery,
                            discovery::openid_configuration(idp.clone(), t),
                        )
                        .await
                    }),
                )
                .route(
                    "/{tenant}/discovery/v2.0/keys",
                    get(|State(idp): Shared, Path(t): Path<String>| async move {
                        idp.with_faults(T::Keys, discovery::keys(idp.clone(), t))
                            .await
                    }),
                )
                .route(
                    "/{tenant}/oauth2/v2.0/authorize",
                    get(
                        |State(idp): Shared,
                         Path(t): Path<String>,
                         Query(q): Params,
                         h: HeaderMap| async move {
                            idp.with_faults(
                                T::Authorize,
                                authorize::authorize(idp.clone(), t, q, h),
                            )
                            .await
                        },
                    ),
                )
                .route(
                    "/{tenant}/oauth2/v2.0/token",
                    post(
                        |State(idp): Shared,
                         Path(t): Path<String>,
                         h: HeaderMap,
                         b: bytes::Bytes| async move {
                            idp.with_faults(T::Token, token::token(idp.clone(), t, h, b))
                                .await
                        },
                    ),
                )
                .route(
                    "/{tenant}/oauth2/v2.0/devicecode",
                    post(
                        |State(idp): Shared,
                         Path(t): Path<String>,
                         h: HeaderMap,
                         b: bytes::Bytes| {
                            device::device_code(idp, t, h, b)
                        },
                    ),
                )
                .route(
                    "/{tenant}/oauth2/v2.0/logout",
                    get(|State(idp): Shared, h: HeaderMap, Query(q): Params| {
                        logout::logout(idp, h, q)
                    }),
                )
                .route(
                    "/{tenant}/oauth2/v2.0/logout/pick",
                    post(
                        |State(idp): Shared,
                         h: HeaderMap,
                         Form(f): Form<HashMap<String, String>>| {
                            logout::logout_pick(idp, h, f)
                        },
                    ),
                )
                .route(
                    "/{tenant}/oauth2/nativeclient",
                    get(discovery::native_client),
                )
                .route(
                    "/{tenant}/login/{step}",
                    post(
                        |State(idp): Shared,
                         Path((_, step)): Path<(String, String)>,
                         Form(f): Form<HashMap<String, String>>| {
                            authorize::login_step(idp, step, f)
                        },
                    ),
                )
        }
        Flavor::Oidc => Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(idp): Shared| async move {
                    idp.with_faults(
                        T::Discovery,
                        discovery::openid_configuration(idp.clone(), String::new()),
                    )
                    .await
                }),
            )
            .route(
                "/jwks",
                get(|State(idp): Shared| async move {
                    idp.with_faults(T::Keys, discovery::keys(idp.clone(), String::new()))
                        .await
                }),
            )
            .route(
                "/authorize",
                get(
                    |State(idp): Shared, Query(q): Params, h: HeaderMap| async move {
                        idp.with_faults(
                            T::Authorize,
                            authorize::authorize(idp.clone(), String::new(), q, h),
                        )
                        .await
                    },
                ),
            )
            .route(
                "/token",
                post(
                    |State(idp): Shared, h: HeaderMap, b: bytes::Bytes| async move {
                        idp.with_faults(T::Token, token::token(idp.clone(), String::new(), h, b))
                            .await
                    },
                ),
            )
            .route(
                "/devicecode",
                post(|State(idp): Shared, h: HeaderMap, b: bytes::Bytes| {
                    device::device_code(idp, String::new(), h, b)
                }),
            )
            .route(
                "/logout",
                get(|State(idp): Shared, h: HeaderMap, Query(q): Params| logout::logout(idp, h, q)),
            )
            .route(
                "/logout/pick",
                post(
                    |State(idp): Shared, h: HeaderMap, Form(f): Form<HashMap<String, String>>| {
                        logout::logout_pick(idp, h, f)
                    },
                ),
            )
            .route(
                "/login/{step}",
                post(
                    |State(idp): Shared,
                     Path(step): Path<String>,
                     Form(f): Form<HashMap<String, String>>| {
                        authorize::login_step(idp, step, f)
                    },
                ),
            ),
    };
    let protocol = protocol
        // OpenID Connect Core §5.3.1: GET or POST, the access token as a bearer token. Entra
        // serves it at Graph's `/oidc/userinfo`; the OIDC flavour at its root.
        .route(
            "/oidc/userinfo",
            get(|State(idp): Shared, h: HeaderMap| userinfo::userinfo(idp, h))
                .post(|State(idp): Shared, h: HeaderMap| userinfo::userinfo(idp, h)),
        )
        .route(
            "/userinfo",
            get(|State(idp): Shared, h: HeaderMap| userinfo::userinfo(idp, h))
                .post(|State(idp): Shared, h: HeaderMap| userinfo::userinfo(idp, h)),
        )
        .route(
            "/pictures/{file}",
            get(|State(idp): Shared, Path(file): Path<String>| userinfo::picture(idp, file)),
        )
        .route(
            "/v1.0/me",
            get(
                |State(idp): Shared, h: HeaderMap, Query(q): Params| async move {
                    idp.with_faults(T::Graph, graph::me(idp.clone(), h, q))
                        .await
                },
            ),
        )
        .route(
            "/v1.0/me/photo/$value",
            get(|State(idp): Shared, h: HeaderMap| async move {
                idp.with_faults(T::Graph, graph::photo(idp.clone(), h, None))
                    .await
            }),
        )
        .route(
            "/v1.0/me/photos/{size}/$value",
            get(
                |State(idp): Shared, h: HeaderMap, Path(size): Path<String>| async move {
                    idp.with_faults(T::Graph, graph::photo(idp.clone(), h, Some(size)))
                        .await
                },
            ),
        )
        .route(
            "/devicelogin",
            get(|State(idp): Shared| device::enter_code_page(idp)).post(
                |State(idp): Shared, Form(f): Form<HashMap<String, String>>| {
                    device::submit_code(idp, f)
                },
            ),
        )
        .route(
            "/devicelogin/complete",
            get(|State(idp): Shared, Query(q): Params| device::complete(idp, q)),
        )
        .route("/error", get(error_page));
    let protocol = match control {
        Some(token) => protocol.nest("/__control", control::routes(token)),
        None => protocol,
    };
    protocol
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({ "error": "not_found", "error_description": "No such endpoint on this identity provider." })),
            )
        })
        .layer(axum::middleware::from_fn_with_state(idp.clone(), persist_after))
        .with_state(idp)
}

/// `error_uri` of Entra-style errors points here.
async fn error_page(Query(q): Params) -> Response {
    let code = q.get("code").map(String::as_str).unwrap_or("unknown");
    Html(pages::error(&format!(
        "Error AADSTS{code}. See the identity provider's error codes reference."
    )))
    .into_response()
}
