//! Settings, policy and token storage as the shell wires them. Everything the engine needs is
//! resolved before the first window exists (the provider and the cache come from it); the
//! user's changes go into the same `settings.json` through its one writer
//! (`tessera_host::settings::update_settings_file`), which the CLI uses too.

use serde_json::{Map, Value};
use tessera_host::settings::{read_settings_file, update_settings_file};
pub use tessera_host::settings::{resolve_environment, resolve_file};
pub use tessera_host::storage::{Storage, StorageStatus};

use crate::error::CommandError;
use crate::state::AppState;

/// Applies the user's `changes` (refused whole if any is managed or invalid) and saves them.
pub fn change_settings(state: &AppState, changes: &Map<String, Value>) -> Result<(), CommandError> {
    // Held throughout, so that two changes at once (the window moved while the account
    // switched) apply in turn to the in-memory settings too.
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
    *current = resolved;
    Ok(())
}

/// Remembers something the app itself keeps (the active account, the window), unless a policy
/// or the environment pins it; a failure is logged, never shown: it costs only convenience.
pub fn remember(state: &AppState, name: &str, value: Value) {
    let resolved = state.resolved();
    if !resolved.is_user_settable(name) || resolved.settings.field(name).as_ref() == Some(&value) {
        return;
    }
    let mut change = Map::new();
    change.insert(name.to_owned(), value);
    if let Err(e) = change_settings(state, &change) {
        log::warn!("could not remember {name}: {}", e.message);
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

/// The places recorded so far, as the settings file has them now.
fn session_places(state: &AppState) -> Map<String, Value> {
    match read_settings_file(&state.settings_file)
        .ok()
        .and_then(|mut file| file.remove(SESSION_PLACES_KEY))
    {
        Some(Value::Object(places)) => places,
        _ => Map::new(),
    }
}

/// Where `home_account_id`'s session lives: the webview unless it signed in through the
/// browser (an account from before this was recorded signed in there too, or silently).
pub fn session_place(state: &AppState, home_account_id: &str) -> SessionPlace {
    session_places(state)
        .get(home_account_id)
        .cloned()
        .and_then(|place| serde_json::from_value(place).ok())
        .unwrap_or(SessionPlace::Webview)
}

/// Records (or, with `None`, forgets) where an account's session lives; a failure costs only
/// the right place for a later sign-out, so it is logged, not shown.
pub fn set_session_place(state: &AppState, home_account_id: &str, place: Option<SessionPlace>) {
    let recorded = update_settings_file(&state.settings_file, |file| {
        let mut places = match file.remove(SESSION_PLACES_KEY) {
            Some(Value::Object(places)) => places,
            _ => Map::new(),
        };
        match place.and_then(|p| serde_json::to_value(p).ok()) {
            Some(value) => places.insert(home_account_id.to_owned(), value),
            None => places.remove(home_account_id),
        };
        file.insert(SESSION_PLACES_KEY.to_owned(), Value::Object(places));
        Ok(())
    });
    if let Err(e) = recorded {
        log::warn!("could not record where the session lives: {e}");
    }
}
