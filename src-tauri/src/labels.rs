//! Window labels, in one place because capabilities key on them.

/// The app's own window, the only one granted the commands (`capabilities/main.json`).
pub const MAIN: &str = "main";
/// The embedded sign-in window, which shows the identity provider's pages and gets no IPC.
pub const POPUP: &str = "auth-popup";
/// Hidden silent-SSO windows are labelled with this prefix and a number; no IPC either.
pub const SILENT_PREFIX: &str = "auth-silent-";
