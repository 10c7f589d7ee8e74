//! Terminals and the card BIN lookup against the real sandbox: the seeded
//! inventory, binding by serial and by back QR, every documented refusal,
//! idempotent binding, unbinding, pages, and the BIN endpoint.

mod common;
mod domain_common;

use std::collections::HashSet;

use common::*;
use domain_common::*;
use merchant_contract::domain::{
    BindOutcome, CardBin, Terminal, TerminalBinding, TerminalRole, TerminalStatus, TerminalUnbound,
    UnbindReason,
};
use merchant_contract::wire::{Page, event_types};
use merchant_sandbox::SandboxConfig;
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
    for qr in [
        forged.as_str(),
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
