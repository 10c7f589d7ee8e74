//! The change feed, the life of pending trades, refunds and voids as records
//! of their own, the statement file and bulk seeding, against the real
//! sandbox.

mod common;
mod domain_common;

use std::collections::{BTreeMap, HashMap, HashSet};

use common::*;
use domain_common::*;
use merchant_contract::domain::sandbox::SeededTrades;
use merchant_contract::domain::{
    Settlement, Trade, TradeChanges, TradeKind, TradeRefunded, TradeStatus, TradeVoided,
};
use merchant_contract::envelope::HEADER_IDEMPOTENCY_KEY;
use merchant_contract::statement;
use merchant_contract::wire::event_types;
use merchant_core::money::Amount;
use merchant_sandbox::SandboxConfig;
use merchant_sandbox::clock::rfc3339;
use reqwest::Method;
use serde_json::json;

fn fen(text: &str) -> i64 {
    Amount::parse(text).unwrap().to_fen()
}

fn day(unix: i64) -> String {
    merchant_sandbox::clock::to_china(unix)
        .format("%Y-%m-%d")
        .to_string()
}

async fn feed_page(app: &App, after: u64, limit: u32) -> TradeChanges {
    ok(app
        .get(&format!("/v1/trades/changes?after={after}&limit={limit}"))
        .await)
    .parse()
}

/// Every page of the feed from `after`, checking each page's invariants.
async fn walk_feed(app: &App, mut after: u64, limit: u32) -> Vec<Trade> {
    let mut all = Vec::new();
    loop {
        let page = feed_page(app, after, limit).await;
        assert!(page.changes.len() <= limit as usize);
        for t in &page.changes {
            assert!(t.change_seq > after, "ascending, after the cursor");
            after = t.change_seq;
        }
        assert_eq!(page.next_after, after);
        all.extend(page.changes);
        if !page.has_more {
            assert_eq!(page.remaining, 0);
            return all;
        }
        assert!(page.remaining > 0);
    }
}

async fn refund(app: &App, trade_id: &str, amount: &str) -> crate::common::Reply {
    app.write(
        Method::POST,
        &format!("/v1/trades/{trade_id}/refunds"),
        Some(json!({"amount": amount})),
    )
    .await
}

async fn void(app: &App, trade_id: &str) -> crate::common::Reply {
    app.write(
        Method::POST,
        &format!("/v1/trades/{trade_id}/void"),
        Some(json!({})),
    )
    .await
}

#[tokio::test]
async fn the_feed_gives_every_record_once_in_change_order_while_trades_arrive() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000101").await;
    bind_free(&app, 2).await;
    let made = inject(&app, json!({"count": 30})).await.trades;
    let first = feed_page(&app, 0, 7).await;
    assert_eq!(first.changes.len(), 7);
    assert!(first.has_more);
    assert_eq!(first.remaining, 23, "the records beyond the page");
    // Trades arriving between pages come later in the feed: nothing is
    // skipped or given twice.
    let later = inject(&app, json!({"count": 5})).await.trades;
    let mut seen = first.changes.clone();
    seen.extend(walk_feed(&app, first.next_after, 7).await);
    let ids: Vec<&str> = seen.iter().map(|t| t.trade_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no record twice");
    let want: Vec<&str> = made
        .iter()
        .chain(&later)
        .map(|t| t.trade_id.as_str())
        .collect();
    assert_eq!(ids, want, "in the order they were made");
    assert!(seen.windows(2).all(|w| w[0].change_seq < w[1].change_seq));
    // Past the end: an empty page that keeps the cursor.
    let last = seen.last().unwrap().change_seq;
    let end = feed_page(&app, last, 10).await;
    assert!(end.changes.is_empty() && !end.has_more);
    assert_eq!((end.next_after, end.remaining), (last, 0));
    // Defaults: after 0, 500 a page.
    let all: TradeChanges = ok(app.get("/v1/trades/changes").await).parse();
    assert_eq!(all.changes.len(), 35);
    for t in &all.changes {
        assert_eq!(t.kind, TradeKind::Sale);
        assert_eq!(t.status, TradeStatus::Success);
        assert_eq!(t.batch_no.len(), 6);
        assert_eq!(t.voucher_no.len(), 6);
        assert_eq!(t.log_no.len(), 14);
        assert!(t.log_no.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(t.business_date, t.created_at[..10]);
        assert_eq!(t.updated_at, t.created_at);
        let scan = matches!(t.channel.as_str(), "wechat" | "alipay" | "unionpay_qr");
        assert_eq!(t.payer.is_some(), scan, "{t:?}");
        assert_eq!(t.card.is_some(), !scan);
    }
    let logs: HashSet<&str> = all.changes.iter().map(|t| t.log_no.as_str()).collect();
    assert_eq!(logs.len(), 35, "log numbers are unique per merchant");
    // Vouchers rise within a terminal's batch of the day.
    let mut by_terminal: BTreeMap<&str, Vec<&Trade>> = BTreeMap::new();
    for t in &all.changes {
        by_terminal
            .entry(t.terminal_sn.as_str())
            .or_default()
            .push(t);
    }
    for records in by_terminal.values() {
        assert!(
            records
                .windows(2)
                .all(|w| w[0].batch_no == w[1].batch_no && w[0].voucher_no < w[1].voucher_no)
        );
    }
}

#[tokio::test]
async fn bad_feed_parameters_are_refused_with_their_field_codes() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000102").await;
    for (q, field, code) in [
        ("after=-1", "after", "feed.after_invalid"),
        ("after=abc", "after", "feed.after_invalid"),
        ("after=1.5", "after", "feed.after_invalid"),
        ("after=99999999999999999999", "after", "feed.after_invalid"),
        ("limit=0", "limit", "page.limit_invalid"),
        ("limit=1001", "limit", "page.limit_invalid"),
        ("limit=ten", "limit", "page.limit_invalid"),
    ] {
        let e = app
            .get(&format!("/v1/trades/changes?{q}"))
            .await
            .expect_error(400, "request.field_invalid");
        let f = &e.fields.unwrap()[0];
        assert_eq!((f.field.as_str(), f.code.as_str()), (field, code), "{q}");
    }
    app.get("/v1/trades/changes?cursor=x")
        .await
        .expect_error(400, "request.field_invalid");
    let page: TradeChanges = ok(app.get("/v1/trades/changes?after=0&limit=1000").await).parse();
    assert!(page.changes.is_empty() && !page.has_more);
}

