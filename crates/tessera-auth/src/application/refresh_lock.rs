//! One redemption of an account's refresh token at a time, across processes (issue: a provider
//! that rotates refresh tokens refuses a spent one; one that applies RFC 9700 §4.14.2 reuse
//! detection revokes the whole grant when it sees one). In this process, an async mutex per
//! account and client; across processes, the persistence layer's lock
//! ([`crate::CachePersistence::try_lock_refresh`]), polled up to the HTTP time limit. Whoever
//! waited reloads the cache before redeeming, so it redeems the token the other stored, or
//! uses the access token the other got, instead of a spent one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PublicClientApplication;
use crate::cache::Account;
use crate::persistence::RefreshLock;

/// The in-process half: one async mutex per account and client.
#[derive(Debug, Default)]
pub(super) struct Gates(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

/// A held refresh lock: both halves, released together when dropped.
#[derive(Debug)]
pub(super) struct Held {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _shared: Option<RefreshLock>,
    /// Whether someone else held it when we asked: the cache may hold their result.
    pub waited: bool,
}

/// How often the shared lock is tried while another process holds it: soon at first (a
/// refresh takes tens of milliseconds), then every quarter second.
fn poll_interval(attempt: u32) -> Duration {
    Duration::from_millis((20u64 << attempt.min(4)).min(250))
}

impl PublicClientApplication {
    /// Takes the refresh lock of `account` for this client. Never fails: when the shared lock
    /// cannot be had (an unwritable folder, or held beyond the HTTP time limit by a process
    /// that hangs), the redemption goes ahead without it, as it did before there was one, and
    /// the log says so.
    pub(super) async fn lock_refresh(&self, account: &Account) -> Held {
        let key = format!(
            "{}|{}|{}",
            account.home_account_id,
            account.environment,
            self.inner.config.client_id.to_ascii_lowercase()
        );
        let gate = self
            .inner
            .refresh_gates
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let mut waited = false;
        let local = match gate.clone().try_lock_owned() {
            Ok(local) => local,
            Err(_) => {
                waited = true;
                gate.lock_owned().await
            }
        };
        let Some(persistence) = &self.inner.persistence else {
            return Held {
                _local: local,
                _shared: None,
                waited,
            };
        };
        let deadline = Instant::now() + self.inner.config.http.timeout;
        let mut attempt = 0;
        let shared = loop {
            match persistence.try_lock_refresh(&key) {
                Ok(Some(held)) => break Some(held),
                Ok(None) if Instant::now() < deadline => {
                    waited = true;
                    tokio::time::sleep(poll_interval(attempt)).await;
                    attempt += 1;
                }
                Ok(None) => {
                    log::warn!(
                        "the refresh lock of {} is still held by another process after {:?}; redeeming without it",
                        account.home_account_id,
                        self.inner.config.http.timeout
                    );
                    break None;
                }
                Err(error) => {
                    log::warn!("cannot take the refresh lock ({error}); redeeming without it");
                    break None;
                }
            }
        };
        Held {
            _local: local,
            _shared: shared,
            waited,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_poll_starts_soon_and_settles_at_a_quarter_second() {
        let intervals: Vec<u64> = (0..8)
            .map(|a| super::poll_interval(a).as_millis() as u64)
            .collect();
        assert_eq!(intervals, [20, 40, 80, 160, 250, 250, 250, 250]);
    }
}
