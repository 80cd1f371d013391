/// Every command the plugin exposes to a webview, by name (`plugin:tessera|<name>` over IPC).
///
/// `build.rs` generates an `allow-<name>` and a `deny-<name>` permission for each; the host's
/// capability decides which window may call which. A test checks the list against the
/// handler and the default permission set.
pub const COMMANDS: &[&str] = &[
    "accounts",
    "set_active_account",
    "acquire_token",
    "access_token",
    "sign_in",
    "redirect_result",
    "cancel_sign_in",
    "sign_out",
    "profile",
    "profile_photo",
    "token_status",
];
