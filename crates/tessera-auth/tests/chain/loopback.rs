//! The system-browser loopback agent driven by the scripted browser.

use super::*;

/// A loopback agent whose "browser" is the scripted user agent: it first sends two stray
/// requests (wrong path, wrong state), then signs in and delivers the response. Resolves with
/// (stray statuses, what the browser was finally shown).
async fn loopback_with_script(
    script: Script,
) -> (
    LoopbackAgent,
    tokio::sync::oneshot::Receiver<((u16, u16), (u16, String))>,
) {
    let agent = LoopbackAgent::bind(true).await.unwrap();
    let redirect = agent.redirect_uri();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let ua = UserAgent::new(script);
    let agent = agent.with_opener(Arc::new(move |url: &Url| {
        let (ua, url, redirect, tx) = (ua.clone(), url.clone(), redirect.clone(), tx.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let wrong_path = http
                .get(redirect.join("favicon.ico").unwrap())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let wrong_state = http
                .get(format!("{redirect}?code=x&state=forged"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let outcome = ua.sign_in(&url, redirect.as_str()).await.unwrap();
            assert!(
                matches!(outcome, Outcome::FormPost { .. }),
                "the agent asks for form_post: {outcome:?}"
            );
            let shown = ua.deliver(&outcome).await.unwrap();
            let _ = tx
                .lock()
                .unwrap()
                .take()
                .unwrap()
                .send(((wrong_path, wrong_state), shown));
        });
        Ok(())
    }));
    (agent, rx)
}

#[tokio::test]
async fn the_system_browser_agent_answers_the_browser_after_redemption() {
    let w = world(Flavor::Entra, &[]).await;
    let (agent, shown) = loopback_with_script(Script::user("ada@tessera.test")).await;
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
        if let tessera_auth::Event::InteractionStatus { status } = event {
            statuses.push(status);
        }
    }
    assert_eq!(statuses[0], tessera_auth::InteractionStatus::Redirect);

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
    let result = w
        .app
        .acquire_token_interactive(InteractiveRequest::default(), &agent)
        .await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
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
