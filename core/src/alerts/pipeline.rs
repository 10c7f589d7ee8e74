//! The one path of every verified event, push or stream.
//!
//! [`ingest_in`] runs inside ONE write transaction:
//!
//! 1. a push payload's nonce is kept until it leaves the freshness window
//!    (a replay after a restart is refused, `platform.push_replayed`), and
//!    the payload's first alert, the notification the OS shows, is marked
//!    delivered;
//! 2. a stream event moves the stored `Last-Event-ID`;
//! 3. an event id seen before (from either path) is a duplicate: nothing
//!    else happens;
//! 4. the capability that owns the event applies it (the `apply` closure
//!    of the composition root, core.rs: alerts never imports a capability);
//! 5. alerts are derived and stored: one per (trade, status) whatever the
//!    event id that brought it (push and stream, or the feed that applied it
//!    first), a status alert for terminal, onboarding and settlement events,
//!    and a protection alert for each finding recorded in this transaction
//!    (rows of `finding` above the highest id before).
//!
//! Delivery: [`PipelineSink`] is the live stream's consumer. After each
//! event it delivers every undelivered alert in id order to
//! `AlertListener::on_alert` and marks it delivered after the callback; the
//! same runs when a connection opens, so an alert stored while the app died
//! is delivered at the next subscribe.

use std::sync::{Arc, Weak};

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::MerchantCore;
use crate::alerts::inbox::{self, Alert};
use crate::alerts::notify::{self, TradeFact};
use crate::alerts::rules;
use crate::alerts::stream::AlertListener;
use crate::error::{Error, ErrorKind, RUNTIME, Result};
use crate::platform::VerifiedPush;
use crate::platform::sse::EventSink;
use crate::session::PushEvent;
use crate::store::MerchantStore;

/// Which path brought an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Push,
    Stream,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Push => "push",
            Source::Stream => "stream",
        }
    }
}

/// A push payload's nonce and when it may be forgotten (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNonce {
    pub nonce: String,
    pub expires_at_ms: i64,
}

/// What one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The event id was not seen before.
    pub fresh: bool,
    /// The alerts it stored, in delivery order.
    pub alerts: Vec<Alert>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether `event_id` was taken before.
pub fn is_seen(conn: &Connection, event_id: u64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM seen_event WHERE event_id = ?1",
            params![event_id as i64],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The live stream's stored Last-Event-ID.
pub fn last_event_id(conn: &Connection) -> Result<Option<u64>> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT last_event_id FROM alert_cursor WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(id.and_then(|i| u64::try_from(i).ok()))
}

fn advance_cursor(conn: &Connection, event_id: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO alert_cursor (id, last_event_id) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET last_event_id = max(last_event_id, excluded.last_event_id)",
        params![event_id as i64],
    )?;
    Ok(())
}

/// Keeps `n` (dropping expired nonces); a nonce kept already is a replay.
pub fn keep_nonce(conn: &Connection, n: &PushNonce, now_ms: i64) -> Result<()> {
    conn.execute(
        "DELETE FROM push_nonce WHERE expires_at < ?1",
        params![now_ms],
    )?;
    let added = conn.execute(
        "INSERT INTO push_nonce (nonce, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![n.nonce, n.expires_at_ms],
    )?;
    if added == 0 {
        return Err(Error::new(&crate::platform::PUSH_REPLAYED).detail("nonce kept in the store"));
    }
    Ok(())
}

fn mark_seen(conn: &Connection, event: &PushEvent, source: Source, now_ms: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO seen_event (event_id, event_type, source, seen_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            event.event_id as i64,
            event.event_type,
            source.as_str(),
            now_ms
        ],
    )?;
    Ok(())
}

/// Stores a protection alert for every finding not told yet (by this
/// event's transaction, or recorded outside any event: a bind refused, a
/// reconciliation, a sync's detectors), in finding order, and moves the
/// told mark with them; `event_id` 0 when no event brought them. A finding
/// the merchant acknowledged before it was told stays untold. Returns the
/// new alerts' ids.
pub fn tell_findings(conn: &Connection, event_id: u64, now_ms: i64) -> Result<Vec<i64>> {
    let told: i64 = conn
        .query_row(
            "SELECT last_finding_id FROM finding_told WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let mut stmt = conn.prepare_cached(
        "SELECT id, severity, message_zh, message_en, acknowledged_at IS NOT NULL
         FROM finding WHERE id > ?1 ORDER BY id",
    )?;
    let found = stmt
        .query_map(params![told], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)? == "critical",
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(last) = found.last().map(|f| f.0) else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for (id, critical, zh, en, acknowledged) in found {
        if acknowledged {
            continue;
        }
        let a = notify::protection_alert(id, critical, zh, en);
        if let Some(id) = inbox::insert(conn, event_id, &a, now_ms)? {
            ids.push(id);
        }
    }
    conn.execute(
        "INSERT INTO finding_told (id, last_finding_id) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET last_finding_id = max(last_finding_id, excluded.last_finding_id)",
        params![last],
    )?;
    Ok(ids)
}

