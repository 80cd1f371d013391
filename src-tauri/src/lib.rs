//! Tessera's desktop app: the first user of `tauri-plugin-tessera`, which does the signing in.
//! What is left here is Tessera's own: the settings screen and the policy it shows, About,
//! one instance at a time, the start-up (which provider, which vault) and the window.

pub mod command_list;
mod commands;
pub mod config;
mod dto;
mod state;
pub use tessera_host::provider;

use std::process::ExitCode;

pub use dto::About;
pub use state::{AppState, Startup};

use provider::{Provider, ProviderChoice};
use tauri::Manager;
use tauri_plugin_tessera::{labels, TesseraExt};

/// Adds the plugins, Tessera's commands and its state to a builder: the plugin gets the
/// provider's endpoints, the settings and the storage `startup` resolved.
///
/// Generic over the runtime so that tests can pass `tauri::test::mock_builder()`.
pub fn app_builder<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    provider: Provider,
    startup: Startup,
) -> tauri::Builder<R> {
    let state = AppState::new(provider, &startup);
    let tessera = tauri_plugin_tessera::Builder::from_endpoints(state.provider.endpoints.clone())
        .settings(startup.resolved.settings)
        .storage(startup.storage)
        // Where each account's session lives, beside the settings (one writer of the file).
        .session_file(startup.settings_file);
    builder
        .plugin(tessera.build())
        .manage(state)
        .setup(|app| {
            on_start(app.handle());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::about,
            commands::settings,
            commands::set_settings,
        ])
}

/// Start-up work that needs the app: the warnings to the log, the active account remembered
/// for the next start (and for tessera-cli). (Tests under the mock runtime, which never runs
/// setup, call it themselves.)
pub fn on_start<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let tessera = app.tessera();
    // What the window says about the settings and the storage (a value ignored, a file set
    // aside) goes to the log too, now that there is one.
    let storage_warning = tessera.storage_status().warning;
    let resolved = app.state::<AppState>().resolved();
    for warning in resolved.warnings.iter().chain(&storage_warning) {
        log::warn!("{warning}");
    }
    if let Some(main) = app.get_webview_window(labels::MAIN) {
        tauri_plugin_tessera::rendering::apply(&main);
    }
    let mut events = tessera.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(tessera_auth::Event::ActiveAccountChanged { home_account_id }) => {
                    config::remember(&app, "activeAccount", serde_json::json!(home_account_id));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// A second launch hands over to the first: its main window comes to the front.
fn focus_main<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(main) = app.get_webview_window(labels::MAIN) {
        let _ = main.unminimize();
        let _ = main.show();
        let _ = main.set_focus();
    }
}

/// Why the app did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The environment asks for an impossible configuration (exit code 2).
    #[error(transparent)]
    Config(#[from] provider::ConfigError),
    /// The embedded identity provider did not start.
    #[error("{0}")]
    Provider(String),
    /// Tauri failed.
    #[error(transparent)]
    Tauri(#[from] tauri::Error),
}

/// Runs the desktop app until its last window closes. `allow_plaintext_cache` is the user's
/// explicit `--insecure-plaintext-cache`: without a keyring, save tokens unencrypted rather than
/// keep them in memory only.
pub fn run(allow_plaintext_cache: bool) -> Result<(), RunError> {
    let var = |name: &str| std::env::var(name).ok();
    let (resolved, settings_file) = config::resolve_environment(var)?;
    let log_level = resolved.settings.log_level;
    let choice = ProviderChoice::from_settings(&resolved.settings)?;
    // Only now, with a configuration that works, is the keyring touched.
    let startup = Startup {
        resolved,
        settings_file,
        storage: config::Storage::for_app(allow_plaintext_cache, var),
    };
    let provider = tauri::async_runtime::block_on(Provider::start(
        choice,
        tessera_config::app_data_dir().as_deref(),
    ))
    .map_err(RunError::Provider)?;
    // Registered first, as its documentation asks, so a second process exits before doing
    // anything else.
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            focus_main(app)
        }))
        .plugin(log_plugin(log_level))
        .plugin(window_state_plugin())
        .on_window_event(save_geometry_soon);
    app_builder(builder, provider, startup).run(tauri::generate_context!())?;
    Ok(())
}

/// The app's log (the engine's `log` lines included): a file in the app's log folder
/// (`~/.local/share/dev.tessera.desktop/logs/` on Linux), rotated at 1 MB with the last five
/// kept, and standard error; the level is the `logLevel` setting for Tessera's own crates.
/// Other libraries log warnings and errors only, whatever the level: what they trace is not
/// ours to vouch for (a webview library may trace the URLs it navigates to, and the redirect
/// carries the authorization code). Registered by the app only: the global logger is set
/// once per process, and tests build many apps in one.
fn log_plugin<R: tauri::Runtime>(level: tessera_config::LogLevel) -> tauri::plugin::TauriPlugin<R> {
    use tauri_plugin_log::{RotationStrategy, Target, TargetKind};
    tauri_plugin_log::Builder::new()
        .clear_targets()
        .targets([
            Target::new(TargetKind::LogDir { file_name: None }),
            Target::new(TargetKind::Stderr),
        ])
        .rotation_strategy(RotationStrategy::KeepSome(5))
        .max_file_size(1_000_000)
        .level(level.filter())
        .filter(|record| {
            record.target().starts_with("tessera") || record.level() <= log::Level::Warn
        })
        .build()
}

