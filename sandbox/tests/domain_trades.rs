//! Trades and refunds against the real sandbox: determinism under the seed,
//! pages that are complete and never overlap, filters, refund bounds and
//! idempotency, anomalies on demand, the steady stream, and customer cards
//! never beyond BIN + last four.

mod common;
mod domain_common;

use std::collections::HashSet;

use common::*;
use domain_common::*;
use merchant_contract::domain::sandbox::{Anomaly, InjectedTrades, TradeStreamState};
use merchant_contract::domain::{
    MerchantProfile, Refund, Terminal, Trade, TradeRefunded, TradeStatus,
};
use merchant_contract::envelope::HEADER_IDEMPOTENCY_KEY;
use merchant_contract::wire::{Page, event_types};
use merchant_core::money::{Amount, Channel, RateTable};
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

/// A trade without its time (the business clock runs with real time).
fn timeless(t: &Trade) -> Value {
    let mut v = serde_json::to_value(t).unwrap();
    v.as_object_mut().unwrap().remove("created_at");
    v.as_object_mut().unwrap().remove("updated_at");
    v
}

fn fixed_clock(seed: u64) -> SandboxConfig {
    SandboxConfig {
        seed,
        clock_start: Some(1_748_318_400), // 2025-05-27 12:00 +08:00
        ..Default::default()
    }
}

/// What one run of a seed shows: the inventory, the seeded shop's history
/// and settlements, and the trades made for a new merchant.
async fn run(seed: u64) -> (Value, Vec<Value>, Vec<Value>, Vec<Value>) {
    let sandbox = start(fixed_clock(seed)).await;
    let shop = App::ready(&sandbox, "13800000001").await;
    let inventory = ok(shop.open_get("/sandbox/terminals").await).json();
    let mut history: Vec<Value> = all_trades(&shop, "").await.iter().map(timeless).collect();
    // The seeded refunds, after the trades.
    let refunds: Vec<Refund> = all_pages(&shop, "/v1/refunds", "", 200).await.0;
    history.extend(refunds.iter().map(|r| serde_json::to_value(r).unwrap()));
    let settlements: Vec<Value> = all_pages::<Value>(&shop, "/v1/settlements", "", 200)
        .await
        .0
        .into_iter()
        .map(|mut s| {
            s.as_object_mut().unwrap().remove("settled_at");
            s
        })
        .collect();
    let newcomer = active_app(&sandbox, "13900000001").await;
    bind_free(&newcomer, 2).await;
    let made: InjectedTrades = inject(&newcomer, json!({"count": 20})).await;
    let made = made.trades.iter().map(timeless).collect();
    (inventory, history, settlements, made)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data_another_seed_other_data() {
    let a = run(7).await;
    let b = run(7).await;
    assert_eq!(a.0, b.0, "inventory");
    assert_eq!(a.1, b.1, "seeded history");
    assert_eq!(a.2, b.2, "seeded settlements");
    assert_eq!(a.3, b.3, "generated trades");
    // The seeded shop: 12 trades on each of the 3 days before, 2 refunds
    // (each a record of the trade list and an item of the refund list),
    // each day settled.
    assert_eq!(a.1.len(), 36 + 2 + 2);
    assert_eq!(a.2.len(), 3);
    assert_eq!(a.3.len(), 20);
    let c = run(8).await;
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    assert_ne!(a.3, c.3);
}

#[tokio::test]
async fn trade_pages_are_complete_ordered_and_never_overlap() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000101").await;
    bind_free(&app, 2).await;
    let made = inject(&app, json!({"count": 57})).await.trades;
    let first: Page<Trade> = ok(app.get("/v1/trades?limit=10").await).parse();
    assert_eq!(first.items.len(), 10);
    // Trades arriving while the merchant pages sort before the first page:
    // they neither appear in later pages nor push items across pages.
    inject(&app, json!({"count": 5})).await;
    let mut seen: Vec<Trade> = first.items.clone();
    let mut cursor = first.next_cursor.clone();
    while let Some(c) = cursor {
        let page: Page<Trade> =
            ok(app.get(&format!("/v1/trades?limit=10&cursor={c}")).await).parse();
        seen.extend(page.items);
        cursor = page.next_cursor;
    }
    let ids: Vec<&str> = seen.iter().map(|t| t.trade_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no trade twice");
    // Exactly the 57: newest first (same second: the later made first).
    let mut want: Vec<&str> = made.iter().map(|t| t.trade_id.as_str()).collect();
    want.reverse();
    assert_eq!(ids, want);
    // A fresh walk sees all 62.
    assert_eq!(all_trades(&app, "").await.len(), 62);
    // The default page is 50.
    let page: Page<Trade> = ok(app.get("/v1/trades").await).parse();
    assert_eq!(page.items.len(), 50);
}

#[tokio::test]
async fn trades_filter_by_time_channel_and_terminal() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000201").await;
    let terminals: Vec<Terminal> = bind_free(&app, 2).await;
    let now = sandbox_now(&app).await;
    let at = |secs_ago: i64| merchant_sandbox::clock::rfc3339(now - secs_ago);
    inject(
        &app,
        json!({"count": 4, "channel": "wechat", "terminal_sn": terminals[0].sn, "at": at(7200)}),
    )
    .await;
    inject(
        &app,
        json!({"count": 3, "channel": "credit_card", "terminal_sn": terminals[1].sn, "at": at(3600)}),
    )
    .await;
    inject(
        &app,
        json!({"count": 2, "channel": "alipay", "terminal_sn": terminals[1].sn}),
    )
    .await;
    let count = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move { all_trades(app, &q).await.len() }
    };
    assert_eq!(count("channel=credit_card").await, 3);
    assert_eq!(count("channel=wechat").await, 4);
    assert_eq!(count(&format!("terminal_sn={}", terminals[1].sn)).await, 5);
    assert_eq!(
        count(&format!("terminal_sn={}", terminals[1].sn.to_lowercase())).await,
        5,
        "serials are read as typed"
    );
    // An offset's `+` sent unencoded (read as a space) is taken back.
    assert_eq!(count(&format!("from={}", at(3600))).await, 5);
    let enc = |t: String| t.replace('+', "%2B");
    assert_eq!(
        count(&format!("from={}&to={}", enc(at(7200)), enc(at(3600)))).await,
        4,
        "from is inclusive, to exclusive"
    );
    assert_eq!(count(&format!("from={}", enc(at(3600)))).await, 5);
    assert_eq!(
        count(&format!("from={}&channel=alipay", enc(at(3600)))).await,
        2
    );
    for (q, field, code) in [
        ("from=yesterday", "from", "filter.time_invalid"),
        ("to=2025-05-27", "to", "filter.time_invalid"),
        ("channel=cash", "channel", "filter.channel_invalid"),
        ("limit=500", "limit", "page.limit_invalid"),
        ("terminal_sn=POS-1", "terminal_sn", "terminal.sn_invalid"),
    ] {
        let e = app
            .get(&format!("/v1/trades?{q}"))
            .await
            .expect_error(400, "request.field_invalid");
        let f = &e.fields.unwrap()[0];
        assert_eq!((f.field.as_str(), f.code.as_str()), (field, code), "{q}");
    }
    let e = app
        .get(&format!(
            "/v1/trades?from={}&to={}",
            enc(at(60)),
            enc(at(3600))
        ))
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].code, "filter.range_invalid");
    app.get("/v1/trades?sort=asc")
        .await
        .expect_error(400, "request.field_invalid");
}

