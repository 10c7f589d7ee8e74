//! Summaries of a day, a week, a month or any range (China time): totals,
//! and the same by channel, by terminal and by hour of day.
//!
//! # What counts
//!
//! For the trades created in the range (`from_ms` inclusive, `to_ms`
//! exclusive):
//!
//! - **sales / gross** (交易笔数 / 交易金额): paid sales, i.e. records of kind
//!   `sale` whose status is `success`, `partially_refunded` or `refunded`, and
//!   their amounts. A refunded sale still counts in gross; its refund counts
//!   in refunds.
//! - **void_count / voids** (撤销): sales whose status is `voided`, and their
//!   amounts. They are not in gross and their fees are not in fees. (The
//!   void's own record, kind `void`, mirrors the sale and is not counted a
//!   second time.)
//! - **refund_count / refunds** (退货): refund records (kind `refund`) with
//!   status `success` created in the range, and their amounts.
//! - **fees** (手续费): the fees of the paid sales minus the fees returned by
//!   the refund records; it can be negative on a day of refunds only.
//! - **net** (净额): gross − fees − refunds; it can be negative.
//!
//! Pending, failed and closed records never count. Sums are integer fen in
//! (i64 fen summed as the index is walked), turned into [`Total`]s once. By hour is the China
//! hour of day (0–23), always 24 entries; by channel lists every channel in
//! [`Channel::ALL`] order; by terminal lists the terminals with a counted
//! record, by serial.
//!
//! # How it is read
//!
//! The table `trade_hour` holds the counted records summed per hour,
//! channel, terminal and class, kept by triggers on `trade` (store.rs), so
//! whole hours of a range are read from it: a month of a busy shop is some
//! thousands of rows, not 85,000 trades. The parts of a range that are not
//! whole hours (a custom range) are read from the covering index
//! `trade_time`. China hours of day are whole hours of unix time (+08:00).

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate};
use rusqlite::Connection;

use super::model::{Trade, TradeKind, TradeStatus};
use super::query::{DATE_INVALID, FILTER_RANGE_INVALID, china_midnight_ms, parse_date};
use crate::error::{Error, MerchantError, Problem, Result};
use crate::money::{Amount, Channel};

/// A sum of money in fen that may be negative or above an [`Amount`]'s
/// maximum (a net after refunds, a year's gross). Crosses the FFI as text
/// with two decimals and an optional leading minus: `"-12.50"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Total(i64);

impl Total {
    pub const ZERO: Total = Total(0);

    pub fn from_fen(fen: i64) -> Total {
        Total(fen)
    }

    pub fn to_fen(self) -> i64 {
        self.0
    }

    /// The 大写 reading (负 before a negative sum), or `None` above the
    /// largest amount that has one.
    pub fn in_words(self) -> Option<String> {
        let words = Amount::from_fen(self.0.checked_abs()?).ok()?.in_words();
        Some(if self.0 < 0 {
            format!("负{words}")
        } else {
            words
        })
    }

    /// Parses `-12.50`, `12.5`, `12`.
    pub fn parse(text: &str) -> Result<Total> {
        let t = text.trim();
        let (negative, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let amount = i64::try_from(parse_unsigned_fen(body)?).map_err(|_| total_invalid())?;
        Ok(Total(if negative { -amount } else { amount }))
    }
}

fn total_invalid() -> Error {
    Error::input(&TOTAL_INVALID, vec![Problem::new(&TOTAL_INVALID, "")])
}

fn parse_unsigned_fen(body: &str) -> Result<u64> {
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || int.len() > 15
        || frac.len() > 2
        || !digits(int)
        || !digits(frac)
        || (body.contains('.') && frac.is_empty())
    {
        return Err(total_invalid());
    }
    let yuan: u64 = int.parse().map_err(|_| total_invalid())?;
    let mut fen = 0u64;
    for i in 0..2 {
        fen = fen * 10 + frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
    }
    Ok(yuan * 100 + fen)
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

uniffi::custom_type!(Total, String, {
    lower: |total| total.to_string(),
    try_lift: |text| Ok(Total::parse(&text).map_err(MerchantError::from)?),
});

crate::codes! {
    TOTAL_INVALID = Input, "trades.total_invalid", "金额合计格式有误", "The total is not a sum of money";
}

/// Which range a summary covers (China time).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SummaryRange {
    /// The day `YYYY-MM-DD`.
    Day { date: String },
    /// The Monday-to-Sunday week that contains `date` (`YYYY-MM-DD`).
    Week { date: String },
    /// The month `YYYY-MM`.
    Month { month: String },
    /// `from_ms` inclusive to `to_ms` exclusive.
    Custom { from_ms: i64, to_ms: i64 },
}

/// Counts and sums of one group (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct SummaryLine {
    pub sales: u64,
    pub gross: Total,
    pub refund_count: u64,
    pub refunds: Total,
    pub void_count: u64,
    pub voids: Total,
    pub fees: Total,
    pub net: Total,
}

