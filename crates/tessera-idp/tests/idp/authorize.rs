//! The authorize endpoint: validation, pages, prompts, sessions, response modes, logout.

use reqwest::StatusCode;
use tessera_test_support::user_agent::{Outcome, Script, UserAgent, UserAgentError};

use crate::*;

async fn get(f: &Fixture, url: Url) -> reqwest::Response {
    f.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn untrustworthy_requests_are_shown_to_the_user_not_redirected() {
    let f = fixture().await;
    for (extra, code) in [
        (
            vec![("client_id", "00000000-0000-0000-0000-000000000000")],
            "AADSTS700016",
        ),
        (vec![("client_id", "")], "AADSTS900144"),
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "AADSTS50011",
        ),
        (vec![("redirect_uri", "")], "AADSTS900144"),
    ] {
        let r = get(&f, f.authorize_url(&extra)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(code), "{extra:?} must show {code}: {html}");
    }
}

#[tokio::test]
async fn bad_parameters_go_back_to_the_redirect_uri_with_state() {
    let f = fixture().await;
    for (extra, error, code) in [
        (
            vec![("code_challenge_method", "plain")],
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            vec![("code_challenge_method", "")],
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            vec![("code_challenge", "short")],
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
            "AADSTS700054",
        ),
        (vec![("scope", "User.Fly")], "invalid_scope", "AADSTS650053"),
        (vec![("scope", "")], "invalid_request", "AADSTS900144"),
        (
            vec![("prompt", "sometimes")],
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            vec![("claims", "{not json")],
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            vec![("response_mode", "smoke_signal")],
            "invalid_request",
            "AADSTS9002313",
        ),
    ] {
        let r = get(&f, f.authorize_url(&extra)).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{extra:?}");
        let location = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT), "{location}");
        let outcome = Outcome::Redirect(location);
        assert_eq!(outcome.param("error").as_deref(), Some(error), "{extra:?}");
        assert!(
            outcome
                .param("error_description")
                .unwrap()
                .starts_with(code),
            "{extra:?}"
        );
        assert_eq!(outcome.param("state").as_deref(), Some("state-123"));
    }
}

#[tokio::test]
async fn loopback_redirects_work_on_any_port_and_cookies_follow_stay_signed_in() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let uri = "http://localhost:61234/";
    let first = f.authorize_url(&[("redirect_uri", uri)]);
    let page = get(&f, first.clone()).await.text().await.unwrap();
    assert!(
        page.contains("content=\"login\""),
        "a new browser gets the sign-in page"
    );

    let outcome = agent.sign_in(&first, uri).await.unwrap();
    assert!(outcome.param("code").is_some());
    assert_eq!(outcome.param("state").as_deref(), Some("state-123"));

    // The session is now known: prompt=none with the hint needs no page at all.
    let silent = agent
        .sign_in(
            &f.authorize_url(&[
                ("redirect_uri", uri),
                ("prompt", "none"),
                ("login_hint", "ada@tessera.test"),
            ]),
            uri,
        )
        .await
        .unwrap();
    assert!(silent.param("code").is_some(), "{silent:?}");
    let stats = f.stats().await;
    assert_eq!(
        stats["authorize"], 3,
        "the page check, the sign-in, the silent request"
    );
    assert_eq!(stats["authorize:prompt=none"], 1);
    assert_eq!(stats["login:credentials"], 1, "credentials were typed once");
}

