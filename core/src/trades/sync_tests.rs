//! Tests of the sync: the feed's checks, the forward-only write path, the
//! paged sync with its crash safety and single flight, and trade events, on
//! real stores in temporary directories.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use merchant_contract::domain;

use super::feed;
use super::store::{self, Ignored, RecordOutcome};
use super::sync::{self, Budget, PageSource, TradeSyncListener, TradeSyncProgress};
use super::{TradeStatus, apply};
use crate::error::{Error, Result};
use crate::store::{FileSecretStore, MerchantStore, SecretStore};

// ---------------------------------------------------------------------------
// Helpers

fn open_store(dir: &std::path::Path) -> Arc<MerchantStore> {
    let secrets: Arc<dyn SecretStore> =
        FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
    Arc::new(crate::store::open_merchant(&dir.join("data"), "m1", &secrets).unwrap())
}

/// A valid card sale `n` at `seq`.
fn sale(n: u64, seq: u64) -> domain::Trade {
    domain::Trade {
        trade_id: format!("T{n:020}"),
        kind: domain::TradeKind::Sale,
        original_trade_id: None,
        channel: "credit_card".into(),
        amount: "1280.00".into(),
        fee: "7.68".into(),
        rate: "0.60".into(),
        status: domain::TradeStatus::Success,
        refunded_amount: "0.00".into(),
        terminal_sn: "LKLA800123455".into(),
        merchant_no: "822290058120001".into(),
        merchant_name: "老王便利店".into(),
        card: Some(domain::CardRef {
            bin: "622848".into(),
            last4: "0017".into(),
            card_kind: "credit".into(),
            bank_name: Some("中国农业银行".into()),
        }),
        payer: None,
        reference_no: format!("{:012}", n % 1_000_000_000_000),
        batch_no: "000001".into(),
        voucher_no: format!("{:06}", n % 1_000_000),
        log_no: format!("20250601{:06}", n % 1_000_000),
        business_date: "2025-06-01".into(),
        created_at: "2025-06-01T09:30:00+08:00".into(),
        updated_at: "2025-06-01T09:30:00+08:00".into(),
        change_seq: seq,
    }
}

/// A scan-code sale `n`, pending, at `seq`.
fn pending_scan(n: u64, seq: u64) -> domain::Trade {
    domain::Trade {
        channel: "wechat".into(),
        card: None,
        payer: Some("p_9f3a2c".into()),
        status: domain::TradeStatus::Pending,
        fee: "4.86".into(),
        rate: "0.38".into(),
        ..sale(n, seq)
    }
}

/// A refund of sale `of` as its own record.
fn refund(n: u64, of: u64, seq: u64) -> domain::Trade {
    domain::Trade {
        trade_id: format!("R{n:020}"),
        kind: domain::TradeKind::Refund,
        original_trade_id: Some(format!("T{of:020}")),
        amount: "30.00".into(),
        fee: "0.18".into(),
        ..sale(n, seq)
    }
}

/// A page of `records` asked after `after`.
fn page(records: Vec<domain::Trade>, after: u64, has_more: bool) -> domain::TradeChanges {
    let next_after = records.last().map_or(after, |t| t.change_seq);
    domain::TradeChanges {
        changes: records,
        next_after,
        has_more,
        remaining: 0,
    }
}

fn ingest(
    store: &MerchantStore,
    p: domain::TradeChanges,
    after: u64,
) -> Result<store::PageApplied> {
    store.db().write(|tx| sync::ingest_page(tx, p, after))
}

fn state(store: &MerchantStore) -> store::FeedState {
    store.db().read(store::feed_state).unwrap()
}

fn stored(store: &MerchantStore, trade_id: &str) -> Option<super::Trade> {
    store
        .db()
        .read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {} FROM trade WHERE trade_id = ?1",
                store::COLUMNS
            ))?;
            let mut rows = stmt.query([trade_id])?;
            match rows.next()? {
                Some(r) => Ok(Some(store::read_row(r)?)),
                None => Ok(None),
            }
        })
        .unwrap()
}

/// An in-memory change feed with the platform's semantics: each trade once,
/// at its latest change.
#[derive(Default)]
struct FakeFeed {
    log: Mutex<BTreeMap<u64, domain::Trade>>,
    next_seq: Mutex<u64>,
    fetches: AtomicU32,
    /// Fetch number (1-based) that fails with a network error.
    fail_on: Mutex<Option<u32>>,
    /// How many fetches, from now, the platform's request quota refuses.
    quota_refusals: AtomicU32,
    /// Held shut, the first fetch waits for it.
    gate: Option<tokio::sync::Semaphore>,
    entered: tokio::sync::Notify,
}

impl FakeFeed {
    fn new() -> Self {
        FakeFeed::default()
    }

    fn gated() -> Self {
        FakeFeed {
            gate: Some(tokio::sync::Semaphore::new(0)),
            ..FakeFeed::default()
        }
    }