/// One channel's line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChannelSummary {
    pub channel: Channel,
    pub line: SummaryLine,
}

/// One terminal's line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TerminalSummary {
    pub terminal_sn: String,
    pub line: SummaryLine,
}

/// One China hour of day's line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HourSummary {
    /// 0–23.
    pub hour: u8,
    pub line: SummaryLine,
}

/// A summary of a range.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TradeSummary {
    pub from_ms: i64,
    pub to_ms: i64,
    pub totals: SummaryLine,
    /// Every channel, in `Channel::ALL` order.
    pub by_channel: Vec<ChannelSummary>,
    /// The terminals with a counted record, by serial.
    pub by_terminal: Vec<TerminalSummary>,
    /// 24 entries, hour 0 to 23 (China time).
    pub by_hour: Vec<HourSummary>,
}

/// The range's bounds in unix ms.
pub fn range_bounds(range: &SummaryRange) -> Result<(i64, i64)> {
    let days = |from: NaiveDate, to: NaiveDate| (china_midnight_ms(from), china_midnight_ms(to));
    match range {
        SummaryRange::Day { date } => {
            let d = parse_date(date)?;
            Ok(days(d, d + Days::new(1)))
        }
        SummaryRange::Week { date } => {
            let d = parse_date(date)?;
            let monday = d - Days::new(u64::from(d.weekday().num_days_from_monday()));
            Ok(days(monday, monday + Days::new(7)))
        }
        SummaryRange::Month { month } => {
            let first = parse_date(&format!("{}-01", month.trim()))
                .ok()
                .filter(|_| month.trim().len() == 7)
                .ok_or_else(|| {
                    Error::input(&DATE_INVALID, vec![Problem::new(&DATE_INVALID, "month")])
                })?;
            let next = first.checked_add_months(Months::new(1)).ok_or_else(|| {
                Error::input(&DATE_INVALID, vec![Problem::new(&DATE_INVALID, "month")])
            })?;
            Ok(days(first, next))
        }
        SummaryRange::Custom { from_ms, to_ms } => {
            if to_ms < from_ms {
                return Err(Error::input(
                    &FILTER_RANGE_INVALID,
                    vec![Problem::new(&FILTER_RANGE_INVALID, "to_ms")],
                ));
            }
            Ok((*from_ms, *to_ms))
        }
    }
}

/// The counted records of a part of a range that is not whole hours: a walk
/// of the covering index `trade_time`. Class 0: paid sale; 1: voided sale;
/// 2: refund record.
pub const EDGE_SQL: &str = "
SELECT created_at / 3600000 - (created_at % 3600000 < 0), channel, terminal_sn,
       CASE WHEN kind = 'refund' THEN 2 WHEN status = 'voided' THEN 1 ELSE 0 END,
       1, amount, fee
  FROM trade INDEXED BY trade_time
 WHERE created_at >= ?1 AND created_at < ?2
   AND ((kind = 'sale' AND status IN ('success', 'partially_refunded', 'refunded', 'voided'))
        OR (kind = 'refund' AND status = 'success'))";

/// The whole hours `?1 <= hour < ?2` (unix ms / 3600000) of a range, summed
/// by the triggers of `trade_hour`.
pub const HOURS_SQL: &str = "
SELECT hour, channel, terminal_sn, class, n, amount, fee
  FROM trade_hour
 WHERE hour >= ?1 AND hour < ?2";

const HOUR_MS: i64 = 3_600_000;

/// Folds one group into a line.
fn add(line: &mut Acc, class: i64, count: i64, amount: i64, fee: i64) {
    match class {
        0 => {
            line.sales += count;
            line.gross += amount;
            line.fees += fee;
        }
        1 => {
            line.voids_n += count;
            line.voids += amount;
        }
        _ => {
            line.refunds_n += count;
            line.refunds += amount;
            line.fees -= fee;
        }
    }
}

/// Running sums of one group, in fen.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    sales: i64,
    gross: i64,
    refunds_n: i64,
    refunds: i64,
    voids_n: i64,
    voids: i64,
    fees: i64,
}

