//! The one network stack: every request Tessera makes (the engine's to the provider, the
//! profile clients', the host's) goes through a client built here, so they trust the same
//! certificates and follow the same proxy, time-limit and redirect rules.
//!
//! - **Trust**: the operating system's store through `rustls-platform-verifier`, so enterprise
//!   CAs and TLS-inspecting proxies work without configuration, plus an extra CA file (the
//!   `extraCaFile` setting) added to it. On Linux the system store is what `SSL_CERT_FILE` /
//!   `SSL_CERT_DIR` name when set (OpenSSL's convention, which `rustls-native-certs` follows):
//!   they replace the distribution's bundle rather than add to it. An empty store is an error
//!   that says so.
//! - **Crypto**: `ring`, the one provider in the tree.
//! - **Proxies**: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case), as
//!   curl reads them, except that loopback destinations never go through a proxy: the
//!   embedded provider's codes and tokens must not cross the network in clear text.
//! - **Redirects**: never followed (the `oauth2` crate's SSRF advice; a provider answers
//!   directly).
//! - **Errors** keep their cause: `certificate not trusted: UnknownIssuer`, not "error sending
//!   request".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// How the network stack is set up.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time limit of each request.
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted besides the system's (a private CA).
    pub extra_ca_file: Option<PathBuf>,
    /// Host names answered from this table instead of DNS (the port, when not 0, replaces the
    /// URL's default): for tests that play Microsoft's hosts on loopback, and for networks that
    /// pin a provider's address. Certificates are checked against the name as usual.
    pub resolve: Vec<(String, SocketAddr)>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            extra_ca_file: None,
            resolve: vec![],
        }
    }
}

/// Builds the client. Loading the system's certificates takes a few milliseconds, so callers
/// build it once, when the first request needs it.
pub fn client(config: &HttpConfig) -> Result<reqwest::Client> {
    client_builder(config)?
        .build()
        .map_err(|e| Error::Configuration(format!("HTTP client: {}", describe(&e))))
}

/// The builder [`client`] finishes, for a caller that needs more of its own (a browser
/// stand-in's cookie jar) on the same trust, proxy, time-limit and redirect rules.
pub fn client_builder(config: &HttpConfig) -> Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls(config)?)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        // Only ours: reqwest's own reading of the environment would send loopback traffic
        // to a proxy too.
        .no_proxy();
    for proxy in proxies_from_env(|name| std::env::var(name).ok())? {
        builder = builder.proxy(proxy);
    }
    for (host, address) in &config.resolve {
        builder = builder.resolve(host, *address);
    }
    Ok(builder)
}

fn tls(config: &HttpConfig) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match &config.extra_ca_file {
        Some(path) => extra_roots(path)?,
        None => vec![],
    };
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone()) {
            Ok(verifier) => Arc::new(verifier),
            // No trust store at all: plain-http loopback providers (the embedded one) still
            // work, and every https request fails saying why.
            Err(error) => Arc::new(NoTrustStore {
                reason: format!(
                    "no trusted certificate authority: {error} (install the ca-certificates package, or name a CA file with the extraCaFile setting; SSL_CERT_FILE, when set, is the whole store: {})",
                    std::env::var("SSL_CERT_FILE").unwrap_or_else(|_| "it is unset".into())
                ),
                schemes: provider
                    .signature_verification_algorithms
                    .supported_schemes(),
            }),
        };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Configuration(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The verifier when the system has no certificate authority to trust: it trusts nothing, and
/// says why.
#[derive(Debug)]
struct NoTrustStore {
    reason: String,
    schemes: Vec<rustls::SignatureScheme>,
}

impl rustls::client::danger::ServerCertVerifier for NoTrustStore {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(self.reason.clone()))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(self.reason.clone()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(self.reason.clone()))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.schemes.clone()
    }
}

