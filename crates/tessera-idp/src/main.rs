//! `tessera-idp`: run the offline identity provider from a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use tessera_idp::{Flavor, IdpOptions, Seed};

const USAGE: &str = "usage: tessera-idp [--port N] [--flavor entra|oidc] [--seed FILE]

Serves an offline identity provider shaped like Microsoft Entra ID v2.0 (or, with
--flavor oidc, a plain OpenID Connect provider) and Microsoft Graph /v1.0/me on 127.0.0.1.
  --port N       port to listen on (default 0: any free port)
  --flavor F     entra (default) or oidc
  --seed FILE    users and clients as JSON (default: the built-in test directory)
The first lines printed are the authority, the Graph base URL and the control API URL.";

fn parse(args: &[String]) -> Result<IdpOptions, String> {
    let mut options = IdpOptions::default();
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
            other => return Err(format!("unexpected argument {other:?}")),
        }
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
