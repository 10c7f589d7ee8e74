//! Time. Two clocks:
//!
//! - the **business clock** ([`Clock`]): what "now" is for sessions, SMS codes,
//!   trades, settlements. It runs with real time from a start (the config's
//!   `clock_start` or the real now) and can be moved forward by
//!   `POST /sandbox/clock`, so tests reach an expiry without sleeping;
//! - the **wall clock** ([`wall_unix`]): real time, used only for the signing
//!   envelope's freshness (request timestamps and response timestamps), which
//!   is about the transport, not the business.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset};

/// Real unix seconds.
pub fn wall_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// China Standard Time, +08:00.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// A unix time as RFC 3339 with `+08:00` (seconds precision).
pub fn rfc3339(unix: i64) -> String {
    to_china(unix).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A unix time in China time (times beyond chrono's range read as the epoch).
pub fn to_china(unix: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .with_timezone(&china())
}

/// The business clock.
#[derive(Debug)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    /// A clock that reads `start` now (or the real time when `None`).
    pub fn new(start: Option<i64>) -> Clock {
        let offset = start.map(|s| s - wall_unix()).unwrap_or(0);
        Clock {
            offset: AtomicI64::new(offset),
        }
    }

    /// Business "now", unix seconds.
    pub fn now_unix(&self) -> i64 {
        wall_unix().saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Business "now" in China time.
    pub fn now(&self) -> DateTime<FixedOffset> {
        to_china(self.now_unix())
    }

    /// Business "now" as RFC 3339 `+08:00`.
    pub fn now_rfc3339(&self) -> String {
        rfc3339(self.now_unix())
    }

    /// Moves the clock forward by `secs` (never backward).
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs.max(0), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_starts_where_told_and_only_moves_forward() {
        let c = Clock::new(Some(1_700_000_000));
        let t = c.now_unix();
        assert!((1_700_000_000..1_700_000_100).contains(&t));
        c.advance(3600);
        assert!(c.now_unix() >= t + 3600);
        let before = c.now_unix();
        c.advance(-100_000);
        assert!(c.now_unix() >= before);
        assert_eq!(rfc3339(1_700_000_000), "2023-11-15T06:13:20+08:00");
    }
}
