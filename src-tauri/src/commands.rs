//! Tessera's own commands: the About box and the settings screen. The sign-in pattern's
//! commands are the plugin's (`plugin:tessera|…`).

use tauri::{AppHandle, Runtime, State};
use tauri_plugin_tessera::{CommandError, TesseraExt};

use crate::dto::{About, ProviderInfo, Settings};
use crate::state::AppState;

/// The product name, version, commit and build date of this binary.
#[tauri::command]
pub async fn about() -> About {
    About::of_this_build()
}

/// The identity provider, the settings and their sources, and where tokens are kept.
/// Synchronous: it only reads state.
#[tauri::command]
pub fn settings<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Settings {
    let (provider, tessera) = (&state.provider, app.tessera());
    let resolved = state.resolved();
    let restart_needed = tessera_config::settings::APPLIED_AT_START
        .iter()
        .any(|name| resolved.settings.field(name) != state.started_with.field(name));
    Settings {
        provider: ProviderInfo {
            authority: provider.endpoints.authority.to_string(),
            client_id: provider.endpoints.client_id.clone(),
            graph_url: provider.endpoints.graph_url.as_ref().map(|u| u.to_string()),
            microsoft: tessera.engine().authority().is_microsoft(),
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
        storage: tessera.storage_status(),
    }
}

/// Validates and saves setting changes (`{ name: value }`, names as `settings` returns them);
/// a managed, unknown or invalid one refuses the whole change and nothing changes.
#[tauri::command]
pub async fn set_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<Settings, CommandError> {
    crate::config::change_settings(&app, &changes)?;
    Ok(settings(app, state))
}
