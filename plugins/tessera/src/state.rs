//! The plugin's state, managed once per app: the engine and everything the pattern shares
//! between commands and the host's Rust code.

use std::sync::Mutex;
use std::time::Duration;

use tauri::{AppHandle, Runtime};
use tessera_auth::PublicClientApplication;
use tessera_config::{Endpoints, InteractionMode, Settings};
use tessera_host::storage::{Storage, StorageStatus};
use tessera_host::Profiles;
use tokio::sync::{broadcast, watch};

use crate::dto::{AccountInfo, TokenStatus};
use crate::error::CommandError;
use crate::sessions::SessionBook;

/// What the pattern may do, changeable while the app runs (a settings screen, a policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Scopes asked for when a request names none (empty: the engine's defaults, Graph's
    /// profile scopes for Microsoft authorities and the OpenID Connect ones elsewhere).
    pub scopes: Vec<String>,
    /// The interaction `sign_in` uses when the caller names none.
    pub interaction_mode: InteractionMode,
    /// The interactions allowed at all; anything else is refused with `not_allowed`.
    pub allowed_interaction_modes: Vec<InteractionMode>,
    /// How long a sign-in window or the browser may take.
    pub interaction_time_limit: Duration,
    /// The browser sign-in's loopback port (0: any free one).
    pub redirect_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options::from(&Settings::default())
    }
}

impl From<&Settings> for Options {
    fn from(settings: &Settings) -> Options {
        Options {
            scopes: settings.scopes.clone(),
            interaction_mode: settings.interaction_mode,
            allowed_interaction_modes: settings.allowed_interaction_modes.clone(),
            interaction_time_limit: Duration::from_secs(settings.interaction_time_limit_secs),
            redirect_port: settings.redirect_port,
        }
    }
}

/// The plugin's state: reach it with [`TesseraExt::tessera`](crate::TesseraExt::tessera).
pub struct Tessera<R: Runtime> {
    pub(crate) app: AppHandle<R>,
    pub(crate) auth: PublicClientApplication,
    pub(crate) profiles: Profiles,
    pub(crate) endpoints: Endpoints,
    pub(crate) storage: Storage,
    pub(crate) options: Mutex<Options>,
    /// What the token panel shows: the last token's status.
    pub(crate) last_token: Mutex<Option<TokenStatus>>,
    /// A sign-in through the system browser, kept until the webview has its result.
    pub(crate) redirect: RedirectSlot,
    pub(crate) sessions: SessionBook,
    /// The windows that hear the engine's events and that the sign-in window opens over.
    pub(crate) main_window: String,
    pub(crate) expose_access_tokens: bool,
}

impl<R: Runtime> std::fmt::Debug for Tessera<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tessera")
            .field("authority", &self.endpoints.authority.as_str())
            .field("client_id", &self.endpoints.client_id)
            .field("main_window", &self.main_window)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Tessera<R> {
    /// The engine itself, for what the plugin does not wrap (its cache, its events).
    pub fn engine(&self) -> &PublicClientApplication {
        &self.auth
    }

    /// The provider's endpoints in use (authority, client id, redirect URI, Graph).
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The options in effect.
    pub fn options(&self) -> Options {
        self.options
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the options; requests already running keep the ones they started with.
    pub fn set_options(&self, options: Options) {
        *self.options.lock().unwrap_or_else(|p| p.into_inner()) = options;
    }

    /// Where tokens are kept (the encrypted vault, or memory only and why).
    pub fn storage_status(&self) -> StorageStatus {
        self.storage.status(&self.auth)
    }

    /// The engine's events, as they happen (the webview hears them as [`ENGINE_EVENT`]).
    ///
    /// [`ENGINE_EVENT`]: crate::ENGINE_EVENT
    pub fn subscribe(&self) -> broadcast::Receiver<tessera_auth::Event> {
        self.auth.subscribe()
    }

    /// Every signed-in account.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        let active = self.auth.active_account();
        self.auth
            .accounts()
            .iter()
            .map(|account| AccountInfo::new(account, active.as_ref()))
            .collect()
    }

    /// Switches to another signed-in account.
    pub fn set_active_account(
        &self,
        home_account_id: &str,
    ) -> Result<Vec<AccountInfo>, CommandError> {
        self.auth.set_active_account(Some(home_account_id))?;
        Ok(self.accounts())
    }

    /// Where the last token came from, its expiry, scopes, authority and correlation id.
    pub fn token_status(&self) -> Option<TokenStatus> {
        self.last_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Closes the sign-in window or stops waiting for the browser: the sign-in ends with
    /// `user_cancelled`.
    pub fn cancel_sign_in(&self) {
        self.auth.cancel_interaction();
    }

    /// The result of a system-browser sign-in not yet delivered (waiting for it while the
    /// browser is still out), or `None`.
    pub async fn redirect_result(&self) -> Result<Option<TokenStatus>, CommandError> {
        self.redirect.take().await.transpose()
    }

    /// Refuses an interaction the options do not allow.
    pub(crate) fn check_allowed(
        &self,
        interaction: crate::Interaction,
    ) -> Result<(), CommandError> {
        let mode = match interaction {
            crate::Interaction::Popup => InteractionMode::Popup,
            crate::Interaction::Redirect => InteractionMode::Redirect,
            crate::Interaction::None => return Ok(()),
        };
        if self.options().allowed_interaction_modes.contains(&mode) {
            return Ok(());
        }
        Err(CommandError::new(
            "not_allowed",
            "your organisation's policy does not allow this way of signing in",
        ))
    }
}

/// The outcome of a system-browser sign-in.
pub type RedirectOutcome = Result<TokenStatus, CommandError>;

/// MSAL.js's `handleRedirectPromise`: a system-browser sign-in outlives the page that started
/// it (the window may be hidden, minimised or reloaded meanwhile), and its result waits here
/// until the UI takes it.
#[derive(Debug, Default)]
pub struct RedirectSlot(Mutex<Slot>);

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Idle,
    Pending(watch::Receiver<Option<RedirectOutcome>>),
    Done(Box<RedirectOutcome>),
}

