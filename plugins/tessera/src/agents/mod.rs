//! The webview agents: the engine's [`InteractiveAgent`](tessera_auth::InteractiveAgent) and
//! [`SilentAgent`](tessera_auth::SilentAgent) implemented with app windows.
//!
//! Both open a window on the authorize URL and watch its navigations. The first navigation to
//! the redirect URI is cancelled *before it loads* and handed to the engine: the redirect URI is
//! never requested, so the authorization code never reaches a server or the webview's history.
//! The window is then destroyed, outside the navigation handler (destroying a webview from its
//! own callback is not allowed).

mod hidden;
mod popup;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tessera_auth::{AgentError, AgentRequest};
use tokio::sync::oneshot;
use url::Url;

pub use hidden::HiddenAgent;
pub use popup::PopupAgent;

/// Delivers the window's one outcome; later ones (the window's destruction after a captured
/// redirect, say) are dropped.
#[derive(Clone)]
struct Outcome(Arc<Mutex<Option<Sender>>>);

type Sender = oneshot::Sender<Result<Url, AgentError>>;

impl Outcome {
    fn send(&self, outcome: Result<Url, AgentError>) {
        let sender = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }
}

/// How an agent's window looks.
struct WindowSpec {
    label: String,
    title: String,
    visible: bool,
    /// A hidden window that shows itself once the provider shows a page (a sign-out's
    /// account picker), rather than staying hidden while the user is asked something.
    reveal_on_page: bool,
    time_limit: Duration,
}

const POPUP_WIDTH: f64 = 480.0;
const POPUP_HEIGHT: f64 = 640.0;

/// Opens the window, waits for the redirect (or its destruction, a load failure, the time
/// limit), and always destroys it.
async fn run_window<R: Runtime>(
    app: &AppHandle<R>,
    spec: WindowSpec,
    request: AgentRequest,
) -> Result<Url, AgentError> {
    let (sender, receiver) = oneshot::channel();
    let outcome = Outcome(Arc::new(Mutex::new(Some(sender))));
    let redirect_uri = request.redirect_uri.clone();
    let authorize_url = request.authorize_url.clone();
    let on_navigation = {
        let outcome = outcome.clone();
        let redirect_uri = redirect_uri.clone();
        move |url: &Url| {
            // Also called for the initial URL. The redirect URI never loads; everything else
            // only over https (or http on this machine, where a loopback provider lives).
            if is_redirect(url, &redirect_uri) {
                outcome.send(Ok(url.clone()));
                return false;
            }
            may_load(url)
        }
    };
    let window = DestroyOnDrop(open_window(
        app,
        &spec,
        request.authorize_url,
        &redirect_uri,
        on_navigation,
    )?);
    {
        let outcome = outcome.clone();
        window.on_window_event(move |event| {
            if let WindowEvent::Destroyed = event {
                outcome.send(Err(AgentError::Cancelled));
            }
        });
    }
    watch_webview(&window, outcome.clone(), redirect_uri, authorize_url);
    let result = tokio::time::timeout(spec.time_limit, receiver).await;
    drop(window);
    match result {
        Err(_) => Err(AgentError::Timeout),
        // The sender went with the window without a word: it was closed.
        Ok(Err(_)) => Err(AgentError::Cancelled),
        Ok(Ok(outcome)) => outcome,
    }
}

/// Whether the sign-in windows may load `url` (issue 21, point 9): https anywhere, http on
/// loopback only (a provider on this machine, such as the embedded one), and the blank page
/// frames start from. Plain http elsewhere, `file:`, `data:`, `javascript:` and custom schemes
/// are refused: the window shows no address bar, so it must not wander.
pub(crate) fn may_load(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        "about" => matches!(url.path(), "blank" | "srcdoc"),
        _ => false,
    }
}

#[cfg(test)]
mod fence_tests {
    use super::may_load;

    #[test]
    fn the_sign_in_windows_load_https_and_loopback_http_only() {
        for allowed in [
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            "http://127.0.0.1:47100/common/login",
            "http://[::1]:8800/authorize",
            "http://localhost:8400/",
            "about:blank",
        ] {
            assert!(may_load(&allowed.parse().unwrap()), "{allowed}");
        }
        for refused in [
            "http://login.example.com/authorize",
            "http://10.0.0.1/",
            "file:///etc/passwd",
            "data:text/html,<h1>sign in</h1>",
            "javascript:alert(1)",
            "ftp://example.com/",
            "ms-settings:privacy",
            "about:config",
        ] {
            assert!(!may_load(&refused.parse().unwrap()), "{refused}");
        }
    }
}