#[tokio::test]
async fn the_seeded_shops_history_is_in_the_feed() {
    let sandbox = start(SandboxConfig::default()).await;
    let shop = App::ready(&sandbox, "13800000001").await;
    let records = walk_feed(&shop, 0, 10).await;
    assert_eq!(records.len(), 36 + 2);
    let refunds: Vec<&Trade> = records
        .iter()
        .filter(|t| t.kind == TradeKind::Refund)
        .collect();
    assert_eq!(refunds.len(), 2);
    for r in refunds {
        let sale = records
            .iter()
            .find(|t| Some(&t.trade_id) == r.original_trade_id.as_ref())
            .expect("the refunded sale is in the feed");
        // The sale's refund moved it after the refund's own record.
        assert!(sale.change_seq > r.change_seq);
        assert!(matches!(
            sale.status,
            TradeStatus::PartiallyRefunded | TradeStatus::Refunded
        ));
    }
}

#[tokio::test]
async fn a_pending_trade_comes_again_in_the_feed_paid_or_closed() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000103").await;
    bind_free(&app, 1).await;
    let mut events = app.events(None).await;
    let made = inject(
        &app,
        json!({"count": 40, "channel": "wechat", "status": "pending"}),
    )
    .await
    .trades;
    assert!(made.iter().all(|t| t.status == TradeStatus::Pending));
    assert!(made.iter().all(|t| t.payer.is_some() && t.card.is_none()));
    let before = made.iter().map(|t| t.change_seq).max().unwrap();
    // Not paid yet: no refund, no void.
    refund(&app, &made[0].trade_id, "1.00")
        .await
        .expect_error(409, "refund.not_paid");
    // The codes expire or are paid within a minute of the business clock.
    advance_clock(&app, 61).await;
    let updated = next_of(&app, &mut events, event_types::TRADE_UPDATED).await;
    let data: Trade = serde_json::from_value(updated.data).unwrap();
    assert_ne!(data.status, TradeStatus::Pending);
    let again = walk_feed(&app, before, 7).await;
    assert_eq!(again.len(), 40, "each comes again with its new state");
    let mut closed = 0;
    for t in &again {
        assert!(t.change_seq > before);
        let was = made.iter().find(|f| f.trade_id == t.trade_id).unwrap();
        assert!(was.status.may_become(t.status));
        assert!(t.updated_at > t.created_at);
        match t.status {
            TradeStatus::Success => {}
            TradeStatus::Closed => closed += 1,
            other => panic!("a pending scan code became {other:?}"),
        }
    }
    assert!((1..=20).contains(&closed), "a few close unpaid: {closed}");
    let closed_one = again
        .iter()
        .find(|t| t.status == TradeStatus::Closed)
        .unwrap();
    refund(&app, &closed_one.trade_id, "1.00")
        .await
        .expect_error(409, "refund.not_paid");
    let paid = again
        .iter()
        .find(|t| t.status == TradeStatus::Success)
        .unwrap();
    ok(refund(&app, &paid.trade_id, "1.00").await);
    // `GET /v1/trades/{id}` shows the latest state too.
    let got: Trade = ok(app.get(&format!("/v1/trades/{}", paid.trade_id)).await).parse();
    assert_eq!(got.status, TradeStatus::PartiallyRefunded);
}

