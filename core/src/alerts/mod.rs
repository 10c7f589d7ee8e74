//! alerts: every verified event turned into what the merchant is told, with
//! voice, rules and the merchant-protection alerts.
//!
//! - [`voice`]: the broadcast text ("微信收款八百五十元") and the clip
//!   sequence that speaks it offline from a fixed clip set.
//! - [`detect`]: the merchant-protection detectors run on every applied trade.
//! - [`pipeline`]: the one path of every event (push or stream): dedupe,
//!   apply through its capability, derive and store alerts, in one
//!   transaction; the live stream's consumer delivering each alert once.
//! - [`push`]: `handle_push`, offline, with persisted replay refusal.
//! - [`inbox`]: the alerts tables and the stored alerts; [`notify`]: the
//!   texts; [`rules`]: whether an alert speaks on this device.

//! - [`speaker`]: the speaker role (one phone of the merchant speaks).

pub mod detect;
pub mod inbox;
pub mod notify;
pub mod pipeline;
pub mod push;
pub mod rules;
pub mod speaker;
pub mod stream;
pub mod voice;

use crate::MerchantCore;
use crate::error::{Code, MerchantError};

pub use inbox::{Alert, AlertKind};
pub use push::Notification;
pub use rules::AlertSettings;
pub use voice::{VoiceBroadcast, VoiceClip, voice_broadcast, voice_clip_set};

/// Every code of the alerts capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    voice::CODES
        .iter()
        .chain(detect::CODES.iter())
        .chain(push::CODES.iter())
        .chain(rules::CODES.iter())
}

/// The most alerts one page lists.
const MAX_PAGE: u32 = 500;

#[uniffi::export]
impl MerchantCore {
    /// The alerts kept on the phone, newest first: `limit` of them (at most
    /// 500), older than alert `before_id` when given (the next page).
    /// Protection alerts name their finding (`findings`, `acknowledge_finding`);
    /// a finding recorded outside an event is listed here too.
    pub async fn alerts(
        &self,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<Alert>, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let store = state.merchant_store().await?;
            // Findings recorded outside events (a sync's detectors, a
            // reconciliation, a bind refused) are listed as alerts too.
            pipeline::tell_findings_in(&store)?;
            store
                .db()
                .read(|c| inbox::list(c, limit.min(MAX_PAGE), before_id))
        })
        .await
    }

    /// This device's alert rules (the defaults until set).
    pub async fn alert_settings(&self) -> Result<AlertSettings, MerchantError> {
        let state = self.session_state();
        self.run(async move { state.merchant_store().await?.db().read(rules::load) })
            .await
    }

    /// Sets this device's alert rules; every problem at once
    /// (`alert_rules.*` codes). The speaker role is not set here.
    pub async fn set_alert_settings(&self, settings: AlertSettings) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move {
            rules::check(&settings)?;
            state
                .merchant_store()
                .await?
                .db()
                .write(|tx| rules::save(tx, &settings, pipeline::now_ms()))
        })
        .await
    }
}
