//! The terminals capability's tables (migration 3 in store/schema.rs):
//! `terminal`, the merchant's terminals as the platform last said plus
//! those that left the merchant (status `unbound`, kept as history), and
//! `terminal_model`, the platform's model rules for offline serial checks.
//! Serials, models and aliases are not personal data: nothing here is sealed.

use rusqlite::{Connection, params};

use super::model::{Terminal, TerminalRole, TerminalStatus};
use super::serial::TerminalModel;
use crate::error::{Error, Result};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn corrupt(what: &str) -> Error {
    Error::new(&crate::store::CORRUPT).detail(format!("terminal row: {what}"))
}

/// Inserts or replaces one terminal.
pub fn upsert(conn: &Connection, t: &Terminal) -> Result<()> {
    conn.execute(
        "INSERT INTO terminal (sn, model, firmware, alias, status, role, main_sn,
                               bound_at, last_trade_at, unbound_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (sn) DO UPDATE SET model = excluded.model, firmware = excluded.firmware,
             alias = excluded.alias, status = excluded.status, role = excluded.role,
             main_sn = excluded.main_sn, bound_at = excluded.bound_at,
             unbound_at = excluded.unbound_at,
             last_trade_at = CASE
                 WHEN excluded.last_trade_at IS NULL THEN terminal.last_trade_at
                 WHEN terminal.last_trade_at IS NULL THEN excluded.last_trade_at
                 ELSE max(terminal.last_trade_at, excluded.last_trade_at) END,
             updated_at = excluded.updated_at",
        params![
            t.sn,
            t.model,
            t.firmware,
            t.alias,
            t.status.as_str(),
            t.role.as_str(),
            t.main_sn,
            t.bound_at_ms,
            t.last_trade_at_ms,
            t.unbound_at_ms,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Replaces the list with what the platform listed: a terminal the list
/// held that the platform no longer lists is kept as `unbound`.
pub fn replace_all(conn: &Connection, terminals: &[Terminal]) -> Result<()> {
    let listed: std::collections::HashSet<&str> = terminals.iter().map(|t| t.sn.as_str()).collect();
    let held: Vec<String> = {
        let mut stmt = conn.prepare("SELECT sn FROM terminal WHERE status != 'unbound'")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let now = now_ms();
    for sn in held.iter().filter(|sn| !listed.contains(sn.as_str())) {
        mark_unbound(conn, sn, now)?;
    }
    for t in terminals {
        upsert(conn, t)?;
    }
    Ok(())
}

/// Marks a terminal as no longer the merchant's (kept as history: it loses
/// its place among the merchant's terminals); `true` when it was in the list
/// and not unbound already.
pub fn mark_unbound(conn: &Connection, sn: &str, unbound_at_ms: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE terminal SET status = 'unbound', main_sn = NULL, unbound_at = ?2, updated_at = ?3
         WHERE sn = ?1 AND status != 'unbound'",
        params![sn, unbound_at_ms, now_ms()],
    )? > 0)
}

/// The list: the merchant's terminals, mains first (by bound time), each
/// followed by its secondaries; then those that left, latest first.
pub fn list(conn: &Connection) -> Result<Vec<Terminal>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM terminal AS t
         ORDER BY status = 'unbound',
                  CASE WHEN status = 'unbound' THEN -unbound_at END,
                  (SELECT m.bound_at FROM terminal AS m WHERE m.sn = coalesce(t.main_sn, t.sn)),
                  coalesce(main_sn, sn), role = 'secondary', bound_at, sn"
    ))?;
    let rows = stmt.query_map([], row)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

const COLUMNS: &str =
    "sn, model, firmware, alias, status, role, main_sn, bound_at, last_trade_at, unbound_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Terminal>> {
    let status: String = r.get(4)?;
    let role: String = r.get(5)?;
    let Some(status) = TerminalStatus::parse(&status) else {
        return Ok(Err(corrupt("status")));
    };
    let Some(role) = TerminalRole::parse(&role) else {
        return Ok(Err(corrupt("role")));
    };
    Ok(Ok(Terminal {
        sn: r.get(0)?,
        model: r.get(1)?,
        firmware: r.get(2)?,
        alias: r.get(3)?,
        status,
        role,
        main_sn: r.get(6)?,
        bound_at_ms: r.get(7)?,
        last_trade_at_ms: r.get(8)?,
        unbound_at_ms: r.get(9)?,
    }))
}

/// Replaces the cached model list.
pub fn replace_models(conn: &Connection, models: &[TerminalModel]) -> Result<()> {
    conn.execute("DELETE FROM terminal_model", [])?;
    let now = now_ms();
    for m in models {
        conn.execute(
            "INSERT INTO terminal_model (model, name, serial_prefix, serial_length, has_bluetooth, fetched_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (model) DO UPDATE SET name = excluded.name,
                 serial_prefix = excluded.serial_prefix, serial_length = excluded.serial_length,
                 has_bluetooth = excluded.has_bluetooth, fetched_at = excluded.fetched_at",
            params![
                m.model,
                m.name,
                m.serial_prefix,
                m.serial_length,
                m.has_bluetooth,
                now
            ],
        )?;
    }
    Ok(())
}

/// The cached model list (empty before the first fetch).
pub fn models(conn: &Connection) -> Result<Vec<TerminalModel>> {
    let mut stmt = conn.prepare(
        "SELECT model, name, serial_prefix, serial_length, has_bluetooth
         FROM terminal_model ORDER BY model",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TerminalModel {
            model: r.get(0)?,
            name: r.get(1)?,
            serial_prefix: r.get(2)?,
            serial_length: r.get(3)?,
            has_bluetooth: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