#[tokio::test]
async fn a_refund_is_a_record_and_moves_its_sale_in_the_feed() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000104").await;
    bind_free(&app, 1).await;
    let mut events = app.events(None).await;
    let sale = inject(&app, json!({"channel": "alipay", "amount": "200.00"}))
        .await
        .trades
        .remove(0);
    let before = walk_feed(&app, 0, 50).await.last().unwrap().change_seq;
    let done: TradeRefunded = ok(refund(&app, &sale.trade_id, "50.00").await).parse();
    let r = &done.record;
    assert_eq!(r.kind, TradeKind::Refund);
    assert_eq!(r.trade_id, done.refund.refund_id);
    assert!(r.trade_id.starts_with('R'));
    assert_eq!(r.original_trade_id.as_deref(), Some(sale.trade_id.as_str()));
    assert_eq!(
        (r.amount.as_str(), r.status),
        ("50.00", TradeStatus::Success)
    );
    assert_eq!(r.fee, done.refund.fee_returned);
    assert_eq!(
        (r.payer.as_ref(), r.terminal_sn.as_str()),
        (sale.payer.as_ref(), sale.terminal_sn.as_str())
    );
    assert_eq!(done.trade.status, TradeStatus::PartiallyRefunded);
    assert!(done.trade.change_seq > sale.change_seq);
    let event = next_of(&app, &mut events, event_types::TRADE_REFUNDED).await;
    let carried: TradeRefunded = serde_json::from_value(event.data).unwrap();
    assert_eq!(carried, done);
    let changed = walk_feed(&app, before, 50).await;
    let ids: Vec<&str> = changed.iter().map(|t| t.trade_id.as_str()).collect();
    assert_eq!(ids, [r.trade_id.as_str(), sale.trade_id.as_str()]);
    assert_eq!(changed[1], done.trade);
    // The list shows both records; the refund list the refund.
    let listed = all_trades(&app, "").await;
    assert_eq!(listed.len(), 2);
    // A refund record is not refunded.
    refund(&app, &r.trade_id, "1.00")
        .await
        .expect_error(409, "refund.not_a_sale");
}

