//! The schema of a merchant's database: an ordered list of migrations.
//!
//! Migration `n` (1-based: the `n`-th entry of [`MIGRATIONS`]) takes a
//! database from `PRAGMA user_version = n - 1` to `n`. [`super::Db::open`]
//! applies the missing ones in order, each in its own `BEGIN IMMEDIATE`
//! transaction together with the new `user_version`, so a failure leaves the
//! database at the last version that completed.
//!
//! # Adding a migration
//!
//! 1. APPEND one entry at the end of [`MIGRATIONS`]. Never edit, reorder or
//!    remove an entry that has shipped: databases in the field already ran it.
//! 2. `up` is SQL ([`Up::Sql`], any number of statements) or, when data must
//!    be reshaped in Rust, a function ([`Up::Code`]). Do not write
//!    `BEGIN`/`COMMIT` or change `user_version`: the runner does. Foreign keys
//!    stay ON; a migration that rebuilds a referenced table can say
//!    `PRAGMA defer_foreign_keys = ON;` first. After `up`, the runner checks
//!    `PRAGMA foreign_key_check` and refuses to commit on a violation.
//! 3. `sample` is SQL that inserts a few representative rows into the schema
//!    as it is right after this migration. The upgrade test
//!    (`store::db::tests::upgrades_from_every_older_version`) builds a
//!    database at every older version with the samples of its era, upgrades
//!    it, and checks that every migration ran (the schema equals a fresh
//!    one) and every sample row survived in the columns that still exist
//!    (a NULL may have been filled by a backfill).
//!    A migration that deliberately drops or rewrites data must say so in
//!    that test.
//! 4. Personal data (ID number, bank card number, names, phone, photos) goes
//!    into BLOB columns sealed with `MerchantStore::seal` at a
//!    [`super::Place`] naming table, column and the row's key. Card numbers of
//!    customers are never stored beyond BIN + last four.
//! 5. Prefer `STRICT` tables; money is INTEGER fen; times are INTEGER unix
//!    milliseconds.

use rusqlite::Transaction;

use crate::error::Result;

/// One step of the schema.
pub struct Migration {
    /// What it does, for logs and error details ("session: tokens").
    pub name: &'static str,
    /// The change itself.
    pub up: Up,
    /// SQL inserting representative rows right after this migration (for the
    /// upgrade test; never run on a real database).
    pub sample: &'static str,
}

