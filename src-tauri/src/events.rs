//! Forwards the engine's events to the UI as the Tauri event [`ENGINE_EVENT`].

use tauri::{AppHandle, Emitter, Runtime};
use tessera_auth::PublicClientApplication;
use tokio::sync::broadcast::error::RecvError;

/// The engine's events (`tessera_auth::Event`, JSON with a `type` tag).
pub const ENGINE_EVENT: &str = "tessera:engine";
/// A system-browser sign-in finished: call `redirect_result`.
pub const REDIRECT_EVENT: &str = "tessera:redirect-finished";

/// Relays every engine event to the UI for as long as the app runs.
pub fn forward<R: Runtime>(app: AppHandle<R>, auth: &PublicClientApplication) {
    let mut events = auth.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let _ = app.emit(ENGINE_EVENT, &event);
                }
                // A burst outran the UI: the oldest were dropped; carry on with the rest.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
}
