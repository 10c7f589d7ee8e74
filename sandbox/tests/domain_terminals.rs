//! Terminals and the card BIN lookup against the real sandbox: the seeded
//! inventory, the model table, binding by serial and by back QR, every
//! documented refusal, idempotent binding, main and secondary terminals,
//! aliases, last trades, unbinding, pages, the freeze and transfer
//! controls with their events, and the BIN endpoint.

mod common;
mod domain_common;

use std::collections::HashSet;

use common::*;
use domain_common::*;
use merchant_contract::domain::sandbox::{InventoryTerminal, TerminalTransferred};
use merchant_contract::domain::{
    BindOutcome, CardBin, Terminal, TerminalBinding, TerminalModel, TerminalRole, TerminalStatus,
    TerminalUnbound, TradeKind, UnbindReason,
};
use merchant_contract::wire::{Page, event_types};
use merchant_sandbox::SandboxConfig;
use merchant_sandbox::clock::rfc3339;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_inventory_is_seeded_with_back_qrs_and_terminals_bound_elsewhere() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    let inv = inventory(&app).await;
    assert_eq!(inv.terminals.len(), 60);
    let sns: HashSet<&str> = inv.terminals.iter().map(|t| t.sn.as_str()).collect();
    assert_eq!(sns.len(), 60);
    for t in &inv.terminals {
        assert!(t.sn.starts_with("LKL") && t.sn.len() == 13, "{}", t.sn);
        assert!(["A8", "LK-Q1", "LK-M2"].contains(&t.model.as_str()));
        assert!(!t.firmware.is_empty());
        assert!(
            t.qr_text
                .starts_with("https://qr.sandbox.lakala.example/activate?sn=")
        );
        assert!(t.qr_text.contains(&t.sn) && t.qr_text.contains("&sig="));
    }
    // A few are bound to the seeded other merchant, the seeded shop has two.
    let merchants = app.open_get("/sandbox/merchants").await.json();
    let id_of = |phone: &str| {
        merchants["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["phone"] == phone)
            .unwrap()["merchant_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let other = id_of("13800000003");
    let shop = id_of("13800000001");
    let held_by = |m: &str| {
        inv.terminals
            .iter()
            .filter(|t| t.merchant_id.as_deref() == Some(m))
            .count()
    };
    assert_eq!(held_by(&other), 12);
    assert_eq!(held_by(&shop), 2);
    assert!(
        inv.terminals
            .iter()
            .all(|t| (t.state == "bound") == t.merchant_id.is_some())
    );
    assert_eq!(inv.unknown_sns.len(), 5);
    assert!(inv.unknown_sns.iter().all(|s| !sns.contains(s.as_str())));
}

#[tokio::test]
async fn binding_by_serial_and_back_qr_with_every_refusal() {
    let sandbox = start(SandboxConfig::default()).await;
    let newcomer = App::ready(&sandbox, "13600000101").await;
    let inv = inventory(&newcomer).await;
    let free: Vec<_> = inv.terminals.iter().filter(|t| t.state == "free").collect();

    // Not active yet: refused.
    newcomer
        .write(
            Method::POST,
            "/v1/terminals",
            Some(json!({"sn": free[0].sn})),
        )
        .await
        .expect_error(409, "merchant.not_active");

    let app = active_app(&sandbox, "13600000102").await;
    let mut events = app.events(None).await;

    // By back QR.
    let by_qr: TerminalBinding = ok(app
        .write(
            Method::POST,
            "/v1/terminals",
            Some(json!({"qr_text": free[0].qr_text})),
        )
        .await)
    .parse();
    assert_eq!(by_qr.outcome, BindOutcome::Bound);
    let by_qr = by_qr.terminal;
    // The merchant's first terminal is its main, without alias or trades.
    assert_eq!(by_qr.role, TerminalRole::Main);
    assert_eq!(by_qr.main_sn, None);
    assert_eq!(by_qr.alias, None);
    assert_eq!(by_qr.status, TerminalStatus::Active);
    assert_eq!(by_qr.last_trade_at, None);
    assert_eq!(by_qr.sn, free[0].sn);
    assert_eq!(by_qr.model, free[0].model);
    assert_eq!(by_qr.firmware, free[0].firmware);
    let bound = next_of(&app, &mut events, event_types::TERMINAL_BOUND).await;
    assert_eq!(bound.data["sn"], free[0].sn);
    let bound_data: Terminal = serde_json::from_value(bound.data).unwrap();
    assert_eq!(bound_data, by_qr);

    // Again, by serial typed in lower case with spaces and dashes: already
    // bound, the same record, no event.
    let typed = format!(
        " {}-{} {} ",
        &free[0].sn[..5].to_lowercase(),
        &free[0].sn[5..9],
        &free[0].sn[9..]
    );
    let again: TerminalBinding = ok(app
        .write(Method::POST, "/v1/terminals", Some(json!({"sn": typed})))
        .await)
    .parse();
    assert_eq!(again.outcome, BindOutcome::AlreadyBound);
    assert_eq!(again.terminal, by_qr);

    // By serial: the second terminal is a secondary of the first.
    let by_sn: TerminalBinding = ok(app
        .write(
            Method::POST,
            "/v1/terminals",
            Some(json!({"sn": free[1].sn})),
        )
        .await)
    .parse();
    assert_eq!(by_sn.outcome, BindOutcome::Bound);
    let by_sn = by_sn.terminal;
    assert_eq!(by_sn.sn, free[1].sn);
    assert_eq!(by_sn.role, TerminalRole::Secondary);
    assert_eq!(by_sn.main_sn.as_deref(), Some(free[0].sn.as_str()));
    // The next bound event is this one: the repeated bind emitted nothing.
    let bound = next_of(&app, &mut events, event_types::TERMINAL_BOUND).await;
    assert_eq!(bound.data["sn"], free[1].sn);

    // Bound elsewhere, by serial and by QR: refused loudly.
    let elsewhere = inv.terminals.iter().find(|t| t.state == "bound").unwrap();
    app.write(
        Method::POST,
        "/v1/terminals",
        Some(json!({"sn": elsewhere.sn})),
    )
    .await
    .expect_error(409, "terminal.owned_by_other");
    app.write(
        Method::POST,
        "/v1/terminals",
        Some(json!({"qr_text": elsewhere.qr_text})),
    )
    .await
    .expect_error(409, "terminal.owned_by_other");

    // Unknown serial; malformed serial; forged and foreign QR; both or neither.
    app.write(
        Method::POST,
        "/v1/terminals",
        Some(json!({"sn": inv.unknown_sns[0]})),
    )
    .await
    .expect_error(404, "terminal.not_found");
    let e = app
        .write(
            Method::POST,
            "/v1/terminals",
            Some(json!({"sn": "LKLA8123"})),
        )
        .await
        .expect_error(400, "terminal.sn_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "sn");
    let forged = free[2].qr_text.replace(&free[2].sn, &free[3].sn);
    // Other parameters may ride along, each once and in a plain form.
    let (sn4, sig4) = free[4]
        .qr_text
        .split_once("?sn=")
        .and_then(|(_, q)| q.split_once("&sig="))
        .unwrap();
    let doubled = format!("{}&sn={sn4}", free[4].qr_text);
    let odd_param = format!("{}&note=a%20b", free[4].qr_text);
    for qr in [
        forged.as_str(),
        doubled.as_str(),
        odd_param.as_str(),
        "weixin://wxpay/bizpayurl?pr=abc",
        "https://qr.sandbox.lakala.example/activate?sn=LKLA812345678",
        "",
    ] {
        app.write(Method::POST, "/v1/terminals", Some(json!({"qr_text": qr})))
            .await
            .expect_error(400, "terminal.qr_invalid");
    }
    // The QR of a sandbox started with another seed is not this platform's.
    let other_seed = start(SandboxConfig {
        seed: 99,
        ..Default::default()
    })
    .await;
    let other_inv = inventory(&App::new(&other_seed)).await;
    let foreign_qr = &other_inv.terminals[0].qr_text;
    app.write(
        Method::POST,
        "/v1/terminals",
        Some(json!({"qr_text": foreign_qr})),
    )
    .await
    .expect_error(400, "terminal.qr_invalid");
    for body in [
        json!({}),
        json!({"sn": free[2].sn, "qr_text": free[2].qr_text}),
    ] {
        let e = app
            .write(Method::POST, "/v1/terminals", Some(body))
            .await
            .expect_error(400, "request.field_invalid");
        assert_eq!(e.fields.unwrap()[0].code, "terminal.sn_or_qr");
    }
    // A bind is a write: it needs an Idempotency-Key.
    app.post("/v1/terminals", json!({"sn": free[2].sn}))
        .await
        .expect_error(400, "idempotency.key_missing");

    // Listed newest first.
    let page: Page<Terminal> = ok(app.get("/v1/terminals").await).parse();
    let listed: Vec<&str> = page.items.iter().map(|t| t.sn.as_str()).collect();
    assert_eq!(listed, vec![free[1].sn.as_str(), free[0].sn.as_str()]);
    assert_eq!(page.next_cursor, None);

    // The main cannot go while it has a secondary: unbind the secondary
    // first, then the main.
    app.write(
        Method::DELETE,
        &format!("/v1/terminals/{}", free[0].sn),
        None,
    )
    .await
    .expect_error(409, "terminal.main_has_secondaries");
    let gone: TerminalUnbound = ok(app
        .write(
            Method::DELETE,
            &format!("/v1/terminals/{}", free[1].sn),
            None,
        )
        .await)
    .parse();
    assert_eq!(gone.reason, UnbindReason::Merchant);
    let unbound = next_of(&app, &mut events, event_types::TERMINAL_UNBOUND).await;
    assert_eq!(unbound.data["sn"], free[1].sn);
    assert_eq!(unbound.data["reason"], "merchant");

    // Unbind: event, gone from the list, free again; twice is not found.
    let gone: TerminalUnbound = ok(app
        .write(
            Method::DELETE,
            &format!("/v1/terminals/{}", free[0].sn),
            None,
        )
        .await)
    .parse();
    assert_eq!(gone.sn, free[0].sn);
    let unbound = next_of(&app, &mut events, event_types::TERMINAL_UNBOUND).await;
    assert_eq!(unbound.data["sn"], free[0].sn);
    app.write(
        Method::DELETE,
        &format!("/v1/terminals/{}", free[0].sn),
        None,
    )
    .await
    .expect_error(404, "resource.not_found");
    let page: Page<Terminal> = ok(app.get("/v1/terminals").await).parse();
    assert!(page.items.is_empty());
    let inv = inventory(&app).await;
    let t0 = inv.terminals.iter().find(|t| t.sn == free[0].sn).unwrap();
    assert_eq!(t0.state, "free");
    let with_extras = format!(
        "https://qr.sandbox.lakala.example/activate?model=A8&sig={sig4}&batch=2025-06&sn={sn4}"
    );
    let b: TerminalBinding = ok(app
        .write(
            Method::POST,
            "/v1/terminals",
            Some(json!({"qr_text": with_extras})),
        )
        .await)
    .parse();
    assert_eq!(
        b.terminal.sn, sn4,
        "parameters in any order, others not read"
    );
}

#[tokio::test]
async fn terminal_pages_are_complete_and_do_not_overlap() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000201").await;
    let bound = bind_free(&app, 7).await;
    let (items, pages) = all_pages::<Terminal>(&app, "/v1/terminals", "", 3).await;
    assert_eq!(pages, 3);
    let mut want: Vec<&str> = bound.iter().map(|t| t.sn.as_str()).collect();
    want.reverse();
    let got: Vec<&str> = items.iter().map(|t| t.sn.as_str()).collect();
    assert_eq!(got, want, "all of them, newest first, each once");
    for q in [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=%21%21",
        "color=red",
    ] {
        app.get(&format!("/v1/terminals?{q}"))
            .await
            .expect_error(400, "request.field_invalid");
    }
    // A cursor of another list is refused.
    inject(&app, json!({"count": 3})).await;
    let trades: Page<serde_json::Value> = ok(app.get("/v1/trades?limit=1").await).parse();
    let trade_cursor = trades.next_cursor.unwrap();
    let e = app
        .get(&format!("/v1/terminals?cursor={trade_cursor}"))
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].code, "page.cursor_invalid");
}

