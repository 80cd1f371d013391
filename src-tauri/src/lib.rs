//! Tessera's desktop shell: windows, commands, events and plugin wiring.
//!
//! The shell knows nothing about OAuth: token acquisition lives in the UI-free engine crates and
//! the shell only adapts them to Tauri. The UI in `ui/` reaches the shell through the commands
//! listed in [`command_list::COMMANDS`], granted to the main window alone.

pub mod command_list;
mod commands;
mod dto;
pub mod labels;

use std::process::ExitCode;

pub use dto::About;

/// Adds the shell's commands, plugins and state to a builder.
///
/// Generic over the runtime so that tests can pass `tauri::test::mock_builder()`.
pub fn app_builder<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![commands::about])
}

/// Runs the desktop app until its last window closes.
pub fn run() -> tauri::Result<()> {
    app_builder(tauri::Builder::default()).run(tauri::generate_context!())
}

const USAGE: &str = "usage: tessera [--version | --help]

Tessera signs you in to Microsoft Entra ID (or any OpenID Connect provider) and shows your
Microsoft Graph profile. Run without arguments to open the app.";

/// The binary's entry point: handles `--version` and `--help`, otherwise runs the app.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    match args.first().map(String::as_str) {
        None => match run() {
            Ok(()) => ExitCode::SUCCESS,
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
