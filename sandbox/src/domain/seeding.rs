//! Bulk seeding (`POST /sandbox/trades/seed`): a merchant's history of
//! `count` sales over the `days` business days ending yesterday, drawn as
//! the stream draws them, written in one transaction through prepared
//! statements, for benches and tests.
//!
//! - Sales: the stream's channels, amounts, cards and payers
//!   ([`generator::draw_trade`], [`generator::draw_life`]); spread evenly
//!   over the days (the first days take the remainder), at random times
//!   between 08:00 and 22:00; every one final: a scan code drawn pending is
//!   `success` or `closed` as of 5–60 s later, a card drawn declined is
//!   `failed`.
//! - After each sale, as the stream does, one time in 20 a refund of one of
//!   the 20 latest refundable sales (cut to the day's takings), and one time
//!   in 100 a void of the latest card sale of the same day that is still
//!   `success`.
//! - `change_seq` rises in the order things happened; the feed's buckets are
//!   recounted at the end. The days are settled (unless `settle: false`)
//!   without events; nothing emits events.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use merchant_contract::domain::sandbox::{SeedTrades, SeededTrades};
use merchant_contract::domain::{self as wire, TradeKind, TradeStatus};
use merchant_contract::wire::FieldError;
use merchant_core::money::Channel;
use rand::{Rng, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use ring::digest;
use rusqlite::{Connection, params};

use super::generator;
use super::merchant::{self, Profile};
use super::settlements;
use super::terminals;
use super::trades::{self, CHANGE, FEED_BUCKET, INSERT, counter, day_of, day_start, log_no};
use crate::error::ApiError;
use crate::guard::JsonBody;
use crate::state::AppState;

/// The most sales one call seeds.
pub const SEED_COUNT_MAX: u32 = 2_000_000;
/// The most days one call spreads them over.
pub const SEED_DAYS_MAX: u32 = 3_660;
/// Percent of sales followed by a void of a card sale of the same day.
pub const SEED_VOID_PERCENT: u32 = 1;
/// Opening hours of the seeded days (seconds after midnight).
const OPEN: i64 = 8 * 3600;
const CLOSE: i64 = 22 * 3600;

/// A sale that may still be refunded or voided.
#[derive(Debug, Clone)]
struct Open {
    seq: i64,
    trade_id: String,
    channel: Channel,
    rate: String,
    amount: i64,
    fee: i64,
    refunded: i64,
    fee_returned: i64,
    terminal_sn: String,
    card: Option<(String, String, String, Option<String>)>,
    payer: Option<String>,
    day: String,
}

/// The running state of one seeding.
struct Run<'a> {
    conn: &'a Connection,
    p: &'a Profile,
    seed: u64,
    tag: u32,
    change: i64,
    /// 流水号 counter of the current day.
    log: i64,
    /// 凭证号 counters of the current day, per terminal.
    vouchers: HashMap<String, i64>,
    day: String,
    /// The day's takings so far (net, fen): refunds must fit in them.
    takings: i64,
    recent: VecDeque<Open>,
    refunds: i64,
    voids: i64,
    payers: HashMap<(Channel, u32), Option<String>>,
}

fn merchant_tag(merchant_id: &str) -> u32 {
    let d = digest::digest(&digest::SHA256, merchant_id.as_bytes());
    let mut b = [0u8; 4];
    b.copy_from_slice(&d.as_ref()[..4]);
    u32::from_be_bytes(b) % 10_000
}