#[tokio::test]
async fn generated_trades_are_priced_at_the_agreed_rates_and_cards_stay_truncated() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000301").await;
    let mine: HashSet<String> = bind_free(&app, 3).await.into_iter().map(|t| t.sn).collect();
    let profile: MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    let made = inject(&app, json!({"count": 200})).await.trades;
    let table = RateTable::standard();
    let mut cards = 0;
    for t in &made {
        let channel = Channel::parse(&t.channel).unwrap();
        let amount = Amount::parse(&t.amount).unwrap();
        assert_eq!(
            t.fee,
            table.fee(channel, amount).unwrap().to_string(),
            "{t:?}"
        );
        assert_eq!(
            t.rate,
            table.rate(channel).unwrap().rate_for(amount).to_string()
        );
        assert_eq!(Some(&t.merchant_no), profile.merchant_no.as_ref());
        assert!(mine.contains(&t.terminal_sn));
        assert_eq!(t.status, TradeStatus::Success);
        assert_eq!(t.refunded_amount, "0.00");
        assert_eq!(t.reference_no.len(), 12);
        match &t.card {
            None => assert!(channel.is_scan_code()),
            Some(card) => {
                cards += 1;
                assert!(!channel.is_scan_code());
                assert_eq!(card.bin.len(), 6);
                assert_eq!(card.last4.len(), 4);
                let want = if channel == Channel::DebitCard {
                    "debit"
                } else {
                    "credit"
                };
                assert_eq!(card.card_kind, want);
            }
        }
    }
    assert!(cards > 0);
    // Mostly scan-code trades.
    let scan = made
        .iter()
        .filter(|t| Channel::parse(&t.channel).unwrap().is_scan_code())
        .count();
    assert!(scan > made.len() / 2, "{scan}");
    // No response carries more of a customer card than BIN + last four.
    let text = ok(app.get("/v1/trades?limit=200").await).body;
    let text = String::from_utf8(text).unwrap();
    for t in made.iter().filter(|t| t.card.is_some()) {
        let card = t.card.as_ref().unwrap();
        for run in text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|r| r.len() >= 13)
        {
            assert!(
                !(run.starts_with(&card.bin) && run.ends_with(&card.last4)),
                "a full card number appears"
            );
        }
    }
}

