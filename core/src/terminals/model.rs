//! What the terminals capability shows the app.

pub use super::ble::{BleTerminalInfo, BleTerminalSeen};
pub use super::qr::TerminalQr;
pub use super::serial::TerminalModel;

/// Whether a terminal takes payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TerminalStatus {
    /// Takes payments.
    Active,
    /// Frozen by the platform (risk control): takes no payments until unfrozen.
    Frozen,
    /// No longer the merchant's: unbound by the merchant, or moved to
    /// another merchant by the platform. Kept in the list as history.
    Unbound,
}

impl TerminalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalStatus::Active => "active",
            TerminalStatus::Frozen => "frozen",
            TerminalStatus::Unbound => "unbound",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(TerminalStatus::Active),
            "frozen" => Some(TerminalStatus::Frozen),
            "unbound" => Some(TerminalStatus::Unbound),
            _ => None,
        }
    }
}

/// A terminal's place among the merchant's terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TerminalRole {
    /// 正机: the shop's main terminal.
    Main,
    /// 副机: an extra terminal under a main one (`main_sn`).
    Secondary,
}

impl TerminalRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalRole::Main => "main",
            TerminalRole::Secondary => "secondary",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "main" => Some(TerminalRole::Main),
            "secondary" => Some(TerminalRole::Secondary),
            _ => None,
        }
    }
}

/// One of the merchant's terminals, as last heard from the platform (the
/// list is kept on the phone and shown offline).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Terminal {
    /// The serial number (SN) printed on the back, such as `LKLA800123455`.
    pub sn: String,
    /// The merchant's name for it, such as "收银台1号".
    pub alias: Option<String>,
    /// The model code, such as `A8`.
    pub model: String,
    pub firmware: String,
    pub status: TerminalStatus,
    pub role: TerminalRole,
    /// A secondary's main terminal; `None` for a main.
    pub main_sn: Option<String>,
    /// When it was bound to the merchant (unix milliseconds).
    pub bound_at_ms: i64,
    /// When it last took a trade (unix milliseconds), if ever.
    pub last_trade_at_ms: Option<i64>,
    /// When it left the merchant (unix milliseconds), for an `Unbound` one.
    pub unbound_at_ms: Option<i64>,
}

/// How a bind ended when it succeeded. The refusals are errors with their
/// codes: `terminal.owned_by_other` (recorded as a protection finding too),
/// `terminal.not_found`, `merchant.not_active`, `terminal.qr_invalid`,
/// `terminal.sn_invalid`, and the local `qr.*` / `serial.*` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BindOutcome {
    /// Newly bound to the merchant.
    Bound,
    /// It was already the merchant's: nothing changed.
    AlreadyYours,
}

/// The answer to a successful bind.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BindResult {
    pub outcome: BindOutcome,
    pub terminal: Terminal,
}

/// What the merchant may change about a terminal (`update_terminal`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TerminalUpdate {
    /// The new alias; `None` clears it. At most 20 characters.
    pub alias: Option<String>,
    pub role: TerminalRole,
    /// For a secondary: its main terminal's serial.
    pub main_sn: Option<String>,
}
