//! `tessera-host`: what every host of Tessera's engine shares, UI-free. The desktop app
//! (`src-tauri`) and the command line (`tessera-cli`) both resolve their settings, pick the
//! identity provider, open the token vault and build the engine through this crate, so that
//! they are one client to the provider and a sign-in in one is a sign-in in the other.

pub mod engine;
pub mod profile;
pub mod provider;
pub mod settings;
pub mod storage;

pub use engine::{build_engine, engine_config};
pub use profile::{ProfileSource, Profiles};
pub use provider::{Provider, ProviderChoice};
pub use settings::{remember_active_account, resolve_environment, resolve_file};
pub use storage::{Storage, StorageStatus};