    /// Records a change of `t` (its latest state replaces any earlier one).
    fn change(&self, mut t: domain::Trade) -> u64 {
        let mut seq = self.next_seq.lock().unwrap();
        *seq += 1;
        t.change_seq = *seq;
        let mut log = self.log.lock().unwrap();
        log.retain(|_, old| old.trade_id != t.trade_id);
        log.insert(*seq, t);
        *seq
    }

    fn sales(&self, from: u64, n: u64) {
        for i in from..from + n {
            self.change(sale(i, 0));
        }
    }

    fn last_seq(&self) -> u64 {
        *self.next_seq.lock().unwrap()
    }
}

impl PageSource for FakeFeed {
    fn fetch(&self, after: u64, limit: u32) -> BoxFuture<'_, Result<domain::TradeChanges>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(gate) = &self.gate {
                self.entered.notify_one();
                let _ = gate.acquire().await;
            }
            if self
                .quota_refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
                .is_ok()
            {
                return Err(quota_refusal());
            }
            if *self.fail_on.lock().unwrap() == Some(n) {
                return Err(Error::new(&crate::platform::UNREACHABLE).detail("test"));
            }
            let log = self.log.lock().unwrap();
            let left: Vec<&domain::Trade> = log.range(after + 1..).map(|(_, t)| t).collect();
            let take = left.len().min(limit as usize);
            let records: Vec<domain::Trade> = left[..take].iter().map(|t| (*t).clone()).collect();
            let rest = (left.len() - take) as u64;
            Ok(domain::TradeChanges {
                next_after: records.last().map_or(after, |t| t.change_seq),
                changes: records,
                has_more: rest > 0,
                remaining: rest,
            })
        })
    }
}

#[derive(Default)]
struct Heard(Mutex<Vec<TradeSyncProgress>>);

impl TradeSyncListener for Heard {
    fn on_progress(&self, progress: TradeSyncProgress) {
        self.0.lock().unwrap().push(progress);
    }
}

impl Heard {
    fn all(&self) -> Vec<TradeSyncProgress> {
        self.0.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------
// The write path

#[test]
fn a_page_and_its_cursor_commit_together() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let done = ingest(&store, page(vec![sale(1, 3), sale(2, 5)], 0, true), 0).unwrap();
    assert_eq!(done.outcomes, vec![RecordOutcome::Inserted; 2]);
    assert_eq!(done.cursor, 5);
    let s = state(&store);
    assert_eq!((s.cursor, s.trades), (5, 2));
    assert!(s.synced_at_ms.is_some());
    let t = stored(&store, "T00000000000000000002").unwrap();
    assert_eq!(t.amount.to_fen(), 128_000);
    assert_eq!(t.fee.to_fen(), 768);
    assert_eq!(t.card_bin.as_deref(), Some("622848"));
    assert_eq!(t.card_last4.as_deref(), Some("0017"));
    assert_eq!(t.change_seq, 5);
    assert_eq!(t.created_at_ms, 1_748_741_400_000);
}

#[test]
fn a_page_asked_after_another_cursor_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    ingest(&store, page(vec![sale(1, 3)], 0, true), 0).unwrap();
    // Asked after 0 again (another writer moved the cursor to 3 meanwhile).
    let e = ingest(&store, page(vec![sale(2, 4)], 0, false), 0).unwrap_err();
    assert!(e.is(&sync::SYNC_CURSOR_MOVED), "{e}");
    assert!(stored(&store, "T00000000000000000002").is_none());
    assert_eq!(state(&store).cursor, 3);
}

#[test]
fn an_older_change_never_overwrites_a_newer_one() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let newer = domain::Trade {
        status: domain::TradeStatus::PartiallyRefunded,
        refunded_amount: "30.00".into(),
        ..sale(1, 10)
    };
    ingest(&store, page(vec![newer], 0, true), 0).unwrap();
    // The same trade at an older (and at the same) change.
    let done = store
        .db()
        .write(|tx| {
            let older = feed::records(vec![sale(1, 4)])?;
            let same = feed::records(vec![sale(1, 10)])?;
            Ok([store::upsert(tx, &older[0])?, store::upsert(tx, &same[0])?])
        })
        .unwrap();
    assert_eq!(done, [RecordOutcome::Ignored(Ignored::NotNewer); 2]);
    let t = stored(&store, "T00000000000000000001").unwrap();
    assert_eq!(t.status, TradeStatus::PartiallyRefunded);
    assert_eq!(t.refunded_amount.to_fen(), 3000);
    assert_eq!(t.change_seq, 10);
}