#[tokio::test]
async fn anomalies_on_demand_carry_their_tell_tale_facts() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000401").await;
    let mine: HashSet<String> = bind_free(&app, 2).await.into_iter().map(|t| t.sn).collect();
    let profile: MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    let own_no = profile.merchant_no.clone().unwrap();
    let mut events = app.events(None).await;
    let table = RateTable::standard();

    // 跳码: another merchant code and name.
    let r = inject(&app, json!({"anomaly": "merchant_code"})).await;
    assert_eq!(r.anomaly, Some(Anomaly::MerchantCode));
    let t = &r.trades[0];
    assert_ne!(t.merchant_no, own_no);
    assert_eq!(t.merchant_no.len(), 15);
    assert_ne!(Some(&t.merchant_name), profile.shop_name.as_ref());
    assert!(mine.contains(&t.terminal_sn));

    // A fee above the agreed rate.
    let r = inject(
        &app,
        json!({"anomaly": "fee_above_rate", "channel": "wechat", "amount": "850.00"}),
    )
    .await;
    let t = &r.trades[0];
    let agreed = table
        .fee(Channel::WeChat, Amount::parse("850").unwrap())
        .unwrap();
    assert_eq!(agreed.to_string(), "3.23");
    assert_eq!(t.rate, "0.63");
    assert_eq!(t.fee, "5.36");
    assert_eq!(t.merchant_no, own_no);

    // A double charge: same card, amount and terminal within seconds.
    let r = inject(
        &app,
        json!({"anomaly": "double_charge", "channel": "credit_card"}),
    )
    .await;
    assert_eq!(r.trades.len(), 2);
    let (x, y) = (&r.trades[0], &r.trades[1]);
    assert_ne!(x.trade_id, y.trade_id);
    assert_eq!(
        (&x.amount, &x.card, &x.terminal_sn),
        (&y.amount, &y.card, &y.terminal_sn)
    );
    assert!(x.card.is_some());
    let secs = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    let gap = secs(&y.created_at) - secs(&x.created_at);
    assert!((1..=10).contains(&gap), "{gap}");

    // A trade from a terminal bound elsewhere.
    let r = inject(&app, json!({"anomaly": "foreign_terminal"})).await;
    let t = &r.trades[0];
    assert!(!mine.contains(&t.terminal_sn));
    let inv = inventory(&app).await;
    let held = inv
        .terminals
        .iter()
        .find(|x| x.sn == t.terminal_sn)
        .unwrap();
    assert_eq!(held.state, "bound");
    assert_ne!(held.merchant_id, app.merchant_id);

    // Every one of them was announced.
    for _ in 0..5 {
        let e = next_of(&app, &mut events, event_types::TRADE_CREATED).await;
        assert!(e.data["trade_id"].as_str().unwrap().starts_with('T'));
    }
}

