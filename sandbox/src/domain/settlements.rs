//! Daily settlements (T+1): one statement per merchant and business day
//! with trades or refunds.
//!
//! A day is settled once it is over: when the merchant next lists or reads
//! settlements (every finished, unsettled day with activity is settled then,
//! paid in full, and `settlement.ready` is emitted), or earlier through
//! `POST /sandbox/settlements`, which can inject a shortfall (the platform
//! pays less than due). A settled day is closed: no trade can be injected
//! into it afterwards. See [`super::ledger`] for the sums.

use axum::Json;
use axum::extract::{Path, State};
use chrono::NaiveDate;
use merchant_contract::domain::{self as wire, Settlement};
use merchant_contract::statement;
use merchant_contract::wire::{FieldError, Page, event_types};
use rusqlite::{Connection, OptionalExtension as _, Row, params};
use serde::Deserialize;

use super::merchant::{self, Profile};
use super::terminals::page_params;
use super::trades::{day_of, day_settled, day_totals};
use super::{ledger, paging};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::guard::{Merchant, QueryParams};
use crate::state::AppState;

const LIST: &str = "settlements";

fn fen_text(fen: i64) -> String {
    merchant_core::money::Amount::from_fen(fen.max(0))
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "0.00".to_owned())
}

const COLUMNS: &str = "day, trade_count, refund_count, gross, fees, refunds, net, settled, account_masked, settled_at";

fn read(r: &Row<'_>) -> rusqlite::Result<Settlement> {
    Ok(Settlement {
        date: r.get(0)?,
        trade_count: r.get(1)?,
        refund_count: r.get(2)?,
        gross_amount: fen_text(r.get(3)?),
        fee_amount: fen_text(r.get(4)?),
        refund_amount: fen_text(r.get(5)?),
        net_amount: fen_text(r.get(6)?),
        settled_amount: fen_text(r.get(7)?),
        account_masked: r.get(8)?,
        settled_at: rfc3339(r.get(9)?),
    })
}

/// `YYYY-MM-DD` as a page key (`20250527`).
fn day_key(day: &str) -> i64 {
    day.replace('-', "").parse().unwrap_or(0)
}

/// Parses a `YYYY-MM-DD` day.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Settles the merchant's `day` inside the caller's transaction, paying
/// `shortfall` fen less than due (never below zero), and emits
/// `settlement.ready` unless `quiet`. A settled day is 409
/// `settlement.day_closed`.
pub fn settle_with(
    state: &AppState,
    conn: &Connection,
    p: &Profile,
    day: &str,
    shortfall: i64,
    at: i64,
    quiet: bool,
) -> Result<Settlement, ApiError> {
    if day_settled(conn, &p.merchant_id, day)? {
        return Err(ApiError::new(&wire::SETTLEMENT_DAY_CLOSED));
    }
    let t = day_totals(conn, &p.merchant_id, day)?;
    let net = t.net();
    conn.execute(
        &format!(
            "INSERT INTO dom_settlements (merchant_id, {COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            p.merchant_id,
            day,
            t.trade_count,
            t.refund_count,
            t.gross,
            t.fees(),
            t.refunds,
            net,
            ledger::settled(net, shortfall),
            p.account_masked,
            at
        ],
    )?;
    let s = conn.query_row(
        &format!("SELECT {COLUMNS} FROM dom_settlements WHERE merchant_id = ?1 AND day = ?2"),
        params![p.merchant_id, day],
        read,
    )?;
    if !quiet {
        let body = serde_json::to_value(&s)
            .map_err(|e| ApiError::internal(format!("settlement json: {e}")))?;
        state.emit_with(conn, &p.merchant_id, event_types::SETTLEMENT_READY, body)?;
    }
    Ok(s)
}

/// Settles, in full, every day before today with trade records that is not
/// settled yet (oldest first), after the pending sales due have resolved
/// (a pending sale is always due before its own day ends).
pub fn settle_due(state: &AppState, conn: &Connection, p: &Profile) -> Result<(), ApiError> {
    let now = state.now_unix();
    super::trades::apply_due(state, conn, Some(&p.merchant_id), now)?;
    let today = day_of(now);
    // The days with records, one index seek each (not a scan of the records).
    let mut next_day = conn.prepare_cached(
        "SELECT MIN(day) FROM dom_trades WHERE merchant_id = ?1 AND day > ?2 AND day < ?3",
    )?;
    let mut days = Vec::new();
    let mut after = String::new();
    while let Some(day) = next_day.query_row(params![p.merchant_id, after, today], |r| {
        r.get::<_, Option<String>>(0)
    })? {
        if !day_settled(conn, &p.merchant_id, &day)? {
            days.push(day.clone());
        }
        after = day;
    }
    for day in days {
        settle_with(state, conn, p, &day, 0, now, false)?;
    }
    Ok(())
}

fn settle_due_for(
    state: &AppState,
    conn: &mut Connection,
    merchant_id: &str,
) -> Result<(), ApiError> {
    let tx = conn.transaction()?;
    if let Some(p) = merchant::profile(&tx, merchant_id)? {
        settle_due(state, &tx, &p)?;
    }
    tx.commit()?;
    Ok(())
}

/// The query of `GET /v1/settlements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementQuery {
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

