//! The pattern, as the app uses it: silent first (cache, refresh token, hidden-window SSO),
//! then, only when the engine says `InteractionRequired`, the interaction the caller allows:
//! the sign-in window or the system browser. This is MSAL's
//! `acquireTokenSilent(…).catch(InteractionRequired → acquireTokenPopup(…))`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tauri::{Emitter, Manager, Runtime};
use tessera_auth::{
    Account, AuthenticationResult, Error, InteractiveRequest, LoopbackAgent, Opener, Prompt,
    SilentRequest, TokenSource,
};
use tessera_graph::TokenNeed;

use crate::agents::{HiddenAgent, PopupAgent};
use crate::dto::{Interaction, TokenStatus};
use crate::error::CommandError;
use crate::events::REDIRECT_EVENT;
use crate::sessions::SessionPlace;
use crate::state::Tessera;

/// What the caller wants.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    /// Scopes of one resource.
    pub scopes: Vec<String>,
    /// A fresh token, or one satisfying a claims challenge.
    pub need: TokenNeed,
    /// The interaction allowed when silent fails.
    pub interaction: Interaction,
    /// A prompt forces interaction (`select_account` to add an account).
    pub prompt: Option<Prompt>,
    /// Another Entra tenant to get the token from (a guest's resource tenant); none: the
    /// configured authority's.
    pub tenant: Option<String>,
    /// Asked for by the user ("Get token"), not on the way to Graph: the token panel shows
    /// even a cache hit. On the way to Graph only a new token replaces what the panel shows,
    /// so that after a sign-in it still says where the token in use came from.
    pub explicit: bool,
}

/// A token and what the webview may know of it.
#[derive(Debug)]
pub struct Granted {
    /// The engine's result, token included: for the host's Rust code, never the webview's.
    pub result: AuthenticationResult,
    /// Its status, for the webview.
    pub status: TokenStatus,
}

/// A token for the active account (or a new sign-in), recorded for the token panel.
pub(crate) async fn token<R: Runtime>(
    state: &Tessera<R>,
    ask: Ask,
) -> Result<Granted, CommandError> {
    let started = Instant::now();
    let account = state.auth.active_account();
    let claims_needed = match &ask.need {
        TokenNeed::Claims(claims) => Some(claims.clone()),
        _ => None,
    };
    let silent = match (&account, ask.prompt) {
        (Some(account), None) => {
            let mut request = SilentRequest::new(account.clone(), ask.scopes.clone());
            request.force_refresh = ask.need == TokenNeed::ForceRefresh;
            request.claims = claims_needed.clone();
            request.tenant = ask.tenant.clone();
            let hidden = HiddenAgent::new(state.app.clone(), state.endpoints.redirect_uri.clone());
            Some(
                state
                    .auth
                    .acquire_token_silent(request, Some(&hidden))
                    .await,
            )
        }
        _ => None,
    };
    let result = match (silent, ask.interaction) {
        (Some(Ok(result)), _) => result,
        (
            Some(Err(Error::InteractionRequired { claims, .. })),
            Interaction::Popup | Interaction::Redirect,
        ) => {
            interactive(
                state,
                &ask,
                claims.or(claims_needed),
                account.as_ref(),
                started,
            )
            .await?
        }
        (Some(Err(error)), _) => return Err(error.into()),
        (None, Interaction::None) => {
            return Err(CommandError::new("no_account", "no account is signed in"));
        }
        (None, _) => interactive(state, &ask, claims_needed, account.as_ref(), started).await?,
    };
    make_active(state, &result.account)?;
    let shown = state
        .last_token
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let same_token = shown.is_some_and(|s| {
        s.account.home_account_id == result.account.home_account_id
            && s.expires_on == result.expires_on
    });
    let status = status_of(state, &result, ask.tenant.as_deref(), started);
    if ask.explicit || result.source != TokenSource::Cache || !same_token {
        *state.last_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.clone());
    }
    Ok(Granted { result, status })
}

/// The account just used becomes the active one (an event only when that changes it).
fn make_active<R: Runtime>(state: &Tessera<R>, account: &Account) -> Result<(), CommandError> {
    let active = state.auth.active_account();
    if active.is_some_and(|a| a.home_account_id == account.home_account_id) {
        return Ok(());
    }
    Ok(state
        .auth
        .set_active_account(Some(&account.home_account_id))?)
}

/// The UI's view of a result.
fn status_of<R: Runtime>(
    state: &Tessera<R>,
    result: &AuthenticationResult,
    tenant: Option<&str>,
    started: Instant,
) -> TokenStatus {
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let authority = match tenant {
        Some(tenant) => state.auth.authority().for_tenant(tenant).url().to_string(),
        None => state.endpoints.authority.to_string(),
    };
    TokenStatus::new(result, &authority, elapsed)
}