#[tokio::test]
async fn a_merchant_cannot_take_or_drop_anothers_terminal() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = active_app(&sandbox, "13600000301").await;
    let b = active_app(&sandbox, "13600000302").await;
    let a_terminal = bind_free(&a, 1).await.remove(0);
    b.write(
        Method::POST,
        "/v1/terminals",
        Some(json!({"sn": a_terminal.sn})),
    )
    .await
    .expect_error(409, "terminal.owned_by_other");
    let theirs = b
        .write(
            Method::DELETE,
            &format!("/v1/terminals/{}", a_terminal.sn),
            None,
        )
        .await
        .expect_error(404, "resource.not_found");
    let inv = inventory(&b).await;
    let nobodys = inv.terminals.iter().find(|t| t.state == "free").unwrap();
    let free = b
        .write(
            Method::DELETE,
            &format!("/v1/terminals/{}", nobodys.sn),
            None,
        )
        .await
        .expect_error(404, "resource.not_found");
    assert_eq!(theirs.message, free.message);
    let b_list: Page<Terminal> = ok(b.get("/v1/terminals").await).parse();
    assert!(b_list.items.is_empty());
    let a_list: Page<Terminal> = ok(a.get("/v1/terminals").await).parse();
    assert_eq!(a_list.items, vec![a_terminal]);
}

