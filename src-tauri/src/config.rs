//! Settings, policy and token storage as the app wires them. Everything the engine needs is
//! resolved before the first window exists (the provider and the cache come from it); the
//! user's changes go into the same `settings.json` through its one writer
//! (`tessera_host::settings::update_settings_file`), which the CLI and the plugin's record
//! of sessions use too.

use serde_json::{Map, Value};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_tessera::{CommandError, Options, TesseraExt};
pub use tessera_host::settings::{resolve_environment, resolve_file};
pub use tessera_host::storage::{Storage, StorageStatus};

use crate::state::AppState;

/// Applies the user's `changes` (refused whole if any is managed or invalid) and saves them;
/// the plugin's options (scopes, interaction modes, time limit) follow at once.
pub fn change_settings<R: Runtime>(
    app: &AppHandle<R>,
    changes: &Map<String, Value>,
) -> Result<(), CommandError> {
    let state = app.state::<AppState>();
    // Held throughout, so that two changes at once (the settings saved while the active
    // account is remembered) apply in turn to the in-memory settings too.
    let mut current = state.settings.lock().unwrap_or_else(|p| p.into_inner());
    // A refused change is the user's to fix; one the file refuses (unreadable, damaged) is not.
    current
        .clone()
        .change(None, changes)
        .map_err(CommandError::invalid)?;
    let mut resolved = current.clone();
    tessera_host::settings::change_user_settings(&state.settings_file, &mut resolved, changes)
        .map_err(|reason| CommandError::new("settings", reason))?;
    resolved.warnings.clear();
    app.tessera().set_options(Options::from(&resolved.settings));
    *current = resolved;
    Ok(())
}

/// Remembers something the app itself keeps (the active account), unless a policy or the
/// environment pins it; a failure is logged, never shown: it costs only convenience.
pub fn remember<R: Runtime>(app: &AppHandle<R>, name: &str, value: Value) {
    let resolved = app.state::<AppState>().resolved();
    if !resolved.is_user_settable(name) || resolved.settings.field(name).as_ref() == Some(&value) {
        return;
    }
    let mut change = Map::new();
    change.insert(name.to_owned(), value);
    if let Err(e) = change_settings(app, &change) {
        log::warn!("could not remember {name}: {}", e.message);
    }
}
