/// The commands of Tessera's own window (the sign-in pattern's are the plugin's,
/// `plugin:tessera|…`), by name.
///
/// `build.rs` feeds this list to Tauri's app manifest so that the ACL governs them too
/// (without the manifest, every local window could call them whatever the capability says).
/// A test checks it against `generate_handler!` and `capabilities/main.json`.
pub const COMMANDS: &[&str] = &["about", "settings", "set_settings"];
