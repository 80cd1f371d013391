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
    signing_out: bool,
}

impl<R: Runtime> PopupAgent<R> {
    /// An agent catching `redirect_uri`, waiting at most `time_limit` for the user.
    pub fn new(app: AppHandle<R>, redirect_uri: Url, time_limit: Duration) -> PopupAgent<R> {
        PopupAgent {
            app,
            redirect_uri,
            time_limit,
            signing_out: false,
        }
    }

    /// The same window for a sign-out at the provider (RP-Initiated Logout), in the webview
    /// whose cookies hold the session: hidden while the provider signs out and redirects at
    /// once, shown as soon as it shows a page instead (Entra's account picker when no
    /// `logout_hint` names the account), so the user can answer it or close it.
    pub fn for_sign_out(app: AppHandle<R>, redirect_uri: Url, time_limit: Duration) -> Self {
        PopupAgent {
            signing_out: true,
            ..PopupAgent::new(app, redirect_uri, time_limit)
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
            title: if self.signing_out {
                format!("Sign out — {host}")
            } else {
                format!("Sign in — {host}")
            },
            visible: !self.signing_out,
            reveal_on_page: self.signing_out,
            time_limit: self.time_limit,
        };
        Box::pin(run_window(&self.app, spec, request))
    }

    fn interaction_status(&self) -> InteractionStatus {
        InteractionStatus::Popup
    }
}
