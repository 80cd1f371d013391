//! Window labels, in one place because capabilities key on them: a host grants the plugin's
//! permissions to its own window, never to these sign-in windows.

/// The host's main window, by default ([`Builder::main_window`](crate::Builder::main_window)):
/// the one that hears the engine's events and that sign-in windows open over.
pub const MAIN: &str = "main";
/// The embedded sign-in window, which shows the identity provider's pages and gets no IPC.
pub const POPUP: &str = "auth-popup";
/// Hidden silent-SSO windows are labelled with this prefix and a number; no IPC either.
pub const SILENT_PREFIX: &str = "auth-silent-";