#[tokio::test]
async fn stay_signed_in_sets_a_persistent_cookie_and_no_sets_a_session_cookie() {
    let f = fixture().await;
    // Two users, so that each walks the consent page.
    for (user, keep, persistent) in [
        ("alan@tessera.test", true, true),
        ("ada@tessera.test", false, false),
    ] {
        // Walk the pages by hand to see the Set-Cookie header of the final redirect.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = http
            .get(f.authorize_url(&[("prompt", "login")]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let tx = page
            .split("name=\"tx\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let base = f.endpoint("login", "login");
        let post = |step: &str, fields: Vec<(&'static str, String)>| {
            let url = format!("{base}/{step}");
            let http = http.clone();
            async move { http.post(url).form(&fields).send().await.unwrap() }
        };
        post(
            "credentials",
            vec![
                ("tx", tx.clone()),
                ("username", user.into()),
                ("password", "tessera".into()),
            ],
        )
        .await;
        post(
            "kmsi",
            vec![
                ("tx", tx.clone()),
                ("keep", if keep { "yes" } else { "no" }.into()),
            ],
        )
        .await;
        let done = post(
            "consent",
            vec![("tx", tx.clone()), ("decision", "accept".into())],
        )
        .await;
        assert_eq!(done.status(), StatusCode::FOUND);
        let cookies: Vec<String> = done
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let live = cookies
            .iter()
            .find(|c| !c.contains("=;"))
            .expect("one live cookie");
        assert_eq!(live.contains("Max-Age=7776000"), persistent, "{cookies:?}");
        assert!(live.contains("HttpOnly"));
    }
}

#[tokio::test]
async fn prompt_none_errors_are_classified_like_entras() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let silent = [("prompt", "none"), ("login_hint", "ada@tessera.test")];

    let none = agent
        .sign_in(&f.authorize_url(&silent), REDIRECT)
        .await
        .unwrap();
    assert_eq!(none.param("error").as_deref(), Some("login_required"));
    assert!(none
        .param("error_description")
        .unwrap()
        .starts_with("AADSTS50058"));
    assert_eq!(none.param("state").as_deref(), Some("state-123"));

    f.sign_in(&agent, &[]).await;
    // Consent covers User.Read; Mail.Read was never granted.
    let more = agent
        .sign_in(
            &f.authorize_url(&[("prompt", "none"), ("scope", "Mail.Read openid")]),
            REDIRECT,
        )
        .await
        .unwrap();
    assert_eq!(more.param("error").as_deref(), Some("consent_required"));
    assert!(more
        .param("error_description")
        .unwrap()
        .starts_with("AADSTS65001"));

    f.post_control("users/ada@tessera.test/mfa", json!({ "required": true }))
        .await;
    let mfa = agent
        .sign_in(&f.authorize_url(&silent), REDIRECT)
        .await
        .unwrap();
    assert_eq!(mfa.param("error").as_deref(), Some("interaction_required"));
    assert!(mfa
        .param("error_description")
        .unwrap()
        .starts_with("AADSTS50076"));
    assert_eq!(mfa.param("error_subcode").as_deref(), Some("basic_action"));
    f.post_control("users/ada@tessera.test/mfa", json!({ "required": false }))
        .await;

    let (status, _) = f
        .control(
            reqwest::Method::DELETE,
            "users/ada@tessera.test/sessions",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ended = agent
        .sign_in(&f.authorize_url(&silent), REDIRECT)
        .await
        .unwrap();
    assert_eq!(
        ended.param("error").as_deref(),
        Some("login_required"),
        "session ended by control"
    );
}

#[tokio::test]
async fn prompts_login_consent_and_select_account_show_their_pages() {
    let f = fixture().await;
    let ada = UserAgent::new(Script::user("ada@tessera.test"));
    f.sign_in(&ada, &[]).await;
    // The scripted agent keeps its cookies; the counters tell which pages each prompt showed.
    for (prompt, expected) in [
        ("login", "login"),
        ("consent", "consent"),
        ("select_account", "pick_account"),
    ] {
        let outcome = ada
            .sign_in(&f.authorize_url(&[("prompt", prompt)]), REDIRECT)
            .await
            .unwrap();
        assert!(outcome.param("code").is_some(), "prompt={prompt} completes");
        let key = format!(
            "login:{}",
            match expected {
                "login" => "credentials",
                "pick_account" => "pick",
                other => other,
            }
        );
        assert!(
            f.stats().await[&key].as_u64().unwrap_or(0) >= 1,
            "prompt={prompt} showed the {expected} page"
        );
    }

    // Two accounts in one browser and no hint: the picker, and the chosen one gets the code.
    let alan = ada.with_script(Script::user("alan@tessera.test"));
    let outcome = alan
        .sign_in(&f.authorize_url(&[("prompt", "select_account")]), REDIRECT)
        .await
        .unwrap();
    let code = outcome.param("code").unwrap();
    let (_, tokens) = f.redeem(&code).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["preferred_username"],
        "alan@tessera.test"
    );
    let ambiguous = ada
        .sign_in(
            &f.authorize_url(&[("prompt", "none"), ("login_hint", "")]),
            REDIRECT,
        )
        .await
        .unwrap();
    assert_eq!(
        ambiguous.param("error").as_deref(),
        Some("interaction_required"),
        "two sessions, no hint"
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_declined_consent_and_stale_forms() {
    let f = fixture().await;
    let wrong = UserAgent::new(Script {
        password: "nope".into(),
        ..Script::user("ada@tessera.test")
    });
    let err = wrong
        .sign_in(&f.authorize_url(&[]), REDIRECT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UserAgentError::Page(m) if m.contains("AADSTS50126")),
        "{err}"
    );

    let nobody = UserAgent::new(Script::user("nobody@tessera.test"));
    let err = nobody
        .sign_in(&f.authorize_url(&[]), REDIRECT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS50034"), "{err}");

    let decline = UserAgent::new(Script {
        accept_consent: false,
        ..Script::user("ada@tessera.test")
    });
    let outcome = decline
        .sign_in(&f.authorize_url(&[]), REDIRECT)
        .await
        .unwrap();
    assert_eq!(outcome.param("error").as_deref(), Some("access_denied"));
    assert!(outcome
        .param("error_description")
        .unwrap()
        .starts_with("AADSTS65004"));

    let r = f
        .http
        .post(format!("{}/login/credentials", f.authority))
        .form(&[
            ("tx", "forged"),
            ("username", "ada@tessera.test"),
            ("password", "tessera"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "an unknown transaction is refused"
    );
    let r = f
        .http
        .post(format!("{}/login/credentials", f.authority))
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "a non-form body is refused");
}

#[tokio::test]
async fn form_post_and_fragment_response_modes() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let posted = agent
        .sign_in(
            &f.authorize_url(&[("response_mode", "form_post")]),
            REDIRECT,
        )
        .await
        .unwrap();
    let Outcome::FormPost { action, fields } = &posted else {
        panic!("form_post expected: {posted:?}")
    };
    assert_eq!(action, &Url::parse(REDIRECT).unwrap());
    assert!(fields.iter().any(|(k, _)| k == "code"));
    assert_eq!(posted.param("state").as_deref(), Some("state-123"));

    let fragment = agent
        .sign_in(&f.authorize_url(&[("response_mode", "fragment")]), REDIRECT)
        .await
        .unwrap();
    let Outcome::Redirect(url) = &fragment else {
        panic!()
    };
    assert!(
        url.query().is_none() && url.fragment().unwrap().contains("code="),
        "{url}"
    );
}

// Issue 20, point 1: Entra's end-session page asks which account to sign out unless
// `logout_hint` carries the ID token's `login_hint` claim (Microsoft Learn, "Send a sign-out
// request"; the optional claim), even with one account signed in; and RP-Initiated Logout
// §2: a post-logout redirect needs a client the provider can check it against.
#[tokio::test]
async fn logout_asks_unless_hinted_and_returns_only_to_a_known_clients_uris() {
    let f = fixture().await;
    let agent = UserAgent::new(Script::user("ada@tessera.test"));
    let outcome = f.sign_in(&agent, &[]).await;
    let (_, tokens) = f.redeem(&outcome.param("code").unwrap()).await;
    let id = claims(tokens["id_token"].as_str().unwrap());
    let hint = id["login_hint"]
        .as_str()
        .expect("the login_hint claim")
        .to_owned();
    let logout = |pairs: &[(&str, &str)]| {
        let mut url = Url::parse(&format!("{}/oauth2/v2.0/logout", f.authority)).unwrap();
        url.query_pairs_mut().extend_pairs(pairs);
        url
    };
    let silent_code = || async {
        agent
            .sign_in(
                &f.authorize_url(&[("prompt", "none"), ("login_hint", "ada@tessera.test")]),
                REDIRECT,
            )
            .await
            .unwrap()
            .param("code")
    };

    // No hint, or a username: the picker, and the session goes on.
    for pairs in [vec![], vec![("logout_hint", "ada@tessera.test")]] {
        let page = agent.page(&logout(&pairs)).await.unwrap();
        assert!(page.contains("logout_pick"), "the account picker: {page}");
        assert!(silent_code().await.is_some(), "still signed in");
    }
    assert_eq!(f.stats().await["logout:picker"], 2);

    // A post-logout redirect without id_token_hint or client_id is refused.
    let r = f
        .http
        .get(logout(&[
            ("post_logout_redirect_uri", "http://localhost:9000"),
            ("logout_hint", &hint),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The hint and a registered URI of the named client: signed out, and sent back.
    let url = logout(&[
        ("client_id", DEFAULT_CLIENT_ID),
        ("post_logout_redirect_uri", "http://localhost:9000"),
        ("logout_hint", &hint),
        ("state", "s1"),
    ]);
    let back = agent.sign_in(&url, "http://localhost:9000").await.unwrap();
    assert_eq!(back.param("state").as_deref(), Some("s1"));
    let silent = agent
        .sign_in(
            &f.authorize_url(&[("prompt", "none"), ("login_hint", "ada@tessera.test")]),
            REDIRECT,
        )
        .await
        .unwrap();
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));

    // An unregistered URI is not followed, even for a known client.
    let r = f
        .http
        .get(logout(&[
            ("client_id", DEFAULT_CLIENT_ID),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "an unregistered URI is not followed"
    );
}