#[tokio::test]
async fn card_bins_come_from_the_core_table() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13600000401").await;
    let icbc: CardBin = ok(app.get("/v1/card-bins/6222021234").await).parse();
    assert!(icbc.known);
    assert_eq!(icbc.bin.as_deref(), Some("622202"));
    assert_eq!(icbc.bank_name.as_deref(), Some("中国工商银行"));
    assert_eq!(icbc.card_kind.as_deref(), Some("debit"));
    let credit: CardBin = ok(app.get("/v1/card-bins/622575").await).parse();
    assert_eq!(credit.card_kind.as_deref(), Some("credit"));
    let unknown: CardBin = ok(app.get("/v1/card-bins/700000").await).parse();
    assert!(!unknown.known);
    assert_eq!((unknown.bin, unknown.bank_name), (None, None));
    for bad in ["62220", "62220212345", "62220a", "6222021234567890123"] {
        app.get(&format!("/v1/card-bins/{bad}"))
            .await
            .expect_error(400, "card_bin.prefix_invalid");
    }
    // The lookup needs a session like every merchant endpoint.
    app.raw(
        Method::GET,
        "/v1/card-bins/622202",
        None,
        &[(
            merchant_contract::envelope::HEADER_AUTHORIZATION,
            app.authorization(b""),
        )],
    )
    .await
    .expect_error(401, "auth.session_missing");
}

/// The next `terminal.*` event on the stream (other types are skipped).
async fn next_terminal_event(app: &App, events: &mut SseReader) -> merchant_contract::wire::Event {
    loop {
        let frame = events.next_event().await.expect("the stream stays open");
        let event = app.open_event(&frame);
        if event.event_type.starts_with("terminal.") {
            return event;
        }
    }
}

/// `PUT /v1/terminals/{sn}` with a fresh Idempotency-Key.
async fn put_terminal(app: &App, sn: &str, body: serde_json::Value) -> Reply {
    app.write(Method::PUT, &format!("/v1/terminals/{sn}"), Some(body))
        .await
}

async fn list_terminals(app: &App) -> Vec<Terminal> {
    let page: Page<Terminal> = ok(app.get("/v1/terminals?limit=200").await).parse();
    assert_eq!(page.next_cursor, None);
    page.items
}

