//! Terminals: the model table, bind (by serial or by the back QR), rename and
//! re-role (main 正机 / secondary 副机), unbind, list; and the platform's
//! own moves that the sandbox controls make (freeze, transfer).
//!
//! - Binding needs an active merchant (409 `merchant.not_active`).
//! - A serial that is not well formed is 400 `terminal.sn_invalid`; a QR that
//!   is not a terminal's back QR (or is forged) 400 `terminal.qr_invalid`.
//! - A serial in no inventory is 404 `terminal.not_found`; a terminal bound
//!   to another merchant 409 `terminal.owned_by_other` (refused loudly, as
//!   the merchant must know); binding one's own terminal again answers
//!   `already_bound` with the same record and emits nothing.
//! - The merchant's first terminal binds as its `main`; later ones as
//!   `secondary` of its first main (the earliest bound one). Invariant: every
//!   secondary names a main of the same merchant. So a main with secondaries
//!   can neither become a secondary nor be unbound (409
//!   `terminal.main_has_secondaries`), and when the platform moves such a
//!   main away its secondaries are re-homed ([`rehome_secondaries`]).
//! - Renaming, re-roling or unbinding another merchant's terminal is 404
//!   `resource.not_found`, like a terminal that does not exist.
//! - A freeze is the terminal's: it stays through unbinding and transfers,
//!   and a frozen terminal takes no generated trades; it can still be
//!   renamed, re-roled and unbound.

use axum::Json;
use axum::extract::{Path, State};
use merchant_contract::domain::sandbox::{InventoryTerminal, TerminalTransferred};
use merchant_contract::domain::{
    self as wire, BindOutcome, BindTerminal, TERMINAL_ALIAS_MAX, Terminal, TerminalBinding,
    TerminalModel, TerminalRole, TerminalStatus, TerminalUnbound, UnbindReason, UpdateTerminal,
};
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

/// The columns [`read`] reads, in its order.
const COLS: &str = "sn, model, firmware, merchant_id, bound_at, bind_seq, frozen, alias, role, main_sn, last_trade_at";

/// A terminal of the inventory and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub sn: String,
    pub model: String,
    pub firmware: String,
    pub merchant_id: Option<String>,
    pub bound_at: Option<i64>,
    pub bind_seq: Option<i64>,
    pub frozen: bool,
    pub alias: Option<String>,
    /// `Some` exactly while bound.
    pub role: Option<TerminalRole>,
    pub main_sn: Option<String>,
    pub last_trade_at: Option<i64>,
}

impl Held {
    fn status(&self) -> TerminalStatus {
        if self.frozen {
            TerminalStatus::Frozen
        } else {
            TerminalStatus::Active
        }
    }

    /// The record as its merchant sees it.
    pub fn to_wire(&self) -> Terminal {
        Terminal {
            sn: self.sn.clone(),
            model: self.model.clone(),
            firmware: self.firmware.clone(),
            alias: self.alias.clone(),
            status: self.status(),
            role: self.role.unwrap_or(TerminalRole::Main),
            main_sn: self.main_sn.clone(),
            bound_at: rfc3339(self.bound_at.unwrap_or(0)),
            last_trade_at: self.last_trade_at.map(rfc3339),
        }
    }

    fn is_main(&self) -> bool {
        self.role == Some(TerminalRole::Main)
    }
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Held> {
    let role: Option<String> = r.get(8)?;
    Ok(Held {
        sn: r.get(0)?,
        model: r.get(1)?,
        firmware: r.get(2)?,
        merchant_id: r.get(3)?,
        bound_at: r.get(4)?,
        bind_seq: r.get(5)?,
        frozen: r.get::<_, i64>(6)? != 0,
        alias: r.get(7)?,
        role: role.as_deref().and_then(TerminalRole::parse),
        main_sn: r.get(9)?,
        last_trade_at: r.get(10)?,
    })
}

/// The inventory's terminal with serial `sn`.
pub fn find(conn: &Connection, sn: &str) -> Result<Option<Held>, ApiError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLS} FROM dom_terminals WHERE sn = ?1"),
            params![sn],
            read,
        )
        .optional()?)
}

