//! Refunds (退货) and voids (撤销) asked for from this phone.
//!
//! Every rule the phone can check from its own records is checked before
//! any call, each with its own code: the trade must be on the phone, a paid
//! sale; a refund above what is left (the sale's amount, less what was
//! refunded, less refunds still in flight from this phone) is refused; a
//! void is for a card sale of today's business day (China time) with
//! nothing refunded. The platform checks again and its own codes
//! (`refund.*`, `void.*`) come back as platform errors.
//!
//! A refund or void is a keyed write (platform/pending.rs): its idempotency
//! key is stored before it is sent and kept until the answer is final, so a
//! request whose answer was lost is sent again with the SAME key (after an
//! app restart too, [`resume`]) and the platform answers with the first
//! refund instead of making a second. In memory, concurrent calls for the
//! same request (a double tap) share one flight. The request's state
//! (`sending`, `done`, `failed` with the refusal's code) is kept in
//! `trade_refund_request` and listed by [`list`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::future::{BoxFuture, FutureExt as _, Shared};
use merchant_contract::domain;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::api::refunds as api;
use super::model::{Trade, TradeKind, TradeStatus};
use super::store::{COLUMNS, read_row};
use crate::error::{Error, Problem, Result};
use crate::money::Amount;
use crate::platform::pending;
use crate::session::SessionState;
use crate::store::{CORRUPT, MerchantStore};

crate::codes! {
    REFUND_UNKNOWN_TRADE = NotFound, "refund.unknown_trade", "手机上没有这笔交易，请先同步交易记录", "This trade is not on the phone; sync the trades first";
    REFUND_NOT_REFUNDABLE = Conflict, "refund.not_refundable", "只有支付成功的消费可以退款（撤销、退货记录或未支付、已全额退款、已撤销的交易不能退款）", "Only a paid sale can be refunded (not a void or refund record, nor an unpaid, fully refunded or voided sale)";
    REFUND_ABOVE_REFUNDABLE = Input, "refund.above_refundable", "退款金额超过可退金额（已退款及正在退款的金额已扣除）", "The refund is above what is left to refund (refunds made and in progress deducted)";
    REFUND_ZERO = Input, "refund.zero", "退款金额须大于零", "The refund amount must be above zero";
    REFUND_REASON_TOO_LONG = Input, "refund.reason_too_long", "原因最多 64 个字", "The reason is at most 64 characters";
    REFUND_REASON_INVALID = Input, "refund.reason_invalid", "原因不能含有控制字符", "The reason must not contain control characters";
    REFUND_OUTCOME_UNKNOWN = Conflict, "refund.outcome_unknown", "平台已答复但结果未能保存，请同步交易记录后查看是否已退款", "The platform answered but the outcome was not kept; sync the trades to see whether it was refunded";
    VOID_CARD_ONLY = Conflict, "void.card_only", "只有刷卡交易可以撤销，扫码交易请退款", "Only a card sale can be voided; refund a scan-code trade";
    VOID_NOT_TODAY = Conflict, "void.not_today", "只能撤销当日（北京时间）的交易，请使用退款", "Only a trade of today's business day (China time) can be voided; refund it";
    VOID_NOT_ALLOWED = Conflict, "void.not_allowed", "只有支付成功且未退款的消费可以撤销", "Only a paid sale with nothing refunded can be voided";
}

/// The longest reason, in characters (the platform's limit).
pub const MAX_REASON: usize = 64;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RefundKind {
    /// 退货: all or part of a sale.
    Refund,
    /// 撤销: a card sale whole, on its own business day.
    Void,
}

