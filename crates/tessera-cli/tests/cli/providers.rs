//! `tessera-cli` against the providers the emulator plays (issue 19): other OpenID Connect
//! providers' profiles, processes refreshing at once against rotation with reuse detection,
//! TLS with the provider's CA from `SSL_CERT_FILE` or the extra CA setting, and proxies.

use std::time::Duration;

use tessera_idp::Behaviour;

use super::*;

/// A free loopback port, for a redirect URI registered exactly.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn oidc_provider(behaviour: Behaviour, redirect_port: u16) -> RunningIdp {
    // What a user of an exact-matching provider registers: the loopback URI with its port.
    let mut seed = tessera_idp::Seed::default();
    seed.clients[0]
        .redirect_uris
        .push(format!("http://127.0.0.1:{redirect_port}/"));
    tessera_idp::start(IdpOptions {
        flavor: Flavor::Oidc,
        behaviour: Some(behaviour),
        seed,
        ..IdpOptions::default()
    })
    .await
    .unwrap()
}

/// The user's settings file on `machine`.
fn write_settings(machine: &Machine, settings: Value) {
    let folder = machine
        .home
        .path()
        .join("config")
        .join(tessera_config::IDENTIFIER);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("settings.json"),
        json!({ "settings": settings }).to_string(),
    )
    .unwrap();
}

