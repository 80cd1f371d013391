/// Every command the shell exposes to the UI, by name.
///
/// `build.rs` feeds this list to Tauri's app manifest so that the ACL governs the app's own
/// commands (without the manifest, every local window could call them whatever the capability
/// says). A test checks it against `generate_handler!` and `capabilities/main.json`.
pub const COMMANDS: &[&str] = &[
    "about",
    "settings",
    "set_settings",
    "accounts",
    "set_active_account",
    "acquire_token",
    "sign_in",
    "redirect_result",
    "cancel_sign_in",
    "sign_out",
    "profile",
    "profile_photo",
    "token_status",
];