impl RefundKind {
    fn as_str(self) -> &'static str {
        match self {
            RefundKind::Refund => "refund",
            RefundKind::Void => "void",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RefundState {
    /// Sent, no final answer yet (or the answer was lost): it will be sent
    /// again with the same idempotency key.
    Sending,
    /// The platform made it; `record_id` is its record.
    Done,
    /// Refused; `error_code` says why.
    Failed,
}

/// A refund or void asked for from this phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingRefund {
    pub request_id: i64,
    pub kind: RefundKind,
    /// The sale.
    pub trade_id: String,
    /// What is given back (a void: the whole sale).
    pub amount: Amount,
    pub reason: Option<String>,
    pub state: RefundState,
    /// A failed request: the refusal's code (`refund.exceeds_refundable`, ...).
    pub error_code: Option<String>,
    /// A done request: the refund's or void's own record id.
    pub record_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A refund made: the sale, updated, and the refund's own record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefundOutcome {
    pub trade: Trade,
    pub refund: Trade,
}

/// A void made: the sale, now voided, and the void's own record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VoidOutcome {
    pub trade: Trade,
    pub void: Trade,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Today in China time, `YYYY-MM-DD`.
pub fn china_today() -> String {
    crate::validate::china_today()
        .format("%Y-%m-%d")
        .to_string()
}

// ---------------------------------------------------------------------------
// Checks before any call
// ---------------------------------------------------------------------------

/// A reason as sent: trimmed, empty is none, at most [`MAX_REASON`]
/// characters, no control characters.
pub fn check_reason(reason: Option<String>) -> Result<Option<String>> {
    let Some(r) = reason else { return Ok(None) };
    let r = r.trim();
    if r.is_empty() {
        return Ok(None);
    }
    if r.chars().count() > MAX_REASON {
        return Err(Error::input(
            &REFUND_REASON_TOO_LONG,
            vec![Problem::new(&REFUND_REASON_TOO_LONG, "reason")],
        ));
    }
    if r.chars().any(char::is_control) {
        return Err(Error::input(
            &REFUND_REASON_INVALID,
            vec![Problem::new(&REFUND_REASON_INVALID, "reason")],
        ));
    }
    Ok(Some(r.to_owned()))
}

/// The trade `trade_id` as the phone keeps it.
fn trade(conn: &Connection, trade_id: &str) -> Result<Option<Trade>> {
    let sql = format!("SELECT {COLUMNS} FROM trade WHERE trade_id = ?1");
    let row = conn
        .query_row(&sql, [trade_id], |r| Ok(read_row(r)))
        .optional()?;
    row.transpose()
}

fn unknown(trade_id: &str) -> Error {
    // Trade ids are the platform's order numbers, not personal data.
    Error::new(&REFUND_UNKNOWN_TRADE).detail(format!("trade {trade_id}"))
}

/// What this phone is giving back of `trade_id` right now: requests still
/// in flight, other than `intent` itself (a request sent again).
fn in_flight_fen(conn: &Connection, trade_id: &str, intent: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(amount), 0) FROM trade_refund_request
         WHERE trade_id = ?1 AND state = 'sending' AND intent <> ?2",
        params![trade_id, intent],
        |r| r.get(0),
    )?)
}

/// What is left to refund of `sale`: its amount, less its refunds, less
/// refunds in flight (in fen; never below zero).
pub fn refundable_fen(sale: &Trade, in_flight_fen: i64) -> i64 {
    (sale.amount.to_fen() - sale.refunded_amount.to_fen() - in_flight_fen).max(0)
}

/// Checks a refund of `amount` of `trade_id` from the phone's records,
/// before any call (the request named `intent` is not counted in flight).
pub fn check_refund(
    conn: &Connection,
    trade_id: &str,
    amount: Amount,
    intent: &str,
) -> Result<Trade> {
    if amount.is_zero() {
        return Err(Error::input(
            &REFUND_ZERO,
            vec![Problem::new(&REFUND_ZERO, "amount")],
        ));
    }
    let sale = trade(conn, trade_id)?.ok_or_else(|| unknown(trade_id))?;
    if sale.kind != TradeKind::Sale
        || !matches!(
            sale.status,
            TradeStatus::Success | TradeStatus::PartiallyRefunded
        )
    {
        return Err(Error::new(&REFUND_NOT_REFUNDABLE).detail(format!(
            "{} {}",
            sale.kind.as_str(),
            sale.status.as_str()
        )));
    }
    let left = refundable_fen(&sale, in_flight_fen(conn, trade_id, intent)?);
    if amount.to_fen() > left {
        return Err(Error::input(
            &REFUND_ABOVE_REFUNDABLE,
            vec![Problem::new(&REFUND_ABOVE_REFUNDABLE, "amount")],
        )
        .detail(format!("asked {} fen, {left} fen left", amount.to_fen())));
    }
    Ok(sale)
}

/// Checks a void of `trade_id` on business day `today` from the phone's
/// records, before any call.
pub fn check_void(conn: &Connection, trade_id: &str, today: &str, intent: &str) -> Result<Trade> {
    let sale = trade(conn, trade_id)?.ok_or_else(|| unknown(trade_id))?;
    if sale.kind != TradeKind::Sale {
        return Err(Error::new(&VOID_NOT_ALLOWED).detail(sale.kind.as_str()));
    }
    if sale.channel.is_scan_code() {
        return Err(Error::new(&VOID_CARD_ONLY));
    }
    if sale.business_date != today {
        return Err(Error::new(&VOID_NOT_TODAY).detail(format!("trade of {}", sale.business_date)));
    }
    if sale.status != TradeStatus::Success
        || !sale.refunded_amount.is_zero()
        || in_flight_fen(conn, trade_id, intent)? > 0
    {
        return Err(Error::new(&VOID_NOT_ALLOWED).detail(sale.status.as_str()));
    }
    Ok(sale)
}

// ---------------------------------------------------------------------------
// The requests' table
// ---------------------------------------------------------------------------

/// The keyed write's name for a refund: the sale, the amount and the
/// reason's digest, so the same refund keeps its key and another gets its own.
pub fn refund_intent(trade_id: &str, amount: Amount, reason: Option<&str>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, reason.unwrap_or("").as_bytes());
    let short = hex::encode(digest.as_ref().get(..8).unwrap_or_default());
    format!("trades.refund:{trade_id}:{}:{short}", amount.to_fen())
}

