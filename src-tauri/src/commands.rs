//! The commands, the only API the UI has. Each is a thin async fn: take the arguments, call the
//! engine (through [`acquire`](crate::acquire) for tokens), map the result to a DTO. No token
//! ever crosses: the UI gets statuses, profiles and photos.

use std::future::Future;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tauri::{AppHandle, Runtime, State};
use tessera_auth::Prompt;
use tessera_config::InteractionMode;
use tessera_graph::{Profile, TokenNeed};

use crate::acquire::{self, Ask};
use crate::config;
use crate::dto::{
    About, AccountInfo, Interaction, ProviderInfo, Settings, SignInPrompt, TokenStatus,
};
use crate::error::CommandError;
use crate::state::AppState;

/// The product name, version, commit and build date of this binary.
#[tauri::command]
pub async fn about() -> About {
    About::of_this_build()
}

/// The identity provider, the settings and their sources, and where tokens are kept.
/// Synchronous: it only reads state.
#[tauri::command]
pub fn settings(state: State<'_, AppState>) -> Settings {
    let provider = &state.provider;
    let resolved = state.resolved();
    let restart_needed = tessera_config::settings::APPLIED_AT_START
        .iter()
        .any(|name| resolved.settings.field(name) != state.started_with.field(name));
    Settings {
        provider: ProviderInfo {
            authority: provider.endpoints.authority.to_string(),
            client_id: provider.endpoints.client_id.clone(),
            graph_url: provider.endpoints.graph_url.as_ref().map(|u| u.to_string()),
            microsoft: state.auth.authority().is_microsoft(),
            redirect_uri: provider.endpoints.redirect_uri.to_string(),
            embedded: provider.is_embedded(),
            test_users: provider.test_users(),
        },
        values: resolved.settings,
        sources: resolved.sources,
        policy_file: resolved.policy_path.map(|p| p.display().to_string()),
        applied_at_start: tessera_config::settings::APPLIED_AT_START.to_vec(),
        restart_needed,
        warnings: resolved.warnings,
        storage: state.storage.status(&state.auth),
    }
}

/// Validates and saves setting changes (`{ name: value }`, names as `settings` returns them);
/// a managed, unknown or invalid one refuses the whole change and nothing changes.
#[tauri::command]
pub async fn set_settings(
    state: State<'_, AppState>,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<Settings, CommandError> {
    config::change_settings(&state, &changes)?;
    Ok(settings(state))
}

/// Refuses an interaction mode the policy does not allow.
pub(crate) fn check_allowed(
    state: &AppState,
    interaction: Interaction,
) -> Result<(), CommandError> {
    let mode = match interaction {
        Interaction::Popup => InteractionMode::Popup,
        Interaction::Redirect => InteractionMode::Redirect,
        Interaction::None => return Ok(()),
    };
    if state.settings().allowed_interaction_modes.contains(&mode) {
        return Ok(());
    }
    Err(CommandError::new(
        "not_allowed",
        "your organisation's policy does not allow this way of signing in",
    ))
}

/// Every signed-in account.
#[tauri::command]
pub fn accounts(state: State<'_, AppState>) -> Vec<AccountInfo> {
    let active = state.auth.active_account();
    state
        .auth
        .accounts()
        .iter()
        .map(|account| AccountInfo::new(account, active.as_ref()))
        .collect()
}

/// Switches to another signed-in account.
#[tauri::command]
pub fn set_active_account(
    state: State<'_, AppState>,
    home_account_id: String,
) -> Result<Vec<AccountInfo>, CommandError> {
    state.auth.set_active_account(Some(&home_account_id))?;
    Ok(accounts(state))
}

/// A token for the active account: silent first, then `interaction` if the engine says
/// `InteractionRequired`. Returns its status, never the token.
#[tauri::command]
pub async fn acquire_token<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    scopes: Option<Vec<String>>,
    interaction: Interaction,
    force_refresh: Option<bool>,
    tenant: Option<String>,
) -> Result<TokenStatus, CommandError> {
    let scopes = scopes.unwrap_or_else(|| state.settings().scopes);
    // An empty field is the configured authority's tenant.
    let tenant = tenant
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    check_allowed(&state, interaction)?;
    let ask = Ask {
        scopes,
        need: if force_refresh == Some(true) {
            TokenNeed::ForceRefresh
        } else {
            TokenNeed::Any
        },
        interaction,
        prompt: None,
        tenant,
        explicit: true,
    };
    Ok(acquire::token(&app, &state, ask).await?.status)
}

/// An interactive sign-in in `mode` (the preferred one by default); `select_account` adds
/// another account.
#[tauri::command]
pub async fn sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    mode: Option<InteractionMode>,
    prompt: Option<SignInPrompt>,
) -> Result<TokenStatus, CommandError> {
    let settings = state.settings();
    if mode == Some(InteractionMode::DeviceCode) {
        return Err(CommandError::invalid(
            "the app signs in with its window or the browser; the device code is tessera-cli's",
        ));
    }
    let interaction = mode.unwrap_or(settings.interaction_mode).into();
    check_allowed(&state, interaction)?;
    let ask = Ask {
        scopes: settings.scopes,
        need: TokenNeed::Any,
        interaction,
        prompt: match prompt {
            Some(SignInPrompt::Login) => Some(Prompt::Login),
            Some(SignInPrompt::SelectAccount) => Some(Prompt::SelectAccount),
            // Signed in already: "sign in" means another account, so show the picker.
            None if state.auth.active_account().is_some() => Some(Prompt::SelectAccount),
            // Otherwise an existing provider session may sign the user in at once, as in MSAL.
            None => None,
        },
        tenant: None,
        explicit: true,
    };
    Ok(acquire::token(&app, &state, ask).await?.status)
}

