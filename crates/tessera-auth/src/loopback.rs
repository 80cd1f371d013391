//! The system-browser agent (RFC 8252 §7.3): the authorize URL opens in the user's browser, and
//! a one-shot HTTP listener on `127.0.0.1` receives the response.
//!
//! - Bound to the loopback only, `127.0.0.1` and `[::1]` on the same random port: the redirect
//!   URI is `http://localhost:{port}` for Entra (what its portal registers), which a browser may
//!   resolve to either, and a family left free could be bound by another local user to take the
//!   answer. `http://127.0.0.1:{port}` for other providers (RFC 8252 §8.3 prefers the IP
//!   literal).
//! - It asks for `response_mode=form_post` (Entra's advice for localhost: the code stays out of
//!   browser history) and then takes only a POST; a sign-out's return comes as a GET.
//! - Requests for another path or method, without exactly one `state` that is ours, too
//!   large, or too slow are answered with an error and do not end the sign-in; each connection has its own short time limit (no
//!   cap on their number: a cap would let a local program crowd the browser out).
//! - One sign-in per agent: the listener closes when the response arrived or the time limit
//!   passed, so nothing answers on the port afterwards.
//! - The browser's request is held open until the code has been redeemed, then answered with
//!   the real outcome (MSAL Node shows success even when redemption fails; MSAL JS #5749).
//! - The URL opens with `$BROWSER` when set, else the platform's opener; when neither works it
//!   is printed so the user can open it by hand.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::agent::{AgentError, AgentRequest, BoxFuture, InteractiveAgent};
use crate::event::InteractionStatus;
use crate::secret::constant_time_eq;

/// Opens a URL in a browser. Errors mean "could not open it".
pub type Opener = Arc<dyn Fn(&Url) -> Result<(), String> + Send + Sync>;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// The loopback port in both address families: `localhost` may resolve to either, and a port
/// left free in one could be bound by another local user to receive the answer.
struct Listeners {
    v4: TcpListener,
    /// `None` only where the machine has no IPv6 loopback (then nobody can bind it either).
    v6: Option<TcpListener>,
}

impl Listeners {
    /// Binds `127.0.0.1:port` and `[::1]:port` (0: a free port both families have).
    async fn bind(port: u16) -> std::io::Result<Listeners> {
        // A random port free in IPv4 may be taken in IPv6: try a few.
        let attempts = if port == 0 { 8 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let v4 = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
            let chosen = v4.local_addr()?.port();
            match TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, chosen)).await {
                Ok(v6) => return Ok(Listeners { v4, v6: Some(v6) }),
                Err(e) if no_ipv6_loopback(&e) => {
                    log::debug!("no IPv6 loopback on this machine ({e}): 127.0.0.1 only");
                    return Ok(Listeners { v4, v6: None });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no loopback port free in both families")))
    }

    fn port(&self) -> std::io::Result<u16> {
        Ok(self.v4.local_addr()?.port())
    }

    /// The next connection on either family.
    async fn accept(&self) -> std::io::Result<TcpStream> {
        match &self.v6 {
            Some(v6) => tokio::select! {
                accepted = self.v4.accept() => accepted.map(|(s, _)| s),
                accepted = v6.accept() => accepted.map(|(s, _)| s),
            },
            None => self.v4.accept().await.map(|(s, _)| s),
        }
    }
}

/// The errors that mean "this machine has no `::1`" (`EADDRNOTAVAIL`, `EAFNOSUPPORT`), not
/// "someone holds that port".
fn no_ipv6_loopback(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::EAFNOSUPPORT) {
        return true;
    }
    error.kind() == std::io::ErrorKind::AddrNotAvailable
}

/// The system-browser agent.
pub struct LoopbackAgent {
    /// Taken by the one sign-in, and dropped (closing the port) when it ends.
    listener: std::sync::Mutex<Option<Listeners>>,
    redirect_uri: Url,
    opener: Opener,
    time_limit: Duration,
    connection_time_limit: Duration,
    /// The browser's request, answered once the engine knows the outcome.
    pending: tokio::sync::Mutex<Option<TcpStream>>,
    /// Waiting for a sign-out's return rather than a sign-in's: the last page says so.
    signing_out: bool,
}

