//! Tessera's desktop shell: windows, commands, events and plugin wiring.
//!
//! The shell knows nothing about OAuth: token acquisition lives in the UI-free engine crates and
//! the shell only adapts them to Tauri. The UI in `ui/` reaches the shell through the commands
//! listed in [`command_list::COMMANDS`], granted to the main window alone.

mod acquire;
mod agents;
pub mod command_list;
mod commands;
pub mod config;
mod dto;
mod error;
pub mod events;
pub mod labels;
pub use tessera_host::provider;
mod rendering;
mod state;
mod window;

use std::process::ExitCode;

pub use dto::About;
pub use error::CommandError;
pub use state::AppState;

use provider::{Provider, ProviderChoice};
use state::Startup;
use tauri::Manager;

/// Adds the shell's commands, plugins and state to a builder.
///
/// Generic over the runtime so that tests can pass `tauri::test::mock_builder()`.
pub fn app_builder<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    state: AppState,
) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        .setup(|app| {
            on_start(app.handle());
            Ok(())
        })
        .on_window_event(window::on_event)
        .invoke_handler(tauri::generate_handler![
            commands::about,
            commands::settings,
            commands::set_settings,
            commands::accounts,
            commands::set_active_account,
            commands::acquire_token,
            commands::sign_in,
            commands::redirect_result,
            commands::cancel_sign_in,
            commands::sign_out,
            commands::profile,
            commands::profile_photo,
            commands::token_status,
        ])
}

/// Start-up work that needs the app: the window where it was, event forwarding. (Tests under
/// the mock runtime, which never runs setup, call it themselves.)
fn on_start<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let state = app.state::<AppState>();
    // What the window says about the settings and the storage (a value ignored, a file set
    // aside) goes to the log too, now that there is one.
    let storage_warning = state.storage.status(&state.auth).warning;
    for warning in state.resolved().warnings.iter().chain(&storage_warning) {
        log::warn!("{warning}");
    }
    if let Some(main) = app.get_webview_window(labels::MAIN) {
        rendering::apply(&main);
        window::restore(&main, state.settings().window);
    }
    events::forward(app.clone(), &state.auth);
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
    let state = AppState::new(provider, startup).map_err(RunError::Provider)?;
    // Registered first, as its documentation asks, so a second process exits before doing
    // anything else.
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            focus_main(app)
        }))
        .plugin(log_plugin(log_level));
    app_builder(builder, state).run(tauri::generate_context!())?;
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
