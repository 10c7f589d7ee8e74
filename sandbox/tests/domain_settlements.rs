//! Daily settlements against the real sandbox: the day's trades minus fees
//! minus refunds, settled in full when the day is over, or short when a
//! shortfall is injected; closed days; pages; the seeded shop's history.

mod common;
mod domain_common;

use std::collections::BTreeMap;

use common::*;
use domain_common::*;
use merchant_contract::domain::{Refund, Settlement, Trade, TradeKind, TradeRefunded, TradeStatus};
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

#[tokio::test]
async fn a_finished_day_is_settled_in_full_trades_minus_fees_minus_refunds() {
    let sandbox = start(SandboxConfig::default()).await;
    let mut app = active_app(&sandbox, "13500000101").await;
    bind_free(&app, 1).await;
    let mut events = app.events(None).await;
    let now = sandbox_now(&app).await;
    let yesterday = rfc3339(now - 86_400);
    for (channel, amount) in [
        ("wechat", "100.00"),
        ("alipay", "1200.00"),
        ("credit_card", "500.00"),
    ] {
        inject(
            &app,
            json!({"channel": channel, "amount": amount, "at": yesterday}),
        )
        .await;
    }
    let today_trade = inject(&app, json!({"channel": "debit_card", "amount": "300.00"}))
        .await
        .trades
        .remove(0);
    let refund: TradeRefunded = ok(app
        .write(
            Method::POST,
            &format!("/v1/trades/{}/refunds", today_trade.trade_id),
            Some(json!({"amount": "50.00"})),
        )
        .await)
    .parse();
    assert_eq!(refund.refund.fee_returned, "0.30");

    // Yesterday is over: settled at the first look; today is not.
    let listed: Vec<Settlement> = all_pages(&app, "/v1/settlements", "", 50).await.0;
    assert_eq!(listed.len(), 1);
    let s = &listed[0];
    assert_eq!(s.date, day(now - 86_400));
    assert_eq!(s.trade_count, 3);
    assert_eq!(s.refund_count, 0);
    assert_eq!(s.gross_amount, "1800.00");
    // 0.38 + 1200 × 0.60 % + 500 × 0.60 %
    assert_eq!(s.fee_amount, "10.58");
    assert_eq!(s.refund_amount, "0.00");
    assert_eq!(s.net_amount, "1789.42");
    assert_eq!(s.settled_amount, s.net_amount);
    let ready = next_of(&app, &mut events, event_types::SETTLEMENT_READY).await;
    assert_eq!(ready.data["date"], s.date.as_str());
    assert_eq!(ready.data["settled_amount"], "1789.42");
    // Reading again settles nothing twice.
    let again: Vec<Settlement> = all_pages(&app, "/v1/settlements", "", 50).await.0;
    assert_eq!(&again, &listed);

    // Tomorrow, today is settled too: the refund and its returned fee count.
    advance_clock(&app, 86_400).await;
    refresh(&mut app).await;
    let today: Settlement = ok(app.get(&format!("/v1/settlements/{}", day(now))).await).parse();
    assert_eq!(today.trade_count, 1);
    assert_eq!(today.refund_count, 1);
    assert_eq!(today.gross_amount, "300.00");
    assert_eq!(today.fee_amount, "1.50", "1.80 charged, 0.30 returned");
    assert_eq!(today.refund_amount, "50.00");
    assert_eq!(today.net_amount, "248.50");
    assert_eq!(today.settled_amount, "248.50");
    let ready = next_of(&app, &mut events, event_types::SETTLEMENT_READY).await;
    assert_eq!(ready.data["date"], today.date.as_str());

    // The statement agrees with the merchant's own trades.
    let trades: Vec<Trade> = all_trades(&app, "").await;
    let mut by_day: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for t in &trades {
        let d = t.created_at[..10].to_owned();
        let e = by_day.entry(d).or_default();
        e.0 += fen(&t.amount);
        e.1 += fen(&t.fee);
    }
    assert_eq!(by_day[&s.date], (fen(&s.gross_amount), fen(&s.fee_amount)));
}