fn field_codes(e: &merchant_contract::wire::ErrorBody) -> Vec<(String, String)> {
    e.fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|f| (f.field, f.code))
        .collect()
}

fn pair(field: &str, code: &str) -> (String, String) {
    (field.to_owned(), code.to_owned())
}

#[tokio::test]
async fn terminal_models_are_published_from_the_inventorys_model_table() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13600000501").await;
    let page: Page<TerminalModel> = ok(app.get("/v1/terminal-models").await).parse();
    assert_eq!(page.next_cursor, None);
    let models = page.items;
    let names: Vec<&str> = models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(names, vec!["A8", "LK-Q1", "LK-M2"]);
    let a8 = &models[0];
    assert_eq!(
        serde_json::to_value(a8).unwrap(),
        json!({"model":"A8","name":"拉卡拉电签 A8","serial_prefix":"LKLA8","serial_length":13,"has_bluetooth":true})
    );
    assert!(models.iter().any(|m| !m.has_bluetooth));
    // Every terminal of the inventory (and every unknown serial) fits its
    // model's prefix and length: a client can check serials offline.
    let inv = inventory(&app).await;
    for t in &inv.terminals {
        let m = models.iter().find(|m| m.model == t.model).expect("model");
        assert!(t.sn.starts_with(&m.serial_prefix), "{}", t.sn);
        assert_eq!(t.sn.len(), m.serial_length as usize);
    }
    for sn in &inv.unknown_sns {
        assert!(models.iter().any(|m| sn.starts_with(&m.serial_prefix)));
    }
    // A session endpoint: refused without a session, and it takes no query.
    App::new(&sandbox)
        .get("/v1/terminal-models")
        .await
        .expect_error(401, "auth.device_unknown");
    app.raw(
        Method::GET,
        "/v1/terminal-models",
        None,
        &[(
            merchant_contract::envelope::HEADER_AUTHORIZATION,
            app.authorization(b""),
        )],
    )
    .await
    .expect_error(401, "auth.session_missing");
}

#[tokio::test]
async fn the_seeded_shops_terminals_are_a_main_and_its_secondary_with_their_last_trades() {
    let sandbox = start(SandboxConfig::default()).await;
    let shop = App::ready(&sandbox, "13800000001").await;
    let mut items = list_terminals(&shop).await;
    assert_eq!(items.len(), 2);
    items.reverse(); // earliest bound first
    let (main, secondary) = (&items[0], &items[1]);
    assert_eq!(
        (main.role, main.main_sn.as_deref()),
        (TerminalRole::Main, None)
    );
    assert_eq!(secondary.role, TerminalRole::Secondary);
    assert_eq!(secondary.main_sn.as_deref(), Some(main.sn.as_str()));
    // The seeded history's trades set each terminal's last trade.
    let trades = all_trades(&shop, "").await;
    for t in &items {
        let last = trades
            .iter()
            .filter(|tr| tr.terminal_sn == t.sn && tr.kind == TradeKind::Sale)
            .map(|tr| tr.created_at.clone())
            .max();
        assert!(last.is_some(), "the seeded trades use both terminals");
        assert_eq!(t.last_trade_at, last, "{}", t.sn);
        assert_eq!(
            (t.alias.as_deref(), t.status),
            (None, TerminalStatus::Active)
        );
    }
}

#[tokio::test]
async fn last_trade_at_follows_the_merchants_trades_on_that_terminal() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000601").await;
    let bound = bind_free(&app, 2).await;
    assert!(bound.iter().all(|t| t.last_trade_at.is_none()));
    let made = inject(&app, json!({"terminal_sn": bound[1].sn})).await;
    let at = made.trades[0].created_at.clone();
    let now = sandbox_now(&app).await;
    // An earlier trade does not move it back.
    inject(
        &app,
        json!({"terminal_sn": bound[1].sn, "at": rfc3339(now - 3_600)}),
    )
    .await;
    let items = list_terminals(&app).await;
    let of = |sn: &str| items.iter().find(|t| t.sn == sn).unwrap().clone();
    assert_eq!(of(&bound[1].sn).last_trade_at, Some(at));
    assert_eq!(of(&bound[0].sn).last_trade_at, None);
    // Unbound and bound again, it starts afresh.
    ok(app
        .write(
            Method::DELETE,
            &format!("/v1/terminals/{}", bound[1].sn),
            None,
        )
        .await);
    let again: TerminalBinding = ok(app
        .write(
            Method::POST,
            "/v1/terminals",
            Some(json!({"sn": bound[1].sn})),
        )
        .await)
    .parse();
    assert_eq!(again.outcome, BindOutcome::Bound);
    assert_eq!(again.terminal.last_trade_at, None);
    assert_eq!(again.terminal.role, TerminalRole::Secondary);
}