impl Run<'_> {
    fn open_day(&mut self, day: &str, sns: &[String]) -> Result<(), ApiError> {
        self.close_day()?;
        self.day = day.to_owned();
        self.takings = 0;
        self.log = counter(self.conn, &self.p.merchant_id, &format!("log:{day}"))?;
        self.vouchers.clear();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT n FROM dom_vouchers WHERE sn = ?1 AND day = ?2")?;
        for sn in sns {
            use rusqlite::OptionalExtension as _;
            let n: Option<i64> = stmt.query_row(params![sn, day], |r| r.get(0)).optional()?;
            self.vouchers.insert(sn.clone(), n.unwrap_or(0));
        }
        Ok(())
    }

    /// Writes the current day's counters back.
    fn close_day(&mut self) -> Result<(), ApiError> {
        if self.day.is_empty() {
            return Ok(());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO dom_counters (merchant_id, scope, n) VALUES (?1, ?2, ?3)
                 ON CONFLICT (merchant_id, scope) DO UPDATE SET n = ?3",
            )?
            .execute(params![
                self.p.merchant_id,
                format!("log:{}", self.day),
                self.log
            ])?;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO dom_vouchers (sn, day, n) VALUES (?1, ?2, ?3)
             ON CONFLICT (sn, day) DO UPDATE SET n = ?3",
        )?;
        for (sn, n) in &self.vouchers {
            if *n > 0 {
                stmt.execute(params![sn, self.day, n])?;
            }
        }
        Ok(())
    }

    /// 批次号, 凭证号, 流水号 and `change_seq` of a new record.
    fn numbers(&mut self, sn: &str, at: i64) -> (String, String, String, i64) {
        let v = self.vouchers.entry(sn.to_owned()).or_insert(0);
        *v += 1;
        let voucher = format!("{:06}", v.rem_euclid(1_000_000));
        self.log += 1;
        self.change += 1;
        (
            generator::batch_no(sn, trades::day_index(at)),
            voucher,
            log_no(&self.day, self.log),
            self.change,
        )
    }

    fn payer(&mut self, channel: Channel, index: u32) -> Option<String> {
        let (seed, mid) = (self.seed, &self.p.merchant_id);
        self.payers
            .entry((channel, index))
            .or_insert_with(|| generator::payer(seed, mid, channel, index))
            .clone()
    }

    /// One sale at `at`, drawn as the merchant's `n`th generated trade.
    fn sale(&mut self, n: u64, at: i64, sns: &[String]) -> Result<(), ApiError> {
        let mut rng = generator::trade_rng(self.seed, &self.p.merchant_id, n);
        let drawn = generator::draw_trade(&mut rng, None, None);
        let _digits = rng.random_range(0..1_000_000_000_000u64);
        let life = generator::draw_life(&mut rng, drawn.channel);
        let payer_index = generator::draw_payer_index(&mut rng);
        let payer = self.payer(drawn.channel, payer_index);
        let sn = sns
            .get(rng.random_range(0..sns.len().max(1)))
            .cloned()
            .unwrap_or_default();
        let agreed = self
            .p
            .rates
            .rate(drawn.channel)
            .map_err(|e| ApiError::internal(format!("rate table: {e}")))?;
        let rate = agreed.rate_for(drawn.amount).to_string();
        let fee = agreed.fee(drawn.amount).to_fen();
        let amount = drawn.amount.to_fen();
        let (status, updated_at) = if life.pending {
            let at_end = at + life.delay_secs;
            if life.closes {
                (TradeStatus::Closed, at_end)
            } else {
                (TradeStatus::Success, at_end)
            }
        } else if life.failed {
            (TradeStatus::Failed, at)
        } else {
            (TradeStatus::Success, at)
        };
        let trade_id = format!(
            "T{}{:04}{:08}",
            self.day.replace('-', ""),
            self.tag,
            n % 100_000_000
        );
        let (batch_no, voucher_no, log, change_seq) = self.numbers(&sn, at);
        let card = drawn.card.as_ref().map(|c| {
            (
                c.bin.clone(),
                c.last4.clone(),
                c.info
                    .as_ref()
                    .and_then(|i| serde_json::to_value(i.card_kind).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "unknown".to_owned()),
                c.info.as_ref().map(|i| i.bank_name.clone()),
            )
        });
        self.conn.prepare_cached(INSERT)?.execute(params![
            trade_id,
            self.p.merchant_id,
            TradeKind::Sale.as_str(),
            None::<String>,
            drawn.channel.as_str(),
            amount,
            fee,
            rate,
            status.as_str(),
            sn,
            self.p.merchant_no,
            self.p.shop_name.as_deref().unwrap_or("个体商户"),
            card.as_ref().map(|c| c.0.as_str()),
            card.as_ref().map(|c| c.1.as_str()),
            card.as_ref().map(|c| c.2.as_str()),
            card.as_ref().and_then(|c| c.3.as_deref()),
            payer,
            drawn.reference_no,
            batch_no,
            voucher_no,
            log,
            None::<String>,
            at,
            updated_at,
            self.day,
            change_seq,
            None::<i64>,
            None::<String>,
            None::<String>,
        ])?;
        if status == TradeStatus::Success {
            self.takings += amount - fee;
            self.recent.push_front(Open {
                seq: self.conn.last_insert_rowid(),
                trade_id,
                channel: drawn.channel,
                rate,
                amount,
                fee,
                refunded: 0,
                fee_returned: 0,
                terminal_sn: sn,
                card,
                payer,
                day: self.day.clone(),
            });
            self.recent.truncate(generator::REFUND_RECENT);
        }
        Ok(())
    }

    /// The void or refund record of `sale` at `at`.
    #[allow(clippy::too_many_arguments)]
    fn reversal(
        &mut self,
        sale: &Open,
        kind: TradeKind,
        amount: i64,
        fee: i64,
        reason: &str,
        at: i64,
        rng: &mut impl Rng,
    ) -> Result<(), ApiError> {
        let (prefix, scope) = match kind {
            TradeKind::Void => ('V', "draw:void"),
            _ => ('R', "draw:refund"),
        };
        let n = match kind {
            TradeKind::Void => {
                self.voids += 1;
                self.voids
            }
            _ => {
                self.refunds += 1;
                self.refunds
            }
        };
        let base = counter(self.conn, &self.p.merchant_id, scope)?;
        let id = format!(
            "{prefix}{}{:04}{:08}",
            self.day.replace('-', ""),
            self.tag,
            (base + n).rem_euclid(100_000_000)
        );
        let (batch_no, voucher_no, log, change_seq) = self.numbers(&sale.terminal_sn, at);
        self.conn.prepare_cached(INSERT)?.execute(params![
            id,
            self.p.merchant_id,
            kind.as_str(),
            sale.trade_id,
            sale.channel.as_str(),
            amount,
            fee,
            sale.rate,
            TradeStatus::Success.as_str(),
            sale.terminal_sn,
            self.p.merchant_no,
            self.p.shop_name.as_deref().unwrap_or("个体商户"),
            sale.card.as_ref().map(|c| c.0.as_str()),
            sale.card.as_ref().map(|c| c.1.as_str()),
            sale.card.as_ref().map(|c| c.2.as_str()),
            sale.card.as_ref().and_then(|c| c.3.as_deref()),
            sale.payer,
            generator::draw_reference_no(rng),
            batch_no,
            voucher_no,
            log,
            Some(reason),
            at,
            at,
            self.day,
            change_seq,
            None::<i64>,
            None::<String>,
            None::<String>,
        ])?;
        Ok(())
    }

    /// What may follow the sale drawn as the `n`th: a refund (one time in
    /// 20) of a recent sale, a void (one time in 100) of the latest card
    /// sale of the day.
    fn after_sale(&mut self, n: u64, at: i64) -> Result<(), ApiError> {
        let mut rng = generator::refund_rng(self.seed, &self.p.merchant_id, n);
        if let Some(drawn) = generator::draw_stream_refund(&mut rng, self.recent.len())
            && let Some(sale) = self.recent.get(drawn.pick).cloned()
        {
            let left = sale.amount - sale.refunded;
            let fen = generator::refund_fen(left, drawn.percent).min(self.takings);
            if let Some(back) = (fen > 0)
                .then(|| {
                    super::ledger::fee_returned(
                        sale.amount,
                        sale.fee,
                        sale.refunded,
                        sale.fee_returned,
                        fen,
                    )
                })
                .flatten()
            {
                self.reversal(
                    &sale,
                    TradeKind::Refund,
                    fen,
                    back,
                    drawn.reason,
                    at,
                    &mut rng,
                )?;
                let refunded = sale.refunded + fen;
                let status = if refunded < sale.amount {
                    TradeStatus::PartiallyRefunded
                } else {
                    TradeStatus::Refunded
                };
                self.change += 1;
                self.conn
                    .prepare_cached(
                        "UPDATE dom_trades SET refunded = ?2, fee_returned = fee_returned + ?3,
                            status = ?4, updated_at = ?5, change_seq = ?6 WHERE seq = ?1",
                    )?
                    .execute(params![
                        sale.seq,
                        refunded,
                        back,
                        status.as_str(),
                        at,
                        self.change
                    ])?;
                self.takings -= fen - back;
                if let Some(open) = self.recent.iter_mut().find(|o| o.seq == sale.seq) {
                    open.refunded = refunded;
                    open.fee_returned += back;
                }
                self.recent.retain(|o| o.refunded < o.amount);
            }
        }
        if rng.random_range(0..100u32) < SEED_VOID_PERCENT
            && let Some(i) = self
                .recent
                .iter()
                .position(|o| !o.channel.is_scan_code() && o.refunded == 0 && o.day == self.day)
            && let Some(sale) = self.recent.remove(i)
        {
            self.reversal(
                &sale,
                TradeKind::Void,
                sale.amount,
                sale.fee,
                "顾客取消交易",
                at,
                &mut rng,
            )?;
            self.change += 1;
            self.conn
                .prepare_cached(
                    "UPDATE dom_trades SET status = 'voided', updated_at = ?2, change_seq = ?3
                     WHERE seq = ?1",
                )?
                .execute(params![sale.seq, at, self.change])?;
            self.takings -= sale.amount - sale.fee;
        }
        Ok(())
    }
}

