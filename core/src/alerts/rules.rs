//! Alert rules of this device: whether an alert SPEAKS. A rule never drops
//! an alert (it is stored and delivered all the same, with no voice), and
//! never silences a merchant-protection alert.
//!
//! - broadcast on or off;
//! - quiet hours, China time, `start..end` in minutes of the day; a window
//!   whose end is not after its start runs across midnight (22:00–07:00);
//! - a minimum amount below which nothing is said;
//! - a large amount at or above which the alert is highlighted;
//! - muted terminals;
//! - the speaker role: only the device that holds it speaks
//!   (kept by `speaker` where the role is claimed, released or moved;
//!   a device that never heard of the role speaks).

use chrono::{TimeZone as _, Timelike as _};
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::error::{Error, Problem, Result};
use crate::money::Amount;

crate::codes! {
    RULES_QUIET_HOURS_INVALID = Input, "alert_rules.quiet_hours_invalid", "免打扰时段无效：需同时给出开始和结束时间，取值 0–1439 分钟，且不能相同", "Quiet hours need both a start and an end, each 0–1439 minutes of the day, and not equal";
    RULES_LARGE_AMOUNT_INVALID = Input, "alert_rules.large_amount_invalid", "大额提醒金额必须大于零，且不低于最低播报金额", "The large-amount threshold must be above zero and not below the minimum amount";
    RULES_TERMINAL_INVALID = Input, "alert_rules.terminal_invalid", "静音终端序列号无效", "A muted terminal's serial number is not valid";
    RULES_TOO_MANY_TERMINALS = Input, "alert_rules.too_many_terminals", "静音终端过多（最多 200 台）", "Too many muted terminals (200 at most)";
}

use crate::validate::CHINA;

const MAX_MUTED: usize = 200;

/// This device's alert rules.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AlertSettings {
    /// Voice broadcast on this device.
    pub broadcast: bool,
    /// Start of the quiet hours, minutes after midnight China time (0–1439).
    pub quiet_start_minute: Option<u16>,
    /// End of the quiet hours (exclusive); a window whose end is before
    /// its start runs across midnight (22:00–07:00).
    pub quiet_end_minute: Option<u16>,
    /// Trades below it are not spoken (zero: every trade).
    pub min_amount: Amount,
    /// Trades at or above it are highlighted; `None`: none.
    pub large_amount: Option<Amount>,
    /// Serials of terminals whose trades are not spoken.
    pub muted_terminals: Vec<String>,
    /// Whether this device holds the speaker role (read only here: the
    /// role is claimed through the platform).
    pub speaker: bool,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            broadcast: true,
            quiet_start_minute: None,
            quiet_end_minute: None,
            min_amount: Amount::from_fen(0).unwrap_or_default(),
            large_amount: None,
            muted_terminals: Vec::new(),
            speaker: true,
        }
    }
}

/// Checks `s` and returns every problem at once.
pub fn check(s: &AlertSettings) -> Result<()> {
    let mut problems = Vec::new();
    match (s.quiet_start_minute, s.quiet_end_minute) {
        (None, None) => {}
        (Some(a), Some(b)) if a < 1440 && b < 1440 && a != b => {}
        _ => problems.push(Problem::new(&RULES_QUIET_HOURS_INVALID, "quiet_hours")),
    }
    if let Some(large) = s.large_amount
        && (large.is_zero() || large.to_fen() < s.min_amount.to_fen())
    {
        problems.push(Problem::new(&RULES_LARGE_AMOUNT_INVALID, "large_amount"));
    }
    if s.muted_terminals.len() > MAX_MUTED {
        problems.push(Problem::new(&RULES_TOO_MANY_TERMINALS, "muted_terminals"));
    } else if s
        .muted_terminals
        .iter()
        .any(|sn| sn.is_empty() || sn.len() > 64 || !sn.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        problems.push(Problem::new(&RULES_TERMINAL_INVALID, "muted_terminals"));
    }
    let first = CODES
        .iter()
        .find(|c| problems.iter().any(|p| p.code == c.code));
    match first {
        None => Ok(()),
        Some(code) => Err(Error::input(code, problems)),
    }
}

