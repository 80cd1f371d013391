//! The app's own state: its settings and the provider it started with. The engine is the
//! plugin's (`app.tessera()`).

use std::path::PathBuf;
use std::sync::Mutex;

use tessera_config::{Resolved, Settings};
use tessera_host::storage::Storage;

use crate::provider::Provider;

/// What the app starts with.
#[derive(Debug)]
pub struct Startup {
    /// The settings in effect.
    pub resolved: Resolved,
    /// The file the user's settings live in.
    pub settings_file: PathBuf,
    /// Where tokens are kept.
    pub storage: Storage,
}

/// What Tessera's own commands share, managed once by Tauri.
#[derive(Debug)]
pub struct AppState {
    /// The identity provider in use (and the embedded one's server).
    pub provider: Provider,
    /// The settings in effect, their sources, and the warnings of their load.
    pub settings: Mutex<Resolved>,
    /// The settings this run started with (the provider and the engine use them until the
    /// next start).
    pub started_with: Settings,
    /// The user's settings file.
    pub settings_file: PathBuf,
}

impl AppState {
    /// The app's state for `provider`; the storage goes to the plugin.
    pub fn new(provider: Provider, startup: &Startup) -> AppState {
        AppState {
            provider,
            started_with: startup.resolved.settings.clone(),
            settings: Mutex::new(startup.resolved.clone()),
            settings_file: startup.settings_file.clone(),
        }
    }

    /// The settings in effect, with their sources.
    pub fn resolved(&self) -> Resolved {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The settings in effect.
    pub fn settings(&self) -> Settings {
        self.resolved().settings
    }
}
