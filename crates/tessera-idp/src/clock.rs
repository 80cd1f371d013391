//! The provider's clock: the system clock plus a skew the control API can set, so tests can
//! run the provider minutes ahead of or behind the client.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds, skewed.
#[derive(Debug, Default)]
pub struct Clock {
    skew_seconds: AtomicI64,
}

impl Clock {
    /// Now, in Unix seconds, with the configured skew applied.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.skew_seconds.load(Ordering::Relaxed)
    }

    /// Moves the provider's clock by `seconds` relative to the system clock.
    pub fn set_skew(&self, seconds: i64) {
        self.skew_seconds.store(seconds, Ordering::Relaxed);
    }
}

/// Entra's timestamp form in error bodies: `2026-11-21 19:45:00Z`.
pub fn entra_timestamp(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_entras() {
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(entra_timestamp(1_795_290_300), "2026-11-21 19:45:00Z");
        assert_eq!(
            entra_timestamp(951_782_400),
            "2000-02-29 00:00:00Z",
            "leap day"
        );
    }

    #[test]
    fn skew_moves_now() {
        let clock = Clock::default();
        let before = clock.now();
        clock.set_skew(600);
        assert!(clock.now() >= before + 600);
    }
}
