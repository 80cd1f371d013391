//! tessera-idp walked with a plain HTTP client: every endpoint, every fault, the bad inputs.
//! One test binary (faster to link); each test starts its own provider on a random port.

// Test helpers panic on purpose: a failed request is a failed test.
#![allow(clippy::unwrap_used)]

mod authorize;
mod control;
mod device;
mod durable;
mod graph;
mod msal_python;
mod oidc;
mod token;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tessera_idp::{Flavor, IdpOptions, RunningIdp, DEFAULT_CLIENT_ID};
use tessera_test_support::user_agent::{Outcome, Script, UserAgent};
use url::Url;

/// A fixed PKCE verifier (RFC 7636 §4.1: 43–128 unreserved characters).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-tessera-test";
pub const REDIRECT: &str = "http://localhost:8400";
pub const NATIVE: &str = "https://login.microsoftonline.com/common/oauth2/nativeclient";
pub const SCOPE: &str = "User.Read openid profile offline_access";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The claims of a JWT, without checking it (the tests check signatures through Graph).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON payload")
}

#[derive(Debug)]
pub struct Fixture {
    pub idp: RunningIdp,
    pub http: reqwest::Client,
    pub authority: Url,
}

pub async fn fixture() -> Fixture {
    fixture_with(Flavor::Entra).await
}

pub async fn fixture_with(flavor: Flavor) -> Fixture {
    fixture_with_options(IdpOptions {
        flavor,
        ..IdpOptions::default()
    })
    .await
}