fn date_param(field: &str, v: Option<&str>, out: &mut Vec<FieldError>) -> Option<String> {
    let v = v?;
    match parse_day(v) {
        Some(d) => Some(d.format("%Y-%m-%d").to_string()),
        None => {
            out.push(FieldError {
                field: field.to_owned(),
                code: wire::FIELD_DATE.code.to_owned(),
            });
            None
        }
    }
}

/// `GET /v1/settlements`: newest day first; `from` and `to` are days, both
/// included.
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    QueryParams(q): QueryParams<SettlementQuery>,
) -> Result<Json<Page<Settlement>>, ApiError> {
    let mut problems = Vec::new();
    let (cursor, limit) = page_params(LIST, q.cursor.as_deref(), q.limit.as_deref(), &mut problems);
    let from = date_param("from", q.from.as_deref(), &mut problems);
    let to = date_param("to", q.to.as_deref(), &mut problems);
    if let (Some(f), Some(t)) = (&from, &to)
        && f > t
    {
        problems.push(FieldError {
            field: "to".to_owned(),
            code: wire::FIELD_RANGE.code.to_owned(),
        });
    }
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let before = cursor.map_or(i64::MAX, |c| c.key);
    let rows = state.db(|conn| {
        settle_due_for(&state, conn, &merchant_id)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM dom_settlements
             WHERE merchant_id = ?1
               AND CAST(REPLACE(day, '-', '') AS INTEGER) < ?2
               AND (?3 IS NULL OR day >= ?3)
               AND (?4 IS NULL OR day <= ?4)
             ORDER BY day DESC LIMIT ?5"
        ))?;
        let rows = stmt
            .query_map(
                params![merchant_id, before, from, to, i64::from(limit) + 1],
                read,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let (items, next_cursor) = paging::cut(LIST, rows, limit, |s| paging::Cursor {
        key: day_key(&s.date),
        tie: 0,
    });
    Ok(Json(Page { items, next_cursor }))
}

/// `GET /v1/settlements/{date}`.
pub async fn get_one(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(date): Path<String>,
) -> Result<Json<Settlement>, ApiError> {
    let day = parse_day(&date).ok_or_else(|| {
        ApiError::fields(vec![FieldError {
            field: "date".to_owned(),
            code: wire::FIELD_DATE.code.to_owned(),
        }])
    })?;
    let day = day.format("%Y-%m-%d").to_string();
    state.db(|conn| {
        settle_due_for(&state, conn, &merchant_id)?;
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM dom_settlements WHERE merchant_id = ?1 AND day = ?2"),
            params![merchant_id, day],
            read,
        )
        .optional()?
        .map(Json)
        .ok_or_else(ApiError::not_found)
    })
}

/// The statement file's lines of the merchant's `day`: every paid sale made
/// that day (a voided one too), every void and every refund made that day,
/// in the order they were made, then the closing total.
pub fn statement_text(conn: &Connection, merchant_id: &str, day: &str) -> Result<String, ApiError> {
    let mut out = String::new();
    statement::write_header(&mut out);
    let mut total = statement::StatementTotal::default();
    let mut stmt = conn.prepare_cached(
        "SELECT log_no, reference_no, trade_id, original_trade_id, terminal_sn, channel, kind,
            amount, fee, card_bin, card_last4, created_at
         FROM dom_trades
         WHERE merchant_id = ?1 AND day = ?2
           AND status IN ('success', 'partially_refunded', 'refunded', 'voided')
         ORDER BY created_at, seq",
    )?;
    let mut rows = stmt.query(params![merchant_id, day])?;
    while let Some(r) = rows.next()? {
        let card = match (
            r.get::<_, Option<String>>(9)?,
            r.get::<_, Option<String>>(10)?,
        ) {
            (Some(bin), Some(last4)) => Some((bin, last4)),
            _ => None,
        };
        let line = statement::StatementLine {
            log_no: r.get(0)?,
            reference_no: r.get(1)?,
            trade_id: r.get(2)?,
            original_trade_id: r.get(3)?,
            terminal_sn: r.get(4)?,
            channel: r.get(5)?,
            kind: r.get(6)?,
            amount_fen: r.get(7)?,
            fee_fen: r.get(8)?,
            card,
            time: rfc3339(r.get(11)?),
        };
        statement::write_line(&mut out, &line);
        total.add(&line);
    }
    statement::write_total(&mut out, &total);
    Ok(out)
}

/// `GET /v1/settlements/{date}/statement`: the settled day's statement file
/// (对账单, `text/csv`), signed like every answer. 404 `statement.not_ready`
/// for a day without a settlement (not over, not settled yet, or no
/// records).
pub async fn statement_file(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(date): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let day = parse_day(&date).ok_or_else(|| {
        ApiError::fields(vec![FieldError {
            field: "date".to_owned(),
            code: wire::FIELD_DATE.code.to_owned(),
        }])
    })?;
    let day = day.format("%Y-%m-%d").to_string();
    let body = state.db(|conn| {
        settle_due_for(&state, conn, &merchant_id)?;
        if !day_settled(conn, &merchant_id, &day)? {
            return Err(ApiError::new(&wire::STATEMENT_NOT_READY));
        }
        statement_text(conn, &merchant_id, &day)
    })?;
    Ok(axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, statement::CONTENT_TYPE)],
        body,
    )))
}
