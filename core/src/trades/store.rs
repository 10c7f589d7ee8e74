//! The trades tables (one migration of store/schema.rs) and the row reader
//! every query shares.
//!
//! Money is integer fen; times are unix milliseconds; `business_date` is the
//! China-time day `YYYY-MM-DD`. Customer cards exist only as BIN + last four
//! (the CHECKs hold it). `id` is the local rowid: the tie-break of keyset
//! pages (`created_at DESC, id DESC`).

use rusqlite::Row;

use super::model::{Trade, TradeKind, TradeStatus};
use crate::error::{Error, Result};
use crate::money::{Amount, Channel};
use crate::store::CORRUPT;

pub const MIGRATION: &str = "
-- Every trade record the platform's change feed gave, as it stands now.
CREATE TABLE trade (
    id                INTEGER PRIMARY KEY,
    trade_id          TEXT NOT NULL UNIQUE CHECK (length(trade_id) BETWEEN 1 AND 40),
    kind              TEXT NOT NULL CHECK (kind IN ('sale', 'void', 'refund')),
    original_trade_id TEXT,
    channel           TEXT NOT NULL,
    amount            INTEGER NOT NULL CHECK (amount > 0),
    fee               INTEGER NOT NULL CHECK (fee >= 0 AND fee <= amount),
    rate              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed', 'closed',
                                                      'partially_refunded', 'refunded', 'voided')),
    refunded          INTEGER NOT NULL CHECK (refunded >= 0 AND refunded <= amount),
    terminal_sn       TEXT NOT NULL,
    merchant_no       TEXT NOT NULL,
    merchant_name     TEXT NOT NULL,
    card_bin          TEXT CHECK (card_bin IS NULL OR (length(card_bin) = 6 AND card_bin NOT GLOB '*[^0-9]*')),
    card_last4        TEXT CHECK (card_last4 IS NULL OR (length(card_last4) = 4 AND card_last4 NOT GLOB '*[^0-9]*')),
    card_kind         TEXT,
    card_bank         TEXT,
    payer             TEXT,
    reference_no      TEXT NOT NULL,
    batch_no          TEXT NOT NULL,
    voucher_no        TEXT NOT NULL,
    log_no            TEXT NOT NULL,
    business_date     TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    change_seq        INTEGER NOT NULL,
    CHECK ((kind = 'sale') = (original_trade_id IS NULL)),
    CHECK ((card_bin IS NULL) = (card_last4 IS NULL))
) STRICT;
-- History pages and summaries (core/src/trades/query.rs says which index
-- drives which filters). Newest first by time, every list filter and the
-- amount checked inside the index, and the summaries' columns (the parts of
-- a range that are not whole hours are read from this index alone).
CREATE INDEX trade_time ON trade (created_at, id, channel, kind, status, amount, terminal_sn, fee);
-- A terminal's trades in page order, the other filters inside the index.
CREATE INDEX trade_terminal ON trade (terminal_sn, created_at, id, channel, kind, status, amount);
-- A channel's trades in page order, the other filters inside the index.
CREATE INDEX trade_channel ON trade (channel, created_at, id, kind, status, amount);
-- The rare statuses and kinds in page order (most trades are successful
-- sales, which the time index serves).
CREATE INDEX trade_status_rare ON trade (status, created_at) WHERE status <> 'success';
CREATE INDEX trade_kind_rare ON trade (kind, created_at) WHERE kind <> 'sale';
-- Text search: exact numbers and a card's last four.
CREATE INDEX trade_log_no ON trade (log_no);
CREATE INDEX trade_reference_no ON trade (reference_no);
CREATE INDEX trade_card_last4 ON trade (card_last4, created_at) WHERE card_last4 IS NOT NULL;
-- Summaries: the counted records (query's summary rules: paid sales,
-- voided sales, successful refund records) summed per hour (unix ms / 3600000,
-- floored), channel, terminal and class (0 paid sale, 1 voided sale, 2
-- refund), kept by the triggers below on every insert, update and delete
-- of a trade. A month's summary reads some thousands of these rows instead
-- of every trade (core/src/trades/summary.rs). An upsert of a trade must be
-- INSERT … ON CONFLICT DO UPDATE (never REPLACE, whose delete fires no
-- trigger and which would also renumber the row).
CREATE TABLE trade_hour (
    hour        INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    terminal_sn TEXT NOT NULL,
    class       INTEGER NOT NULL CHECK (class IN (0, 1, 2)),
    n           INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    fee         INTEGER NOT NULL,
    PRIMARY KEY (hour, channel, terminal_sn, class)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER trade_hour_insert AFTER INSERT ON trade
WHEN (NEW.kind = 'sale' AND NEW.status IN ('success', 'partially_refunded', 'refunded', 'voided'))
       OR (NEW.kind = 'refund' AND NEW.status = 'success')
BEGIN
    INSERT INTO trade_hour (hour, channel, terminal_sn, class, n, amount, fee)
        VALUES ((NEW.created_at - ((NEW.created_at % 3600000) + 3600000) % 3600000) / 3600000, NEW.channel, NEW.terminal_sn, CASE WHEN NEW.kind = 'refund' THEN 2 WHEN NEW.status = 'voided' THEN 1 ELSE 0 END, 1, NEW.amount, NEW.fee)
        ON CONFLICT (hour, channel, terminal_sn, class)
        DO UPDATE SET n = n + 1, amount = amount + excluded.amount, fee = fee + excluded.fee;
END;
CREATE TRIGGER trade_hour_delete AFTER DELETE ON trade
WHEN (OLD.kind = 'sale' AND OLD.status IN ('success', 'partially_refunded', 'refunded', 'voided'))
       OR (OLD.kind = 'refund' AND OLD.status = 'success')
BEGIN
    UPDATE trade_hour SET n = n - 1, amount = amount - OLD.amount, fee = fee - OLD.fee
        WHERE hour = (OLD.created_at - ((OLD.created_at % 3600000) + 3600000) % 3600000) / 3600000 AND channel = OLD.channel AND terminal_sn = OLD.terminal_sn
          AND class = CASE WHEN OLD.kind = 'refund' THEN 2 WHEN OLD.status = 'voided' THEN 1 ELSE 0 END;
    DELETE FROM trade_hour
        WHERE hour = (OLD.created_at - ((OLD.created_at % 3600000) + 3600000) % 3600000) / 3600000 AND channel = OLD.channel AND terminal_sn = OLD.terminal_sn
          AND class = CASE WHEN OLD.kind = 'refund' THEN 2 WHEN OLD.status = 'voided' THEN 1 ELSE 0 END AND n = 0;
END;
CREATE TRIGGER trade_hour_update_old AFTER UPDATE OF kind, status, channel, terminal_sn, amount, fee, created_at ON trade
WHEN (OLD.kind = 'sale' AND OLD.status IN ('success', 'partially_refunded', 'refunded', 'voided'))
       OR (OLD.kind = 'refund' AND OLD.status = 'success')
BEGIN
    UPDATE trade_hour SET n = n - 1, amount = amount - OLD.amount, fee = fee - OLD.fee
        WHERE hour = (OLD.created_at - ((OLD.created_at % 3600000) + 3600000) % 3600000) / 3600000 AND channel = OLD.channel AND terminal_sn = OLD.terminal_sn
          AND class = CASE WHEN OLD.kind = 'refund' THEN 2 WHEN OLD.status = 'voided' THEN 1 ELSE 0 END;
    DELETE FROM trade_hour
        WHERE hour = (OLD.created_at - ((OLD.created_at % 3600000) + 3600000) % 3600000) / 3600000 AND channel = OLD.channel AND terminal_sn = OLD.terminal_sn
          AND class = CASE WHEN OLD.kind = 'refund' THEN 2 WHEN OLD.status = 'voided' THEN 1 ELSE 0 END AND n = 0;
END;
CREATE TRIGGER trade_hour_update_new AFTER UPDATE OF kind, status, channel, terminal_sn, amount, fee, created_at ON trade
WHEN (NEW.kind = 'sale' AND NEW.status IN ('success', 'partially_refunded', 'refunded', 'voided'))
       OR (NEW.kind = 'refund' AND NEW.status = 'success')
BEGIN
    INSERT INTO trade_hour (hour, channel, terminal_sn, class, n, amount, fee)
        VALUES ((NEW.created_at - ((NEW.created_at % 3600000) + 3600000) % 3600000) / 3600000, NEW.channel, NEW.terminal_sn, CASE WHEN NEW.kind = 'refund' THEN 2 WHEN NEW.status = 'voided' THEN 1 ELSE 0 END, 1, NEW.amount, NEW.fee)
        ON CONFLICT (hour, channel, terminal_sn, class)
        DO UPDATE SET n = n + 1, amount = amount + excluded.amount, fee = fee + excluded.fee;
END;
-- A sale's voids and refunds; a day's records for reconciliation.
CREATE INDEX trade_original ON trade (original_trade_id) WHERE original_trade_id IS NOT NULL;
CREATE INDEX trade_business_date ON trade (business_date, kind);

-- The change feed's cursor: the last change_seq committed with its page.
CREATE TABLE trade_feed (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    after      INTEGER NOT NULL CHECK (after >= 0),
    remaining  INTEGER,
    synced_at  INTEGER
) STRICT;

-- ---- Refunds, voids, settlements and reconciliation (refund.rs, settlement.rs) ----
-- Every refund or void asked for from this phone and where it stands. `intent`
-- names its keyed write (platform/pending.rs keeps the idempotency key under
-- it); while `sending`, its answer has not come (or was lost) and it is sent
-- again with the same key. `amount` of a void is the sale's whole amount.
CREATE TABLE trade_refund_request (
    id          INTEGER PRIMARY KEY,
    intent      TEXT NOT NULL CHECK (length(intent) BETWEEN 1 AND 200),
    kind        TEXT NOT NULL CHECK (kind IN ('refund', 'void')),
    trade_id    TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    reason      TEXT CHECK (reason IS NULL OR length(reason) <= 64),
    state       TEXT NOT NULL CHECK (state IN ('sending', 'done', 'failed')),
    error_code  TEXT,
    record_id   TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CHECK ((state = 'failed') = (error_code IS NOT NULL)),
    CHECK ((state = 'done') = (record_id IS NOT NULL))
) STRICT;
-- One request in flight per intent; a sale's requests.
CREATE UNIQUE INDEX trade_refund_request_sending ON trade_refund_request (intent) WHERE state = 'sending';
CREATE INDEX trade_refund_request_trade ON trade_refund_request (trade_id, state);

-- The platform's settlement of a day (结算单), as last fetched.
CREATE TABLE settlement (
    date           TEXT PRIMARY KEY NOT NULL CHECK (length(date) = 10),
    trade_count    INTEGER NOT NULL CHECK (trade_count >= 0),
    refund_count   INTEGER NOT NULL CHECK (refund_count >= 0),
    gross_amount   INTEGER NOT NULL CHECK (gross_amount >= 0),
    fee_amount     INTEGER NOT NULL,
    refund_amount  INTEGER NOT NULL CHECK (refund_amount >= 0),
    net_amount     INTEGER NOT NULL,
    settled_amount INTEGER NOT NULL CHECK (settled_amount >= 0),
    account_masked TEXT,
    settled_at     INTEGER NOT NULL,
    fetched_at     INTEGER NOT NULL
) STRICT;

-- A day's reconciliation of the phone's trades against the settlement and
-- its statement file; replaced whole when the day is reconciled again.
-- Amounts in fen, signed where a difference may go either way.
CREATE TABLE reconciliation (
    date           TEXT PRIMARY KEY NOT NULL CHECK (length(date) = 10),
    status         TEXT NOT NULL CHECK (status IN ('matched', 'discrepancy')),
    expected       INTEGER NOT NULL,
    settled        INTEGER NOT NULL,
    settlement_net INTEGER NOT NULL,
    statement_net  INTEGER NOT NULL,
    statement_lines INTEGER NOT NULL CHECK (statement_lines >= 0),
    reconciled_at  INTEGER NOT NULL
) STRICT;
-- Its lists: trades only on the phone, only in the statement, and amount
-- or fee mismatches.
CREATE TABLE reconciliation_item (
    id               INTEGER PRIMARY KEY,
    date             TEXT NOT NULL REFERENCES reconciliation (date) ON DELETE CASCADE,
    list             TEXT NOT NULL CHECK (list IN ('only_on_phone', 'only_in_statement',
                                                   'amount_mismatch', 'fee_mismatch')),
    trade_id         TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('sale', 'void', 'refund')),
    phone_amount     INTEGER,
    statement_amount INTEGER,
    phone_fee        INTEGER,
    statement_fee    INTEGER
) STRICT;
CREATE INDEX reconciliation_item_date ON reconciliation_item (date, list, id);
-- ---- end of refunds, voids, settlements and reconciliation ----
";

