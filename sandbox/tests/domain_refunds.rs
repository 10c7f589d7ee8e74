//! Refunds the sandbox makes by itself: the steady stream's (announced with
//! `trade.refunded`, within the refund rules, the same under the same seed),
//! the on-demand control `POST /sandbox/refunds` and its refusals.

mod common;
mod domain_common;

use common::*;
use domain_common::*;
use merchant_contract::domain::{Refund, Trade, TradeKind, TradeRefunded, TradeStatus};
use merchant_contract::wire::{Page, event_types};
use merchant_core::money::Amount;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

const REASONS: &[&str] = &["顾客退货", "商品缺货", "顾客取消订单", "多收款项"];

fn fen(text: &str) -> i64 {
    Amount::parse(text).unwrap().to_fen()
}

fn without(v: impl serde::Serialize, keys: &[&str]) -> Value {
    let mut v = serde_json::to_value(v).unwrap();
    for k in keys {
        v.as_object_mut().unwrap().remove(*k);
    }
    v
}

fn fixed_clock(seed: u64) -> SandboxConfig {
    SandboxConfig {
        seed,
        clock_start: Some(1_748_318_400), // 2025-05-27 12:00 +08:00
        ..Default::default()
    }
}

async fn start_stream(app: &App, interval_ms: u64, count: u32) {
    ok(app
        .open_post(
            "/sandbox/trades/stream",
            json!({
                "merchant_id": app.merchant_id.clone().unwrap(),
                "interval_ms": interval_ms,
                "count": count,
            }),
        )
        .await);
}

#[tokio::test]
async fn the_stream_refunds_some_earlier_trades_within_the_rules() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000901").await;
    bind_free(&app, 2).await;
    let mut events = app.events(None).await;
    // At most 300 trades: the reader's timeout fails the test if none of
    // them is followed by a refund.
    start_stream(&app, 50, 300).await;
    let event = next_of(&app, &mut events, event_types::TRADE_REFUNDED).await;
    ok(app
        .open_post(
            "/sandbox/trades/stream/stop",
            json!({"merchant_id": app.merchant_id.clone().unwrap()}),
        )
        .await);
    let done: TradeRefunded = serde_json::from_value(event.data).unwrap();
    // The same record as a merchant's refund, of an earlier trade.
    assert_eq!(done.refund.trade_id, done.trade.trade_id);
    assert!(done.refund.refund_id.starts_with('R'));
    assert!(REASONS.contains(&done.refund.reason.as_deref().unwrap()));
    let refunded = fen(&done.refund.amount);
    assert!(refunded > 0 && refunded <= fen(&done.trade.amount));
    assert_eq!(fen(&done.trade.refunded_amount), refunded);
    assert!(fen(&done.refund.fee_returned) <= fen(&done.trade.fee));
    let status = if refunded == fen(&done.trade.amount) {
        TradeStatus::Refunded
    } else {
        TradeStatus::PartiallyRefunded
    };
    assert_eq!(done.trade.status, status);
    // The merchant sees it like its own refunds.
    let listed: Page<Refund> = ok(app
        .get(&format!("/v1/refunds?trade_id={}", done.trade.trade_id))
        .await)
    .parse();
    assert!(listed.items.contains(&done.refund));
    let trade: Trade = ok(app
        .get(&format!("/v1/trades/{}", done.trade.trade_id))
        .await)
    .parse();
    assert_eq!(trade.refunded_amount, done.trade.refunded_amount);
    // Every refund fits in today's takings: the day's net stays positive.
    let trades = all_trades(&app, "").await;
    let refunds: Vec<Refund> = all_pages(&app, "/v1/refunds", "", 200).await.0;
    let gross: i64 = trades.iter().map(|t| fen(&t.amount)).sum();
    let fees: i64 = trades.iter().map(|t| fen(&t.fee)).sum();
    let back: i64 = refunds.iter().map(|r| fen(&r.fee_returned)).sum();
    let out: i64 = refunds.iter().map(|r| fen(&r.amount)).sum();
    assert!(gross - (fees - back) - out >= 0);
    for t in &trades {
        assert!(fen(&t.refunded_amount) <= fen(&t.amount));
    }
}

/// A stream of `count` trades for a new merchant of a fixed-clock sandbox:
/// its trades and refunds without their times.
async fn streamed(seed: u64, count: u32) -> (Vec<Value>, Vec<Value>) {
    let sandbox = start(fixed_clock(seed)).await;
    let app = active_app(&sandbox, "13900000902").await;
    bind_free(&app, 2).await;
    let mut events = app.events(None).await;
    start_stream(&app, 50, count).await;
    for _ in 0..count {
        next_of(&app, &mut events, event_types::TRADE_CREATED).await;
    }
    // A tick's refund is written with its trade: all are listed now.
    let trades = all_trades(&app, "")
        .await
        .iter()
        .filter(|t| t.kind == TradeKind::Sale)
        .map(|t| without(t, &["created_at", "updated_at"]))
        .collect();
    let refunds = all_pages::<Refund>(&app, "/v1/refunds", "", 200)
        .await
        .0
        .iter()
        .map(|r| without(r, &["created_at"]))
        .collect();
    (trades, refunds)
}

