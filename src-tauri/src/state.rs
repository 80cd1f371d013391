//! The one state object the shell manages.

use crate::provider::Provider;

/// Everything the commands share, managed once by Tauri.
#[derive(Debug)]
pub struct AppState {
    /// The identity provider in use (and the embedded one's server).
    pub provider: Provider,
}
