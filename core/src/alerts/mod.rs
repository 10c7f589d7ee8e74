//! alerts: every verified event turned into what the merchant is told, with
//! voice, rules and the merchant-protection alerts.
//!
//! - [`voice`]: the broadcast text ("微信收款八百五十元") and the clip
//!   sequence that speaks it offline from a fixed clip set.
//! - [`detect`]: the merchant-protection detectors run on every applied trade.

pub mod detect;
pub mod speaker;
pub mod stream;
pub mod voice;

use crate::error::Code;

pub use voice::{VoiceBroadcast, VoiceClip, voice_broadcast, voice_clip_set};

/// Every code of the alerts capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    voice::CODES.iter().chain(detect::CODES)
}
