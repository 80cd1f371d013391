//! Client-side throttling as MSAL does it, on every call to the token endpoint.
//!
//! - **Retry-After**: after a 429, any 5xx, or any other non-2xx answer that carries
//!   `Retry-After`, the same request (its *thumbprint*: token endpoint, client, scopes, claims,
//!   account) is not sent again for `Retry-After` (delta-seconds or an HTTP-date, RFC 9110
//!   §10.2.3), else 60 s, at most 3 600 s; callers get [`Error::Throttled`] with the time left
//!   (msal-common `ThrottlingUtils` and its "Client-side throttling" doc: 429/5xx, or
//!   `Retry-After` without 2xx; `DEFAULT_THROTTLE_TIME_SECONDS` 60,
//!   `DEFAULT_MAX_THROTTLE_TIME_SECONDS` 3 600).
//! - **UI required**: an interaction-required answer (HTTP 400) to a refresh-token redemption
//!   is remembered for 120 s, keyed on the request and the refresh token it sent (MSAL.NET
//!   `UiRequiredProvider`, `s_uiRequiredExpiration` 120 s; MSAL Python caches such a 400 the
//!   same way): a dead refresh token is not resent on every silent call, and a new sign-in,
//!   whose refresh token is another, is never answered from memory.
//!
//! Both maps are bounded: expired entries go at every insert, and past [`CAPACITY`] the oldest
//! goes (MSAL Python's `_ExpiringMapping` caps its map at 1 024 for the same reason).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;

/// Throttling without a `Retry-After`.
pub(crate) const DEFAULT_THROTTLE: Duration = Duration::from_secs(60);
/// The longest a `Retry-After` is honoured.
pub(crate) const MAX_THROTTLE: Duration = Duration::from_secs(3600);
/// How long an interaction-required answer is remembered.
pub(crate) const UI_REQUIRED_MEMORY: Duration = Duration::from_secs(120);
/// At most this many entries in each map.
const CAPACITY: usize = 1024;

/// A `Retry-After` value (RFC 9110 §10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    /// `delay-seconds`.
    Seconds(u64),
    /// An `HTTP-date`, as Unix seconds.
    At(i64),
}

impl RetryAfter {
    /// Parses the header's value; `None` for anything else.
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(RetryAfter::Seconds(seconds));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        let unix = match at.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => after.as_secs() as i64,
            Err(before) => -(before.duration().as_secs() as i64),
        };
        Some(RetryAfter::At(unix))
    }

    /// From a response's headers.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<RetryAfter> {
        headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse)
    }

    /// How long from `now` (Unix seconds); a date in the past is no wait.
    pub fn wait_from(self, now: i64) -> Duration {
        match self {
            RetryAfter::Seconds(seconds) => Duration::from_secs(seconds),
            RetryAfter::At(at) => Duration::from_secs((at - now).max(0) as u64),
        }
    }
}

/// What the token endpoint answered, as the transport saw it (below OAuth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<RetryAfter>,
}

impl Answer {
    /// How long this answer throttles its request, if it does.
    pub fn throttle(&self, now: i64) -> Option<Duration> {
        let success = (200..300).contains(&self.status);
        let throttles = self.status == 429
            || (500..600).contains(&self.status)
            || (self.retry_after.is_some() && !success);
        throttles.then(|| {
            self.retry_after
                .map_or(DEFAULT_THROTTLE, |r| r.wait_from(now))
                .min(MAX_THROTTLE)
        })
    }

    /// A 5xx without `Retry-After`: worth one more try a moment later (MSAL.NET's
    /// `HttpManager` retries 5xx and time-outs once, after a second). A 429 or a `Retry-After`
    /// says when, and that is later.
    pub fn worth_a_retry(&self) -> bool {
        (500..600).contains(&self.status) && self.retry_after.is_none()
    }
}

/// Where a transport writes the [`Answer`] to the request it sent; shared with the caller.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed(Arc<Mutex<Option<Answer>>>);

impl Observed {
    pub fn set(&self, answer: Answer) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(answer);
    }

    pub fn take(&self) -> Option<Answer> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The throttled thumbprints and the remembered interaction-required answers.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// Thumbprint → until (Unix seconds).
    until: Mutex<HashMap<String, i64>>,
    /// Request and refresh token → (until, the answer).
    ui_required: Mutex<HashMap<String, (i64, Error)>>,
}