/// Seeds `count` sales over the `days` days before `today` for the active
/// merchant `p` inside the caller's transaction. Returns (sales, reversals).
pub fn seed_with(
    state: &AppState,
    conn: &Connection,
    p: &Profile,
    count: u32,
    days: u32,
    today: NaiveDate,
    settle: bool,
) -> Result<(u64, u64), ApiError> {
    let sns = terminals::serials_of(conn, &p.merchant_id)?;
    if sns.is_empty() {
        return Err(ApiError::new(&wire::SANDBOX_NO_TERMINAL));
    }
    let first = today
        .checked_sub_days(chrono::Days::new(u64::from(days)))
        .ok_or_else(|| {
            ApiError::fields(vec![FieldError::new("days", wire::FIELD_SEED_DAYS.code)])
        })?;
    let day_names: Vec<(NaiveDate, String)> = (0..days)
        .filter_map(|i| first.checked_add_days(chrono::Days::new(u64::from(i))))
        .map(|d| (d, day_of(day_start(d))))
        .collect();
    for (_, day) in &day_names {
        if trades::day_settled(conn, &p.merchant_id, day)? {
            return Err(
                ApiError::new(&wire::SETTLEMENT_DAY_CLOSED).detail("a seeded day is settled")
            );
        }
    }
    let draws: i64 = conn.query_row(
        "UPDATE dom_merchants SET trade_draws = trade_draws + ?2 WHERE merchant_id = ?1
         RETURNING trade_draws - ?2",
        params![p.merchant_id, i64::from(count)],
        |r| r.get(0),
    )?;
    let mut run = Run {
        conn,
        p,
        seed: state.seed(),
        tag: merchant_tag(&p.merchant_id),
        change: counter(conn, &p.merchant_id, CHANGE)?,
        log: 0,
        vouchers: HashMap::new(),
        day: String::new(),
        takings: 0,
        recent: VecDeque::new(),
        refunds: 0,
        voids: 0,
        payers: HashMap::new(),
    };
    let per_day = u64::from(count) / u64::from(days.max(1));
    let extra = u64::from(count) % u64::from(days.max(1));
    let mut n = u64::try_from(draws).unwrap_or(0);
    let mut last_at = 0;
    for (i, (date, day)) in day_names.iter().enumerate() {
        let k = per_day + u64::from((i as u64) < extra);
        if k == 0 {
            continue;
        }
        run.open_day(day, &sns)?;
        let mut day_rng = {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(b"merchant-sandbox seeded day v1\0");
            ctx.update(&state.seed().to_be_bytes());
            ctx.update(p.merchant_id.as_bytes());
            ctx.update(day.as_bytes());
            ctx.update(&n.to_be_bytes());
            let mut key = [0u8; 32];
            key.copy_from_slice(ctx.finish().as_ref());
            ChaCha8Rng::from_seed(key)
        };
        let start = day_start(*date);
        let mut times: Vec<i64> = (0..k)
            .map(|_| start + day_rng.random_range(OPEN..CLOSE))
            .collect();
        times.sort_unstable();
        for at in times {
            n += 1;
            run.sale(n, at, &sns)?;
            run.after_sale(n, at)?;
            last_at = at;
        }
    }
    run.close_day()?;
    let reversals = u64::try_from(run.refunds + run.voids).unwrap_or(0);
    // The counters and the feed's buckets, as they now stand.
    let mut set = conn.prepare_cached(
        "INSERT INTO dom_counters (merchant_id, scope, n) VALUES (?1, ?2, ?3)
         ON CONFLICT (merchant_id, scope) DO UPDATE SET n = ?3",
    )?;
    set.execute(params![p.merchant_id, CHANGE, run.change])?;
    for (scope, k) in [("draw:refund", run.refunds), ("draw:void", run.voids)] {
        let base = counter(conn, &p.merchant_id, scope)?;
        set.execute(params![p.merchant_id, scope, base + k])?;
    }
    conn.execute(
        "DELETE FROM dom_feed_buckets WHERE merchant_id = ?1",
        params![p.merchant_id],
    )?;
    conn.execute(
        "INSERT INTO dom_feed_buckets (merchant_id, bucket, live)
         SELECT merchant_id, change_seq / ?2, COUNT(*) FROM dom_trades
         WHERE merchant_id = ?1 GROUP BY change_seq / ?2",
        params![p.merchant_id, FEED_BUCKET],
    )?;
    for sn in &sns {
        terminals::note_trade(conn, &p.merchant_id, sn, last_at)?;
    }
    if settle {
        for (date, day) in &day_names {
            let has_records = conn
                .prepare_cached(
                    "SELECT 1 FROM dom_trades WHERE merchant_id = ?1 AND day = ?2 LIMIT 1",
                )?
                .exists(params![p.merchant_id, day])?;
            if has_records {
                let at = day_start(*date) + 86_400 + 9 * 3600;
                settlements::settle_with(state, conn, p, day, 0, at, true)?;
            }
        }
    }
    Ok((u64::from(count), reversals))
}