/// The certificates of a PEM file; a file without any is an error, not an empty addition.
fn extra_roots(path: &std::path::Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let certificates: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::Configuration(format!("extra CA file {shown}: {e}")))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Configuration(format!("extra CA file {shown}: {e}")))?;
    if certificates.is_empty() {
        return Err(Error::Configuration(format!(
            "extra CA file {shown} holds no PEM certificate"
        )));
    }
    Ok(certificates)
}

/// The proxies the environment names, each skipping loopback hosts and what `NO_PROXY` lists.
fn proxies_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Vec<reqwest::Proxy>> {
    let get = |name: &str| {
        var(&name.to_ascii_lowercase())
            .or_else(|| var(&name.to_ascii_uppercase()))
            .filter(|v| !v.trim().is_empty())
    };
    // What NO_PROXY lists, plus every loopback destination whatever it lists.
    let mut exceptions = get("no_proxy").unwrap_or_default();
    exceptions.push_str(",localhost,127.0.0.0/8,::1");
    let mut proxies = vec![];
    type Make = fn(String) -> reqwest::Result<reqwest::Proxy>;
    for (name, make) in [
        ("https_proxy", reqwest::Proxy::https as Make),
        ("http_proxy", reqwest::Proxy::http as Make),
        ("all_proxy", reqwest::Proxy::all as Make),
    ] {
        if let Some(url) = get(name) {
            let proxy = make(url.clone()).map_err(|e| {
                Error::Configuration(format!(
                    "{}={url:?} is not a proxy URL: {e}",
                    name.to_ascii_uppercase()
                ))
            })?;
            proxies.push(proxy.no_proxy(reqwest::NoProxy::from_string(&exceptions)));
        }
    }
    Ok(proxies)
}

/// A transport error in a few words, with its cause and the host but never the URL's query:
/// `could not connect (idp.example.com): certificate not trusted: UnknownIssuer`.
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the response"
    } else if error.is_redirect() {
        "redirected"
    } else {
        "request failed"
    };
    let mut text = match error.url().and_then(|u| u.host_str()) {
        Some(host) => format!("{kind} ({host})"),
        None => kind.to_owned(),
    };
    if let Some(cause) = root_cause(error) {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}

/// The most telling cause under a reqwest error: the TLS verdict when there is one, else the
/// innermost error's words.
fn root_cause(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(tls) = tls_error(cause) {
            return Some(match tls {
                rustls::Error::InvalidCertificate(why) => {
                    format!("certificate not trusted: {why:?}")
                }
                rustls::Error::General(reason) => reason.clone(),
                other => format!("TLS: {other}"),
            });
        }
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    innermost.filter(|text| !text.is_empty())
}

/// The TLS verdict in `error`, looking inside io::Errors too: the TLS stack wraps it in one
/// (or two), whose `source()` skips what they wrap.
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    tls_error(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_come_from_the_environment_in_either_case_and_bad_ones_are_refused() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(proxies_from_env(vars(&[])).unwrap().is_empty());
        assert_eq!(
            proxies_from_env(vars(&[
                ("HTTPS_PROXY", "http://proxy:3128"),
                ("all_proxy", "socks5://s:1")
            ]))
            .unwrap()
            .len(),
            2
        );
        let error = proxies_from_env(vars(&[("HTTP_PROXY", "::not a url::")])).unwrap_err();
        assert!(error.to_string().contains("HTTP_PROXY"), "{error}");
    }

    #[test]
    fn an_extra_ca_file_without_certificates_is_an_error_that_names_it() {
        let dir = std::env::temp_dir().join(format!("tessera-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let config = HttpConfig {
            extra_ca_file: Some(empty.clone()),
            ..HttpConfig::default()
        };
        let error = client(&config).unwrap_err();
        assert!(error.to_string().contains("empty.pem"), "{error}");
        let missing = HttpConfig {
            extra_ca_file: Some(dir.join("missing.pem")),
            ..HttpConfig::default()
        };
        assert!(client(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.pem"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
