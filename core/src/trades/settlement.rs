//! A day's settlement (结算单) and its reconciliation (对账) against the
//! statement file (对账单) and the phone's own trades.
//!
//! **Expected settlement** of a business day, from the phone's own trades of
//! that day (the `trade_business_date` index): the amounts of the paid,
//! non-voided sales, less their fees, less the refunds made that day, plus
//! the fees those refunds returned. Voids are left out entirely, and so are
//! the sales they voided (a void's amount and returned fee cancel its sale
//! exactly, on the same day). This is the statement's `net_fen`
//! (contract/src/statement.rs) and the settlement's `net_amount`.
//!
//! **Reconciliation** reads the statement file streaming
//! (`merchant_contract::statement::read`) and compares it, line by line,
//! with the phone's records of the day: records only on the phone, only in
//! the statement, amount and fee mismatches (by trade id); the shortfall is
//! expected − settled. A malformed file is refused whole with
//! `statement.malformed` (the file's own code, such as
//! `statement.total_mismatch`, in the message and the detail) and nothing is
//! stored. The result is stored per day (replaced when the day is
//! reconciled again) and readable offline. A discrepancy records a
//! protection finding (`settlement.shortfall` when settled short,
//! `settlement.mismatch` for differences), once while it stays open.

use std::collections::HashMap;
use std::sync::Arc;

use merchant_contract::{domain, statement};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::api::refunds as api;
use super::model::{TradeKind, TradeStatus};
use crate::error::{Error, Lang, Problem, Result};
use crate::findings::{self, FindingSeverity, NewFinding};
use crate::money::Amount;
use crate::platform::RESPONSE_MALFORMED;
use crate::session::SessionState;
use crate::store::CORRUPT;

crate::codes! {
    SETTLEMENT_DATE_INVALID = Input, "settlement.date_invalid", "日期须为有效的 YYYY-MM-DD", "The date must be a real YYYY-MM-DD date";
    STATEMENT_MALFORMED = Integrity, "statement.malformed", "对账单文件格式错误，已整份拒收", "The statement file is malformed and was refused whole";
}

/// The finding of a day settled short of what the phone expects.
pub const FINDING_SHORTFALL: &str = "settlement.shortfall";
/// The finding of a day whose statement differs from the phone's trades.
pub const FINDING_MISMATCH: &str = "settlement.mismatch";

/// One day's settlement as the platform gave it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Settlement {
    /// The business day, `YYYY-MM-DD` (China time).
    pub date: String,
    pub trade_count: u32,
    pub refund_count: u32,
    /// The day's sale amounts.
    pub gross_amount: Amount,
    /// The day's fees less the fees returned with the day's refunds (see
    /// `fee_is_credit`).
    pub fee_amount: Amount,
    /// The fees returned exceeded the fees taken: `fee_amount` is owed to
    /// the merchant.
    pub fee_is_credit: bool,
    pub refund_amount: Amount,
    /// What is due: gross − fees − refunds.
    pub net_amount: Amount,
    /// What was paid to the settlement card.
    pub settled_amount: Amount,
    /// The settlement card, first 6, stars, last 4.
    pub account_masked: Option<String>,
    pub settled_at_ms: i64,
}

/// How a day reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReconciliationStatus {
    /// The phone's trades, the statement and the settlement agree to the fen.
    Matched,
    /// Something differs: see the lists and the amounts.
    Discrepancy,
}

/// One record in a reconciliation list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReconciliationItem {
    pub trade_id: String,
    pub kind: TradeKind,
    /// `None` when the phone does not count it.
    pub phone_amount: Option<Amount>,
    /// `None` when the statement does not list it.
    pub statement_amount: Option<Amount>,
    pub phone_fee: Option<Amount>,
    pub statement_fee: Option<Amount>,
}

/// A day's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reconciliation {
    pub date: String,
    pub status: ReconciliationStatus,
    /// What the phone's own trades of the day say is due.
    pub expected: Amount,
    /// What was paid to the settlement card.
    pub settled: Amount,
    /// The settlement's `net_amount`.
    pub settlement_net: Amount,
    /// The statement file's net (its closing line).
    pub statement_net: Amount,
    /// expected − settled, when settled short (else zero).
    pub shortfall: Amount,
    /// settled − expected, when settled above what the phone expects (else
    /// zero).
    pub surplus: Amount,
    /// Record lines in the statement.
    pub statement_lines: u64,
    /// Counted on the phone, not listed in the statement.
    pub only_on_phone: Vec<ReconciliationItem>,
    /// Listed in the statement, not counted on the phone.
    pub only_in_statement: Vec<ReconciliationItem>,
    pub amount_mismatches: Vec<ReconciliationItem>,
    pub fee_mismatches: Vec<ReconciliationItem>,
    pub reconciled_at_ms: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A day as `YYYY-MM-DD` that exists in the calendar.
pub fn check_date(date: &str) -> Result<()> {
    let ok = date.len() == 10
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .is_ok_and(|d| d.format("%Y-%m-%d").to_string() == date);
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            &SETTLEMENT_DATE_INVALID,
            vec![Problem::new(&SETTLEMENT_DATE_INVALID, "date")],
        ))
    }
}