#[test]
fn a_status_moves_forward_only() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    ingest(&store, page(vec![pending_scan(1, 1)], 0, true), 0).unwrap();
    // pending → success: kept, the previous status reported.
    let paid = domain::Trade {
        status: domain::TradeStatus::Success,
        ..pending_scan(1, 2)
    };
    let done = ingest(&store, page(vec![paid], 1, true), 1).unwrap();
    assert_eq!(
        done.outcomes,
        vec![RecordOutcome::Updated {
            previous: TradeStatus::Pending
        }]
    );
    // success → refunded: kept.
    let refunded = domain::Trade {
        status: domain::TradeStatus::Refunded,
        refunded_amount: "1280.00".into(),
        ..pending_scan(1, 3)
    };
    ingest(&store, page(vec![refunded], 2, true), 2).unwrap();
    // refunded → success at a newer change: the stored record stays, and
    // the page is not refused (the cursor moves past it).
    let back = domain::Trade {
        status: domain::TradeStatus::Success,
        ..pending_scan(1, 4)
    };
    let done = ingest(&store, page(vec![back, sale(2, 5)], 3, false), 3).unwrap();
    assert_eq!(
        done.outcomes,
        vec![
            RecordOutcome::Ignored(Ignored::StatusBackwards {
                stored: TradeStatus::Refunded
            }),
            RecordOutcome::Inserted
        ]
    );
    let t = stored(&store, "T00000000000000000001").unwrap();
    assert_eq!((t.status, t.change_seq), (TradeStatus::Refunded, 3));
    assert_eq!(state(&store).cursor, 5);
    // A record that changes what it is (a sale turned refund) is not taken.
    let turned = domain::Trade {
        kind: domain::TradeKind::Refund,
        original_trade_id: Some("T00000000000000000009".into()),
        ..sale(2, 6)
    };
    let done = ingest(&store, page(vec![turned], 5, false), 5).unwrap();
    assert!(matches!(
        done.outcomes[0],
        RecordOutcome::Ignored(Ignored::KindChanged { .. })
    ));
}

#[test]
fn a_refund_before_its_sale_is_kept_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    ingest(&store, page(vec![refund(7, 1, 2)], 0, true), 0).unwrap();
    let r = stored(&store, "R00000000000000000007").unwrap();
    assert_eq!(r.kind, super::TradeKind::Refund);
    assert_eq!(
        r.original_trade_id.as_deref(),
        Some("T00000000000000000001")
    );
    let sale_late = domain::Trade {
        status: domain::TradeStatus::PartiallyRefunded,
        refunded_amount: "30.00".into(),
        ..sale(1, 3)
    };
    ingest(&store, page(vec![sale_late], 2, false), 2).unwrap();
    assert_eq!(state(&store).trades, 2);
}

#[test]
fn the_hook_sees_each_record_inside_the_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    ingest(&store, page(vec![pending_scan(1, 1)], 0, true), 0).unwrap();
    let paid = domain::Trade {
        status: domain::TradeStatus::Success,
        ..pending_scan(1, 2)
    };
    let valid = feed::validate(page(vec![paid, sale(2, 3)], 1, false), 1, 1000).unwrap();
    let mut seen = Vec::new();
    store
        .db()
        .write(|tx| {
            store::apply_page_with(tx, &valid, |conn, t, outcome| {
                // The record is already in place when the hook runs.
                let status: String = conn.query_row(
                    "SELECT status FROM trade WHERE trade_id = ?1",
                    [&t.trade_id],
                    |r| r.get(0),
                )?;
                seen.push((t.trade_id.clone(), status, outcome));
                Ok(())
            })
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (
                "T00000000000000000001".to_owned(),
                "success".to_owned(),
                RecordOutcome::Updated {
                    previous: TradeStatus::Pending
                }
            ),
            (
                "T00000000000000000002".to_owned(),
                "success".to_owned(),
                RecordOutcome::Inserted
            ),
        ]
    );
}

// ---------------------------------------------------------------------------
// Bad pages