/// The keyed write's name for a void of `trade_id` (one per sale).
pub fn void_intent(trade_id: &str) -> String {
    format!("trades.void:{trade_id}")
}

fn mark_sending(
    conn: &Connection,
    intent: &str,
    kind: RefundKind,
    trade_id: &str,
    amount: Amount,
    reason: Option<&str>,
) -> Result<()> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO trade_refund_request (intent, kind, trade_id, amount, reason, state,
                                           error_code, record_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'sending', NULL, NULL, ?6, ?6)
         ON CONFLICT (intent) WHERE state = 'sending' DO UPDATE SET updated_at = excluded.updated_at",
        params![intent, kind.as_str(), trade_id, amount.to_fen(), reason, now],
    )?;
    Ok(())
}

fn mark_done(conn: &Connection, intent: &str, record_id: &str) -> Result<()> {
    conn.execute(
        "UPDATE trade_refund_request SET state = 'done', record_id = ?2, updated_at = ?3
         WHERE intent = ?1 AND state = 'sending'",
        params![intent, record_id, now_ms()],
    )?;
    Ok(())
}

fn mark_failed(conn: &Connection, intent: &str, code: &str) -> Result<()> {
    conn.execute(
        "UPDATE trade_refund_request SET state = 'failed', error_code = ?2, updated_at = ?3
         WHERE intent = ?1 AND state = 'sending'",
        params![intent, code, now_ms()],
    )?;
    Ok(())
}

/// Most requests [`list`] gives (every one in flight, then the newest).
pub const LIST_LIMIT: i64 = 500;

/// The requests: those in flight first, then the newest.
pub fn list(conn: &Connection) -> Result<Vec<PendingRefund>> {
    let mut stmt = conn.prepare(
        "SELECT id, kind, trade_id, amount, reason, state, error_code, record_id, created_at,
                updated_at
         FROM trade_refund_request
         ORDER BY state <> 'sending', created_at DESC, id DESC
         LIMIT ?1",
    )?;
    let rows = stmt.query_map([LIST_LIMIT], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, i64>(9)?,
        ))
    })?;
    let corrupt = |what: &str| Error::new(&CORRUPT).detail(format!("refund request: {what}"));
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, trade_id, amount, reason, state, error_code, record_id, created, updated) =
            row?;
        out.push(PendingRefund {
            request_id: id,
            kind: match kind.as_str() {
                "refund" => RefundKind::Refund,
                "void" => RefundKind::Void,
                _ => return Err(corrupt("kind")),
            },
            trade_id,
            amount: Amount::from_fen(amount).map_err(|_| corrupt("amount"))?,
            reason,
            state: match state.as_str() {
                "sending" => RefundState::Sending,
                "done" => RefundState::Done,
                "failed" => RefundState::Failed,
                _ => return Err(corrupt("state")),
            },
            error_code,
            record_id,
            created_at_ms: created,
            updated_at_ms: updated,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Writing the answer's records
// ---------------------------------------------------------------------------

/// Writes an answer's records through the feed's forward-only write path (a
/// record already newer on the phone is kept).
pub fn put_records(conn: &Connection, records: &[&Trade]) -> Result<()> {
    let records: Vec<Trade> = records.iter().map(|t| (*t).clone()).collect();
    super::store::apply_records(conn, &records, |_, _, _| Ok(()))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sending: one flight per request
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Outcome {
    Refund(RefundOutcome),
    Void(VoidOutcome),
}

type Flight = Shared<BoxFuture<'static, Result<Outcome>>>;

/// The requests in flight in this process, by store and intent.
fn flights() -> &'static Mutex<HashMap<(PathBuf, String), Flight>> {
    static FLIGHTS: OnceLock<Mutex<HashMap<(PathBuf, String), Flight>>> = OnceLock::new();
    FLIGHTS.get_or_init(Default::default)
}

/// Runs `make()` for `intent` of the store at `scope`, or joins the flight
/// already running for it.
async fn single_flight(
    scope: &std::path::Path,
    intent: &str,
    make: impl FnOnce() -> BoxFuture<'static, Result<Outcome>>,
) -> Result<Outcome> {
    let key = (scope.to_path_buf(), intent.to_owned());
    let flight = {
        let mut map = flights().lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone())
            .or_insert_with(|| make().shared())
            .clone()
    };
    let out = flight.clone().await;
    let mut map = flights().lock().unwrap_or_else(|p| p.into_inner());
    if map.get(&key).is_some_and(|f| f.ptr_eq(&flight)) {
        map.remove(&key);
    }
    out
}

/// Whether `e` is the platform's final answer (the request will not be
/// sent again): the rule of the keyed writes.
fn is_final(e: &Error) -> bool {
    pending::is_final(&Err(e.clone()))
}

/// The request's answer kept: the records written and the request done in
/// one transaction; a refusal marks it failed; no final answer leaves it
/// sending.
fn keep<T>(
    store: &MerchantStore,
    intent: &str,
    outcome: &Result<T>,
    records: impl Fn(&T) -> Vec<&Trade>,
    record_id: impl Fn(&T) -> &str,
) -> Result<()> {
    match outcome {
        Ok(done) => store.db().write(|tx| {
            put_records(tx, &records(done))?;
            mark_done(tx, intent, record_id(done))
        }),
        // A refusal, or an answer that came but could not be read (its key
        // is gone with it): not sent again.
        Err(e) if is_final(e) || e.is(&crate::platform::RESPONSE_MALFORMED) => {
            store.db().write(|tx| mark_failed(tx, intent, &e.code))
        }
        Err(_) => Ok(()),
    }
}

/// A second tap of the same request up to this long after the first one was
/// answered gets the first one's answer, not a second refund: a double tap
/// whose first call finished before the second began.
pub const DOUBLE_TAP_MS: i64 = 10_000;

/// The sale and the record of request `intent` when it was answered within
/// [`DOUBLE_TAP_MS`] (both as the phone keeps them now).
fn answered_recently(
    conn: &Connection,
    intent: &str,
    trade_id: &str,
) -> Result<Option<(Trade, Trade)>> {
    use rusqlite::OptionalExtension as _;
    let record_id: Option<String> = conn
        .prepare_cached(
            "SELECT record_id FROM trade_refund_request
             WHERE intent = ?1 AND state = 'done' AND updated_at >= ?2
             ORDER BY updated_at DESC LIMIT 1",
        )?
        .query_row(params![intent, now_ms() - DOUBLE_TAP_MS], |r| r.get(0))
        .optional()?;
    let Some(record_id) = record_id else {
        return Ok(None);
    };
    Ok(trade(conn, trade_id)?.zip(trade(conn, &record_id)?))
}

async fn send_refund(
    state: Arc<SessionState>,
    store: Arc<MerchantStore>,
    intent: String,
    trade_id: String,
    amount: Amount,
    reason: Option<String>,
) -> Result<Outcome> {
    let body = refund_body(amount, reason);
    let answer = api::refund(&state, &intent, &trade_id, &body).await;
    let outcome = answer.and_then(|a| {
        Ok(RefundOutcome {
            trade: super::api::trade_from_wire(a.trade)?,
            refund: super::api::trade_from_wire(a.record)?,
        })
    });
    keep(
        &store,
        &intent,
        &outcome,
        |o| vec![&o.trade, &o.refund],
        |o| &o.refund.trade_id,
    )?;
    outcome.map(Outcome::Refund)
}

async fn send_void(
    state: Arc<SessionState>,
    store: Arc<MerchantStore>,
    intent: String,
    trade_id: String,
    reason: Option<String>,
) -> Result<Outcome> {
    let body = domain::VoidRequest { reason };
    let answer = api::void(&state, &intent, &trade_id, &body).await;
    let outcome = answer.and_then(|a| {
        Ok(VoidOutcome {
            trade: super::api::trade_from_wire(a.trade)?,
            void: super::api::trade_from_wire(a.void)?,
        })
    });
    keep(
        &store,
        &intent,
        &outcome,
        |o| vec![&o.trade, &o.void],
        |o| &o.void.trade_id,
    )?;
    outcome.map(Outcome::Void)
}

/// The exact body bytes of a keyed write, as `Call::post_json` makes them.
fn body_bytes<T: serde::Serialize>(body: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))
}