#[tokio::test]
async fn an_injected_shortfall_pays_less_than_due_and_closes_the_day() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13500000201").await;
    let merchant_id = app.merchant_id.clone().unwrap();
    bind_free(&app, 1).await;
    let now = sandbox_now(&app).await;
    let d1 = day(now - 86_400);
    let d2 = day(now - 2 * 86_400);
    inject(
        &app,
        json!({"count": 4, "channel": "wechat", "amount": "25.00", "at": rfc3339(now - 86_400)}),
    )
    .await;
    inject(
        &app,
        json!({"channel": "alipay", "amount": "10.00", "at": rfc3339(now - 2 * 86_400)}),
    )
    .await;

    let short: Settlement = ok(app
        .open_post(
            "/sandbox/settlements",
            json!({"merchant_id": merchant_id, "date": d1, "shortfall": "12.34"}),
        )
        .await)
    .parse();
    assert_eq!(short.gross_amount, "100.00");
    assert_eq!(short.fee_amount, "0.40", "4 × 0.095 rounds to 4 × 0.10");
    assert_eq!(short.net_amount, "99.60");
    assert_eq!(short.settled_amount, "87.26", "99.60 − 12.34");

    // The day is closed: no second settlement, no more trades on it.
    app.open_post(
        "/sandbox/settlements",
        json!({"merchant_id": merchant_id, "date": d1}),
    )
    .await
    .expect_error(409, "settlement.day_closed");
    app.open_post(
        "/sandbox/trades",
        json!({"merchant_id": merchant_id, "at": rfc3339(now - 86_400)}),
    )
    .await
    .expect_error(409, "settlement.day_closed");

    // A shortfall above what is due pays nothing (never below zero).
    let nothing: Settlement = ok(app
        .open_post(
            "/sandbox/settlements",
            json!({"merchant_id": merchant_id, "date": d2, "shortfall": "1000"}),
        )
        .await)
    .parse();
    assert_eq!(nothing.net_amount, "9.96");
    assert_eq!(nothing.settled_amount, "0.00");

    // The merchant reads what was paid. (Reading settles every finished day
    // still open, which is why the shortfalls were injected first.)
    let read: Settlement = ok(app.get(&format!("/v1/settlements/{d1}")).await).parse();
    assert_eq!(read.settled_amount, "87.26");
    assert_eq!(read.net_amount, "99.60");

    // Today is not over; bad requests have their codes.
    app.open_post(
        "/sandbox/settlements",
        json!({"merchant_id": merchant_id, "date": day(now)}),
    )
    .await
    .expect_error(409, "settlement.day_not_over");
    for (body, field, code) in [
        (
            json!({"merchant_id": merchant_id, "date": "27/05/2025"}),
            "date",
            "filter.date_invalid",
        ),
        (
            json!({"merchant_id": merchant_id, "date": d1, "shortfall": "-1"}),
            "shortfall",
            "amount.signed",
        ),
    ] {
        let e = app
            .open_post("/sandbox/settlements", body)
            .await
            .expect_error(400, "request.field_invalid");
        let f = &e.fields.unwrap()[0];
        assert_eq!((f.field.as_str(), f.code.as_str()), (field, code));
    }
    app.open_post(
        "/sandbox/settlements",
        json!({"merchant_id": "mch_nobody", "date": d1}),
    )
    .await
    .expect_error(404, "sandbox.merchant_unknown");
}

