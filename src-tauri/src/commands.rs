//! The commands, the only API the UI has. Each is a thin async fn: take the arguments, call one
//! engine method, map the result to a DTO.

use tauri::State;

use crate::dto::{About, Settings};
use crate::state::AppState;

/// The product name, version, commit and build date of this binary.
#[tauri::command]
pub async fn about() -> About {
    About::of_this_build()
}

/// The identity provider the app uses. Synchronous: it only reads managed state.
#[tauri::command]
pub fn settings(state: State<'_, AppState>) -> Settings {
    let provider = &state.provider;
    Settings {
        authority: provider.endpoints.authority.to_string(),
        client_id: provider.endpoints.client_id.clone(),
        graph_url: provider.endpoints.graph_url.to_string(),
        embedded_provider: provider.is_embedded(),
        test_users: provider.test_users(),
    }
}
