//! The shared state every handler gets: configuration, the database, the
//! platform signer, the business clock, the seeded random source, and the
//! event bus behind `emit`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use merchant_contract::wire::Event;
use merchant_contract::{NonceCache, PlatformSigner};
use rand::SeedableRng as _;
use rand_chacha::ChaCha20Rng;
use rusqlite::{Connection, OptionalExtension as _, params};
use tokio::sync::broadcast;

use crate::clock::{Clock, wall_unix};
use crate::config::SandboxConfig;
use crate::error::ApiError;

/// What the event bus carries.
#[derive(Debug, Clone)]
pub(crate) enum Bus {
    /// A new event was stored for this merchant.
    Event(String),
}

/// One open event stream, as the sandbox-only controls reach it.
pub(crate) struct OpenStreamHandle {
    /// Tells this stream apart from the merchant's others.
    pub(crate) id: u64,
    /// Set to close the stream at once (frames not yet written are dropped).
    pub(crate) closed: Arc<std::sync::atomic::AtomicBool>,
    /// Wakes the stream's task to see `closed`.
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// Raw bytes to write (and whether to close after them).
    pub(crate) raw: tokio::sync::mpsc::UnboundedSender<(axum::body::Bytes, bool)>,
}

pub(crate) struct Inner {
    pub(crate) config: SandboxConfig,
    db: Mutex<Connection>,
    pub(crate) signer: PlatformSigner,
    pub(crate) clock: Clock,
    pub(crate) nonces: Mutex<NonceCache>,
    rng: Mutex<ChaCha20Rng>,
    pub(crate) bus: broadcast::Sender<Bus>,
    /// Open event streams per merchant.
    pub(crate) streams: Mutex<HashMap<String, Vec<OpenStreamHandle>>>,
    /// The next open stream's id.
    pub(crate) next_stream: std::sync::atomic::AtomicU64,
    pub(crate) tls_pin: Mutex<Option<String>>,
}