async fn interactive<R: Runtime>(
    state: &Tessera<R>,
    ask: &Ask,
    claims: Option<String>,
    account: Option<&Account>,
    started: Instant,
) -> Result<AuthenticationResult, CommandError> {
    let request = InteractiveRequest {
        scopes: ask.scopes.clone(),
        prompt: ask.prompt,
        // "Add another account" must not suggest the current one.
        login_hint: account
            .filter(|_| ask.prompt.is_none())
            .map(|a| a.username.clone()),
        claims,
        tenant: ask.tenant.clone(),
        ..InteractiveRequest::default()
    };
    let time_limit = state.options().interaction_time_limit;
    if ask.interaction != Interaction::Redirect {
        let popup = PopupAgent::new(
            state.app.clone(),
            state.endpoints.redirect_uri.clone(),
            time_limit,
        );
        let result = state
            .auth
            .acquire_token_interactive(request, &popup)
            .await?;
        let id = &result.account.home_account_id;
        state.sessions.set(id, Some(SessionPlace::Webview));
        return Ok(result);
    }
    let sender = state.redirect.start();
    let outcome = through_browser(state, request, time_limit).await;
    bring_main_to_front(state);
    let recorded = match &outcome {
        Ok(result) => {
            make_active(state, &result.account)?;
            let id = &result.account.home_account_id;
            state.sessions.set(id, Some(SessionPlace::Browser));
            Ok(status_of(state, result, ask.tenant.as_deref(), started))
        }
        Err(error) => Err(error.clone()),
    };
    state.redirect.finish(&sender, recorded);
    let _ = state
        .app
        .emit_to(state.main_window.as_str(), REDIRECT_EVENT, ());
    outcome
}

/// RFC 8252's system-browser flow: the engine's loopback agent, opening the URL with the
/// `open` crate, as the opener plugin does (with `$BROWSER` when set, as `xdg-open` would),
/// so that a host need not register that plugin and grant nothing of it to any window.
async fn through_browser<R: Runtime>(
    state: &Tessera<R>,
    request: InteractiveRequest,
    time_limit: Duration,
) -> Result<AuthenticationResult, CommandError> {
    let agent = browser_agent(state, time_limit).await?;
    Ok(state
        .auth
        .acquire_token_interactive(request, &agent)
        .await?)
}

/// The engine's loopback agent on the configured port, opening the system browser and
/// waiting at most `time_limit` for it.
async fn browser_agent<R: Runtime>(
    state: &Tessera<R>,
    time_limit: Duration,
) -> Result<LoopbackAgent, CommandError> {
    let agent = LoopbackAgent::bind_port(
        state.auth.authority().is_microsoft(),
        state.options().redirect_port,
    )
    .await
    .map_err(|e| {
        CommandError::new(
            "network",
            format!("no loopback port for the browser's answer: {e}"),
        )
    })?;
    Ok(agent
        .with_opener(browser_opener())
        .with_time_limit(time_limit))
}

/// Ends the provider's session where it lives (the engine's `end_session`): in the app's
/// webview, or in the system browser with a loopback listener for the return.
pub(crate) async fn end_session<R: Runtime>(
    state: &Tessera<R>,
    url: url::Url,
    place: SessionPlace,
) -> Result<(), CommandError> {
    let time_limit = state.options().interaction_time_limit;
    match place {
        SessionPlace::Webview => {
            let agent = PopupAgent::for_sign_out(
                state.app.clone(),
                state.endpoints.redirect_uri.clone(),
                time_limit,
            );
            Ok(state.auth.end_session(url, &agent).await?)
        }
        SessionPlace::Browser => {
            let agent = browser_agent(state, time_limit).await?.for_sign_out();
            let outcome = state.auth.end_session(url, &agent).await;
            bring_main_to_front(state);
            Ok(outcome?)
        }
    }
}

fn browser_opener() -> Opener {
    Arc::new(move |url| {
        let browser = std::env::var("BROWSER")
            .ok()
            .and_then(|b| b.split(':').next().map(str::to_owned))
            .filter(|b| !b.trim().is_empty());
        match browser {
            Some(browser) => open::with_detached(url.as_str(), browser),
            None => open::that_detached(url.as_str()),
        }
        .map_err(|e| format!("could not open the browser: {e}"))
    })
}

/// The code arrived while the user was in the browser: back to the app.
fn bring_main_to_front<R: Runtime>(state: &Tessera<R>) {
    if let Some(main) = state.app.get_webview_window(&state.main_window) {
        let _ = main.unminimize();
        let _ = main.show();
        let _ = main.set_focus();
    }
}