#[tokio::test]
async fn a_card_sale_is_voided_whole_on_its_day_and_every_rule_has_its_code() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000105").await;
    bind_free(&app, 1).await;
    let mut events = app.events(None).await;
    let card = |amount: &str| json!({"channel": "credit_card", "amount": amount});
    let sale = inject(&app, card("880.00")).await.trades.remove(0);
    // Idempotent: the same key and body answer the same void.
    let key = "void-key-0000000001".to_owned();
    let path = format!("/v1/trades/{}/void", sale.trade_id);
    let body = json!({"reason": "顾客取消交易"});
    let first = ok(app
        .call(
            Method::POST,
            &path,
            Some(body.clone()),
            &[(HEADER_IDEMPOTENCY_KEY, key.clone())],
        )
        .await);
    let done: TradeVoided = first.parse();
    let again = ok(app
        .call(
            Method::POST,
            &path,
            Some(body),
            &[(HEADER_IDEMPOTENCY_KEY, key)],
        )
        .await);
    assert_eq!(again.body, first.body);
    assert!(again.headers.get("idempotent-replayed").is_some());
    assert_eq!(done.trade.status, TradeStatus::Voided);
    assert_eq!(done.trade.refunded_amount, "0.00");
    let v = &done.void;
    assert_eq!(v.kind, TradeKind::Void);
    assert!(v.trade_id.starts_with('V'));
    assert_eq!(v.original_trade_id.as_deref(), Some(sale.trade_id.as_str()));
    assert_eq!(
        (v.amount.as_str(), v.fee.as_str()),
        (sale.amount.as_str(), sale.fee.as_str())
    );
    assert_eq!(v.card, sale.card);
    assert_eq!(v.business_date, sale.business_date);
    assert!(v.change_seq > sale.change_seq && done.trade.change_seq > v.change_seq);
    let event = next_of(&app, &mut events, event_types::TRADE_VOIDED).await;
    assert_eq!(
        serde_json::from_value::<TradeVoided>(event.data).unwrap(),
        done
    );
    // Once voided: no second void, no refund; a void record is neither.
    void(&app, &sale.trade_id)
        .await
        .expect_error(409, "void.not_voidable");
    refund(&app, &sale.trade_id, "1.00")
        .await
        .expect_error(409, "refund.exceeds_refundable");
    void(&app, &v.trade_id)
        .await
        .expect_error(409, "void.not_voidable");
    refund(&app, &v.trade_id, "1.00")
        .await
        .expect_error(409, "refund.not_a_sale");
    // A scan-code sale: refund it instead.
    let scan = inject(&app, json!({"channel": "wechat"}))
        .await
        .trades
        .remove(0);
    void(&app, &scan.trade_id)
        .await
        .expect_error(409, "void.not_card");
    // A card sale refunded in part, or not paid yet.
    let part = inject(&app, card("300.00")).await.trades.remove(0);
    ok(refund(&app, &part.trade_id, "10.00").await);
    void(&app, &part.trade_id)
        .await
        .expect_error(409, "void.not_voidable");
    let pending = inject(
        &app,
        json!({"channel": "debit_card", "amount": "50.00", "status": "pending"}),
    )
    .await
    .trades
    .remove(0);
    void(&app, &pending.trade_id)
        .await
        .expect_error(409, "void.not_voidable");
    // Yesterday's card sale: the day is over; once settled, that is said.
    let now = sandbox_now(&app).await;
    let old = inject(
        &app,
        json!({"channel": "debit_card", "amount": "120.00", "at": rfc3339(now - 86_400)}),
    )
    .await
    .trades
    .remove(0);
    void(&app, &old.trade_id)
        .await
        .expect_error(409, "void.day_over");
    ok(app
        .open_post(
            "/sandbox/settlements",
            json!({"merchant_id": app.merchant_id.clone().unwrap(), "date": old.business_date}),
        )
        .await);
    void(&app, &old.trade_id)
        .await
        .expect_error(409, "void.day_settled");
    // Unknown, or another merchant's: not found.
    void(&app, "T20250101000000000000")
        .await
        .expect_error(404, "resource.not_found");
    let other = active_app(&sandbox, "13600000106").await;
    void(&other, &part.trade_id)
        .await
        .expect_error(404, "resource.not_found");
    app.write(
        Method::POST,
        &format!("/v1/trades/{}/void", part.trade_id),
        Some(json!({"reason": "x".repeat(65)})),
    )
    .await
    .expect_error(400, "request.field_invalid");
}

/// The statement of `date`, read with the contract's reader.
async fn statement_of(
    app: &App,
    date: &str,
) -> (Vec<statement::StatementLine>, statement::StatementTotal) {
    let r = ok(app.get(&format!("/v1/settlements/{date}/statement")).await);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some(statement::CONTENT_TYPE)
    );
    let mut lines = Vec::new();
    let total = statement::read(r.body.as_slice(), |l| {
        lines.push(l);
        Ok(())
    })
    .expect("a well-formed statement");
    (lines, total)
}