/// The body of a refund request (the same bytes whenever it is sent, so
/// the keyed write keeps its key).
fn refund_body(amount: Amount, reason: Option<String>) -> domain::RefundRequest {
    domain::RefundRequest {
        amount: amount.to_string(),
        reason,
    }
}

/// Refunds `amount` of sale `trade_id` (see the module docs).
pub async fn refund(
    state: Arc<SessionState>,
    trade_id: String,
    amount: Amount,
    reason: Option<String>,
) -> Result<RefundOutcome> {
    let reason = check_reason(reason)?;
    let store = state.merchant_store().await?;
    let intent = refund_intent(&trade_id, amount, reason.as_deref());
    let s = store.clone();
    let i = intent.clone();
    let out = single_flight(store.db().path(), &intent, move || {
        async move {
            if let Some((trade, refund)) = s.db().read(|c| answered_recently(c, &i, &trade_id))? {
                return Ok(Outcome::Refund(RefundOutcome { trade, refund }));
            }
            let body = body_bytes(&refund_body(amount, reason.clone()))?;
            s.db().read(|c| check_refund(c, &trade_id, amount, &i))?;
            // The key first, then the request: a request marked sending
            // always has its key (see `resume`).
            pending::key_for(&s, &i, &body)?;
            s.db().write(|tx| {
                check_refund(tx, &trade_id, amount, &i)?;
                mark_sending(
                    tx,
                    &i,
                    RefundKind::Refund,
                    &trade_id,
                    amount,
                    reason.as_deref(),
                )
            })?;
            send_refund(state, s, i, trade_id, amount, reason).await
        }
        .boxed()
    })
    .await?;
    match out {
        Outcome::Refund(r) => Ok(r),
        Outcome::Void(_) => {
            Err(Error::new(&crate::error::INTERNAL).detail("refund flight gave a void"))
        }
    }
}

