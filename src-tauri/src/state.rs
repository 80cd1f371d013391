//! The one state object the shell manages.

use std::path::PathBuf;
use std::sync::Mutex;

use tessera_auth::PublicClientApplication;
use tessera_config::{Resolved, Settings};
use tessera_host::storage::Storage;
use tokio::sync::watch;

use crate::dto::TokenStatus;
use crate::error::CommandError;
use crate::provider::Provider;

/// What the app starts with.
#[derive(Debug)]
pub struct Startup {
    /// The settings in effect.
    pub resolved: Resolved,
    /// The file the user's settings live in.
    pub settings_file: PathBuf,
    /// Where tokens are kept.
    pub storage: Storage,
}

/// Everything the commands share, managed once by Tauri.
#[derive(Debug)]
pub struct AppState {
    /// The identity provider in use (and the embedded one's server).
    pub provider: Provider,
    /// The engine: the app's only `PublicClientApplication`.
    pub auth: PublicClientApplication,
    /// Where the profile comes from (Graph, or the provider's userinfo endpoint).
    pub profiles: tessera_host::Profiles,
    /// The settings in effect, their sources, and the warnings of their load.
    pub settings: Mutex<Resolved>,
    /// The settings this run started with (the provider and the engine use them until the
    /// next start).
    pub started_with: Settings,
    /// Where tokens are kept between runs.
    pub storage: Storage,
    /// What the UI's token panel shows.
    pub last_token: Mutex<Option<TokenStatus>>,
    /// A sign-in through the system browser, kept until the UI has its result.
    pub redirect: RedirectSlot,
    /// The user's settings file.
    pub settings_file: PathBuf,
}

impl AppState {
    /// The engine (its cache in the vault, built as every host builds it:
    /// [`tessera_host::build_engine`]) and the profile's source for `provider`.
    pub fn new(provider: Provider, startup: Startup) -> Result<AppState, String> {
        let Startup {
            resolved,
            settings_file,
            storage,
        } = startup;
        let endpoints = &provider.endpoints;
        let auth = tessera_host::build_engine(endpoints, &resolved.settings, &storage)?;
        let profiles = tessera_host::Profiles::new(endpoints.clone());
        Ok(AppState {
            provider,
            auth,
            profiles,
            started_with: resolved.settings.clone(),
            settings: Mutex::new(resolved),
            storage,
            last_token: Mutex::new(None),
            redirect: RedirectSlot::default(),
            settings_file,
        })
    }

    /// The settings in effect, with their sources.
    pub fn resolved(&self) -> Resolved {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The settings in effect.
    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settings
            .clone()
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
