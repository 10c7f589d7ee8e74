//! Trades end to end: the sandbox in-process, MerchantCore driven as an app
//! would: the change feed synced page by page onto the phone (progress,
//! joiners, updates moving forward), refunds sent once under a double tap
//! and after a lost answer and a restart, voids, and a day reconciled
//! against its statement file with a shortfall recorded as a protection
//! finding.

use std::sync::{Arc, Mutex};

use merchant_contract::domain::sandbox::{InjectedTrades, SeededTrades};
use merchant_core::MerchantError;
use merchant_core::money::Amount;
use merchant_core::trades::{
    ReconciliationStatus, TradeKind, TradeStatus, TradeSyncListener, TradeSyncProgress,
};
use merchant_sandbox::{RunningSandbox, SandboxConfig};

mod common;
use common::proxy::RecordingProxy;
use common::*;

async fn seed(sb: &RunningSandbox, merchant_id: &str, count: u32, days: u32) -> SeededTrades {
    serde_json::from_value(
        sandbox_control(
            sb,
            "/sandbox/trades/seed",
            Some(serde_json::json!({"merchant_id": merchant_id, "count": count, "days": days})),
        )
        .await,
    )
    .expect("seeded")
}

async fn inject(sb: &RunningSandbox, body: serde_json::Value) -> InjectedTrades {
    serde_json::from_value(sandbox_control(sb, "/sandbox/trades", Some(body)).await)
        .expect("injected")
}

#[derive(Default)]
struct Progress(Mutex<Vec<TradeSyncProgress>>);

impl TradeSyncListener for Progress {
    fn on_progress(&self, progress: TradeSyncProgress) {
        self.0.lock().unwrap().push(progress);
    }
}

#[tokio::test]
async fn the_feed_syncs_page_by_page_with_progress_and_a_second_caller_joins() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, _) = active_shop(&core, &sb, "13800000101").await;
    let seeded = seed(&sb, &merchant_id, 2_345, 10).await;
    let records = seeded.trades + seeded.reversals;
    assert!(seeded.reversals > 0, "the seeding refunds and voids some");

    let progress = Arc::new(Progress::default());
    let (first, second) = tokio::join!(
        bounded(core.sync_trades(Some(progress.clone()))),
        bounded(core.sync_trades(None)),
    );
    let (first, second) = (first.expect("synced"), second.expect("joined"));
    assert!(
        first.joined != second.joined,
        "one ran, one joined: {first:?} {second:?}"
    );
    let ran = if first.joined { second } else { first };
    assert_eq!(ran.applied, records);
    assert_eq!(ran.cursor, seeded.last_change_seq);
    assert!(!ran.has_more);
    assert_eq!(ran.pages, records.div_ceil(1000) as u32, "{ran:?}");

    let seen = progress.0.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the listener heard the pages");
    assert!(
        seen.windows(2)
            .all(|w| w[0].pages < w[1].pages && w[0].applied < w[1].applied),
        "{seen:?}"
    );
    let last = seen.last().unwrap();
    assert_eq!(last.remaining, 0);
    assert_eq!(last.cursor, seeded.last_change_seq);

    let kept = bounded(core.trade_sync_state()).await.unwrap();
    assert_eq!(kept.trades, records);
    assert_eq!(kept.cursor, seeded.last_change_seq);

    // Nothing new: a sync applies nothing and keeps the cursor.
    let again = bounded(core.sync_trades(None)).await.unwrap();
    assert_eq!((again.applied, again.cursor), (0, seeded.last_change_seq));
    sb.shutdown().await;
}

