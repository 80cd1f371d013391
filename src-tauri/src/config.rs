//! Settings, policy and token storage as the shell wires them. Everything the engine needs is
//! resolved before the first window exists (the provider and the cache come from it); the
//! user's changes go through `tauri-plugin-store` into the same `settings.json`.

use std::path::PathBuf;

use serde_json::{Map, Value};
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreExt;
use tessera_config::{Resolved, STORE_KEY};
pub use tessera_host::settings::{resolve_environment, resolve_file};
pub use tessera_host::storage::{Storage, StorageStatus};

use crate::error::CommandError;
use crate::state::AppState;

/// What the app starts with.
#[derive(Debug)]
pub struct Startup {
    /// The settings in effect.
    pub resolved: Resolved,
    /// The store file the user's settings live in.
    pub settings_file: PathBuf,
    /// Where tokens are kept.
    pub storage: Storage,
}

/// Applies the user's `changes` (refused whole if any is managed or invalid) and saves them
/// through the store plugin.
pub fn change_settings<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    changes: &Map<String, Value>,
) -> Result<(), CommandError> {
    let file = &state.settings_file;
    let store = app.store(file).map_err(|e| {
        CommandError::new("settings", format!("cannot open {}: {e}", file.display()))
    })?;
    // Held throughout, so that two changes at once (the window moved while the account
    // switched) both land instead of the second overwriting the first.
    let mut current = state.settings.lock().unwrap_or_else(|p| p.into_inner());
    let mut resolved = current.clone();
    let stored = store.get(STORE_KEY);
    let next = resolved
        .change(stored.as_ref(), changes)
        .map_err(CommandError::invalid)?;
    store.set(STORE_KEY, next);
    store.save().map_err(|e| {
        CommandError::new("settings", format!("cannot save {}: {e}", file.display()))
    })?;
    resolved.warnings.clear();
    *current = resolved;
    Ok(())
}

/// Remembers something the app itself keeps (the active account, the window), unless a policy
/// or the environment pins it; a failure is logged, never shown: it costs only convenience.
pub fn remember<R: Runtime>(app: &AppHandle<R>, state: &AppState, name: &str, value: Value) {
    let resolved = state.resolved();
    if !resolved.is_user_settable(name) || resolved.settings.field(name).as_ref() == Some(&value) {
        return;
    }
    let mut change = Map::new();
    change.insert(name.to_owned(), value);
    if let Err(e) = change_settings(app, state, &change) {
        eprintln!("tessera: could not remember {name}: {}", e.message);
    }
}

/// The settings file's key for where each account's provider session lives. Not a setting
/// (nothing to pin or choose): what the app learnt when the account signed in.
const SESSION_PLACES_KEY: &str = "sessionPlaces";

/// Where an account signed in, and so where its provider session (the cookie) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionPlace {
    /// The app's webview (the sign-in window; silent SSO's hidden windows share it).
    Webview,
    /// The system browser.
    Browser,
}

/// The settings store, and the places recorded in it so far.
type SessionPlaces<R> = (
    std::sync::Arc<tauri_plugin_store::Store<R>>,
    Map<String, Value>,
);

fn session_places<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> Option<SessionPlaces<R>> {
    let store = app.store(&state.settings_file).ok()?;
    let places = match store.get(SESSION_PLACES_KEY) {
        Some(Value::Object(places)) => places,
        _ => Map::new(),
    };
    Some((store, places))
}

/// Where `home_account_id`'s session lives: the webview unless it signed in through the
/// browser (an account from before this was recorded signed in there too, or silently).
pub fn session_place<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    home_account_id: &str,
) -> SessionPlace {
    session_places(app, state)
        .and_then(|(_, places)| places.get(home_account_id).cloned())
        .and_then(|place| serde_json::from_value(place).ok())
        .unwrap_or(SessionPlace::Webview)
}

/// Records (or, with `None`, forgets) where an account's session lives; a failure costs only
/// the right place for a later sign-out, so it is logged, not shown.
pub fn set_session_place<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    home_account_id: &str,
    place: Option<SessionPlace>,
) {
    let Some((store, mut places)) = session_places(app, state) else {
        return;
    };
    match place.and_then(|p| serde_json::to_value(p).ok()) {
        Some(value) => places.insert(home_account_id.to_owned(), value),
        None => places.remove(home_account_id),
    };
    store.set(SESSION_PLACES_KEY, Value::Object(places));
    if let Err(e) = store.save() {
        eprintln!("tessera: could not record where the session lives: {e}");
    }
}