/// Each hostile page is refused whole with its code; nothing is written.
#[test]
fn a_hostile_page_is_refused_whole_with_its_code() {
    type Break = fn(&mut domain::TradeChanges);
    let cases: Vec<(&str, &'static crate::error::Code, Break)> = vec![
        ("negative amount", &feed::RECORD_AMOUNT, |p| {
            p.changes[1].amount = "-1.00".into()
        }),
        ("zero amount", &feed::RECORD_AMOUNT, |p| {
            p.changes[1].amount = "0.00".into()
        }),
        ("three decimals", &feed::RECORD_AMOUNT, |p| {
            p.changes[1].amount = "1.001".into()
        }),
        ("full-width digits", &feed::RECORD_AMOUNT, |p| {
            p.changes[1].amount = "１２".into()
        }),
        ("malformed fee", &feed::RECORD_AMOUNT, |p| {
            p.changes[1].fee = "7,68".into()
        }),
        ("fee above amount", &feed::RECORD_FEE_ABOVE_AMOUNT, |p| {
            p.changes[1].fee = "1280.01".into()
        }),
        (
            "refunded above amount",
            &feed::RECORD_REFUNDED_ABOVE_AMOUNT,
            |p| p.changes[1].refunded_amount = "1300.00".into(),
        ),
        ("duplicate trade", &feed::PAGE_DUPLICATE, |p| {
            p.changes[1].trade_id = p.changes[0].trade_id.clone()
        }),
        ("sequence goes back", &feed::PAGE_SEQUENCE, |p| {
            p.changes[1].change_seq = 1
        }),
        ("sequence repeats", &feed::PAGE_SEQUENCE, |p| {
            p.changes[1].change_seq = p.changes[0].change_seq
        }),
        ("sequence not above after", &feed::PAGE_SEQUENCE, |p| {
            p.changes[0].change_seq = 10
        }),
        ("next_after short", &feed::PAGE_SEQUENCE, |p| {
            p.next_after -= 1
        }),
        ("next_after beyond", &feed::PAGE_SEQUENCE, |p| {
            p.next_after += 1
        }),
        ("empty page with more", &feed::PAGE_SEQUENCE, |p| {
            p.changes.clear();
            p.next_after = 10;
        }),
        ("a whole card number", &feed::RECORD_CARD, |p| {
            if let Some(c) = &mut p.changes[1].card {
                c.bin = "6228480012345678".into();
            }
        }),
        ("more than last four", &feed::RECORD_CARD, |p| {
            if let Some(c) = &mut p.changes[1].card {
                c.last4 = "12340017".into();
            }
        }),
        ("card number in the bank name", &feed::RECORD_CARD, |p| {
            if let Some(c) = &mut p.changes[1].card {
                c.bank_name = Some("卡号6228480012345678".into());
            }
        }),
        ("card on a scan-code trade", &feed::RECORD_CARD, |p| {
            p.changes[1].channel = "alipay".into()
        }),
        ("sale naming a sale", &feed::RECORD_KIND, |p| {
            p.changes[1].original_trade_id = Some("T00000000000000000001".into())
        }),
        ("refund naming nothing", &feed::RECORD_KIND, |p| {
            p.changes[1].kind = domain::TradeKind::Refund
        }),
        ("unknown channel", &feed::RECORD_CHANNEL, |p| {
            p.changes[1].channel = "paypal".into()
        }),
        ("short log number", &feed::RECORD_FIELD, |p| {
            p.changes[1].log_no = "2025060100001".into()
        }),
        ("long batch number", &feed::RECORD_FIELD, |p| {
            p.changes[1].batch_no = "0000001".into()
        }),
        ("letter in voucher", &feed::RECORD_FIELD, |p| {
            p.changes[1].voucher_no = "00001A".into()
        }),
        ("short reference", &feed::RECORD_FIELD, |p| {
            p.changes[1].reference_no = "60123456789".into()
        }),
        ("no such day", &feed::RECORD_FIELD, |p| {
            p.changes[1].business_date = "2025-02-30".into()
        }),
        ("malformed time", &feed::RECORD_FIELD, |p| {
            p.changes[1].updated_at = "2025-06-01 09:30".into()
        }),
        ("merchant number", &feed::RECORD_FIELD, |p| {
            p.changes[1].merchant_no = "8222900581".into()
        }),
        ("sequence beyond SQLite", &feed::RECORD_FIELD, |p| {
            p.changes[2].change_seq = u64::MAX;
            p.next_after = u64::MAX;
        }),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    for (name, code, breaks) in cases {
        let mut p = page(vec![sale(1, 11), sale(2, 12), sale(3, 13)], 10, true);
        breaks(&mut p);
        let e = store
            .db()
            .write(|tx| {
                tx.execute("UPDATE trade_feed SET after = 10", [])?;
                tx.execute(
                    "INSERT OR IGNORE INTO trade_feed (id, after) VALUES (1, 10)",
                    [],
                )?;
                sync::ingest_page(tx, p, 10)
            })
            .expect_err(name);
        assert!(e.is(code), "{name}: {e}");
        let detail = e.detail.clone().unwrap_or_default();
        assert!(!detail.contains("6228480012345678"), "{name}: {detail}");
        let s = state(&store);
        assert_eq!((s.trades, s.cursor), (0, 0), "{name}");
    }
    // Too many records for the limit asked.
    let p = page((1..=3).map(|i| sale(i, 10 + i)).collect(), 10, false);
    let e = feed::validate(p, 10, 2).unwrap_err();
    assert!(e.is(&feed::PAGE_MALFORMED), "{e}");
}

#[test]
fn an_unknown_enum_or_a_missing_field_is_a_malformed_page() {
    let good = serde_json::to_value(page(vec![sale(1, 1)], 0, false)).unwrap();
    assert!(feed::decode_page(good.to_string().as_bytes()).is_ok());
    let breaks: [fn(&mut serde_json::Value); 4] = [
        |v| v["changes"][0]["status"] = "settled".into(),
        |v| v["changes"][0]["kind"] = "chargeback".into(),
        |v| v["changes"][0]["change_seq"] = (-1).into(),
        |v| {
            v["changes"][0].as_object_mut().map(|o| o.remove("amount"));
        },
    ];
    for b in breaks {
        let mut v = good.clone();
        b(&mut v);
        let e = feed::decode_page(v.to_string().as_bytes()).unwrap_err();
        assert!(e.is(&feed::PAGE_MALFORMED), "{e}");
    }
    assert!(
        feed::decode_page(b"{\"changes\":[")
            .unwrap_err()
            .is(&feed::PAGE_MALFORMED)
    );
}

// ---------------------------------------------------------------------------
// The paged sync

fn full(
    store: &Arc<MerchantStore>,
    feed: &Arc<FakeFeed>,
) -> BoxFuture<'static, Result<sync::TradeSyncReport>> {
    let source: Arc<dyn PageSource> = feed.clone();
    sync::sync(store.clone(), source, None, Budget::Full).boxed()
}