impl RedirectSlot {
    /// Marks a sign-in as started; send its outcome through the returned sender.
    pub fn start(&self) -> watch::Sender<Option<RedirectOutcome>> {
        let (sender, receiver) = watch::channel(None);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Slot::Pending(receiver);
        sender
    }

    /// Records the outcome for the UI and wakes whoever waits for it.
    pub fn finish(
        &self,
        sender: &watch::Sender<Option<RedirectOutcome>>,
        outcome: RedirectOutcome,
    ) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Slot::Done(Box::new(outcome.clone()));
        sender.send_replace(Some(outcome));
    }

    /// The outcome not yet delivered (waiting for it if the sign-in is still running), or
    /// `None` when there is nothing to deliver.
    pub async fn take(&self) -> Option<RedirectOutcome> {
        loop {
            let mut receiver = {
                let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
                match std::mem::take(&mut *slot) {
                    Slot::Idle => return None,
                    Slot::Done(outcome) => return Some(*outcome),
                    Slot::Pending(receiver) => {
                        *slot = Slot::Pending(receiver.clone());
                        receiver
                    }
                }
            };
            // Ends when the outcome is sent (or the sign-in task is gone); then look again.
            let _ = receiver.wait_for(Option::is_some).await;
            let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if matches!(*slot, Slot::Pending(_)) && receiver.borrow().is_none() {
                *slot = Slot::Idle;
                return Some(Err(CommandError::new(
                    "user_cancelled",
                    "the browser sign-in ended without a result",
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_browser_sign_in_result_waits_for_the_ui_and_is_delivered_once() {
        let slot = Arc::new(RedirectSlot::default());
        assert_eq!(slot.take().await, None, "nothing started");
        let sender = slot.start();
        // A UI that (re)loads while the browser is out waits for the outcome.
        let waiting = {
            let slot = slot.clone();
            tokio::spawn(async move { slot.take().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let outcome = Err(CommandError::new("user_cancelled", "closed"));
        slot.finish(&sender, outcome.clone());
        assert_eq!(waiting.await.unwrap(), Some(outcome));
        assert_eq!(slot.take().await, None, "delivered once");

        // Finished while no UI asked: kept until one does.
        let sender = slot.start();
        slot.finish(&sender, Err(CommandError::new("timeout", "late")));
        assert_eq!(slot.take().await.unwrap().unwrap_err().kind, "timeout");
    }

    #[tokio::test]
    async fn a_sign_in_task_that_vanishes_is_reported_not_waited_for_forever() {
        let slot = RedirectSlot::default();
        drop(slot.start());
        let outcome = slot.take().await.expect("an outcome");
        assert_eq!(outcome.unwrap_err().kind, "user_cancelled");
    }
}
