//! The one function that applies a trade event to the trades kept on the
//! phone: `trade.created` and `trade.updated` (the record), `trade.refunded`
//! (the sale and the refund's own record), `trade.voided` (the sale and the
//! void's record). Push payloads and the live stream (Alerts) come through
//! `MerchantCore::apply_event` to here.
//!
//! An event is applied as a page of its own records: checked the same way
//! ([`feed::records`]), written through the same forward-only
//! [`store::upsert`], but without moving the feed's cursor. The feed
//! delivers the same changes later, and the forward rule makes that a no-op
//! (and an event older than what the feed already gave changes nothing).

use merchant_contract::domain;
use merchant_contract::wire::event_types;
use rusqlite::Connection;

use super::feed;
use super::model::Trade;
use super::store::{self, RecordOutcome};
use crate::error::Result;

/// Whether `event_type` is a trade event this capability applies.
pub fn owns(event_type: &str) -> bool {
    matches!(
        event_type,
        event_types::TRADE_CREATED
            | event_types::TRADE_UPDATED
            | event_types::TRADE_REFUNDED
            | event_types::TRADE_VOIDED
    )
}

/// The checked records an event carries, in the order they are applied
/// (the sale first); `None` for a type this capability does not own.
pub fn records(event_type: &str, data: &serde_json::Value) -> Result<Option<Vec<Trade>>> {
    let wire = match event_type {
        event_types::TRADE_CREATED | event_types::TRADE_UPDATED => {
            vec![feed::from_value::<domain::Trade>(data)?]
        }
        event_types::TRADE_REFUNDED => {
            let r: domain::TradeRefunded = feed::from_value(data)?;
            vec![r.trade, r.record]
        }
        event_types::TRADE_VOIDED => {
            let v: domain::TradeVoided = feed::from_value(data)?;
            vec![v.trade, v.void]
        }
        _ => return Ok(None),
    };
    feed::records(wire).map(Some)
}

/// Applies one trade event inside the caller's transaction: the outcome of
/// each of its records (empty for a type this capability does not own).
/// A malformed or hostile event is refused whole with the feed's codes.
pub fn apply(
    conn: &Connection,
    event_type: &str,
    data: &serde_json::Value,
) -> Result<Vec<RecordOutcome>> {
    apply_with(conn, event_type, data, |_, _, _| Ok(()))
}

/// [`apply`] calling `hook` after each record, in the same transaction.
pub fn apply_with(
    conn: &Connection,
    event_type: &str,
    data: &serde_json::Value,
    hook: impl FnMut(&Connection, &Trade, RecordOutcome) -> Result<()>,
) -> Result<Vec<RecordOutcome>> {
    match records(event_type, data)? {
        Some(records) => store::apply_records(conn, &records, hook),
        None => Ok(Vec::new()),
    }
}