async fn the_chain_under(name: &str, behaviour: Behaviour) {
    let port = free_port();
    let idp = oidc_provider(behaviour, port).await;
    let mut machine = Machine::new(Some(&idp));
    machine.set("TESSERA_REDIRECT_PORT", &port.to_string());
    write_settings(
        &machine,
        json!({ "refreshTokenRefusals": ["invalid_request"] }),
    );

    let login = machine.run(&["login", "--json"]).await.succeeded();
    assert!(
        login.stderr.contains(&format!("http://127.0.0.1:{port}/")),
        "{name}: the redirect URI to register is printed: {login:?}"
    );
    let cached = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_eq!(cached["source"], "cache", "{name}");
    let forced = machine
        .run(&["token", "--force-refresh", "--json"])
        .await
        .succeeded()
        .json();
    assert_eq!(forced["source"], "refresh_token", "{name}");
    let again = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_eq!(
        (&again["source"], &again["access_token"]),
        (&json!("cache"), &forced["access_token"]),
        "{name}: the cache serves the refreshed token (issue 19, point 3)"
    );
    // The profile from the provider's userinfo endpoint; nothing says Microsoft Graph.
    let me = machine.run(&["me", "--json"]).await.succeeded();
    assert_eq!(me.json()["displayName"], "Ada Lovelace", "{name}: {me:?}");
    assert_eq!(me.json()["mail"], "ada@tessera.test", "{name}");
    let plain = machine.run(&["me"]).await.succeeded();
    assert!(!format!("{plain:?}").contains("Graph"), "{name}: {plain:?}");
    machine.run(&["logout", "--all"]).await.succeeded();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_works_with_provider_b() {
    the_chain_under("provider-b", Behaviour::provider_b()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_works_with_an_es256_provider_without_key_ids() {
    let behaviour = Behaviour {
        signing_algorithm: tessera_idp::Algorithm::Es256,
        key_ids: false,
        ..Behaviour::oidc()
    };
    the_chain_under("es256-without-kid", behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_works_with_a_reuse_detecting_provider() {
    the_chain_under(
        "reuse-detection",
        Behaviour::named("reuse-detection").unwrap(),
    )
    .await;
}

// Issue 19, "Refusals classified": provider B's answer for a refresh token it forgot is
// `invalid_request`; with the refreshTokenRefusals setting that is exit 3 (sign in again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_dead_token_answer_is_exit_3() {
    let port = free_port();
    let idp = oidc_provider(Behaviour::provider_b(), port).await;
    let mut machine = Machine::new(Some(&idp));
    machine.set("TESSERA_REDIRECT_PORT", &port.to_string());
    write_settings(
        &machine,
        json!({ "refreshTokenRefusals": ["invalid_request"] }),
    );
    machine.run(&["login"]).await.succeeded();
    control(
        &idp,
        "users/ada@tessera.test/refresh-tokens/forget",
        json!({}),
    )
    .await;
    let dead = machine.run(&["token", "--force-refresh", "--json"]).await;
    assert_eq!(dead.code, 3, "{dead:?}");
    assert_eq!(dead.json()["error"]["code"], "invalid_request");
}

// Issue 19, point 6: four processes sharing one cache, forcing refreshes, against a provider
// that rotates refresh tokens and revokes the grant when a spent one comes back (RFC 9700
// §4.14.2): 53 of 100 calls failed, and one collision signs the user out everywhere. Here, two
// resources and the background (refresh_in) refresh too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_refreshing_at_once_never_redeem_a_spent_token() {
    let idp = tessera_idp::start(IdpOptions {
        flavor: Flavor::Oidc,
        behaviour: Behaviour::named("reuse-detection"),
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    let machine = Machine::new(Some(&idp));
    machine.run(&["login"]).await.succeeded();
    // Consent to the second resource too.
    machine
        .run(&["login", "--scopes", "api://tessera-demo/access_as_user"])
        .await
        .succeeded();
    // Access tokens past refresh_in at once: every cached answer also renews in the
    // background.
    control(&idp, "lifetimes", json!({ "refresh_in": 1 })).await;
    let run = |process: usize| {
        let machine = &machine;
        async move {
            let mut failures = vec![];
            for call in 0..12 {
                let mut args = vec!["token", "--json"];
                if call % 3 != 2 {
                    args.push("--force-refresh");
                }
                if (process + call).is_multiple_of(2) {
                    args.extend(["--scopes", "api://tessera-demo/access_as_user"]);
                }
                let outcome = machine.run(&args).await;
                if outcome.code != 0 {
                    failures.push(outcome);
                }
            }
            failures
        }
    };
    let failures: Vec<Run> = futures_util::future::join_all((0..4).map(run))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 48 calls failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        idp.stat("token:refresh_token:reuse_detected")
            .await
            .unwrap(),
        0,
        "no spent refresh token was ever sent"
    );
    machine.run(&["token", "--force-refresh"]).await.succeeded();
}

// A process killed while holding the refresh lock: the kernel releases its lock, so nobody
// waits for it beyond the next poll (a lock file would need stale-lock guessing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_holding_the_refresh_lock_delays_no_one() {
    let idp = provider(Flavor::Oidc).await;
    let machine = Machine::new(Some(&idp));
    machine.run(&["login"]).await.succeeded();
    let account = machine
        .run(&["accounts", "--json"])
        .await
        .succeeded()
        .json()[0]
        .clone();
    let key = format!(
        "{}|{}|{}",
        account["home_account_id"].as_str().unwrap(),
        account["environment"].as_str().unwrap(),
        tessera_idp::DEFAULT_CLIENT_ID.to_ascii_lowercase()
    );
    let lock = tessera_vault::refresh_lock_path(&machine.cache_dir(), &key);
    // flock(1) takes the same kernel lock (flock(2)) the vault takes, and with -o keeps it in
    // its own process only.
    let mut holder = tokio::process::Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "600"])
        .kill_on_drop(true)
        .spawn()
        .expect("flock(1), from util-linux");
    while std::process::Command::new("flock")
        .args(["-n", lock.to_str().unwrap(), "true"])
        .status()
        .unwrap()
        .success()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = idp.stat("token:refresh_token").await.unwrap();
    let waiting = machine.command(&["token", "--force-refresh"]).output();
    let waiting = tokio::spawn(waiting);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        idp.stat("token:refresh_token").await.unwrap(),
        before,
        "nothing is redeemed while another process holds the lock"
    );
    holder.start_kill().unwrap();
    let _ = holder.wait().await;
    let output = waiting.await.unwrap().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(idp.stat("token:refresh_token").await.unwrap(), before + 1);
}

/// A provider over TLS with its throw-away CA, Entra-shaped (Graph beside it).
async fn tls_provider(flavor: Flavor) -> RunningIdp {
    tessera_idp::start(IdpOptions {
        flavor,
        tls: Some(tessera_idp::TlsOptions::default()),
        ..IdpOptions::default()
    })
    .await
    .unwrap()
}