/// Fen as an amount, clamped at zero (a stored signed difference).
fn clamp(fen: i64) -> Amount {
    Amount::from_fen(fen.max(0)).unwrap_or(Amount::MAX)
}

// ---------------------------------------------------------------------------
// The settlement
// ---------------------------------------------------------------------------

fn malformed(what: &str) -> Error {
    Error::new(&RESPONSE_MALFORMED).detail(format!("settlement: {what}"))
}

/// Signed money text (`-0.40`) as fen.
fn signed_fen(text: &str, what: &str) -> Result<i64> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let fen = Amount::parse(body).map_err(|_| malformed(what))?.to_fen();
    Ok(if neg { -fen } else { fen })
}

fn amount(text: &str, what: &str) -> Result<Amount> {
    Amount::parse(text).map_err(|_| malformed(what))
}

/// The platform's settlement of `date` as the app's.
pub fn settlement_from_wire(s: domain::Settlement, date: &str) -> Result<Settlement> {
    if s.date != date {
        return Err(malformed("another day"));
    }
    let fee = signed_fen(&s.fee_amount, "fee_amount")?;
    Ok(Settlement {
        trade_count: s.trade_count,
        refund_count: s.refund_count,
        gross_amount: amount(&s.gross_amount, "gross_amount")?,
        fee_amount: Amount::from_fen(fee.abs()).map_err(|_| malformed("fee_amount"))?,
        fee_is_credit: fee < 0,
        refund_amount: amount(&s.refund_amount, "refund_amount")?,
        net_amount: amount(&s.net_amount, "net_amount")?,
        settled_amount: amount(&s.settled_amount, "settled_amount")?,
        account_masked: s.account_masked,
        settled_at_ms: chrono::DateTime::parse_from_rfc3339(&s.settled_at)
            .map(|t| t.timestamp_millis())
            .map_err(|_| malformed("settled_at"))?,
        date: s.date,
    })
}

fn fee_fen(s: &Settlement) -> i64 {
    if s.fee_is_credit {
        -s.fee_amount.to_fen()
    } else {
        s.fee_amount.to_fen()
    }
}

/// Keeps `s` (replacing the day's earlier copy).
pub fn put_settlement(conn: &Connection, s: &Settlement) -> Result<()> {
    conn.execute(
        "INSERT INTO settlement (date, trade_count, refund_count, gross_amount, fee_amount,
                                 refund_amount, net_amount, settled_amount, account_masked,
                                 settled_at, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (date) DO UPDATE SET trade_count = excluded.trade_count,
             refund_count = excluded.refund_count, gross_amount = excluded.gross_amount,
             fee_amount = excluded.fee_amount, refund_amount = excluded.refund_amount,
             net_amount = excluded.net_amount, settled_amount = excluded.settled_amount,
             account_masked = excluded.account_masked, settled_at = excluded.settled_at,
             fetched_at = excluded.fetched_at",
        params![
            s.date,
            s.trade_count,
            s.refund_count,
            s.gross_amount.to_fen(),
            fee_fen(s),
            s.refund_amount.to_fen(),
            s.net_amount.to_fen(),
            s.settled_amount.to_fen(),
            s.account_masked,
            s.settled_at_ms,
            now_ms()
        ],
    )?;
    Ok(())
}

/// The kept settlement of `date`, if any.
pub fn stored_settlement(conn: &Connection, date: &str) -> Result<Option<Settlement>> {
    type Row = (i64, i64, i64, i64, i64, i64, i64, Option<String>, i64);
    let row: Option<Row> = conn
        .query_row(
            "SELECT trade_count, refund_count, gross_amount, fee_amount, refund_amount,
                    net_amount, settled_amount, account_masked, settled_at
             FROM settlement WHERE date = ?1",
            [date],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .optional()?;
    let Some((trades, refunds, gross, fee, refund, net, settled, account, at)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str| Error::new(&CORRUPT).detail(format!("settlement: {what}"));
    let fen = |v: i64, what: &str| Amount::from_fen(v).map_err(|_| corrupt(what));
    Ok(Some(Settlement {
        date: date.to_owned(),
        trade_count: u32::try_from(trades).map_err(|_| corrupt("trade_count"))?,
        refund_count: u32::try_from(refunds).map_err(|_| corrupt("refund_count"))?,
        gross_amount: fen(gross, "gross_amount")?,
        fee_amount: fen(fee.abs(), "fee_amount")?,
        fee_is_credit: fee < 0,
        refund_amount: fen(refund, "refund_amount")?,
        net_amount: fen(net, "net_amount")?,
        settled_amount: fen(settled, "settled_amount")?,
        account_masked: account,
        settled_at_ms: at,
    }))
}

// ---------------------------------------------------------------------------
// The phone's side
// ---------------------------------------------------------------------------

/// One of the phone's records of the day, as reconciliation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRow {
    pub trade_id: String,
    pub kind: TradeKind,
    pub status: TradeStatus,
    pub amount_fen: i64,
    pub fee_fen: i64,
}

impl PhoneRow {
    /// Whether the statement lists it: a paid sale (voided ones too), a
    /// successful void or refund.
    pub fn is_listed(&self) -> bool {
        match self.kind {
            TradeKind::Sale => self.status.wire().is_paid(),
            TradeKind::Void | TradeKind::Refund => self.status == TradeStatus::Success,
        }
    }
}

/// The phone's records of business day `date`.
pub fn phone_rows(conn: &Connection, date: &str) -> Result<Vec<PhoneRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT trade_id, kind, status, amount, fee FROM trade WHERE business_date = ?1",
    )?;
    let rows = stmt.query_map([date], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let corrupt = |what: &str| Error::new(&CORRUPT).detail(format!("trade row: {what}"));
    let mut out = Vec::new();
    for row in rows {
        let (trade_id, kind, status, amount_fen, fee_fen) = row?;
        out.push(PhoneRow {
            trade_id,
            kind: TradeKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            status: TradeStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            amount_fen,
            fee_fen,
        });
    }
    Ok(out)
}