#[tokio::test]
async fn a_sync_pulls_every_page_and_reports_each() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::new());
    feed.sales(1, 2500);
    let heard = Arc::new(Heard::default());
    let listener: Arc<dyn TradeSyncListener> = heard.clone();
    let source: Arc<dyn PageSource> = feed.clone();
    let report = sync::sync(store.clone(), source, Some(listener), Budget::Full)
        .await
        .unwrap();
    assert_eq!(
        (
            report.applied,
            report.pages,
            report.cursor,
            report.joined,
            report.has_more
        ),
        (2500, 3, 2500, false, false)
    );
    let progress: Vec<(u64, u32, u64, u64)> = heard
        .all()
        .iter()
        .map(|p| (p.applied, p.pages, p.remaining, p.cursor))
        .collect();
    assert_eq!(
        progress,
        vec![
            (1000, 1, 1500, 1000),
            (2000, 2, 500, 2000),
            (2500, 3, 0, 2500)
        ]
    );
    let s = sync::state(store.clone()).await.unwrap();
    assert_eq!((s.cursor, s.trades, s.remaining), (2500, 2500, Some(0)));
    assert!(s.last_synced_at_ms.is_some());
    // Nothing new: one empty page, nothing applied.
    let again = full(&store, &feed).await.unwrap();
    assert_eq!((again.applied, again.pages, again.cursor), (0, 1, 2500));
}

/// The platform's 429 `auth.rate_limited`, as the client reads it.
fn quota_refusal() -> Error {
    let body = serde_json::to_vec(&merchant_contract::wire::ErrorBody {
        code: "auth.rate_limited".to_owned(),
        message: "请求过于频繁".to_owned(),
        message_en: "too many requests".to_owned(),
        request_id: "req-1".to_owned(),
        fields: None,
    })
    .unwrap();
    crate::platform::client::refusal(429, &body)
}

/// A full sync waits out the request quota and goes on; a catch-up stops
/// at it with `has_more`; a quota that never frees ends the full sync with
/// its code after the patience. (Paused time: the waits take no real time.)
#[tokio::test(start_paused = true)]
async fn the_request_quota_is_waited_out_by_a_full_sync_and_stops_a_catch_up() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::new());
    feed.sales(1, 2500);
    feed.quota_refusals.store(1, Ordering::SeqCst);
    let bounded = sync::sync(store.clone(), feed.clone(), None, Budget::CATCH_UP)
        .await
        .unwrap();
    assert!(bounded.has_more);
    assert_eq!(bounded.applied, 0);

    feed.quota_refusals.store(3, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let report = full(&store, &feed).await.unwrap();
    assert_eq!((report.applied, report.cursor), (2500, 2500));
    assert!(!report.has_more);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1 + 2 + 4),
        "waited 1, 2 and 4 s: {:?}",
        started.elapsed()
    );

    feed.sales(2501, 10);
    feed.quota_refusals.store(u32::MAX, Ordering::SeqCst);
    let e = full(&store, &feed).await.unwrap_err();
    assert_eq!(e.code, "auth.rate_limited");
    assert!(started.elapsed() >= sync::QUOTA_PATIENCE);
    assert_eq!(state(&store).cursor, 2500, "nothing half-applied");
}