/// Destroys the window however the wait ends, including when the engine drops the request
/// (`cancel_interaction`), so no sign-in window outlives its request.
struct DestroyOnDrop<R: Runtime>(tauri::WebviewWindow<R>);

impl<R: Runtime> std::ops::Deref for DestroyOnDrop<R> {
    type Target = tauri::WebviewWindow<R>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<R: Runtime> Drop for DestroyOnDrop<R> {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

/// Builds the window (synchronously: the builder cannot cross an `.await`).
fn open_window<R: Runtime>(
    app: &AppHandle<R>,
    spec: &WindowSpec,
    url: Url,
    redirect_uri: &Url,
    on_navigation: impl Fn(&Url) -> bool + Send + 'static,
) -> Result<tauri::WebviewWindow<R>, AgentError> {
    let cannot_open =
        |e: tauri::Error| AgentError::Failed(format!("could not open the sign-in window: {e}"));
    let mut builder = WebviewWindowBuilder::new(app, &spec.label, WebviewUrl::External(url))
        .title(&spec.title)
        .inner_size(POPUP_WIDTH, POPUP_HEIGHT)
        .visible(spec.visible)
        .focused(spec.visible)
        .on_navigation(on_navigation)
        // No window of its own (`window.open`, `target=_blank`): one would have no fence, and
        // on Windows WebView2 opens it as a browser window outside the app's control.
        .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny)
        // Nothing a provider's page offers needs saving to the user's disk.
        .on_download(|_, _| false);
    if spec.visible || spec.reveal_on_page {
        builder = place_over_main(app, builder).map_err(cannot_open)?;
    }
    if spec.reveal_on_page {
        let redirect_uri = redirect_uri.clone();
        builder = builder.on_page_load(move |window, payload| {
            let shown = payload.event() == tauri::webview::PageLoadEvent::Finished
                && !is_redirect(payload.url(), &redirect_uri);
            if shown && !window.is_visible().unwrap_or(true) {
                let _ = window.show();
                let _ = window.set_focus();
            }
        });
    }
    let window = builder.build().map_err(cannot_open)?;
    crate::rendering::apply(&window);
    Ok(window)
}

/// Centred over the main window and attached to it, as a browser popup is; centred on the
/// screen when there is no main window.
fn place_over_main<'a, R: Runtime, M: Manager<R>>(
    app: &AppHandle<R>,
    builder: WebviewWindowBuilder<'a, R, M>,
) -> tauri::Result<WebviewWindowBuilder<'a, R, M>> {
    let label = app
        .try_state::<crate::Tessera<R>>()
        .map_or_else(|| crate::labels::MAIN.to_owned(), |t| t.main_window.clone());
    let Some(main) = app.get_webview_window(&label) else {
        return Ok(builder.center());
    };
    let geometry = main
        .outer_position()
        .ok()
        .zip(main.outer_size().ok())
        .zip(main.scale_factor().ok());
    let builder = match geometry {
        Some(((position, size), scale)) => {
            let position = position.to_logical::<f64>(scale);
            let size = size.to_logical::<f64>(scale);
            builder.position(
                position.x + ((size.width - POPUP_WIDTH) / 2.0).max(0.0),
                position.y + ((size.height - POPUP_HEIGHT) / 2.0).max(0.0),
            )
        }
        None => builder.center(),
    };
    builder.parent(&main)
}

/// Whether `url` is the redirect URI: same scheme, host, port and path (a prefix test would
/// also match `…/nativeclientX` or `…/nativeclient.evil.example`).
fn is_redirect(url: &Url, redirect_uri: &Url) -> bool {
    url.scheme() == redirect_uri.scheme()
        && url.host_str() == redirect_uri.host_str()
        && url.port_or_known_default() == redirect_uri.port_or_known_default()
        && url.path().trim_end_matches('/') == redirect_uri.path().trim_end_matches('/')
}

