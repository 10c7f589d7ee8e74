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