/// A failure between pages (the network, or the app killed) keeps the
/// committed pages; the next sync, in a reopened store, resumes after them
/// and ends with every record once, at its latest state.
#[tokio::test]
async fn a_sync_resumes_after_a_failure_with_every_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = Arc::new(FakeFeed::new());
    feed.sales(1, 3500);
    *feed.fail_on.lock().unwrap() = Some(3);
    {
        let store = open_store(tmp.path());
        let e = full(&store, &feed).await.unwrap_err();
        assert_eq!(e.code, "platform.unreachable");
        let s = state(&store);
        assert_eq!((s.cursor, s.trades), (2000, 2000));
        store.db().close();
    }
    // Meanwhile trades change: an early one is refunded (it comes again at
    // a new change), and new ones arrive.
    feed.change(domain::Trade {
        status: domain::TradeStatus::Refunded,
        refunded_amount: "1280.00".into(),
        ..sale(5, 0)
    });
    feed.sales(3501, 10);
    *feed.fail_on.lock().unwrap() = None;
    let store = open_store(tmp.path());
    let report = full(&store, &feed).await.unwrap();
    assert_eq!(report.cursor, feed.last_seq());
    assert_eq!(report.applied, 1500 + 1 + 10);
    let s = state(&store);
    assert_eq!((s.trades, s.cursor), (3510, feed.last_seq()));
    let distinct: i64 = store
        .db()
        .read(|c| {
            Ok(
                c.query_row("SELECT count(DISTINCT trade_id) FROM trade", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    assert_eq!(distinct, 3510);
    let t = stored(&store, "T00000000000000000005").unwrap();
    assert_eq!(t.status, TradeStatus::Refunded);
}

/// A hostile page in the middle of a sync ends it with its code; the pages
/// before it stay, the page itself leaves nothing.
#[tokio::test]
async fn a_refused_page_mid_sync_keeps_the_pages_before() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::new());
    feed.sales(1, 1500);
    let mut hostile = sale(1501, 0);
    hostile.card = Some(domain::CardRef {
        bin: "6228480012345678".into(),
        last4: "0017".into(),
        card_kind: "debit".into(),
        bank_name: None,
    });
    feed.change(hostile);
    feed.sales(1502, 100);
    let e = full(&store, &feed).await.unwrap_err();
    assert!(e.is(&feed::RECORD_CARD), "{e}");
    let s = state(&store);
    assert_eq!((s.cursor, s.trades), (1000, 1000));
}

#[tokio::test]
async fn a_second_caller_joins_the_running_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::gated());
    feed.sales(1, 1200);
    let first = tokio::spawn(full(&store, &feed));
    feed.entered.notified().await;
    // The first sync is inside its first fetch: a second caller joins it.
    let heard = Arc::new(Heard::default());
    let listener: Arc<dyn TradeSyncListener> = heard.clone();
    let source: Arc<dyn PageSource> = feed.clone();
    let mut second = sync::sync(store.clone(), source, Some(listener), Budget::Full).boxed();
    assert!((&mut second).now_or_never().is_none());
    if let Some(gate) = &feed.gate {
        gate.add_permits(100);
    }
    let a = first.await.unwrap().unwrap();
    let b = second.await.unwrap();
    assert!(!a.joined);
    assert!(b.joined);
    assert_eq!((a.applied, a.pages, a.cursor), (1200, 2, 1200));
    assert_eq!(
        (b.applied, b.pages, b.cursor),
        (a.applied, a.pages, a.cursor)
    );
    // One sync ran: two fetches in all, and the joiner heard its pages.
    assert_eq!(feed.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(heard.all().len(), 2);
    assert_eq!(state(&store).trades, 1200);
    // Once it ended, the next call starts a sync of its own.
    let c = full(&store, &feed).await.unwrap();
    assert!(!c.joined);
    assert_eq!(feed.fetches.load(Ordering::SeqCst), 3);
}

/// A catch-up that finds a sync running waits for it at most its time,
/// then answers with that sync's progress so far; the sync goes on.
#[tokio::test(start_paused = true)]
async fn a_catch_up_joining_a_long_sync_answers_within_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::gated());
    feed.sales(1, 1500);
    let running = tokio::spawn(full(&store, &feed));
    feed.entered.notified().await;
    let source: Arc<dyn PageSource> = feed.clone();
    let r = sync::sync(store.clone(), source, None, Budget::CATCH_UP)
        .await
        .unwrap();
    assert_eq!(
        (r.applied, r.pages, r.cursor, r.joined, r.has_more),
        (0, 0, 0, true, true)
    );
    if let Some(gate) = &feed.gate {
        gate.add_permits(100);
    }
    let done = running.await.unwrap().unwrap();
    assert_eq!((done.cursor, done.joined), (1500, false));
}

/// A full sync that finds a catch-up running lets it end, then runs to the
/// end itself (a catch-up's few pages are not a full sync's answer).
#[tokio::test]
async fn a_sync_arriving_during_a_catch_up_runs_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::gated());
    feed.sales(1, 2500);
    let source: Arc<dyn PageSource> = feed.clone();
    let budget = Budget::Bounded {
        pages: 1,
        time: std::time::Duration::from_secs(3600),
    };
    let catch_up = tokio::spawn(sync::sync(store.clone(), source, None, budget));
    feed.entered.notified().await;
    let mut later = full(&store, &feed);
    assert!((&mut later).now_or_never().is_none());
    if let Some(gate) = &feed.gate {
        gate.add_permits(100);
    }
    let c = catch_up.await.unwrap().unwrap();
    assert_eq!(
        (c.pages, c.cursor, c.has_more, c.joined),
        (1, 1000, true, false)
    );
    let f = later.await.unwrap();
    assert_eq!(
        (f.applied, f.cursor, f.has_more, f.joined),
        (1500, 2500, false, false)
    );
}