#[tokio::test]
async fn renaming_and_changing_roles_follow_every_documented_rule() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000701").await;
    let other = active_app(&sandbox, "13600000702").await;
    let mut events = app.events(None).await;
    let t = bind_free(&app, 3).await;
    let theirs = bind_free(&other, 1).await.remove(0);
    let (a, b, c) = (&t[0].sn, &t[1].sn, &t[2].sn);
    assert_eq!(t[0].role, TerminalRole::Main);
    for s in [&t[1], &t[2]] {
        assert_eq!(s.role, TerminalRole::Secondary);
        assert_eq!(
            s.main_sn.as_ref(),
            Some(a),
            "later ones go under the first main"
        );
    }
    for _ in 0..3 {
        next_of(&app, &mut events, event_types::TERMINAL_BOUND).await;
    }

    // A rename, with the serial in the path typed loosely: terminal.updated.
    let renamed: Terminal = ok(put_terminal(
        &app,
        &b.to_lowercase(),
        json!({"alias": " 收银台1号 ", "role": "secondary", "main_sn": a}),
    )
    .await)
    .parse();
    assert_eq!(renamed.alias.as_deref(), Some("收银台1号"), "trimmed");
    assert_eq!(renamed.main_sn.as_ref(), Some(a));
    let e = next_terminal_event(&app, &mut events).await;
    assert_eq!(e.event_type, event_types::TERMINAL_UPDATED);
    assert_eq!(serde_json::from_value::<Terminal>(e.data).unwrap(), renamed);
    // The same again changes nothing and emits nothing (the next event is
    // the next change's). Twenty characters is the limit.
    let same: Terminal = ok(put_terminal(
        &app,
        b,
        json!({"alias": "收银台1号", "role": "secondary", "main_sn": a}),
    )
    .await)
    .parse();
    assert_eq!(same, renamed);
    let twenty = "一二三四五六七八九十一二三四五六七八九十";
    let long_ok: Terminal = ok(put_terminal(
        &app,
        c,
        json!({"alias": twenty, "role": "secondary", "main_sn": a}),
    )
    .await)
    .parse();
    let e = next_terminal_event(&app, &mut events).await;
    assert_eq!(e.data["sn"], c.as_str());
    assert_eq!(long_ok.alias.as_deref(), Some(twenty));
    // A left-out alias is null: it clears the alias.
    let cleared: Terminal =
        ok(put_terminal(&app, c, json!({"role": "secondary", "main_sn": a})).await).parse();
    assert_eq!(cleared.alias, None);

    // Field rules, every problem at once.
    let e = put_terminal(
        &app,
        b,
        json!({"alias": format!("{twenty}一"), "role": "secondary"}),
    )
    .await
    .expect_error(400, "request.field_invalid");
    assert_eq!(
        field_codes(&e),
        vec![
            pair("alias", "field.too_long"),
            pair("main_sn", "field.required")
        ]
    );
    for (body, want) in [
        (
            json!({"alias": "  ", "role": "main"}),
            pair("alias", "field.invalid"),
        ),
        (
            json!({"alias": "收银\u{7}台", "role": "main"}),
            pair("alias", "field.invalid"),
        ),
        (
            json!({"alias": "", "role": "main"}),
            pair("alias", "field.invalid"),
        ),
        (
            json!({"role": "main", "main_sn": a}),
            pair("main_sn", "field.invalid"),
        ),
        (
            json!({"role": "secondary", "main_sn": "LKLA8123"}),
            pair("main_sn", "terminal.sn_invalid"),
        ),
        // Itself, a secondary, another merchant's main, an unknown serial.
        (
            json!({"role": "secondary", "main_sn": b}),
            pair("main_sn", "terminal.main_invalid"),
        ),
        (
            json!({"role": "secondary", "main_sn": c}),
            pair("main_sn", "terminal.main_invalid"),
        ),
        (
            json!({"role": "secondary", "main_sn": theirs.sn}),
            pair("main_sn", "terminal.main_invalid"),
        ),
    ] {
        let e = put_terminal(&app, b, body.clone())
            .await
            .expect_error(400, "request.field_invalid");
        assert_eq!(field_codes(&e), vec![want], "{body}");
    }
    let inv = inventory(&app).await;
    let e = put_terminal(
        &app,
        b,
        json!({"role": "secondary", "main_sn": inv.unknown_sns[0]}),
    )
    .await
    .expect_error(400, "request.field_invalid");
    assert_eq!(
        field_codes(&e),
        vec![pair("main_sn", "terminal.main_invalid")]
    );
    // Unknown fields, a missing or unknown role: refused by the form.
    for body in [
        json!({"role": "main", "status": "frozen"}),
        json!({"alias": "x"}),
        json!({"role": "spare"}),
    ] {
        put_terminal(&app, a, body)
            .await
            .expect_error(400, "request.field_invalid");
    }
    // Someone else's, a free, an unknown or a malformed serial: not found.
    let free = inv.terminals.iter().find(|t| t.state == "free").unwrap();
    for sn in [&theirs.sn, &free.sn, &inv.unknown_sns[0], &"LKL".to_owned()] {
        put_terminal(&app, sn, json!({"role": "main"}))
            .await
            .expect_error(404, "resource.not_found");
    }
    // A write: it needs an Idempotency-Key.
    app.call(
        Method::PUT,
        &format!("/v1/terminals/{b}"),
        Some(json!({"role": "main"})),
        &[],
    )
    .await
    .expect_error(400, "idempotency.key_missing");
    // Nothing refused changed anything.
    assert_eq!(
        list_terminals(&app).await.iter().find(|t| &t.sn == b),
        Some(&same)
    );

    // A main with secondaries can neither become a secondary nor go.
    let c_main: Terminal =
        ok(put_terminal(&app, c, json!({"role": "main", "alias": "后厨"})).await).parse();
    assert_eq!(
        (c_main.role, c_main.main_sn.as_deref()),
        (TerminalRole::Main, None)
    );
    put_terminal(&app, a, json!({"role": "secondary", "main_sn": c}))
        .await
        .expect_error(409, "terminal.main_has_secondaries");
    app.write(Method::DELETE, &format!("/v1/terminals/{a}"), None)
        .await
        .expect_error(409, "terminal.main_has_secondaries");
    // Once its secondary moves under the other main, it can.
    ok(put_terminal(&app, b, json!({"role": "secondary", "main_sn": c})).await);
    let a_sec: Terminal =
        ok(put_terminal(&app, a, json!({"role": "secondary", "main_sn": c})).await).parse();
    assert_eq!(a_sec.main_sn.as_ref(), Some(c));
    app.write(Method::DELETE, &format!("/v1/terminals/{c}"), None)
        .await
        .expect_error(409, "terminal.main_has_secondaries");
    let gone: TerminalUnbound = ok(app
        .write(Method::DELETE, &format!("/v1/terminals/{a}"), None)
        .await)
    .parse();
    assert_eq!(gone.reason, UnbindReason::Merchant);
    // Each accepted change emitted terminal.updated, in order.
    let mut updated = Vec::new();
    loop {
        let e = next_terminal_event(&app, &mut events).await;
        if e.event_type == event_types::TERMINAL_UNBOUND {
            assert_eq!(e.data["sn"], a.as_str());
            break;
        }
        assert_eq!(e.event_type, event_types::TERMINAL_UPDATED);
        updated.push(e.data["sn"].as_str().unwrap().to_owned());
    }
    assert_eq!(updated, vec![c.clone(), c.clone(), b.clone(), a.clone()]);

    // A frozen terminal can still be renamed; it stays frozen.
    ok(app
        .open_post(
            "/sandbox/terminals/freeze",
            json!({"sn": b, "frozen": true}),
        )
        .await);
    let frozen: Terminal = ok(put_terminal(
        &app,
        b,
        json!({"alias": "冻结的", "role": "secondary", "main_sn": c}),
    )
    .await)
    .parse();
    assert_eq!(frozen.status, TerminalStatus::Frozen);
    assert_eq!(frozen.alias.as_deref(), Some("冻结的"));
}