pub const SAMPLE: &str = "
INSERT INTO trade (id, trade_id, kind, original_trade_id, channel, amount, fee, rate, status, refunded,
                   terminal_sn, merchant_no, merchant_name, card_bin, card_last4, card_kind, card_bank,
                   payer, reference_no, batch_no, voucher_no, log_no, business_date, created_at,
                   updated_at, change_seq)
    VALUES (1, 'T20250601004711938265', 'sale', NULL, 'credit_card', 128000, 768, '0.60', 'success', 0,
            'LKLA800123455', '822290058120001', '老王便利店', '622848', '0017', 'credit', '中国农业银行',
            NULL, '601234567890', '000001', '000017', '20250601000017', '2025-06-01', 1748741400000,
            1748741400000, 17);
INSERT INTO trade_feed (id, after, remaining, synced_at) VALUES (1, 17, 0, 1748741401000);
-- ---- refunds, voids, settlements and reconciliation ----
INSERT INTO trade_refund_request (id, intent, kind, trade_id, amount, reason, state, error_code,
                                  record_id, created_at, updated_at)
    VALUES (1, 'trades.refund:T20250601004711938265:3000:e3b0c44298fc1c14', 'refund',
            'T20250601004711938265', 3000, NULL, 'sending', NULL, NULL, 1748745000000, 1748745000000);