/// Three things Tauri does not surface, from WebKitGTK's signals:
/// - a failed page load (provider unreachable, TLS failure) ends the request with a network
///   error at once, instead of leaving the user before WebKit's error page until the time limit;
/// - the authorization endpoint answering the request itself with a client error (HTTP 4xx:
///   an unregistered redirect URI, an unknown client) ends it with that, so the app can name
///   the URI to register, instead of waiting while the provider shows its error page;
/// - the page closing itself (`window.close()`, or WebDriver closing it) ends it as cancelled,
///   like the window's destruction does.
#[cfg(target_os = "linux")]
fn watch_webview<R: Runtime>(
    window: &tauri::WebviewWindow<R>,
    outcome: Outcome,
    redirect_uri: Url,
    authorize_url: Url,
) {
    use webkit2gtk::glib::error::ErrorDomain;
    use webkit2gtk::{
        LoadEvent, NetworkError, PolicyError, URIResponseExt, WebResourceExt, WebViewExt,
    };
    let _ = window.with_webview(move |webview| {
        let view = webview.inner();
        {
            let outcome = outcome.clone();
            view.connect_close(move |_| outcome.send(Err(AgentError::Cancelled)));
        }
        {
            let outcome = outcome.clone();
            view.connect_load_changed(move |view, event| {
                if event != LoadEvent::Committed {
                    return;
                }
                let Some(resource) = view.main_resource() else {
                    return;
                };
                let status = resource.response().map_or(0, |r| r.status_code());
                let at_endpoint = resource
                    .uri()
                    .and_then(|uri| Url::parse(&uri).ok())
                    .is_some_and(|url| is_endpoint(&url, &authorize_url));
                if at_endpoint && (400..500).contains(&status) {
                    outcome.send(Err(AgentError::Refused(status as u16)));
                }
            });
        }
        view.connect_load_failed(move |_, _, failing_uri, error| {
                let cancelled_by_us = error.matches(PolicyError::FrameLoadInterruptedByPolicyChange)
                    || error.matches(NetworkError::Cancelled)
                    || Url::parse(failing_uri).is_ok_and(|u| is_redirect(&u, &redirect_uri));
                if !cancelled_by_us {
                    let domain = if error.domain() == NetworkError::domain() {
                        "network error"
                    } else {
                        "page load failed"
                    };
                    outcome.send(Err(AgentError::Failed(format!(
                        "the sign-in page could not be loaded ({domain}: {}): is the identity provider reachable?",
                        error.message()
                    ))));
                }
                // Let WebKit show its error page until the window closes.
                false
            });
    });
}

#[cfg(target_os = "linux")]
/// Whether `url` is the authorization endpoint `authorize_url` names (origin and path).
fn is_endpoint(url: &Url, authorize_url: &Url) -> bool {
    url.origin() == authorize_url.origin() && url.path() == authorize_url.path()
}

#[cfg(not(target_os = "linux"))]
fn watch_webview<R: Runtime>(
    _window: &tauri::WebviewWindow<R>,
    _outcome: Outcome,
    _redirect_uri: Url,
    _authorize_url: Url,
) {
    // Other platforms end an unreachable provider's request at the time limit.
}

#[cfg(test)]
mod tests {
    use super::is_redirect;
    use std::time::Duration;
    use tessera_auth::{AgentError, AgentRequest, InteractiveAgent};
    use url::Url;

    fn request() -> AgentRequest {
        AgentRequest {
            authorize_url: Url::parse("https://login.example.com/authorize?state=s").unwrap(),
            redirect_uri: Url::parse(tessera_auth::NATIVE_CLIENT_REDIRECT_URI).unwrap(),
        }
    }

    // The mock runtime's windows never navigate: exactly the provider that never answers.
    #[test]
    fn a_sign_in_window_without_an_answer_ends_at_its_time_limit() {
        let app = tauri::test::mock_app();
        let popup = super::PopupAgent::new(
            app.handle().clone(),
            request().redirect_uri,
            Duration::from_millis(300),
        );
        let started = std::time::Instant::now();
        let outcome = tauri::async_runtime::block_on(popup.authorize(request()));
        assert_eq!(outcome, Err(AgentError::Timeout));
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(popup.redirect_uri(), request().redirect_uri);
    }

    #[test]
    fn only_the_redirect_uri_itself_is_intercepted() {
        let redirect =
            Url::parse("https://login.microsoftonline.com/common/oauth2/nativeclient").unwrap();
        let yes = |s: &str| is_redirect(&Url::parse(s).unwrap(), &redirect);
        assert!(yes(
            "https://login.microsoftonline.com/common/oauth2/nativeclient?code=x&state=y"
        ));
        assert!(yes(
            "https://login.microsoftonline.com:443/common/oauth2/nativeclient#code=x"
        ));
        assert!(!yes(
            "https://login.microsoftonline.com/common/oauth2/nativeclientX?code=x"
        ));
        assert!(!yes(
            "https://login.microsoftonline.com.evil.example/common/oauth2/nativeclient"
        ));
        assert!(!yes(
            "http://login.microsoftonline.com/common/oauth2/nativeclient"
        ));
        assert!(!yes(
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?redirect_uri=https://login.microsoftonline.com/common/oauth2/nativeclient"
        ));
    }
}