#[tokio::test]
async fn the_freeze_control_tells_the_owner_and_stops_trades_on_the_terminal() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = active_app(&sandbox, "13600000801").await;
    let mut events = app.events(None).await;
    let t = bind_free(&app, 2).await;
    for _ in 0..2 {
        next_of(&app, &mut events, event_types::TERMINAL_BOUND).await;
    }
    let freeze = |sn: &str, frozen: bool| json!({"sn": sn, "frozen": frozen});

    // Frozen (typed loosely): terminal.frozen with the terminal, now frozen.
    let inv_t: InventoryTerminal = ok(app
        .open_post(
            "/sandbox/terminals/freeze",
            freeze(&t[0].sn.to_lowercase(), true),
        )
        .await)
    .parse();
    assert_eq!(inv_t.sn, t[0].sn);
    assert_eq!(inv_t.status, TerminalStatus::Frozen);
    assert_eq!(inv_t.merchant_id, app.merchant_id);
    let e = next_terminal_event(&app, &mut events).await;
    assert_eq!(e.event_type, event_types::TERMINAL_FROZEN);
    let data: Terminal = serde_json::from_value(e.data).unwrap();
    assert_eq!(
        data,
        Terminal {
            status: TerminalStatus::Frozen,
            ..t[0].clone()
        }
    );
    let listed = list_terminals(&app).await;
    assert_eq!(
        listed.iter().find(|x| x.sn == t[0].sn).unwrap().status,
        TerminalStatus::Frozen
    );

    // A frozen terminal takes no trades: not by name, not drawn.
    let e = app
        .open_post(
            "/sandbox/trades",
            json!({"merchant_id": app.merchant_id, "terminal_sn": t[0].sn}),
        )
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(field_codes(&e), vec![pair("terminal_sn", "field.invalid")]);
    let made = inject(&app, json!({"count": 20})).await;
    assert!(made.trades.iter().all(|x| x.terminal_sn == t[1].sn));

    // Freezing it again changes nothing and emits nothing: the next terminal
    // event is the second terminal's freeze.
    ok(app
        .open_post("/sandbox/terminals/freeze", freeze(&t[0].sn, true))
        .await);
    ok(app
        .open_post("/sandbox/terminals/freeze", freeze(&t[1].sn, true))
        .await);
    let e = next_terminal_event(&app, &mut events).await;
    assert_eq!(
        (e.event_type.as_str(), e.data["sn"].as_str()),
        (event_types::TERMINAL_FROZEN, Some(t[1].sn.as_str()))
    );
    // No terminal left to trade on.
    app.open_post("/sandbox/trades", json!({"merchant_id": app.merchant_id}))
        .await
        .expect_error(409, "sandbox.no_terminal");
    app.open_post(
        "/sandbox/trades/stream",
        json!({"merchant_id": app.merchant_id}),
    )
    .await
    .expect_error(409, "sandbox.no_terminal");

    // Unfrozen: terminal.unfrozen, and it trades again.
    ok(app
        .open_post("/sandbox/terminals/freeze", freeze(&t[0].sn, false))
        .await);
    let e = next_terminal_event(&app, &mut events).await;
    assert_eq!(e.event_type, event_types::TERMINAL_UNFROZEN);
    assert_eq!(e.data["status"], "active");
    assert_eq!(e.data["sn"], t[0].sn.as_str());
    let made = inject(&app, json!({"count": 3})).await;
    assert!(made.trades.iter().all(|x| x.terminal_sn == t[0].sn));

    // A freeze stays with the terminal: unbound, it is still frozen, and it
    // binds frozen. A free terminal can be frozen (nobody to tell).
    ok(app
        .write(Method::DELETE, &format!("/v1/terminals/{}", t[1].sn), None)
        .await);
    let inv = inventory(&app).await;
    let t1 = inv.terminals.iter().find(|x| x.sn == t[1].sn).unwrap();
    assert_eq!(
        (t1.state.as_str(), t1.status),
        ("free", TerminalStatus::Frozen)
    );
    let rebound: TerminalBinding = ok(app
        .write(Method::POST, "/v1/terminals", Some(json!({"sn": t[1].sn})))
        .await)
    .parse();
    assert_eq!(rebound.terminal.status, TerminalStatus::Frozen);
    let free = inv
        .terminals
        .iter()
        .find(|x| x.state == "free" && x.sn != t[1].sn)
        .unwrap();
    let free_frozen: InventoryTerminal = ok(app
        .open_post("/sandbox/terminals/freeze", freeze(&free.sn, true))
        .await)
    .parse();
    assert_eq!(
        (free_frozen.merchant_id, free_frozen.status),
        (None, TerminalStatus::Frozen)
    );

    // Refusals.
    let e = app
        .open_post("/sandbox/terminals/freeze", freeze("LKLA8123", true))
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(field_codes(&e), vec![pair("sn", "terminal.sn_invalid")]);
    app.open_post(
        "/sandbox/terminals/freeze",
        freeze(&inv.unknown_sns[0], true),
    )
    .await
    .expect_error(404, "terminal.not_found");
    for body in [
        json!({"sn": t[0].sn}),
        json!({"sn": t[0].sn, "frozen": true, "why": "x"}),
    ] {
        app.open_post("/sandbox/terminals/freeze", body)
            .await
            .expect_error(400, "request.field_invalid");
    }
}

