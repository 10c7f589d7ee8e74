//! The one function that applies a terminal event to the list kept on the
//! phone. Both the answers of the merchant's own calls and the platform's
//! events (push now; the live stream of the Alerts capability later) come
//! through here, so the list cannot depend on which path told it.

use merchant_contract::domain;
use merchant_contract::wire::event_types;
use rusqlite::Connection;

use super::{api, store};
use crate::error::Result;
use crate::findings::{self, FindingSeverity, NewFinding};

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The list changed (or was already so).
    Updated,
    /// A terminal of the merchant's was moved to another merchant: kept in
    /// the list as `unbound` and recorded as a protection finding (its id).
    TakenAway { finding_id: i64 },
    /// Not a terminal event.
    NotMine,
}

/// The terminal event types this capability owns.
pub fn owns(event_type: &str) -> bool {
    event_type.starts_with("terminal.")
}

/// Applies one terminal event (`event_type`, its `data`) inside the
/// caller's transaction.
pub fn apply(conn: &Connection, event_type: &str, data: &serde_json::Value) -> Result<Applied> {
    match event_type {
        event_types::TERMINAL_BOUND
        | event_types::TERMINAL_UPDATED
        | event_types::TERMINAL_FROZEN
        | event_types::TERMINAL_UNFROZEN => {
            let wire: domain::Terminal = api::from_value(data)?;
            let t = api::terminal_from_wire(wire)?;
            store::upsert(conn, &t)?;
            Ok(Applied::Updated)
        }
        event_types::TERMINAL_UNBOUND => {
            let gone: domain::TerminalUnbound = api::from_value(data)?;
            let at = api::millis(&gone.unbound_at, "unbound_at")?;
            let was_ours = store::mark_unbound(conn, &gone.sn, at)?;
            if gone.reason == domain::UnbindReason::Transferred && was_ours {
                let finding_id = findings::record(conn, &taken_away(&gone.sn))?;
                return Ok(Applied::TakenAway { finding_id });
            }
            Ok(Applied::Updated)
        }
        _ => Ok(Applied::NotMine),
    }
}

/// A bind refused because the terminal is another merchant's.
pub fn owned_by_other(sn: &str) -> NewFinding<'_> {
    NewFinding {
        code: domain::TERMINAL_OWNED_BY_OTHER.code,
        reason: "bind_refused",
        subject: sn,
        severity: FindingSeverity::Critical,
        message_zh: format!(
            "终端 {sn} 已绑定在其他商户名下，绑定已被拒绝。请勿使用该终端收款，并拨打平台客服电话核实机主。"
        ),
        message_en: format!(
            "Terminal {sn} is bound to another merchant; binding it was refused. Do not take payments on it, and call the platform's support to verify its owner."
        ),
    }
}

/// A terminal of the merchant's moved to another merchant by the platform.
pub fn taken_away(sn: &str) -> NewFinding<'_> {
    NewFinding {
        code: domain::TERMINAL_OWNED_BY_OTHER.code,
        reason: "transferred_away",
        subject: sn,
        severity: FindingSeverity::Critical,
        message_zh: format!(
            "终端 {sn} 已被转到其他商户名下，此后的交易不会结算给您。如非您本人操作，请立即拨打平台客服电话核实机主。"
        ),
        message_en: format!(
            "Terminal {sn} was moved to another merchant: its trades no longer settle to you. If you did not ask for this, call the platform's support now to verify its owner."
        ),
    }
}

/// The advice shown with a refused bind.
pub fn owned_by_other_advice() -> String {
    match crate::error::current_language() {
        crate::Lang::Zh => {
            "该终端已绑定其他商户，不能绑定。请拨打平台客服电话核实机主，切勿用它收款。".to_owned()
        }
        crate::Lang::En => "The terminal is bound to another merchant and cannot be bound. Call the platform's support to verify its owner, and do not take payments on it.".to_owned(),
    }
}