#[tokio::test]
async fn the_streams_refunds_are_the_same_under_the_same_seed() {
    let (a, b, c) = tokio::join!(streamed(11, 80), streamed(11, 80), streamed(12, 80));
    assert_eq!(a.0.len(), 80);
    assert!(!a.1.is_empty(), "80 trades bring a refund under this seed");
    assert_eq!(a.0, b.0, "trades, refunded amounts included");
    assert_eq!(a.1, b.1, "refunds");
    assert_ne!(a.0, c.0);
}

#[tokio::test]
async fn a_refund_on_demand_follows_the_refund_rules() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000903").await;
    let merchant_id = app.merchant_id.clone().unwrap();
    bind_free(&app, 1).await;
    let mut events = app.events(None).await;
    let t = inject(&app, json!({"channel": "wechat", "amount": "100.00"}))
        .await
        .trades
        .remove(0);
    let refund = |body: Value| {
        let app = &app;
        let mut full = json!({"merchant_id": merchant_id, "trade_id": t.trade_id});
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        async move { app.open_post("/sandbox/refunds", full).await }
    };

    // Part of it, with a reason: the merchant's answer and event.
    let part: TradeRefunded =
        ok(refund(json!({"amount": "30.00", "reason": "顾客退货"})).await).parse();
    assert_eq!(part.refund.amount, "30.00");
    assert_eq!(part.refund.fee_returned, "0.11");
    assert_eq!(part.refund.reason.as_deref(), Some("顾客退货"));
    assert_eq!(part.trade.status, TradeStatus::PartiallyRefunded);
    let event = next_of(&app, &mut events, event_types::TRADE_REFUNDED).await;
    let announced: TradeRefunded = serde_json::from_value(event.data).unwrap();
    assert_eq!(announced, part);
    let listed: Page<Refund> = ok(app.get("/v1/refunds").await).parse();
    assert_eq!(listed.items, vec![part.refund.clone()]);

    // Above what is left: refused, nothing changes.
    refund(json!({"amount": "70.01"}))
        .await
        .expect_error(409, "refund.exceeds_refundable");
    // Without an amount: the rest, the whole fee back.
    let rest: TradeRefunded = ok(refund(json!({})).await).parse();
    assert_eq!(rest.refund.amount, "70.00");
    assert_eq!(rest.refund.fee_returned, "0.27");
    assert_eq!(rest.refund.reason, None);
    assert_eq!(rest.trade.status, TradeStatus::Refunded);
    assert_eq!(rest.trade.refunded_amount, "100.00");
    // Nothing is left.
    for body in [json!({}), json!({"amount": "0.01"})] {
        refund(body)
            .await
            .expect_error(409, "refund.exceeds_refundable");
    }
    let fetched: Trade = ok(app.get(&format!("/v1/trades/{}", t.trade_id)).await).parse();
    assert_eq!(fetched, rest.trade);

    // A trade of another day must fit in today's takings.
    let now = sandbox_now(&app).await;
    let old = inject(
        &app,
        json!({"amount": "200.00", "at": merchant_sandbox::clock::rfc3339(now - 86_400)}),
    )
    .await
    .trades
    .remove(0);
    let old_body = json!({"merchant_id": merchant_id, "trade_id": old.trade_id});
    app.open_post("/sandbox/refunds", old_body.clone())
        .await
        .expect_error(409, "refund.insufficient_balance");
    inject(&app, json!({"channel": "alipay", "amount": "300.00"})).await;
    let paid: TradeRefunded = ok(app.open_post("/sandbox/refunds", old_body).await).parse();
    assert_eq!(paid.refund.amount, "200.00");

    // Bad requests, each with its code.
    for (body, code) in [
        (json!({"amount": "0"}), "refund.amount_zero"),
        (json!({"amount": "1.234"}), "amount.too_many_decimals"),
        (json!({"amount": "-5"}), "amount.signed"),
        (json!({"reason": "很".repeat(65)}), "field.too_long"),
        (json!({"reason": "退\u{7}货"}), "field.invalid"),
    ] {
        let e = refund(body)
            .await
            .expect_error(400, "request.field_invalid");
        assert!(e.fields.unwrap().iter().any(|f| f.code == code), "{code}");
    }
    refund(json!({"refund_all": true}))
        .await
        .expect_error(400, "request.field_invalid");
    app.open_post(
        "/sandbox/refunds",
        json!({"merchant_id": "mch_nobody", "trade_id": t.trade_id}),
    )
    .await
    .expect_error(404, "sandbox.merchant_unknown");
    // Another merchant's trade is no trade of this one.
    let other = active_app(&sandbox, "13900000904").await;
    bind_free(&other, 1).await;
    let theirs = inject(&other, json!({"amount": "10.00"}))
        .await
        .trades
        .remove(0);
    app.open_post(
        "/sandbox/refunds",
        json!({"merchant_id": merchant_id, "trade_id": theirs.trade_id}),
    )
    .await
    .expect_error(404, "resource.not_found");
    let untouched: Trade = ok(other.get(&format!("/v1/trades/{}", theirs.trade_id)).await).parse();
    assert_eq!(untouched.status, TradeStatus::Success);
    // The merchant's own refund endpoint agrees that nothing is left.
    app.write(
        Method::POST,
        &format!("/v1/trades/{}/refunds", t.trade_id),
        Some(json!({"amount": "1"})),
    )
    .await
    .expect_error(409, "refund.exceeds_refundable");
}