/// What of the main window comes back: its place, its size and whether it was maximised. Not
/// the plugin's default, every flag: the app lets no one change the window's visibility,
/// decorations or full screen, and restoring those too left the sign-in window (a child of
/// the main one) unpainted under Xvfb, its WebDriver screenshot never answered.
const GEOMETRY: tauri_plugin_window_state::StateFlags = tauri_plugin_window_state::StateFlags::SIZE
    .union(tauri_plugin_window_state::StateFlags::POSITION)
    .union(tauri_plugin_window_state::StateFlags::MAXIMIZED);

/// The main window comes back where the user left it, and at its size from before it was
/// maximised (the sign-in windows are the plugin's and open over it: never restored).
/// Registered by the app only, as the log is: the mock runtime's tests do not save windows.
fn window_state_plugin<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_window_state::Builder::new()
        .with_state_flags(GEOMETRY)
        .with_filter(|label| label == labels::MAIN)
        .build()
}

/// Saves the main window's geometry once it has stopped moving or resizing for half a second:
/// the window-state plugin writes its file only when the app exits normally, and an app
/// stopped otherwise (the session ends, a signal) would come back where it was last time.
fn save_geometry_soon<R: tauri::Runtime>(window: &tauri::Window<R>, event: &tauri::WindowEvent) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tauri_plugin_window_state::AppHandleExt;
    /// Bumped by every move or resize; a pending save that is no longer the latest gives up.
    static LATEST: AtomicU64 = AtomicU64::new(0);
    let moved = matches!(
        event,
        tauri::WindowEvent::Moved(_) | tauri::WindowEvent::Resized(_)
    );
    if window.label() != labels::MAIN || !moved {
        return;
    }
    let generation = LATEST.fetch_add(1, Ordering::SeqCst) + 1;
    let app = window.app_handle().clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if LATEST.load(Ordering::SeqCst) != generation {
            return;
        }
        // On the main thread: the plugin holds its lock while it reads the window's size, and a
        // read from another thread waits for the main thread, which may be waiting for that
        // lock to record a move (tauri-apps/plugins-workspace#3594): the app froze for good.
        let saver = app.clone();
        let scheduled = app.run_on_main_thread(move || {
            if let Err(e) = saver.save_window_state(GEOMETRY) {
                log::warn!("could not save where the window is: {e}");
            }
        });
        if let Err(e) = scheduled {
            log::warn!("could not save where the window is: {e}");
        }
    });
}

/// Says why the app stops, on standard error: before the app runs there is no log yet, and
/// the terminal (or the desktop's journal) is where a launcher looks.
fn report(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "tessera: {message}");
}

const USAGE: &str = "usage: tessera [--insecure-plaintext-cache] [--version | --help]

Tessera signs you in to Microsoft Entra ID (or any OpenID Connect provider) and shows your
profile (Microsoft Graph's, or your provider's userinfo). Run without arguments to open the app.

With no configuration it uses its embedded test identity provider (users ada@tessera.test and
alan@tessera.test, password tessera). Sign-ins are saved encrypted, the key in the OS keyring.

Options:
  --insecure-plaintext-cache  when no OS keyring is available, save sign-ins in an
                              unencrypted file instead of keeping them in memory only

Settings are read from settings.json in the app's config folder, then these environment
variables, then the machine's policy file (/etc/tessera/policy.json, or TESSERA_POLICY_FILE):
  TESSERA_CLIENT_ID   application (client) id registered with your provider
  TESSERA_AUTHORITY   authority URL (default https://login.microsoftonline.com/common)
  TESSERA_AUTHORITY_TYPE  entra, b2c, ciam or oidc, when the authority's host does not say
  TESSERA_GRAPH_URL   Microsoft Graph base URL (default: the authority's cloud's)
  TESSERA_REDIRECT_URI  the sign-in window's redirect URI (default: Entra's native-client
                      URI for Microsoft authorities, dev.tessera.desktop:/oauth2redirect else)
  TESSERA_REDIRECT_PORT the browser sign-in's loopback port (default: any free one)
  TESSERA_EXTRA_CA_FILE a PEM file of CA certificates to trust besides the system's
  TESSERA_CACHE_DIR   folder of the token cache (default: the app's data folder)
  TESSERA_LOG_LEVEL   error, warn, info (default), debug or trace: how much goes to the
                      log file in the app's log folder and to standard error

The windows are drawn without GPU compositing, which saves memory; WebKitGTK's
WEBKIT_DISABLE_COMPOSITING_MODE=0 turns it back on.";

/// The binary's entry point: handles `--version` and `--help`, otherwise runs the app.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    let run_with = |allow_plaintext_cache| match run(allow_plaintext_cache) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err @ RunError::Config(_)) => {
            report(&err.to_string());
            ExitCode::from(2)
        }
        Err(err) => {
            report(&err.to_string());
            ExitCode::FAILURE
        }
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => run_with(false),
        ["--insecure-plaintext-cache"] => run_with(true),
        ["--version" | "-V"] => {
            println!("{}", About::of_this_build());
            ExitCode::SUCCESS
        }
        ["--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            report(&format!(
                "unexpected argument(s): {}\n\n{USAGE}",
                args.join(" ")
            ));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod tests;