/// The merchant's terminal with serial `sn` (`None` for anyone else's).
fn find_owned(conn: &Connection, merchant_id: &str, sn: &str) -> Result<Option<Held>, ApiError> {
    Ok(find(conn, sn)?.filter(|h| h.merchant_id.as_deref() == Some(merchant_id)))
}

/// The serials of the merchant's terminals that take payments (bound and
/// not frozen), in serial order.
pub fn serials_of(conn: &Connection, merchant_id: &str) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT sn FROM dom_terminals WHERE merchant_id = ?1 AND frozen = 0 ORDER BY sn",
    )?;
    let rows = stmt
        .query_map(params![merchant_id], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// The merchant's first main (earliest bound) other than `except`.
fn first_main(
    conn: &Connection,
    merchant_id: &str,
    except: Option<&str>,
) -> Result<Option<String>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT sn FROM dom_terminals
             WHERE merchant_id = ?1 AND role = 'main' AND (?2 IS NULL OR sn <> ?2)
             ORDER BY bound_at, bind_seq LIMIT 1",
            params![merchant_id, except],
            |r| r.get(0),
        )
        .optional()?)
}

/// The secondaries under the merchant's main `main_sn`, earliest bound first.
fn secondaries_of(
    conn: &Connection,
    merchant_id: &str,
    main_sn: &str,
) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT sn FROM dom_terminals WHERE merchant_id = ?1 AND main_sn = ?2
         ORDER BY bound_at, bind_seq",
    )?;
    let rows = stmt
        .query_map(params![merchant_id, main_sn], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// Binds a free terminal to the merchant inside the caller's transaction:
/// its first terminal as main, later ones as secondaries of its first main.
fn bind_free(conn: &Connection, merchant_id: &str, sn: &str, at: i64) -> Result<Held, ApiError> {
    let seq: i64 = conn.query_row(
        "SELECT COALESCE(MAX(bind_seq), 0) + 1 FROM dom_terminals",
        [],
        |r| r.get(0),
    )?;
    let main = first_main(conn, merchant_id, None)?;
    let role = if main.is_some() {
        TerminalRole::Secondary
    } else {
        TerminalRole::Main
    };
    conn.execute(
        "UPDATE dom_terminals SET merchant_id = ?2, bound_at = ?3, bind_seq = ?4, role = ?5,
            main_sn = ?6, alias = NULL, last_trade_at = NULL
         WHERE sn = ?1 AND merchant_id IS NULL",
        params![sn, merchant_id, at, seq, role.as_str(), main],
    )?;
    find(conn, sn)?.ok_or_else(|| ApiError::internal("terminal just bound"))
}

/// Frees a terminal of the merchant (it keeps its freeze).
fn release(conn: &Connection, merchant_id: &str, sn: &str) -> Result<(), ApiError> {
    conn.execute(
        "UPDATE dom_terminals SET merchant_id = NULL, bound_at = NULL, bind_seq = NULL,
            role = NULL, main_sn = NULL, alias = NULL, last_trade_at = NULL
         WHERE sn = ?1 AND merchant_id = ?2",
        params![sn, merchant_id],
    )?;
    Ok(())
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

/// Records a trade of the merchant on its terminal `sn` at `at` (a trade
/// dated earlier than the latest one leaves it). Trades on a terminal that
/// is not the merchant's (the `foreign_terminal` anomaly) change nothing.
pub(crate) fn note_trade(
    conn: &Connection,
    merchant_id: &str,
    sn: &str,
    at: i64,
) -> Result<(), ApiError> {
    conn.execute(
        "UPDATE dom_terminals SET last_trade_at = MAX(COALESCE(last_trade_at, ?3), ?3)
         WHERE sn = ?1 AND merchant_id = ?2",
        params![sn, merchant_id, at],
    )?;
    Ok(())
}

fn emit_terminal(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    event_type: &str,
    terminal: &Terminal,
) -> Result<(), ApiError> {
    let body = serde_json::to_value(terminal)
        .map_err(|e| ApiError::internal(format!("terminal json: {e}")))?;
    state.emit_with(conn, merchant_id, event_type, body)?;
    Ok(())
}

fn emit_unbound(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    gone: &TerminalUnbound,
) -> Result<(), ApiError> {
    let body =
        serde_json::to_value(gone).map_err(|e| ApiError::internal(format!("unbound json: {e}")))?;
    state.emit_with(conn, merchant_id, event_types::TERMINAL_UNBOUND, body)?;
    Ok(())
}

/// `GET /v1/terminal-models`: the model table, one short page.
pub async fn models(Merchant(_): Merchant) -> Json<Page<TerminalModel>> {
    Json(Page {
        items: inventory::models(),
        next_cursor: None,
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
        _ => Err(ApiError::fields(vec![FieldError::new(
            "sn",
            wire::FIELD_ONE_OF_SN_QR.code,
        )])),
    }
}

/// `POST /v1/terminals`.
pub async fn bind(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    JsonBody(req): JsonBody<BindTerminal>,
) -> Result<Json<TerminalBinding>, ApiError> {
    let sn = serial_of(&state, &req)?;
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        merchant::require_active(&tx, &merchant_id)?;
        let held = find(&tx, &sn)?.ok_or_else(|| ApiError::new(&wire::TERMINAL_NOT_FOUND))?;
        match held.merchant_id.as_deref() {
            Some(owner) if owner == merchant_id => Ok(Json(TerminalBinding {
                outcome: BindOutcome::AlreadyBound,
                terminal: held.to_wire(),
            })),
            Some(_) => Err(ApiError::new(&wire::TERMINAL_OWNED_BY_OTHER)),
            None => {
                let bound = bind_free(&tx, &merchant_id, &sn, now)?.to_wire();
                emit_terminal(
                    &state,
                    &tx,
                    &merchant_id,
                    event_types::TERMINAL_BOUND,
                    &bound,
                )?;
                tx.commit()?;
                Ok(Json(TerminalBinding {
                    outcome: BindOutcome::Bound,
                    terminal: bound,
                }))
            }
        }
    })
}

/// The alias of an update: trimmed; `None` clears it.
fn alias_of(alias: Option<&str>, problems: &mut Vec<FieldError>) -> Option<String> {
    let alias = alias?.trim();
    if alias.is_empty() || alias.chars().any(char::is_control) {
        problems.push(FieldError::new("alias", wire::FIELD_INVALID.code));
        None
    } else if alias.chars().count() > TERMINAL_ALIAS_MAX {
        problems.push(FieldError::new("alias", wire::FIELD_TOO_LONG.code));
        None
    } else {
        Some(alias.to_owned())
    }
}

/// `PUT /v1/terminals/{sn}`: sets the alias and the role.
pub async fn update(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(sn): Path<String>,
    JsonBody(req): JsonBody<UpdateTerminal>,
) -> Result<Json<Terminal>, ApiError> {
    let sn = inventory::normalize_sn(&sn).ok_or_else(ApiError::not_found)?;
    let mut problems = Vec::new();
    let alias = alias_of(req.alias.as_deref(), &mut problems);
    let main_sn = match (req.role, req.main_sn.as_deref()) {
        (TerminalRole::Main, None) => None,
        (TerminalRole::Main, Some(_)) => {
            problems.push(FieldError::new("main_sn", wire::FIELD_INVALID.code));
            None
        }
        (TerminalRole::Secondary, None) => {
            problems.push(FieldError::new("main_sn", wire::FIELD_REQUIRED.code));
            None
        }
        (TerminalRole::Secondary, Some(text)) => {
            let main = inventory::normalize_sn(text);
            if main.is_none() {
                problems.push(FieldError::new("main_sn", wire::TERMINAL_SN_INVALID.code));
            }
            main
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    state.db(|conn| {
        let tx = conn.transaction()?;
        let held = find_owned(&tx, &merchant_id, &sn)?.ok_or_else(ApiError::not_found)?;
        if let Some(main) = &main_sn {
            let names_a_main =
                *main != sn && find_owned(&tx, &merchant_id, main)?.is_some_and(|m| m.is_main());
            if !names_a_main {
                return Err(ApiError::fields(vec![FieldError::new(
                    "main_sn",
                    wire::FIELD_TERMINAL_MAIN_INVALID.code,
                )]));
            }
        }
        if req.role == TerminalRole::Secondary
            && held.is_main()
            && !secondaries_of(&tx, &merchant_id, &sn)?.is_empty()
        {
            return Err(ApiError::new(&wire::TERMINAL_MAIN_HAS_SECONDARIES));
        }
        tx.execute(
            "UPDATE dom_terminals SET alias = ?3, role = ?4, main_sn = ?5
             WHERE sn = ?1 AND merchant_id = ?2",
            params![sn, merchant_id, alias, req.role.as_str(), main_sn],
        )?;
        let after = find(&tx, &sn)?.ok_or_else(|| ApiError::internal("terminal just updated"))?;
        let terminal = after.to_wire();
        if after != held {
            emit_terminal(
                &state,
                &tx,
                &merchant_id,
                event_types::TERMINAL_UPDATED,
                &terminal,
            )?;
        }
        tx.commit()?;
        Ok(Json(terminal))
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
        let held = find_owned(&tx, &merchant_id, &sn)?.ok_or_else(ApiError::not_found)?;
        if held.is_main() && !secondaries_of(&tx, &merchant_id, &sn)?.is_empty() {
            return Err(ApiError::new(&wire::TERMINAL_MAIN_HAS_SECONDARIES));
        }
        release(&tx, &merchant_id, &sn)?;
        let gone = TerminalUnbound {
            sn,
            unbound_at: rfc3339(now),
            reason: UnbindReason::Merchant,
        };
        emit_unbound(&state, &tx, &merchant_id, &gone)?;
        tx.commit()?;
        Ok(Json(gone))
    })
}

/// Before the platform takes the merchant's main `main_sn` away: its
/// secondaries move under the merchant's first other main or, when it has
/// none, the earliest bound of them becomes the main of the others. Emits
/// `terminal.updated` for each terminal changed.
pub(crate) fn rehome_secondaries(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    main_sn: &str,
) -> Result<(), ApiError> {
    let orphans = secondaries_of(conn, merchant_id, main_sn)?;
    let Some(first) = orphans.first() else {
        return Ok(());
    };
    let new_main = match first_main(conn, merchant_id, Some(main_sn))? {
        Some(m) => m,
        None => {
            conn.execute(
                "UPDATE dom_terminals SET role = 'main', main_sn = NULL WHERE sn = ?1",
                params![first],
            )?;
            first.clone()
        }
    };
    conn.execute(
        "UPDATE dom_terminals SET main_sn = ?3 WHERE merchant_id = ?1 AND main_sn = ?2",
        params![merchant_id, main_sn, new_main],
    )?;
    for sn in &orphans {
        let moved = find(conn, sn)?.ok_or_else(|| ApiError::internal("re-homed terminal"))?;
        emit_terminal(
            state,
            conn,
            merchant_id,
            event_types::TERMINAL_UPDATED,
            &moved.to_wire(),
        )?;
    }
    Ok(())
}

/// The inventory's terminals (all, or the one with serial `sn`), in
/// inventory order.
pub(crate) fn inventory_rows(
    conn: &Connection,
    sn: Option<&str>,
) -> Result<Vec<InventoryTerminal>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT sn, model, firmware, qr_text, merchant_id, frozen FROM dom_terminals
         WHERE ?1 IS NULL OR sn = ?1 ORDER BY ord",
    )?;
    let rows = stmt
        .query_map(params![sn], |r| {
            let merchant_id: Option<String> = r.get(4)?;
            Ok(InventoryTerminal {
                sn: r.get(0)?,
                model: r.get(1)?,
                firmware: r.get(2)?,
                qr_text: r.get(3)?,
                state: if merchant_id.is_some() {
                    "bound"
                } else {
                    "free"
                }
                .to_owned(),
                merchant_id,
                status: if r.get::<_, i64>(5)? != 0 {
                    TerminalStatus::Frozen
                } else {
                    TerminalStatus::Active
                },
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Freezes or unfreezes an inventory terminal inside the caller's
/// transaction; a change emits `terminal.frozen` / `terminal.unfrozen` (data:
/// the terminal) to the merchant holding it. `Ok(None)`: no such terminal.
pub(crate) fn set_frozen_with(
    state: &AppState,
    conn: &Connection,
    sn: &str,
    frozen: bool,
) -> Result<Option<InventoryTerminal>, ApiError> {
    let Some(held) = find(conn, sn)? else {
        return Ok(None);
    };
    if held.frozen != frozen {
        conn.execute(
            "UPDATE dom_terminals SET frozen = ?2 WHERE sn = ?1",
            params![sn, frozen],
        )?;
        if let Some(owner) = &held.merchant_id {
            let now = find(conn, sn)?.ok_or_else(|| ApiError::internal("terminal just frozen"))?;
            let event = if frozen {
                event_types::TERMINAL_FROZEN
            } else {
                event_types::TERMINAL_UNFROZEN
            };
            emit_terminal(state, conn, owner, event, &now.to_wire())?;
        }
    }
    Ok(inventory_rows(conn, Some(sn))?.pop())
}

/// The platform moves the bound terminal `sn` to the active merchant `to`,
/// inside the caller's transaction: re-homes its secondaries if it is a main
/// ([`rehome_secondaries`]), emits `terminal.unbound` (reason `transferred`)
/// to its merchant and `terminal.bound` to `to`, where it binds by the bind
/// rule (main if it is `to`'s first, else a secondary of `to`'s first main),
/// without alias or last trade. The caller has checked that `to` is another
/// merchant.
pub(crate) fn transfer_with(
    state: &AppState,
    conn: &Connection,
    held: &Held,
    to: &str,
    now: i64,
) -> Result<TerminalTransferred, ApiError> {
    let from = held
        .merchant_id
        .clone()
        .ok_or_else(|| ApiError::new(&wire::SANDBOX_TERMINAL_NOT_BOUND))?;
    merchant::require_active(conn, to)?;
    if held.is_main() {
        rehome_secondaries(state, conn, &from, &held.sn)?;
    }
    release(conn, &from, &held.sn)?;
    let gone = TerminalUnbound {
        sn: held.sn.clone(),
        unbound_at: rfc3339(now),
        reason: UnbindReason::Transferred,
    };
    emit_unbound(state, conn, &from, &gone)?;
    let bound = bind_free(conn, to, &held.sn, now)?.to_wire();
    emit_terminal(state, conn, to, event_types::TERMINAL_BOUND, &bound)?;
    Ok(TerminalTransferred {
        from_merchant_id: from,
        to_merchant_id: to.to_owned(),
        terminal: bound,
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
                paging::PageProblem::Cursor => {
                    FieldError::new("cursor", wire::FIELD_PAGE_CURSOR.code)
                }
                paging::PageProblem::Limit => FieldError::new("limit", wire::FIELD_PAGE_LIMIT.code),
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
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLS} FROM dom_terminals
             WHERE merchant_id = ?1 AND (bound_at < ?2 OR (bound_at = ?2 AND bind_seq < ?3))
             ORDER BY bound_at DESC, bind_seq DESC LIMIT ?4"
        ))?;
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
