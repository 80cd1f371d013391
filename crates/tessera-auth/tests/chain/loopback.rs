//! The system-browser loopback agent driven by the scripted browser.

use super::*;

/// What the scripted browser reports: what its strays found, then the page it was shown.
type BrowserReport<T> = tokio::sync::oneshot::Receiver<(T, (u16, String))>;

/// Gives `agent` the scripted browser: when the agent opens the authorize URL, `strays` runs
/// first (requests of its own to the listener, given the redirect URI), then the user signs in
/// and the browser delivers the response. Resolves with what `strays` returned and what the
/// browser was finally shown (status, page).
fn scripted_browser<T, F, Fut>(
    agent: LoopbackAgent,
    script: Script,
    strays: F,
) -> (LoopbackAgent, BrowserReport<T>)
where
    T: Send + 'static,
    F: Fn(Url) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let redirect = agent.redirect_uri();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let ua = UserAgent::new(script);
    let strays = Arc::new(strays);
    let agent = agent.with_opener(Arc::new(move |url: &Url| {
        let (ua, url, redirect) = (ua.clone(), url.clone(), redirect.clone());
        let (tx, strays) = (tx.clone(), strays.clone());
        tokio::spawn(async move {
            let found = strays(redirect.clone()).await;
            let outcome = ua.sign_in(&url, redirect.as_str()).await.unwrap();
            assert!(
                matches!(outcome, Outcome::FormPost { .. }),
                "the agent asks for form_post: {outcome:?}"
            );
            let shown = ua.deliver(&outcome).await.unwrap();
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send((found, shown));
            }
        });
        Ok(())
    }));
    (agent, rx)
}

/// An opener that plays the system browser on `net`: it signs `username` in wherever the
/// authorize URL leads and delivers the response to the redirect URI it names.
pub(super) fn scripted_opener(net: HttpConfig, username: &str) -> tessera_auth::Opener {
    let ua = UserAgent::with_http(Script::user(username), &net);
    Arc::new(move |url: &Url| {
        let (ua, url) = (ua.clone(), url.clone());
        let redirect = url
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .ok_or("no redirect_uri")?;
        tokio::spawn(async move {
            let outcome = ua.sign_in(&url, &redirect).await.unwrap();
            ua.deliver(&outcome).await.unwrap();
        });
        Ok(())
    })
}

/// A loopback agent whose browser first sends two stray requests (wrong path, wrong state),
/// then signs in. Resolves with (stray statuses, what the browser was finally shown).
async fn loopback_with_script(script: Script) -> (LoopbackAgent, BrowserReport<(u16, u16)>) {
    let agent = LoopbackAgent::bind(true).await.unwrap();
    scripted_browser(agent, script, |redirect: Url| async move {
        let status =
            |url: String| async move { reqwest::get(url).await.unwrap().status().as_u16() };
        let forged = reqwest::Client::new()
            .post(redirect.clone())
            .form(&[("code", "x"), ("state", "forged")])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        (status(format!("{redirect}favicon.ico")).await, forged)
    })
}

#[tokio::test]
async fn the_system_browser_agent_answers_the_browser_after_redemption() {
    let w = world(Flavor::Entra, &[]).await;
    let (agent, shown) = loopback_with_script(Script::user("ada@tessera.test")).await;
    let agent_redirect = agent.redirect_uri();
    let mut events = w.app.subscribe();
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::Interactive);
    let ((wrong_path, wrong_state), (status, page)) = shown.await.unwrap();
    assert_eq!(
        (wrong_path, wrong_state),
        (404, 400),
        "strays are refused without ending the sign-in"
    );
    assert_eq!(status, 200);
    assert!(page.contains("You are signed in"), "{page}");
    let mut statuses = vec![];
    while let Ok(event) = events.try_recv() {
        if let tessera_auth::Event::InteractionStatus {
            status,
            redirect_uri,
        } = event
        {
            statuses.push((status, redirect_uri));
        }
    }
    // Issue 19: the exact redirect URI is said while the browser is out (what a provider
    // without port variance must have registered).
    assert_eq!(
        statuses[0],
        (
            tessera_auth::InteractionStatus::Redirect,
            Some(agent_redirect.to_string())
        )
    );

    let (declining, shown) = loopback_with_script(Script {
        accept_consent: false,
        ..Script::user("alan@tessera.test")
    })
    .await;
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &declining)
        .await;
    assert!(matches!(result, Err(Error::UserCancelled)), "{result:?}");
    let (_, (_, page)) = shown.await.unwrap();
    assert!(
        page.contains("could not complete"),
        "the browser shows the real outcome: {page}"
    );
}

