//! The domain's tables and its seeding.
//!
//! Amounts are integer fen; times are unix seconds of the business clock;
//! `day` is the China-time business day `YYYY-MM-DD` a trade or refund
//! counts in. Personal data is kept only as the review needs it: ID numbers
//! and settlement cards masked (plus birth date and BIN facts), document
//! photos as their digest and size, customer cards as BIN + last four.
//!
//! Seeding (deterministic under the seed, documented in docs/platform-api.md):
//! - the terminal inventory of [`inventory::seed_terminals`];
//! - the first seeded merchant (`13800000001`) is active, as 老王便利店, with
//!   the first two free terminals bound, trades on each of the three days
//!   before the sandbox's first day, two refunds (a half refund on the
//!   second day before, a whole one of a trade of that day on the day
//!   before: see `trades::seed_history`), and those days settled;
//! - the third seeded merchant (`13800000003`) is active, as 恒通五金商行, and
//!   owns every fifth terminal of the inventory (the terminals "bound to
//!   another merchant");
//! - the second seeded merchant (`13800000002`) stays `new`, to onboard.

use rusqlite::params;

use super::inventory;
use crate::error::ApiError;
use crate::schema::SEEDED_PHONES;
use crate::state::AppState;

pub const SCHEMA: &str = r#"
CREATE TABLE dom_merchants (
    merchant_id    TEXT PRIMARY KEY REFERENCES merchants(merchant_id),
    merchant_no    TEXT NOT NULL UNIQUE,
    shop_name      TEXT,
    rates          TEXT NOT NULL,
    account_masked TEXT,
    activated_at   INTEGER NOT NULL,
    trade_draws    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE dom_applications (
    application_id       TEXT PRIMARY KEY,
    merchant_id          TEXT NOT NULL UNIQUE REFERENCES merchants(merchant_id),
    status               TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    -- What the review keeps of the form (review::Kept as JSON): personal
    -- fields masked, flags, a salted digest of the ID's last 6 characters.
    form                 TEXT NOT NULL,
    rejections           TEXT NOT NULL DEFAULT '[]',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    submitted_at         INTEGER,
    review_due_at        INTEGER,
    reviewed_at          INTEGER,
    activated_at         INTEGER,
    code_hash            TEXT,
    code_sent_at         INTEGER,
    code_expires_at      INTEGER,
    code_attempts        INTEGER NOT NULL DEFAULT 0,
    codes_sent           INTEGER NOT NULL DEFAULT 0,
    recover_failures     INTEGER NOT NULL DEFAULT 0,
    recover_locked_until INTEGER
);
CREATE INDEX dom_applications_due ON dom_applications (status, review_due_at);
CREATE TABLE dom_documents (
    application_id TEXT NOT NULL REFERENCES dom_applications(application_id),
    kind           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    uploaded_at    INTEGER NOT NULL,
    PRIMARY KEY (application_id, kind)
);
CREATE TABLE dom_signatures (
    application_id TEXT PRIMARY KEY REFERENCES dom_applications(application_id),
    version        TEXT NOT NULL,
    text_sha256    TEXT NOT NULL,
    image_sha256   TEXT NOT NULL,
    -- The signed AgreementRecord as JSON.
    record         TEXT NOT NULL
);
CREATE TABLE dom_terminals (
    sn          TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    firmware    TEXT NOT NULL,
    qr_text     TEXT NOT NULL,
    ord         INTEGER NOT NULL,
    merchant_id TEXT REFERENCES merchants(merchant_id),
    bound_at    INTEGER,
    bind_seq    INTEGER,
    frozen      INTEGER NOT NULL DEFAULT 0,
    alias       TEXT,
    role        TEXT CHECK (role IN ('main', 'secondary')),
    main_sn     TEXT,
    last_trade_at INTEGER,
    CHECK ((merchant_id IS NULL) = (role IS NULL)),
    CHECK ((role = 'secondary') = (main_sn IS NOT NULL))
);
CREATE INDEX dom_terminals_merchant ON dom_terminals (merchant_id, bound_at, bind_seq);
-- Every trade record: sales, and the voids and refunds of them (kind),
-- each with its place in the merchant's change feed (change_seq, set anew on
-- every insert and update). A pending sale becomes `outcome` at `due_at`.
CREATE TABLE dom_trades (
    seq           INTEGER PRIMARY KEY,
    trade_id      TEXT NOT NULL UNIQUE,
    merchant_id   TEXT NOT NULL REFERENCES merchants(merchant_id),
    kind          TEXT NOT NULL CHECK (kind IN ('sale', 'void', 'refund')),
    original_trade_id TEXT,
    channel       TEXT NOT NULL,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    fee           INTEGER NOT NULL CHECK (fee >= 0),
    rate          TEXT NOT NULL,
    status        TEXT NOT NULL,
    refunded      INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    fee_returned  INTEGER NOT NULL DEFAULT 0 CHECK (fee_returned >= 0 AND fee_returned <= fee),
    terminal_sn   TEXT NOT NULL,
    merchant_no   TEXT NOT NULL,
    merchant_name TEXT NOT NULL,
    card_bin      TEXT,
    card_last4    TEXT,
    card_kind     TEXT,
    card_bank     TEXT,
    payer         TEXT,
    reference_no  TEXT NOT NULL,
    batch_no      TEXT NOT NULL,
    voucher_no    TEXT NOT NULL,
    log_no        TEXT NOT NULL,
    reason        TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    day           TEXT NOT NULL,
    change_seq    INTEGER NOT NULL,
    due_at        INTEGER,
    outcome       TEXT,
    anomaly       TEXT,
    CHECK ((kind = 'sale') = (original_trade_id IS NULL)),
    CHECK ((status = 'pending') = (due_at IS NOT NULL))
);
CREATE INDEX dom_trades_merchant ON dom_trades (merchant_id, created_at, seq);
CREATE INDEX dom_trades_day ON dom_trades (merchant_id, day, kind);
CREATE UNIQUE INDEX dom_trades_feed ON dom_trades (merchant_id, change_seq);
CREATE INDEX dom_trades_due ON dom_trades (due_at) WHERE status = 'pending';
CREATE INDEX dom_trades_original ON dom_trades (original_trade_id)
    WHERE original_trade_id IS NOT NULL;
