//! `tessera-auth`: Tessera's token acquisition engine, UI-free.
//!
//! It implements the native-app token pattern as MSAL defines it: [`PublicClientApplication`]
//! tries silently first (cached access token, then refresh token, then the provider's session
//! through a [`SilentAgent`]) and asks for interaction only when the provider demands it, with
//! [`Error::InteractionRequired`]. Interaction itself is an [`InteractiveAgent`]: the app's
//! embedded window, the system browser, or a scripted browser in tests.
//!
//! It never shows a window and knows nothing of Tauri. Secrets are newtypes that redact
//! themselves in `Debug` ([`secret`]).

#![warn(missing_docs)]

pub mod agent;
mod application;
pub mod authority;
pub mod cache;
pub mod challenge;
pub mod clock;
mod error;
pub mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod id_token;
pub mod loopback;
pub mod persistence;
mod request;
pub mod secret;
mod single_flight;
mod throttle;
mod token_client;

/// The type of every access token the engine hands out: token responses of any other type are
/// refused (RFC 6749 §7.1), so callers send them as RFC 6750 bearer credentials.
pub const TOKEN_TYPE: &str = "Bearer";

pub use agent::{AgentError, AgentRequest, BoxFuture, InteractiveAgent, SilentAgent};
pub use application::{
    ApplicationBuilder, AuthenticationResult, CacheLookupPolicy, Config, DeviceCodeInfo,
    DeviceCodeRequest, InteractiveRequest, Prompt, PublicClientApplication, SilentRequest,
    TokenSource, NATIVE_CLIENT_REDIRECT_URI,
};
pub use authority::AuthorityType;
pub use cache::{Account, CacheError, TenantProfile};
pub use error::{Classification, Error, OAuthError, Result};
pub use event::{Event, InteractionStatus};
pub use loopback::{LoopbackAgent, Opener};
pub use persistence::{CacheBlob, CachePersistence, PersistenceError, RefreshLock, SaveMerge};
