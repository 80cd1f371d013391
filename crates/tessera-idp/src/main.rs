//! `tessera-idp`: run the offline identity provider from a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use tessera_idp::{Behaviour, Flavor, IdpOptions, Seed, TlsOptions};

const USAGE: &str = "usage: tessera-idp [--port N] [--flavor entra|oidc] [--seed FILE]
                  [--profile NAME] [--set SWITCH=VALUE]... [--tls] [--ca-file FILE]
                  [--public-url URL] [--name HOST]...

Serves an offline identity provider shaped like Microsoft Entra ID v2.0 (or, with
--flavor oidc, a plain OpenID Connect provider) and Microsoft Graph /v1.0/me on 127.0.0.1.
  --port N         port to listen on (default 0: any free port)
  --flavor F       entra (default) or oidc
  --seed FILE      users and clients as JSON (default: the built-in test directory)
  --profile NAME   how it behaves where providers differ: entra, oidc, audience-array,
                   reuse-detection, minimal-refresh, opaque-access-tokens, userinfo-profile,
                   exact-redirect, es256, keys-without-kid, no-id-token-on-refresh, provider-b
                   (default: the flavour's own)
  --set S=V        one switch of the profile, e.g. refresh_token_reuse=rotate_and_revoke_grant
  --tls            serve HTTPS with a throw-away CA (its certificate's file is printed)
  --ca-file FILE   where --tls writes the CA certificate (PEM)
  --public-url U   the URL it names itself by (https://login.microsoftonline.com/), for a
                   client whose resolver sends that host here
  --name HOST      another host name its certificate covers (with --tls)
The first lines printed are the authority, the Graph base URL and the control API URL (and
with --tls the CA file).";

fn parse(args: &[String]) -> Result<IdpOptions, String> {
    let mut options = IdpOptions::default();
    let mut profile: Option<String> = None;
    let mut switches: Vec<String> = vec![];
    let mut tls: Option<TlsOptions> = None;
    let mut names: Vec<String> = vec![];
    let mut ca_file: Option<PathBuf> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                options.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "--flavor" => {
                options.flavor = match value("--flavor")?.as_str() {
                    "entra" => Flavor::Entra,
                    "oidc" => Flavor::Oidc,
                    other => return Err(format!("--flavor: {other:?} is not entra or oidc")),
                }
            }
            "--seed" => {
                let path = PathBuf::from(value("--seed")?);
                options.seed = Seed::from_file(&path).map_err(|e| e.to_string())?;
            }
            "--profile" => profile = Some(value("--profile")?),
            "--set" => switches.push(value("--set")?),
            "--tls" => tls = Some(TlsOptions::default()),
            "--ca-file" => ca_file = Some(PathBuf::from(value("--ca-file")?)),
            "--name" => names.push(value("--name")?),
            "--public-url" => {
                let text = value("--public-url")?;
                options.public_url = Some(
                    url::Url::parse(&text).map_err(|e| format!("--public-url {text:?}: {e}"))?,
                );
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if profile.is_some() || !switches.is_empty() {
        let mut behaviour = match &profile {
            Some(name) => Behaviour::named(name)
                .ok_or_else(|| format!("--profile: no profile named {name:?}"))?,
            None if options.flavor == Flavor::Oidc => Behaviour::oidc(),
            None => Behaviour::entra(),
        };
        for switch in &switches {
            behaviour = behaviour.with(switch).map_err(|e| format!("--set {e}"))?;
        }
        options.behaviour = Some(behaviour);
    }
    if let Some(url) = &options.public_url {
        if tls.is_none() && url.scheme() == "https" {
            return Err("--public-url https://… needs --tls".into());
        }
        if let Some(host) = url.host_str() {
            names.push(host.to_owned());
        }
    }
    if let Some(mut tls) = tls {
        tls.names = names;
        tls.ca_file = ca_file;
        options.tls = Some(tls);
    } else if ca_file.is_some() || !names.is_empty() && options.public_url.is_none() {
        return Err("--ca-file and --name go with --tls".into());
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("tessera-idp: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let flavor = options.flavor;
    // Registered before the URLs are printed: whoever reads them may send
    // SIGTERM at once, and an unregistered signal kills the process uncleanly.
    let stop_signal = StopSignal::register();
    let idp = match tessera_idp::start(options).await {
        Ok(idp) => idp,
        Err(err) => {
            eprintln!("tessera-idp: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("authority: {}", idp.authority());
    println!("graph: {}", idp.graph_url());
    println!("control: {}", idp.control_url());
    if let Some(ca) = idp.ca_file() {
        println!("ca: {}", ca.display());
    }
    println!(
        "tessera-idp ({flavor:?}) ready; users ada@tessera.test and alan@tessera.test, password tessera; Ctrl-C stops"
    );
    stop_signal.wait().await;
    idp.stop().await;
    println!("tessera-idp: stopped");
    ExitCode::SUCCESS
}

/// SIGINT or SIGTERM, registered when made rather than when first awaited.
struct StopSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignal {
    fn register() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)));
            if let Err(err) = &signals {
                eprintln!(
                    "tessera-idp: cannot watch for SIGINT/SIGTERM ({err}); Ctrl-C stops uncleanly"
                );
            }
            Self {
                signals: signals.ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        #[cfg(unix)]
        std::future::pending::<()>().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
