//! The live event stream, `GET /v1/events` (Server-Sent Events).
//!
//! Each event is `id: <event_id>`, `event: <type>`, `data: <signed push
//! payload JSON>`, signed when it is sent (so its timestamp is fresh and its
//! nonce new even when resent after a reconnect). `Last-Event-ID` resumes
//! after that id: every stored event after it is sent, in order, then new
//! ones as they come; a `: keepalive` comment goes out every
//! `sse_keepalive` (15 s). The store is the source of truth and the bus only
//! wakes the stream, so a resumed stream delivers each event exactly once.
//!
//! Injected disconnects: `POST /sandbox/events/disconnect` closes open
//! streams; `SandboxConfig::sse_drop_after` closes each stream after N events.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use merchant_contract::codes;
use rusqlite::params;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use crate::clock::wall_unix;
use crate::error::ApiError;
use crate::guard::Auth;
use crate::state::{AppState, Bus};

/// Events read from the store per batch.
const BATCH: usize = 100;

/// Counts a merchant's open streams while it lives.
struct OpenStream {
    state: AppState,
    merchant_id: String,
}

impl OpenStream {
    fn new(state: &AppState, merchant_id: &str) -> OpenStream {
        *state.streams().entry(merchant_id.to_owned()).or_insert(0) += 1;
        OpenStream {
            state: state.clone(),
            merchant_id: merchant_id.to_owned(),
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut streams = self.state.streams();
        if let Some(n) = streams.get_mut(&self.merchant_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.merchant_id);
            }
        }
    }
}

pub(crate) async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last = match headers.get("last-event-id") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::new(&codes::REQUEST_FIELD_INVALID)
                    .field("Last-Event-ID", codes::REQUEST_FIELD_INVALID.code)
            })?,
    };
    let (tx, mut rx) = mpsc::channel::<SseEvent>(32);
    // Subscribe before the first read of the store: nothing falls between.
    let bus = state.inner.bus.subscribe();
    let open = OpenStream::new(&state, &auth.merchant_id);
    tokio::spawn(run(state, auth.merchant_id, last, tx, bus, open));
    let events = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>))
    });
    Ok(Sse::new(events).into_response())
}

fn fetch(
    state: &AppState,
    merchant_id: &str,
    after: u64,
) -> Result<Vec<(u64, String, String)>, ApiError> {
    state.db(|c| {
        let mut stmt = c.prepare(
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

async fn run(
    state: AppState,
    merchant_id: String,
    mut last: u64,
    tx: mpsc::Sender<SseEvent>,
    mut bus: tokio::sync::broadcast::Receiver<Bus>,
    _open: OpenStream,
) {
    let drop_after = state.config().sse_drop_after;
    let mut sent = 0u32;
    let mut keepalive = tokio::time::interval(state.config().sse_keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await;
    loop {
        let Ok(batch) = fetch(&state, &merchant_id, last) else {
            return;
        };
        let full = batch.len() == BATCH;
        for (id, event_type, body) in batch {
            let Ok(payload) = state.signer().sign_push(state.app_id(), wall_unix(), body) else {
                return;
            };
            let event = SseEvent::default()
                .id(id.to_string())
                .event(event_type)
                .data(payload.to_json());
            if tx.send(event).await.is_err() {
                return;
            }
            last = id;
            sent += 1;
            if drop_after.is_some_and(|n| sent >= n) {
                return;
            }
        }
        if full {
            continue;
        }
        loop {
            tokio::select! {
                msg = bus.recv() => match msg {
                    Ok(Bus::Event(m)) if m == merchant_id => break,
                    Ok(Bus::Disconnect(None)) => return,
                    Ok(Bus::Disconnect(Some(m))) if m == merchant_id => return,
                    Ok(_) => {}
                    // Missed wake-ups: the store has everything, read it.
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
                _ = keepalive.tick() => {
                    if tx.send(SseEvent::default().comment(" keepalive")).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    }
}
