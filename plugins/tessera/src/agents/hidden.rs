//! The hidden window for silent SSO: MSAL.js's hidden iframe, without the third-party-cookie
//! problem, because the window is a top-level page of the app's own webview data store where the
//! popup left the provider's session cookies.
//!
//! The engine sends `prompt=none` with a `login_hint`; the window is never shown, has a short
//! time limit (10 s, as MSAL's iframe), and is always destroyed afterwards. A provider error
//! (`login_required`, `interaction_required`, `consent_required`) comes back on the redirect URI
//! like a code does, and the engine turns it into `InteractionRequired`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Runtime};
use tessera_auth::{AgentError, AgentRequest, BoxFuture, SilentAgent};
use url::Url;

use super::{run_window, WindowSpec};
use crate::labels;

/// MSAL's `iframeHashTimeout` default.
pub const SILENT_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Numbers hidden windows, so silent requests for different accounts or scopes can run at once.
static NEXT_WINDOW: AtomicU64 = AtomicU64::new(1);

/// The silent agent.
#[derive(Debug, Clone)]
pub struct HiddenAgent<R: Runtime> {
    app: AppHandle<R>,
    redirect_uri: Url,
}

impl<R: Runtime> HiddenAgent<R> {
    /// An agent catching `redirect_uri`.
    pub fn new(app: AppHandle<R>, redirect_uri: Url) -> HiddenAgent<R> {
        HiddenAgent { app, redirect_uri }
    }
}

impl<R: Runtime> SilentAgent for HiddenAgent<R> {
    fn redirect_uri(&self) -> Url {
        self.redirect_uri.clone()
    }

    fn authorize_silently(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        let number = NEXT_WINDOW.fetch_add(1, Ordering::Relaxed);
        let spec = WindowSpec {
            label: format!("{}{number}", labels::SILENT_PREFIX),
            title: "Tessera silent sign-in".to_owned(),
            visible: false,
            reveal_on_page: false,
            time_limit: SILENT_TIME_LIMIT,
        };
        Box::pin(run_window(&self.app, spec, request))
    }
}
