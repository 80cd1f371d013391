//! Tessera's desktop shell: windows, commands, events and plugin wiring.
//!
//! The shell knows nothing about OAuth: token acquisition lives in the UI-free engine crates and
//! the shell only adapts them to Tauri. The UI in `ui/` reaches the shell through the commands
//! listed in [`command_list::COMMANDS`], granted to the main window alone.

pub mod command_list;
mod commands;
mod dto;
pub mod labels;
pub mod provider;
mod state;

use std::process::ExitCode;

pub use dto::About;
pub use state::AppState;

use provider::{Provider, ProviderChoice};

/// Adds the shell's commands, plugins and state to a builder.
///
/// Generic over the runtime so that tests can pass `tauri::test::mock_builder()`.
pub fn app_builder<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    state: AppState,
) -> tauri::Builder<R> {
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::about,
            commands::settings
        ])
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

/// Runs the desktop app until its last window closes.
pub fn run() -> Result<(), RunError> {
    let choice = ProviderChoice::from_env(|name| std::env::var(name).ok())?;
    let provider =
        tauri::async_runtime::block_on(Provider::start(choice)).map_err(RunError::Provider)?;
    app_builder(tauri::Builder::default(), AppState { provider })
        .run(tauri::generate_context!())?;
    Ok(())
}

const USAGE: &str = "usage: tessera [--version | --help]

Tessera signs you in to Microsoft Entra ID (or any OpenID Connect provider) and shows your
Microsoft Graph profile. Run without arguments to open the app.

With no configuration it uses its embedded test identity provider (users ada@tessera.test and
alan@tessera.test, password tessera). Environment:
  TESSERA_CLIENT_ID   application (client) id registered with your provider
  TESSERA_AUTHORITY   authority URL (default https://login.microsoftonline.com/common)
  TESSERA_GRAPH_URL   Microsoft Graph base URL (default https://graph.microsoft.com/v1.0)";

/// The binary's entry point: handles `--version` and `--help`, otherwise runs the app.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    match args.first().map(String::as_str) {
        None => match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err @ RunError::Config(_)) => {
                eprintln!("tessera: {err}");
                ExitCode::from(2)
            }
            Err(err) => {
                eprintln!("tessera: {err}");
                ExitCode::FAILURE
            }
        },
        Some("--version" | "-V") if args.len() == 1 => {
            println!("{}", About::of_this_build());
            ExitCode::SUCCESS
        }
        Some("--help" | "-h") if args.len() == 1 => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(_) => {
            eprintln!(
                "tessera: unexpected argument(s): {}\n\n{USAGE}",
                args.join(" ")
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests;
