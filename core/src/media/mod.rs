//! media: images from outside (document photos, photos of a terminal's back
//! QR) under limits: sniff by bytes, refuse above the pixel budget before
//! decoding, decode with limits, orient, strip metadata, re-encode.

use crate::error::Code;

/// Every code this module declares, for the catalogue.
pub const CODES: &[Code] = &[];
