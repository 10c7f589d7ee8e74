//! The live stream for the app: `subscribe(listener)` keeps the platform's
//! event stream open (platform::sse: bounded frames, verified envelopes,
//! `Last-Event-ID` resume, full-jitter reconnects, the network hint) and
//! hands each verified event to one sink.
//!
//! The consumer is [`crate::alerts::pipeline::PipelineSink`]: each event
//! through the one event path (deduplicated, applied, alerts stored, the
//! Last-Event-ID persisted in the same transaction), then `on_event` for a
//! fresh event and `on_alert` for each alert not delivered yet, exactly once.

use std::sync::Arc;

use crate::MerchantCore;
use crate::error::{MerchantError, Result};
use crate::platform::sse::{self, LiveStream, StreamConfig, StreamState};
use crate::session::PushEvent;

/// Receives the live stream, implemented by the app. Calls come from a
/// core thread, one at a time.
#[uniffi::export(with_foreign)]
pub trait AlertListener: Send + Sync {
    /// A verified event, applied to what the phone keeps, in the order of
    /// its id.
    fn on_event(&self, event: PushEvent) -> Result<(), MerchantError>;
    /// An alert to tell the merchant, exactly once (across reconnects,
    /// restarts, and push and stream bringing the same event), in the
    /// order it was stored: a trade's updates in order.
    fn on_alert(&self, alert: crate::alerts::Alert) -> Result<(), MerchantError>;
    /// Where the stream is.
    fn on_status(&self, status: StreamStatus) -> Result<(), MerchantError>;
}

/// Where the live stream is, as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum StreamStatus {
    /// Opening the connection.
    Connecting,
    /// Connected: events arrive as they happen.
    Connected,
    /// The connection failed or ended (`error` says why); the next try is
    /// in `retry_in_ms`, sooner when the app calls `network_available`.
    Waiting {
        retry_in_ms: u64,
        error: MerchantError,
    },
    /// One message of the stream was dropped (forged, stale, replayed,
    /// malformed); nothing was applied or told, and the stream goes on.
    Rejected { error: MerchantError },
    /// The stream ended: cancelled (`None`), or the session is over or the
    /// config is wrong (the error).
    Stopped { error: Option<MerchantError> },
}

impl From<StreamState> for StreamStatus {
    fn from(s: StreamState) -> Self {
        match s {
            StreamState::Connecting => StreamStatus::Connecting,
            StreamState::Connected => StreamStatus::Connected,
            StreamState::Waiting { retry_in, error } => StreamStatus::Waiting {
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                error: error.into(),
            },
            StreamState::Rejected { error } => StreamStatus::Rejected {
                error: error.into(),
            },
            StreamState::Stopped { error } => StreamStatus::Stopped {
                error: error.map(Into::into),
            },
        }
    }
}

/// A running subscription. `cancel()` or dropping the handle ends it; the
/// listener's `on_status(Stopped)` follows.
#[derive(Debug, uniffi::Object)]
pub struct StreamHandle {
    live: LiveStream,
}

#[uniffi::export]
impl StreamHandle {
    /// Ends the subscription. Calling it again, or after it ended, does
    /// nothing. A delivery under way completes; none starts after.
    pub fn cancel(&self) {
        self.live.cancel();
    }

    /// The shell saw the network come back: a wait before reconnecting ends
    /// now.
    pub fn network_available(&self) {
        self.live.network_available();
    }

    /// Whether the subscription has ended (cancelled, or stopped by an error).
    pub fn is_stopped(&self) -> bool {
        self.live.is_stopped()
    }
}

impl StreamHandle {
    /// Waits until the subscription has ended and its listener was told.
    pub async fn wait(&self) {
        self.live.wait().await;
    }
}

#[uniffi::export]
impl MerchantCore {
    /// Keeps the platform's live event stream open while the handle lives:
    /// each verified event is applied to what the phone keeps and handed to
    /// `listener.on_event` in order, once; each alert it causes (and any
    /// alert stored but not delivered before) goes to `listener.on_alert`
    /// exactly once, in order; the stream's
    /// state goes to `listener.on_status`. Reconnects after a drop with
    /// `Last-Event-ID` and full-jitter backoff (1 s base, 60 s cap); call
    /// `network_available` on the handle when the network comes back.
    /// `cancel()` or dropping the handle ends it.
    pub fn subscribe(
        self: Arc<Self>,
        listener: Arc<dyn AlertListener>,
    ) -> Result<Arc<StreamHandle>, MerchantError> {
        Ok(self.subscribe_with(listener, StreamConfig::default())?)
    }
}

impl MerchantCore {
    /// [`MerchantCore::subscribe`] with another stream config (tests,
    /// benches: a shorter keepalive, another backoff, a seeded jitter).
    pub fn subscribe_with(
        self: &Arc<Self>,
        listener: Arc<dyn AlertListener>,
        config: StreamConfig,
    ) -> Result<Arc<StreamHandle>> {
        let runtime = self.runtime_handle()?;
        let sink = Arc::new(crate::alerts::pipeline::PipelineSink::new(
            self,
            listener.clone(),
        ));
        let told = listener.clone();
        let on_state: sse::StateListener = Arc::new(move |state: StreamState| {
            if let Err(e) = listener.on_status(state.into()) {
                tracing::debug!(code = e.code(), "alert listener refused a status");
            }
        });
        let live = sse::spawn(&runtime, self.session_state(), sink, config, on_state);
        runtime.spawn(tell_findings(Arc::downgrade(self), told, live.ended()));
        Ok(Arc::new(StreamHandle { live }))
    }
}

/// The subscription's companion: a finding recorded outside any event (a
/// bind refused, a reconciliation, a sync's detectors) is told as a
/// protection alert at once, whether or not the stream is connected; the
/// events' own findings are told by the event path. Ends with the
/// subscription.
async fn tell_findings(
    core: std::sync::Weak<MerchantCore>,
    listener: Arc<dyn AlertListener>,
    ended: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(ended);
    loop {
        let recorded = crate::findings::recorded();
        tokio::pin!(recorded);
        recorded.as_mut().enable();
        tokio::select! {
            biased;
            _ = &mut ended => return,
            _ = &mut recorded => {}
        }
        let Some(state) = core.upgrade().map(|c| c.session_state()) else {
            return;
        };
        let told = match state.merchant_store().await {
            Ok(store) => crate::alerts::pipeline::tell(&store, &*listener),
            Err(e) => Err(e),
        };
        if let Err(e) = told {
            tracing::debug!(code = %e.code, "findings not told yet");
        }
    }
}
