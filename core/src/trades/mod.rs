//! trades: the merchant's trades kept on the phone from the platform's
//! change feed; history pages and summaries offline at a million rows;
//! settlement reconciliation against the statement file; exports; voids and
//! refunds.
//!
//! - [`api`]: the platform calls and the wire-to-app mapping.
//! - [`model`]: the records the app sees.
//! - [`store`]: the tables (one migration) and the row reader.

pub mod api;
pub mod model;
pub mod store;

use crate::error::Code;

pub use model::{Trade, TradeKind, TradeStatus};

/// Every code of the trades capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    std::iter::empty()
}
