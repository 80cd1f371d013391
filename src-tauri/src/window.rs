//! The main window comes back where the user left it: its geometry is a setting, saved shortly
//! after the window stops moving or resizing, and restored at start-up when it still fits on a
//! monitor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tauri::{Manager, PhysicalPosition, PhysicalSize, Runtime, WebviewWindow, Window, WindowEvent};
use tessera_config::WindowGeometry;

use crate::labels;
use crate::state::AppState;

/// Moves and resizes come in bursts while the user drags: save once the burst is over.
const SETTLE: Duration = Duration::from_millis(500);

/// Bumped by every move or resize; a pending save that is no longer the latest gives up.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Puts the window back at `geometry` if at least a corner of it is on a monitor (a monitor
/// unplugged since must not leave the window out of sight).
pub fn restore<R: Runtime>(main: &WebviewWindow<R>, geometry: Option<WindowGeometry>) {
    let Some(geometry) = geometry else {
        return;
    };
    let monitors = main.available_monitors().unwrap_or_default();
    let visible = monitors.iter().any(|monitor| {
        let (position, size) = (monitor.position(), monitor.size());
        let right = position.x + i32::try_from(size.width).unwrap_or(i32::MAX);
        let bottom = position.y + i32::try_from(size.height).unwrap_or(i32::MAX);
        // The title bar's left end, where the user grabs the window, must be on this monitor.
        (position.x..right - 100).contains(&geometry.x)
            && (position.y..bottom - 50).contains(&geometry.y)
    });
    if !visible {
        log::warn!("the saved window position is off every monitor; ignoring it");
        return;
    }
    let _ = main.set_size(PhysicalSize::new(geometry.width, geometry.height));
    let _ = main.set_position(PhysicalPosition::new(geometry.x, geometry.y));
    if geometry.maximized {
        let _ = main.maximize();
    }
}

/// The builder's window-event hook: schedules a save of the main window's geometry.
pub fn on_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if window.label() != labels::MAIN
        || !matches!(event, WindowEvent::Moved(_) | WindowEvent::Resized(_))
    {
        return;
    }
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    let window = window.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        if GENERATION.load(Ordering::SeqCst) != generation {
            return;
        }
        if let Some(geometry) = geometry_of(&window) {
            let app = window.app_handle();
            let state = app.state::<AppState>();
            crate::config::remember(&state, "window", serde_json::json!(geometry));
        }
    });
}

fn geometry_of<R: Runtime>(window: &Window<R>) -> Option<WindowGeometry> {
    if window.is_minimized().unwrap_or(false) {
        return None;
    }
    let position = window.outer_position().ok()?;
    let size = window.inner_size().ok()?;
    Some(WindowGeometry {
        x: position.x,
        y: position.y,
        width: size.width,
        height: size.height,
        maximized: window.is_maximized().unwrap_or(false),
    })
}