/// Checks a day's statement against its settlement and the day's records.
fn check_statement(
    day: &str,
    lines: &[statement::StatementLine],
    total: &statement::StatementTotal,
    settlement: &Settlement,
    records: &[Trade],
) {
    assert_eq!(total.net_fen, fen(&settlement.net_amount), "{day}");
    let of_day: Vec<&Trade> = records
        .iter()
        .filter(|t| {
            t.business_date == day
                && matches!(
                    t.status,
                    TradeStatus::Success
                        | TradeStatus::PartiallyRefunded
                        | TradeStatus::Refunded
                        | TradeStatus::Voided
                )
        })
        .collect();
    let listed: HashSet<&str> = lines.iter().map(|l| l.trade_id.as_str()).collect();
    let want: HashSet<&str> = of_day.iter().map(|t| t.trade_id.as_str()).collect();
    assert_eq!(listed, want, "{day}: the paid sales, voids and refunds");
    for l in lines {
        let t = of_day.iter().find(|t| t.trade_id == l.trade_id).unwrap();
        assert_eq!(l.kind, t.kind.as_str());
        assert_eq!((l.amount_fen, l.fee_fen), (fen(&t.amount), fen(&t.fee)));
        assert_eq!(l.original_trade_id, t.original_trade_id);
        assert_eq!((&l.log_no, &l.reference_no), (&t.log_no, &t.reference_no));
        assert_eq!(
            l.card,
            t.card.as_ref().map(|c| (c.bin.clone(), c.last4.clone()))
        );
        assert_eq!(l.time, t.created_at);
    }
    // The settlement: paid sales not voided, minus fees, minus refunds.
    let sales: Vec<&&Trade> = of_day
        .iter()
        .filter(|t| t.kind == TradeKind::Sale && t.status != TradeStatus::Voided)
        .collect();
    let refunds: Vec<&&Trade> = of_day
        .iter()
        .filter(|t| t.kind == TradeKind::Refund)
        .collect();
    assert_eq!(settlement.trade_count as usize, sales.len(), "{day}");
    assert_eq!(settlement.refund_count as usize, refunds.len(), "{day}");
    let gross: i64 = sales.iter().map(|t| fen(&t.amount)).sum();
    assert_eq!(fen(&settlement.gross_amount), gross, "{day}");
    assert_eq!(total.sale_fen - total.void_fen, gross);
}

#[tokio::test]
async fn the_statement_file_adds_up_to_the_settlement_and_lists_the_days_records() {
    let sandbox = start(SandboxConfig::default()).await;
    let mut app = active_app(&sandbox, "13600000107").await;
    bind_free(&app, 2).await;
    let merchant_id = app.merchant_id.clone().unwrap();
    let now = sandbox_now(&app).await;
    let today = day(now);
    // A day of trades: paid, voided, refunded, pending ones that resolve.
    let made = inject(&app, json!({"count": 12})).await.trades;
    inject(
        &app,
        json!({"count": 6, "channel": "wechat", "status": "pending"}),
    )
    .await;
    let card = inject(&app, json!({"channel": "debit_card", "amount": "640.00"}))
        .await
        .trades
        .remove(0);
    ok(void(&app, &card.trade_id).await);
    ok(refund(&app, &made[0].trade_id, "1.00").await);
    // Not over yet: no statement.
    app.get(&format!("/v1/settlements/{today}/statement"))
        .await
        .expect_error(404, "statement.not_ready");
    app.get("/v1/settlements/2025-02-30/statement")
        .await
        .expect_error(400, "request.field_invalid");
    // The day ends; the platform settles it 12.34 short.
    advance_clock(&app, 86_400).await;
    refresh(&mut app).await;
    let s: Settlement = ok(app
        .open_post(
            "/sandbox/settlements",
            json!({"merchant_id": merchant_id, "date": today, "shortfall": "12.34"}),
        )
        .await)
    .parse();
    assert_eq!(fen(&s.settled_amount), fen(&s.net_amount) - 1234);
    let records = all_trades(&app, "").await;
    assert!(records.iter().all(|t| t.status != TradeStatus::Pending));
    let (lines, total) = statement_of(&app, &today).await;
    check_statement(&today, &lines, &total, &s, &records);
    assert!(lines.iter().any(|l| l.kind == "void"));
    assert!(lines.iter().any(|l| l.kind == "refund"));
    assert!(
        lines.iter().any(|l| l.trade_id == card.trade_id),
        "a voided sale is listed with its void"
    );
    // Another merchant's day: not ready for them.
    let other = active_app(&sandbox, "13600000108").await;
    other
        .get(&format!("/v1/settlements/{today}/statement"))
        .await
        .expect_error(404, "statement.not_ready");
}

