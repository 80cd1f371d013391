//! A certified third-party OpenID Provider for the tests: panva/node-oidc-provider, pinned in
//! `tests/oidc-provider/package.json` and installed by `scripts/setup`, started on loopback TLS
//! with a throw-away certificate (`tests/oidc-provider/server.mjs` configures it through its
//! documented options only). Without Node.js or the package, starting it fails and says how
//! to install them: a test that needs it never passes without it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

/// Its public native client (`token_endpoint_auth_method: none`).
pub const CLIENT_ID: &str = "tessera";

/// A running oidc-provider.
#[derive(Debug)]
pub struct OidcProvider {
    /// Its issuer, `https://127.0.0.1:{port}`: the authority to configure.
    pub issuer: Url,
    /// The CA that signed its certificate.
    pub ca_file: PathBuf,
    _folder: tempfile::TempDir,
    child: tokio::process::Child,
}

/// The fixture's folder: `tests/oidc-provider` of the workspace.
pub fn fixture_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/oidc-provider")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("tests/oidc-provider"))
}

impl OidcProvider {
    /// Starts it on a free port; fails (with what to do) when Node.js or the package is
    /// missing or it does not come up.
    pub async fn start() -> Result<OidcProvider, String> {
        let fixture = fixture_folder();
        if !fixture
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            return Err(format!(
                "oidc-provider is not installed in {}: run scripts/setup (it runs npm ci there)",
                fixture.display()
            ));
        }
        let folder = tempfile::tempdir().map_err(|e| e.to_string())?;
        let files = tessera_idp::write_certificates(&[], folder.path())?;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut child = tokio::process::Command::new("node")
            .arg(fixture.join("server.mjs"))
            .current_dir(&fixture)
            .env("PORT", port.to_string())
            .env("CERT", &files.certificate)
            .env("KEY", &files.key)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run node (install Node.js; scripts/setup does): {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(issuer) = line.strip_prefix("ready ") {
                    return Some(issuer.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or("oidc-provider did not say it is ready within 30 s")?;
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(OidcProvider {
            issuer: Url::parse(&ready).map_err(|e| e.to_string())?,
            ca_file: files.ca,
            _folder: folder,
            child,
        })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
