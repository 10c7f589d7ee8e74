//! The sandbox's own SQLite: the infrastructure's tables, then the domain's
//! (`domain::migrate`), then the seeded merchants. Built fresh at every start.

use rand::Rng as _;
use rusqlite::{Connection, params};

use crate::error::ApiError;
use crate::state::AppState;

const INFRASTRUCTURE: &str = r#"
CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY,
    phone       TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL DEFAULT 'new',
    seeded      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
-- Public keys of devices that proved possession (serial_no = fingerprint).
CREATE TABLE device_keys (
    serial_no  TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    first_seen INTEGER NOT NULL
);
-- Devices registered by a merchant.
CREATE TABLE devices (
    device_id     TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants(merchant_id),
    serial_no     TEXT NOT NULL REFERENCES device_keys(serial_no),
    name          TEXT NOT NULL,
    os            TEXT NOT NULL,
    model         TEXT NOT NULL,
    app_version   TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    UNIQUE (merchant_id, serial_no)
);
CREATE TABLE sessions (
    session_id  TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(merchant_id),
    serial_no   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
-- Tokens are kept as SHA-256 hex, never in clear.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    expires_at INTEGER NOT NULL,
    replaced   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_session ON tokens (session_id);
CREATE TABLE sms (
    sms_id     INTEGER PRIMARY KEY,
    phone      TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    code       TEXT NOT NULL,
    text       TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    consumed   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sms_phone ON sms (phone, purpose, sms_id);
-- token_id names the registration; it stays across rotations (the token
-- value changes). A token value is registered once per merchant.
CREATE TABLE push_tokens (
    merchant_id   TEXT NOT NULL REFERENCES merchants(merchant_id),
    token_id      TEXT NOT NULL UNIQUE,
    token         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    serial_no     TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, token)
);
CREATE TABLE events (
    merchant_id TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, event_id)
);
CREATE TABLE outbox (
    outbox_id   INTEGER PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    provider    TEXT NOT NULL,
    token_id    TEXT NOT NULL,
    token       TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX outbox_merchant ON outbox (merchant_id, outbox_id);
-- The device that speaks the merchant's voice broadcast (at most one).
CREATE TABLE speakers (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants(merchant_id),
    device_id   TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL
);
-- Idempotency-Key -> first response, per merchant, for 24 h. status NULL:
-- the first request is still being processed.
CREATE TABLE idempotency (
    merchant_id  TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, idem_key)
);
"#;

/// The phones of the seeded merchants (all `new`; the domain may activate
/// some of them in its own seeding).
pub const SEEDED_PHONES: &[&str] = &["13800000001", "13800000002", "13800000003"];

/// Opens the tables of a fresh database.
pub(crate) fn migrate(conn: &Connection) -> Result<(), ApiError> {
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.execute_batch(INFRASTRUCTURE)?;
    crate::domain::migrate(conn)?;
    Ok(())
}

/// A new merchant id drawn from the seeded source: `mch_` + 16 hex digits.
pub(crate) fn new_merchant_id(state: &AppState) -> String {
    let n: u64 = state.rng(|r| r.random());
    format!("mch_{n:016x}")
}

/// Seeds the merchants, then lets the domain seed its data.
pub(crate) fn seed(state: &AppState) -> Result<(), ApiError> {
    let now = state.now_unix();
    let ids: Vec<String> = SEEDED_PHONES
        .iter()
        .map(|_| new_merchant_id(state))
        .collect();
    state.db(|conn| {
        for (phone, id) in SEEDED_PHONES.iter().zip(&ids) {
            conn.execute(
                "INSERT INTO merchants (merchant_id, phone, status, seeded, created_at) VALUES (?1, ?2, 'new', 1, ?3)",
                params![id, phone, now],
            )?;
        }
        Ok(())
    })?;
    crate::domain::seed(state)
}
