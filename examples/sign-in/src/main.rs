//! The smallest app on tauri-plugin-tessera: one window that signs in, shows the user's name,
//! gets a token silently and signs out. Set `EXAMPLE_CLIENT_ID` and `EXAMPLE_AUTHORITY` to
//! your app registration (Entra ID, or any OpenID Connect provider).

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
    let client_id = var("EXAMPLE_CLIENT_ID", "00000000-0000-0000-0000-000000000000");
    let authority = var(
        "EXAMPLE_AUTHORITY",
        "https://login.microsoftonline.com/common",
    );
    let authority = authority.parse().expect("EXAMPLE_AUTHORITY must be a URL");
    tauri::Builder::default()
        .plugin(tauri_plugin_tessera::init(client_id, authority))
        .run(tauri::generate_context!())
        .expect("the example app runs");
}