#[tokio::test]
async fn the_transfer_control_moves_a_terminal_and_tells_both_merchants() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = active_app(&sandbox, "13600000901").await;
    let b = active_app(&sandbox, "13600000902").await;
    let a_id = a.merchant_id.clone().unwrap();
    let b_id = b.merchant_id.clone().unwrap();
    let mut a_events = a.events(None).await;
    let mut b_events = b.events(None).await;
    let t = bind_free(&a, 3).await;
    for _ in 0..3 {
        next_of(&a, &mut a_events, event_types::TERMINAL_BOUND).await;
    }
    // A secondary with an alias and a trade moves to b by phone: it is b's
    // first terminal, so b's main, afresh.
    ok(put_terminal(
        &a,
        &t[2].sn,
        json!({"alias": "门口", "role": "secondary", "main_sn": t[0].sn}),
    )
    .await);
    inject(&a, json!({"terminal_sn": t[2].sn})).await;
    let moved: TerminalTransferred = ok(a
        .open_post(
            "/sandbox/terminals/transfer",
            json!({"sn": t[2].sn, "to_phone": "+86 136-0000-0902"}),
        )
        .await)
    .parse();
    assert_eq!(
        (
            moved.from_merchant_id.as_str(),
            moved.to_merchant_id.as_str()
        ),
        (a_id.as_str(), b_id.as_str())
    );
    assert_eq!(moved.terminal.sn, t[2].sn);
    assert_eq!(
        (moved.terminal.role, moved.terminal.main_sn.as_deref()),
        (TerminalRole::Main, None)
    );
    assert_eq!(
        (
            moved.terminal.alias.as_deref(),
            moved.terminal.last_trade_at.as_deref()
        ),
        (None, None)
    );
    let gone = next_of(&a, &mut a_events, event_types::TERMINAL_UNBOUND).await;
    let gone: TerminalUnbound = serde_json::from_value(gone.data).unwrap();
    assert_eq!(
        (gone.sn.as_str(), gone.reason),
        (t[2].sn.as_str(), UnbindReason::Transferred)
    );
    let came = next_of(&b, &mut b_events, event_types::TERMINAL_BOUND).await;
    assert_eq!(
        serde_json::from_value::<Terminal>(came.data).unwrap(),
        moved.terminal
    );
    assert_eq!(list_terminals(&b).await, vec![moved.terminal.clone()]);
    assert!(list_terminals(&a).await.iter().all(|x| x.sn != t[2].sn));
    // It is b's now: a binding it is refused loudly.
    a.write(Method::POST, "/v1/terminals", Some(json!({"sn": t[2].sn})))
        .await
        .expect_error(409, "terminal.owned_by_other");

    // a's main, with a secondary and no other main, moves to b by id: the
    // secondary becomes a's main first; at b it is a secondary of b's main.
    let moved: TerminalTransferred = ok(a
        .open_post(
            "/sandbox/terminals/transfer",
            json!({"sn": t[0].sn, "to_merchant_id": b_id}),
        )
        .await)
    .parse();
    assert_eq!(moved.terminal.role, TerminalRole::Secondary);
    assert_eq!(moved.terminal.main_sn.as_ref(), Some(&t[2].sn));
    let e = next_terminal_event(&a, &mut a_events).await;
    assert_eq!(e.event_type, event_types::TERMINAL_UPDATED);
    let promoted: Terminal = serde_json::from_value(e.data).unwrap();
    assert_eq!(promoted.sn, t[1].sn);
    assert_eq!(
        (promoted.role, promoted.main_sn.as_deref()),
        (TerminalRole::Main, None)
    );
    let e = next_terminal_event(&a, &mut a_events).await;
    assert_eq!(e.event_type, event_types::TERMINAL_UNBOUND);
    assert_eq!(
        (e.data["sn"].as_str(), e.data["reason"].as_str()),
        (Some(t[0].sn.as_str()), Some("transferred"))
    );
    assert_eq!(list_terminals(&a).await, vec![promoted]);

    // With another main, the secondaries go under it instead.
    let c = bind_free(&b, 1).await.remove(0); // b: t2 main, t0 and c under it
    ok(put_terminal(&b, &c.sn, json!({"role": "main"})).await);
    ok(b.open_post(
        "/sandbox/terminals/transfer",
        json!({"sn": t[2].sn, "to_phone": "13800000003"}),
    )
    .await);
    let b_list = list_terminals(&b).await;
    let t0 = b_list.iter().find(|x| x.sn == t[0].sn).unwrap();
    assert_eq!(
        t0.main_sn.as_ref(),
        Some(&c.sn),
        "re-homed under b's other main"
    );
    // The seeded other merchant got it as one of its secondaries.
    let inv = inventory(&b).await;
    let seeded_other = inv.terminals.iter().find(|x| x.sn == t[2].sn).unwrap();
    assert!(seeded_other.merchant_id.is_some() && seeded_other.merchant_id.as_ref() != Some(&b_id));

    // Refusals.
    let free = inv.terminals.iter().find(|x| x.state == "free").unwrap();
    let transfer = |body: serde_json::Value| b.open_post("/sandbox/terminals/transfer", body);
    transfer(json!({"sn": free.sn, "to_merchant_id": a_id}))
        .await
        .expect_error(409, "sandbox.terminal_not_bound");
    transfer(json!({"sn": inv.unknown_sns[0], "to_merchant_id": a_id}))
        .await
        .expect_error(404, "terminal.not_found");
    transfer(json!({"sn": c.sn, "to_merchant_id": "mch_nobody"}))
        .await
        .expect_error(404, "sandbox.merchant_unknown");
    transfer(json!({"sn": c.sn, "to_phone": "13900000999"}))
        .await
        .expect_error(404, "sandbox.merchant_unknown");
    transfer(json!({"sn": c.sn, "to_phone": "13800000002"}))
        .await
        .expect_error(409, "merchant.not_active");
    for (body, want) in [
        (
            json!({"sn": "LKL", "to_merchant_id": a_id}),
            pair("sn", "terminal.sn_invalid"),
        ),
        (
            json!({"sn": c.sn, "to_phone": "12345"}),
            pair("to_phone", "auth.phone_invalid"),
        ),
        (json!({"sn": c.sn}), pair("to_phone", "field.invalid")),
        (
            json!({"sn": c.sn, "to_phone": "13600000901", "to_merchant_id": a_id}),
            pair("to_phone", "field.invalid"),
        ),
        (
            json!({"sn": c.sn, "to_merchant_id": b_id}),
            pair("to_merchant_id", "field.invalid"),
        ),
    ] {
        let e = transfer(body.clone())
            .await
            .expect_error(400, "request.field_invalid");
        assert_eq!(field_codes(&e), vec![want], "{body}");
    }
    // Nothing refused moved anything.
    assert_eq!(list_terminals(&b).await.len(), 2);
}

