//! `--tls`: the provider over HTTPS, as every real one is (MSAL refuses http authorities).
//! A throw-away certificate authority is made at start, written as PEM where a client can
//! trust it (`SSL_CERT_FILE`, an `extraCaFile` setting, a test's HTTP client), and signs a
//! certificate for `127.0.0.1`, `localhost` and whatever public names the provider plays
//! (`login.microsoftonline.com` when a test points its resolver here).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How the provider serves TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Host names the certificate covers besides `127.0.0.1` and `localhost`.
    pub names: Vec<String>,
    /// Where to write the CA certificate (PEM); beside the system's temporary files when
    /// `None`.
    pub ca_file: Option<PathBuf>,
}

/// The certificate authority and the server's TLS configuration.
pub(crate) struct Tls {
    pub acceptor: TlsAcceptor,
    pub ca_file: PathBuf,
}

/// PEM of one DER item.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A throw-away CA and a server certificate it signed, as DER.
struct Made {
    ca: rustls::pki_types::CertificateDer<'static>,
    leaf: rustls::pki_types::CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

/// The PEM files of a throw-away CA and of a server certificate for `127.0.0.1`,
/// `localhost` and `names`, for another server a test runs (a third-party provider).
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// The CA's certificate, to trust.
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub certificate: PathBuf,
    /// The server's private key (PKCS#8).
    pub key: PathBuf,
}

/// Writes [`CertificateFiles`] into `folder`.
pub fn write_certificates(names: &[String], folder: &Path) -> Result<CertificateFiles, String> {
    let made = make(names)?;
    std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let files = CertificateFiles {
        ca: folder.join("ca.pem"),
        certificate: folder.join("server.pem"),
        key: folder.join("server.key"),
    };
    write_ca(&files.ca, &pem("CERTIFICATE", &made.ca))?;
    let chain = format!(
        "{}{}",
        pem("CERTIFICATE", &made.leaf),
        pem("CERTIFICATE", &made.ca)
    );
    std::fs::write(&files.certificate, chain).map_err(|e| e.to_string())?;
    std::fs::write(&files.key, pem("PRIVATE KEY", &made.leaf_key)).map_err(|e| e.to_string())?;
    Ok(files)
}

fn make(names: &[String]) -> Result<Made, String> {
    let failed = |e: rcgen::Error| format!("TLS certificate: {e}");
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tessera-idp throw-away test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
    let mut all = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    all.extend(names.iter().cloned());
    let mut leaf = CertificateParams::new(all).map_err(failed)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "tessera-idp");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(failed)?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
        .map_err(failed)?;
    Ok(Made {
        ca: ca_cert.der().clone(),
        leaf: leaf_cert.der().clone(),
        leaf_key: leaf_key.serialize_der(),
    })
}

/// Makes the CA and the server certificate, and writes the CA's certificate.
pub(crate) fn generate(options: &TlsOptions, port: u16) -> Result<Tls, String> {
    let made = make(&options.names)?;
    let ca_file = match &options.ca_file {
        Some(path) => path.clone(),
        None => {
            std::env::temp_dir().join(format!("tessera-idp-{}-{port}-ca.pem", std::process::id()))
        }
    };
    write_ca(&ca_file, &pem("CERTIFICATE", &made.ca))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(
            vec![made.leaf, made.ca],
            rustls::pki_types::PrivateKeyDer::Pkcs8(made.leaf_key.into()),
        )
        .map_err(|e| format!("TLS: {e}"))?;
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file,
    })
}

fn write_ca(path: &Path, pem: &str) -> Result<(), String> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    }
    std::fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))
}

/// The caller's address, for the control API's loopback check, over TCP or TLS.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// A listener whose connections arrive after their TLS handshake. Handshakes run in tasks of
/// their own with a time limit, so a client that connects and says nothing delays nobody.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        acceptor: TlsAcceptor,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (sender, handshaken) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, handed) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = handed.send((tls, peer)).await;
                    }
                });
                if sender.is_closed() {
                    break;
                }
            }
        });
        Ok(TlsListener { handshaken, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