/// The expected settlement of a day's records, in fen (see the module
/// docs): paid non-voided sales' amounts − their fees − refunds + the fees
/// refunds returned; voids and voided sales left out.
pub fn expected_fen(rows: &[PhoneRow]) -> i64 {
    rows.iter()
        .map(|r| match r.kind {
            TradeKind::Sale if r.is_listed() && r.status != TradeStatus::Voided => {
                r.amount_fen - r.fee_fen
            }
            TradeKind::Refund if r.is_listed() => r.fee_fen - r.amount_fen,
            _ => 0,
        })
        .sum()
}

// ---------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------

fn item(
    trade_id: &str,
    kind: TradeKind,
    phone: Option<(i64, i64)>,
    statement: Option<(i64, i64)>,
) -> ReconciliationItem {
    let a = |v: Option<i64>| v.and_then(|f| Amount::from_fen(f).ok());
    ReconciliationItem {
        trade_id: trade_id.to_owned(),
        kind,
        phone_amount: a(phone.map(|p| p.0)),
        statement_amount: a(statement.map(|s| s.0)),
        phone_fee: a(phone.map(|p| p.1)),
        statement_fee: a(statement.map(|s| s.1)),
    }
}

fn malformed_statement(e: &statement::StatementError) -> Error {
    let code = e.code();
    let mut err = Error::new(&STATEMENT_MALFORMED).detail(format!("{code}: {e}"));
    err.message = Some(match crate::error::current_language() {
        Lang::Zh => format!("{}（{code}）", STATEMENT_MALFORMED.zh),
        Lang::En => format!("{} ({code})", STATEMENT_MALFORMED.en),
    });
    err
}

/// Compares statement file `file` with the phone's `rows` of `date` and
/// the day's settlement `s`; gives the result and the statement's net in
/// signed fen. Nothing is kept: a malformed file is `statement.malformed`.
pub fn compare(
    date: &str,
    rows: Vec<PhoneRow>,
    file: &[u8],
    s: &Settlement,
) -> Result<(Reconciliation, i64)> {
    let expected = expected_fen(&rows);
    let mut phone: HashMap<String, PhoneRow> =
        rows.into_iter().map(|r| (r.trade_id.clone(), r)).collect();
    let mut only_in_statement = Vec::new();
    let mut amount_mismatches = Vec::new();
    let mut fee_mismatches = Vec::new();
    let total = statement::read(file, |line| {
        let kind = TradeKind::parse(&line.kind).unwrap_or(TradeKind::Sale);
        let on_statement = Some((line.amount_fen, line.fee_fen));
        match phone.remove(&line.trade_id).filter(PhoneRow::is_listed) {
            None => only_in_statement.push(item(&line.trade_id, kind, None, on_statement)),
            Some(p) => {
                let on_phone = Some((p.amount_fen, p.fee_fen));
                if p.amount_fen != line.amount_fen {
                    amount_mismatches.push(item(&line.trade_id, p.kind, on_phone, on_statement));
                }
                if p.fee_fen != line.fee_fen {
                    fee_mismatches.push(item(&line.trade_id, p.kind, on_phone, on_statement));
                }
            }
        }
        Ok(())
    })
    .map_err(|e| malformed_statement(&e))?;
    let mut only_on_phone: Vec<ReconciliationItem> = phone
        .into_values()
        .filter(PhoneRow::is_listed)
        .map(|p| item(&p.trade_id, p.kind, Some((p.amount_fen, p.fee_fen)), None))
        .collect();
    only_on_phone.sort_by(|a, b| a.trade_id.cmp(&b.trade_id));
    let settled = s.settled_amount.to_fen();
    let differs = expected != settled
        || total.net_fen != s.net_amount.to_fen()
        || !only_on_phone.is_empty()
        || !only_in_statement.is_empty()
        || !amount_mismatches.is_empty()
        || !fee_mismatches.is_empty();
    let r = Reconciliation {
        date: date.to_owned(),
        status: if differs {
            ReconciliationStatus::Discrepancy
        } else {
            ReconciliationStatus::Matched
        },
        expected: clamp(expected),
        settled: s.settled_amount,
        settlement_net: s.net_amount,
        statement_net: clamp(total.net_fen),
        shortfall: clamp(expected - settled),
        surplus: clamp(settled - expected),
        statement_lines: total.lines,
        only_on_phone,
        only_in_statement,
        amount_mismatches,
        fee_mismatches,
        reconciled_at_ms: now_ms(),
    };
    Ok((r, total.net_fen))
}