/// The settings kept in `conn` (the defaults when none were set).
pub fn load(conn: &Connection) -> Result<AlertSettings> {
    type Row = (bool, Option<i64>, Option<i64>, i64, Option<i64>, String);
    let row: Option<Row> = conn
        .query_row(
            "SELECT broadcast, quiet_start, quiet_end, min_amount, large_amount, muted_terminals
             FROM alert_settings WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let speaker = is_speaker(conn)?;
    let Some((broadcast, qs, qe, min, large, muted)) = row else {
        return Ok(AlertSettings {
            speaker,
            ..AlertSettings::default()
        });
    };
    Ok(AlertSettings {
        broadcast,
        quiet_start_minute: qs.and_then(|m| u16::try_from(m).ok()),
        quiet_end_minute: qe.and_then(|m| u16::try_from(m).ok()),
        min_amount: Amount::from_fen(min)?,
        large_amount: large.map(Amount::from_fen).transpose()?,
        muted_terminals: serde_json::from_str(&muted).unwrap_or_default(),
        speaker,
    })
}

/// Keeps `s` (checked first); the speaker role is left as it is.
pub fn save(conn: &Connection, s: &AlertSettings, now_ms: i64) -> Result<()> {
    check(s)?;
    conn.execute(
        "INSERT INTO alert_settings (id, broadcast, quiet_start, quiet_end, min_amount, large_amount,
                                     muted_terminals, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET broadcast = excluded.broadcast,
             quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
             min_amount = excluded.min_amount, large_amount = excluded.large_amount,
             muted_terminals = excluded.muted_terminals, updated_at = excluded.updated_at",
        params![
            s.broadcast,
            s.quiet_start_minute,
            s.quiet_end_minute,
            s.min_amount.to_fen(),
            s.large_amount.map(Amount::to_fen),
            serde_json::to_string(&s.muted_terminals).unwrap_or_else(|_| "[]".to_owned()),
            now_ms
        ],
    )?;
    Ok(())
}

/// Whether this device holds the speaker role, from the role kept by
/// [`super::speaker`] (no network call).
pub fn is_speaker(conn: &Connection) -> Result<bool> {
    super::speaker::speaks_here(conn)
}

/// The minute of the day, China time, of `at_ms`.
pub fn china_minute(at_ms: i64) -> u16 {
    CHINA
        .timestamp_millis_opt(at_ms)
        .single()
        .map(|t| (t.hour() * 60 + t.minute()) as u16)
        .unwrap_or(0)
}

/// Whether `minute` falls in the quiet hours of `s`.
pub fn is_quiet(s: &AlertSettings, minute: u16) -> bool {
    match (s.quiet_start_minute, s.quiet_end_minute) {
        (Some(start), Some(end)) if start < end => (start..end).contains(&minute),
        (Some(start), Some(end)) if start > end => minute >= start || minute < end,
        _ => false,
    }
}

/// How late a trade may be told and still be said aloud: a trade that
/// reached its status longer ago (the stream resuming after hours away, a
/// first subscription catching up on history) is shown, not said, so a
/// phone back online does not read out a backlog as if customers were
/// paying now.
pub const SPEAK_WITHIN_MS: i64 = 10 * 60 * 1000;

/// A trade alert's facts the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Spoken<'a> {
    pub amount: Amount,
    pub terminal_sn: &'a str,
    /// When it is told (quiet hours are read at this time), unix ms.
    pub at_ms: i64,
    /// When the trade reached its status, unix ms.
    pub changed_at_ms: i64,
}

/// Whether a trade alert speaks on this device.
pub fn speaks(s: &AlertSettings, t: Spoken<'_>) -> bool {
    s.broadcast
        && s.speaker
        && t.at_ms.saturating_sub(t.changed_at_ms) <= SPEAK_WITHIN_MS
        && !is_quiet(s, china_minute(t.at_ms))
        && t.amount.to_fen() >= s.min_amount.to_fen()
        && !s.muted_terminals.iter().any(|m| m == t.terminal_sn)
}