#[tokio::test]
async fn the_system_browser_agent_gives_up_at_its_time_limit() {
    let w = world(Flavor::Entra, &[]).await;
    let agent = LoopbackAgent::bind(true)
        .await
        .unwrap()
        .with_time_limit(Duration::from_millis(500))
        .with_opener(Arc::new(|_: &Url| Ok(())));
    let port = agent.redirect_uri().port().unwrap();
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(
        refused(("127.0.0.1", port)).await,
        "the port closes with the time limit"
    );
    let agent = LoopbackAgent::bind(true)
        .await
        .unwrap()
        .with_opener(Arc::new(|_: &Url| Err("no browser".into())));
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await;
    assert!(
        matches!(result, Err(Error::Network(ref m)) if m.contains("no browser")),
        "{result:?}"
    );
}

/// Sends raw bytes to the listener and returns its whole answer.
async fn raw_answer(port: u16, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status of the listener's answer to raw bytes (0: no answer).
async fn raw_status(port: u16, request: &[u8]) -> u16 {
    raw_answer(port, request)
        .await
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

async fn refused(address: (&str, u16)) -> bool {
    tokio::net::TcpStream::connect(address).await.is_err()
}

/// RFC 8252 §7.3 and §8.3: the listener is on the loopback only; it takes one valid response and
/// refuses everything else (another address, a stalled client, an oversize request) without
/// ending the sign-in; afterwards nothing listens (after its time limit neither: the test
/// above).
#[tokio::test]
async fn the_loopback_listener_takes_one_valid_response_and_nothing_else() {
    let w = world(Flavor::Entra, &[]).await;
    let agent = LoopbackAgent::bind(true)
        .await
        .unwrap()
        .with_connection_time_limit(Duration::from_millis(800));
    let port = agent.redirect_uri().port().unwrap();
    let script = Script::user("ada@tessera.test");
    let (agent, strays) = scripted_browser(agent, script, move |_| async move {
        // Another loopback address: not bound (no 0.0.0.0).
        let other_addresses = (refused(("127.0.0.2", port)).await, true);
        // A client that sends half a request and stalls (slowloris), started first and still
        // stalled while the others are served.
        let stalled = tokio::spawn(raw_status(port, b"GET /?code=x HTTP/1.1\r\nHost: x\r\n"));
        // Nothing it answers may be cached or leak the URL onwards (RFC 9700 §4.2.4).
        let headers = raw_answer(port, b"GET /favicon.ico HTTP/1.1\r\n\r\n").await;
        let huge_head = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
            "a".repeat(20 * 1024)
        );
        let statuses = vec![
            raw_status(port, huge_head.as_bytes()).await,
            raw_status(
                port,
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\ncode=x",
            )
            .await,
            raw_status(port, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n").await,
            raw_status(port, b"GET /other?code=x&state=y HTTP/1.1\r\n\r\n").await,
            raw_status(
                port,
                b"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 19\r\n\r\ncode=x&state=forged",
            )
            .await,
            raw_status(port, b"\xff\xfe\x16\x03\r\n\r\n").await,
            stalled.await.unwrap(),
        ];
        (other_addresses, statuses, headers)
    });
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::Interactive);
    let ((other_addresses, statuses, headers), (shown, _)) = strays.await.unwrap();
    for header in ["Cache-Control: no-store", "Referrer-Policy: no-referrer"] {
        assert!(headers.contains(header), "{header} missing: {headers}");
    }
    assert_eq!(other_addresses, (true, true), "bound to the loopback only");
    assert_eq!(
        statuses,
        [431, 413, 405, 404, 400, 400, 408],
        "oversize head, oversize body, method, path, state, not HTTP, stalled"
    );
    assert_eq!(shown, 200, "the browser's own request was answered");
    assert!(
        refused(("127.0.0.1", port)).await,
        "the listener closed after its one response"
    );
    let again = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await;
    assert!(
        matches!(&again, Err(Error::Network(m)) if m.contains("served its sign-in")),
        "one sign-in per listener: {again:?}"
    );
}

/// Issue 21, item 1: for Entra the redirect URI is `http://localhost:{port}/`, which a browser
/// may resolve to `::1` first. The listener holds the port in both families, so no other local
/// user can bind `[::1]:{port}` and take the answer; a browser that goes to `::1` reaches it.
#[tokio::test]
async fn the_other_address_family_of_the_port_is_ours_too() {
    let w = world(Flavor::Entra, &[]).await;
    let agent = LoopbackAgent::bind(true).await.unwrap();
    let port = agent.redirect_uri().port().unwrap();
    match std::net::TcpListener::bind(("::1", port)) {
        Ok(_) => panic!("another process could bind [::1]:{port} and receive the sign-in"),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
        Err(e) => {
            eprintln!(
                "WARNING: this machine has no IPv6 loopback ({e}); the [::1] half of this test cannot run here"
            );
            return;
        }
    }
    // The browser answers over ::1.
    let ua = UserAgent::new(Script::user("ada@tessera.test"));
    let agent = agent.with_opener(Arc::new(move |url: &Url| {
        let (ua, url) = (ua.clone(), url.clone());
        tokio::spawn(async move {
            let redirect = format!("http://localhost:{port}/");
            let outcome = ua.sign_in(&url, &redirect).await.unwrap();
            let Outcome::FormPost { mut action, fields } = outcome else {
                panic!("form_post was asked for: {outcome:?}");
            };
            action.set_host(Some("[::1]")).unwrap();
            ua.deliver(&Outcome::FormPost { action, fields })
                .await
                .unwrap();
        });
        Ok(())
    }));
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::Interactive);
    assert!(
        refused(("::1", port)).await,
        "both families close after the one response"
    );
}

