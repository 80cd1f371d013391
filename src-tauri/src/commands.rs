//! The commands, the only API the UI has. Each is a thin async fn: take the arguments, call one
//! engine method, map the result to a DTO.

use crate::dto::About;

/// The product name, version, commit and build date of this binary.
#[tauri::command]
pub async fn about() -> About {
    About::of_this_build()
}
