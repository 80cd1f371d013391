//! Window labels, in one place because capabilities key on them.

/// The app's own window, the only one granted the commands (`capabilities/main.json`).
pub const MAIN: &str = "main";