#[tokio::test]
async fn pending_trades_move_forward_through_the_feed_and_events_never_move_them_back() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, _) = active_shop(&core, &sb, "13800000102").await;
    let made = inject(
        &sb,
        serde_json::json!({"merchant_id": merchant_id, "count": 6, "channel": "wechat", "status": "pending"}),
    )
    .await;
    assert!(
        made.trades
            .iter()
            .all(|t| t.status == merchant_contract::domain::TradeStatus::Pending)
    );
    bounded(core.sync_trades(None)).await.unwrap();
    let before = bounded(core.trade_sync_state()).await.unwrap();
    assert_eq!(before.trades, 6);

    // A minute and more later every scan code is paid or closed.
    advance(&sb, 120);
    let after = bounded(core.sync_trades(None)).await.unwrap();
    assert_eq!(after.applied, 6, "each pending trade changed once");
    assert!(after.cursor > before.cursor);
    let kept = bounded(core.trade_sync_state()).await.unwrap();
    assert_eq!(kept.trades, 6, "updates replace, never add");

    // The first, older `trade.created` event arriving late changes nothing.
    let created = serde_json::to_string(&made.trades[0]).unwrap();
    bounded(core.apply_event(merchant_core::session::PushEvent {
        event_id: 1,
        event_type: "trade.created".to_owned(),
        merchant_id: Some(merchant_id.clone()),
        timestamp: 0,
        occurred_at: made.trades[0].created_at.clone(),
        body_json: created,
    }))
    .await
    .expect("a stale event is accepted and ignored");
    let status = bounded(core.refund_trade(
        made.trades[0].trade_id.clone(),
        Amount::parse("0.01").unwrap(),
        None,
    ))
    .await;
    // Paid: refundable; closed: refused on the phone, never pending.
    match status {
        Ok(out) => assert_eq!(out.refund.kind, TradeKind::Refund),
        Err(e) => assert_eq!(e.code(), "refund.not_refundable", "{e:?}"),
    }
    sb.shutdown().await;
}

const REFUNDS: &str = "POST /v1/trades/{trade_id}/refunds";