// ---------------------------------------------------------------------------
// Keeping it
// ---------------------------------------------------------------------------

const LISTS: [&str; 4] = [
    "only_on_phone",
    "only_in_statement",
    "amount_mismatch",
    "fee_mismatch",
];

fn lists(r: &Reconciliation) -> [&Vec<ReconciliationItem>; 4] {
    [
        &r.only_on_phone,
        &r.only_in_statement,
        &r.amount_mismatches,
        &r.fee_mismatches,
    ]
}

/// Stores `r` in place of the day's earlier result, with `expected_fen` and
/// `statement_net_fen` signed as computed.
fn put(
    conn: &Connection,
    r: &Reconciliation,
    expected_fen: i64,
    statement_net_fen: i64,
) -> Result<()> {
    conn.execute("DELETE FROM reconciliation_item WHERE date = ?1", [&r.date])?;
    conn.execute(
        "INSERT INTO reconciliation (date, status, expected, settled, settlement_net,
                                     statement_net, statement_lines, reconciled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (date) DO UPDATE SET status = excluded.status,
             expected = excluded.expected, settled = excluded.settled,
             settlement_net = excluded.settlement_net, statement_net = excluded.statement_net,
             statement_lines = excluded.statement_lines, reconciled_at = excluded.reconciled_at",
        params![
            r.date,
            match r.status {
                ReconciliationStatus::Matched => "matched",
                ReconciliationStatus::Discrepancy => "discrepancy",
            },
            expected_fen,
            r.settled.to_fen(),
            r.settlement_net.to_fen(),
            statement_net_fen,
            i64::try_from(r.statement_lines).unwrap_or(i64::MAX),
            r.reconciled_at_ms
        ],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO reconciliation_item (date, list, trade_id, kind, phone_amount,
                                          statement_amount, phone_fee, statement_fee)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (name, items) in LISTS.iter().zip(lists(r)) {
        for i in items {
            let fen = |a: Option<Amount>| a.map(Amount::to_fen);
            stmt.execute(params![
                r.date,
                name,
                i.trade_id,
                i.kind.as_str(),
                fen(i.phone_amount),
                fen(i.statement_amount),
                fen(i.phone_fee),
                fen(i.statement_fee)
            ])?;
        }
    }
    Ok(())
}

/// Records the day's findings (once while open: findings dedupe by code,
/// reason and subject). The text names the day and amounts in yuan only.
fn record_findings(conn: &Connection, r: &Reconciliation) -> Result<()> {
    if !r.shortfall.is_zero() {
        findings::record(
            conn,
            &NewFinding {
                code: FINDING_SHORTFALL,
                reason: "settled_short",
                subject: &r.date,
                severity: FindingSeverity::Critical,
                message_zh: format!(
                    "{} 结算少付：按手机上的交易应结 {} 元，实际结算 {} 元，少付 {} 元",
                    r.date, r.expected, r.settled, r.shortfall
                ),
                message_en: format!(
                    "{} was settled short: {} yuan due by the trades on this phone, {} yuan paid, {} yuan missing",
                    r.date, r.expected, r.settled, r.shortfall
                ),
            },
        )?;
    }
    let lists_differ = lists(r).iter().any(|l| !l.is_empty());
    if lists_differ || r.statement_net != r.settlement_net || !r.surplus.is_zero() {
        findings::record(
            conn,
            &NewFinding {
                code: FINDING_MISMATCH,
                reason: "statement_differs",
                subject: &r.date,
                severity: FindingSeverity::Warning,
                message_zh: format!(
                    "{} 对账不符：仅手机有 {} 笔，仅对账单有 {} 笔，金额不符 {} 笔，手续费不符 {} 笔；应结 {} 元，对账单净额 {} 元，结算单净额 {} 元，实际结算 {} 元",
                    r.date,
                    r.only_on_phone.len(),
                    r.only_in_statement.len(),
                    r.amount_mismatches.len(),
                    r.fee_mismatches.len(),
                    r.expected,
                    r.statement_net,
                    r.settlement_net,
                    r.settled
                ),
                message_en: format!(
                    "{} does not reconcile: {} only on this phone, {} only in the statement, {} amount and {} fee mismatches; {} yuan due, statement net {} yuan, settlement net {} yuan, {} yuan paid",
                    r.date,
                    r.only_on_phone.len(),
                    r.only_in_statement.len(),
                    r.amount_mismatches.len(),
                    r.fee_mismatches.len(),
                    r.expected,
                    r.statement_net,
                    r.settlement_net,
                    r.settled
                ),
            },
        )?;
    }
    Ok(())
}

/// Reconciles `date` inside the caller's transaction: the settlement kept,
/// the statement `file` compared with the phone's records, the result
/// stored in place of the day's earlier one and findings recorded. A
/// malformed file fails it all (the caller's transaction rolls back).
pub fn reconcile_in(
    conn: &Connection,
    date: &str,
    s: &Settlement,
    file: &[u8],
) -> Result<Reconciliation> {
    let rows = phone_rows(conn, date)?;
    let expected = expected_fen(&rows);
    let (r, net) = compare(date, rows, file, s)?;
    put_settlement(conn, s)?;
    put(conn, &r, expected, net)?;
    record_findings(conn, &r)?;
    Ok(r)
}

/// The stored reconciliation of `date`, if any.
pub fn stored(conn: &Connection, date: &str) -> Result<Option<Reconciliation>> {
    type Head = (String, i64, i64, i64, i64, i64, i64);
    let head: Option<Head> = conn
        .query_row(
            "SELECT status, expected, settled, settlement_net, statement_net, statement_lines,
                    reconciled_at
             FROM reconciliation WHERE date = ?1",
            [date],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((status, expected, settled, settlement_net, statement_net, lines, at)) = head else {
        return Ok(None);
    };
    let corrupt = |what: &str| Error::new(&CORRUPT).detail(format!("reconciliation: {what}"));
    let mut r = Reconciliation {
        date: date.to_owned(),
        status: match status.as_str() {
            "matched" => ReconciliationStatus::Matched,
            "discrepancy" => ReconciliationStatus::Discrepancy,
            _ => return Err(corrupt("status")),
        },
        expected: clamp(expected),
        settled: clamp(settled),
        settlement_net: clamp(settlement_net),
        statement_net: clamp(statement_net),
        shortfall: clamp(expected - settled),
        surplus: clamp(settled - expected),
        statement_lines: u64::try_from(lines).map_err(|_| corrupt("lines"))?,
        only_on_phone: Vec::new(),
        only_in_statement: Vec::new(),
        amount_mismatches: Vec::new(),
        fee_mismatches: Vec::new(),
        reconciled_at_ms: at,
    };
    let mut stmt = conn.prepare_cached(
        "SELECT list, trade_id, kind, phone_amount, statement_amount, phone_fee, statement_fee
         FROM reconciliation_item WHERE date = ?1 ORDER BY list, id",
    )?;
    let rows = stmt.query_map([date], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<i64>>(3)?,
            row.get::<_, Option<i64>>(4)?,
            row.get::<_, Option<i64>>(5)?,
            row.get::<_, Option<i64>>(6)?,
        ))
    })?;
    for row in rows {
        let (list, trade_id, kind, pa, sa, pf, sf) = row?;
        let a = |v: Option<i64>| -> Result<Option<Amount>> {
            v.map(|f| Amount::from_fen(f).map_err(|_| corrupt("amount")))
                .transpose()
        };
        let i = ReconciliationItem {
            trade_id,
            kind: TradeKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            phone_amount: a(pa)?,
            statement_amount: a(sa)?,
            phone_fee: a(pf)?,
            statement_fee: a(sf)?,
        };
        match list.as_str() {
            "only_on_phone" => r.only_on_phone.push(i),
            "only_in_statement" => r.only_in_statement.push(i),
            "amount_mismatch" => r.amount_mismatches.push(i),
            "fee_mismatch" => r.fee_mismatches.push(i),
            _ => return Err(corrupt("list")),
        }
    }
    Ok(Some(r))
}