#[tokio::test]
async fn a_catch_up_stops_after_its_pages_and_a_sync_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let feed = Arc::new(FakeFeed::new());
    feed.sales(1, 2500);
    let source: Arc<dyn PageSource> = feed.clone();
    let budget = Budget::Bounded {
        pages: 2,
        time: std::time::Duration::from_secs(3600),
    };
    let r = sync::sync(store.clone(), source, None, budget)
        .await
        .unwrap();
    assert_eq!((r.pages, r.cursor, r.has_more), (2, 2000, true));
    assert_eq!(state(&store).cursor, 2000);
    let rest = full(&store, &feed).await.unwrap();
    assert_eq!(
        (rest.applied, rest.cursor, rest.has_more),
        (500, 2500, false)
    );
    // The push wake-up's budget with little waiting: done in one page.
    feed.sales(2501, 3);
    let source: Arc<dyn PageSource> = feed.clone();
    let r = sync::sync(store.clone(), source, None, Budget::CATCH_UP)
        .await
        .unwrap();
    assert_eq!(
        (r.applied, r.pages, r.cursor, r.has_more),
        (3, 1, 2503, false)
    );
}

// ---------------------------------------------------------------------------
// Trade events

fn event(v: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn trade_events_apply_without_moving_the_cursor() {
    use merchant_contract::wire::event_types as ev;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    assert!(apply::owns(ev::TRADE_REFUNDED) && !apply::owns("terminal.bound"));
    let write =
        |t: &str, data: serde_json::Value| store.db().write(|tx| apply::apply(tx, t, &data));

    // Created pending, then paid.
    assert_eq!(
        write(ev::TRADE_CREATED, event(pending_scan(1, 7))).unwrap(),
        vec![RecordOutcome::Inserted]
    );
    let paid = domain::Trade {
        status: domain::TradeStatus::Success,
        ..pending_scan(1, 8)
    };
    assert_eq!(
        write(ev::TRADE_UPDATED, event(&paid)).unwrap(),
        vec![RecordOutcome::Updated {
            previous: TradeStatus::Pending
        }]
    );
    // Refunded: the sale and the refund's own record.
    let refunded = domain::TradeRefunded {
        trade: domain::Trade {
            status: domain::TradeStatus::PartiallyRefunded,
            refunded_amount: "30.00".into(),
            ..pending_scan(1, 9)
        },
        refund: domain::Refund {
            refund_id: "R00000000000000000002".into(),
            trade_id: "T00000000000000000001".into(),
            amount: "30.00".into(),
            fee_returned: "0.11".into(),
            reason: None,
            created_at: "2025-06-01T10:00:00+08:00".into(),
        },
        record: domain::Trade {
            channel: "wechat".into(),
            card: None,
            ..refund(2, 1, 10)
        },
    };
    assert_eq!(
        write(ev::TRADE_REFUNDED, event(&refunded)).unwrap(),
        vec![
            RecordOutcome::Updated {
                previous: TradeStatus::Success
            },
            RecordOutcome::Inserted
        ]
    );
    // Voided: a card sale and its void.
    let voided = domain::TradeVoided {
        trade: domain::Trade {
            status: domain::TradeStatus::Voided,
            ..sale(3, 12)
        },
        void: domain::Trade {
            trade_id: "V00000000000000000004".into(),
            kind: domain::TradeKind::Void,
            original_trade_id: Some("T00000000000000000003".into()),
            ..sale(4, 13)
        },
    };
    assert_eq!(
        write(ev::TRADE_VOIDED, event(&voided)).unwrap(),
        vec![RecordOutcome::Inserted; 2]
    );
    let s = state(&store);
    assert_eq!((s.trades, s.cursor), (4, 0));
    assert_eq!(
        stored(&store, "T00000000000000000001").unwrap().status,
        TradeStatus::PartiallyRefunded
    );

    // The feed later gives the same changes: no-ops, while the cursor moves.
    let later = page(
        vec![refunded.trade.clone(), refunded.record.clone()],
        0,
        false,
    );
    let done = ingest(&store, later, 0).unwrap();
    assert_eq!(
        done.outcomes,
        vec![RecordOutcome::Ignored(Ignored::NotNewer); 2]
    );
    assert_eq!(state(&store).cursor, 10);

    // A hostile event is refused whole: its sale is not updated either.
    let mut bad = refunded.clone();
    bad.trade.change_seq = 20;
    bad.trade.status = domain::TradeStatus::Refunded;
    bad.record.trade_id = "R00000000000000000005".into();
    bad.record.fee = "31.00".into();
    let e = write(ev::TRADE_REFUNDED, event(&bad)).unwrap_err();
    assert!(e.is(&feed::RECORD_FEE_ABOVE_AMOUNT), "{e}");
    assert_eq!(
        stored(&store, "T00000000000000000001").unwrap().status,
        TradeStatus::PartiallyRefunded
    );
    assert!(stored(&store, "R00000000000000000005").is_none());
    // Data that is not the event's shape.
    let e = write(ev::TRADE_VOIDED, event(pending_scan(9, 30))).unwrap_err();
    assert!(e.is(&feed::PAGE_MALFORMED), "{e}");
    // Not a trade event: nothing.
    assert!(
        write("terminal.bound", serde_json::json!({}))
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------
// No panic on any page

mod hostile_pages {
    use proptest::prelude::*;

    use super::*;

    /// A JSON value of any shape.
    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,24}".prop_map(serde_json::Value::from),
            "[0-9.-]{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 26] = [
        "trade_id",
        "kind",
        "original_trade_id",
        "channel",
        "amount",
        "fee",
        "rate",
        "status",
        "refunded_amount",
        "terminal_sn",
        "merchant_no",
        "merchant_name",
        "card",
        "payer",
        "reference_no",
        "batch_no",
        "voucher_no",
        "log_no",
        "business_date",
        "created_at",
        "updated_at",
        "change_seq",
        "card.bin",
        "card.last4",
        "card.card_kind",
        "card.bank_name",
    ];

    /// Text that is nearly right for some field: digits, amounts, dates,
    /// times, names of enums and channels.
    fn near_text() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            "[0-9]{0,20}",
            "-?[0-9]{0,9}(\\.[0-9]{0,3})?",
            "20[0-9]{2}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+08:00)?",
            "(sale|void|refund|success|pending|refunded|wechat|alipay|debit_card|paypal|credit)",
            "[TRV][0-9]{20}",
            "[0-9]{0,20}",
        ]
        .prop_map(serde_json::Value::from)
    }

    /// A valid page with some fields of some records replaced by anything,
    /// mostly by nearly right text.
    fn mutated_page() -> impl Strategy<Value = serde_json::Value> {
        let value = prop_oneof![1 => any_json(), 3 => near_text(), 1 => any::<u64>().prop_map(serde_json::Value::from)];
        let edits = prop::collection::vec((0usize..4, 0usize..FIELDS.len(), value), 0..4);
        let top_value = prop_oneof![
            3 => (0u64..20).prop_map(serde_json::Value::from),
            1 => any_json(),
        ];
        let top = prop::option::weighted(0.25, (0usize..3, top_value));
        (1u64..4, edits, top).prop_map(|(n, edits, top)| {
            let records = (1..=n).map(|i| sale(i, 10 + i)).collect();
            let mut v = serde_json::to_value(page(records, 10, false)).unwrap();
            for (rec, field, value) in edits {
                let Some(r) = v["changes"].get_mut(rec) else {
                    continue;
                };
                match FIELDS[field].split_once('.') {
                    Some((outer, inner)) => {
                        if let Some(o) = r[outer].as_object_mut() {
                            o.insert(inner.to_owned(), value);
                        }
                    }
                    None => r[FIELDS[field]] = value,
                }
            }
            if let Some((which, value)) = top {
                v[["next_after", "has_more", "remaining"][which]] = value;
            }
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

        /// Any page: no panic; a refused page writes nothing, an accepted
        /// one writes each of its records once and its cursor.
        #[test]
        fn any_page_is_applied_whole_or_not_at_all(v in mutated_page()) {
            let tmp = tempfile::tempdir().unwrap();
            let store = open_store(tmp.path());
            store.db().write(|tx| {
                tx.execute("INSERT INTO trade_feed (id, after) VALUES (1, 10)", [])?;
                Ok(())
            }).unwrap();
            let body = v.to_string();
            let outcome = feed::decode_page(body.as_bytes())
                .and_then(|p| store.db().write(|tx| sync::ingest_page(tx, p, 10)));
            let s = state(&store);
            match outcome {
                Ok(done) => {
                    prop_assert_eq!(s.trades, done.outcomes.len() as u64);
                    prop_assert_eq!(s.cursor, done.cursor);
                }
                Err(e) => {
                    prop_assert!(feed::is_refusal(&e), "{}", e);
                    prop_assert_eq!((s.trades, s.cursor), (0, 10));
                }
            }
        }

        /// Any bytes: decoded or refused, never a panic.
        #[test]
        fn any_bytes_decode_or_are_refused(body in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = feed::decode_page(&body) {
                prop_assert!(e.is(&feed::PAGE_MALFORMED));
            }
        }
    }
}
