//! terminals: bind a terminal by its back QR (text or photo), by its typed
//! serial or over Bluetooth LE; the merchant's terminal list with main and
//! secondary terminals and aliases.

pub mod ble;
pub mod photo;
pub mod qr;
pub mod serial;

use crate::error::Code;

/// Every code of the terminals capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    qr::CODES
        .iter()
        .chain(photo::CODES)
        .chain(serial::CODES)
        .chain(ble::CODES)
}