impl std::fmt::Debug for LoopbackAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackAgent")
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("time_limit", &self.time_limit)
            .field("connection_time_limit", &self.connection_time_limit)
            .finish()
    }
}

impl LoopbackAgent {
    /// Binds `127.0.0.1` on a random port. `entra` picks the `localhost` redirect URI.
    pub async fn bind(entra: bool) -> std::io::Result<LoopbackAgent> {
        Self::bind_port(entra, 0).await
    }

    /// Binds the loopback on `port` (0: a random one), for a provider or firewall that wants a
    /// known port: `127.0.0.1` and `[::1]` both, so no other local user can hold the family a
    /// browser tries first for `localhost`.
    pub async fn bind_port(entra: bool, port: u16) -> std::io::Result<LoopbackAgent> {
        let listener = Listeners::bind(port).await?;
        let port = listener.port()?;
        let host = if entra { "localhost" } else { "127.0.0.1" };
        let redirect_uri = Url::parse(&format!("http://{host}:{port}/"))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(LoopbackAgent {
            listener: std::sync::Mutex::new(Some(listener)),
            redirect_uri,
            opener: Arc::new(open_in_browser),
            time_limit: Duration::from_secs(300),
            connection_time_limit: Duration::from_secs(10),
            pending: tokio::sync::Mutex::new(None),
            signing_out: false,
        })
    }

    /// Waits for the provider's return from a sign-out (RP-Initiated Logout's
    /// `post_logout_redirect_uri`) instead of a sign-in's: the browser's last page says
    /// "signed out".
    pub fn for_sign_out(mut self) -> LoopbackAgent {
        self.signing_out = true;
        self
    }

    /// Uses another way to open the URL (the app's opener plugin, a test driver).
    pub fn with_opener(mut self, opener: Opener) -> LoopbackAgent {
        self.opener = opener;
        self
    }

    /// How long to wait for the browser (default 5 minutes).
    pub fn with_time_limit(mut self, time_limit: Duration) -> LoopbackAgent {
        self.time_limit = time_limit;
        self
    }

    /// How long one connection may take to send its request (default 10 seconds): a slow or
    /// stalled client is answered 408 and closed, and the sign-in goes on.
    pub fn with_connection_time_limit(mut self, limit: Duration) -> LoopbackAgent {
        self.connection_time_limit = limit;
        self
    }

    async fn receive(&self, request: AgentRequest) -> Result<Url, AgentError> {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                AgentError::Failed("this loopback listener served its sign-in already".into())
            })?;
        let expected_state = request
            .authorize_url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        // The answer comes the way the request asked for it: a form POST for
        // `response_mode=form_post`, a GET otherwise (a sign-out's return is a redirect).
        let method = match request
            .authorize_url
            .query_pairs()
            .find(|(k, _)| k == "response_mode")
        {
            Some((_, mode)) if mode == "form_post" => "POST",
            _ => "GET",
        };
        let (found, mut responses) =
            tokio::sync::mpsc::channel::<(TcpStream, Vec<(String, String)>)>(1);
        let path = self.redirect_uri.path().to_owned();
        let connection_time_limit = self.connection_time_limit;
        // Owns the listener: aborting it closes the port.
        let acceptor = tokio::spawn(async move {
            while let Ok(stream) = listener.accept().await {
                let found = found.clone();
                let (path, state) = (path.clone(), expected_state.clone());
                tokio::spawn(async move {
                    let expected = Expected {
                        method,
                        path: &path,
                        state: &state,
                    };
                    if let Some(valid) = screen(stream, expected, connection_time_limit).await {
                        let _ = found.send(valid).await;
                    }
                });
            }
        });
        (self.opener)(&request.authorize_url).map_err(AgentError::Failed)?;
        let received = tokio::time::timeout(self.time_limit, responses.recv()).await;
        acceptor.abort();
        // The port must be closed when this returns, not at the runtime's leisure.
        let _ = acceptor.await;
        let (stream, params) = match received {
            Err(_) => return Err(AgentError::Timeout),
            Ok(None) => return Err(AgentError::Failed("the loopback listener stopped".into())),
            Ok(Some(valid)) => valid,
        };
        *self.pending.lock().await = Some(stream);
        let mut redirect = self.redirect_uri.clone();
        redirect
            .query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(redirect)
    }
}