#[tokio::test]
async fn refunds_are_bounded_proportional_and_idempotent() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000501").await;
    bind_free(&app, 1).await;
    let mut events = app.events(None).await;
    let t = inject(&app, json!({"channel": "wechat", "amount": "100.00"}))
        .await
        .trades
        .remove(0);
    assert_eq!(t.fee, "0.38");
    let path = format!("/v1/trades/{}/refunds", t.trade_id);

    // Partial: 30.00 gives back 0.11 of the fee.
    let key = "refund-key-0000000001".to_owned();
    let call = |key: String, body: Value| {
        let app = &app;
        let path = path.clone();
        async move {
            app.call(
                Method::POST,
                &path,
                Some(body),
                &[(HEADER_IDEMPOTENCY_KEY, key)],
            )
            .await
        }
    };
    let first = ok(call(
        key.clone(),
        json!({"amount": "30.00", "reason": "顾客退货"}),
    )
    .await);
    let done: TradeRefunded = first.parse();
    assert_eq!(done.refund.amount, "30.00");
    assert_eq!(done.refund.fee_returned, "0.11");
    assert_eq!(done.refund.reason.as_deref(), Some("顾客退货"));
    assert_eq!(done.trade.status, TradeStatus::PartiallyRefunded);
    assert_eq!(done.trade.refunded_amount, "30.00");
    let event = next_of(&app, &mut events, event_types::TRADE_REFUNDED).await;
    assert_eq!(
        event.data["refund"]["refund_id"],
        done.refund.refund_id.as_str()
    );

    // The same key and body: the same refund, replayed, nothing new.
    let again = ok(call(
        key.clone(),
        json!({"amount": "30.00", "reason": "顾客退货"}),
    )
    .await);
    assert_eq!(again.body, first.body);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    // The same key with another body is refused.
    call(key, json!({"amount": "31.00"}))
        .await
        .expect_error(409, "idempotency.key_reused");
    let listed: Page<Refund> = ok(app
        .get(&format!("/v1/refunds?trade_id={}", t.trade_id))
        .await)
    .parse();
    assert_eq!(listed.items.len(), 1);

    // Not above what is left.
    app.write(Method::POST, &path, Some(json!({"amount": "70.01"})))
        .await
        .expect_error(409, "refund.exceeds_refundable");
    // The rest: the whole fee is back, the trade fully refunded.
    let rest: TradeRefunded = ok(app
        .write(Method::POST, &path, Some(json!({"amount": "70"})))
        .await)
    .parse();
    assert_eq!(rest.refund.fee_returned, "0.27");
    assert_eq!(rest.trade.status, TradeStatus::Refunded);
    assert_eq!(rest.trade.refunded_amount, "100.00");
    app.write(Method::POST, &path, Some(json!({"amount": "0.01"})))
        .await
        .expect_error(409, "refund.exceeds_refundable");
    let fetched: Trade = ok(app.get(&format!("/v1/trades/{}", t.trade_id)).await).parse();
    assert_eq!(fetched, rest.trade);
    let all: Page<Refund> = ok(app.get("/v1/refunds").await).parse();
    assert_eq!(all.items.len(), 2);
    assert_eq!(
        all.items[0].refund_id, rest.refund.refund_id,
        "newest first"
    );

    // Bad amounts and reasons, each with its code.
    let other = inject(&app, json!({"amount": "50.00"}))
        .await
        .trades
        .remove(0);
    let opath = format!("/v1/trades/{}/refunds", other.trade_id);
    for (body, code) in [
        (json!({"amount": "0"}), "refund.amount_zero"),
        (json!({"amount": "1.234"}), "amount.too_many_decimals"),
        (json!({"amount": "-5"}), "amount.signed"),
        (json!({"amount": "abc"}), "amount.not_a_number"),
        (
            json!({"amount": "1", "reason": "很".repeat(65)}),
            "field.too_long",
        ),
    ] {
        let e = app
            .write(Method::POST, &opath, Some(body))
            .await
            .expect_error(400, "request.field_invalid");
        assert!(e.fields.unwrap().iter().any(|f| f.code == code), "{code}");
    }
    app.write(
        Method::POST,
        "/v1/trades/T20250101000000000000/refunds",
        Some(json!({"amount": "1"})),
    )
    .await
    .expect_error(404, "resource.not_found");
}

#[tokio::test]
async fn a_refund_must_fit_in_the_days_takings() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000601").await;
    bind_free(&app, 1).await;
    let now = sandbox_now(&app).await;
    let yesterday = merchant_sandbox::clock::rfc3339(now - 86_400);
    let old = inject(&app, json!({"amount": "200.00", "at": yesterday}))
        .await
        .trades
        .remove(0);
    let path = format!("/v1/trades/{}/refunds", old.trade_id);
    app.write(Method::POST, &path, Some(json!({"amount": "200.00"})))
        .await
        .expect_error(409, "refund.insufficient_balance");
    // Today's takings cover it once there are enough of them.
    inject(&app, json!({"channel": "alipay", "amount": "300.00"})).await;
    let done: TradeRefunded = ok(app
        .write(Method::POST, &path, Some(json!({"amount": "200.00"})))
        .await)
    .parse();
    assert_eq!(done.trade.status, TradeStatus::Refunded);
}