impl Acc {
    /// Counts one trade record by the module's rules (the export's totals).
    pub(crate) fn add_trade(&mut self, t: &Trade) {
        let class = match (t.kind, t.status) {
            (
                TradeKind::Sale,
                TradeStatus::Success | TradeStatus::PartiallyRefunded | TradeStatus::Refunded,
            ) => 0,
            (TradeKind::Sale, TradeStatus::Voided) => 1,
            (TradeKind::Refund, TradeStatus::Success) => 2,
            _ => return,
        };
        add(self, class, 1, t.amount.to_fen(), t.fee.to_fen());
    }

    pub(crate) fn line(self) -> SummaryLine {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        SummaryLine {
            sales: n(self.sales),
            gross: Total(self.gross),
            refund_count: n(self.refunds_n),
            refunds: Total(self.refunds),
            void_count: n(self.voids_n),
            voids: Total(self.voids),
            fees: Total(self.fees),
            net: Total(self.gross - self.fees - self.refunds),
        }
    }
}

/// The summary of `range` from the trades on the phone.
pub fn summary_on(conn: &Connection, range: &SummaryRange) -> Result<TradeSummary> {
    let (from_ms, to_ms) = range_bounds(range)?;
    let mut totals = Acc::default();
    let mut by_channel = [Acc::default(); Channel::ALL.len()];
    let mut by_terminal: Vec<(String, Acc)> = Vec::new();
    let mut by_hour = [Acc::default(); 24];
    // Whole hours from trade_hour, the edges from the trades themselves.
    let first_hour = from_ms.div_euclid(HOUR_MS) + i64::from(from_ms.rem_euclid(HOUR_MS) != 0);
    let end_hour = to_ms.div_euclid(HOUR_MS);
    let mut parts: Vec<(&str, i64, i64)> = Vec::new();
    if first_hour < end_hour {
        parts.push((EDGE_SQL, from_ms, first_hour * HOUR_MS));
        parts.push((HOURS_SQL, first_hour, end_hour));
        parts.push((EDGE_SQL, end_hour * HOUR_MS, to_ms));
    } else {
        parts.push((EDGE_SQL, from_ms, to_ms));
    }
    for (sql, lo, hi) in parts {
        if lo >= hi {
            continue;
        }
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([lo, hi])?;
        while let Some(r) = rows.next()? {
            let hour: i64 = r.get(0)?;
            let (class, n, amount, fee): (i64, i64, i64, i64) =
                (r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
            add(&mut totals, class, n, amount, fee);
            let channel = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            if let Some(i) = Channel::ALL.iter().position(|c| c.as_str() == channel)
                && let Some(slot) = by_channel.get_mut(i)
            {
                add(slot, class, n, amount, fee);
            }
            let terminal = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            match by_terminal.iter_mut().find(|(t, _)| t == terminal) {
                Some((_, acc)) => add(acc, class, n, amount, fee),
                None => {
                    let mut acc = Acc::default();
                    add(&mut acc, class, n, amount, fee);
                    by_terminal.push((terminal.to_owned(), acc));
                }
            }
            // China hour of day: +8 whole hours.
            let h = usize::try_from((hour + 8).rem_euclid(24)).unwrap_or(0);
            if let Some(slot) = by_hour.get_mut(h) {
                add(slot, class, n, amount, fee);
            }
        }
    }
    by_terminal.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(TradeSummary {
        from_ms,
        to_ms,
        totals: totals.line(),
        by_channel: Channel::ALL
            .iter()
            .enumerate()
            .map(|(i, c)| ChannelSummary {
                channel: *c,
                line: by_channel.get(i).copied().unwrap_or_default().line(),
            })
            .collect(),
        by_terminal: by_terminal
            .into_iter()
            .map(|(terminal_sn, a)| TerminalSummary {
                terminal_sn,
                line: a.line(),
            })
            .collect(),
        by_hour: by_hour
            .iter()
            .enumerate()
            .map(|(h, a)| HourSummary {
                hour: h as u8,
                line: a.line(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trades::testing::{self, Row};

    /// The straightforward reading of the rules, one row at a time.
    fn fold<'a>(rows: impl Iterator<Item = &'a Row>) -> SummaryLine {
        let (mut sales, mut gross, mut rn, mut refunds, mut vn, mut voids, mut fees) =
            (0u64, 0i64, 0u64, 0i64, 0u64, 0i64, 0i64);
        for r in rows {
            use TradeStatus as S;
            match (r.kind, r.status) {
                (TradeKind::Sale, S::Success | S::PartiallyRefunded | S::Refunded) => {
                    sales += 1;
                    gross += r.amount;
                    fees += r.fee;
                }
                (TradeKind::Sale, S::Voided) => {
                    vn += 1;
                    voids += r.amount;
                }
                (TradeKind::Refund, S::Success) => {
                    rn += 1;
                    refunds += r.amount;
                    fees -= r.fee;
                }
                _ => {}
            }
        }
        SummaryLine {
            sales,
            gross: Total(gross),
            refund_count: rn,
            refunds: Total(refunds),
            void_count: vn,
            voids: Total(voids),
            fees: Total(fees),
            net: Total(gross - fees - refunds),
        }
    }

    fn china_hour(ms: i64) -> u8 {
        ((ms + 8 * 3_600_000).rem_euclid(86_400_000) / 3_600_000) as u8
    }

    #[test]
    fn the_summary_equals_a_fold_over_the_same_rows_to_the_fen() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 40 days of random trades from 2025-05-20 (China time).
        let start = china_midnight_ms(NaiveDate::from_ymd_opt(2025, 5, 20).expect("date"));
        let rows = testing::generate(11, 6000, start, 40 * 86_400_000);
        let db = testing::store_with(dir.path(), &rows);
        let ranges = [
            SummaryRange::Day {
                date: "2025-06-01".into(),
            },
            SummaryRange::Week {
                date: "2025-06-04".into(),
            },
            SummaryRange::Month {
                month: "2025-06".into(),
            },
            SummaryRange::Custom {
                from_ms: start + 12_345,
                to_ms: start + 9 * 86_400_000 + 777,
            },
            SummaryRange::Day {
                date: "2024-01-01".into(),
            },
        ];
        for range in ranges {
            let (from, to) = range_bounds(&range).expect("bounds");
            let s = db.read(|c| summary_on(c, &range)).expect("summary");
            let inside: Vec<&Row> = rows
                .iter()
                .filter(|r| r.created_at >= from && r.created_at < to)
                .collect();
            assert_eq!(s.totals, fold(inside.iter().copied()), "{range:?}");
            for cs in &s.by_channel {
                assert_eq!(
                    cs.line,
                    fold(inside.iter().copied().filter(|r| r.channel == cs.channel)),
                    "{range:?} {:?}",
                    cs.channel
                );
            }
            assert_eq!(s.by_channel.len(), Channel::ALL.len());
            for ts in &s.by_terminal {
                assert_eq!(
                    ts.line,
                    fold(
                        inside
                            .iter()
                            .copied()
                            .filter(|r| r.terminal_sn == ts.terminal_sn)
                    )
                );
            }
            assert_eq!(s.by_hour.len(), 24);
            for hs in &s.by_hour {
                assert_eq!(
                    hs.line,
                    fold(
                        inside
                            .iter()
                            .copied()
                            .filter(|r| china_hour(r.created_at) == hs.hour)
                    ),
                    "hour {}",
                    hs.hour
                );
            }
            if !inside.is_empty() {
                assert!(
                    s.totals.sales > 0 && s.totals.refund_count > 0 && s.totals.void_count > 0,
                    "{range:?}: weak data"
                );
            }
        }
    }

    #[test]
    fn ranges_are_china_days_weeks_and_months() {
        let day = |d: &str| range_bounds(&SummaryRange::Day { date: d.into() }).expect("day");
        assert_eq!(day("2025-06-01"), (1_748_707_200_000, 1_748_793_600_000));
        // 2025-06-04 is a Wednesday: Monday 2 June to Monday 9 June.
        let week = range_bounds(&SummaryRange::Week {
            date: "2025-06-04".into(),
        })
        .expect("week");
        assert_eq!(week, (day("2025-06-02").0, day("2025-06-09").0));
        let sunday = range_bounds(&SummaryRange::Week {
            date: "2025-06-08".into(),
        })
        .expect("week");
        assert_eq!(sunday, week);
        let month = range_bounds(&SummaryRange::Month {
            month: "2025-12".into(),
        })
        .expect("month");
        assert_eq!(month, (day("2025-12-01").0, day("2026-01-01").0));
        for bad in ["2025-13", "2025-6", "2025-06-01", ""] {
            let e =
                range_bounds(&SummaryRange::Month { month: bad.into() }).expect_err("bad month");
            assert_eq!(e.code, "trades.date_invalid");
        }
        let e = range_bounds(&SummaryRange::Custom {
            from_ms: 5,
            to_ms: 4,
        })
        .expect_err("bad range");
        assert_eq!(e.code, "trades.filter_range_invalid");
    }

    #[test]
    fn totals_read_and_write_signed_two_decimal_text() {
        assert_eq!(Total(-1250).to_string(), "-12.50");
        assert_eq!(Total(7).to_string(), "0.07");
        assert_eq!(Total::parse("-12.5").expect("parse"), Total(-1250));
        assert_eq!(
            Total(-101001).in_words().as_deref(),
            Some("负壹仟零壹拾元零壹分")
        );
        assert!(
            Total::parse("1.234").is_err()
                && Total::parse("x").is_err()
                && Total::parse("5.").is_err()
        );
    }

    #[test]
    fn the_summary_reads_hour_sums_and_the_time_index_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = testing::store_with(dir.path(), &[]);
        let plan = |sql: &str| -> Vec<String> {
            db.read(|c| {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt.query_map([0i64, 1], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
            })
            .expect("plan")
        };
        let edge = plan(EDGE_SQL);
        assert!(
            edge.iter()
                .any(|s| s.starts_with("SEARCH trade USING COVERING INDEX trade_time")),
            "{edge:#?}"
        );
        let hours = plan(HOURS_SQL);
        assert!(
            hours
                .iter()
                .any(|s| s.starts_with("SEARCH trade_hour USING PRIMARY KEY")),
            "{hours:#?}"
        );
    }

    /// The hour sums follow every change of a trade: a status moving on, a
    /// refund, a void, a row deleted.
    #[test]
    fn hour_sums_follow_updates_and_deletes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start = china_midnight_ms(NaiveDate::from_ymd_opt(2025, 6, 1).expect("date"));
        let mut rows = testing::generate(16, 3000, start, 3 * 86_400_000);
        let db = testing::store_with(dir.path(), &rows);
        // Half hours at both ends: whole hours from the hour sums, the edges
        // from the trades.
        let (from, end) = (start + 1_800_000, start + 3 * 86_400_000 - 900_000);
        let range = SummaryRange::Custom {
            from_ms: from,
            to_ms: end,
        };
        let check = |all: &[Row], what: &str| {
            let rows: Vec<&Row> = all
                .iter()
                .filter(|r| r.created_at >= from && r.created_at < end)
                .collect();
            let rows = rows.into_iter().cloned().collect::<Vec<Row>>();
            let s = db.read(|c| summary_on(c, &range)).expect("summary");
            assert_eq!(s.totals, fold(rows.iter()), "{what}");
            for ts in &s.by_terminal {
                assert_eq!(
                    ts.line,
                    fold(rows.iter().filter(|r| r.terminal_sn == ts.terminal_sn)),
                    "{what}"
                );
                assert!(
                    ts.line.sales + ts.line.refund_count + ts.line.void_count > 0,
                    "{what}: an empty terminal line"
                );
            }
            for hs in &s.by_hour {
                assert_eq!(
                    hs.line,
                    fold(rows.iter().filter(|r| china_hour(r.created_at) == hs.hour)),
                    "{what}"
                );
            }
        };
        check(&rows, "inserted");
        let mut rng_i = 0usize;
        let statuses = TradeStatus::ALL;
        for i in (0..rows.len()).step_by(7) {
            let status = statuses[(i / 7) % statuses.len()];
            let amount = rows[i].amount;
            let moved = rows[i].created_at + 1_234_567;
            db.write(|tx| {
                tx.execute(
                    "UPDATE trade SET status = ?1, created_at = ?2, channel = 'alipay' WHERE trade_id = ?3",
                    rusqlite::params![status.as_str(), moved, rows[i].trade_id],
                )?;
                Ok(())
            })
            .expect("update");
            rows[i].status = status;
            rows[i].created_at = moved;
            rows[i].channel = Channel::Alipay;
            assert_eq!(rows[i].amount, amount);
            rng_i += 1;
        }
        assert!(rng_i > 100);
        check(&rows, "updated");
        let gone: Vec<String> = rows.iter().step_by(5).map(|r| r.trade_id.clone()).collect();
        db.write(|tx| {
            for id in &gone {
                tx.execute("DELETE FROM trade WHERE trade_id = ?1", [id])?;
            }
            Ok(())
        })
        .expect("delete");
        rows.retain(|r| !gone.contains(&r.trade_id));
        check(&rows, "deleted");
        // Everything gone: no hour row is left behind.
        db.write(|tx| {
            tx.execute("DELETE FROM trade", [])?;
            Ok(())
        })
        .expect("delete all");
        let left: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM trade_hour", [], |r| r.get(0))?))
            .expect("count");
        assert_eq!(left, 0);
    }
}