/// Issue 21, item 14: the agent asks for `form_post`, so a GET carrying our own state (a page
/// in the browser guessing the port, say) is not the provider's answer; nor is a response with
/// two `state` parameters, whichever of them is ours.
#[tokio::test]
async fn the_listener_takes_only_the_method_it_asked_for_and_one_state() {
    let w = world(Flavor::Entra, &[]).await;
    let agent = LoopbackAgent::bind(true).await.unwrap();
    let redirect = agent.redirect_uri();
    let ua = UserAgent::new(Script::user("ada@tessera.test"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let agent = agent.with_opener(Arc::new(move |url: &Url| {
        let (ua, url, redirect, tx) = (ua.clone(), url.clone(), redirect.clone(), tx.clone());
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let get = http
                .get(format!("{redirect}?code=x&state={state}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let post = |form: Vec<(&'static str, String)>| {
                let (http, redirect) = (http.clone(), redirect.clone());
                async move {
                    http.post(redirect)
                        .form(&form)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                }
            };
            let ours_first = post(vec![
                ("code", "x".into()),
                ("state", state.clone()),
                ("state", "other".into()),
            ])
            .await;
            let ours_second = post(vec![
                ("code", "x".into()),
                ("state", "other".into()),
                ("state", state.clone()),
            ])
            .await;
            let outcome = ua.sign_in(&url, redirect.as_str()).await.unwrap();
            ua.deliver(&outcome).await.unwrap();
            let _ = tx
                .lock()
                .unwrap()
                .take()
                .map(|tx| tx.send((get, ours_first, ours_second)));
        });
        Ok(())
    }));
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await
        .unwrap();
    assert_eq!(
        result.source,
        TokenSource::Interactive,
        "the real answer got through"
    );
    assert_eq!(rx.await.unwrap(), (405, 400, 400));
}
