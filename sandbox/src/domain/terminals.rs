//! Terminals: bind (by serial or by the back QR), unbind, list.
//!
//! - Binding needs an active merchant (409 `merchant.not_active`).
//! - A serial that is not well formed is 400 `terminal.sn_invalid`; a QR that
//!   is not a terminal's back QR (or is forged) 400 `terminal.qr_invalid`.
//! - A serial in no inventory is 404 `terminal.not_found`; a terminal bound
//!   to another merchant 409 `terminal.owned_by_other` (refused loudly, as
//!   the merchant must know); binding one's own terminal again answers the
//!   same record and emits nothing (idempotent).
//! - Unbinding or naming another merchant's terminal is 404
//!   `resource.not_found`, like a terminal that does not exist.

use axum::Json;
use axum::extract::{Path, State};
use merchant_contract::domain::{self as wire, BindTerminal, Terminal, TerminalUnbound};
use merchant_contract::wire::{FieldError, Page, event_types};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Deserialize;

use super::inventory::{self, QrProblem};
use super::{merchant, paging};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::guard::{JsonBody, Merchant, QueryParams};
use crate::state::AppState;

const LIST: &str = "terminals";

/// A terminal of the inventory and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub sn: String,
    pub model: String,
    pub firmware: String,
    pub merchant_id: Option<String>,
    pub bound_at: Option<i64>,
    pub bind_seq: Option<i64>,
}

impl Held {
    fn to_wire(&self) -> Terminal {
        Terminal {
            sn: self.sn.clone(),
            model: self.model.clone(),
            firmware: self.firmware.clone(),
            bound_at: rfc3339(self.bound_at.unwrap_or(0)),
        }
    }
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Held> {
    Ok(Held {
        sn: r.get(0)?,
        model: r.get(1)?,
        firmware: r.get(2)?,
        merchant_id: r.get(3)?,
        bound_at: r.get(4)?,
        bind_seq: r.get(5)?,
    })
}

/// The inventory's terminal with serial `sn`.
pub fn find(conn: &Connection, sn: &str) -> Result<Option<Held>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT sn, model, firmware, merchant_id, bound_at, bind_seq FROM dom_terminals WHERE sn = ?1",
            params![sn],
            read,
        )
        .optional()?)
}

/// The serials of the merchant's terminals, in serial order.
pub fn serials_of(conn: &Connection, merchant_id: &str) -> Result<Vec<String>, ApiError> {
    let mut stmt =
        conn.prepare("SELECT sn FROM dom_terminals WHERE merchant_id = ?1 ORDER BY sn")?;
    let rows = stmt
        .query_map(params![merchant_id], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// Binds a free terminal to the merchant inside the caller's transaction.
fn bind_free(conn: &Connection, merchant_id: &str, sn: &str, at: i64) -> Result<Held, ApiError> {
    let seq: i64 = conn.query_row(
        "SELECT COALESCE(MAX(bind_seq), 0) + 1 FROM dom_terminals",
        [],
        |r| r.get(0),
    )?;
    conn.execute(
        "UPDATE dom_terminals SET merchant_id = ?2, bound_at = ?3, bind_seq = ?4 WHERE sn = ?1 AND merchant_id IS NULL",
        params![sn, merchant_id, at, seq],
    )?;
    find(conn, sn)?.ok_or_else(|| ApiError::internal("terminal just bound"))
}

/// Seeding: binds a terminal without an event.
pub(crate) fn bind_seeded(
    state: &AppState,
    merchant_id: &str,
    sn: &str,
    at: i64,
) -> Result<(), ApiError> {
    state.db(|conn| {
        bind_free(conn, merchant_id, sn, at)?;
        Ok(())
    })
}

/// The serial a bind request names, or its documented refusal.
fn serial_of(state: &AppState, req: &BindTerminal) -> Result<String, ApiError> {
    match (&req.sn, &req.qr_text) {
        (Some(sn), None) => inventory::normalize_sn(sn).ok_or_else(|| {
            ApiError::new(&wire::TERMINAL_SN_INVALID).field("sn", wire::TERMINAL_SN_INVALID.code)
        }),
        (None, Some(qr)) => {
            inventory::parse_qr(&inventory::qr_key(state.seed()), qr).map_err(|p| {
                let detail = match p {
                    QrProblem::NotTerminalQr => "not a terminal back QR",
                    QrProblem::BadSignature => "back QR signature does not match",
                };
                ApiError::new(&wire::TERMINAL_QR_INVALID)
                    .field("qr_text", wire::TERMINAL_QR_INVALID.code)
                    .detail(detail)
            })
        }
        _ => Err(ApiError::fields(vec![FieldError {
            field: "sn".to_owned(),
            code: wire::FIELD_ONE_OF_SN_QR.code.to_owned(),
        }])),
    }
}

/// `POST /v1/terminals`.
pub async fn bind(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    JsonBody(req): JsonBody<BindTerminal>,
) -> Result<Json<Terminal>, ApiError> {
    let sn = serial_of(&state, &req)?;
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        merchant::require_active(&tx, &merchant_id)?;
        let held = find(&tx, &sn)?.ok_or_else(|| ApiError::new(&wire::TERMINAL_NOT_FOUND))?;
        match held.merchant_id.as_deref() {
            Some(owner) if owner == merchant_id => Ok(Json(held.to_wire())),
            Some(_) => Err(ApiError::new(&wire::TERMINAL_OWNED_BY_OTHER)),
            None => {
                let bound = bind_free(&tx, &merchant_id, &sn, now)?.to_wire();
                let body = serde_json::to_value(&bound)
                    .map_err(|e| ApiError::internal(format!("terminal json: {e}")))?;
                state.emit_with(&tx, &merchant_id, event_types::TERMINAL_BOUND, body)?;
                tx.commit()?;
                Ok(Json(bound))
            }
        }
    })
}

