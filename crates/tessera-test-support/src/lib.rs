//! `tessera-test-support`: what Tessera's tests share, in one crate that nothing shipped
//! depends on (the engine uses it as a dev-dependency only, so it never depends on the
//! emulator).
//!
//! - [`user_agent`]: a scripted browser that follows a provider's redirects, keeps its cookies
//!   and fills its sign-in pages over plain HTTP, as a user would;
//! - [`ScriptedBrowser`]: that browser as the engine's interactive and silent agents, stopping
//!   at the redirect URI like the app's sign-in window;
//! - `tessera-browser`: the same browser as a program, a stand-in for the system browser
//!   (`BROWSER=tessera-browser`) that delivers the response to a loopback listener;
//! - [`synthetic`]: token caches of any size without a provider, for the benchmarks;
//! - [`oidc_provider`]: a certified third-party OpenID Provider (node-oidc-provider) to run
//!   the engine and the CLI against.

#![warn(missing_docs)]

mod agents;
pub mod oidc_provider;
pub mod synthetic;
pub mod user_agent;

pub use agents::ScriptedBrowser;
