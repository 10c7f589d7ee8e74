//! Area `trades`: a year of a busy shop's trades (`--rows`, default one
//! million sales, plus the voids and refunds the generator makes) on the
//! phone, each figure beside its reference in the same run:
//!
//! - ingest: platform-format signed pages (the feed's JSON, signed as the
//!   platform signs answers) verified, decoded, checked and applied page by
//!   page through `trades::sync::ingest_page`, against a bare rusqlite
//!   prepared insert of the same rows into the same table and indexes in one
//!   transaction;
//! - pages of 50 over 15 filter mixes (first and second page of each),
//!   through `MerchantCore::trade_page`, against the same SQL through bare
//!   rusqlite on the same file;
//! - the month summary, the cold open of the store to its first page;
//! - the end-to-end first sync from the embedded sandbox over loopback TLS
//!   in a child process, whose peak resident memory is the sync's.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use merchant_contract::domain::sandbox::{Inventory, SeededTrades};
use merchant_contract::envelope::{PlatformPublicKey, PlatformSigner, ResponseSignature};
use merchant_contract::wire::sandbox as sbx;
use merchant_core::money::{Amount, Channel};
use merchant_core::platform::Call;
use merchant_core::store::{DB_FILE, Db, FileSecretStore, SecretStore, merchant_dir};
use merchant_core::trades::hook::TradeHook;
use merchant_core::trades::query::{self, TradeFilter};
use merchant_core::trades::summary::SummaryRange;
use merchant_core::trades::{Trade, TradeKind, TradeStatus, feed, sync};
use merchant_core::{CoreConfig, Lang, MerchantCore};
use merchant_sandbox::{DEFAULT_APP_ID, SANDBOX_PLATFORM_KEY_PKCS8, Sandbox, SandboxConfig};
use serde::{Deserialize, Serialize};

use super::{Area, Figure, Options, child_run, time};
use crate::demo::{Platform, control_call, control_get};

pub const AREA: Area = Area {
    name: "trades",
    about: "a year of trades on the phone: ingest, pages, summary, cold open, end-to-end sync",
    run,
    child,
};

const DEFAULT_ROWS: usize = 1_000_000;
/// The merchant the bench makes on the embedded sandbox.
const PHONE: &str = "13900000000";
/// Days the seeded sales spread over, ending yesterday.
const DAYS: u32 = 365;
/// Sales seeded per control call.
const SEED_PART: usize = 50_000;
/// Records per feed page (the contract's maximum).
const FEED_PAGE: u32 = 1000;
/// Rows per history page.
const PAGE: u32 = 50;
/// Timed runs of each page (first and second) of each mix.
const PAGE_RUNS: usize = 15;

/// What the parent hands the sync child: where the core keeps its data and
/// keys, and the platform.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct ChildInput {
    pub(super) data_dir: String,
    pub(super) keys_dir: String,
    pub(super) platform_url: String,
    pub(super) platform_pin: Option<String>,
    pub(super) platform_public_key: String,
}

impl ChildInput {
    pub(super) fn config(&self) -> CoreConfig {
        CoreConfig {
            data_dir: self.data_dir.clone(),
            platform_url: self.platform_url.clone(),
            platform_pin: self.platform_pin.clone(),
            platform_public_key: self.platform_public_key.clone(),
            app_id: DEFAULT_APP_ID.to_owned(),
            language: Lang::Zh,
            trusted_qr_hosts: Vec::new(),
        }
    }

    pub(super) fn secrets(&self) -> Result<Arc<dyn SecretStore>, String> {
        let store: Arc<dyn SecretStore> =
            FileSecretStore::new(self.keys_dir.clone()).map_err(|e| e.to_string())?;
        Ok(store)
    }
}

pub(super) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What a bench on the embedded sandbox starts from: its runtime, a
/// scratch folder, the sandbox (TLS; the anti-abuse cap on a device's
/// nonces, 600 live ones, about two signed requests a second, lifted so
/// the figures are the core's and not the pacing's), and the phone's
/// folders for the core and a child process. Destructure it in this order:
/// the sandbox is dropped before its runtime.
pub(super) struct Setup {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) dir: tempfile::TempDir,
    pub(super) sandbox: merchant_sandbox::RunningSandbox,
    pub(super) platform: Platform,
    pub(super) input: ChildInput,
}