INSERT INTO settlement (date, trade_count, refund_count, gross_amount, fee_amount, refund_amount,
                        net_amount, settled_amount, account_masked, settled_at, fetched_at)
    VALUES ('2025-06-01', 1, 0, 128000, 768, 0, 127232, 127000, '622202*********0017',
            1748826000000, 1748826100000);
INSERT INTO reconciliation (date, status, expected, settled, settlement_net, statement_net,
                            statement_lines, reconciled_at)
    VALUES ('2025-06-01', 'discrepancy', 127232, 127000, 127232, 127232, 1, 1748826100000);
INSERT INTO reconciliation_item (id, date, list, trade_id, kind, phone_amount, statement_amount,
                                 phone_fee, statement_fee)
    VALUES (1, '2025-06-01', 'fee_mismatch', 'T20250601004711938265', 'sale', 128000, 128000, 768, 767);
";

/// The columns [`read_row`] reads, in a `SELECT` list.
pub const COLUMNS: &str = "trade_id, kind, original_trade_id, channel, amount, fee, rate, status, \
     refunded, terminal_sn, merchant_no, merchant_name, card_bin, card_last4, card_kind, card_bank, \
     payer, reference_no, batch_no, voucher_no, log_no, business_date, created_at, updated_at, change_seq";

fn corrupt(what: &str) -> Error {
    Error::new(&CORRUPT).detail(format!("trade row: {what}"))
}