/// How a migration changes the schema.
pub enum Up {
    /// One or more SQL statements.
    Sql(&'static str),
    /// Rust code, for data that must be reshaped row by row.
    Code(fn(&Transaction<'_>) -> Result<()>),
}

impl Up {
    pub(crate) fn apply(&self, tx: &Transaction<'_>) -> Result<()> {
        match self {
            Up::Sql(sql) => Ok(tx.execute_batch(sql)?),
            Up::Code(f) => f(tx),
        }
    }
}

/// Every migration, oldest first. APPEND ONLY (see the module docs).
pub static MIGRATIONS: &[Migration] = &[
    // 1
    Migration {
        name: "foundation: meta and the sealed vault",
        up: Up::Sql(
            "CREATE TABLE meta (
                 key   TEXT PRIMARY KEY NOT NULL,
                 value TEXT NOT NULL
             ) STRICT, WITHOUT ROWID;

             -- Small sealed values by name: session tokens and other secrets.
             -- `sealed` is AES-256-GCM at Place(\"vault\", \"sealed\", name).
             CREATE TABLE vault (
                 name       TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                 sealed     BLOB NOT NULL,
                 updated_at INTEGER NOT NULL
             ) STRICT, WITHOUT ROWID;",
        ),
        sample: "INSERT INTO meta (key, value) VALUES ('sample.meta', 'one');
                 INSERT INTO vault (name, sealed, updated_at)
                     VALUES ('sample.vault', x'01a1a2a3a4a5a6a7a8a9aaabac', 1700000000000);",
    },
    // 2
    Migration {
        name: "platform: pending writes and their idempotency keys",
        up: Up::Sql(
            "-- A write waiting for its final answer (platform/pending.rs): its
             -- idempotency key survives an app restart. `body_sealed` is
             -- AES-256-GCM at Place(\"pending_write\", \"body_sealed\", intent).
             CREATE TABLE pending_write (
                 intent          TEXT PRIMARY KEY NOT NULL CHECK (length(intent) BETWEEN 1 AND 200),
                 idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 16 AND 64),
                 body_sealed     BLOB NOT NULL,
                 created_at      INTEGER NOT NULL
             ) STRICT, WITHOUT ROWID;",
        ),
        sample: "INSERT INTO pending_write (intent, idempotency_key, body_sealed, created_at)
                     VALUES ('devices.register', 'Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z', x'01b1b2b3b4', 1700000000000);",
    },
    // 3
    Migration {
        name: "terminals: the terminal list, the model rules; findings",
        up: Up::Sql(
            "-- The merchant's terminals as the platform last said (terminals/store.rs),
             -- and those that left it (status 'unbound'). Times are unix milliseconds.
             CREATE TABLE terminal (
                 sn            TEXT PRIMARY KEY NOT NULL CHECK (length(sn) BETWEEN 1 AND 64),
                 model         TEXT NOT NULL,
                 firmware      TEXT NOT NULL,
                 alias         TEXT,
                 status        TEXT NOT NULL CHECK (status IN ('active', 'frozen', 'unbound')),
                 role          TEXT NOT NULL CHECK (role IN ('main', 'secondary')),
                 main_sn       TEXT,
                 bound_at      INTEGER NOT NULL,
                 last_trade_at INTEGER,
                 unbound_at    INTEGER,
                 updated_at    INTEGER NOT NULL
             ) STRICT, WITHOUT ROWID;

             -- The platform's terminal models and their serial rules, for
             -- offline serial checks (GET /v1/terminal-models).
             CREATE TABLE terminal_model (
                 model         TEXT PRIMARY KEY NOT NULL,
                 name          TEXT NOT NULL,
                 serial_prefix TEXT NOT NULL,
                 serial_length INTEGER NOT NULL,
                 has_bluetooth INTEGER NOT NULL CHECK (has_bluetooth IN (0, 1)),
                 fetched_at    INTEGER NOT NULL
             ) STRICT, WITHOUT ROWID;

             -- Merchant-protection findings (findings.rs). `subject` is a
             -- terminal serial or a trade id, never personal data.
             CREATE TABLE finding (
                 id              INTEGER PRIMARY KEY,
                 code            TEXT NOT NULL,
                 reason          TEXT NOT NULL,
                 subject         TEXT NOT NULL,
                 severity        TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
                 message_zh      TEXT NOT NULL,
                 message_en      TEXT NOT NULL,
                 occurred_at     INTEGER NOT NULL,
                 last_seen_at    INTEGER NOT NULL,
                 acknowledged_at INTEGER
             ) STRICT;
             CREATE INDEX finding_open ON finding (code, reason, subject) WHERE acknowledged_at IS NULL;",
        ),
        sample: "INSERT INTO terminal (sn, model, firmware, alias, status, role, main_sn, bound_at, last_trade_at, unbound_at, updated_at)
                     VALUES ('LKLA800123455', 'A8', 'A8_V2.4.0', '收银台', 'active', 'main', NULL, 1700000000000, NULL, NULL, 1700000000000);
                 INSERT INTO terminal_model (model, name, serial_prefix, serial_length, has_bluetooth, fetched_at)
                     VALUES ('A8', '拉卡拉电签 A8', 'LKLA8', 13, 1, 1700000000000);
                 INSERT INTO finding (id, code, reason, subject, severity, message_zh, message_en, occurred_at, last_seen_at, acknowledged_at)
                     VALUES (1, 'terminal.owned_by_other', 'bind_refused', 'LKLA800123455', 'critical', '终端属于其他商户', 'The terminal belongs to another merchant', 1700000000000, 1700000000000, NULL);",
    },
    // 4
    Migration {
        name: "onboarding: the application draft, its photos, lookups and agreement",
        up: Up::Sql(crate::onboarding::store::MIGRATION),
        sample: crate::onboarding::store::SAMPLE,
    },
    // 5
    Migration {
        name: "trades: the trade records, the change feed's cursor",
        up: Up::Sql(crate::trades::store::MIGRATION),
        sample: crate::trades::store::SAMPLE,
    },
    // 6
    Migration {
        name: "alerts: the double-charge lookup by scan-code payer",
        up: Up::Sql(crate::alerts::detect::MIGRATION),
        sample: crate::alerts::detect::SAMPLE,
    },
    // 7
    Migration {
        name: "alerts: seen events, push nonces, the stream cursor, alerts, alert rules",
        up: Up::Sql(crate::alerts::inbox::MIGRATION),
        sample: crate::alerts::inbox::SAMPLE,
    },
    // 8
    Migration {
        name: "alerts: findings told as protection alerts; seen events by age",
        up: Up::Sql(crate::alerts::inbox::MIGRATION_TOLD),
        sample: crate::alerts::inbox::SAMPLE_TOLD,
    },
];

/// The schema version this code writes: the number of migrations.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}
