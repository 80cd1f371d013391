//! The embedded sign-in window: the default interactive agent, the desktop equivalent of
//! MSAL.js's popup. It opens over the main window, shows the provider's pages, and ends at the
//! redirect URI, when the user closes it (`UserCancelled`), or at its time limit (`Timeout`).
//! The main window stays usable throughout.

use std::time::Duration;

use tauri::{AppHandle, Runtime};
use tessera_auth::{AgentError, AgentRequest, BoxFuture, InteractionStatus, InteractiveAgent};
use url::Url;

use super::{run_window, WindowSpec};
use crate::labels;

/// The popup agent. Its window shares the app's webview data store, so the provider's session
/// cookies persist across restarts and make silent SSO possible later.
#[derive(Debug, Clone)]
pub struct PopupAgent<R: Runtime> {
    app: AppHandle<R>,
    redirect_uri: Url,
    time_limit: Duration,
}

impl<R: Runtime> PopupAgent<R> {
    /// An agent catching `redirect_uri`, waiting at most `time_limit` for the user.
    pub fn new(app: AppHandle<R>, redirect_uri: Url, time_limit: Duration) -> PopupAgent<R> {
        PopupAgent {
            app,
            redirect_uri,
            time_limit,
        }
    }
}

impl<R: Runtime> InteractiveAgent for PopupAgent<R> {
    fn redirect_uri(&self) -> Url {
        self.redirect_uri.clone()
    }

    fn authorize(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        let host = request
            .authorize_url
            .host_str()
            .unwrap_or("identity provider")
            .to_owned();
        let spec = WindowSpec {
            label: labels::POPUP.to_owned(),
            title: format!("Sign in — {host}"),
            visible: true,
            time_limit: self.time_limit,
        };
        Box::pin(run_window(&self.app, spec, request))
    }

    fn interaction_status(&self) -> InteractionStatus {
        InteractionStatus::Popup
    }
}