impl InteractiveAgent for LoopbackAgent {
    fn redirect_uri(&self) -> Url {
        self.redirect_uri.clone()
    }

    fn authorize(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        Box::pin(self.receive(request))
    }

    fn response_mode(&self) -> &'static str {
        "form_post"
    }

    fn interaction_status(&self) -> InteractionStatus {
        InteractionStatus::Redirect
    }

    fn finished(&self, outcome: Result<(), String>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut stream) = self.pending.lock().await.take() {
                let page = match (outcome, self.signing_out) {
                    (Ok(()), false) => page("Signed in", "You are signed in to Tessera. You can close this tab and return to the app."),
                    (Err(message), false) => page("Sign-in failed", &format!("Tessera could not complete the sign-in: {message}")),
                    (Ok(()), true) => page("Signed out", "You are signed out of the identity provider in this browser. You can close this tab and return to the app."),
                    (Err(message), true) => page("Sign-out not confirmed", &format!("Tessera could not confirm the sign-out: {message}")),
                };
                let _ = respond(&mut stream, 200, "OK", &page).await;
            }
        })
    }
}

/// What the provider's answer must look like.
struct Expected<'a> {
    method: &'static str,
    path: &'a str,
    state: &'a str,
}

/// Reads one request; answers and drops anything that is not the expected response.
async fn screen(
    mut stream: TcpStream,
    expected: Expected<'_>,
    time_limit: Duration,
) -> Option<(TcpStream, Vec<(String, String)>)> {
    let parsed = tokio::time::timeout(time_limit, read_request(&mut stream)).await;
    let params = match parsed {
        Err(_) => {
            let too_slow = (408, "Request Timeout", "The request took too long.");
            refuse(&mut stream, too_slow, "Too slow").await;
            return None;
        }
        Ok(Err(refusal)) => {
            refuse(&mut stream, refusal, "Bad request").await;
            return None;
        }
        Ok(Ok((_, target_path, _))) if target_path != expected.path => {
            refuse(
                &mut stream,
                (404, "Not Found", "Nothing here."),
                "Not found",
            )
            .await;
            return None;
        }
        Ok(Ok((method, _, _))) if method != expected.method => {
            // A page that GETs the listener while the provider was asked to POST (or the
            // reverse) is not the provider's answer.
            let other = (
                405,
                "Method Not Allowed",
                "Not how this answer is delivered.",
            );
            refuse(&mut stream, other, "Not this sign-in").await;
            return None;
        }
        Ok(Ok((_, _, params))) => params,
    };
    // Exactly one `state`, and ours: with several, the engine's parser would read the first
    // while a match on any other let the response in.
    let mut states = params.iter().filter(|(k, _)| k == "state");
    let state_ok = match (states.next(), states.next()) {
        (Some((_, v)), None) => constant_time_eq(v.as_bytes(), expected.state.as_bytes()),
        _ => false,
    };
    if !state_ok {
        let foreign = (
            400,
            "Bad Request",
            "This response does not belong to the sign-in in progress.",
        );
        refuse(&mut stream, foreign, "Not this sign-in").await;
        return None;
    }
    Some((stream, params))
}

type Refusal = (u16, &'static str, &'static str);

/// Answers a request the listener refuses, and says so in the log.
async fn refuse(stream: &mut TcpStream, (code, reason, message): Refusal, title: &str) {
    log::debug!("loopback listener: refused a request ({code} {reason}: {message})");
    let _ = respond(stream, code, reason, &page(title, message)).await;
}

