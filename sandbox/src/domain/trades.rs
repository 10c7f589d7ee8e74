//! Trade records: how they are made (on demand, by the stream, by the
//! seeding), how they live (pending → paid or closed), listed in cursor
//! pages and in the change feed, refunded and voided.
//!
//! One table holds every record: sales, and the voids (`V…`) and refunds
//! (`R…`) of them, each its own record with `original_trade_id`. Every
//! insert and every update of a record gives it the merchant's next
//! `change_seq` (one counter per merchant), which the change feed
//! (`GET /v1/trades/changes`) pages by.
//!
//! A trade's fee is the merchant's agreed rate for its channel and amount
//! (the core's `RateTable`, rounded half up to the fen), unless an anomaly
//! says otherwise. Customer cards exist only as BIN + last four; scan-code
//! payers only as an opaque token ([`generator::payer`]).
//!
//! Refunds (full or partial) never add up to more than the sale
//! (409 `refund.exceeds_refundable`), give back the proportional part of the
//! fee ([`ledger::fee_returned`]), count in the settlement of the day they
//! are made, and must fit in that day's takings (409
//! `refund.insufficient_balance`). Only a paid sale is refunded (409
//! `refund.not_paid`, `refund.not_a_sale`). A void cancels a card sale whole
//! on its own business day before it is settled ([`void_with`]).
//!
//! Pending sales become `success` or `closed` when due ([`apply_due`]): on
//! any read or write of the merchant's trades or settlements, when the
//! business clock is moved, and every [`LIFE_TICK`] of real time, each
//! change emitting `trade.updated`.

use std::sync::Weak;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, TimeZone as _};
use merchant_contract::domain::sandbox::Anomaly;
use merchant_contract::domain::{
    self as wire, CardRef, Refund, RefundRequest, Trade, TradeChanges, TradeKind, TradeRefunded,
    TradeStatus, TradeVoided, VoidRequest,
};
use merchant_contract::wire::{FieldError, Page, event_types};
use merchant_core::money::{Amount, Channel, Rate};
use rand::{Rng, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use ring::digest;
use rusqlite::{Connection, OptionalExtension as _, Row, params};
use serde::Deserialize;

use super::generator::{self, DrawnCard, DrawnLife, DrawnTrade};
use super::merchant::{self, Profile};
use super::terminals::{self, page_params};
use super::{ledger, paging};
use crate::clock::{china, rfc3339, to_china};
use crate::error::ApiError;
use crate::guard::{JsonBody, Merchant, QueryParams};
use crate::state::{AppState, Inner};

/// How far above the agreed rate a `fee_above_rate` anomaly charges
/// (percentage points).
pub const ANOMALY_RATE_BUMP: &str = "0.25";
/// The longest refund or void reason, in characters.
pub const REASON_MAX: usize = 64;
/// How often the life task looks for pending trades that are due.
pub const LIFE_TICK: Duration = Duration::from_millis(200);
/// The change feed's page: default and most records.
pub const FEED_LIMIT_DEFAULT: u32 = 500;
pub const FEED_LIMIT_MAX: u32 = 1_000;
/// Sequence numbers per bucket of `dom_feed_buckets`.
pub const FEED_BUCKET: i64 = 1_024;

/// The business day (China time) of a unix time, `YYYY-MM-DD`.
pub fn day_of(unix: i64) -> String {
    to_china(unix).format("%Y-%m-%d").to_string()
}

/// The unix time a China-time day starts.
pub fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| china().from_local_datetime(&t).single())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a China-time unix time (the batch's day).
pub fn day_index(unix: i64) -> i64 {
    (unix + 8 * 3600).div_euclid(86_400)
}

/// What to make: everything left out is drawn.
#[derive(Debug, Clone, Default)]
pub struct TradeOptions {
    pub channel: Option<Channel>,
    pub amount: Option<Amount>,
    pub terminal_sn: Option<String>,
    pub anomaly: Option<Anomaly>,
    /// `Success` or `Pending` forced; `None`: drawn.
    pub status: Option<TradeStatus>,
}

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct StoredTrade {
    pub seq: i64,
    pub trade: Trade,
    pub amount: i64,
    pub fee: i64,
    pub refunded: i64,
    pub fee_returned: i64,
    pub created_at: i64,
    pub day: String,
}

pub(crate) const TRADE_COLUMNS: &str = "seq, trade_id, kind, original_trade_id, channel, amount,
    fee, rate, status, refunded, fee_returned, terminal_sn, merchant_no, merchant_name, card_bin,
    card_last4, card_kind, card_bank, payer, reference_no, batch_no, voucher_no, log_no,
    created_at, updated_at, day, change_seq";

pub(crate) fn fen_text(fen: i64) -> String {
    Amount::from_fen(fen)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "0.00".to_owned())
}

fn bad_column(name: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, name.to_owned(), rusqlite::types::Type::Text)
}

pub(crate) fn read_trade(r: &Row<'_>) -> rusqlite::Result<StoredTrade> {
    let amount: i64 = r.get("amount")?;
    let fee: i64 = r.get("fee")?;
    let refunded: i64 = r.get("refunded")?;
    let fee_returned: i64 = r.get("fee_returned")?;
    let created_at: i64 = r.get("created_at")?;
    let updated_at: i64 = r.get("updated_at")?;
    let day: String = r.get("day")?;
    let card = match (
        r.get::<_, Option<String>>("card_bin")?,
        r.get::<_, Option<String>>("card_last4")?,
    ) {
        (Some(bin), Some(last4)) => Some(CardRef {
            bin,
            last4,
            card_kind: r
                .get::<_, Option<String>>("card_kind")?
                .unwrap_or_else(|| "unknown".to_owned()),
            bank_name: r.get("card_bank")?,
        }),
        _ => None,
    };
    let kind = TradeKind::parse(&r.get::<_, String>("kind")?).ok_or_else(|| bad_column("kind"))?;
    let status =
        TradeStatus::parse(&r.get::<_, String>("status")?).ok_or_else(|| bad_column("status"))?;
    let change_seq: i64 = r.get("change_seq")?;
    Ok(StoredTrade {
        seq: r.get("seq")?,
        trade: Trade {
            trade_id: r.get("trade_id")?,
            kind,
            original_trade_id: r.get("original_trade_id")?,
            channel: r.get("channel")?,
            amount: fen_text(amount),
            fee: fen_text(fee),
            rate: r.get("rate")?,
            status,
            refunded_amount: fen_text(refunded),
            terminal_sn: r.get("terminal_sn")?,
            merchant_no: r.get("merchant_no")?,
            merchant_name: r.get("merchant_name")?,
            card,
            payer: r.get("payer")?,
            reference_no: r.get("reference_no")?,
            batch_no: r.get("batch_no")?,
            voucher_no: r.get("voucher_no")?,
            log_no: r.get("log_no")?,
            business_date: day.clone(),
            created_at: rfc3339(created_at),
            updated_at: rfc3339(updated_at),
            change_seq: u64::try_from(change_seq).unwrap_or(0),
        },
        amount,
        fee,
        refunded,
        fee_returned,
        created_at,
        day,
    })
}

pub(crate) fn load_trade(
    conn: &Connection,
    merchant_id: &str,
    trade_id: &str,
) -> Result<Option<StoredTrade>, ApiError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TRADE_COLUMNS} FROM dom_trades WHERE trade_id = ?1 AND merchant_id = ?2"
        ))?
        .query_row(params![trade_id, merchant_id], read_trade)
        .optional()?)
}

