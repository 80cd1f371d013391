//! # tauri-plugin-tessera
//!
//! MSAL-grade sign-in for any Tauri v2 app: Microsoft Entra ID (and B2C, External ID, the
//! sovereign clouds) or any OpenID Connect provider, with the pattern every MSAL documents:
//! **silent first** (a cached access token, the refresh token, then the provider's session in a
//! hidden window with `prompt=none`), and **interaction only when the provider demands it**
//! (an embedded sign-in window acting as the popup, or the system browser with a loopback
//! redirect, RFC 8252). Tokens are kept encrypted on the device with the key in the OS keyring.
//!
//! ```ignore
//! // (Not compiled here: `generate_context!` needs an app's tauri.conf.json. The example app,
//! // examples/sign-in, is this program, and it is built and tested.)
//! use tauri_plugin_tessera::TesseraExt;
//!
//! tauri::Builder::default()
//!     .plugin(tauri_plugin_tessera::init(
//!         "00000000-0000-0000-0000-000000000000",
//!         "https://login.microsoftonline.com/common".parse().unwrap(),
//!     ))
//!     .setup(|app| {
//!         let tessera = app.tessera();
//!         println!("{} account(s) signed in", tessera.accounts().len());
//!         Ok(())
//!     })
//!     .run(tauri::generate_context!())
//!     .expect("the app runs");
//! ```
//!
//! The webview reaches the plugin through the commands in [`COMMANDS`] (guest-js:
//! `tauri-plugin-tessera-api`), each behind its own permission: the host's capability grants
//! `tessera:default` (everything but [`access_token`](Builder::expose_access_tokens)) to the
//! windows that may sign in. No command ever returns a refresh or an ID token.

#![warn(missing_docs)]

mod acquire;
mod agents;
mod builder;
mod client;
mod command_list;
mod commands;
mod dto;
mod error;
mod events;
pub mod labels;
pub mod rendering;
mod sessions;
mod state;

use tauri::{Manager, Runtime};

pub use acquire::Granted;
pub use builder::{init, Builder};
pub use command_list::COMMANDS;
pub use dto::{
    AccountInfo, EngineEvent, Interaction, SignInPrompt, TenantInfo, TokenRequest, TokenStatus,
};
pub use error::CommandError;
pub use events::{ENGINE_EVENT, REDIRECT_EVENT};
pub use sessions::SessionPlace;
pub use state::{Options, Tessera};
/// The engine's types a host may meet through [`Tessera`].
pub use tessera_auth::{AuthenticationResult, PublicClientApplication};
pub use tessera_config::InteractionMode;
pub use tessera_graph::Profile;
pub use tessera_host::storage::{Storage, StorageStatus};

/// Access to the plugin from Rust: `app.tessera()` on an `App`, `AppHandle` or window.
pub trait TesseraExt<R: Runtime> {
    /// The plugin's state. Panics when the plugin is not registered (as every plugin of
    /// plugins-workspace does): registration is the host's one-time setup, not a runtime
    /// condition.
    fn tessera(&self) -> &Tessera<R>;
}

impl<R: Runtime, T: Manager<R>> TesseraExt<R> for T {
    fn tessera(&self) -> &Tessera<R> {
        self.state::<Tessera<R>>().inner()
    }
}

#[cfg(test)]
mod tests;