-- How many of the merchant's records hold a change_seq in each bucket of
-- FEED_BUCKET sequence numbers: the feed's `remaining` without a long count.
CREATE TABLE dom_feed_buckets (
    merchant_id TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    live        INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, bucket)
) WITHOUT ROWID;
-- Per-merchant counters: `change` (the change feed), `log:YYYY-MM-DD` (流水号
-- of the day), `draw:refund` / `draw:void` (ids of seeded reversals).
CREATE TABLE dom_counters (
    merchant_id TEXT NOT NULL,
    scope       TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, scope)
) WITHOUT ROWID;
-- 凭证号 per terminal and business day (the batch of that day).
CREATE TABLE dom_vouchers (
    sn  TEXT NOT NULL,
    day TEXT NOT NULL,
    n   INTEGER NOT NULL,
    PRIMARY KEY (sn, day)
) WITHOUT ROWID;
CREATE TABLE dom_settlements (
    merchant_id    TEXT NOT NULL REFERENCES merchants(merchant_id),
    day            TEXT NOT NULL,
    trade_count    INTEGER NOT NULL,
    refund_count   INTEGER NOT NULL,
    gross          INTEGER NOT NULL,
    fees           INTEGER NOT NULL,
    refunds        INTEGER NOT NULL,
    net            INTEGER NOT NULL,
    settled        INTEGER NOT NULL,
    account_masked TEXT,
    settled_at     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, day)
);
CREATE TABLE dom_streams (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants(merchant_id),
    generation  INTEGER NOT NULL,
    running     INTEGER NOT NULL,
    produced    INTEGER NOT NULL,
    remaining   INTEGER
);
"#;

/// The seeded shops.
pub const SEEDED_SHOP: &str = "老王便利店";
pub const SEEDED_OTHER_SHOP: &str = "恒通五金商行";
/// Trades seeded on each of the days before the first day.
pub const SEEDED_TRADES_PER_DAY: u32 = 12;
pub const SEEDED_DAYS: i64 = 3;

/// Seeds the inventory and the seeded merchants' state.
pub fn seed(state: &AppState) -> Result<(), ApiError> {
    let inventory = inventory::seed_terminals(state.seed());
    state.db(|conn| {
        let tx = conn.transaction()?;
        for (ord, t) in inventory.iter().enumerate() {
            tx.execute(
                "INSERT INTO dom_terminals (sn, model, firmware, qr_text, ord) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.sn, t.model, t.firmware, t.qr_text, ord as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    })?;

    let seeded = |phone: &str| -> Result<Option<String>, ApiError> {
        state.db(|c| {
            use rusqlite::OptionalExtension as _;
            Ok(c.query_row(
                "SELECT merchant_id FROM merchants WHERE phone = ?1",
                params![phone],
                |r| r.get(0),
            )
            .optional()?)
        })
    };
    let start = state.now_unix();

    // The other merchant: owns every fifth terminal.
    if let Some(other) = SEEDED_PHONES
        .get(2)
        .map(|p| seeded(p))
        .transpose()?
        .flatten()
    {
        super::merchant::activate_seeded(state, &other, SEEDED_OTHER_SHOP, start)?;
        for t in inventory.iter().filter(|t| t.bound_elsewhere) {
            super::terminals::bind_seeded(state, &other, &t.sn, start)?;
        }
    }

    // The shop with a history.
    if let Some(shop) = SEEDED_PHONES
        .first()
        .map(|p| seeded(p))
        .transpose()?
        .flatten()
    {
        super::merchant::activate_seeded(state, &shop, SEEDED_SHOP, start - SEEDED_DAYS * 86_400)?;
        let free: Vec<&inventory::SeedTerminal> = inventory
            .iter()
            .filter(|t| !t.bound_elsewhere)
            .take(2)
            .collect();
        for t in &free {
            super::terminals::bind_seeded(state, &shop, &t.sn, start - SEEDED_DAYS * 86_400)?;
        }
        super::trades::seed_history(state, &shop, start, SEEDED_DAYS, SEEDED_TRADES_PER_DAY)?;
    }
    Ok(())
}
