//! The alerts kept on the phone: their tables (migration "alerts"), the
//! stored [`Alert`], its delivery flag, and the listing.
//!
//! An alert's `id` is its delivery order (AUTOINCREMENT: never reused). It is
//! stored in the same transaction as the event that caused it and is
//! delivered once: to the live listener (`on_alert`, then marked) or as the
//! notification `handle_push` returns (marked as it is returned).

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use crate::error::{Lang, Result, current_language};

/// The alerts tables (store/schema.rs registers it).
pub const MIGRATION: &str = "
-- Every event id the pipeline took (alerts/pipeline.rs), push or stream:
-- an id seen before is a duplicate and changes nothing.
CREATE TABLE seen_event (
    event_id   INTEGER PRIMARY KEY,
    event_type TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('push', 'stream')),
    seen_at    INTEGER NOT NULL
) STRICT;

-- Nonces of accepted push payloads until their timestamp leaves the
-- freshness window (unix milliseconds): a replay is refused after a restart.
CREATE TABLE push_nonce (
    nonce      TEXT PRIMARY KEY NOT NULL CHECK (length(nonce) BETWEEN 1 AND 128),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX push_nonce_expiry ON push_nonce (expires_at);

-- The live stream's Last-Event-ID, moved with each event's effect.
CREATE TABLE alert_cursor (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL
) STRICT;

-- What the merchant is told, in delivery order (id). A trade alert is kept
-- once per (trade, status) whichever path brought it. `clips` is a JSON
-- array of clip names; `voice_text` NULL when the alert stays silent.
CREATE TABLE alert (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('trade_received', 'refund', 'void', 'terminal', 'application', 'settlement', 'protection')),
    trade_id     TEXT,
    status       TEXT,
    finding_id   INTEGER,
    title_zh     TEXT NOT NULL,
    title_en     TEXT NOT NULL,
    body_zh      TEXT NOT NULL,
    body_en      TEXT NOT NULL,
    voice_text   TEXT,
    clips        TEXT NOT NULL DEFAULT '[]',
    highlight    INTEGER NOT NULL CHECK (highlight IN (0, 1)),
    protection   INTEGER NOT NULL CHECK (protection IN (0, 1)),
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
) STRICT;
CREATE UNIQUE INDEX alert_trade_state ON alert (trade_id, status)
    WHERE trade_id IS NOT NULL AND protection = 0;
CREATE INDEX alert_undelivered ON alert (id) WHERE delivered_at IS NULL;

