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

/// The paid sales (`success` or `partially_refunded`) on `terminal_sn` of
/// `amount_fen` created within `from_ms..=to_ms`, other than `except`, at
/// most `limit`, oldest first. Served by the index `trade_terminal`
/// (terminal_sn, created_at, id): a range of a few minutes of one terminal.
pub fn paid_sales_near(
    conn: &Connection,
    terminal_sn: &str,
    amount_fen: i64,
    (from_ms, to_ms): (i64, i64),
    except: &str,
    limit: u32,
) -> Result<Vec<NearSale>> {
    let mut stmt = conn.prepare_cached(
        "SELECT trade_id, card_bin, card_last4, payer, created_at FROM trade
         WHERE terminal_sn = ?1 AND created_at BETWEEN ?2 AND ?3
           AND amount = ?4 AND kind = 'sale' AND status IN ('success', 'partially_refunded')
           AND trade_id != ?5
         ORDER BY created_at, id LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![terminal_sn, from_ms, to_ms, amount_fen, except, limit],
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
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
