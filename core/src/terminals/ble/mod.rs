//! terminals::ble

use crate::error::Code;

/// Every code this module declares, for the catalogue.
pub const CODES: &[Code] = &[];