impl Throttle {
    /// `Err(Throttled)` while `thumbprint` must wait.
    pub fn check(&self, thumbprint: &str, now: i64) -> Result<(), Error> {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        match until.get(thumbprint).copied() {
            Some(at) if at > now => Err(Error::Throttled {
                retry_after: Duration::from_secs((at - now) as u64),
            }),
            Some(_) => {
                until.remove(thumbprint);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records the answer to `thumbprint`'s request: throttles it if the answer says so.
    pub fn record(&self, thumbprint: &str, now: i64, answer: &Answer) {
        if let Some(wait) = answer.throttle(now) {
            if wait.is_zero() {
                return;
            }
            let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
            insert_bounded(
                &mut until,
                thumbprint,
                now + wait.as_secs() as i64,
                now,
                |at| *at,
            );
        }
    }

    /// The interaction-required answer remembered for `key`, if still fresh.
    pub fn remembered_ui_required(&self, key: &str, now: i64) -> Option<Error> {
        let mut remembered = self.ui_required.lock().unwrap_or_else(|p| p.into_inner());
        match remembered.get(key) {
            Some((until, error)) if *until > now => Some(error.clone()),
            Some(_) => {
                remembered.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers an interaction-required answer to a refresh (an HTTP 400 without
    /// `Retry-After`, which the throttle leaves to [`Self::record`]).
    pub fn remember_ui_required(&self, key: &str, now: i64, answer: &Answer, error: &Error) {
        let is_ui_required = matches!(error, Error::InteractionRequired { .. });
        if !is_ui_required || answer.status != 400 || answer.retry_after.is_some() {
            return;
        }
        let until = now + UI_REQUIRED_MEMORY.as_secs() as i64;
        let mut remembered = self.ui_required.lock().unwrap_or_else(|p| p.into_inner());
        insert_bounded(&mut remembered, key, (until, error.clone()), now, |e| e.0);
    }
}

/// Inserts, after dropping what has expired and, when full, the entry that ends first.
fn insert_bounded<V>(
    map: &mut HashMap<String, V>,
    key: &str,
    value: V,
    now: i64,
    until: impl Fn(&V) -> i64,
) {
    map.retain(|_, v| until(v) > now);
    if map.len() >= CAPACITY && !map.contains_key(key) {
        if let Some(first) = map
            .iter()
            .min_by_key(|(_, v)| until(v))
            .map(|(k, _)| k.clone())
        {
            map.remove(&first);
        }
    }
    map.insert(key.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Answer {
        Answer {
            status,
            retry_after: retry_after.and_then(RetryAfter::parse),
        }
    }

    #[test]
    fn what_throttles_follows_msal() {
        let now = 1_000;
        assert_eq!(answer(429, None).throttle(now), Some(DEFAULT_THROTTLE));
        assert_eq!(answer(500, None).throttle(now), Some(DEFAULT_THROTTLE));
        assert_eq!(answer(504, None).throttle(now), Some(DEFAULT_THROTTLE));
        assert_eq!(
            answer(400, Some("30")).throttle(now),
            Some(Duration::from_secs(30)),
            "any non-2xx with Retry-After"
        );
        assert_eq!(answer(400, None).throttle(now), None);
        assert_eq!(answer(200, Some("30")).throttle(now), None);
        assert_eq!(
            answer(503, Some("99999")).throttle(now),
            Some(MAX_THROTTLE),
            "capped at an hour"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(RetryAfter::parse(" 120 "), Some(RetryAfter::Seconds(120)));
        // RFC 9110 §5.6.7's example date.
        let at = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(at, RetryAfter::At(784_111_777));
        assert_eq!(at.wait_from(784_111_777 - 45), Duration::from_secs(45));
        assert_eq!(
            at.wait_from(784_111_777 + 5),
            Duration::ZERO,
            "already past"
        );
        assert_eq!(RetryAfter::parse("soon"), None);
        assert_eq!(RetryAfter::parse("-5"), None);
    }

    #[test]
    fn a_throttled_thumbprint_waits_and_others_do_not() {
        let throttle = Throttle::default();
        throttle.record("a", 1000, &answer(429, Some("30")));
        match throttle.check("a", 1010) {
            Err(Error::Throttled { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(20))
            }
            other => panic!("{other:?}"),
        }
        assert!(throttle.check("b", 1010).is_ok());
        assert!(throttle.check("a", 1030).is_ok(), "the wait is over");
        throttle.record("a", 1030, &answer(200, None));
        assert!(throttle.check("a", 1031).is_ok());
    }

    #[test]
    fn an_interaction_required_400_is_remembered_for_two_minutes() {
        let throttle = Throttle::default();
        let error = Error::no_tokens("stand-in for the provider's refusal");
        throttle.remember_ui_required("k", 1000, &answer(400, None), &error);
        assert!(throttle.remembered_ui_required("k", 1119).is_some());
        assert!(throttle.remembered_ui_required("k", 1120).is_none());
        // With Retry-After it is the throttle's; a network error is not an answer to remember.
        throttle.remember_ui_required("r", 1000, &answer(400, Some("5")), &error);
        assert!(throttle.remembered_ui_required("r", 1001).is_none());
        let network = Error::Network("reset".into());
        throttle.remember_ui_required("n", 1000, &answer(400, None), &network);
        assert!(throttle.remembered_ui_required("n", 1001).is_none());
    }

    #[test]
    fn the_maps_stay_bounded() {
        let throttle = Throttle::default();
        for i in 0..(CAPACITY + 50) {
            throttle.record(
                &format!("t{i}"),
                1000,
                &answer(429, Some(&format!("{}", 100 + i))),
            );
        }
        let until = throttle.until.lock().unwrap();
        assert_eq!(until.len(), CAPACITY);
        assert!(!until.contains_key("t0"), "the one ending first went");
        assert!(until.contains_key(&format!("t{}", CAPACITY + 49)));
    }
}