#[tokio::test]
async fn the_steady_stream_announces_each_trade_and_stops() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13900000701").await;
    let merchant_id = app.merchant_id.clone().unwrap();
    // No terminal yet: nothing to stream from.
    app.open_post(
        "/sandbox/trades/stream",
        json!({"merchant_id": merchant_id, "interval_ms": 50}),
    )
    .await
    .expect_error(409, "sandbox.no_terminal");
    bind_free(&app, 2).await;
    let mut events = app.events(None).await;
    let started: TradeStreamState = ok(app
        .open_post(
            "/sandbox/trades/stream",
            json!({"merchant_id": merchant_id, "interval_ms": 50, "count": 3}),
        )
        .await)
    .parse();
    assert!(started.running);
    let mut streamed = Vec::new();
    for _ in 0..3 {
        let e = next_of(&app, &mut events, event_types::TRADE_CREATED).await;
        streamed.push(e.data["trade_id"].as_str().unwrap().to_owned());
    }
    let listed: Vec<String> = all_trades(&app, "")
        .await
        .into_iter()
        .map(|t| t.trade_id)
        .collect();
    for id in &streamed {
        assert!(listed.contains(id));
    }
    // An endless stream, stopped.
    ok(app
        .open_post(
            "/sandbox/trades/stream",
            json!({"merchant_id": merchant_id, "interval_ms": 50}),
        )
        .await);
    next_of(&app, &mut events, event_types::TRADE_CREATED).await;
    let stopped: TradeStreamState = ok(app
        .open_post(
            "/sandbox/trades/stream/stop",
            json!({"merchant_id": merchant_id}),
        )
        .await)
    .parse();
    assert!(!stopped.running);
    assert!(stopped.produced >= 1);
    // Refusals of the controls.
    for (body, status, code) in [
        (
            json!({"merchant_id": merchant_id, "interval_ms": 10}),
            400,
            "request.field_invalid",
        ),
        (
            json!({"merchant_id": "mch_nobody", "interval_ms": 100}),
            404,
            "sandbox.merchant_unknown",
        ),
    ] {
        app.open_post("/sandbox/trades/stream", body)
            .await
            .expect_error(status, code);
    }
}

#[tokio::test]
async fn trade_injection_refuses_bad_requests_with_their_codes() {
    let sandbox = start(SandboxConfig::default()).await;
    let newcomer = App::ready(&sandbox, "13900000801").await;
    newcomer
        .open_post(
            "/sandbox/trades",
            json!({"merchant_id": newcomer.merchant_id.clone().unwrap()}),
        )
        .await
        .expect_error(409, "merchant.not_active");
    newcomer
        .open_post("/sandbox/trades", json!({"merchant_id": "mch_nobody"}))
        .await
        .expect_error(404, "sandbox.merchant_unknown");
    let app = active_app(&sandbox, "13900000802").await;
    let id = app.merchant_id.clone().unwrap();
    app.open_post("/sandbox/trades", json!({"merchant_id": id}))
        .await
        .expect_error(409, "sandbox.no_terminal");
    bind_free(&app, 1).await;
    let inv = inventory(&app).await;
    let someone_elses = inv
        .terminals
        .iter()
        .find(|t| t.state == "bound" && t.merchant_id.as_deref() != Some(&id))
        .unwrap();
    let now = sandbox_now(&app).await;
    for (extra, field, code) in [
        (json!({"count": 0}), "count", "field.invalid"),
        (json!({"count": 201}), "count", "field.invalid"),
        (
            json!({"channel": "cash"}),
            "channel",
            "filter.channel_invalid",
        ),
        (json!({"amount": "0"}), "amount", "field.invalid"),
        (
            json!({"amount": "1.001"}),
            "amount",
            "amount.too_many_decimals",
        ),
        (json!({"at": "tomorrow"}), "at", "filter.time_invalid"),
        (
            json!({"at": merchant_sandbox::clock::rfc3339(now + 3600)}),
            "at",
            "filter.range_invalid",
        ),
        (
            json!({"at": merchant_sandbox::clock::rfc3339(now - 40 * 86_400)}),
            "at",
            "filter.range_invalid",
        ),
        (
            json!({"terminal_sn": "LKL"}),
            "terminal_sn",
            "terminal.sn_invalid",
        ),
        (
            json!({"terminal_sn": someone_elses.sn}),
            "terminal_sn",
            "field.invalid",
        ),
    ] {
        let mut body = json!({"merchant_id": id});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let e = app
            .open_post("/sandbox/trades", body)
            .await
            .expect_error(400, "request.field_invalid");
        let f = &e.fields.unwrap()[0];
        assert_eq!(
            (f.field.as_str(), f.code.as_str()),
            (field, code),
            "{extra}"
        );
    }
    app.open_post(
        "/sandbox/trades",
        json!({"merchant_id": id, "anomaly": "laundering"}),
    )
    .await
    .expect_error(400, "request.field_invalid");
}