// Issue 19, point 4: `tessera-cli me` failed on a provider whose CA came from SSL_CERT_FILE
// ("could not reach Microsoft Graph: error sending request"): the Graph client had its own
// HTTP client without that trust, and the message dropped the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_ca_from_ssl_cert_file_or_the_extra_ca_setting_is_trusted_everywhere() {
    let idp = tls_provider(Flavor::Entra).await;
    let ca = idp.ca_file().unwrap().display().to_string();
    let mut machine = Machine::new(Some(&idp));

    // Without the CA: refused, and the cause is said.
    let untrusted = machine.run(&["login", "--json"]).await;
    assert_eq!(untrusted.code, 5, "{untrusted:?}");
    assert!(
        untrusted
            .stderr
            .contains("certificate not trusted: UnknownIssuer"),
        "{untrusted:?}"
    );

    // SSL_CERT_FILE, which the platform verifier takes as the whole store.
    machine.set("SSL_CERT_FILE", &ca);
    machine.run(&["login"]).await.succeeded();
    let me = machine.run(&["me", "--json"]).await.succeeded();
    assert_eq!(me.json()["displayName"], "Ada Lovelace", "{me:?}");

    // The whole store: with another CA there, this provider is not trusted, whatever the
    // system trusts.
    let other = tls_provider(Flavor::Entra).await;
    machine.set(
        "SSL_CERT_FILE",
        &other.ca_file().unwrap().display().to_string(),
    );
    let elsewhere = machine.run(&["token", "--force-refresh"]).await;
    assert_eq!(elsewhere.code, 5, "{elsewhere:?}");

    // The extraCaFile setting adds the CA to the system's store instead.
    machine.env.retain(|(k, _)| k != "SSL_CERT_FILE");
    machine.set("TESSERA_EXTRA_CA_FILE", &ca);
    machine.run(&["token", "--force-refresh"]).await.succeeded();
    machine.run(&["me"]).await.succeeded();
}

// Issue 21, point 2: with HTTP_PROXY/ALL_PROXY set, requests to a loopback provider (the
// embedded default) went to the proxy in clear text; with every proxy variable pointing at a
// dead port, the first discovery request failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_traffic_never_goes_through_a_proxy() {
    let idp = provider(Flavor::Entra).await;
    let mut machine = Machine::new(Some(&idp));
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        machine.set(name, "http://127.0.0.1:9");
    }
    machine.set("NO_PROXY", "");
    machine.run(&["login"]).await.succeeded();
    machine.run(&["token", "--force-refresh"]).await.succeeded();
    machine.run(&["me"]).await.succeeded();
}

/// A machine whose CLI talks to node-oidc-provider, trusting its CA (the scripted browser,
/// which inherits the environment, too).
async fn real_provider_machine() -> (tessera_test_support::oidc_provider::OidcProvider, Machine) {
    let provider = tessera_test_support::oidc_provider::OidcProvider::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut machine = Machine::new(None);
    machine.set("TESSERA_AUTHORITY", provider.issuer.as_str());
    machine.set(
        "TESSERA_CLIENT_ID",
        tessera_test_support::oidc_provider::CLIENT_ID,
    );
    machine.set("SSL_CERT_FILE", &provider.ca_file.display().to_string());
    (provider, machine)
}

// A certified provider nobody here wrote: sign-in through the browser, then the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_provider_signs_in_and_serves_from_the_cache() {
    let (provider, machine) = real_provider_machine().await;
    let login = machine.run(&["login", "--json"]).await.succeeded();
    assert_eq!(
        login.json()["account"]["username"],
        "ada@tessera.test",
        "{login:?}"
    );
    let token = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_eq!(token["source"], "cache");
    provider.stop().await;
}

// Its refresh tokens rotate and reuse revokes the grant: forced refreshes keep working, and
// the cache serves the newest token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_provider_refreshes_with_rotation() {
    let (provider, machine) = real_provider_machine().await;
    machine.run(&["login"]).await.succeeded();
    let mut last = Value::Null;
    for _ in 0..3 {
        last = machine
            .run(&["token", "--force-refresh", "--json"])
            .await
            .succeeded()
            .json();
        assert_eq!(last["source"], "refresh_token");
    }
    let cached = machine.run(&["token", "--json"]).await.succeeded().json();
    assert_eq!(cached["access_token"], last["access_token"]);
    provider.stop().await;
}

// Its profile comes from its userinfo endpoint (it keeps scope claims out of ID tokens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_providers_profile_comes_from_userinfo() {
    let (provider, machine) = real_provider_machine().await;
    machine.run(&["login"]).await.succeeded();
    let me = machine.run(&["me", "--json"]).await.succeeded().json();
    assert_eq!(me["displayName"], "Ada Lovelace", "{me}");
    assert_eq!(me["mail"], "ada@tessera.test");
    machine.run(&["logout", "--all"]).await.succeeded();
    provider.stop().await;
}
