//! The throttling cache: after a 429 or 503 with `Retry-After`, the same request is not sent
//! again before that time; callers get [`Error::Throttled`] with the time left (MSAL's
//! throttling cache).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;

/// Requests that must wait, by request key, until a Unix time.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    until: Mutex<HashMap<String, i64>>,
}

impl Throttle {
    /// `Err(Throttled)` while `key` must wait.
    pub fn check(&self, key: &str, now: i64) -> Result<(), Error> {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        match until.get(key).copied() {
            Some(at) if at > now => Err(Error::Throttled {
                retry_after: Duration::from_secs((at - now) as u64),
            }),
            Some(_) => {
                until.remove(key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Remembers a throttling answer for `key`.
    pub fn record<T>(&self, key: &str, now: i64, outcome: &Result<T, Error>) {
        if let Err(Error::Throttled { retry_after }) = outcome {
            self.until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.to_owned(), now + retry_after.as_secs() as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_key_waits_and_others_do_not() {
        let throttle = Throttle::default();
        let throttled: Result<(), Error> = Err(Error::Throttled {
            retry_after: Duration::from_secs(30),
        });
        throttle.record("a", 1000, &throttled);
        match throttle.check("a", 1010) {
            Err(Error::Throttled { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(20))
            }
            other => panic!("{other:?}"),
        }
        assert!(throttle.check("b", 1010).is_ok());
        assert!(throttle.check("a", 1030).is_ok(), "the wait is over");
        throttle.record("a", 1030, &Ok::<(), Error>(()));
        assert!(throttle.check("a", 1031).is_ok());
    }
}
