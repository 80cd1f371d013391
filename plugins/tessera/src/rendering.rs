//! How WebKitGTK draws Tessera's pages: without GPU compositing, unless the user asks for it.
//!
//! In accelerated compositing mode each web process keeps an OpenGL context and its layer
//! buffers; without a GPU (a virtual machine, a remote desktop, Xvfb) that is Mesa's software
//! renderer, and it held about 100 MB more per web process for pages as plain as Tessera's and
//! the provider's sign-in forms (`scripts/perf` prints the app's memory both ways). Nothing
//! here animates enough to need the GPU, and compositing mode is also behind the blank or
//! flickering windows WebKitGTK shows with some drivers.
//!
//! WebKit's own switch, `WEBKIT_DISABLE_COMPOSITING_MODE`, decides when it is set: `0` lets
//! WebKit composite as it would by default, anything else keeps compositing off.

use tauri::{Runtime, WebviewWindow};

/// WebKitGTK's environment variable for compositing mode.
pub const WEBKIT_COMPOSITING_VARIABLE: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Whether Tessera turns compositing off itself: only when the user has not chosen through
/// WebKit's variable.
pub fn compositing_off_by_default(var: impl Fn(&str) -> Option<String>) -> bool {
    var(WEBKIT_COMPOSITING_VARIABLE).is_none()
}

/// Draws `window`'s pages without compositing unless the user chose otherwise. Called for every
/// window as soon as it is built (Tauri offers no earlier hook), while its first page loads.
pub fn apply<R: Runtime>(window: &WebviewWindow<R>) {
    if !compositing_off_by_default(|name| std::env::var(name).ok()) {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        let _ = window.with_webview(|webview| {
            if let Some(settings) = WebViewExt::settings(&webview.inner()) {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_is_off_unless_webkits_variable_is_set() {
        assert!(compositing_off_by_default(|_| None));
        for value in ["0", "1", ""] {
            assert!(
                !compositing_off_by_default(
                    |name| (name == WEBKIT_COMPOSITING_VARIABLE).then(|| value.to_owned())
                ),
                "{WEBKIT_COMPOSITING_VARIABLE}={value:?} is the user's choice"
            );
        }
    }
}
