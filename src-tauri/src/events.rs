//! Forwards the engine's events to the UI as the Tauri event [`ENGINE_EVENT`].

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tessera_auth::{Event, PublicClientApplication};
use tokio::sync::broadcast::error::RecvError;

/// The engine's events (`tessera_auth::Event`, JSON with a `type` tag).
pub const ENGINE_EVENT: &str = "tessera:engine";
/// A system-browser sign-in finished: call `redirect_result`.
pub const REDIRECT_EVENT: &str = "tessera:redirect-finished";

/// Relays every engine event to the UI for as long as the app runs, and remembers the active
/// account for the next start.
pub fn forward<R: Runtime>(app: AppHandle<R>, auth: &PublicClientApplication) {
    let mut events = auth.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Event::ActiveAccountChanged { home_account_id } = &event {
                        let state = app.state::<crate::AppState>();
                        let id = serde_json::json!(home_account_id);
                        crate::config::remember(&state, "activeAccount", id);
                    }
                    // To the main window only: the sign-in windows show the provider's
                    // pages, which have no business hearing who signed in when.
                    let _ = app.emit_to(crate::labels::MAIN, ENGINE_EVENT, &event);
                }
                // A burst outran the UI: the oldest were dropped; carry on with the rest.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
}