fn fen(v: i64, what: &str) -> Result<Amount> {
    Amount::from_fen(v).map_err(|_| corrupt(what))
}

/// One row of a `SELECT {COLUMNS} FROM trade …` as the app's record.
pub fn read_row(r: &Row<'_>) -> Result<Trade> {
    let text = |i: usize| -> Result<String> { Ok(r.get::<_, String>(i)?) };
    let opt = |i: usize| -> Result<Option<String>> { Ok(r.get::<_, Option<String>>(i)?) };
    let kind = TradeKind::parse(&text(1)?).ok_or_else(|| corrupt("kind"))?;
    let channel = Channel::parse(&text(3)?).map_err(|_| corrupt("channel"))?;
    let status = TradeStatus::parse(&text(7)?).ok_or_else(|| corrupt("status"))?;
    Ok(Trade {
        trade_id: text(0)?,
        kind,
        original_trade_id: opt(2)?,
        channel,
        amount: fen(r.get(4)?, "amount")?,
        fee: fen(r.get(5)?, "fee")?,
        rate: text(6)?,
        status,
        refunded_amount: fen(r.get(8)?, "refunded")?,
        terminal_sn: text(9)?,
        merchant_no: text(10)?,
        merchant_name: text(11)?,
        card_bin: opt(12)?,
        card_last4: opt(13)?,
        card_kind: opt(14)?,
        card_bank: opt(15)?,
        payer: opt(16)?,
        reference_no: text(17)?,
        batch_no: text(18)?,
        voucher_no: text(19)?,
        log_no: text(20)?,
        business_date: text(21)?,
        created_at_ms: r.get(22)?,
        updated_at_ms: r.get(23)?,
        change_seq: u64::try_from(r.get::<_, i64>(24)?).map_err(|_| corrupt("change_seq"))?,
    })
}

