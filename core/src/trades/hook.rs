//! The seam through which the composition root (core.rs) sees every trade
//! record this capability applies, without trades knowing who looks: the
//! merchant-protection detectors of Alerts run here, inside the same write
//! transaction as the record (a refused page keeps none of their findings).
//!
//! - [`TradeHook`]: built once per transaction (a feed page, an event),
//!   before its first record, so what it needs (the merchant's profile, the
//!   terminal list) is read once per page, not once per record.
//! - [`RecordHook`]: called after each record with its outcome.
//! - [`paid_sales_near`]: the one query of the trade table the detectors
//!   need (a likely double charge), kept here with the table's owner.

use rusqlite::Connection;

use super::model::Trade;
use super::store::RecordOutcome;
use crate::error::Result;

/// Supplied by the composition root; runs inside the writer's transaction.
pub trait TradeHook: Send + Sync {
    /// Called once per transaction before its first record.
    fn begin(&self, conn: &Connection) -> Result<Box<dyn RecordHook>>;
}

/// Sees each applied record of one transaction, in order.
pub trait RecordHook {
    /// `trade` was just applied with `outcome` (already in the table).
    fn applied(&mut self, conn: &Connection, trade: &Trade, outcome: RecordOutcome) -> Result<()>;
}

/// Runs `f` with the per-record hook of `hook` (a no-op without one).
pub(crate) fn with_hook<T>(
    conn: &Connection,
    hook: Option<&dyn TradeHook>,
    f: impl FnOnce(&mut dyn FnMut(&Connection, &Trade, RecordOutcome) -> Result<()>) -> Result<T>,
) -> Result<T> {
    match hook {
        Some(h) => {
            let mut each = h.begin(conn)?;
            f(&mut |c, t, o| each.applied(c, t, o))
        }
        None => f(&mut |_, _, _| Ok(())),
    }
}

/// A paid sale found near another (see [`paid_sales_near`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearSale {
    pub trade_id: String,
    pub card_bin: Option<String>,
    pub card_last4: Option<String>,
    pub payer: Option<String>,
    pub created_at_ms: i64,
}

/// Who paid, as a double charge compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamePayer<'a> {
    /// The same card: BIN and last four.
    Card { bin: &'a str, last4: &'a str },
    /// The same scan-code payer token.
    Payer(&'a str),
}

/// The paid sales (`success` or `partially_refunded`) of the same payer on
/// `terminal_sn` of `amount_fen` created within `from_ms..=to_ms`, other
/// than `except`, at most `limit`, oldest first. A card is found through
/// the index `trade_card_last4`, a payer through `trade_payer` (the alerts
/// migration of store/schema.rs): a few rows whatever the terminal's pace.
pub fn paid_sales_near(
    conn: &Connection,
    who: SamePayer<'_>,
    terminal_sn: &str,
    amount_fen: i64,
    (from_ms, to_ms): (i64, i64),
    except: &str,
    limit: u32,
) -> Result<Vec<NearSale>> {
    // No ORDER BY/LIMIT in SQL: with them SQLite took ~20 times longer for
    // the same few rows (measured); the rows are sorted here instead.
    const PAID: &str = "AND terminal_sn = ?4 AND amount = ?5 AND kind = 'sale'
           AND status IN ('success', 'partially_refunded') AND trade_id != ?6";
    let (mut stmt, key, bin) = match who {
        SamePayer::Card { bin, last4 } => (
            conn.prepare_cached(&format!(
                "SELECT trade_id, card_bin, card_last4, payer, created_at
                 FROM trade INDEXED BY trade_card_last4
                 WHERE card_last4 = ?1 AND created_at BETWEEN ?2 AND ?3 AND card_bin = ?7 {PAID}"
            ))?,
            last4,
            Some(bin),
        ),
        SamePayer::Payer(p) => (
            conn.prepare_cached(&format!(
                "SELECT trade_id, card_bin, card_last4, payer, created_at
                 FROM trade INDEXED BY trade_payer
                 WHERE payer = ?1 AND created_at BETWEEN ?2 AND ?3 AND ?7 IS NULL {PAID}"
            ))?,
            p,
            None,
        ),
    };
    let rows = stmt.query_map(
        rusqlite::params![key, from_ms, to_ms, terminal_sn, amount_fen, except, bin],
        |r| {
            Ok(NearSale {
                trade_id: r.get(0)?,
                card_bin: r.get(1)?,
                card_last4: r.get(2)?,
                payer: r.get(3)?,
                created_at_ms: r.get(4)?,
            })
        },
    )?;
    let mut near = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    near.sort_by(|a, b| (a.created_at_ms, &a.trade_id).cmp(&(b.created_at_ms, &b.trade_id)));
    near.truncate(limit as usize);
    Ok(near)
}