/// Whether a finding waits to be told (a read: the writer is taken only
/// when there is something to write).
pub fn has_untold_findings(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM finding
                        WHERE id > COALESCE((SELECT last_finding_id FROM finding_told WHERE id = 1), 0))",
        [],
        |r| r.get(0),
    )?)
}

/// Tells the findings not told yet, in a write transaction of `store` when
/// there are any.
pub fn tell_findings_in(store: &MerchantStore) -> Result<()> {
    if store.db().read(has_untold_findings)? {
        store.db().write(|tx| tell_findings(tx, 0, now_ms()))?;
    }
    Ok(())
}

/// How long an event id is kept as seen. Longer than any way it can come
/// again: a push is refused once its timestamp leaves the freshness window
/// (minutes), and the platform's stream resumes only from recent events.
pub const SEEN_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// Forgets event ids seen before `now_ms - SEEN_KEPT_MS` (never the newest
/// one: the stream's cursor stays in `alert_cursor` anyway); the number
/// forgotten.
pub fn prune_seen(conn: &Connection, now_ms: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM seen_event WHERE seen_at < ?1
           AND event_id < (SELECT MAX(event_id) FROM seen_event)",
        params![now_ms.saturating_sub(SEEN_KEPT_MS)],
    )?)
}

/// The event through the one path, inside the caller's write transaction
/// (see the module docs). `apply` applies it through its capability and
/// returns the trade records it carried.
pub fn ingest_in(
    conn: &Connection,
    event: &PushEvent,
    data: &serde_json::Value,
    source: Source,
    nonce: Option<&PushNonce>,
    now_ms: i64,
    apply: impl FnOnce(&Connection) -> Result<Vec<TradeFact>>,
) -> Result<Ingested> {
    if let Some(n) = nonce {
        keep_nonce(conn, n, now_ms)?;
    }
    if source == Source::Stream {
        advance_cursor(conn, event.event_id)?;
    }
    if is_seen(conn, event.event_id)? {
        return Ok(Ingested {
            fresh: false,
            alerts: Vec::new(),
        });
    }
    mark_seen(conn, event, source, now_ms)?;
    let trades = apply(conn)?;
    let settings = rules::load(conn)?;
    let mut ids = Vec::new();
    for fact in &trades {
        if let Some(a) = notify::trade_alert(fact, &settings, now_ms)
            && let Some(id) = inbox::insert(conn, event.event_id, &a, now_ms)?
        {
            ids.push(id);
        }
    }
    if let Some(a) = notify::status_alert(&event.event_type, data)
        && let Some(id) = inbox::insert(conn, event.event_id, &a, now_ms)?
    {
        ids.push(id);
    }
    ids.extend(tell_findings(conn, event.event_id, now_ms)?);
    // A push payload's first alert is the notification `handle_push`
    // returns (the OS shows it): delivered in this transaction, so a live
    // listener flushing at the same moment never tells it too.
    if nonce.is_some()
        && let Some(first) = ids.first()
    {
        inbox::mark_delivered(conn, *first, now_ms)?;
    }
    Ok(Ingested {
        fresh: true,
        alerts: inbox::by_ids(conn, &ids)?,
    })
}

/// An event its capability refused (its content never will apply): it is
/// taken as seen (and the stream moves past it), nothing else.
pub fn pass_over(conn: &Connection, event: &PushEvent, source: Source, now_ms: i64) -> Result<()> {
    if source == Source::Stream {
        advance_cursor(conn, event.event_id)?;
    }
    if !is_seen(conn, event.event_id)? {
        mark_seen(conn, event, source, now_ms)?;
    }
    Ok(())
}

/// Whether an error leaves the event to come again (the store, the
/// session, the runtime, the network), rather than refusing its content.
pub fn comes_again(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::Auth | ErrorKind::Storage | ErrorKind::Internal | ErrorKind::Network
    )
}

