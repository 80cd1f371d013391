//! The commands, the webview's only way in (`plugin:tessera|<name>`). Each is a thin wrapper
//! of [`Tessera`]'s method of the same name. No refresh or ID token ever crosses; an access
//! token only through `access_token`, when the host opted in.

use tauri::{AppHandle, Runtime};
use tessera_config::InteractionMode;
use tessera_graph::Profile;

use crate::dto::{AccessToken, AccountInfo, Interaction, SignInPrompt, TokenRequest, TokenStatus};
use crate::error::CommandError;
use crate::TesseraExt;

/// Every signed-in account.
#[tauri::command]
pub fn accounts<R: Runtime>(app: AppHandle<R>) -> Vec<AccountInfo> {
    app.tessera().accounts()
}

/// Switches to another signed-in account.
#[tauri::command]
pub fn set_active_account<R: Runtime>(
    app: AppHandle<R>,
    home_account_id: String,
) -> Result<Vec<AccountInfo>, CommandError> {
    app.tessera().set_active_account(&home_account_id)
}

/// A token for the active account; its status, never the token.
#[tauri::command]
pub async fn acquire_token<R: Runtime>(
    app: AppHandle<R>,
    scopes: Option<Vec<String>>,
    interaction: Option<Interaction>,
    force_refresh: Option<bool>,
    tenant: Option<String>,
) -> Result<TokenStatus, CommandError> {
    let request = TokenRequest {
        scopes,
        interaction,
        force_refresh,
        tenant,
    };
    Ok(app.tessera().acquire_token(request).await?.status)
}

/// The access token itself, for a page that calls an API from JavaScript: refused unless the
/// host built the plugin with `expose_access_tokens` (and its capability grants
/// `tessera:allow-access-token`, which `tessera:default` does not).
#[tauri::command]
pub async fn access_token<R: Runtime>(
    app: AppHandle<R>,
    scopes: Option<Vec<String>>,
    interaction: Option<Interaction>,
    force_refresh: Option<bool>,
    tenant: Option<String>,
) -> Result<AccessToken, CommandError> {
    if !app.tessera().expose_access_tokens {
        return Err(CommandError::new(
            "not_allowed",
            "this app does not hand access tokens to its pages",
        ));
    }
    let request = TokenRequest {
        scopes,
        interaction,
        force_refresh,
        tenant,
    };
    let granted = app.tessera().acquire_token(request).await?;
    Ok(AccessToken {
        access_token: granted.result.access_token.secret().to_owned(),
        status: granted.status,
    })
}

/// An interactive sign-in.
#[tauri::command]
pub async fn sign_in<R: Runtime>(
    app: AppHandle<R>,
    mode: Option<InteractionMode>,
    prompt: Option<SignInPrompt>,
) -> Result<TokenStatus, CommandError> {
    app.tessera().sign_in(mode, prompt).await
}

/// The result of a system-browser sign-in not yet delivered, or `null`.
#[tauri::command]
pub async fn redirect_result<R: Runtime>(
    app: AppHandle<R>,
) -> Result<Option<TokenStatus>, CommandError> {
    app.tessera().redirect_result().await
}

/// Ends the sign-in under way with `user_cancelled`.
#[tauri::command]
pub fn cancel_sign_in<R: Runtime>(app: AppHandle<R>) {
    app.tessera().cancel_sign_in();
}

/// Signs an account out of the app and, with `end_session`, out of the provider.
#[tauri::command]
pub async fn sign_out<R: Runtime>(
    app: AppHandle<R>,
    home_account_id: String,
    end_session: bool,
) -> Result<Vec<AccountInfo>, CommandError> {
    app.tessera().sign_out(&home_account_id, end_session).await
}

/// The active account's profile.
#[tauri::command]
pub async fn profile<R: Runtime>(
    app: AppHandle<R>,
    interaction: Option<Interaction>,
) -> Result<Profile, CommandError> {
    app.tessera()
        .profile(interaction.unwrap_or(Interaction::None))
        .await
}

/// The active account's photo as a `data:` URL, or `null`.
#[tauri::command]
pub async fn profile_photo<R: Runtime>(
    app: AppHandle<R>,
    interaction: Option<Interaction>,
) -> Result<Option<String>, CommandError> {
    app.tessera()
        .profile_photo(interaction.unwrap_or(Interaction::None))
        .await
}

/// The last token's status.
#[tauri::command]
pub fn token_status<R: Runtime>(app: AppHandle<R>) -> Option<TokenStatus> {
    app.tessera().token_status()
}