pub async fn fixture_with_options(options: IdpOptions) -> Fixture {
    let idp = tessera_idp::start(options)
        .await
        .expect("the provider starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authority = idp.authority();
    Fixture {
        idp,
        http,
        authority,
    }
}

impl Fixture {
    /// `{authority}/{path}` for Entra, `{base}{path}` for OIDC.
    pub fn endpoint(&self, entra_path: &str, oidc_path: &str) -> Url {
        if self.authority.path() == "/" {
            self.idp.url(oidc_path)
        } else {
            Url::parse(&format!("{}/{entra_path}", self.authority)).unwrap()
        }
    }

    pub fn token_url(&self) -> Url {
        self.endpoint("oauth2/v2.0/token", "token")
    }

    /// An authorize URL with sensible defaults; `extra` overrides or adds parameters, and a
    /// value of "" removes one.
    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> Url {
        let challenge = challenge(VERIFIER);
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", DEFAULT_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", SCOPE),
            ("state", "state-123"),
            ("nonce", "nonce-456"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        // OIDC Core §11: offline_access wants prompt=consent (the OIDC preset drops it
        // otherwise, as node-oidc-provider does); Entra needs no such thing.
        if self.authority.path() == "/" {
            params.push(("prompt", "consent"));
        }
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let mut url = self.endpoint("oauth2/v2.0/authorize", "authorize");
        url.query_pairs_mut().extend_pairs(params);
        url
    }

    /// Signs `username` in interactively and returns the outcome.
    pub async fn sign_in(&self, agent: &UserAgent, extra: &[(&str, &str)]) -> Outcome {
        let redirect = extra
            .iter()
            .find(|(k, _)| *k == "redirect_uri")
            .map_or(REDIRECT, |(_, v)| v);
        agent
            .sign_in(&self.authorize_url(extra), redirect)
            .await
            .expect("the scripted sign-in completes")
    }

    pub async fn post_token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.token_url())
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn redeem(&self, code: &str) -> (StatusCode, Value) {
        self.post_token(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_info", "1"),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str, scope: &str) -> (StatusCode, Value) {
        self.post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("refresh_token", refresh_token),
            ("scope", scope),
            ("client_info", "1"),
        ])
        .await
    }

    /// Signs Ada in and redeems the code: the token response.
    pub async fn tokens_for(&self, username: &str) -> Value {
        let agent = UserAgent::new(Script::user(username));
        let outcome = self.sign_in(&agent, &[]).await;
        let code = outcome.param("code").expect("a code");
        let (status, body) = self.redeem(&code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = self.idp.url(&format!("__control/{path}"));
        let changes_state = method != reqwest::Method::GET;
        let mut request = self.http.request(method, url);
        match body {
            Some(body) => request = request.json(&body),
            // The control API takes state changes as JSON only.
            None if changes_state => request = request.json(&json!({})),
            None => {}
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_control(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.control(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "control {path}: {value}");
        value
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "stats", None).await.1
    }

    pub async fn me(&self, access_token: &str) -> reqwest::Response {
        self.http
            .get(self.idp.url("v1.0/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }
}

/// Entra's AADSTS number of an error body.
pub fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or(0)
}

#[test]
fn the_scripted_browser_knows_the_built_in_password() {
    assert_eq!(
        tessera_test_support::user_agent::DEFAULT_PASSWORD,
        tessera_idp::DEFAULT_PASSWORD,
        "Script::user signs in with the built-in users' password"
    );
}

#[tokio::test]
async fn discovery_follows_entras_issuer_rules() {
    let f = fixture().await;
    let get = |tenant: &str| {
        let url = f
            .idp
            .url(&format!("{tenant}/v2.0/.well-known/openid-configuration"));
        let http = f.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, common) = get("common").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        common["issuer"],
        f.idp
            .url("{tenantid}/v2.0")
            .as_str()
            .replace("%7B", "{")
            .replace("%7D", "}"),
        "common's issuer is the {{tenantid}} template"
    );
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(
            common[key]
                .as_str()
                .unwrap()
                .starts_with(f.authority.as_str()),
            "{key}"
        );
    }
    let (_, tenant) = get(tessera_idp::DEFAULT_TENANT_ID).await;
    assert_eq!(
        tenant["issuer"],
        format!(
            "{}{}/v2.0",
            f.idp.base_url(),
            tessera_idp::DEFAULT_TENANT_ID
        )
    );
    let (_, by_domain) = get("tessera.test").await;
    assert_eq!(by_domain["issuer"], tenant["issuer"]);

    let (status, unknown) = get("not-a-tenant").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["error"], "invalid_tenant");
    assert_eq!(aadsts(&unknown), 90002);

    let keys: Value = f
        .http
        .get(common["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &keys["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "no private key material");
    assert_eq!(f.stats().await["discovery"], 4);
}

#[tokio::test]
async fn the_binary_prints_its_urls_first_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-idp"))
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let authority = lines.next().unwrap().unwrap();
    let graph = lines.next().unwrap().unwrap();
    assert!(
        authority.starts_with("authority: http://127.0.0.1:") && authority.ends_with("/common"),
        "{authority}"
    );
    assert!(
        graph.starts_with("graph: http://127.0.0.1:") && graph.ends_with("/v1.0"),
        "{graph}"
    );
    let url = authority.trim_start_matches("authority: ").to_owned()
        + "/v2.0/.well-known/openid-configuration";
    let status = reqwest::get(&url).await.unwrap().status();
    assert_eq!(status, StatusCode::OK);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[tokio::test]
async fn the_binary_refuses_a_bad_seed_file_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("tessera-idp-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("seed.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-idp"))
        .args(["--seed", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("seed.json") && stderr.contains("not valid"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn unknown_paths_get_a_json_404_and_the_server_keeps_serving() {
    let f = fixture().await;
    let r = f.http.get(f.idp.url("nope/nothing")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let r = f
        .http
        .get(f.idp.url("common/oauth2/nativeclient"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_documented_example_seed_loads_and_serves_its_user() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seed.example.json");
    let seed = tessera_idp::Seed::from_file(&path).expect("seed.example.json is valid");
    let idp = tessera_idp::start(IdpOptions {
        seed,
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    let f = Fixture {
        authority: idp.authority(),
        idp,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let tokens = f.tokens_for("grace@tessera.test").await;
    let me: Value = f
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["displayName"], "Grace Hopper");
}
