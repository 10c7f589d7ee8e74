//! The live event stream, `GET /v1/events` (Server-Sent Events).
//!
//! Each event is one frame, written in one piece:
//! `id: <event_id>\nevent: <type>\ndata: <signed push payload JSON>\n\n`,
//! the payload signed when the frame is written (so its timestamp is fresh
//! and its nonce new even when resent after a reconnect). The payload JSON is
//! one line (serde escapes every control character). `Last-Event-ID`
//! resumes after that id: every stored event after it is sent, in order,
//! then new ones as they come; a `: keepalive\n\n` comment goes out after
//! each `sse_keepalive` (15 s) without a frame. The store is the source of
//! truth and the bus only wakes the stream, so a resumed stream delivers
//! each event exactly once.
//!
//! Resume points: no `Last-Event-ID` (or `0`) starts at the oldest event the
//! platform still keeps (`SandboxConfig::event_retention`); an id from
//! before the kept events is 410 `events.resume_expired`, an id beyond the
//! latest event 409 `events.resume_ahead`, anything but 1–19 digits (or the
//! header twice) 400 `request.field_invalid`. A stream that falls so far
//! behind that the events it still owes are dropped meanwhile is closed; its
//! resume then answers 410.
//!
//! Injected disconnects: `POST /sandbox/events/disconnect` closes open
//! streams at once; `SandboxConfig::sse_drop_after` closes each stream after
//! N events; `POST /sandbox/events/raw` writes raw bytes into open streams.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use merchant_contract::codes;
use rusqlite::{OptionalExtension as _, params};
use tokio::sync::{Notify, broadcast::error::RecvError, mpsc};

use crate::clock::wall_unix;
use crate::error::ApiError;
use crate::guard::Auth;
use crate::state::{AppState, Bus, OpenStreamHandle};

/// Events read from the store per batch.
const BATCH: usize = 100;
/// The keepalive comment, a frame of its own.
pub const KEEPALIVE: &[u8] = b": keepalive\n\n";
/// The longest `Last-Event-ID` accepted: 19 digits (an id fits in i64).
const MAX_LAST_EVENT_ID_LEN: usize = 19;

/// Registers a merchant's open stream while it lives.
struct OpenStream {
    state: AppState,
    merchant_id: String,
    id: u64,
}

impl OpenStream {
    fn new(
        state: &AppState,
        merchant_id: &str,
        closed: Arc<AtomicBool>,
        wake: Arc<Notify>,
    ) -> (OpenStream, mpsc::UnboundedReceiver<(Bytes, bool)>) {
        let id = state.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        let (raw, raw_rx) = mpsc::unbounded_channel();
        state
            .streams()
            .entry(merchant_id.to_owned())
            .or_default()
            .push(OpenStreamHandle {
                id,
                closed,
                wake,
                raw,
            });
        (
            OpenStream {
                state: state.clone(),
                merchant_id: merchant_id.to_owned(),
                id,
            },
            raw_rx,
        )
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut streams = self.state.streams();
        if let Some(open) = streams.get_mut(&self.merchant_id) {
            open.retain(|s| s.id != self.id);
            if open.is_empty() {
                streams.remove(&self.merchant_id);
            }
        }
    }
}

fn bad_last_event_id() -> ApiError {
    ApiError::new(&codes::REQUEST_FIELD_INVALID)
        .field("Last-Event-ID", codes::REQUEST_FIELD_INVALID.code)
}

/// The `Last-Event-ID` header: `None` when absent, else 1–19 ASCII digits
/// (spaces around allowed), given once.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let mut values = headers.get_all("last-event-id").iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad_last_event_id());
    }
    let text = v.to_str().map_err(|_| bad_last_event_id())?.trim();
    if text.is_empty()
        || text.len() > MAX_LAST_EVENT_ID_LEN
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad_last_event_id());
    }
    let id: u64 = text.parse().map_err(|_| bad_last_event_id())?;
    if id > i64::MAX as u64 {
        return Err(bad_last_event_id());
    }
    Ok(Some(id))
}