-- This device's alert rules (alerts/rules.rs); one row (the speaker role is
-- kept by alerts/speaker.rs). `muted_terminals` is a JSON
-- array of terminal serials. Amounts in fen, quiet hours in minutes of the
-- day, China time.
CREATE TABLE alert_settings (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    broadcast        INTEGER NOT NULL CHECK (broadcast IN (0, 1)),
    quiet_start      INTEGER CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end        INTEGER CHECK (quiet_end BETWEEN 0 AND 1439),
    min_amount       INTEGER NOT NULL CHECK (min_amount >= 0),
    large_amount     INTEGER CHECK (large_amount > 0),
    muted_terminals  TEXT NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
";

/// Sample rows for the upgrade test.
pub const SAMPLE: &str = "
INSERT INTO seen_event (event_id, event_type, source, seen_at) VALUES (41, 'trade.created', 'push', 1700000000000);
INSERT INTO push_nonce (nonce, expires_at) VALUES ('n0nce0000000000000000000000000001', 1700000300000);
INSERT INTO alert_cursor (id, last_event_id) VALUES (1, 41);
INSERT INTO alert (id, event_id, kind, trade_id, status, finding_id, title_zh, title_en, body_zh, body_en,
                   voice_text, clips, highlight, protection, created_at, delivered_at)
    VALUES (1, 41, 'trade_received', 'T20250601000001', 'success', NULL, '收款到账', 'Payment received',
            '微信收款 850.00 元', 'WeChat payment ¥850.00', '微信收款八百五十元',
            '[\"wechat_received\",\"8\",\"hundred\",\"5\",\"ten\",\"yuan\"]', 0, 0, 1700000000000, NULL);
INSERT INTO alert_settings (id, broadcast, quiet_start, quiet_end, min_amount, large_amount, muted_terminals, updated_at)
    VALUES (1, 1, 1320, 420, 0, 100000, '[]', 1700000000000);
";

/// The findings already told as protection alerts, and seen events by age
/// (store/schema.rs registers it after [`MIGRATION`]).
///
/// `last_finding_id`: every finding up to it has its protection alert (or
/// predates this migration: an upgraded phone does not tell its old
/// findings again, they stay listed by `findings()`).
pub const MIGRATION_TOLD: &str = "
CREATE TABLE finding_told (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    last_finding_id INTEGER NOT NULL
) STRICT;
INSERT INTO finding_told (id, last_finding_id) SELECT 1, COALESCE(MAX(id), 0) FROM finding;
CREATE UNIQUE INDEX alert_finding ON alert (finding_id) WHERE finding_id IS NOT NULL;
CREATE INDEX seen_event_age ON seen_event (seen_at);
";

/// Sample rows for the upgrade test (the migration made the row: the
/// sample moves it as the sample finding of migration 3 would be told).
pub const SAMPLE_TOLD: &str =
    "INSERT OR REPLACE INTO finding_told (id, last_finding_id) VALUES (1, 1);";

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum AlertKind {
    /// A sale paid (收款到账).
    TradeReceived,
    /// A refund of a sale.
    Refund,
    /// A card sale voided (撤销).
    Void,
    /// A terminal bound, changed, frozen, unfrozen or unbound.
    Terminal,
    /// The application reviewed, the merchant activated.
    Application,
    /// A day settled.
    Settlement,
    /// A merchant-protection finding (its `finding_id`).
    Protection,
}

impl AlertKind {
    pub const ALL: [AlertKind; 7] = [
        AlertKind::TradeReceived,
        AlertKind::Refund,
        AlertKind::Void,
        AlertKind::Terminal,
        AlertKind::Application,
        AlertKind::Settlement,
        AlertKind::Protection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::TradeReceived => "trade_received",
            AlertKind::Refund => "refund",
            AlertKind::Void => "void",
            AlertKind::Terminal => "terminal",
            AlertKind::Application => "application",
            AlertKind::Settlement => "settlement",
            AlertKind::Protection => "protection",
        }
    }

    pub fn parse(text: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One alert as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Alert {
    /// Delivery order: a later alert has a higher id.
    pub id: i64,
    /// The platform event that caused it; 0 for the protection alert of a
    /// finding recorded outside any event (a sync, a bind, a reconciliation).
    pub event_id: u64,
    pub kind: AlertKind,
    /// Trade alerts: the trade record (the refund's or void's own record).
    pub trade_id: Option<String>,
    /// Trade alerts: the record's status the alert tells.
    pub status: Option<String>,
    /// Protection alerts: the finding to acknowledge.
    pub finding_id: Option<i64>,
    /// In the current language.
    pub title: String,
    pub body: String,
    /// What to say; empty when the rules keep this alert silent.
    pub voice_text: String,
    /// The clips that say `voice_text` offline; empty when silent.
    pub clips: Vec<String>,
    /// At or above the large-amount threshold.
    pub highlight: bool,
    /// A merchant-protection alert (never silenced by the rules).
    pub protection: bool,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Whether it was delivered (to the live listener or as a notification).
    pub delivered: bool,
}

/// An alert about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub kind: AlertKind,
    pub trade_id: Option<String>,
    pub status: Option<String>,
    pub finding_id: Option<i64>,
    pub title_zh: String,
    pub title_en: String,
    pub body_zh: String,
    pub body_en: String,
    /// `None`: silent.
    pub voice: Option<crate::alerts::VoiceBroadcast>,
    pub highlight: bool,
    pub protection: bool,
}

/// Stores `a` for `event_id`: its id, or `None` when a trade alert of the
/// same (trade, status) is already kept.
pub fn insert(conn: &Connection, event_id: u64, a: &NewAlert, now_ms: i64) -> Result<Option<i64>> {
    let (voice_text, clips) = match &a.voice {
        Some(v) => (
            Some(v.text.as_str()),
            serde_json::to_string(&v.clips).unwrap_or_else(|_| "[]".to_owned()),
        ),
        None => (None, "[]".to_owned()),
    };
    let n = conn.execute(
        "INSERT INTO alert (event_id, kind, trade_id, status, finding_id, title_zh, title_en,
                            body_zh, body_en, voice_text, clips, highlight, protection, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT DO NOTHING",
        params![
            event_id as i64,
            a.kind.as_str(),
            a.trade_id,
            a.status,
            a.finding_id,
            a.title_zh,
            a.title_en,
            a.body_zh,
            a.body_en,
            voice_text,
            clips,
            a.highlight,
            a.protection,
            now_ms
        ],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// Whether a trade alert of (`trade_id`, `status`) is kept.
pub fn has_trade_alert(conn: &Connection, trade_id: &str, status: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM alert WHERE trade_id = ?1 AND status = ?2 AND protection = 0",
            params![trade_id, status],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

const COLUMNS: &str = "id, event_id, kind, trade_id, status, finding_id, title_zh, title_en, \
                       body_zh, body_en, voice_text, clips, highlight, protection, created_at, \
                       delivered_at";

fn read_row(r: &Row<'_>, lang: Lang) -> rusqlite::Result<Alert> {
    let kind: String = r.get(2)?;
    let (title, body): (String, String) = match lang {
        Lang::Zh => (r.get(6)?, r.get(8)?),
        Lang::En => (r.get(7)?, r.get(9)?),
    };
    let voice_text: Option<String> = r.get(10)?;
    let clips: String = r.get(11)?;
    let delivered_at: Option<i64> = r.get(15)?;
    Ok(Alert {
        id: r.get(0)?,
        event_id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or_default(),
        // The CHECK constraint keeps the kinds known.
        kind: AlertKind::parse(&kind).unwrap_or(AlertKind::TradeReceived),
        trade_id: r.get(3)?,
        status: r.get(4)?,
        finding_id: r.get(5)?,
        title,
        body,
        voice_text: voice_text.unwrap_or_default(),
        clips: serde_json::from_str(&clips).unwrap_or_default(),
        highlight: r.get(12)?,
        protection: r.get(13)?,
        created_at_ms: r.get(14)?,
        delivered: delivered_at.is_some(),
    })
}

/// Alerts not delivered yet, oldest first, at most `limit`.
pub fn undelivered(conn: &Connection, limit: u32) -> Result<Vec<Alert>> {
    let lang = current_language();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alert WHERE delivered_at IS NULL ORDER BY id LIMIT ?1"
    ))?;
    let rows = stmt.query_map(params![limit], |r| read_row(r, lang))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The alerts of `ids`, in id order.
pub fn by_ids(conn: &Connection, ids: &[i64]) -> Result<Vec<Alert>> {
    let lang = current_language();
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM alert WHERE id = ?1"))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(a) = stmt
            .query_row(params![id], |r| read_row(r, lang))
            .optional()?
        {
            out.push(a);
        }
    }
    Ok(out)
}

/// Marks alert `id` delivered; `false` when it already was.
pub fn mark_delivered(conn: &Connection, id: i64, now_ms: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE alert SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
        params![id, now_ms],
    )? == 1)
}

/// The newest alerts first, `limit` of them, older than `before_id` when
/// given.
pub fn list(conn: &Connection, limit: u32, before_id: Option<i64>) -> Result<Vec<Alert>> {
    let lang = current_language();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alert WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![before_id.unwrap_or(i64::MAX), limit], |r| {
        read_row(r, lang)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
