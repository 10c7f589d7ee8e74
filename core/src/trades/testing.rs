//! Test helpers: trade rows inserted with plain SQL (the sync's upsert is
//! not needed to test queries, summaries and exports), and a generator with
//! the platform's mix for random and large data.

use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};

use crate::money::Channel;
use crate::trades::model::{TradeKind, TradeStatus};

/// One row to insert; `Row::sale(n, at)` gives a plausible successful sale.
#[derive(Debug, Clone)]
pub struct Row {
    pub trade_id: String,
    pub kind: TradeKind,
    pub original_trade_id: Option<String>,
    pub channel: Channel,
    pub amount: i64,
    pub fee: i64,
    pub status: TradeStatus,
    pub refunded: i64,
    pub terminal_sn: String,
    pub card_last4: Option<String>,
    pub reference_no: String,
    pub log_no: String,
    pub created_at: i64,
}

pub const TERMINALS: [&str; 3] = ["LKLA800000001", "LKLA800000002", "LKLA800000003"];

impl Row {
    /// A successful WeChat sale number `n` of 100.00 yuan (fee 0.38).
    pub fn sale(n: u64, created_at: i64) -> Row {
        Row {
            trade_id: format!("T{n:020}"),
            kind: TradeKind::Sale,
            original_trade_id: None,
            channel: Channel::WeChat,
            amount: 10_000,
            fee: 38,
            status: TradeStatus::Success,
            refunded: 0,
            terminal_sn: TERMINALS[0].to_owned(),
            card_last4: None,
            reference_no: format!("{:012}", n),
            log_no: format!("{:014}", n),
            created_at,
        }
    }
}

/// Inserts `rows` (one transaction is the caller's choice).
pub fn insert(conn: &Connection, rows: &[Row]) {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO trade (trade_id, kind, original_trade_id, channel, amount, fee, rate, status,
                refunded, terminal_sn, merchant_no, merchant_name, card_bin, card_last4, card_kind,
                card_bank, payer, reference_no, batch_no, voucher_no, log_no, business_date,
                created_at, updated_at, change_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, '0.38', ?7, ?8, ?9, '822290058120001', '老王便利店',
                ?10, ?11, ?12, NULL, NULL, ?13, '000001', '000001', ?14, '2025-06-01', ?15, ?15, ?16)",
        )
        .expect("prepare insert");
    for r in rows {
        let bin = r.card_last4.as_ref().map(|_| "622848");
        let card_kind = r.card_last4.as_ref().map(|_| "debit");
        stmt.execute(params![
            r.trade_id,
            r.kind.as_str(),
            r.original_trade_id,
            r.channel.as_str(),
            r.amount,
            r.fee,
            r.status.as_str(),
            r.refunded,
            r.terminal_sn,
            bin,
            r.card_last4,
            card_kind,
            r.reference_no,
            r.log_no,
            r.created_at,
            r.created_at,
        ])
        .expect("insert trade");
    }
}

/// `n` rows with the platform's mix (channels, mostly successful sales, a
/// few pending, failed, closed, refunded and voided, refunds and voids as
/// their own records), spread evenly over `[from_ms, from_ms + span_ms)`,
/// in time order, from a seeded generator. Several rows may share a
/// millisecond (`span_ms` smaller than `n`).
pub fn generate(seed: u64, n: u64, from_ms: i64, span_ms: i64) -> Vec<Row> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rows: Vec<Row> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = from_ms + (i as i128 * span_ms as i128 / n.max(1) as i128) as i64;
        rows.push(draw(&mut rng, i, at, &rows));
    }
    rows
}

fn draw(rng: &mut impl Rng, i: u64, at: i64, earlier: &[Row]) -> Row {
    let channel = match rng.random_range(0..100u32) {
        0..45 => Channel::WeChat,
        45..75 => Channel::Alipay,
        75..80 => Channel::UnionPayQr,
        80..91 => Channel::DebitCard,
        _ => Channel::CreditCard,
    };
    let amount: i64 = match rng.random_range(0..100u32) {
        0..55 => rng.random_range(200..4_000),
        55..85 => rng.random_range(4_000..15_000),
        85..97 => rng.random_range(15_000..60_000),
        _ => rng.random_range(60_000..2_000_000),
    };
    let fee = (amount * 38 + 5_000) / 10_000;
    let mut row = Row::sale(i + 1, at);
    row.channel = channel;
    row.amount = amount;
    row.fee = fee.min(amount);
    row.terminal_sn = TERMINALS[rng.random_range(0..TERMINALS.len())].to_owned();
    row.reference_no = format!("{:012}", rng.random_range(0..1_000_000_000_000u64));
    row.log_no = format!("2025{:010}", i + 1);
    if !channel.is_scan_code() {
        row.card_last4 = Some(format!("{:04}", rng.random_range(0..10_000u32)));
    }
    let p = rng.random_range(0..1000u32);
    // A void or refund record of an earlier sale now and then.
    if p < 70
        && let Some(orig) = earlier.get(rng.random_range(0..earlier.len().max(1)))
        && orig.kind == TradeKind::Sale
    {
        let (kind, prefix) = if p < 20 {
            (TradeKind::Void, 'V')
        } else {
            (TradeKind::Refund, 'R')
        };
        row.trade_id = format!("{prefix}{:020}", i + 1);
        row.kind = kind;
        row.original_trade_id = Some(orig.trade_id.clone());
        row.channel = orig.channel;
        row.terminal_sn = orig.terminal_sn.clone();
        row.card_last4 = orig.card_last4.clone();
        row.amount = if kind == TradeKind::Void {
            orig.amount
        } else {
            rng.random_range(1..=orig.amount)
        };
        row.fee = if kind == TradeKind::Void {
            orig.fee
        } else {
            orig.fee * row.amount / orig.amount
        };
        row.status = if rng.random_range(0..10u32) == 0 {
            TradeStatus::Failed
        } else {
            TradeStatus::Success
        };
        return row;
    }
    row.status = match p {
        70..80 => TradeStatus::Pending,
        80..90 => TradeStatus::Failed,
        90..100 => TradeStatus::Closed,
        100..120 => TradeStatus::PartiallyRefunded,
        120..150 => TradeStatus::Refunded,
        150..160 => TradeStatus::Voided,
        _ => TradeStatus::Success,
    };
    if row.status == TradeStatus::Refunded {
        row.refunded = row.amount;
    } else if row.status == TradeStatus::PartiallyRefunded {
        row.refunded = (row.amount / 2).max(1).min(row.amount - 1).max(0);
        if row.amount < 2 {
            row.status = TradeStatus::Refunded;
            row.refunded = row.amount;
        }
    }
    if matches!(row.status, TradeStatus::Pending | TradeStatus::Closed) && !channel.is_scan_code() {
        row.status = TradeStatus::Failed;
    }
    row
}

/// A database in `dir` with the newest schema and `rows` inserted.
pub fn store_with(dir: &std::path::Path, rows: &[Row]) -> crate::store::Db {
    let db = crate::store::Db::open(&dir.join("trades.db")).expect("open store");
    db.write(|tx| {
        insert(tx, rows);
        Ok(())
    })
    .expect("insert rows");
    db
}