pub(super) fn setup() -> Result<Setup, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?;
    let dir = tempfile::tempdir().map_err(err)?;
    let sandbox = rt
        .block_on(Sandbox::start(SandboxConfig {
            tls: true,
            nonces_per_device: 1_000_000,
            nonce_capacity: 2_000_000,
            ..SandboxConfig::default()
        }))
        .map_err(err)?;
    let platform = Platform {
        url: sandbox.base_url.clone(),
        pin: sandbox.pin.clone(),
        public_key: sandbox.platform_public_key.clone(),
        embedded: None,
    };
    let input = ChildInput {
        data_dir: dir.path().join("data").to_string_lossy().into_owned(),
        keys_dir: dir.path().join("keys").to_string_lossy().into_owned(),
        platform_url: platform.url.clone(),
        platform_pin: platform.pin.clone(),
        platform_public_key: platform.public_key.clone(),
    };
    Ok(Setup {
        rt,
        dir,
        sandbox,
        platform,
        input,
    })
}

fn run(options: &Options) -> Result<Vec<Figure>, String> {
    let rows = options.rows.unwrap_or(DEFAULT_ROWS).clamp(1, 2_000_000);
    let Setup {
        rt,
        dir,
        sandbox,
        platform,
        input,
    } = setup()?;
    let core = MerchantCore::new(input.config(), input.secrets()?).map_err(err)?;
    let merchant_id = rt.block_on(shop(&core, &platform, PHONE))?;
    let records = rt.block_on(seed_year(&platform, &merchant_id, rows))?;

    let pages = signed_pages(&rt, &core)?;
    drop(core);

    let key = PlatformPublicKey::from_base64(&platform.public_key).map_err(err)?;
    let ingest_s = ingest(&pages, &key, &dir.path().join("ingest.db"), None)?;
    let raw_s = raw_insert(&pages, &dir.path().join("raw.db"))?;
    drop(pages);

    // The first sync, end to end, in a child: its peak memory is the sync's.
    let input_file = dir.path().join("child.json");
    std::fs::write(&input_file, serde_json::to_vec(&input).map_err(err)?).map_err(err)?;
    let synced =
        child_run(AREA.name, "sync", &input_file).ok_or("the sync child failed (see above)")?;
    let sync_ms = synced
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("sync_ms "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("the sync child printed no time")?;

    // Cold open of the synced store to its first page.
    let cold_start = Instant::now();
    let core = MerchantCore::new(input.config(), input.secrets()?).map_err(err)?;
    let first = rt
        .block_on(core.trade_page(TradeFilter::default(), None, PAGE))
        .map_err(err)?;
    let cold_ms = cold_start.elapsed().as_secs_f64() * 1000.0;
    let newest = first
        .trades
        .first()
        .cloned()
        .ok_or("no trade on the phone")?;

    let mixes = mixes(&rt, &core, &newest)?;
    let db_path = merchant_dir(Path::new(&input.data_dir), &merchant_id)
        .map_err(err)?
        .join(DB_FILE);
    let (core_times, raw_times) = pages_timed(&rt, &core, &db_path, &mixes)?;

    let month = newest
        .business_date
        .get(..7)
        .ok_or("a business date")?
        .to_owned();
    // The month before the newest trade's: a whole month of trades.
    let month = previous_month(&month).unwrap_or(month);
    let summary = time(options.runs, || {
        rt.block_on(core.trade_summary(SummaryRange::Month {
            month: month.clone(),
        }))
    });
    drop(core);
    rt.block_on(sandbox.shutdown());

    let per_s = |n: u64, s: f64| (s > 0.0).then(|| n as f64 / s);
    let ingest_rate = per_s(records, ingest_s);
    let raw_rate = per_s(records, raw_s);
    let (p50, p99) = (percentile(&core_times, 50.0), percentile(&core_times, 99.0));
    let raw_p99 = percentile(&raw_times, 99.0);
    Ok(vec![
        Figure::new("rows", Some(rows as f64), "", "sales seeded over a year"),
        Figure::new(
            "records",
            Some(records as f64),
            "",
            "trade records on the phone (sales, voids and refunds)",
        ),
        Figure::new(
            "ingest_rows_per_s",
            ingest_rate,
            "/s",
            "signed feed pages verified, decoded, checked and applied (a transaction a page)",
        ),
        Figure::new(
            "raw_insert_rows_per_s",
            raw_rate,
            "/s",
            "reference: bare rusqlite prepared insert of the same rows, one transaction",
        ),
        Figure::ratio(
            "ingest_ratio",
            ingest_rate,
            raw_rate,
            "ingest_rows_per_s / raw_insert_rows_per_s (goal >= 0.7)",
        ),
        Figure::new(
            "page_p50_ms",
            p50,
            "ms",
            "trade_page of 50, 15 filter mixes, first and second page",
        ),
        Figure::new(
            "page_p99_ms",
            p99,
            "ms",
            "the same, 99th percentile (goal <= 1)",
        ),
        Figure::new(
            "page_raw_p99_ms",
            raw_p99,
            "ms",
            "reference: the same SQL through bare rusqlite, 99th percentile",
        ),
        Figure::ratio(
            "page_ratio",
            p99,
            raw_p99,
            "page_p99_ms / page_raw_p99_ms (goal <= 1.2)",
        ),
        Figure::new(
            "month_summary_ms",
            Some(summary.median_ms),
            "ms",
            "trade_summary of a whole month (goal <= 20)",
        ),
        Figure::new(
            "cold_open_ms",
            Some(cold_ms),
            "ms",
            "MerchantCore::new on the synced store to its first page (goal <= 100)",
        ),
        Figure::new(
            "peak_rss_mb",
            synced.peak_mb,
            "MB",
            "peak resident memory of the process doing the first sync (goal <= 100)",
        ),
        Figure::new(
            "e2e_sync_rows_per_s",
            per_s(records, sync_ms / 1000.0),
            "/s",
            "first sync from the embedded sandbox over loopback TLS, records a second",
        ),
    ])
}

/// Signs the bench's merchant (`phone`) in, activates it and binds a free
/// terminal.
pub(super) async fn shop(
    core: &MerchantCore,
    platform: &Platform,
    phone: &str,
) -> Result<String, String> {
    core.request_sms_code(phone.to_owned()).await.map_err(err)?;
    let sms: sbx::Sms = control_get(
        platform,
        DEFAULT_APP_ID,
        &format!("/sandbox/sms?phone={phone}&purpose=sign_in"),
    )
    .await
    .map_err(err)?;
    let me = core
        .sign_in(phone.to_owned(), sms.code)
        .await
        .map_err(err)?;
    control_call::<serde_json::Value>(
        platform,
        DEFAULT_APP_ID,
        Call::post_json(
            "/sandbox/merchants/activate",
            &serde_json::json!({"merchant_id": me.merchant_id}),
        ),
    )
    .await
    .map_err(err)?;
    let inventory: Inventory = control_get(platform, DEFAULT_APP_ID, "/sandbox/terminals")
        .await
        .map_err(err)?;
    let free = inventory
        .terminals
        .iter()
        .find(|t| t.state == "free")
        .ok_or("no free terminal in the sandbox")?;
    core.bind_terminal_by_qr(free.qr_text.clone())
        .await
        .map_err(err)?;
    Ok(me.merchant_id)
}

/// Seeds `rows` sales over a year ending yesterday on the sandbox (with
/// the voids and refunds its generator makes); returns the records made.
/// Seeded in parts, each well within one call's timeout; the days are left
/// unsettled so that every part may add to them.
pub(super) async fn seed_year(
    platform: &Platform,
    merchant_id: &str,
    rows: usize,
) -> Result<u64, String> {
    let mut records = 0;
    let mut left = rows;
    while left > 0 {
        let count = left.min(SEED_PART);
        let part: SeededTrades = control_call(
            platform,
            DEFAULT_APP_ID,
            Call::post_json(
                "/sandbox/trades/seed",
                &serde_json::json!({"merchant_id": merchant_id, "count": count, "days": DAYS, "settle": false}),
            ),
        )
        .await
        .map_err(err)?;
        records += part.trades + part.reversals;
        left -= count;
    }
    Ok(records)
}

/// The merchant's whole change feed from the platform through `core`'s
/// session, each page as the platform sends it: JSON, signed.
pub(super) fn signed_pages(
    rt: &tokio::runtime::Runtime,
    core: &MerchantCore,
) -> Result<Vec<(ResponseSignature, Vec<u8>)>, String> {
    let signer = PlatformSigner::from_pkcs8(SANDBOX_PLATFORM_KEY_PKCS8).map_err(err)?;
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = rt
            .block_on(core.fetch_trade_changes(after, FEED_PAGE))
            .map_err(err)?;
        after = page.next_after;
        let more = page.has_more;
        let body = serde_json::to_vec(&page).map_err(err)?;
        let signature = signer
            .sign_response(DEFAULT_APP_ID, chrono::Utc::now().timestamp(), &body)
            .map_err(err)?;
        pages.push((signature, body));
        if !more {
            return Ok(pages);
        }
    }
}