/// Voids sale `trade_id` whole (see the module docs).
pub async fn void(
    state: Arc<SessionState>,
    trade_id: String,
    reason: Option<String>,
) -> Result<VoidOutcome> {
    let reason = check_reason(reason)?;
    let store = state.merchant_store().await?;
    let intent = void_intent(&trade_id);
    let s = store.clone();
    let i = intent.clone();
    let out = single_flight(store.db().path(), &intent, move || {
        async move {
            if let Some((trade, void)) = s.db().read(|c| answered_recently(c, &i, &trade_id))? {
                return Ok(Outcome::Void(VoidOutcome { trade, void }));
            }
            let body = body_bytes(&domain::VoidRequest {
                reason: reason.clone(),
            })?;
            let today = china_today();
            let sale = s.db().read(|c| check_void(c, &trade_id, &today, &i))?;
            pending::key_for(&s, &i, &body)?;
            s.db().write(|tx| {
                check_void(tx, &trade_id, &today, &i)?;
                mark_sending(
                    tx,
                    &i,
                    RefundKind::Void,
                    &trade_id,
                    sale.amount,
                    reason.as_deref(),
                )
            })?;
            send_void(state, s, i, trade_id, reason).await
        }
        .boxed()
    })
    .await?;
    match out {
        Outcome::Void(v) => Ok(v),
        Outcome::Refund(_) => {
            Err(Error::new(&crate::error::INTERNAL).detail("void flight gave a refund"))
        }
    }
}

/// One request in flight as stored.
struct Sending {
    intent: String,
    kind: RefundKind,
    trade_id: String,
    amount: Amount,
    reason: Option<String>,
}

/// The requests to send again (see [`resume`]): every one still sending
/// whose key is kept; one whose key is gone is marked failed with
/// `refund.outcome_unknown` instead.
fn to_resend(store: &MerchantStore) -> Result<Vec<Sending>> {
    let waiting: Vec<Sending> = store.db().read(|c| {
        let mut stmt = c.prepare(
            "SELECT intent, kind, trade_id, amount, reason FROM trade_refund_request
             WHERE state = 'sending' ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (intent, kind, trade_id, amount, reason) = row?;
            out.push(Sending {
                intent,
                kind: if kind == "void" {
                    RefundKind::Void
                } else {
                    RefundKind::Refund
                },
                trade_id,
                amount: Amount::from_fen(amount)
                    .map_err(|_| Error::new(&CORRUPT).detail("refund request amount"))?,
                reason,
            });
        }
        Ok(out)
    })?;
    let keyed: Vec<String> = pending::pending_intents(store)?;
    let mut out = Vec::new();
    for w in waiting {
        if keyed.contains(&w.intent) {
            out.push(w);
        } else {
            store
                .db()
                .write(|tx| mark_failed(tx, &w.intent, REFUND_OUTCOME_UNKNOWN.code))?;
        }
    }
    Ok(out)
}