fn load_seq(conn: &Connection, seq: i64) -> Result<StoredTrade, ApiError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TRADE_COLUMNS} FROM dom_trades WHERE seq = ?1"
        ))?
        .query_row(params![seq], read_trade)?)
}

// ---------------------------------------------------------------------------
// Counters and numbers
// ---------------------------------------------------------------------------

/// Moves the merchant's counter `scope` on by one and returns it.
pub(crate) fn bump(conn: &Connection, merchant_id: &str, scope: &str) -> Result<i64, ApiError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO dom_counters (merchant_id, scope, n) VALUES (?1, ?2, 1)
             ON CONFLICT (merchant_id, scope) DO UPDATE SET n = n + 1 RETURNING n",
        )?
        .query_row(params![merchant_id, scope], |r| r.get(0))?)
}

/// The merchant's counter `scope` (0 before its first use).
pub(crate) fn counter(conn: &Connection, merchant_id: &str, scope: &str) -> Result<i64, ApiError> {
    Ok(conn
        .prepare_cached("SELECT n FROM dom_counters WHERE merchant_id = ?1 AND scope = ?2")?
        .query_row(params![merchant_id, scope], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The counter of the change feed.
pub(crate) const CHANGE: &str = "change";

/// The merchant's next `change_seq` for a record that held `old` (none for
/// a new record), keeping the feed's buckets.
pub(crate) fn next_change(
    conn: &Connection,
    merchant_id: &str,
    old: Option<i64>,
) -> Result<i64, ApiError> {
    let seq = bump(conn, merchant_id, CHANGE)?;
    let mut live = conn.prepare_cached(
        "INSERT INTO dom_feed_buckets (merchant_id, bucket, live) VALUES (?1, ?2, ?3)
         ON CONFLICT (merchant_id, bucket) DO UPDATE SET live = live + ?3",
    )?;
    live.execute(params![merchant_id, seq / FEED_BUCKET, 1])?;
    if let Some(old) = old {
        live.execute(params![merchant_id, old / FEED_BUCKET, -1])?;
    }
    Ok(seq)
}

/// 流水号: `YYMMDD` of the business day and the merchant's 8-digit count of
/// records that day (14 digits, unique per merchant).
pub(crate) fn log_no(day: &str, n: i64) -> String {
    let compact = day.replace('-', "");
    format!(
        "{}{:08}",
        compact.get(2..).unwrap_or("000000"),
        n.rem_euclid(100_000_000)
    )
}

/// The 批次号, 凭证号 and 流水号 of a new record on terminal `sn` at `at`.
fn numbers(
    conn: &Connection,
    merchant_id: &str,
    sn: &str,
    at: i64,
) -> Result<(String, String, String), ApiError> {
    let day = day_of(at);
    let voucher: i64 = conn
        .prepare_cached(
            "INSERT INTO dom_vouchers (sn, day, n) VALUES (?1, ?2, 1)
             ON CONFLICT (sn, day) DO UPDATE SET n = n + 1 RETURNING n",
        )?
        .query_row(params![sn, day], |r| r.get(0))?;
    let log = bump(conn, merchant_id, &format!("log:{day}"))?;
    Ok((
        generator::batch_no(sn, day_index(at)),
        format!("{:06}", voucher.rem_euclid(1_000_000)),
        log_no(&day, log),
    ))
}

// ---------------------------------------------------------------------------
// Making sales
// ---------------------------------------------------------------------------

/// The next draw index of the merchant's generated trades.
fn next_draw(conn: &Connection, merchant_id: &str) -> Result<u64, ApiError> {
    let n: i64 = conn.query_row(
        "UPDATE dom_merchants SET trade_draws = trade_draws + 1 WHERE merchant_id = ?1 RETURNING trade_draws",
        params![merchant_id],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether the merchant's day is already settled.
pub fn day_settled(conn: &Connection, merchant_id: &str, day: &str) -> Result<bool, ApiError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM dom_settlements WHERE merchant_id = ?1 AND day = ?2")?
        .query_row(params![merchant_id, day], |_| Ok(()))
        .optional()?
        .is_some())
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        items.get(rng.random_range(0..items.len()))
    }
}

/// A terminal that is not the merchant's: one bound to another merchant if
/// any, else a free one.
fn foreign_terminal(
    conn: &Connection,
    merchant_id: &str,
    rng: &mut impl Rng,
) -> Result<String, ApiError> {
    for sql in [
        "SELECT sn FROM dom_terminals WHERE merchant_id IS NOT NULL AND merchant_id <> ?1 ORDER BY sn",
        "SELECT sn FROM dom_terminals WHERE merchant_id IS NULL AND ?1 IS NOT NULL ORDER BY sn",
    ] {
        let mut stmt = conn.prepare(sql)?;
        let sns = stmt
            .query_map(params![merchant_id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(sn) = pick(rng, &sns) {
            return Ok(sn.clone());
        }
    }
    Err(ApiError::new(&wire::SANDBOX_NO_TERMINAL).detail("no foreign terminal"))
}

/// What a drawn trade becomes when stored.
struct Making {
    drawn: DrawnTrade,
    terminal_sn: String,
    merchant_no: String,
    merchant_name: String,
    rate: Rate,
    fee: Amount,
    trade_id_digits: u64,
    anomaly: Option<Anomaly>,
    payer: Option<String>,
    life: DrawnLife,
    status: Option<TradeStatus>,
}

fn prepare(
    state: &AppState,
    conn: &Connection,
    p: &Profile,
    opts: &TradeOptions,
) -> Result<Making, ApiError> {
    let n = next_draw(conn, &p.merchant_id)?;
    let mut rng = generator::trade_rng(state.seed(), &p.merchant_id, n);
    let drawn = generator::draw_trade(&mut rng, opts.channel, opts.amount);
    let trade_id_digits = rng.random_range(0..1_000_000_000_000u64);
    let life = generator::draw_life(&mut rng, drawn.channel);
    let payer_index = generator::draw_payer_index(&mut rng);
    let payer = generator::payer(state.seed(), &p.merchant_id, drawn.channel, payer_index);
    let own = terminals::serials_of(conn, &p.merchant_id)?;
    let terminal_sn = match (&opts.anomaly, &opts.terminal_sn) {
        (Some(Anomaly::ForeignTerminal), _) => foreign_terminal(conn, &p.merchant_id, &mut rng)?,
        (_, Some(sn)) => {
            if !own.contains(sn) {
                return Err(ApiError::fields(vec![FieldError {
                    field: "terminal_sn".to_owned(),
                    code: wire::FIELD_INVALID.code.to_owned(),
                }])
                .detail("not one of the merchant's terminals, or frozen"));
            }
            sn.clone()
        }
        (_, None) => pick(&mut rng, &own)
            .cloned()
            .ok_or_else(|| ApiError::new(&wire::SANDBOX_NO_TERMINAL))?,
    };
    let (merchant_no, merchant_name) = match opts.anomaly {
        Some(Anomaly::MerchantCode) => {
            let (no, name) = pick(&mut rng, generator::OTHER_MERCHANTS)
                .copied()
                .unwrap_or(("822100059990231", "北京市朝阳区宏泰批发商行"));
            (no.to_owned(), name.to_owned())
        }
        _ => (
            p.merchant_no.clone(),
            p.shop_name.clone().unwrap_or_else(|| "个体商户".to_owned()),
        ),
    };
    let agreed = p
        .rates
        .rate(drawn.channel)
        .map_err(|e| ApiError::internal(format!("rate table: {e}")))?;
    let (rate, fee) = match opts.anomaly {
        Some(Anomaly::FeeAboveRate) => {
            let bump = Rate::parse(ANOMALY_RATE_BUMP)
                .map_err(|e| ApiError::internal(format!("bump: {e}")))?;
            let rate = Rate::from_percent(agreed.rate_for(drawn.amount).percent() + bump.percent())
                .map_err(|e| ApiError::internal(format!("bumped rate: {e}")))?;
            (rate, drawn.amount.percent(rate))
        }
        _ => (agreed.rate_for(drawn.amount), agreed.fee(drawn.amount)),
    };
    Ok(Making {
        drawn,
        terminal_sn,
        merchant_no,
        merchant_name,
        rate,
        fee,
        trade_id_digits,
        anomaly: opts.anomaly,
        payer,
        life,
        status: if opts.anomaly.is_some() {
            Some(TradeStatus::Success)
        } else {
            opts.status
        },
    })
}

/// The status a sale starts with and, when pending, when and into what it
/// resolves (never after its own business day ends, so that a finished day
/// has no pending sale left when it is settled).
pub(crate) fn start_status(
    life: &DrawnLife,
    forced: Option<TradeStatus>,
    at: i64,
) -> (TradeStatus, Option<(i64, TradeStatus)>) {
    let pending = match forced {
        Some(TradeStatus::Pending) => true,
        Some(_) => false,
        None => life.pending,
    };
    if pending {
        let day_end = day_index(at).saturating_add(1) * 86_400 - 8 * 3600 - 1;
        let due = at.saturating_add(life.delay_secs).min(day_end.max(at));
        let outcome = if life.closes {
            TradeStatus::Closed
        } else {
            TradeStatus::Success
        };
        return (TradeStatus::Pending, Some((due, outcome)));
    }
    if forced.is_none() && life.failed {
        return (TradeStatus::Failed, None);
    }
    (TradeStatus::Success, None)
}

fn card_kind_text(card: Option<&DrawnCard>) -> Option<String> {
    card.map(|c| {
        c.info
            .as_ref()
            .and_then(|i| serde_json::to_value(i.card_kind).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

fn anomaly_text(a: Option<Anomaly>) -> Option<String> {
    a.and_then(|a| serde_json::to_value(a).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// The columns a new record is inserted with (the order of [`INSERT`]'s
/// parameters).
pub(crate) const INSERT: &str = "INSERT INTO dom_trades (trade_id, merchant_id, kind,
    original_trade_id, channel, amount, fee, rate, status, terminal_sn, merchant_no,
    merchant_name, card_bin, card_last4, card_kind, card_bank, payer, reference_no, batch_no,
    voucher_no, log_no, reason, created_at, updated_at, day, change_seq, due_at, outcome, anomaly)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)";

fn store(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    m: &Making,
    at: i64,
    emit: bool,
) -> Result<Trade, ApiError> {
    let day = day_of(at);
    let trade_id = format!("T{}{:012}", day.replace('-', ""), m.trade_id_digits);
    let card: Option<&DrawnCard> = m.drawn.card.as_ref();
    let (status, due) = start_status(&m.life, m.status, at);
    let (batch_no, voucher_no, log_no) = numbers(conn, merchant_id, &m.terminal_sn, at)?;
    let change_seq = next_change(conn, merchant_id, None)?;
    conn.prepare_cached(INSERT)?.execute(params![
        trade_id,
        merchant_id,
        TradeKind::Sale.as_str(),
        None::<String>,
        m.drawn.channel.as_str(),
        m.drawn.amount.to_fen(),
        m.fee.to_fen(),
        m.rate.to_string(),
        status.as_str(),
        m.terminal_sn,
        m.merchant_no,
        m.merchant_name,
        card.map(|c| c.bin.clone()),
        card.map(|c| c.last4.clone()),
        card_kind_text(card),
        card.and_then(|c| c.info.as_ref().map(|i| i.bank_name.clone())),
        m.payer,
        m.drawn.reference_no,
        batch_no,
        voucher_no,
        log_no,
        None::<String>,
        at,
        at,
        day,
        change_seq,
        due.map(|d| d.0),
        due.map(|d| d.1.as_str()),
        anomaly_text(m.anomaly),
    ])?;
    terminals::note_trade(conn, merchant_id, &m.terminal_sn, at)?;
    let row = load_trade(conn, merchant_id, &trade_id)?
        .ok_or_else(|| ApiError::internal("trade just stored"))?;
    if emit {
        emit_record(
            state,
            conn,
            merchant_id,
            event_types::TRADE_CREATED,
            &row.trade,
        )?;
    }
    Ok(row.trade)
}

fn emit_record(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    event_type: &str,
    body: &impl serde::Serialize,
) -> Result<(), ApiError> {
    let body = serde_json::to_value(body)
        .map_err(|e| ApiError::internal(format!("{event_type} json: {e}")))?;
    state.emit_with(conn, merchant_id, event_type, body)?;
    Ok(())
}

/// Makes one trade (two for a double charge: the first a few seconds before
/// `at`) for an active merchant inside the caller's transaction, emitting
/// `trade.created` for each unless `quiet`.
pub fn make(
    state: &AppState,
    conn: &Connection,
    p: &Profile,
    opts: &TradeOptions,
    at: i64,
    quiet: bool,
) -> Result<Vec<Trade>, ApiError> {
    if opts.anomaly == Some(Anomaly::DoubleCharge) {
        let first = prepare(state, conn, p, opts)?;
        let gap = 2 + i64::try_from(first.trade_id_digits % 7).unwrap_or(0);
        let a = store(state, conn, &p.merchant_id, &first, at - gap, !quiet)?;
        // The same card, amount and terminal again: only the ids differ.
        let again_opts = TradeOptions {
            channel: Some(first.drawn.channel),
            amount: Some(first.drawn.amount),
            terminal_sn: Some(first.terminal_sn.clone()),
            anomaly: None,
            status: Some(TradeStatus::Success),
        };
        let mut again = prepare(state, conn, p, &again_opts)?;
        again.drawn.card = first.drawn.card.clone();
        again.payer = first.payer.clone();
        again.anomaly = Some(Anomaly::DoubleCharge);
        let b = store(state, conn, &p.merchant_id, &again, at, !quiet)?;
        return Ok(vec![a, b]);
    }
    let m = prepare(state, conn, p, opts)?;
    Ok(vec![store(state, conn, &p.merchant_id, &m, at, !quiet)?])
}

// ---------------------------------------------------------------------------
// The life of a pending sale
// ---------------------------------------------------------------------------

/// Applies every pending sale's outcome that is due at `now` (of one
/// merchant, or of all), oldest due first: the sale becomes `success` or
/// `closed` as of its due time, gets a new `change_seq`, and
/// `trade.updated` is emitted. Returns how many changed.
pub fn apply_due(
    state: &AppState,
    conn: &Connection,
    merchant_id: Option<&str>,
    now: i64,
) -> Result<usize, ApiError> {
    let due: Vec<(i64, String, i64, String, i64)> = conn
        .prepare_cached(
            "SELECT seq, merchant_id, due_at, outcome, change_seq FROM dom_trades
             WHERE status = 'pending' AND due_at <= ?1 AND (?2 IS NULL OR merchant_id = ?2)
             ORDER BY due_at, seq",
        )?
        .query_map(params![now, merchant_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (seq, mid, due_at, outcome, old) in &due {
        let outcome = TradeStatus::parse(outcome)
            .filter(|o| TradeStatus::Pending.may_become(*o) && *o != TradeStatus::Pending)
            .unwrap_or(TradeStatus::Success);
        let change_seq = next_change(conn, mid, Some(*old))?;
        conn.prepare_cached(
            "UPDATE dom_trades SET status = ?2, updated_at = ?3, change_seq = ?4, due_at = NULL,
                outcome = NULL WHERE seq = ?1",
        )?
        .execute(params![seq, outcome.as_str(), due_at, change_seq])?;
        let row = load_seq(conn, *seq)?;
        emit_record(state, conn, mid, event_types::TRADE_UPDATED, &row.trade)?;
    }
    Ok(due.len())
}

/// [`apply_due`] for one merchant at the business now, in its own
/// transaction: what every read and write of the merchant's trades and
/// settlements does first.
pub fn catch_up(
    state: &AppState,
    conn: &mut Connection,
    merchant_id: &str,
) -> Result<(), ApiError> {
    let tx = conn.transaction()?;
    apply_due(state, &tx, Some(merchant_id), state.now_unix())?;
    tx.commit()?;
    Ok(())
}

/// [`apply_due`] for every merchant (the life task, and after the business
/// clock moved).
pub fn apply_all_due(state: &AppState) -> Result<usize, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let n = apply_due(state, &tx, None, now)?;
        tx.commit()?;
        Ok(n)
    })
}

/// Starts the task that applies due outcomes every [`LIFE_TICK`], so
/// `trade.updated` goes out without a read.
pub fn spawn_life(state: &AppState) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<Inner> = std::sync::Arc::downgrade(&state.inner);
    handle.spawn(async move {
        let mut ticker = tokio::time::interval(LIFE_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            let state = AppState { inner };
            if let Err(e) = apply_all_due(&state) {
                tracing::warn!(error = %e, "trade life tick failed");
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Voids and refunds: records of their own
// ---------------------------------------------------------------------------

/// A void or refund record to make: its kind and id, the amount and fee
/// given back, why, and its reference number.
#[derive(Debug, Clone, Copy)]
struct Reversal<'a> {
    kind: TradeKind,
    id: &'a str,
    amount: i64,
    fee: i64,
    reason: Option<&'a str>,
    reference_no: &'a str,
}

/// Inserts the void or refund record `id` of the sale `sale` (copying its
/// channel, rate, terminal, merchant code, card and payer) at `at`.
fn insert_reversal(
    conn: &Connection,
    merchant_id: &str,
    sale: &StoredTrade,
    r: &Reversal<'_>,
    at: i64,
) -> Result<StoredTrade, ApiError> {
    let Reversal {
        kind,
        id,
        amount,
        fee,
        reason,
        reference_no,
    } = *r;
    let (batch_no, voucher_no, log_no) = numbers(conn, merchant_id, &sale.trade.terminal_sn, at)?;
    let change_seq = next_change(conn, merchant_id, None)?;
    conn.prepare_cached(
        "INSERT INTO dom_trades (trade_id, merchant_id, kind, original_trade_id, channel, amount,
            fee, rate, status, terminal_sn, merchant_no, merchant_name, card_bin, card_last4,
            card_kind, card_bank, payer, reference_no, batch_no, voucher_no, log_no, reason,
            created_at, updated_at, day, change_seq)
         SELECT ?2, merchant_id, ?3, trade_id, channel, ?4, ?5, rate, 'success', terminal_sn,
            merchant_no, merchant_name, card_bin, card_last4, card_kind, card_bank, payer, ?6, ?7,
            ?8, ?9, ?10, ?11, ?11, ?12, ?13
         FROM dom_trades WHERE seq = ?1",
    )?
    .execute(params![
        sale.seq,
        id,
        kind.as_str(),
        amount,
        fee,
        reference_no,
        batch_no,
        voucher_no,
        log_no,
        reason,
        at,
        day_of(at),
        change_seq
    ])?;
    load_trade(conn, merchant_id, id)?.ok_or_else(|| ApiError::internal("record just stored"))
}

/// A random stream keyed by the seed, a tag, a record id and a count.
fn id_rng(seed: u64, tag: &[u8], trade_id: &str, n: i64) -> ChaCha8Rng {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(tag);
    ctx.update(&seed.to_be_bytes());
    ctx.update(trade_id.as_bytes());
    ctx.update(&n.to_be_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    ChaCha8Rng::from_seed(key)
}

/// The status of a sale with `refunded` of `amount` given back.
fn refunded_status(amount: i64, refunded: i64) -> TradeStatus {
    if refunded <= 0 {
        TradeStatus::Success
    } else if refunded < amount {
        TradeStatus::PartiallyRefunded
    } else {
        TradeStatus::Refunded
    }
}

/// Voids the merchant's card sale `trade_id` now, inside the caller's
/// transaction, and emits `trade.voided` unless `quiet`. The rules, each
/// refused before anything is written: 404 `resource.not_found`; 409
/// `void.not_voidable` (a void or refund record, or a sale that is not
/// `success`: pending, failed, closed, refunded in part or whole, voided);
/// 409 `void.not_card` (a scan-code sale); 409 `void.day_settled` (its day
/// is settled); 409 `void.day_over` (its day is not today).
pub fn void_with(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    trade_id: &str,
    reason: Option<&str>,
    at: i64,
    quiet: bool,
) -> Result<TradeVoided, ApiError> {
    let t = load_trade(conn, merchant_id, trade_id)?.ok_or_else(ApiError::not_found)?;
    if t.trade.kind != TradeKind::Sale {
        return Err(ApiError::new(&wire::VOID_NOT_VOIDABLE).detail("not a sale"));
    }
    if Channel::parse(&t.trade.channel).is_ok_and(|c| c.is_scan_code()) {
        return Err(ApiError::new(&wire::VOID_NOT_CARD));
    }
    if t.trade.status != TradeStatus::Success || t.refunded > 0 {
        return Err(ApiError::new(&wire::VOID_NOT_VOIDABLE));
    }
    if day_settled(conn, merchant_id, &t.day)? {
        return Err(ApiError::new(&wire::VOID_DAY_SETTLED));
    }
    if t.day != day_of(at) {
        return Err(ApiError::new(&wire::VOID_DAY_OVER));
    }
    let mut rng = id_rng(state.seed(), b"merchant-sandbox void v1\0", trade_id, 0);
    let void_id = format!(
        "V{}{:012}",
        t.day.replace('-', ""),
        rng.random_range(0..1_000_000_000_000u64)
    );
    let reference_no = generator::draw_reference_no(&mut rng);
    let void = insert_reversal(
        conn,
        merchant_id,
        &t,
        &Reversal {
            kind: TradeKind::Void,
            id: &void_id,
            amount: t.amount,
            fee: t.fee,
            reason,
            reference_no: &reference_no,
        },
        at,
    )?;
    let change_seq = next_change(
        conn,
        merchant_id,
        Some(i64::try_from(t.trade.change_seq).unwrap_or(0)),
    )?;
    conn.prepare_cached(
        "UPDATE dom_trades SET status = 'voided', updated_at = ?2, change_seq = ?3 WHERE seq = ?1",
    )?
    .execute(params![t.seq, at, change_seq])?;
    let trade = load_seq(conn, t.seq)?.trade;
    let done = TradeVoided {
        trade,
        void: void.trade,
    };
    if !quiet {
        emit_record(state, conn, merchant_id, event_types::TRADE_VOIDED, &done)?;
    }
    Ok(done)
}

/// `POST /v1/trades/{trade_id}/void`.
pub async fn void(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(trade_id): Path<String>,
    JsonBody(req): JsonBody<VoidRequest>,
) -> Result<Json<TradeVoided>, ApiError> {
    let mut problems = Vec::new();
    let reason = refund_reason(req.reason.as_deref(), &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    state.db(|conn| {
        catch_up(&state, conn, &merchant_id)?;
        let now = state.now_unix();
        let tx = conn.transaction()?;
        let done = void_with(
            &state,
            &tx,
            &merchant_id,
            &trade_id,
            reason.as_deref(),
            now,
            false,
        )?;
        tx.commit()?;
        Ok(Json(done))
    })
}

// ---------------------------------------------------------------------------
// The change feed
// ---------------------------------------------------------------------------

/// The query of `GET /v1/trades/changes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// How many of the merchant's records hold a `change_seq` above `after`:
/// the buckets above `after`'s, plus a count inside its own bucket.
pub(crate) fn count_after(
    conn: &Connection,
    merchant_id: &str,
    after: i64,
) -> Result<u64, ApiError> {
    let bucket = after.div_euclid(FEED_BUCKET);
    let inside: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM dom_trades
             WHERE merchant_id = ?1 AND change_seq > ?2 AND change_seq < ?3",
        )?
        .query_row(
            params![merchant_id, after, (bucket + 1).saturating_mul(FEED_BUCKET)],
            |r| r.get(0),
        )?;
    let above: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(live), 0) FROM dom_feed_buckets
             WHERE merchant_id = ?1 AND bucket > ?2",
        )?
        .query_row(params![merchant_id, bucket], |r| r.get(0))?;
    Ok(u64::try_from(inside + above).unwrap_or(0))
}

/// `GET /v1/trades/changes?after=SEQ&limit=N`: the merchant's records whose
/// `change_seq` is above `after`, ascending, each as it stands now.
pub async fn changes(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    QueryParams(q): QueryParams<ChangesQuery>,
) -> Result<Json<TradeChanges>, ApiError> {
    let mut problems = Vec::new();
    let after = match q.after.as_deref() {
        None => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 && text.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                problems.push(FieldError::new("after", wire::FIELD_FEED_AFTER.code));
                0
            }
        },
    };
    let limit = match q.limit.as_deref() {
        None => FEED_LIMIT_DEFAULT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=FEED_LIMIT_MAX).contains(&n) => n,
            _ => {
                problems.push(FieldError::new("limit", wire::FIELD_PAGE_LIMIT.code));
                FEED_LIMIT_DEFAULT
            }
        },
    };
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    state.db(|conn| {
        catch_up(&state, conn, &merchant_id)?;
        let mut rows = conn
            .prepare_cached(&format!(
                "SELECT {TRADE_COLUMNS} FROM dom_trades
                 WHERE merchant_id = ?1 AND change_seq > ?2
                 ORDER BY change_seq LIMIT ?3"
            ))?
            .query_map(
                params![merchant_id, after, i64::from(limit) + 1],
                read_trade,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_after = rows
            .last()
            .map_or(u64::try_from(after).unwrap_or(0), |r| r.trade.change_seq);
        let remaining = if has_more {
            count_after(
                conn,
                &merchant_id,
                i64::try_from(next_after).unwrap_or(i64::MAX),
            )?
        } else {
            0
        };
        Ok(Json(TradeChanges {
            changes: rows.into_iter().map(|r| r.trade).collect(),
            next_after,
            has_more,
            remaining,
        }))
    })
}

/// The seeded shop's refunds, made at 21:30 after the day's trades: on the
/// second-to-last seeded day, half (in whole yuan) of one of that day's
/// trades; on the last seeded day, the whole of one of the trades of the day
/// before (a refund counts on the day it is made). Each is drawn from the
/// seed among the trades the day's takings cover.
const SEEDED_REFUNDS: &[SeededRefund] = &[
    SeededRefund {
        back: 2,
        of_back: 2,
        percent: 50,
        reason: "顾客退货",
    },
    SeededRefund {
        back: 1,
        of_back: 2,
        percent: 100,
        reason: "顾客取消订单",
    },
];

/// A seeded refund: made on the day `back` days before the first day, of a
/// trade of the day `of_back` days before, `percent` of it.
struct SeededRefund {
    back: i64,
    of_back: i64,
    percent: u32,
    reason: &'static str,
}

fn seed_refund(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    today: NaiveDate,
    r: &SeededRefund,
) -> Result<(), ApiError> {
    let (Some(day), Some(of_day)) = (
        today.checked_sub_days(chrono::Days::new(r.back.unsigned_abs())),
        today.checked_sub_days(chrono::Days::new(r.of_back.unsigned_abs())),
    ) else {
        return Ok(());
    };
    let at = day_start(day) + 21 * 3600 + 30 * 60;
    let takings = day_totals(conn, merchant_id, &day_of(at))?.net();
    let mut stmt = conn.prepare(
        "SELECT trade_id, amount - refunded FROM dom_trades
         WHERE merchant_id = ?1 AND day = ?2 AND kind = 'sale'
           AND status IN ('success', 'partially_refunded') AND amount - refunded <= ?3
         ORDER BY seq",
    )?;
    let candidates = stmt
        .query_map(
            params![merchant_id, day_of(day_start(of_day)), takings],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let mut rng =
        generator::refund_rng(state.seed(), merchant_id, u64::MAX - r.back.unsigned_abs());
    if let Some(drawn) = generator::draw_refund(&mut rng, candidates.len()) {
        let drawn = generator::DrawnRefund {
            percent: r.percent,
            reason: r.reason,
            ..drawn
        };
        refund_drawn(state, conn, merchant_id, &candidates, drawn, at, true)?;
    }
    Ok(())
}

/// Seeding: `per_day` trades on each of the `days` days before the one of
/// `start`, spread over opening hours (08:00–21:00), the seeded refunds
/// ([`SEEDED_REFUNDS`]), each day settled.
pub(crate) fn seed_history(
    state: &AppState,
    merchant_id: &str,
    start: i64,
    days: i64,
    per_day: u32,
) -> Result<(), ApiError> {
    let today = to_china(start).date_naive();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let p = merchant::require_active(&tx, merchant_id)?;
        for back in (1..=days).rev() {
            let Some(day) = today.checked_sub_days(chrono::Days::new(back as u64)) else {
                continue;
            };
            let open = day_start(day) + 8 * 3600;
            let step = 13 * 3600 / i64::from(per_day.max(1));
            for i in 0..i64::from(per_day) {
                let at = open + i * step + (i * 7919) % step.max(1);
                let paid = TradeOptions {
                    status: Some(TradeStatus::Success),
                    ..TradeOptions::default()
                };
                make(state, &tx, &p, &paid, at, true)?;
            }
            for r in SEEDED_REFUNDS
                .iter()
                .filter(|r| r.back == back && r.of_back <= days)
            {
                seed_refund(state, &tx, merchant_id, today, r)?;
            }
            super::settlements::settle_with(
                state,
                &tx,
                &p,
                &day_of(open),
                0,
                day_start(day) + 86_400 + 9 * 3600,
                true,
            )?;
        }
        tx.commit()?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

fn time_param(field: &str, v: Option<&str>, out: &mut Vec<FieldError>) -> Option<i64> {
    let v = v?;
    // A `+` of the offset sent unencoded arrives as a space: take it back.
    match DateTime::parse_from_rfc3339(&v.replace(' ', "+")) {
        Ok(t) => Some(t.timestamp()),
        Err(_) => {
            out.push(FieldError {
                field: field.to_owned(),
                code: wire::FIELD_TIME.code.to_owned(),
            });
            None
        }
    }
}

/// The paging (`cursor`, `limit`) and the `from` (inclusive) .. `to`
/// (exclusive) window of a list of trades or refunds; wrong parameters are
/// added to `problems`.
fn page_and_window(
    list: &str,
    cursor: Option<&str>,
    limit: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    problems: &mut Vec<FieldError>,
) -> (Option<paging::Cursor>, u32, Option<i64>, Option<i64>) {
    let (cursor, limit) = page_params(list, cursor, limit, problems);
    let from = time_param("from", from, problems);
    let to = time_param("to", to, problems);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        problems.push(FieldError {
            field: "to".to_owned(),
            code: wire::FIELD_RANGE.code.to_owned(),
        });
    }
    (cursor, limit, from, to)
}

/// The query of `GET /v1/trades`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeQuery {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    terminal_sn: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

const TRADES: &str = "trades";

/// `GET /v1/trades`: newest first; `from` (inclusive) and `to` (exclusive)
/// are RFC 3339 times.
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    QueryParams(q): QueryParams<TradeQuery>,
) -> Result<Json<Page<Trade>>, ApiError> {
    let mut problems = Vec::new();
    let (cursor, limit, from, to) = page_and_window(
        TRADES,
        q.cursor.as_deref(),
        q.limit.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        &mut problems,
    );
    let channel = match q.channel.as_deref() {
        None => None,
        Some(c) => match Channel::parse(c) {
            Ok(c) => Some(c.as_str()),
            Err(_) => {
                problems.push(FieldError {
                    field: "channel".to_owned(),
                    code: wire::FIELD_CHANNEL.code.to_owned(),
                });
                None
            }
        },
    };
    let terminal_sn = match q.terminal_sn.as_deref() {
        None => None,
        Some(sn) => match super::inventory::normalize_sn(sn) {
            Some(sn) => Some(sn),
            None => {
                problems.push(FieldError {
                    field: "terminal_sn".to_owned(),
                    code: wire::TERMINAL_SN_INVALID.code.to_owned(),
                });
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let (key, tie) = cursor.map_or((i64::MAX, i64::MAX), |c| (c.key, c.tie));
    let rows = state.db(|conn| {
        catch_up(&state, conn, &merchant_id)?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {TRADE_COLUMNS} FROM dom_trades
             WHERE merchant_id = ?1
               AND (created_at < ?2 OR (created_at = ?2 AND seq < ?3))
               AND (?4 IS NULL OR created_at >= ?4)
               AND (?5 IS NULL OR created_at < ?5)
               AND (?6 IS NULL OR channel = ?6)
               AND (?7 IS NULL OR terminal_sn = ?7)
             ORDER BY created_at DESC, seq DESC LIMIT ?8"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    merchant_id,
                    key,
                    tie,
                    from,
                    to,
                    channel,
                    terminal_sn,
                    i64::from(limit) + 1
                ],
                read_trade,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let (items, next_cursor) = paging::cut(TRADES, rows, limit, |r| paging::Cursor {
        key: r.created_at,
        tie: r.seq,
    });
    Ok(Json(Page {
        items: items.into_iter().map(|r| r.trade).collect(),
        next_cursor,
    }))
}

/// `GET /v1/trades/{trade_id}`.
pub async fn get_one(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(trade_id): Path<String>,
) -> Result<Json<Trade>, ApiError> {
    let row = state.db(|conn| {
        catch_up(&state, conn, &merchant_id)?;
        load_trade(conn, &merchant_id, &trade_id)
    })?;
    row.map(|r| Json(r.trade)).ok_or_else(ApiError::not_found)
}

// ---------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------

/// The movements of the merchant's day that count in its settlement: its
/// paid sales that are not voided (a void cancels its sale on the same day:
/// neither counts), and the refunds made that day.
pub fn day_totals(
    conn: &Connection,
    merchant_id: &str,
    day: &str,
) -> Result<ledger::DayTotals, ApiError> {
    let mut totals = ledger::DayTotals::default();
    let mut stmt = conn.prepare_cached(
        "SELECT kind, COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(fee), 0) FROM dom_trades
         WHERE merchant_id = ?1 AND day = ?2 AND kind IN ('sale', 'refund')
           AND status IN ('success', 'partially_refunded', 'refunded')
         GROUP BY kind",
    )?;
    let rows = stmt
        .query_map(params![merchant_id, day], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (kind, count, amount, fee) in rows {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if kind == TradeKind::Sale.as_str() {
            totals.trade_count = count;
            totals.gross = amount;
            totals.fees_charged = fee;
        } else {
            totals.refund_count = count;
            totals.refunds = amount;
            totals.fees_returned = fee;
        }
    }
    Ok(totals)
}

/// A refund record as the `Refund` answer shows it, with its time and
/// sequence (for paging).
fn refund_wire(r: &Row<'_>) -> rusqlite::Result<(i64, i64, Refund)> {
    let created_at: i64 = r.get("created_at")?;
    Ok((
        r.get("seq")?,
        created_at,
        Refund {
            refund_id: r.get("trade_id")?,
            trade_id: r
                .get::<_, Option<String>>("original_trade_id")?
                .unwrap_or_default(),
            amount: fen_text(r.get("amount")?),
            fee_returned: fen_text(r.get("fee")?),
            reason: r.get("reason")?,
            created_at: rfc3339(created_at),
        },
    ))
}

const REFUND_COLUMNS: &str = "seq, trade_id, original_trade_id, amount, fee, reason, created_at";

/// A refund's amount as asked for: above zero, a valid amount; wrong ones
/// are added to `problems`.
pub(crate) fn refund_amount(text: &str, problems: &mut Vec<FieldError>) -> Option<Amount> {
    match Amount::parse(text) {
        Ok(a) if a.is_zero() => {
            problems.push(FieldError {
                field: "amount".to_owned(),
                code: wire::FIELD_REFUND_ZERO.code.to_owned(),
            });
            None
        }
        Ok(a) => Some(a),
        Err(e) => {
            for p in &e.problems {
                problems.push(FieldError {
                    field: "amount".to_owned(),
                    code: p.code.clone(),
                });
            }
            None
        }
    }
}

/// A refund's reason as asked for: trimmed, empty is none, at most
/// [`REASON_MAX`] characters and no control characters (else added to
/// `problems`).
pub(crate) fn refund_reason(text: Option<&str>, problems: &mut Vec<FieldError>) -> Option<String> {
    let r = text.map(str::trim).filter(|r| !r.is_empty())?;
    if r.chars().count() > REASON_MAX {
        problems.push(FieldError {
            field: "reason".to_owned(),
            code: wire::FIELD_TOO_LONG.code.to_owned(),
        });
    } else if r.chars().any(char::is_control) {
        problems.push(FieldError {
            field: "reason".to_owned(),
            code: wire::FIELD_INVALID.code.to_owned(),
        });
    }
    Some(r.to_owned())
}

/// A refund to make: of which trade, how many fen (`None`: whatever is left
/// of it), and why.
#[derive(Debug, Clone, Copy)]
pub struct RefundAsk<'a> {
    pub trade_id: &'a str,
    pub amount: Option<i64>,
    pub reason: Option<&'a str>,
}

/// Refunds what `ask` says of the merchant's trade
/// inside the caller's transaction, at `at` (the refund counts in that
/// day), and emits `trade.refunded` unless `quiet`. Every refund, the
/// merchant's, the sandbox control's, the stream's and the seeded ones,
/// comes through here. Refused before anything is written: 404
/// `resource.not_found`, 409 `refund.exceeds_refundable`, 409
/// `refund.insufficient_balance`.
pub fn refund_with(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    ask: RefundAsk<'_>,
    at: i64,
    quiet: bool,
) -> Result<TradeRefunded, ApiError> {
    let RefundAsk {
        trade_id,
        amount,
        reason,
    } = ask;
    let day = day_of(at);
    let t = load_trade(conn, merchant_id, trade_id)?.ok_or_else(ApiError::not_found)?;
    if t.trade.kind != TradeKind::Sale {
        return Err(ApiError::new(&wire::REFUND_NOT_A_SALE));
    }
    match t.trade.status {
        TradeStatus::Success | TradeStatus::PartiallyRefunded | TradeStatus::Refunded => {}
        // A voided sale has nothing left to give back.
        TradeStatus::Voided => {
            return Err(ApiError::new(&wire::REFUND_EXCEEDS_REFUNDABLE).detail("voided"));
        }
        TradeStatus::Pending | TradeStatus::Failed | TradeStatus::Closed => {
            return Err(ApiError::new(&wire::REFUND_NOT_PAID));
        }
    }
    let refund_fen = amount.unwrap_or(t.amount - t.refunded);
    let back = ledger::fee_returned(t.amount, t.fee, t.refunded, t.fee_returned, refund_fen)
        .ok_or_else(|| ApiError::new(&wire::REFUND_EXCEEDS_REFUNDABLE))?;
    let totals = day_totals(conn, merchant_id, &day)?;
    if !ledger::refund_fits(&totals, refund_fen, back) {
        return Err(ApiError::new(&wire::REFUND_INSUFFICIENT_BALANCE));
    }
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM dom_trades WHERE original_trade_id = ?1 AND kind = 'refund'",
        )?
        .query_row(params![trade_id], |r| r.get(0))?;
    let mut rng = id_rng(
        state.seed(),
        b"merchant-sandbox refund v1\0",
        trade_id,
        count,
    );
    let refund_id = format!(
        "R{}{:012}",
        day.replace('-', ""),
        rng.random_range(0..1_000_000_000_000u64)
    );
    let reference_no = generator::draw_reference_no(&mut rng);
    let record = insert_reversal(
        conn,
        merchant_id,
        &t,
        &Reversal {
            kind: TradeKind::Refund,
            id: &refund_id,
            amount: refund_fen,
            fee: back,
            reason,
            reference_no: &reference_no,
        },
        at,
    )?;
    let refunded = t.refunded + refund_fen;
    let change_seq = next_change(
        conn,
        merchant_id,
        Some(i64::try_from(t.trade.change_seq).unwrap_or(0)),
    )?;
    conn.prepare_cached(
        "UPDATE dom_trades SET refunded = ?2, fee_returned = fee_returned + ?3, status = ?4,
            updated_at = ?5, change_seq = ?6 WHERE seq = ?1",
    )?
    .execute(params![
        t.seq,
        refunded,
        back,
        refunded_status(t.amount, refunded).as_str(),
        at,
        change_seq
    ])?;
    let trade = load_seq(conn, t.seq)?.trade;
    let refund = conn
        .prepare_cached(&format!(
            "SELECT {REFUND_COLUMNS} FROM dom_trades WHERE seq = ?1"
        ))?
        .query_row(params![record.seq], refund_wire)?
        .2;
    let done = TradeRefunded {
        trade,
        refund,
        record: record.trade,
    };
    if !quiet {
        emit_record(state, conn, merchant_id, event_types::TRADE_REFUNDED, &done)?;
    }
    Ok(done)
}

/// `POST /v1/trades/{trade_id}/refunds`.
pub async fn refund(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(trade_id): Path<String>,
    JsonBody(req): JsonBody<RefundRequest>,
) -> Result<Json<TradeRefunded>, ApiError> {
    let mut problems = Vec::new();
    let amount = refund_amount(&req.amount, &mut problems);
    let reason = refund_reason(req.reason.as_deref(), &mut problems);
    let Some(amount) = amount.filter(|_| problems.is_empty()) else {
        return Err(ApiError::fields(problems));
    };
    state.db(|conn| {
        catch_up(&state, conn, &merchant_id)?;
        let now = state.now_unix();
        let tx = conn.transaction()?;
        let done = refund_with(
            &state,
            &tx,
            &merchant_id,
            RefundAsk {
                trade_id: &trade_id,
                amount: Some(amount.to_fen()),
                reason: reason.as_deref(),
            },
            now,
            false,
        )?;
        tx.commit()?;
        Ok(Json(done))
    })
}

/// The merchant's latest [`generator::REFUND_RECENT`] trades with something
/// left to refund (newest first, no anomalous ones, none of `except`): their
/// ids and the fen left.
fn refund_candidates(
    conn: &Connection,
    merchant_id: &str,
    except: &[&str],
) -> Result<Vec<(String, i64)>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT trade_id, amount - refunded FROM dom_trades
         WHERE merchant_id = ?1 AND kind = 'sale' AND status IN ('success', 'partially_refunded')
           AND anomaly IS NULL
         ORDER BY created_at DESC, seq DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(generator::REFUND_RECENT + except.len()).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![merchant_id, limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter(|(id, _)| !except.contains(&id.as_str()))
        .take(generator::REFUND_RECENT)
        .collect())
}

/// The steady stream's refunds: after the stream made `made`, one time in
/// 20 it also refunds one of the merchant's latest earlier trades (see
/// [`generator`]), as much as drawn but never more than the day's takings
/// cover, emitting `trade.refunded`. The chance is drawn from the
/// merchant's trade draw count, so the same seed and requests give the same
/// refunds.
pub fn stream_refund(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    made: &[Trade],
    at: i64,
) -> Result<Option<TradeRefunded>, ApiError> {
    let draws: i64 = conn.query_row(
        "SELECT trade_draws FROM dom_merchants WHERE merchant_id = ?1",
        params![merchant_id],
        |r| r.get(0),
    )?;
    let except: Vec<&str> = made.iter().map(|t| t.trade_id.as_str()).collect();
    let candidates = refund_candidates(conn, merchant_id, &except)?;
    let mut rng =
        generator::refund_rng(state.seed(), merchant_id, u64::try_from(draws).unwrap_or(0));
    let Some(drawn) = generator::draw_stream_refund(&mut rng, candidates.len()) else {
        return Ok(None);
    };
    refund_drawn(state, conn, merchant_id, &candidates, drawn, at, false)
}

/// Refunds the drawn candidate at `at`, capped to the day's net (so that it
/// always fits); nothing when the day has no takings to pay it from.
fn refund_drawn(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    candidates: &[(String, i64)],
    drawn: generator::DrawnRefund,
    at: i64,
    quiet: bool,
) -> Result<Option<TradeRefunded>, ApiError> {
    let Some((trade_id, left)) = candidates.get(drawn.pick) else {
        return Ok(None);
    };
    let takings = day_totals(conn, merchant_id, &day_of(at))?.net();
    let fen = generator::refund_fen(*left, drawn.percent).min(takings);
    if fen <= 0 {
        return Ok(None);
    }
    refund_with(
        state,
        conn,
        merchant_id,
        RefundAsk {
            trade_id,
            amount: Some(fen),
            reason: Some(drawn.reason),
        },
        at,
        quiet,
    )
    .map(Some)
}

/// The query of `GET /v1/refunds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundQuery {
    from: Option<String>,
    to: Option<String>,
    trade_id: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

const REFUNDS: &str = "refunds";

/// `GET /v1/refunds`: newest first.
pub async fn list_refunds(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    QueryParams(q): QueryParams<RefundQuery>,
) -> Result<Json<Page<Refund>>, ApiError> {
    let mut problems = Vec::new();
    let (cursor, limit, from, to) = page_and_window(
        REFUNDS,
        q.cursor.as_deref(),
        q.limit.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let (key, tie) = cursor.map_or((i64::MAX, i64::MAX), |c| (c.key, c.tie));
    let rows = state.db(|conn| {
        catch_up(&state, conn, &merchant_id)?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {REFUND_COLUMNS} FROM dom_trades
             WHERE merchant_id = ?1 AND kind = 'refund'
               AND (created_at < ?2 OR (created_at = ?2 AND seq < ?3))
               AND (?4 IS NULL OR created_at >= ?4)
               AND (?5 IS NULL OR created_at < ?5)
               AND (?6 IS NULL OR original_trade_id = ?6)
             ORDER BY created_at DESC, seq DESC LIMIT ?7"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    merchant_id,
                    key,
                    tie,
                    from,
                    to,
                    q.trade_id,
                    i64::from(limit) + 1
                ],
                refund_wire,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let (items, next_cursor) = paging::cut(REFUNDS, rows, limit, |(seq, at, _)| paging::Cursor {
        key: *at,
        tie: *seq,
    });
    Ok(Json(Page {
        items: items.into_iter().map(|(_, _, r)| r).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(pending: bool, failed: bool, closes: bool) -> DrawnLife {
        DrawnLife {
            pending,
            failed,
            delay_secs: 60,
            closes,
        }
    }

    #[test]
    fn a_pending_sale_resolves_within_its_own_day() {
        // 2025-06-01 23:59:30 +08:00.
        let late = 1_748_793_570;
        let (status, due) = start_status(&life(true, false, true), None, late);
        assert_eq!(status, TradeStatus::Pending);
        let (due_at, outcome) = due.unwrap();
        assert_eq!(outcome, TradeStatus::Closed);
        assert_eq!(day_of(due_at), day_of(late));
        assert!(due_at > late);
        // Earlier in the day: the whole delay.
        let noon = late - 12 * 3600;
        assert_eq!(
            start_status(&life(true, false, false), None, noon).1,
            Some((noon + 60, TradeStatus::Success))
        );
    }

    #[test]
    fn a_forced_status_wins_over_the_draw() {
        let at = 1_748_750_000;
        assert_eq!(
            start_status(&life(true, false, true), Some(TradeStatus::Success), at),
            (TradeStatus::Success, None)
        );
        assert_eq!(
            start_status(&life(false, true, false), Some(TradeStatus::Success), at),
            (TradeStatus::Success, None)
        );
        assert_eq!(
            start_status(&life(false, true, false), None, at),
            (TradeStatus::Failed, None)
        );
        let (s, due) = start_status(&life(false, false, false), Some(TradeStatus::Pending), at);
        assert_eq!(
            (s, due.map(|d| d.1)),
            (TradeStatus::Pending, Some(TradeStatus::Success))
        );
    }

    /// The plan of `sql` (its `detail` lines).
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = stmt.parameter_count();
        let values: Vec<rusqlite::types::Value> =
            (0..n).map(|_| rusqlite::types::Value::Integer(1)).collect();
        stmt.query_map(rusqlite::params_from_iter(values), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
    }

    #[test]
    fn the_feed_and_the_hot_queries_of_a_big_history_use_an_index() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        let feed = format!(
            "SELECT {TRADE_COLUMNS} FROM dom_trades
             WHERE merchant_id = ?1 AND change_seq > ?2 ORDER BY change_seq LIMIT ?3"
        );
        let list = format!(
            "SELECT {TRADE_COLUMNS} FROM dom_trades WHERE merchant_id = ?1
               AND (created_at < ?2 OR (created_at = ?2 AND seq < ?3))
             ORDER BY created_at DESC, seq DESC LIMIT ?4"
        );
        for sql in [
            feed.as_str(),
            list.as_str(),
            "SELECT COUNT(*) FROM dom_trades WHERE merchant_id = ?1 AND change_seq > ?2 AND change_seq < ?3",
            "SELECT seq FROM dom_trades WHERE status = 'pending' AND due_at <= ?1 AND (?2 IS NULL OR merchant_id = ?2)",
            "SELECT MIN(day) FROM dom_trades WHERE merchant_id = ?1 AND day > ?2 AND day < ?3",
            "SELECT kind, COUNT(*) FROM dom_trades WHERE merchant_id = ?1 AND day = ?2 AND kind IN ('sale', 'refund') GROUP BY kind",
            "SELECT COUNT(*) FROM dom_trades WHERE original_trade_id = ?1 AND kind = 'refund'",
        ] {
            let steps = plan(&conn, sql);
            assert!(
                steps
                    .iter()
                    .any(|d| d.contains("USING") && d.contains("INDEX")),
                "{sql}: {steps:?}"
            );
            assert!(
                !steps
                    .iter()
                    .any(|d| d.starts_with("SCAN dom_trades") && !d.contains("INDEX")),
                "a full scan: {sql}: {steps:?}"
            );
        }
        // Pages come in index order: no sort of the merchant's records.
        for sql in [&feed, &list] {
            let steps = plan(&conn, sql);
            assert!(
                !steps.iter().any(|d| d.contains("TEMP B-TREE")),
                "{steps:?}"
            );
        }
    }

    #[test]
    fn log_numbers_are_fourteen_digits_of_the_day_and_its_count() {
        assert_eq!(log_no("2025-06-01", 42), "25060100000042");
        assert_eq!(log_no("2025-06-01", 42).len(), 14);
        assert_eq!(day_index(1_748_793_570), day_index(1_748_707_200));
    }
}