// ---------------------------------------------------------------------------
// With the platform
// ---------------------------------------------------------------------------

/// Fetches the settlement of `date` and keeps it. Offline, the kept copy
/// (a day's settlement never changes once made), else the network error.
pub async fn fetch(state: Arc<SessionState>, date: String) -> Result<Settlement> {
    check_date(&date)?;
    let store = state.merchant_store().await?;
    let answer = match api::settlement(&state, &date).await {
        Err(e) if e.kind == crate::error::ErrorKind::Network => {
            return match store.db().read(|c| stored_settlement(c, &date))? {
                Some(kept) => Ok(kept),
                None => Err(e),
            };
        }
        other => other?,
    };
    let s = settlement_from_wire(answer, &date)?;
    store.db().write(|tx| put_settlement(tx, &s))?;
    Ok(s)
}

/// Fetches the settlement and the statement of `date` and reconciles the
/// day (see the module docs).
pub async fn reconcile(state: Arc<SessionState>, date: String) -> Result<Reconciliation> {
    check_date(&date)?;
    let store = state.merchant_store().await?;
    let s = settlement_from_wire(api::settlement(&state, &date).await?, &date)?;
    let file = api::statement(&state, &date).await?;
    store.db().write(|tx| reconcile_in(tx, &date, &s, &file))
}

/// The days whose settlement is kept but not reconciled, newest first, at
/// most `limit`.
pub fn unreconciled(conn: &Connection, limit: u32) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.date FROM settlement s
         WHERE NOT EXISTS (SELECT 1 FROM reconciliation r WHERE r.date = s.date)
         ORDER BY s.date DESC LIMIT ?1",
    )?;
    let days = stmt
        .query_map(params![limit], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(days)
}