/// Sends again every request still `sending` (its answer was lost, or the
/// app stopped before it came), each with the key it was first sent with:
/// the platform answers with the first refund, never a second one. A
/// request whose key is gone had its final answer, but the app stopped
/// before keeping it: it is marked failed with `refund.outcome_unknown`
/// (never sent again with a new key); the next sync shows what happened.
/// Gives the requests afterwards ([`list`]); one that failed again on the
/// network stays sending.
pub async fn resume(state: Arc<SessionState>) -> Result<Vec<PendingRefund>> {
    let store = state.merchant_store().await?;
    for w in to_resend(&store)? {
        let (st, s, i) = (state.clone(), store.clone(), w.intent.clone());
        let sent = single_flight(store.db().path(), &w.intent, move || match w.kind {
            RefundKind::Refund => send_refund(st, s, i, w.trade_id, w.amount, w.reason).boxed(),
            RefundKind::Void => send_void(st, s, i, w.trade_id, w.reason).boxed(),
        })
        .await;
        if let Err(e) = sent {
            tracing::info!(code = %e.code, "a refund sent again has no final answer yet");
        }
    }
    store.db().read(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn db() -> (tempfile::TempDir, Db) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("m.db")).unwrap();
        (tmp, db)
    }

    /// A sale row, inserted with plain SQL as the feed would leave it.
    fn sale(
        c: &Connection,
        id: &str,
        channel: &str,
        fen: i64,
        status: &str,
        refunded: i64,
        day: &str,
    ) {
        c.execute(
            "INSERT INTO trade (trade_id, kind, original_trade_id, channel, amount, fee, rate, status,
                                refunded, terminal_sn, merchant_no, merchant_name, reference_no,
                                batch_no, voucher_no, log_no, business_date, created_at, updated_at,
                                change_seq)
             VALUES (?1, 'sale', NULL, ?2, ?3, ?3 * 6 / 1000, '0.60', ?4, ?5, 'LKLA800123455',
                     '822290058120001', '老王便利店', '601234567890', '000001', '000017',
                     '20250601000017', ?6, 1748741400000, 1748741400000, 5)",
            params![id, channel, fen, status, refunded, day],
        )
        .unwrap();
    }

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    #[test]
    fn a_refund_above_what_is_left_is_refused_from_the_phones_records() {
        let (_t, db) = db();
        db.write(|c| {
            sale(
                c,
                "T1",
                "wechat",
                10_000,
                "partially_refunded",
                3_000,
                "2025-06-01",
            );
            Ok(())
        })
        .unwrap();
        let i = refund_intent("T1", amount("70.01"), None);
        let e = db
            .read(|c| check_refund(c, "T1", amount("70.01"), &i))
            .unwrap_err();
        assert!(e.is(&REFUND_ABOVE_REFUNDABLE), "{e:?}");
        assert_eq!(e.problems[0].field, "amount");
        // Exactly what is left is fine.
        let i = refund_intent("T1", amount("70.00"), None);
        assert!(
            db.read(|c| check_refund(c, "T1", amount("70.00"), &i))
                .is_ok()
        );

        // A refund in flight from this phone counts; the same request sent
        // again does not count against itself.
        db.write(|c| mark_sending(c, &i, RefundKind::Refund, "T1", amount("70.00"), None))
            .unwrap();
        assert!(
            db.read(|c| check_refund(c, "T1", amount("70.00"), &i))
                .is_ok()
        );
        let other = refund_intent("T1", amount("0.01"), None);
        let e = db
            .read(|c| check_refund(c, "T1", amount("0.01"), &other))
            .unwrap_err();
        assert!(e.is(&REFUND_ABOVE_REFUNDABLE));
        // Once refused by the platform it no longer counts.
        db.write(|c| mark_failed(c, &i, "refund.insufficient_balance"))
            .unwrap();
        assert!(
            db.read(|c| check_refund(c, "T1", amount("0.01"), &other))
                .is_ok()
        );
    }

    #[test]
    fn each_refund_rule_has_its_own_code() {
        let (_t, db) = db();
        db.write(|c| {
            sale(c, "T1", "wechat", 10_000, "success", 0, "2025-06-01");
            sale(c, "T2", "wechat", 10_000, "refunded", 10_000, "2025-06-01");
            sale(c, "T3", "wechat", 10_000, "pending", 0, "2025-06-01");
            sale(c, "T4", "credit_card", 10_000, "voided", 0, "2025-06-01");
            Ok(())
        })
        .unwrap();
        let check = |id: &str, a: &str| {
            db.read(|c| check_refund(c, id, amount(a), "x"))
                .unwrap_err()
        };
        assert!(check("T404", "1.00").is(&REFUND_UNKNOWN_TRADE));
        assert!(check("T1", "0").is(&REFUND_ZERO));
        for id in ["T2", "T3", "T4"] {
            assert!(check(id, "1.00").is(&REFUND_NOT_REFUNDABLE), "{id}");
        }
        assert!(check("T1", "100.01").is(&REFUND_ABOVE_REFUNDABLE));

        assert!(
            check_reason(Some("a".repeat(65)))
                .unwrap_err()
                .is(&REFUND_REASON_TOO_LONG)
        );
        assert!(
            check_reason(Some("顾客\u{7}退货".into()))
                .unwrap_err()
                .is(&REFUND_REASON_INVALID)
        );
        assert_eq!(check_reason(Some("  ".into())).unwrap(), None);
        assert_eq!(
            check_reason(Some("退".repeat(64))).unwrap(),
            Some("退".repeat(64))
        );
    }

    #[test]
    fn a_void_is_for_todays_paid_card_sale_with_nothing_refunded() {
        let (_t, db) = db();
        let today = "2025-06-02";
        db.write(|c| {
            sale(c, "T1", "credit_card", 10_000, "success", 0, today);
            sale(c, "T2", "wechat", 10_000, "success", 0, today);
            sale(c, "T3", "debit_card", 10_000, "success", 0, "2025-06-01");
            sale(
                c,
                "T4",
                "debit_card",
                10_000,
                "partially_refunded",
                100,
                today,
            );
            sale(c, "T5", "debit_card", 10_000, "success", 0, today);
            Ok(())
        })
        .unwrap();
        let check = |id: &str| db.read(|c| check_void(c, id, today, &void_intent(id)));
        assert_eq!(check("T1").unwrap().trade_id, "T1");
        assert!(check("T404").unwrap_err().is(&REFUND_UNKNOWN_TRADE));
        assert!(check("T2").unwrap_err().is(&VOID_CARD_ONLY));
        assert!(check("T3").unwrap_err().is(&VOID_NOT_TODAY));
        assert!(check("T4").unwrap_err().is(&VOID_NOT_ALLOWED));
        // A refund in flight from this phone blocks the void.
        let i = refund_intent("T5", amount("1.00"), None);
        db.write(|c| mark_sending(c, &i, RefundKind::Refund, "T5", amount("1.00"), None))
            .unwrap();
        assert!(check("T5").unwrap_err().is(&VOID_NOT_ALLOWED));
    }

    #[test]
    fn the_same_refund_keeps_its_intent_and_another_gets_its_own() {
        let a = refund_intent("T1", amount("30.00"), Some("顾客退货"));
        assert_eq!(a, refund_intent("T1", amount("30.00"), Some("顾客退货")));
        assert_ne!(a, refund_intent("T1", amount("30.00"), None));
        assert_ne!(a, refund_intent("T1", amount("30.01"), Some("顾客退货")));
        assert_ne!(a, refund_intent("T2", amount("30.00"), Some("顾客退货")));
        assert!(a.len() <= pending::MAX_INTENT);
        assert!(!a.contains("顾客"), "the reason travels only as a digest");
    }

    fn record(id: &str, kind: TradeKind, status: TradeStatus, refunded: &str, seq: u64) -> Trade {
        Trade {
            trade_id: id.into(),
            kind,
            original_trade_id: (kind != TradeKind::Sale).then(|| "T1".to_owned()),
            channel: crate::money::Channel::WeChat,
            amount: amount("100.00"),
            fee: amount("0.38"),
            rate: "0.38".into(),
            status,
            refunded_amount: amount(refunded),
            terminal_sn: "LKLA800123455".into(),
            merchant_no: "822290058120001".into(),
            merchant_name: "老王便利店".into(),
            card_bin: None,
            card_last4: None,
            card_kind: None,
            card_bank: None,
            payer: Some("p_1".into()),
            reference_no: "601234567890".into(),
            batch_no: "000001".into(),
            voucher_no: "000017".into(),
            log_no: "20250601000017".into(),
            business_date: "2025-06-01".into(),
            created_at_ms: 1,
            updated_at_ms: 2,
            change_seq: seq,
        }
    }

    #[test]
    fn a_second_tap_soon_after_the_answer_gets_that_answer_and_later_does_not() {
        let (_t, db) = db();
        let i = refund_intent("T1", amount("30.00"), None);
        let sale = record(
            "T1",
            TradeKind::Sale,
            TradeStatus::PartiallyRefunded,
            "30.00",
            7,
        );
        let refund = record("R1", TradeKind::Refund, TradeStatus::Success, "0.00", 7);
        db.write(|c| {
            mark_sending(c, &i, RefundKind::Refund, "T1", amount("30.00"), None)?;
            put_records(c, &[&sale, &refund])?;
            mark_done(c, &i, "R1")
        })
        .unwrap();
        let again = db.read(|c| answered_recently(c, &i, "T1")).unwrap();
        assert_eq!(again, Some((sale, refund)), "the first tap's answer");
        let other = refund_intent("T1", amount("31.00"), None);
        assert_eq!(
            db.read(|c| answered_recently(c, &other, "T1")).unwrap(),
            None
        );
        // Answered longer ago than a double tap: a new request.
        db.write(|c| {
            c.execute(
                "UPDATE trade_refund_request SET updated_at = updated_at - ?1",
                [DOUBLE_TAP_MS + 1],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(db.read(|c| answered_recently(c, &i, "T1")).unwrap(), None);
    }

    #[test]
    fn an_answer_is_kept_forward_only_and_marks_its_request() {
        let (_t, db) = db();
        let i = refund_intent("T1", amount("30.00"), None);
        let sale_v7 = record(
            "T1",
            TradeKind::Sale,
            TradeStatus::PartiallyRefunded,
            "30.00",
            7,
        );
        let refund = record("R1", TradeKind::Refund, TradeStatus::Success, "0.00", 7);
        db.write(|c| {
            mark_sending(c, &i, RefundKind::Refund, "T1", amount("30.00"), None)?;
            put_records(c, &[&sale_v7, &refund])?;
            mark_done(c, &i, "R1")
        })
        .unwrap();
        // An older state of the sale never overwrites a newer one.
        let sale_v5 = record("T1", TradeKind::Sale, TradeStatus::Success, "0.00", 5);
        db.write(|c| put_records(c, &[&sale_v5])).unwrap();
        let got = db.read(|c| trade(c, "T1")).unwrap().unwrap();
        assert_eq!(got, sale_v7);
        assert_eq!(db.read(|c| trade(c, "R1")).unwrap().unwrap(), refund);

        let j = refund_intent("T1", amount("1.00"), None);
        db.write(|c| {
            mark_sending(c, &j, RefundKind::Refund, "T1", amount("1.00"), None)?;
            mark_failed(c, &j, "refund.insufficient_balance")
        })
        .unwrap();
        let k = void_intent("T1");
        db.write(|c| mark_sending(c, &k, RefundKind::Void, "T1", amount("100.00"), Some("x")))
            .unwrap();
        let listed = db.read(list).unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].state, RefundState::Sending, "in flight first");
        assert_eq!(listed[0].kind, RefundKind::Void);
        let done = listed
            .iter()
            .find(|p| p.state == RefundState::Done)
            .unwrap();
        assert_eq!(done.record_id.as_deref(), Some("R1"));
        let failed = listed
            .iter()
            .find(|p| p.state == RefundState::Failed)
            .unwrap();
        assert_eq!(
            failed.error_code.as_deref(),
            Some("refund.insufficient_balance")
        );
        assert_eq!(failed.amount, amount("1.00"));
    }

    #[tokio::test]
    async fn concurrent_calls_for_the_same_request_share_one_flight() {
        let made = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let scope = std::path::Path::new("/flight-test/m.db");
        let answer = RefundOutcome {
            trade: record("T1", TradeKind::Sale, TradeStatus::Refunded, "100.00", 9),
            refund: record("R1", TradeKind::Refund, TradeStatus::Success, "0.00", 9),
        };
        let make = |made: Arc<AtomicUsize>, rx: Option<tokio::sync::oneshot::Receiver<()>>| {
            let answer = answer.clone();
            move || {
                made.fetch_add(1, Ordering::SeqCst);
                async move {
                    if let Some(rx) = rx {
                        let _ = rx.await;
                    }
                    Ok(Outcome::Refund(answer))
                }
                .boxed()
            }
        };
        let first = single_flight(
            scope,
            "trades.refund:T1:10000:x",
            make(made.clone(), Some(rx)),
        );
        let second = single_flight(scope, "trades.refund:T1:10000:x", make(made.clone(), None));
        let release = async {
            let _ = tx.send(());
        };
        let (a, b, ()) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(first, second, release)
        })
        .await
        .unwrap();
        assert_eq!(
            made.load(Ordering::SeqCst),
            1,
            "one flight for a double tap"
        );
        for out in [a.unwrap(), b.unwrap()] {
            let Outcome::Refund(r) = out else {
                panic!("a refund")
            };
            assert_eq!(r.refund.trade_id, "R1");
        }
        // Done: the next call is a flight of its own.
        let again =
            single_flight(scope, "trades.refund:T1:10000:x", make(made.clone(), None)).await;
        assert!(again.is_ok());
        assert_eq!(made.load(Ordering::SeqCst), 2);
        assert!(!flights().lock().unwrap().keys().any(|k| k.0 == scope));
    }
}