/// The method, path and parameters of a request.
type Request = (&'static str, String, Vec<(String, String)>);

/// Parses `GET /path?query` or `POST /path` with a form body, within size limits.
async fn read_request(stream: &mut TcpStream) -> Result<Request, Refusal> {
    let mut buffer = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_HEAD {
            return Err((
                431,
                "Request Header Fields Too Large",
                "The request is too large.",
            ));
        }
        read_more(stream, &mut buffer).await?;
    };
    let head =
        std::str::from_utf8(&buffer[..head_end]).map_err(|_| (400, "Bad Request", "Not HTTP."))?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (
        request_line.next().unwrap_or_default(),
        request_line.next().unwrap_or_default(),
    );
    let url = Url::parse("http://loopback")
        .and_then(|base| base.join(target))
        .map_err(|_| (400, "Bad Request", "Bad request target."))?;
    let header = |name: &str| {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    match method {
        "GET" => Ok((
            "GET",
            url.path().to_owned(),
            url.query_pairs().into_owned().collect(),
        )),
        "POST" => {
            let form = header("content-type")
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if !form {
                return Err((415, "Unsupported Media Type", "Expected a form."));
            }
            let length: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .ok_or((411, "Length Required", "Content-Length is required."))?;
            if length > MAX_BODY {
                return Err((413, "Payload Too Large", "The request is too large."));
            }
            let mut body = buffer[head_end..].to_vec();
            while body.len() < length {
                read_more(stream, &mut body).await?;
            }
            body.truncate(length);
            Ok((
                "POST",
                url.path().to_owned(),
                url::form_urlencoded::parse(&body).into_owned().collect(),
            ))
        }
        _ => Err((405, "Method Not Allowed", "Only GET and POST.")),
    }
}

/// Appends what the connection has next; the peer closing early is a bad request.
async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), Refusal> {
    let mut chunk = [0u8; 4096];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|_| (400, "Bad Request", "Unreadable request."))?;
    if n == 0 {
        return Err((400, "Bad Request", "Incomplete request."));
    }
    buffer.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    reason: &str,
    html: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{html}",
        html.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn page(title: &str, message: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto\"><h1>{}</h1><p id=\"message\">{}</p></body></html>",
        escape(title),
        escape(title),
        escape(message)
    )
}

/// Opens `url` with the first command of [`browser_commands`] that starts; prints the URL when
/// none does.
fn open_in_browser(url: &Url) -> Result<(), String> {
    let browser = std::env::var("BROWSER").ok();
    for words in browser_commands(browser.as_deref(), url) {
        let Some((program, args)) = words.split_first() else {
            continue;
        };
        let started = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .spawn();
        if started.is_ok() {
            return Ok(());
        }
    }
    eprintln!("Open this address in your browser to sign in:\n{url}");
    Ok(())
}

/// The commands to try: each entry of `$BROWSER` (a `:`-separated list; `%s` stands for the
/// URL, else the URL is appended), then the platform's opener.
pub(crate) fn browser_commands(browser: Option<&str>, url: &Url) -> Vec<Vec<String>> {
    let mut commands = vec![];
    for entry in browser
        .unwrap_or_default()
        .split(':')
        .filter(|b| !b.trim().is_empty())
    {
        let mut words: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
        if words.iter().any(|w| w.contains("%s")) {
            words = words
                .into_iter()
                .map(|w| w.replace("%s", url.as_str()))
                .collect();
        } else {
            words.push(url.to_string());
        }
        commands.push(words);
    }
    let platform = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    commands.push(vec![platform.to_owned(), url.to_string()]);
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_lists_and_placeholders_are_honoured() {
        let url = Url::parse("https://idp.example/authorize?x=1").unwrap();
        let commands = browser_commands(Some("firefox --new-tab:lynx %s"), &url);
        assert_eq!(commands[0], vec!["firefox", "--new-tab", url.as_str()]);
        assert_eq!(commands[1], vec!["lynx", url.as_str()]);
        assert_eq!(commands.len(), 3, "then the platform opener");
        assert_eq!(browser_commands(None, &url).len(), 1);
    }

    #[tokio::test]
    async fn redirect_uris_follow_the_provider_kind() {
        let entra = LoopbackAgent::bind(true).await.unwrap();
        assert_eq!(entra.redirect_uri().host_str(), Some("localhost"));
        let other = LoopbackAgent::bind(false).await.unwrap();
        assert_eq!(other.redirect_uri().host_str(), Some("127.0.0.1"));
        assert_ne!(entra.redirect_uri().port(), other.redirect_uri().port());
    }
}
