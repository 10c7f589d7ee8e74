//! `handle_push`: what the shells' push receivers (Android's
//! FirebaseMessagingService, iOS's Notification Service Extension) hand to
//! the core. No network call: the payload is checked (size, signature,
//! the ±300 s window, the nonce in memory and in the store), parsed, and
//! taken through the one event path; the notification to show comes back,
//! or nothing for an event the phone already has.
//!
//! A refused payload stores nothing and says nothing.

use merchant_contract::envelope::{FRESHNESS_WINDOW_SECS, MAX_PUSH_LEN, SignedPush};
use merchant_contract::wire::event_types;

use crate::MerchantCore;
use crate::alerts::inbox::Alert;
use crate::alerts::pipeline::{PushNonce, Source};
use crate::error::{Error, MerchantError, Result};

crate::codes! {
    PUSH_TOO_LARGE = Input, "push.too_large", "推送消息过大（上限 64 KiB）", "The push payload is larger than 64 KiB";
    PUSH_NOT_TEXT = Input, "push.not_text", "推送消息不是 UTF-8 文本", "The push payload is not UTF-8 text";
    PUSH_OTHER_MERCHANT = Conflict, "push.other_merchant", "推送消息属于其他商户，未处理", "The push payload is another merchant's; it was not taken";
    PUSH_EVENT_UNKNOWN = Input, "push.event_unknown", "推送消息的事件类型未知", "The push payload's event type is not one the platform documents";
}

/// What the shell shows (and says) for a push.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Notification {
    /// The alert it is (listed by `alerts`).
    pub alert_id: i64,
    pub title: String,
    pub body: String,
    /// What to say; empty when the rules keep it silent.
    pub voice_text: String,
    /// The clips that say it offline; empty when silent.
    pub clips: Vec<String>,
    pub highlight: bool,
    pub protection: bool,
}

impl From<Alert> for Notification {
    fn from(a: Alert) -> Self {
        Notification {
            alert_id: a.id,
            title: a.title,
            body: a.body,
            voice_text: a.voice_text,
            clips: a.clips,
            highlight: a.highlight,
            protection: a.protection,
        }
    }
}

/// The checks before the signature: size and text.
fn text(payload: &[u8]) -> Result<&str> {
    if payload.len() > MAX_PUSH_LEN {
        return Err(Error::new(&PUSH_TOO_LARGE));
    }
    std::str::from_utf8(payload).map_err(|_| Error::new(&PUSH_NOT_TEXT))
}

/// [`MerchantCore::handle_push`] on the core's runtime.
async fn handle(
    state: &crate::session::SessionState,
    payload: Vec<u8>,
) -> Result<Option<Notification>> {
    let text = text(&payload)?;
    let verified = state.verify_push(text)?;
    // Verified, so it parses: its nonce is kept.
    let push = SignedPush::parse(text)
        .map_err(|e| Error::new(&crate::platform::PUSH_MALFORMED).detail(e.to_string()))?;
    if !event_types::ALL.contains(&verified.event.event_type.as_str()) {
        return Err(Error::new(&PUSH_EVENT_UNKNOWN));
    }
    let nonce = PushNonce {
        nonce: push.nonce_str,
        expires_at_ms: (verified.signed_at + FRESHNESS_WINDOW_SECS + 1).saturating_mul(1000),
    };
    let event = crate::session::PushEvent::from(verified);
    // A payload for a merchant who is not the one signed in on this phone
    // (an account switched since the token was registered) is not taken.
    if let Some(mid) = event.merchant_id.as_deref() {
        let store = state.merchant_store().await?;
        let theirs = crate::store::merchant_dir(std::path::Path::new(""), mid)
            .map_err(|_| Error::new(&PUSH_OTHER_MERCHANT))?;
        if !store.dir().ends_with(&theirs) {
            return Err(Error::new(&PUSH_OTHER_MERCHANT));
        }
    }
    let ingested = crate::core::ingest(state, &event, Source::Push, Some(nonce)).await?;
    // Marked delivered in the pipeline's transaction.
    Ok(ingested.alerts.into_iter().next().map(Notification::from))
}

#[uniffi::export]
impl MerchantCore {
    /// Handles a push payload (the bytes the OS handed the app) with no
    /// network call: verifies the platform's signature, the timestamp
    /// window (±300 s) and that the payload was never taken before (the
    /// nonces are kept in the store, across restarts), applies the event
    /// through the one event path and returns the notification to show for
    /// its first new alert, marked delivered; `None` when the event (or its
    /// trade's state) was already taken by push or stream, or tells nothing.
    ///
    /// Codes: `push.too_large`, `push.not_text`, `push.event_unknown`,
    /// `push.other_merchant`,
    /// `platform.push_malformed`, `platform.push_signature_invalid`,
    /// `platform.push_stale`, `platform.push_replayed`, and the owning
    /// capability's codes for an event it refuses. A refused payload stores
    /// nothing.
    pub async fn handle_push(
        &self,
        payload: Vec<u8>,
    ) -> Result<Option<Notification>, MerchantError> {
        let state = self.session_state();
        self.run(async move { handle(&state, payload).await }).await
    }
}
