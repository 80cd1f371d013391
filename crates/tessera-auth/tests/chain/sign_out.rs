//! Signing out at the provider (issue 20, point 1), as OpenID Connect RP-Initiated Logout 1.0
//! says and Entra behaves: done only when the provider redirects to the post-logout URI with
//! the state it was sent; an account picker nobody answers, or a "signed out" page without
//! the redirect, is never reported as a sign-out.

use super::*;

/// An agent whose redirect (post-logout) URI the provider has not registered.
struct Unregistered(Browser);

impl InteractiveAgent for Unregistered {
    fn redirect_uri(&self) -> Url {
        Url::parse("https://app.example/signed-out").unwrap()
    }

    fn authorize(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        Box::pin(async move {
            match self
                .0
                 .0
                .sign_in(&request.authorize_url, request.redirect_uri.as_str())
                .await
            {
                Ok(Outcome::Redirect(url)) => Ok(url),
                Ok(other) => Err(AgentError::Failed(format!("{other:?}"))),
                Err(e) => Err(AgentError::Failed(e.to_string())),
            }
        })
    }
}

/// The ID token carries Entra's optional `login_hint` claim (the registration adds it), so
/// the end-session request's `logout_hint` names the account and Entra signs it out without
/// a picker, then redirects with the state.
#[tokio::test]
async fn entra_signs_out_at_once_when_the_logout_hint_names_the_account() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    let url = w
        .app
        .end_session_url(&first.account, None)
        .await
        .unwrap()
        .unwrap();
    w.app.remove_account(&first.account).unwrap();
    w.app.end_session(url, &ada).await.unwrap();
    assert_eq!(w.stat("logout:picker").await, 0);
    assert_eq!(w.stat("logout:signed_out").await, 1);
    // The session is gone: silent SSO for Ada (prompt=none) now needs a sign-in.
    let silent = w
        .app
        .acquire_token_silent(
            SilentRequest {
                cache_lookup_policy: CacheLookupPolicy::Skip,
                ..w.silent(&first.account)
            },
            Some(&ada),
        )
        .await;
    assert!(
        matches!(silent, Err(Error::InteractionRequired { .. })),
        "{silent:?}"
    );
}

/// Entra's default registration has no `login_hint` claim: its end-session page shows an
/// account picker, even for one account (Microsoft Learn, "Send a sign-out request"). A user
/// who does not pick leaves the session as it was, and that is an error; the user's choice
/// signs out.
#[tokio::test]
async fn without_the_login_hint_claim_only_the_users_choice_on_the_picker_signs_out() {
    let w = world_with(Setup {
        flavor: Some(Flavor::Entra),
        behaviour: Some(Behaviour::entra().with("login_hint_claim=false").unwrap()),
        ..Setup::default()
    })
    .await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    let url = w
        .app
        .end_session_url(&first.account, None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !url.query_pairs().any(|(k, _)| k == "logout_hint"),
        "no claim, no hint: {url}"
    );
    // A browser holding Ada's session, whose user does not choose her on the picker.
    let undecided =
        tessera_test_support::ScriptedBrowser(ada.0.with_script(Script::user("alan@tessera.test")));
    let outcome = w.app.end_session(url.clone(), &undecided).await;
    assert!(outcome.is_err(), "a picker is not a sign-out: {outcome:?}");
    assert_eq!(w.stat("logout:picker").await, 1);
    assert_eq!(w.stat("logout:signed_out").await, 0);

    w.app.end_session(url, &ada).await.unwrap();
    assert_eq!(w.stat("logout:signed_out").await, 1, "the user chose Ada");
}

/// RP-Initiated Logout §2: the provider follows only a registered post-logout URI; otherwise
/// it shows its own "signed out" page, and the app, which never hears back, must not say the
/// session ended.
#[tokio::test]
async fn a_sign_out_that_never_comes_back_is_not_reported_as_done() {
    let w = world(Flavor::Entra, &[]).await;
    let (ada, first) = w.sign_in("ada@tessera.test").await;
    let url = w
        .app
        .end_session_url(&first.account, None)
        .await
        .unwrap()
        .unwrap();
    let outcome = w.app.end_session(url, &Unregistered(ada)).await;
    assert!(outcome.is_err(), "{outcome:?}");
}