#[tokio::test]
async fn settlement_pages_and_filters_by_day() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13500000301").await;
    bind_free(&app, 1).await;
    let now = sandbox_now(&app).await;
    for back in 1..=5 {
        inject(
            &app,
            json!({"count": back, "at": rfc3339(now - back * 86_400)}),
        )
        .await;
    }
    let (items, pages) = all_pages::<Settlement>(&app, "/v1/settlements", "", 2).await;
    assert_eq!(pages, 3);
    let days: Vec<String> = items.iter().map(|s| s.date.clone()).collect();
    let want: Vec<String> = (1..=5).map(|b| day(now - b * 86_400)).collect();
    assert_eq!(days, want, "each day once, newest first");
    for s in &items {
        let back = want.iter().position(|d| *d == s.date).unwrap() as u32 + 1;
        assert_eq!(s.trade_count, back);
    }
    let range = format!(
        "from={}&to={}",
        day(now - 4 * 86_400),
        day(now - 2 * 86_400)
    );
    let (ranged, _) = all_pages::<Settlement>(&app, "/v1/settlements", &range, 50).await;
    assert_eq!(ranged.len(), 3, "both ends included");
    for (q, code) in [
        ("from=2025-13-01", "filter.date_invalid"),
        ("to=yesterday", "filter.date_invalid"),
        ("from=2025-05-02&to=2025-05-01", "filter.range_invalid"),
    ] {
        let e = app
            .get(&format!("/v1/settlements?{q}"))
            .await
            .expect_error(400, "request.field_invalid");
        assert_eq!(e.fields.unwrap()[0].code, code, "{q}");
    }
    app.get(&format!("/v1/settlements/{}", day(now - 20 * 86_400)))
        .await
        .expect_error(404, "resource.not_found");
    app.get("/v1/settlements/2025-02-30")
        .await
        .expect_error(400, "request.field_invalid");
}

#[tokio::test]
async fn the_seeded_shops_history_is_settled_and_adds_up() {
    let sandbox = start(SandboxConfig::default()).await;
    let shop = App::ready(&sandbox, "13800000001").await;
    let settlements: Vec<Settlement> = all_pages(&shop, "/v1/settlements", "", 50).await.0;
    assert_eq!(settlements.len(), 3);
    let records = all_trades(&shop, "").await;
    // 36 sales and the 2 refunds' own records.
    assert_eq!(records.len(), 36 + 2);
    let trades: Vec<Trade> = records
        .iter()
        .filter(|t| t.kind == TradeKind::Sale)
        .cloned()
        .collect();
    assert_eq!(trades.len(), 36);
    let refunds: Vec<Refund> = all_pages(&shop, "/v1/refunds", "", 50).await.0;
    // Two seeded refunds: half of a trade, and the whole of another the day after.
    assert_eq!(refunds.len(), 2);
    let statuses: Vec<TradeStatus> = refunds
        .iter()
        .map(|r| {
            trades
                .iter()
                .find(|t| t.trade_id == r.trade_id)
                .expect("the refunded trade is listed")
                .status
        })
        .collect();
    assert!(statuses.contains(&TradeStatus::PartiallyRefunded));
    assert!(statuses.contains(&TradeStatus::Refunded));
    for t in &trades {
        let of_trade: i64 = refunds
            .iter()
            .filter(|r| r.trade_id == t.trade_id)
            .map(|r| fen(&r.amount))
            .sum();
        assert_eq!(fen(&t.refunded_amount), of_trade, "{}", t.trade_id);
    }
    let mut with_refunds = 0;
    for s in &settlements {
        let of_day: Vec<&Trade> = trades
            .iter()
            .filter(|t| t.created_at.starts_with(&s.date))
            .collect();
        let refunds_of_day: Vec<&Refund> = refunds
            .iter()
            .filter(|r| r.created_at.starts_with(&s.date))
            .collect();
        assert_eq!(s.trade_count as usize, of_day.len());
        assert_eq!(s.refund_count as usize, refunds_of_day.len());
        with_refunds += usize::from(!refunds_of_day.is_empty());
        let gross: i64 = of_day.iter().map(|t| fen(&t.amount)).sum();
        let fees: i64 = of_day.iter().map(|t| fen(&t.fee)).sum::<i64>()
            - refunds_of_day
                .iter()
                .map(|r| fen(&r.fee_returned))
                .sum::<i64>();
        let refunded: i64 = refunds_of_day.iter().map(|r| fen(&r.amount)).sum();
        assert_eq!(fen(&s.gross_amount), gross);
        assert_eq!(fen(&s.fee_amount), fees);
        assert_eq!(fen(&s.refund_amount), refunded);
        assert_eq!(fen(&s.net_amount), gross - fees - refunded);
        assert!(fen(&s.net_amount) >= 0);
        assert_eq!(s.settled_amount, s.net_amount);
    }
    assert_eq!(with_refunds, 2, "each refund counts on its own day");
}