/// The result of a system-browser sign-in not yet delivered to the UI (waiting for it while
/// the browser is still out), or `null`.
#[tauri::command]
pub async fn redirect_result(
    state: State<'_, AppState>,
) -> Result<Option<TokenStatus>, CommandError> {
    state.redirect.take().await.transpose()
}

/// Closes the sign-in window or stops waiting for the browser: the sign-in ends with
/// `user_cancelled`.
#[tauri::command]
pub fn cancel_sign_in(state: State<'_, AppState>) {
    state.auth.cancel_interaction();
}

/// Signs an account out of this app (its tokens are forgotten) and, with `end_session`, out of
/// the identity provider too, where its session lives: the app's webview (a hidden window that
/// shows itself if the provider asks which account) or the system browser it signed in with.
/// That part is done only when the provider redirects back (RP-Initiated Logout 1.0): an
/// account picker closed, or the time limit, is reported as such, never as a sign-out.
#[tauri::command]
pub async fn sign_out<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    home_account_id: String,
    end_session: bool,
) -> Result<Vec<AccountInfo>, CommandError> {
    let account = state
        .auth
        .account(&home_account_id)
        .ok_or_else(|| tessera_auth::Error::AccountNotFound(home_account_id.clone()))?;
    // Built before the account goes: it names the account's ID token.
    let end_session_url = if end_session {
        state.auth.end_session_url(&account, None).await?
    } else {
        None
    };
    let place = config::session_place(&state, &home_account_id);
    state.auth.remove_account(&account)?;
    config::set_session_place(&state, &home_account_id, None);
    {
        let mut last = state.last_token.lock().unwrap_or_else(|p| p.into_inner());
        if last
            .as_ref()
            .is_some_and(|t| t.account.home_account_id == home_account_id)
        {
            *last = None;
        }
    }
    if let Some(url) = end_session_url {
        crate::acquire::end_session(&app, &state, url, place)
            .await
            .map_err(|e| {
                CommandError::new(
                    "end_session",
                    format!(
                        "Signed out of Tessera, but the identity provider did not confirm the end of its session ({e}). Sign out there too if others use this computer."
                    ),
                )
            })?;
    }
    Ok(accounts(state))
}

/// The active account's profile: Microsoft Graph's for Microsoft authorities, the userinfo
/// endpoint's for others. A claims challenge or a refused token gets one new token (through
/// `interaction` if needed and allowed) and one retry.
#[tauri::command]
pub async fn profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    interaction: Option<Interaction>,
) -> Result<Profile, CommandError> {
    let interaction = interaction.unwrap_or(Interaction::None);
    check_allowed(&state, interaction)?;
    let source = profile_source(&state).await?;
    let acquire = profile_token(&app, &state, source, interaction);
    Ok(source.profile(&state.auth, acquire).await?)
}

/// The active account's photo as a `data:` URL, or `null` when the user has none.
#[tauri::command]
pub async fn profile_photo<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    interaction: Option<Interaction>,
) -> Result<Option<String>, CommandError> {
    let interaction = interaction.unwrap_or(Interaction::None);
    check_allowed(&state, interaction)?;
    let source = profile_source(&state).await?;
    let acquire = profile_token(&app, &state, source, interaction);
    let photo = source.photo(acquire).await?;
    Ok(photo.map(|photo| {
        format!(
            "data:{};base64,{}",
            photo.content_type,
            STANDARD.encode(&photo.bytes)
        )
    }))
}

async fn profile_source(state: &AppState) -> Result<&tessera_host::ProfileSource, CommandError> {
    state
        .profiles
        .source(&state.auth)
        .await
        .map_err(|e| CommandError::new("network", e))
}

/// The pattern's token for the profile source, as `ProfileSource` asks for one.
fn profile_token<'a, R: Runtime>(
    app: &'a AppHandle<R>,
    state: &'a AppState,
    source: &'a tessera_host::ProfileSource,
    interaction: Interaction,
) -> impl FnMut(
    TokenNeed,
) -> std::pin::Pin<
    Box<dyn Future<Output = Result<tessera_auth::AuthenticationResult, CommandError>> + Send + 'a>,
> + 'a {
    move |need| {
        let scopes = source.scopes().unwrap_or_else(|| state.settings().scopes);
        Box::pin(async move {
            let ask = Ask {
                scopes,
                need,
                interaction,
                prompt: None,
                tenant: None,
                explicit: false,
            };
            acquire::token(app, state, ask)
                .await
                .map(|granted| granted.result)
        })
    }
}

/// Where the last token came from, its expiry, scopes, authority and correlation id.
#[tauri::command]
pub fn token_status(state: State<'_, AppState>) -> Option<TokenStatus> {
    state
        .last_token
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}