#[tokio::test]
async fn a_double_tap_refunds_once_and_a_lost_answer_is_retried_with_its_key_after_a_restart() {
    let sb = sandbox(SandboxConfig::default()).await;
    let proxy = RecordingProxy::start(sb.addr).await;
    let dev = Device::new();
    let config = merchant_core::CoreConfig {
        platform_url: proxy.url.clone(),
        platform_pin: None,
        ..dev.config(&sb)
    };
    let core = dev.core_with(config.clone());
    let (merchant_id, _) = active_shop(&core, &sb, "13800000103").await;
    let made = inject(
        &sb,
        serde_json::json!({"merchant_id": merchant_id, "count": 2, "channel": "credit_card", "amount": "200.00", "status": "success"}),
    )
    .await;
    bounded(core.sync_trades(None)).await.unwrap();
    let (a, b) = (&made.trades[0], &made.trades[1]);
    let refunds_of = |trade_id: &str| {
        proxy
            .exchanges(&REFUNDS.replace("{trade_id}", trade_id))
            .len()
    };

    // Above what is left: refused on the phone, no call made.
    let e = bounded(core.refund_trade(a.trade_id.clone(), Amount::parse("200.01").unwrap(), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "refund.above_refundable");
    assert_eq!(refunds_of(&a.trade_id), 0, "refused before any call");

    // A double tap: two calls at once, one refund.
    let amount = Amount::parse("50.00").unwrap();
    let (x, y) = tokio::join!(
        bounded(core.refund_trade(a.trade_id.clone(), amount, Some("顾客退货".to_owned()))),
        bounded(core.refund_trade(a.trade_id.clone(), amount, Some("顾客退货".to_owned()))),
    );
    let (x, y) = (x.expect("refunded"), y.expect("the same refund"));
    assert_eq!(x.refund.trade_id, y.refund.trade_id);
    assert_eq!(refunds_of(&a.trade_id), 1, "one call for two taps");
    assert_eq!(x.trade.status, TradeStatus::PartiallyRefunded);
    assert_eq!(x.trade.refunded_amount, amount);

    // The answer to the next refund is lost; the app restarts.
    let path = REFUNDS.replace("{trade_id}", &b.trade_id);
    proxy.drop_answers_to(Some(&path));
    let lost = bounded(core.refund_trade(b.trade_id.clone(), amount, None)).await;
    assert!(
        matches!(lost, Err(MerchantError::Network { .. })),
        "{lost:?}"
    );
    let tries = proxy.exchanges(&path);
    assert!(!tries.is_empty() && tries.iter().all(|e| e.dropped));
    let key = tries[0].idempotency_key.clone().expect("a keyed write");
    drop(core);
    proxy.drop_answers_to(None);
    let core = dev.core_with(config);
    let resumed = bounded(core.resume_pending_refunds())
        .await
        .expect("resumed");
    assert!(
        resumed.iter().any(|p| p.trade_id == b.trade_id),
        "{resumed:?}"
    );
    let all = proxy.exchanges(&path);
    let retry = all.last().unwrap();
    assert_eq!(retry.idempotency_key.as_deref(), Some(key.as_str()));
    assert!(retry.replayed, "the platform replayed the first refund");

    // The platform holds one refund of each sale.
    bounded(core.sync_trades(None)).await.unwrap();
    let state = bounded(core.trade_sync_state()).await.unwrap();
    assert_eq!(state.trades, 4, "two sales and one refund of each");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_card_trade_is_voided_on_its_day_and_a_scan_code_is_refused_on_the_phone() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, _) = active_shop(&core, &sb, "13800000104").await;
    let card = inject(
        &sb,
        serde_json::json!({"merchant_id": merchant_id, "channel": "debit_card", "status": "success"}),
    )
    .await;
    let scan = inject(
        &sb,
        serde_json::json!({"merchant_id": merchant_id, "channel": "alipay", "status": "success"}),
    )
    .await;
    bounded(core.sync_trades(None)).await.unwrap();

    let voided = bounded(core.void_trade(card.trades[0].trade_id.clone(), None))
        .await
        .expect("voided");
    assert_eq!(voided.trade.status, TradeStatus::Voided);
    assert_eq!(voided.void.kind, TradeKind::Void);
    assert_eq!(voided.void.amount, voided.trade.amount);
    assert_eq!(
        voided.void.fee, voided.trade.fee,
        "the fee comes back whole"
    );

    let e = bounded(core.void_trade(scan.trades[0].trade_id.clone(), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "void.card_only");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_day_settled_short_is_a_discrepancy_and_a_protection_finding() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, _) = active_shop(&core, &sb, "13800000105").await;
    let seeded: SeededTrades = serde_json::from_value(
        sandbox_control(
            &sb,
            "/sandbox/trades/seed",
            Some(serde_json::json!({"merchant_id": merchant_id, "count": 400, "days": 2, "settle": false})),
        )
        .await,
    )
    .unwrap();
    assert!(seeded.trades > 0);
    let yesterday = sandbox_day_before(&sb, 1).await;
    let before = sandbox_day_before(&sb, 2).await;
    sandbox_control(
        &sb,
        "/sandbox/settlements",
        Some(serde_json::json!({"merchant_id": merchant_id, "date": yesterday, "shortfall": "12.34"})),
    )
    .await;
    bounded(core.sync_trades(None)).await.unwrap();

    let short = bounded(core.reconcile_day(yesterday.clone()))
        .await
        .expect("reconciled");
    assert_eq!(short.status, ReconciliationStatus::Discrepancy);
    assert_eq!(short.shortfall, Amount::parse("12.34").unwrap());
    assert_eq!(
        short.expected, short.statement_net,
        "the phone agrees with the file"
    );
    assert!(short.only_on_phone.is_empty() && short.only_in_statement.is_empty());
    assert!(short.statement_lines > 0);
    let findings = bounded(core.findings(false)).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.code == "settlement.shortfall" && f.subject == yesterday),
        "{findings:?}"
    );

    // The day before was settled in full: matched, kept for offline reading.
    let full = bounded(core.reconcile_day(before.clone())).await.unwrap();
    assert_eq!(full.status, ReconciliationStatus::Matched, "{full:?}");
    assert_eq!(full.shortfall, Amount::parse("0").unwrap());
    let kept = bounded(core.reconciliation(before)).await.unwrap();
    assert_eq!(kept, Some(full));
    sb.shutdown().await;
}
