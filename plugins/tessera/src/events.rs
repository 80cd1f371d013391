//! Forwards the engine's events to the host's main window as the Tauri event
//! [`ENGINE_EVENT`].

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use crate::dto::EngineEvent;
use crate::state::Tessera;

/// The engine's events ([`EngineEvent`], JSON with a `type` tag).
pub const ENGINE_EVENT: &str = "tessera:engine";
/// A system-browser sign-in finished: call `redirect_result`.
pub const REDIRECT_EVENT: &str = "tessera:redirect-finished";

/// Relays every engine event to the main window for as long as the app runs.
pub(crate) fn forward<R: Runtime>(app: AppHandle<R>) {
    let (mut events, target) = {
        let tessera = app.state::<Tessera<R>>();
        (tessera.subscribe(), tessera.main_window.clone())
    };
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                // To the main window only: the sign-in windows show the provider's pages,
                // which have no business hearing who signed in when.
                Ok(event) => {
                    let _ = app.emit_to(target.as_str(), ENGINE_EVENT, EngineEvent::from(event));
                }
                // A burst outran the webview: the oldest were dropped; carry on with the rest.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
}
