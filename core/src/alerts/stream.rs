//! The live stream for the app: `subscribe(listener)` keeps the platform's
//! event stream open (platform::sse: bounded frames, verified envelopes,
//! `Last-Event-ID` resume, full-jitter reconnects, the network hint) and
//! hands each verified event to one sink.
//!
//! The seam: [`ProvisionalSink`] is that sink for now. It applies each
//! event through `MerchantCore::apply_event` (the one event path) and then
//! tells the listener; it keeps the last event id in memory only (no store
//! table holds it yet), so a new subscription starts from the merchant's
//! first event again and relies on the forward-only apply. The event
//! pipeline (dedupe, alerts, the id persisted in the same transaction as
//! the event's effect) replaces it by implementing
//! [`crate::platform::sse::EventSink`] and passing it where
//! [`MerchantCore::subscribe_with`] builds the provisional one.

use std::sync::{Arc, Mutex, Weak};

use crate::MerchantCore;
use crate::error::{Error, ErrorKind, MerchantError, RUNTIME, Result};
use crate::platform::VerifiedPush;
use crate::platform::sse::{self, EventSink, LiveStream, StreamConfig, StreamState};
use crate::session::PushEvent;

/// Receives the live stream, implemented by the app. Calls come from a
/// core thread, one at a time.
#[uniffi::export(with_foreign)]
pub trait AlertListener: Send + Sync {
    /// A verified event, applied to what the phone keeps, in the order of
    /// its id.
    fn on_event(&self, event: PushEvent) -> Result<(), MerchantError>;
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

/// The internal error of a public one, kind and code kept (for the stream's
/// decision to go on or stop).
fn internal(e: &MerchantError) -> Error {
    let kind = match e {
        MerchantError::Input { .. } => ErrorKind::Input,
        MerchantError::Network { .. } => ErrorKind::Network,
        MerchantError::Platform { .. } => ErrorKind::Platform,
        MerchantError::Auth { .. } => ErrorKind::Auth,
        MerchantError::Conflict { .. } => ErrorKind::Conflict,
        MerchantError::NotFound { .. } => ErrorKind::NotFound,
        MerchantError::Integrity { .. } => ErrorKind::Integrity,
        MerchantError::Storage { .. } => ErrorKind::Storage,
        MerchantError::Bluetooth { .. } => ErrorKind::Bluetooth,
        MerchantError::Internal { .. } => ErrorKind::Internal,
    };
    Error::platform(kind, e.code().to_owned(), None, 0)
}

/// The provisional consumer of the stream (see the module doc): apply
/// through the one event path, then tell the listener; the last id in
/// memory.
pub struct ProvisionalSink {
    core: Weak<MerchantCore>,
    listener: Arc<dyn AlertListener>,
    last: Mutex<Option<u64>>,
}

impl ProvisionalSink {
    pub fn new(core: &Arc<MerchantCore>, listener: Arc<dyn AlertListener>) -> Self {
        ProvisionalSink {
            core: Arc::downgrade(core),
            listener,
            last: Mutex::new(None),
        }
    }

    fn commit(&self, id: u64) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }
}

impl EventSink for ProvisionalSink {
    async fn last_event_id(&self) -> Result<Option<u64>> {
        Ok(*self.last.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn deliver(&self, event: VerifiedPush) -> Result<()> {
        let event = PushEvent::from(event);
        let id = event.event_id;
        let core = self
            .core
            .upgrade()
            .ok_or_else(|| Error::new(&RUNTIME).detail("the core was dropped"))?;
        match core.apply_event(event.clone()).await {
            Ok(()) => {}
            Err(e) => {
                let e = internal(&e);
                // The session or the store failing: not applied, not
                // committed; the stream comes again (or ends, for Auth).
                if matches!(
                    e.kind,
                    ErrorKind::Auth | ErrorKind::Storage | ErrorKind::Internal | ErrorKind::Network
                ) {
                    return Err(e);
                }
                // The event's content is refused by its capability: it
                // never will be applied, so it is passed over.
                tracing::warn!(code = %e.code, event_id = id, "live event not applied; passed over");
                self.commit(id);
                return Ok(());
            }
        }
        if let Err(e) = self.listener.on_event(event) {
            tracing::debug!(code = e.code(), "alert listener refused an event");
        }
        self.commit(id);
        Ok(())
    }
}

#[uniffi::export]
impl MerchantCore {
    /// Keeps the platform's live event stream open while the handle lives:
    /// each verified event is applied to what the phone keeps and handed to
    /// `listener.on_event`, in order, once per subscription; the stream's
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
        let sink = Arc::new(ProvisionalSink::new(self, listener.clone()));
        let on_state: sse::StateListener = Arc::new(move |state: StreamState| {
            if let Err(e) = listener.on_status(state.into()) {
                tracing::debug!(code = e.code(), "alert listener refused a status");
            }
        });
        let live = sse::spawn(&runtime, self.session_state(), sink, config, on_state);
        Ok(Arc::new(StreamHandle { live }))
    }
}