/// Whether a trade alert of `amount` is highlighted.
pub fn highlights(s: &AlertSettings, amount: Amount) -> bool {
    s.large_amount
        .is_some_and(|large| amount.to_fen() >= large.to_fen())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuan(y: i64) -> Amount {
        Amount::from_fen(y * 100).unwrap()
    }

    /// Unix ms of `h:m` China time on 2025-06-01.
    fn at(h: u32, m: u32) -> i64 {
        CHINA
            .with_ymd_and_hms(2025, 6, 1, h, m, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    fn trade(amount: Amount, h: u32, m: u32) -> Spoken<'static> {
        Spoken {
            amount,
            terminal_sn: "LKLA800123455",
            at_ms: at(h, m),
            changed_at_ms: at(h, m),
        }
    }

    #[test]
    fn defaults_speak_every_trade() {
        let s = AlertSettings::default();
        assert!(speaks(&s, trade(yuan(1), 3, 0)));
        assert!(!highlights(&s, yuan(99_999)));
    }

    #[test]
    fn broadcast_off_is_silent() {
        let s = AlertSettings {
            broadcast: false,
            ..Default::default()
        };
        assert!(!speaks(&s, trade(yuan(850), 12, 0)));
    }

    #[test]
    fn a_quiet_window_across_midnight() {
        let s = AlertSettings {
            quiet_start_minute: Some(22 * 60),
            quiet_end_minute: Some(7 * 60),
            ..Default::default()
        };
        for (h, m) in [(22, 0), (23, 59), (0, 0), (3, 30), (6, 59)] {
            assert!(!speaks(&s, trade(yuan(5), h, m)), "{h}:{m} is quiet");
        }
        for (h, m) in [(7, 0), (12, 0), (21, 59)] {
            assert!(speaks(&s, trade(yuan(5), h, m)), "{h}:{m} speaks");
        }
    }

    #[test]
    fn a_quiet_window_within_a_day() {
        let s = AlertSettings {
            quiet_start_minute: Some(12 * 60),
            quiet_end_minute: Some(14 * 60),
            ..Default::default()
        };
        assert!(speaks(&s, trade(yuan(5), 11, 59)));
        assert!(!speaks(&s, trade(yuan(5), 12, 0)));
        assert!(!speaks(&s, trade(yuan(5), 13, 59)));
        assert!(speaks(&s, trade(yuan(5), 14, 0)));
    }

    #[test]
    fn china_time_is_used_not_utc() {
        // 23:30 China time is 15:30 UTC.
        assert_eq!(china_minute(at(23, 30)), 23 * 60 + 30);
    }

    #[test]
    fn below_the_minimum_is_silent() {
        let s = AlertSettings {
            min_amount: yuan(10),
            ..Default::default()
        };
        assert!(!speaks(&s, trade(Amount::from_fen(999).unwrap(), 12, 0)));
        assert!(speaks(&s, trade(yuan(10), 12, 0)));
    }

    #[test]
    fn large_amounts_are_highlighted() {
        let s = AlertSettings {
            large_amount: Some(yuan(1000)),
            ..Default::default()
        };
        assert!(highlights(&s, yuan(1000)));
        assert!(!highlights(&s, Amount::from_fen(99_999).unwrap()));
    }

    #[test]
    fn a_muted_terminal_is_silent_others_speak() {
        let s = AlertSettings {
            muted_terminals: vec!["LKLA800123455".to_owned()],
            ..Default::default()
        };
        assert!(!speaks(&s, trade(yuan(5), 12, 0)));
        let other = Spoken {
            terminal_sn: "LKLA800999999",
            ..trade(yuan(5), 12, 0)
        };
        assert!(speaks(&s, other));
    }

    #[test]
    fn a_trade_told_ten_minutes_late_is_said_later_ones_are_not() {
        let s = AlertSettings::default();
        let paid = trade(yuan(5), 12, 0);
        let late = |ms: i64| Spoken {
            at_ms: paid.changed_at_ms + ms,
            ..paid
        };
        assert!(speaks(&s, late(SPEAK_WITHIN_MS)));
        assert!(!speaks(&s, late(SPEAK_WITHIN_MS + 1)));
        // A trade stamped ahead of the phone's clock still speaks.
        assert!(speaks(&s, late(-60_000)));
    }

    #[test]
    fn a_device_without_the_speaker_role_is_silent() {
        let s = AlertSettings {
            speaker: false,
            ..Default::default()
        };
        assert!(!speaks(&s, trade(yuan(5), 12, 0)));
    }

    #[test]
    fn bad_settings_get_every_code_at_once() {
        let s = AlertSettings {
            quiet_start_minute: Some(1440),
            quiet_end_minute: None,
            min_amount: yuan(100),
            large_amount: Some(yuan(50)),
            muted_terminals: vec!["bad sn!".to_owned()],
            ..Default::default()
        };
        let e = check(&s).unwrap_err();
        let m: crate::MerchantError = e.into();
        let text = format!("{m:?}");
        for code in [
            "alert_rules.quiet_hours_invalid",
            "alert_rules.large_amount_invalid",
            "alert_rules.terminal_invalid",
        ] {
            assert!(text.contains(code), "{code} in {text}");
        }
        let equal = AlertSettings {
            quiet_start_minute: Some(60),
            quiet_end_minute: Some(60),
            ..Default::default()
        };
        assert!(check(&equal).is_err());
        check(&AlertSettings::default()).unwrap();
    }
}