/// Seconds to ingest every page into the store at `path` the way sync
/// does: verify the answer's signature, decode, check, apply with the
/// cursor (and `hook` on each record, as sync runs the protection
/// detectors), a transaction a page.
pub(super) fn ingest(
    pages: &[(ResponseSignature, Vec<u8>)],
    key: &PlatformPublicKey,
    path: &Path,
    hook: Option<&dyn TradeHook>,
) -> Result<f64, String> {
    let db = Db::open(path).map_err(err)?;
    let start = Instant::now();
    let mut after = 0;
    for (signature, body) in pages {
        signature.verify(key, body).map_err(err)?;
        let page = feed::decode_page(body).map_err(err)?;
        after = db
            .write(|tx| sync::ingest_page_with(tx, page, after, hook))
            .map_err(err)?
            .cursor;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Seconds of the reference: the same rows (decoded and checked beforehand,
/// untimed) inserted by one bare prepared statement in one transaction.
fn raw_insert(pages: &[(ResponseSignature, Vec<u8>)], path: &Path) -> Result<f64, String> {
    // The same schema: the store's migrations.
    drop(Db::open(path).map_err(err)?);
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    let mut timed = Duration::ZERO;
    let tx = conn.transaction().map_err(err)?;
    {
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO trade ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                 ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
                merchant_core::trades::store::COLUMNS
            ))
            .map_err(err)?;
        let mut after = 0;
        for (_, body) in pages {
            let page = feed::decode_page(body).map_err(err)?;
            let valid = feed::validate(page, after, FEED_PAGE).map_err(err)?;
            after = valid.next_after;
            let start = Instant::now();
            for t in &valid.records {
                insert_row(&mut insert, t)?;
            }
            timed += start.elapsed();
        }
    }
    let start = Instant::now();
    tx.commit().map_err(err)?;
    timed += start.elapsed();
    Ok(timed.as_secs_f64())
}

fn insert_row(insert: &mut rusqlite::Statement<'_>, t: &Trade) -> Result<(), String> {
    insert
        .execute(rusqlite::params![
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
            i64::try_from(t.change_seq).unwrap_or(i64::MAX),
        ])
        .map(|_| ())
        .map_err(err)
}

/// The filter mixes of the page figure, from what the phone holds.
fn mixes(
    rt: &tokio::runtime::Runtime,
    core: &MerchantCore,
    newest: &Trade,
) -> Result<Vec<TradeFilter>, String> {
    let day = query::china_day_range(&newest.business_date).map_err(err)?;
    let month_from = day.to_ms - 30 * 86_400_000;
    // A card trade and a refunded sale to search for.
    let cards = rt
        .block_on(core.trade_page(
            TradeFilter {
                channels: vec![Channel::CreditCard, Channel::DebitCard],
                ..TradeFilter::default()
            },
            None,
            PAGE,
        ))
        .map_err(err)?;
    let card = cards
        .trades
        .iter()
        .find(|t| t.card_last4.is_some())
        .ok_or("no card trade")?;
    let yuan = |s: &str| Amount::parse(s).map_err(err);
    Ok(vec![
        TradeFilter::default(),
        TradeFilter {
            from_ms: Some(day.from_ms),
            to_ms: Some(day.to_ms),
            ..TradeFilter::default()
        },
        TradeFilter {
            from_ms: Some(month_from),
            to_ms: Some(day.to_ms),
            ..TradeFilter::default()
        },
        TradeFilter {
            channels: vec![Channel::WeChat],
            ..TradeFilter::default()
        },
        TradeFilter {
            channels: vec![Channel::DebitCard, Channel::CreditCard],
            ..TradeFilter::default()
        },
        TradeFilter {
            kinds: vec![TradeKind::Refund],
            ..TradeFilter::default()
        },
        TradeFilter {
            statuses: vec![TradeStatus::Refunded, TradeStatus::PartiallyRefunded],
            ..TradeFilter::default()
        },
        TradeFilter {
            terminals: vec![newest.terminal_sn.clone()],
            ..TradeFilter::default()
        },
        TradeFilter {
            min_amount: Some(yuan("100.00")?),
            max_amount: Some(yuan("500.00")?),
            ..TradeFilter::default()
        },
        TradeFilter {
            text: card.card_last4.clone(),
            ..TradeFilter::default()
        },
        TradeFilter {
            text: Some(card.log_no.clone()),
            ..TradeFilter::default()
        },
        TradeFilter {
            channels: vec![Channel::Alipay],
            min_amount: Some(yuan("200.00")?),
            from_ms: Some(month_from),
            to_ms: Some(day.to_ms),
            ..TradeFilter::default()
        },
        TradeFilter {
            kinds: vec![TradeKind::Sale],
            statuses: vec![TradeStatus::Success],
            terminals: vec![newest.terminal_sn.clone()],
            from_ms: Some(day.from_ms),
            to_ms: Some(day.to_ms),
            ..TradeFilter::default()
        },
        TradeFilter {
            statuses: vec![TradeStatus::Closed],
            ..TradeFilter::default()
        },
        TradeFilter {
            min_amount: Some(yuan("3000.00")?),
            ..TradeFilter::default()
        },
    ])
}

/// Milliseconds of every timed page through the core and through bare
/// rusqlite (the same statement and parameters), first and second page of
/// each mix.
fn pages_timed(
    rt: &tokio::runtime::Runtime,
    core: &MerchantCore,
    db_path: &Path,
    mixes: &[TradeFilter],
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let raw = rusqlite::Connection::open_with_flags(
        db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    raw.set_prepared_statement_cache_capacity(query::STATEMENT_CACHE);
    let (mut through_core, mut bare) = (Vec::new(), Vec::new());
    for filter in mixes {
        let first = rt
            .block_on(core.trade_page(filter.clone(), None, PAGE))
            .map_err(err)?;
        let cursors = [None, first.next_cursor.clone()];
        for cursor in cursors.iter().filter(|c| c.is_some() || c == &&cursors[0]) {
            for _ in 0..PAGE_RUNS {
                let start = Instant::now();
                let page = rt
                    .block_on(core.trade_page(filter.clone(), cursor.clone(), PAGE))
                    .map_err(err)?;
                through_core.push(start.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(page);

                let start = Instant::now();
                let request = query::check_page(filter, cursor.as_deref(), PAGE).map_err(err)?;
                let q = query::page_sql(&request.filter, request.cursor, request.limit);
                let mut stmt = raw.prepare_cached(&q.sql).map_err(err)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(q.params.iter()))
                    .map_err(err)?;
                let mut n = 0usize;
                while let Some(r) = rows.next().map_err(err)? {
                    let values: Vec<rusqlite::types::Value> = (0..26)
                        .map(|i| r.get(i))
                        .collect::<Result<_, _>>()
                        .map_err(err)?;
                    n += values.len();
                }
                bare.push(start.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(n);
            }
        }
    }
    Ok((through_core, bare))
}

/// The `p`-th percentile (nearest rank) of `times`.
pub(super) fn percentile(times: &[f64], p: f64) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

/// `YYYY-MM` of the month before.
fn previous_month(month: &str) -> Option<String> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let before = first.checked_sub_days(chrono::Days::new(1))?;
    Some(before.format("%Y-%m").to_string())
}

fn child(probe: &str, input: &Path) -> Result<(), String> {
    match probe {
        "sync" => {
            let input: ChildInput =
                serde_json::from_slice(&std::fs::read(input).map_err(err)?).map_err(err)?;
            let core = MerchantCore::new(input.config(), input.secrets()?).map_err(err)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(err)?;
            let start = Instant::now();
            let report = rt.block_on(core.sync_trades(None)).map_err(err)?;
            println!("sync_ms {}", start.elapsed().as_secs_f64() * 1000.0);
            println!("applied {}", report.applied);
            Ok(())
        }
        other => Err(format!("no probe {other}")),
    }
}