/// The merchant's oldest kept and latest event ids (`None` when it has none).
fn bounds(state: &AppState, merchant_id: &str) -> Result<Option<(u64, u64)>, ApiError> {
    state.db(|c| {
        let row: Option<(Option<i64>, Option<i64>)> = c
            .query_row(
                "SELECT MIN(event_id), MAX(event_id) FROM events WHERE merchant_id = ?1",
                params![merchant_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(lo), Some(hi))) => Some((lo as u64, hi as u64)),
            _ => None,
        })
    })
}

/// Where a stream starts: the id after which it sends (see the module doc).
fn resume_after(last: Option<u64>, bounds: Option<(u64, u64)>) -> Result<u64, ApiError> {
    let (oldest, latest) = bounds.unwrap_or((1, 0));
    match last {
        None | Some(0) => Ok(oldest.saturating_sub(1)),
        Some(n) if n > latest => Err(ApiError::new(&codes::EVENTS_RESUME_AHEAD)),
        Some(n) if n < oldest.saturating_sub(1) => {
            Err(ApiError::new(&codes::EVENTS_RESUME_EXPIRED))
        }
        Some(n) => Ok(n),
    }
}

pub(crate) async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last = last_event_id(&headers)?;
    // Subscribe before the first read of the store: nothing falls between.
    let bus = state.inner.bus.subscribe();
    let after = resume_after(last, bounds(&state, &auth.merchant_id)?)?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(32);
    let closed = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    let (open, raw) = OpenStream::new(&state, &auth.merchant_id, closed.clone(), wake.clone());
    tokio::spawn(run(Stream {
        state,
        merchant_id: auth.merchant_id,
        last: after,
        tx,
        bus,
        raw,
        closed: closed.clone(),
        wake,
        _open: open,
    }));
    // A disconnect ends the body at once: frames still queued are dropped
    // (a resume sends them again).
    let frames = futures_util::stream::poll_fn(move |cx| {
        if closed.load(Ordering::SeqCst) {
            return Poll::Ready(None);
        }
        rx.poll_recv(cx).map(|f| f.map(Ok::<_, Infallible>))
    });
    let mut res = Body::from_stream(frames).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    Ok(res)
}

/// One event as its frame: `id`, `event`, `data` lines and a blank line.
pub fn frame(event_id: u64, event_type: &str, payload_json: &str) -> Bytes {
    let mut f = String::with_capacity(payload_json.len() + event_type.len() + 40);
    f.push_str("id: ");
    f.push_str(&event_id.to_string());
    f.push_str("\nevent: ");
    f.push_str(event_type);
    f.push_str("\ndata: ");
    f.push_str(payload_json);
    f.push_str("\n\n");
    Bytes::from(f)
}

fn fetch(
    state: &AppState,
    merchant_id: &str,
    after: u64,
) -> Result<Vec<(u64, String, String)>, ApiError> {
    state.db(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT event_id, event_type, body FROM events
             WHERE merchant_id = ?1 AND event_id > ?2 ORDER BY event_id LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![merchant_id, after as i64, BATCH as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })
}

/// An open stream's task state.
struct Stream {
    state: AppState,
    merchant_id: String,
    /// The last event id sent (or the resume point).
    last: u64,
    tx: mpsc::Sender<Bytes>,
    bus: tokio::sync::broadcast::Receiver<Bus>,
    raw: mpsc::UnboundedReceiver<(Bytes, bool)>,
    closed: Arc<AtomicBool>,
    wake: Arc<Notify>,
    _open: OpenStream,
}