/// Turns the findings not told yet into protection alerts, then delivers
/// every undelivered alert to `listener` ([`flush`]).
pub fn tell(store: &MerchantStore, listener: &dyn AlertListener) -> Result<usize> {
    // A finding recorded inside a transaction still open is not seen by
    // the read: wait it out on the writer first.
    store.db().write(|_| Ok(()))?;
    tell_findings_in(store)?;
    flush(store, listener)
}

/// Delivers every undelivered alert to `listener` in id order, each
/// marked delivered after its callback.
///
/// One flush runs at a time in the process (two subscriptions, or a
/// subscription and a reconnect, never tell the same alert twice). An
/// alert whose callback ran but whose mark was lost with the process (a
/// crash between the two) is told again at the next flush: the one window
/// where delivery is at least once.
pub fn flush(store: &MerchantStore, listener: &dyn AlertListener) -> Result<usize> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut told = 0;
    loop {
        let batch = store.db().read(|c| inbox::undelivered(c, 100))?;
        if batch.is_empty() {
            return Ok(told);
        }
        for alert in batch {
            let id = alert.id;
            if let Err(e) = listener.on_alert(alert) {
                tracing::debug!(code = e.code(), "alert listener refused an alert");
            }
            store
                .db()
                .write(|tx| inbox::mark_delivered(tx, id, now_ms()))?;
            told += 1;
        }
    }
}

/// The live stream's consumer: each event through the one path, then the
/// listener told of the event (`on_event`, fresh events only) and of every
/// undelivered alert (`on_alert`, exactly once).
pub struct PipelineSink {
    core: Weak<MerchantCore>,
    listener: Arc<dyn AlertListener>,
}

impl PipelineSink {
    pub fn new(core: &Arc<MerchantCore>, listener: Arc<dyn AlertListener>) -> Self {
        PipelineSink {
            core: Arc::downgrade(core),
            listener,
        }
    }

    fn core(&self) -> Result<Arc<MerchantCore>> {
        self.core
            .upgrade()
            .ok_or_else(|| Error::new(&RUNTIME).detail("the core was dropped"))
    }
}

impl EventSink for PipelineSink {
    async fn last_event_id(&self) -> Result<Option<u64>> {
        let core = self.core()?;
        let store = core.session_state().merchant_store().await?;
        let pruned = store.db().write(|tx| prune_seen(tx, now_ms()))?;
        if pruned > 0 {
            tracing::debug!(pruned, "old seen event ids forgotten");
        }
        tell(&store, &*self.listener)?;
        crate::core::on_stream_open(&core);
        store.db().read(last_event_id)
    }

    async fn deliver(&self, event: VerifiedPush) -> Result<()> {
        let event = PushEvent::from(event);
        let core = self.core()?;
        let store = core.session_state().merchant_store().await?;
        match crate::core::ingest(&core.session_state(), &event, Source::Stream, None).await {
            Ok(ingested) => {
                if ingested.fresh {
                    crate::core::after_live_event(&core, &event);
                    if let Err(e) = self.listener.on_event(event) {
                        tracing::debug!(code = e.code(), "alert listener refused an event");
                    }
                }
            }
            Err(e) if comes_again(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(code = %e.code, event_id = event.event_id, "live event not applied; passed over");
                store
                    .db()
                    .write(|tx| pass_over(tx, &event, Source::Stream, now_ms()))?;
            }
        }
        flush(&store, &*self.listener)?;
        Ok(())
    }

    async fn resume_refused(&self, error: &Error) -> Result<()> {
        let core = self.core()?;
        crate::core::catch_up_after_gap(&core).await?;
        let ahead = error.code == merchant_contract::codes::EVENTS_RESUME_AHEAD.code;
        let store = core.session_state().merchant_store().await?;
        store.db().write(|tx| forget_position(tx, ahead))
    }
}

/// The stream starts again from the platform's oldest kept event: the
/// stored position is dropped. `new_platform` (the platform does not know
/// the position: its event ids start again) forgets the seen event ids
/// too, or a new event reusing an old id would be taken for a duplicate;
/// trade alerts stay one per (trade, status) through their own key.
pub fn forget_position(conn: &Connection, new_platform: bool) -> Result<()> {
    conn.execute("DELETE FROM alert_cursor", [])?;
    if new_platform {
        conn.execute("DELETE FROM seen_event", [])?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
