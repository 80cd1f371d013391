//! Where each account's provider session lives, so that a sign-out ends it in the right place.
//! Kept in a JSON file the host names (Tessera: its `settings.json`, through the one writer of
//! that file, `tessera_host::settings::update_settings_file`, which the command line uses too).

use std::path::PathBuf;

use serde_json::{Map, Value};
use tessera_host::settings::{read_settings_file, update_settings_file};

/// The file's key for the places. Not a setting (nothing to pin or choose): what the plugin
/// learnt when each account signed in.
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

/// The places, in their file.
#[derive(Debug)]
pub(crate) struct SessionBook {
    pub(crate) file: PathBuf,
}

impl SessionBook {
    fn places(&self) -> Map<String, Value> {
        match read_settings_file(&self.file)
            .ok()
            .and_then(|mut file| file.remove(SESSION_PLACES_KEY))
        {
            Some(Value::Object(places)) => places,
            _ => Map::new(),
        }
    }

    /// Where `home_account_id`'s session lives: the webview unless it signed in through the
    /// browser (an account from before this was recorded signed in there too, or silently).
    pub(crate) fn place(&self, home_account_id: &str) -> SessionPlace {
        self.places()
            .get(home_account_id)
            .cloned()
            .and_then(|place| serde_json::from_value(place).ok())
            .unwrap_or(SessionPlace::Webview)
    }

    /// Records (or, with `None`, forgets) where an account's session lives; a failure costs
    /// only the right place for a later sign-out, so it is logged, not shown.
    pub(crate) fn set(&self, home_account_id: &str, place: Option<SessionPlace>) {
        let recorded = update_settings_file(&self.file, |file| {
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
}