/// The state of one running sandbox; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppState {
    pub(crate) fn new(config: SandboxConfig, db: Connection, signer: PlatformSigner) -> AppState {
        let (bus, _) = broadcast::channel(1024);
        AppState {
            inner: Arc::new(Inner {
                clock: Clock::new(config.clock_start),
                nonces: Mutex::new(
                    NonceCache::new(config.nonce_capacity).per_owner(config.nonces_per_device),
                ),
                rng: Mutex::new(ChaCha20Rng::seed_from_u64(config.seed)),
                config,
                db: Mutex::new(db),
                signer,
                bus,
                streams: Mutex::new(HashMap::new()),
                next_stream: std::sync::atomic::AtomicU64::new(1),
                tls_pin: Mutex::new(None),
            }),
        }
    }

    /// The configuration the sandbox was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The seed everything simulated is drawn from.
    pub fn seed(&self) -> u64 {
        self.inner.config.seed
    }

    /// The appid of this platform.
    pub fn app_id(&self) -> &str {
        &self.inner.config.app_id
    }

    /// The platform's signer (responses and push payloads).
    pub fn signer(&self) -> &PlatformSigner {
        &self.inner.signer
    }

    /// The business clock ("now" for everything but the signing envelope).
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Business now, unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    /// Business now, RFC 3339 `+08:00`.
    pub fn now_rfc3339(&self) -> String {
        self.inner.clock.now_rfc3339()
    }

    /// Runs `f` with the database (one connection behind a mutex; keep `f`
    /// short and never call `db`, `emit` or `send_sms` from inside it: use
    /// [`emit_with`](Self::emit_with) / [`send_sms_with`](Self::send_sms_with)
    /// with the connection you were given).
    pub fn db<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut conn = lock(&self.inner.db);
        f(&mut conn)
    }

    /// Runs `f` with the seeded random source. The order of draws decides
    /// the values, so the same seed and the same sequence of requests give
    /// the same data.
    pub fn rng<T>(&self, f: impl FnOnce(&mut ChaCha20Rng) -> T) -> T {
        let mut rng = lock(&self.inner.rng);
        f(&mut rng)
    }

    /// Emits an event to the merchant's live stream (SSE) and push outbox:
    /// stores it with the next event id of that merchant, signs a push
    /// payload for each of the merchant's push tokens into the outbox, and
    /// wakes the merchant's streams. `data` is the event's record.
    pub fn emit(
        &self,
        merchant_id: &str,
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<u64, ApiError> {
        self.db(|conn| {
            let tx = conn.transaction()?;
            let id = self.emit_with(&tx, merchant_id, event_type, data)?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// [`emit`](Self::emit) inside a connection or transaction you hold
    /// (from [`db`](Self::db)); the streams read the event once your
    /// transaction commits and the lock is released.
    pub fn emit_with(
        &self,
        conn: &Connection,
        merchant_id: &str,
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<u64, ApiError> {
        // Types go into the stream's `event:` line: dotted lowercase only.
        if event_type.is_empty()
            || !event_type
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
        {
            return Err(ApiError::internal(format!(
                "event type {event_type:?} is not dotted lowercase"
            )));
        }
        let last: i64 = conn.query_row(
            "SELECT COALESCE(MAX(event_id), 0) FROM events WHERE merchant_id = ?1",
            params![merchant_id],
            |r| r.get(0),
        )?;
        let event_id = last + 1;
        let now = self.now_unix();
        let event = Event {
            event_id: event_id as u64,
            event_type: event_type.to_owned(),
            merchant_id: merchant_id.to_owned(),
            occurred_at: crate::clock::rfc3339(now),
            data,
        };
        let body = serde_json::to_string(&event)
            .map_err(|e| ApiError::internal(format!("event json: {e}")))?;
        conn.execute(
            "INSERT INTO events (merchant_id, event_id, event_type, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![merchant_id, event_id, event_type, body, now],
        )?;
        // Only the latest `event_retention` events stay resumable.
        let retention = self.inner.config.event_retention.max(1) as i64;
        if event_id > retention {
            conn.execute(
                "DELETE FROM events WHERE merchant_id = ?1 AND event_id <= ?2",
                params![merchant_id, event_id - retention],
            )?;
        }
        let mut stmt = conn.prepare(
            "SELECT provider, token_id, token FROM push_tokens WHERE merchant_id = ?1 ORDER BY registered_at, token_id",
        )?;
        let tokens = stmt
            .query_map(params![merchant_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (provider, token_id, token) in tokens {
            let payload = self
                .inner
                .signer
                .sign_push(self.app_id(), wall_unix(), body.clone())?;
            conn.execute(
                "INSERT INTO outbox (merchant_id, provider, token_id, token, event_id, event_type, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![merchant_id, provider, token_id, token, event_id, event_type, payload.to_json(), now],
            )?;
        }
        // No receivers is fine: nobody is listening.
        let _ = self.inner.bus.send(Bus::Event(merchant_id.to_owned()));
        Ok(event_id as u64)
    }

    /// Records an SMS the platform sends (readable at `GET /sandbox/sms`):
    /// `purpose` is `sign_in` or `activation`; `code` expires after `ttl_secs`.
    pub fn send_sms(
        &self,
        phone: &str,
        purpose: &str,
        code: &str,
        text: &str,
        ttl_secs: i64,
    ) -> Result<(), ApiError> {
        self.db(|conn| self.send_sms_with(conn, phone, purpose, code, text, ttl_secs))
    }

    /// [`send_sms`](Self::send_sms) with a connection you hold.
    pub fn send_sms_with(
        &self,
        conn: &Connection,
        phone: &str,
        purpose: &str,
        code: &str,
        text: &str,
        ttl_secs: i64,
    ) -> Result<(), ApiError> {
        let now = self.now_unix();
        conn.execute(
            "INSERT INTO sms (phone, purpose, code, text, sent_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![phone, purpose, code, text, now, now.saturating_add(ttl_secs)],
        )?;
        Ok(())
    }

    /// The merchant's phone, for the domain (activation SMS).
    pub fn merchant_phone(&self, conn: &Connection, merchant_id: &str) -> Result<String, ApiError> {
        conn.query_row(
            "SELECT phone FROM merchants WHERE merchant_id = ?1",
            params![merchant_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(ApiError::not_found)
    }

    /// Sets a merchant's status (`new`, `active`), for the domain.
    pub fn set_merchant_status(
        &self,
        conn: &Connection,
        merchant_id: &str,
        status: &str,
    ) -> Result<(), ApiError> {
        let n = conn.execute(
            "UPDATE merchants SET status = ?2 WHERE merchant_id = ?1",
            params![merchant_id, status],
        )?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        Ok(())
    }

    /// Whether a merchant exists (for the sandbox-only controls, which name
    /// merchants by id).
    pub fn merchant_exists(&self, conn: &Connection, merchant_id: &str) -> Result<bool, ApiError> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM merchants WHERE merchant_id = ?1",
                params![merchant_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records the TLS pin once the certificate exists.
    pub(crate) fn set_tls_pin(&self, pin: Option<String>) {
        *lock(&self.inner.tls_pin) = pin;
    }

    pub(crate) fn tls_pin(&self) -> Option<String> {
        lock(&self.inner.tls_pin).clone()
    }

    pub(crate) fn nonces(&self) -> MutexGuard<'_, NonceCache> {
        lock(&self.inner.nonces)
    }

    /// Live nonces the platform holds (replay protection), every device's.
    pub fn nonces_held(&self) -> usize {
        self.nonces().len()
    }

    pub(crate) fn streams(&self) -> MutexGuard<'_, HashMap<String, Vec<OpenStreamHandle>>> {
        lock(&self.inner.streams)
    }

    /// Closes the open event streams of `merchant_id` (every merchant's when
    /// `None`) at once; answers how many were open.
    pub fn disconnect_streams(&self, merchant_id: Option<&str>) -> u64 {
        let streams = self.streams();
        let mut n = 0;
        for (m, open) in streams.iter() {
            if merchant_id.is_some_and(|want| want != m) {
                continue;
            }
            for s in open {
                s.closed.store(true, std::sync::atomic::Ordering::SeqCst);
                s.wake.notify_one();
                n += 1;
            }
        }
        n
    }

    /// Hands `bytes` to every open event stream of `merchant_id`, to be
    /// written as they are (then the stream ends when `close`); answers how
    /// many streams took them.
    pub fn write_raw_frame(&self, merchant_id: &str, bytes: axum::body::Bytes, close: bool) -> u64 {
        let streams = self.streams();
        let mut n = 0;
        for s in streams.get(merchant_id).into_iter().flatten() {
            if s.raw.send((bytes.clone(), close)).is_ok() {
                n += 1;
            }
        }
        n
    }
}