#[cfg(test)]
mod restart_tests {
    use super::*;
    use crate::store::{FileSecretStore, SecretStore, open_merchant};

    fn open(dir: &std::path::Path) -> MerchantStore {
        let secrets: Arc<dyn SecretStore> =
            FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
        open_merchant(&dir.join("data"), "M100", &secrets).unwrap()
    }

    /// A refund is marked sending with its key kept, as `refund` leaves it
    /// when the answer is lost; gives the key.
    fn lost(store: &MerchantStore, trade_id: &str, amount: &str, reason: Option<&str>) -> String {
        let amount = Amount::parse(amount).unwrap();
        let intent = refund_intent(trade_id, amount, reason);
        let body = body_bytes(&refund_body(amount, reason.map(str::to_owned))).unwrap();
        let key = pending::key_for(store, &intent, &body).unwrap();
        store
            .db()
            .write(|tx| {
                mark_sending(tx, &intent, RefundKind::Refund, trade_id, amount, reason)?;
                // Tapped again while waiting: still one request.
                mark_sending(tx, &intent, RefundKind::Refund, trade_id, amount, reason)
            })
            .unwrap();
        key
    }

    #[test]
    fn after_a_restart_a_lost_refund_is_sent_again_with_its_first_key() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let key = lost(&store, "T1", "30", Some("顾客退货"));
        let gone = lost(&store, "T2", "5.50", None);
        // T2's answer came and its key went, but the app stopped before
        // keeping the outcome.
        pending::settle(
            &store,
            &refund_intent("T2", Amount::parse("5.50").unwrap(), None),
        )
        .unwrap();
        assert!(!gone.is_empty());
        store.db().close();
        drop(store);

        let store = open(tmp.path());
        let again = to_resend(&store).unwrap();
        assert_eq!(
            again.len(),
            1,
            "one request per intent, and T2 is not sent again"
        );
        let w = &again[0];
        assert_eq!((w.trade_id.as_str(), w.kind), ("T1", RefundKind::Refund));
        // The body is rebuilt byte for byte, so the keyed write finds its
        // first key: the platform replays the first refund.
        let body = body_bytes(&refund_body(w.amount, w.reason.clone())).unwrap();
        assert_eq!(pending::key_for(&store, &w.intent, &body).unwrap(), key);

        let listed = store.db().read(list).unwrap();
        assert_eq!(listed.len(), 2);
        let t2 = listed.iter().find(|p| p.trade_id == "T2").unwrap();
        assert_eq!(t2.state, RefundState::Failed);
        assert_eq!(t2.error_code.as_deref(), Some(REFUND_OUTCOME_UNKNOWN.code));
        let t1 = listed.iter().find(|p| p.trade_id == "T1").unwrap();
        assert_eq!(t1.state, RefundState::Sending);
        assert_eq!(t1.amount.to_string(), "30.00");
        assert_eq!(t1.reason.as_deref(), Some("顾客退货"));
    }
}