// ---------------------------------------------------------------------------
// Sync: the write path of the change feed and of trade events
// ---------------------------------------------------------------------------
//
// Every record reaches the table through [`upsert`], one rule for the feed
// and for events: a record is kept when it is new, or when it is a newer
// change (`change_seq` above the stored one) whose status may follow the
// stored status (`TradeStatus::may_become`). Otherwise the stored record
// stays and the incoming one is ignored:
//
// - an older or equal change never overwrites a newer one (the feed
//   delivering later what an event already applied is a no-op);
// - a newer change that would move the status backwards (`refunded` back to
//   `success`) or change what the record is (its kind) is not taken: the
//   phone keeps the furthest state it saw. The page is not refused for it:
//   a refused page would stop the sync at that record for ever, while the
//   record's next genuine change still applies.
//
// A void or refund record is a record of its own (its sale need not be on
// the phone yet).

/// What became of one incoming record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A trade the phone did not have.
    Inserted,
    /// A newer change of a trade the phone had, with the status it had.
    Updated { previous: TradeStatus },
    /// The stored record stays.
    Ignored(Ignored),
}

/// Why an incoming record was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Its `change_seq` is not above the stored one.
    NotNewer,
    /// Its status may not follow the stored one.
    StatusBackwards { stored: TradeStatus },
    /// It names another kind than the stored record.
    KindChanged { stored: TradeKind },
}

/// What applying one page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageApplied {
    /// One outcome per record, in the page's order.
    pub outcomes: Vec<RecordOutcome>,
    /// The committed cursor: the page's `next_after`.
    pub cursor: u64,
}

impl PageApplied {
    pub fn inserted(&self) -> usize {
        self.count(|o| matches!(o, RecordOutcome::Inserted))
    }

    pub fn updated(&self) -> usize {
        self.count(|o| matches!(o, RecordOutcome::Updated { .. }))
    }

    pub fn ignored(&self) -> usize {
        self.count(|o| matches!(o, RecordOutcome::Ignored(_)))
    }

    fn count(&self, f: impl Fn(&RecordOutcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(o)).count()
    }
}

/// Where the change feed stands on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedState {
    /// The last `change_seq` committed with its page (0 before the first).
    pub cursor: u64,
    /// When the last page was committed (unix ms).
    pub synced_at_ms: Option<i64>,
    /// The feed's estimate of the changes left after that page.
    pub remaining: Option<u64>,
    /// Trade records on the phone.
    pub trades: u64,
}

const INSERT: &str = "INSERT INTO trade (trade_id, kind, original_trade_id, channel, amount, fee, rate, status,
        refunded, terminal_sn, merchant_no, merchant_name, card_bin, card_last4, card_kind, card_bank,
        payer, reference_no, batch_no, voucher_no, log_no, business_date, created_at, updated_at, change_seq)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
             ?21, ?22, ?23, ?24, ?25)
     ON CONFLICT (trade_id) DO NOTHING";

const UPDATE: &str =
    "UPDATE trade SET kind = ?2, original_trade_id = ?3, channel = ?4, amount = ?5,
        fee = ?6, rate = ?7, status = ?8, refunded = ?9, terminal_sn = ?10, merchant_no = ?11,
        merchant_name = ?12, card_bin = ?13, card_last4 = ?14, card_kind = ?15, card_bank = ?16,
        payer = ?17, reference_no = ?18, batch_no = ?19, voucher_no = ?20, log_no = ?21,
        business_date = ?22, created_at = ?23, updated_at = ?24, change_seq = ?25
     WHERE trade_id = ?1 AND change_seq < ?25";

/// A `change_seq` or count as SQLite's INTEGER (the feed's checks keep
/// sequences within it; a count cannot leave it).
fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn bind_trade(stmt: &mut rusqlite::CachedStatement<'_>, t: &Trade) -> rusqlite::Result<usize> {
    stmt.execute(rusqlite::params![
        t.trade_id,
        t.kind.as_str(),
        t.original_trade_id,
        t.channel.as_str(),
        t.amount.to_fen(),
        t.fee.to_fen(),
        t.rate,
        t.status.as_str(),
        t.refunded_amount.to_fen(),
        t.terminal_sn,
        t.merchant_no,
        t.merchant_name,
        t.card_bin,
        t.card_last4,
        t.card_kind,
        t.card_bank,
        t.payer,
        t.reference_no,
        t.batch_no,
        t.voucher_no,
        t.log_no,
        t.business_date,
        t.created_at_ms,
        t.updated_at_ms,
        sql_int(t.change_seq),
    ])
}