impl Stream {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Queues one frame; `false` when the stream is over (closed by a
    /// control, or the client went away).
    async fn send(&mut self, bytes: Bytes) -> bool {
        if self.is_closed() {
            return false;
        }
        tokio::select! {
            sent = self.tx.send(bytes) => sent.is_ok() && !self.is_closed(),
            _ = self.wake.notified() => false,
        }
    }
}

async fn run(mut s: Stream) {
    let drop_after = s.state.config().sse_drop_after;
    let mut sent = 0u32;
    let mut keepalive = tokio::time::interval(s.state.config().sse_keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await;
    loop {
        let Ok(batch) = fetch(&s.state, &s.merchant_id, s.last) else {
            return;
        };
        // Ids are consecutive per merchant: a hole means the events this
        // stream still owed were dropped (retention). Close: the resume
        // answers 410 and the client resyncs.
        if batch.first().is_some_and(|(id, _, _)| *id != s.last + 1) {
            return;
        }
        let full = batch.len() == BATCH;
        if !batch.is_empty() {
            // The keepalive fills silences: a frame restarts its wait.
            keepalive.reset();
        }
        for (id, event_type, body) in batch {
            let Ok(payload) = s
                .state
                .signer()
                .sign_push(s.state.app_id(), wall_unix(), body)
            else {
                return;
            };
            if !s.send(frame(id, &event_type, &payload.to_json())).await {
                return;
            }
            s.last = id;
            sent += 1;
            if drop_after.is_some_and(|n| sent >= n) {
                return;
            }
        }
        if full {
            continue;
        }
        loop {
            if s.is_closed() {
                return;
            }
            tokio::select! {
                msg = s.bus.recv() => match msg {
                    Ok(Bus::Event(m)) if m == s.merchant_id => break,
                    Ok(_) => {}
                    // Missed wake-ups: the store has everything, read it.
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
                raw = s.raw.recv() => match raw {
                    Some((bytes, close)) => {
                        if !s.send(bytes).await || close {
                            return;
                        }
                    }
                    None => return,
                },
                _ = keepalive.tick() => {
                    if !s.send(Bytes::from_static(KEEPALIVE)).await {
                        return;
                    }
                }
                _ = s.wake.notified() => return,
                _ = s.tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("last-event-id", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn last_event_id_is_digits_given_once() {
        assert_eq!(last_event_id(&headers(&[])).unwrap(), None);
        assert_eq!(last_event_id(&headers(&["42"])).unwrap(), Some(42));
        assert_eq!(last_event_id(&headers(&[" 7 "])).unwrap(), Some(7));
        assert_eq!(last_event_id(&headers(&["0"])).unwrap(), Some(0));
        for bad in [
            "",
            "abc",
            "-1",
            "+5",
            "1.5",
            "0x10",
            "99999999999999999999",
            "9223372036854775808",
        ] {
            let e = last_event_id(&headers(&[bad])).unwrap_err();
            assert_eq!(e.code, codes::REQUEST_FIELD_INVALID, "{bad:?}");
            assert_eq!(e.fields[0].field, "Last-Event-ID");
        }
        let e = last_event_id(&headers(&["1", "2"])).unwrap_err();
        assert_eq!(e.code, codes::REQUEST_FIELD_INVALID);
    }

    #[test]
    fn resume_points_inside_and_outside_the_kept_events() {
        // Events 11..=20 kept.
        let b = Some((11, 20));
        assert_eq!(resume_after(None, b).unwrap(), 10);
        assert_eq!(resume_after(Some(0), b).unwrap(), 10);
        assert_eq!(resume_after(Some(10), b).unwrap(), 10);
        assert_eq!(resume_after(Some(15), b).unwrap(), 15);
        assert_eq!(resume_after(Some(20), b).unwrap(), 20);
        assert_eq!(
            resume_after(Some(9), b).unwrap_err().code,
            codes::EVENTS_RESUME_EXPIRED
        );
        assert_eq!(
            resume_after(Some(21), b).unwrap_err().code,
            codes::EVENTS_RESUME_AHEAD
        );
        // No events yet.
        assert_eq!(resume_after(None, None).unwrap(), 0);
        assert_eq!(resume_after(Some(0), None).unwrap(), 0);
        assert_eq!(
            resume_after(Some(1), None).unwrap_err().code,
            codes::EVENTS_RESUME_AHEAD
        );
    }

    #[test]
    fn a_frame_is_three_lines_and_a_blank_one() {
        assert_eq!(
            &frame(42, "trade.created", "{\"a\":1}")[..],
            b"id: 42\nevent: trade.created\ndata: {\"a\":1}\n\n"
        );
    }
}