/// `DELETE /v1/terminals/{sn}`.
pub async fn unbind(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(sn): Path<String>,
) -> Result<Json<TerminalUnbound>, ApiError> {
    let sn = inventory::normalize_sn(&sn).ok_or_else(ApiError::not_found)?;
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE dom_terminals SET merchant_id = NULL, bound_at = NULL, bind_seq = NULL
             WHERE sn = ?1 AND merchant_id = ?2",
            params![sn, merchant_id],
        )?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        let gone = TerminalUnbound {
            sn,
            unbound_at: rfc3339(now),
        };
        let body = serde_json::to_value(&gone)
            .map_err(|e| ApiError::internal(format!("unbound json: {e}")))?;
        state.emit_with(&tx, &merchant_id, event_types::TERMINAL_UNBOUND, body)?;
        tx.commit()?;
        Ok(Json(gone))
    })
}

/// The query of `GET /v1/terminals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

/// Turns paging problems into the documented field refusal.
pub fn page_error(problems: Vec<paging::PageProblem>) -> ApiError {
    ApiError::fields(
        problems
            .into_iter()
            .map(|p| match p {
                paging::PageProblem::Cursor => FieldError {
                    field: "cursor".to_owned(),
                    code: wire::FIELD_PAGE_CURSOR.code.to_owned(),
                },
                paging::PageProblem::Limit => FieldError {
                    field: "limit".to_owned(),
                    code: wire::FIELD_PAGE_LIMIT.code.to_owned(),
                },
            })
            .collect(),
    )
}

/// Reads the `cursor` and `limit` of a list that checks other parameters too:
/// wrong ones are added to `problems` (and the answer is then unused).
pub fn page_params(
    list: &str,
    cursor: Option<&str>,
    limit: Option<&str>,
    problems: &mut Vec<FieldError>,
) -> (Option<paging::Cursor>, u32) {
    match paging::parse(list, cursor, limit) {
        Ok(v) => v,
        Err(p) => {
            problems.extend(page_error(p).fields);
            (None, 0)
        }
    }
}

/// `GET /v1/terminals`: newest bound first.
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Page<Terminal>>, ApiError> {
    let (cursor, limit) =
        paging::parse(LIST, q.cursor.as_deref(), q.limit.as_deref()).map_err(page_error)?;
    let (key, tie) = cursor.map_or((i64::MAX, i64::MAX), |c| (c.key, c.tie));
    let rows = state.db(|conn| {
        let mut stmt = conn.prepare(
            "SELECT sn, model, firmware, merchant_id, bound_at, bind_seq FROM dom_terminals
             WHERE merchant_id = ?1 AND (bound_at < ?2 OR (bound_at = ?2 AND bind_seq < ?3))
             ORDER BY bound_at DESC, bind_seq DESC LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(params![merchant_id, key, tie, i64::from(limit) + 1], read)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let (items, next_cursor) = paging::cut(LIST, rows, limit, |h| paging::Cursor {
        key: h.bound_at.unwrap_or(0),
        tie: h.bind_seq.unwrap_or(0),
    });
    Ok(Json(Page {
        items: items.iter().map(Held::to_wire).collect(),
        next_cursor,
    }))
}