/// Applies one checked record by the forward-only rule (see above). New
/// trades, the bulk of a first sync, cost one statement.
pub fn upsert(conn: &rusqlite::Connection, t: &Trade) -> Result<RecordOutcome> {
    if bind_trade(&mut conn.prepare_cached(INSERT)?, t)? == 1 {
        return Ok(RecordOutcome::Inserted);
    }
    let (kind, status, seq): (String, String, i64) = conn
        .prepare_cached("SELECT kind, status, change_seq FROM trade WHERE trade_id = ?1")?
        .query_row([&t.trade_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let stored_kind = TradeKind::parse(&kind).ok_or_else(|| corrupt("kind"))?;
    let stored = TradeStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
    if sql_int(t.change_seq) <= seq {
        return Ok(RecordOutcome::Ignored(Ignored::NotNewer));
    }
    if stored_kind != t.kind {
        return Ok(RecordOutcome::Ignored(Ignored::KindChanged {
            stored: stored_kind,
        }));
    }
    if !stored.wire().may_become(t.status.wire()) {
        return Ok(RecordOutcome::Ignored(Ignored::StatusBackwards { stored }));
    }
    match bind_trade(&mut conn.prepare_cached(UPDATE)?, t)? {
        1 => Ok(RecordOutcome::Updated { previous: stored }),
        _ => Ok(RecordOutcome::Ignored(Ignored::NotNewer)),
    }
}

/// Applies checked records in order, calling `hook` after each one inside
/// the same transaction (the place for detectors that must see exactly what
/// changed, such as alerts).
pub fn apply_records(
    conn: &rusqlite::Connection,
    records: &[Trade],
    mut hook: impl FnMut(&rusqlite::Connection, &Trade, RecordOutcome) -> Result<()>,
) -> Result<Vec<RecordOutcome>> {
    let mut outcomes = Vec::with_capacity(records.len());
    for t in records {
        let outcome = upsert(conn, t)?;
        hook(conn, t, outcome)?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Applies a checked page and moves the cursor to its `next_after`, all in
/// the caller's transaction: the page and its cursor commit together or not
/// at all. The stored cursor must still be the page's `after` (another
/// writer moved it: `trades.sync_cursor_moved`, nothing written).
pub fn apply_page(
    tx: &rusqlite::Transaction<'_>,
    page: &super::feed::ValidPage,
) -> Result<PageApplied> {
    apply_page_with(tx, page, |_, _, _| Ok(()))
}

/// [`apply_page`] calling `hook` after each record (see [`apply_records`]).
pub fn apply_page_with(
    tx: &rusqlite::Transaction<'_>,
    page: &super::feed::ValidPage,
    hook: impl FnMut(&rusqlite::Connection, &Trade, RecordOutcome) -> Result<()>,
) -> Result<PageApplied> {
    let cursor = feed_cursor(tx)?;
    if cursor != page.after {
        return Err(Error::new(&super::sync::SYNC_CURSOR_MOVED)
            .detail(format!("page after {}, stored cursor {cursor}", page.after)));
    }
    let outcomes = apply_records(tx, &page.records, hook)?;
    tx.prepare_cached(
        "INSERT INTO trade_feed (id, after, remaining, synced_at) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET after = excluded.after, remaining = excluded.remaining,
             synced_at = excluded.synced_at",
    )?
    .execute(rusqlite::params![
        sql_int(page.next_after),
        sql_int(page.remaining),
        chrono::Utc::now().timestamp_millis()
    ])?;
    Ok(PageApplied {
        outcomes,
        cursor: page.next_after,
    })
}

/// The committed cursor (0 before the first page).
pub fn feed_cursor(conn: &rusqlite::Connection) -> Result<u64> {
    use rusqlite::OptionalExtension as _;
    let after: Option<i64> = conn
        .prepare_cached("SELECT after FROM trade_feed WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    u64::try_from(after.unwrap_or(0)).map_err(|_| corrupt("feed cursor"))
}

/// The cursor, when it was committed, the feed's estimate and the number of
/// trade records on the phone.
pub fn feed_state(conn: &rusqlite::Connection) -> Result<FeedState> {
    use rusqlite::OptionalExtension as _;
    let row: Option<(i64, Option<i64>, Option<i64>)> = conn
        .query_row(
            "SELECT after, remaining, synced_at FROM trade_feed WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let trades: i64 = conn.query_row("SELECT count(*) FROM trade", [], |r| r.get(0))?;
    let (cursor, remaining, synced_at_ms) = row.unwrap_or((0, None, None));
    Ok(FeedState {
        cursor: u64::try_from(cursor).map_err(|_| corrupt("feed cursor"))?,
        synced_at_ms,
        remaining: remaining.map(|r| u64::try_from(r).unwrap_or(0)),
        trades: u64::try_from(trades).unwrap_or(0),
    })
}