#[tokio::test]
async fn the_back_photo_control_draws_a_readable_back_qr_and_refuses_bad_queries() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    let inv = inventory(&app).await;
    let t = &inv.terminals[0];
    let hosts = vec!["qr.sandbox.lakala.example".to_owned()];
    for query in ["", "?width=2000&angle=33", "?width=640&angle=-120"] {
        let r = ok(app
            .open_get(&format!("/sandbox/terminals/{}/back-photo{query}", t.sn))
            .await);
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("image/jpeg")
        );
        // The core's own reader finds the terminal's QR in it.
        let read = merchant_core::terminals::photo::scan_qr_photo(&r.body, &hosts)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(read.sn, t.sn, "{query}");
    }
    let r = app
        .open_get(&format!(
            "/sandbox/terminals/{}/back-photo?width=99999&angle=nan",
            t.sn
        ))
        .await;
    let e = r.expect_error(400, "request.field_invalid");
    let fields: Vec<&str> = e
        .fields
        .iter()
        .flatten()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, vec!["width", "angle"]);
    app.open_get(&format!("/sandbox/terminals/{}/back-photo?size=3", t.sn))
        .await
        .expect_error(400, "request.field_invalid");
    app.open_get(&format!(
        "/sandbox/terminals/{}/back-photo",
        inv.unknown_sns[0]
    ))
    .await
    .expect_error(404, "terminal.not_found");
    app.open_get("/sandbox/terminals/NOT-A-SERIAL/back-photo")
        .await
        .expect_error(400, "request.field_invalid");
}