/// `POST /sandbox/trades/seed`.
pub async fn seed_trades(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<SeedTrades>,
) -> Result<Json<SeededTrades>, ApiError> {
    let mut problems = Vec::new();
    if !(1..=SEED_COUNT_MAX).contains(&req.count) {
        problems.push(FieldError::new("count", wire::FIELD_SEED_COUNT.code));
    }
    if !(1..=SEED_DAYS_MAX).contains(&req.days) {
        problems.push(FieldError::new("days", wire::FIELD_SEED_DAYS.code));
    }
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let started = Instant::now();
    let today = crate::clock::to_china(state.now_unix()).date_naive();
    state.db(|conn| {
        let tx = conn.transaction()?;
        if !state.merchant_exists(&tx, &req.merchant_id)? {
            return Err(ApiError::new(&wire::SANDBOX_MERCHANT_UNKNOWN));
        }
        let p = merchant::require_active(&tx, &req.merchant_id)?;
        let (sales, reversals) = seed_with(
            &state,
            &tx,
            &p,
            req.count,
            req.days,
            today,
            req.settle.unwrap_or(true),
        )?;
        let last = counter(&tx, &p.merchant_id, CHANGE)?;
        tx.commit()?;
        Ok(Json(SeededTrades {
            merchant_id: req.merchant_id.clone(),
            trades: sales,
            reversals,
            last_change_seq: u64::try_from(last).unwrap_or(0),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }))
    })
}