#[tokio::test]
async fn seeding_gives_a_consistent_feed_and_settlements() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000109").await;
    bind_free(&app, 2).await;
    let merchant_id = app.merchant_id.clone().unwrap();
    let mut events = app.events(None).await;
    let seeded: SeededTrades = ok(app
        .open_post(
            "/sandbox/trades/seed",
            json!({"merchant_id": merchant_id, "count": 2000, "days": 5}),
        )
        .await)
    .parse();
    assert_eq!(seeded.trades, 2000);
    assert!(seeded.reversals > 0);
    let records = walk_feed(&app, 0, 1000).await;
    assert_eq!(records.len() as u64, 2000 + seeded.reversals);
    assert_eq!(records.last().unwrap().change_seq, seeded.last_change_seq);
    let ids: HashSet<&str> = records.iter().map(|t| t.trade_id.as_str()).collect();
    assert_eq!(ids.len(), records.len());
    let logs: HashSet<&str> = records.iter().map(|t| t.log_no.as_str()).collect();
    assert_eq!(logs.len(), records.len(), "log numbers unique");
    let now = sandbox_now(&app).await;
    let days: Vec<String> = (1..=5).rev().map(|d| day(now - d * 86_400)).collect();
    let by_id: HashMap<&str, &Trade> = records.iter().map(|t| (t.trade_id.as_str(), t)).collect();
    let mut kinds: HashMap<TradeKind, usize> = HashMap::new();
    let mut statuses: HashSet<TradeStatus> = HashSet::new();
    let mut refunded: HashMap<&str, i64> = HashMap::new();
    for t in &records {
        *kinds.entry(t.kind).or_default() += 1;
        statuses.insert(t.status);
        assert!(days.contains(&t.business_date), "{}", t.business_date);
        assert_ne!(t.status, TradeStatus::Pending, "seeded records are final");
        if let Some(orig) = &t.original_trade_id {
            let sale = by_id[orig.as_str()];
            assert_eq!(sale.kind, TradeKind::Sale);
            assert!(t.created_at >= sale.created_at);
            match t.kind {
                TradeKind::Refund => *refunded.entry(orig.as_str()).or_default() += fen(&t.amount),
                _ => {
                    assert_eq!(sale.status, TradeStatus::Voided);
                    assert_eq!(sale.business_date, t.business_date);
                }
            }
        }
    }
    assert_eq!(kinds[&TradeKind::Sale], 2000);
    assert!(kinds.get(&TradeKind::Refund).is_some_and(|n| *n > 0));
    for s in [
        TradeStatus::Success,
        TradeStatus::Closed,
        TradeStatus::Refunded,
    ] {
        assert!(statuses.contains(&s), "{s:?} among the seeded");
    }
    for t in records.iter().filter(|t| t.kind == TradeKind::Sale) {
        let r = refunded.get(t.trade_id.as_str()).copied().unwrap_or(0);
        assert_eq!(fen(&t.refunded_amount), r, "{}", t.trade_id);
    }
    // Settled, each day's statement adding up.
    let settlements: Vec<Settlement> = all_pages(&app, "/v1/settlements", "", 50).await.0;
    assert_eq!(settlements.len(), 5);
    for s in &settlements {
        let (lines, total) = statement_of(&app, &s.date).await;
        check_statement(&s.date, &lines, &total, s, &records);
    }
    // Seeding emits nothing: the first trade or settlement event is the
    // trade made now.
    let now_made = inject(&app, json!({})).await.trades.remove(0);
    loop {
        let frame = events.next_event().await.expect("the stream stays open");
        let event = app.open_event(&frame);
        if event.event_type == event_types::TRADE_CREATED {
            let t: Trade = serde_json::from_value(event.data).unwrap();
            assert_eq!(t.trade_id, now_made.trade_id);
            break;
        }
        assert!(
            !event.event_type.starts_with("trade.")
                && event.event_type != event_types::SETTLEMENT_READY,
            "seeding emitted {}",
            event.event_type
        );
    }
    // Refusals.
    for (body, field, code) in [
        (
            json!({"count": 0, "days": 5}),
            "count",
            "seed.count_invalid",
        ),
        (
            json!({"count": 2_000_001, "days": 5}),
            "count",
            "seed.count_invalid",
        ),
        (json!({"count": 10, "days": 0}), "days", "seed.days_invalid"),
        (
            json!({"count": 10, "days": 3661}),
            "days",
            "seed.days_invalid",
        ),
    ] {
        let mut body = body;
        body["merchant_id"] = json!(merchant_id);
        let e = app
            .open_post("/sandbox/trades/seed", body)
            .await
            .expect_error(400, "request.field_invalid");
        let f = &e.fields.unwrap()[0];
        assert_eq!((f.field.as_str(), f.code.as_str()), (field, code));
    }
    app.open_post(
        "/sandbox/trades/seed",
        json!({"merchant_id": merchant_id, "count": 10, "days": 2}),
    )
    .await
    .expect_error(409, "settlement.day_closed");
    app.open_post(
        "/sandbox/trades/seed",
        json!({"merchant_id": "mch_nobody", "count": 10, "days": 2}),
    )
    .await
    .expect_error(404, "sandbox.merchant_unknown");
}