/// The stored reconciliation of `date` (offline).
pub async fn read(state: Arc<SessionState>, date: String) -> Result<Option<Reconciliation>> {
    check_date(&date)?;
    let store = state.merchant_store().await?;
    store.db().read(|c| stored(c, &date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;
    use merchant_contract::statement::{StatementLine, StatementTotal};

    const DAY: &str = "2025-06-01";

    fn db() -> (tempfile::TempDir, Db) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("m.db")).unwrap();
        (tmp, db)
    }

    /// One phone record: (trade id, kind, original, channel, amount fen, fee
    /// fen, status, business day).
    type Row = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        i64,
        i64,
        &'static str,
        &'static str,
    );

    /// A day with card and scan sales, a sale voided the same day (and its
    /// void), a partial refund, a whole refund, a refund of the day before's
    /// sale, and records the statement does not count.
    const ROWS: &[Row] = &[
        (
            "T01",
            "sale",
            None,
            "wechat",
            10_000,
            38,
            "partially_refunded",
            DAY,
        ),
        (
            "T02",
            "sale",
            None,
            "credit_card",
            128_000,
            768,
            "success",
            DAY,
        ),
        (
            "T03",
            "sale",
            None,
            "debit_card",
            50_000,
            300,
            "voided",
            DAY,
        ),
        (
            "V03",
            "void",
            Some("T03"),
            "debit_card",
            50_000,
            300,
            "success",
            DAY,
        ),
        ("T04", "sale", None, "alipay", 20_000, 76, "refunded", DAY),
        (
            "R01",
            "refund",
            Some("T01"),
            "wechat",
            3_000,
            11,
            "success",
            DAY,
        ),
        (
            "R04",
            "refund",
            Some("T04"),
            "alipay",
            20_000,
            76,
            "success",
            DAY,
        ),
        (
            "R00",
            "refund",
            Some("T00"),
            "wechat",
            5_001,
            19,
            "success",
            DAY,
        ),
        ("T05", "sale", None, "wechat", 9_999, 38, "pending", DAY),
        ("T06", "sale", None, "unionpay_qr", 1_234, 5, "closed", DAY),
        ("T07", "sale", None, "credit_card", 7_777, 47, "failed", DAY),
        (
            "T00",
            "sale",
            None,
            "wechat",
            8_000,
            30,
            "partially_refunded",
            "2025-05-31",
        ),
    ];

    /// The same day worked out by hand, to the fen.
    const EXPECTED_FEN: i64 = (10_000 - 38) + (128_000 - 768) + (20_000 - 76) // sales kept
        - (3_000 - 11) - (20_000 - 76) - (5_001 - 19); // refunds, fees returned

    fn insert(c: &Connection, rows: &[Row]) {
        for (i, (id, kind, original, channel, amount, fee, status, day)) in rows.iter().enumerate()
        {
            let refunded = match *id {
                "T01" => 3_000,
                "T04" => 20_000,
                "T00" => 5_001,
                _ => 0,
            };
            c.execute(
                "INSERT INTO trade (trade_id, kind, original_trade_id, channel, amount, fee, rate,
                                    status, refunded, terminal_sn, merchant_no, merchant_name,
                                    reference_no, batch_no, voucher_no, log_no, business_date,
                                    created_at, updated_at, change_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, '0.38', ?7, ?8, 'LKLA800123455',
                         '822290058120001', '老王便利店', '601234567890', '000001', '000017',
                         '20250601000017', ?9, 1748741400000, 1748741400000, ?10)",
                params![
                    id,
                    kind,
                    original,
                    channel,
                    amount,
                    fee,
                    status,
                    refunded,
                    day,
                    i as i64 + 1
                ],
            )
            .unwrap();
        }
    }

    fn line(
        id: &str,
        kind: &str,
        original: Option<&str>,
        channel: &str,
        amount: i64,
        fee: i64,
    ) -> StatementLine {
        StatementLine {
            log_no: "20250601000001".into(),
            reference_no: "601234567890".into(),
            trade_id: id.into(),
            original_trade_id: original.map(str::to_owned),
            terminal_sn: "LKLA800123455".into(),
            channel: channel.into(),
            kind: kind.into(),
            amount_fen: amount,
            fee_fen: fee,
            card: None,
            time: "2025-06-01T09:30:00+08:00".into(),
        }
    }

    /// The statement the platform would write for the day's listed rows.
    fn statement_lines() -> Vec<StatementLine> {
        ROWS.iter()
            .filter(|r| r.7 == DAY && !matches!(r.6, "pending" | "closed" | "failed"))
            .map(|r| line(r.0, r.1, r.2, r.3, r.4, r.5))
            .collect()
    }

    fn file(lines: &[StatementLine]) -> (Vec<u8>, StatementTotal) {
        let mut out = String::new();
        statement::write_header(&mut out);
        let mut t = StatementTotal::default();
        for l in lines {
            statement::write_line(&mut out, l);
            t.add(l);
        }
        statement::write_total(&mut out, &t);
        (out.into_bytes(), t)
    }

    fn settlement(net_fen: i64, settled_fen: i64) -> Settlement {
        Settlement {
            date: DAY.into(),
            trade_count: 5,
            refund_count: 3,
            gross_amount: Amount::from_fen(208_000).unwrap(),
            fee_amount: Amount::from_fen(1_076).unwrap(),
            fee_is_credit: false,
            refund_amount: Amount::from_fen(28_001).unwrap(),
            net_amount: Amount::from_fen(net_fen).unwrap(),
            settled_amount: Amount::from_fen(settled_fen).unwrap(),
            account_masked: Some("622202*********0017".into()),
            settled_at_ms: 1_748_826_000_000,
        }
    }

    fn finding_count(c: &Connection) -> i64 {
        c.query_row("SELECT count(*) FROM finding", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn the_expected_settlement_is_the_statements_net_to_the_fen() {
        let (_t, db) = db();
        db.write(|c| {
            insert(c, ROWS);
            Ok(())
        })
        .unwrap();
        let rows = db.read(|c| phone_rows(c, DAY)).unwrap();
        assert_eq!(rows.len(), 11, "the day's records only");
        assert_eq!(expected_fen(&rows), EXPECTED_FEN);
        let plan: Vec<String> = db
            .read(|c| {
                let mut stmt = c.prepare(
                    "EXPLAIN QUERY PLAN SELECT trade_id, kind, status, amount, fee FROM trade
                     WHERE business_date = ?1",
                )?;
                let rows = stmt.query_map([DAY], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("trade_business_date")),
            "the day's records are read through their index: {plan:?}"
        );
        assert_eq!(EXPECTED_FEN, 129_223);
        // The statement's own definition gives the same figure.
        let (_, total) = file(&statement_lines());
        assert_eq!(total.net_fen, EXPECTED_FEN);

        let s = settlement(EXPECTED_FEN, EXPECTED_FEN);
        let (bytes, _) = file(&statement_lines());
        let r = db.write(|c| reconcile_in(c, DAY, &s, &bytes)).unwrap();
        assert_eq!(r.status, ReconciliationStatus::Matched, "{r:?}");
        assert_eq!(r.expected.to_string(), "1292.23");
        assert_eq!(r.statement_net, r.expected);
        assert!(r.shortfall.is_zero() && r.surplus.is_zero());
        assert_eq!(r.statement_lines, 8);
        assert!(r.only_on_phone.is_empty() && r.only_in_statement.is_empty());
        assert_eq!(
            db.read(|c| Ok(finding_count(c))).unwrap(),
            0,
            "no finding when it matches"
        );
        let mut back = db.read(|c| stored(c, DAY)).unwrap().unwrap();
        back.reconciled_at_ms = r.reconciled_at_ms;
        assert_eq!(back, r);
        // The settlement is kept with it, for offline reading.
        assert_eq!(db.read(|c| stored_settlement(c, DAY)).unwrap(), Some(s));
        assert_eq!(
            db.read(|c| stored_settlement(c, "2025-06-02")).unwrap(),
            None
        );
    }

    #[test]
    fn each_difference_lands_in_its_list_and_a_shortfall_is_found_once() {
        let (_t, db) = db();
        db.write(|c| {
            insert(c, ROWS);
            Ok(())
        })
        .unwrap();
        let mut lines = statement_lines();
        lines.retain(|l| l.trade_id != "T02"); // only on the phone
        lines.push(line("T99", "sale", None, "wechat", 4_200, 16)); // only in the statement
        for l in &mut lines {
            match l.trade_id.as_str() {
                "T04" => l.amount_fen = 19_999, // amount mismatch
                "R01" => l.fee_fen = 12,        // fee mismatch
                _ => {}
            }
        }
        // A record the phone does not count yet (still pending) is only in
        // the statement too.
        lines.push(line("T05", "sale", None, "wechat", 9_999, 38));
        let (bytes, total) = file(&lines);
        // The platform settled 1.00 yuan short of the statement's net.
        let s = settlement(total.net_fen, total.net_fen - 100);
        let r = db.write(|c| reconcile_in(c, DAY, &s, &bytes)).unwrap();

        assert_eq!(r.status, ReconciliationStatus::Discrepancy);
        let ids =
            |l: &[ReconciliationItem]| l.iter().map(|i| i.trade_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&r.only_on_phone), ["T02"]);
        assert_eq!(
            r.only_on_phone[0].phone_amount,
            Some(Amount::from_fen(128_000).unwrap())
        );
        assert_eq!(r.only_on_phone[0].statement_amount, None);
        assert_eq!(ids(&r.only_in_statement), ["T99", "T05"]);
        assert_eq!(r.only_in_statement[0].phone_amount, None);
        assert_eq!(
            r.only_in_statement[0].statement_fee,
            Some(Amount::from_fen(16).unwrap())
        );
        assert_eq!(ids(&r.amount_mismatches), ["T04"]);
        assert_eq!(
            r.amount_mismatches[0].statement_amount,
            Some(Amount::from_fen(19_999).unwrap())
        );
        assert_eq!(
            r.amount_mismatches[0].phone_amount,
            Some(Amount::from_fen(20_000).unwrap())
        );
        assert_eq!(ids(&r.fee_mismatches), ["R01"]);
        assert_eq!(r.fee_mismatches[0].kind, TradeKind::Refund);
        assert_eq!(r.expected.to_fen(), EXPECTED_FEN);
        assert_eq!(r.settled.to_fen(), total.net_fen - 100);
        assert_eq!(r.shortfall.to_fen(), EXPECTED_FEN - (total.net_fen - 100));
        assert_eq!(r.statement_net.to_fen(), total.net_fen);

        let open = db.read(|c| findings::list(c, false, Lang::Zh)).unwrap();
        let codes: Vec<_> = open.iter().map(|f| f.code.as_str()).collect();
        assert!(
            codes.contains(&FINDING_SHORTFALL) && codes.contains(&FINDING_MISMATCH),
            "{codes:?}"
        );
        assert!(open.iter().all(|f| f.subject == DAY));
        let short = open.iter().find(|f| f.code == FINDING_SHORTFALL).unwrap();
        assert!(
            short.message.contains(&format!("少付 {} 元", r.shortfall)),
            "{}",
            short.message
        );

        // Reconciled again: the stored result is replaced, not added to, and
        // the open findings are not recorded twice.
        let again = db.write(|c| reconcile_in(c, DAY, &s, &bytes)).unwrap();
        assert_eq!(db.read(|c| Ok(finding_count(c))).unwrap(), 2);
        let items: i64 = db
            .read(
                |c| Ok(c.query_row("SELECT count(*) FROM reconciliation_item", [], |r| r.get(0))?),
            )
            .unwrap();
        assert_eq!(items, 5);
        let mut back = db.read(|c| stored(c, DAY)).unwrap().unwrap();
        back.reconciled_at_ms = again.reconciled_at_ms;
        assert_eq!(back, again);
        assert_eq!(db.read(|c| stored(c, "2025-06-02")).unwrap(), None);
    }

    #[test]
    fn a_malformed_statement_is_refused_whole_and_nothing_is_kept() {
        let (_t, db) = db();
        db.write(|c| {
            insert(c, ROWS);
            Ok(())
        })
        .unwrap();
        let (good, total) = file(&statement_lines());
        let s = settlement(total.net_fen, total.net_fen - 100);
        let text = String::from_utf8(good).unwrap();
        let broken = [
            // The closing line does not add up.
            (
                text.replace(",128000,768,", ",128001,768,"),
                "statement.total_mismatch",
            ),
            // A card number beyond BIN and last four.
            (
                text.replace(
                    "T02,,LKLA800123455,credit_card,sale,128000,768,,,",
                    "T02,,LKLA800123455,credit_card,sale,128000,768,6228480000000017,0017,",
                ),
                "statement.line_invalid",
            ),
            (
                text.lines()
                    .filter(|l| !l.starts_with("TOTAL"))
                    .map(|l| format!("{l}\n"))
                    .collect(),
                "statement.total_missing",
            ),
            ("not a statement\n".to_owned(), "statement.header"),
        ];
        for (bytes, code) in broken {
            let e = db
                .write(|c| reconcile_in(c, DAY, &s, bytes.as_bytes()))
                .unwrap_err();
            assert!(e.is(&STATEMENT_MALFORMED), "{e:?}");
            assert!(
                e.detail.as_deref().unwrap_or("").starts_with(code),
                "{code}: {e:?}"
            );
            assert!(e.message.as_deref().unwrap_or("").contains(code));
        }
        let count = |table: &str| -> i64 {
            db.read(
                |c| Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?),
            )
            .unwrap()
        };
        for table in [
            "reconciliation",
            "reconciliation_item",
            "settlement",
            "finding",
        ] {
            assert_eq!(count(table), 0, "{table}");
        }
    }

    #[test]
    fn dates_and_settlement_answers_are_checked() {
        assert!(check_date("2025-06-01").is_ok());
        for bad in [
            "2025-6-1",
            "2025-02-30",
            "20250601",
            "",
            "2025-06-01 ",
            "../../x",
        ] {
            assert!(
                check_date(bad).unwrap_err().is(&SETTLEMENT_DATE_INVALID),
                "{bad}"
            );
        }
        let wire = domain::Settlement {
            date: DAY.into(),
            trade_count: 42,
            refund_count: 1,
            gross_amount: "3855.40".into(),
            fee_amount: "-0.40".into(),
            refund_amount: "30.00".into(),
            net_amount: "3825.80".into(),
            settled_amount: "3825.80".into(),
            account_masked: None,
            settled_at: "2025-06-02T09:00:00+08:00".into(),
        };
        let s = settlement_from_wire(wire.clone(), DAY).unwrap();
        assert!(s.fee_is_credit);
        assert_eq!(s.fee_amount.to_string(), "0.40");
        assert_eq!(fee_fen(&s), -40);
        let (_t, db) = db();
        db.write(|c| put_settlement(c, &s)).unwrap();
        assert_eq!(
            db.read(|c| stored_settlement(c, DAY)).unwrap(),
            Some(s.clone())
        );
        assert_eq!(s.settled_at_ms, 1_748_826_000_000);
        assert!(settlement_from_wire(wire.clone(), "2025-06-02").is_err());
        let bad = domain::Settlement {
            net_amount: "lots".into(),
            ..wire
        };
        assert!(
            settlement_from_wire(bad, DAY)
                .unwrap_err()
                .is(&RESPONSE_MALFORMED)
        );
    }
}
