//! Helpers of the domain tests: active merchants with terminals, trades on
//! demand, uploads of document photos, paging through lists.
#![allow(dead_code)]

use merchant_contract::domain::sandbox::{InjectedTrades, Inventory};
use merchant_contract::domain::{BindOutcome, MerchantProfile, Terminal, TerminalBinding, Trade};
use merchant_contract::envelope::{
    self, HEADER_AUTHORIZATION, HEADER_IDEMPOTENCY_KEY, HEADER_SESSION,
};
use merchant_contract::wire::Page;
use merchant_core::validate::{bank_card, id_card};
use merchant_sandbox::RunningSandbox;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{App, Reply, verify_response};

/// A real 1×1 PNG.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A JPEG-framed photo of `len` bytes (SOI, APP0 marker, filler, EOI).
pub fn jpeg(len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.resize(len.max(6) - 2, 0x5A);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

/// A valid resident ID number from its first 17 digits.
pub fn id_number(first17: &str) -> String {
    let c = id_card::check_char(first17.as_bytes()).expect("17 digits");
    format!("{first17}{}", char::from(c))
}

/// A Luhn-valid card number from its digits before the check digit.
pub fn card_number(partial: &str) -> String {
    let c = bank_card::luhn_check_digit(partial.as_bytes()).expect("digits");
    format!("{partial}{}", char::from(c))
}

/// The legal person's ID number of [`good_form`] (王小明, born 1985-03-07).
pub fn good_id() -> String {
    id_number("11010519850307123")
}

/// A micro merchant's form that passes the review: a personal ICBC debit
/// card in the legal person's name, an ICBC branch in 成都.
pub fn good_form() -> Value {
    json!({
        "kind": "micro",
        "legal_person": {"name": "王小明", "id_number": good_id(),
            "id_valid_from": "2015-03-07", "id_valid_until": "2035-03-07", "id_long_term": false},
        "shop": {"name": "老王面馆", "province_code": "510000", "city_code": "510100",
            "district_code": "510107", "street": "人民南路四段1号", "mcc": "5812",
            "longitude": "104.0657", "latitude": "30.6598"},
        "settlement": {"account_type": "personal",
            "account_number": card_number("622202100000000001"),
            "holder_name": "王小明", "branch_code": "102651000017",
            "reserved_mobile": "13800000001"}
    })
}

/// A valid credit code from its first 8 characters and the first 8 of its
/// organisation code.
pub fn credit_code(head: &str, org: &str) -> String {
    use merchant_core::validate::credit_code as cc;
    let o = cc::organisation_check_char(org.as_bytes()).expect("8 characters");
    let first17 = format!("{head}{org}{}", char::from(o));
    let c = cc::check_char(first17.as_bytes()).expect("17 characters");
    format!("{first17}{}", char::from(c))
}

/// An enterprise's form that passes the review: a long-term licence and a
/// corporate CCB account in the registered name.
pub fn enterprise_form() -> Value {
    let mut f = good_form();
    f["kind"] = json!("enterprise");
    f["licence"] = json!({"credit_code": credit_code("91510107", "MA6C0XK1"),
        "registered_name": "成都老王餐饮有限公司", "valid_from": "2019-01-01",
        "valid_until": null, "long_term": true});
    f["settlement"] = json!({"account_type": "corporate",
        "account_number": "51050142610800001234", "holder_name": "成都老王餐饮有限公司",
        "branch_code": "105651000136", "reserved_mobile": "13800000001"});
    f
}

/// Asserts a 2xx answer and returns it.
pub fn ok(r: Reply) -> Reply {
    assert!(
        (200..300).contains(&r.status),
        "expected success, got {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r
}

/// A signed, idempotent upload of raw bytes with a Content-Type.
pub async fn upload(app: &App, path: &str, content_type: &str, bytes: &[u8]) -> Reply {
    let key = format!("up-{}", envelope::generate_nonce().expect("nonce"));
    let res = app
        .http
        .request(Method::PUT, format!("{}{path}", app.base_url))
        .header(HEADER_AUTHORIZATION, app.authorization(bytes))
        .header(HEADER_SESSION, app.access_token.clone().expect("signed in"))
        .header(HEADER_IDEMPOTENCY_KEY, key)
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.expect("body read").to_vec();
    verify_response(&app.platform, &app.nonces, &headers, &body);
    Reply {
        status,
        headers,
        body,
    }
}

/// Signed in, device registered, activated through the sandbox control.
pub async fn active_app(sandbox: &RunningSandbox, phone: &str) -> App {
    let app = App::ready(sandbox, phone).await;
    let r = ok(app
        .open_post(
            "/sandbox/merchants/activate",
            json!({"merchant_id": app.merchant_id.clone().unwrap(), "shop_name": "测试小店"}),
        )
        .await);
    let p: MerchantProfile = r.parse();
    assert_eq!(p.status, "active");
    app
}

pub async fn inventory(app: &App) -> Inventory {
    ok(app.open_get("/sandbox/terminals").await).parse()
}

/// Binds `n` free terminals of the inventory by serial.
pub async fn bind_free(app: &App, n: usize) -> Vec<Terminal> {
    let inv = inventory(app).await;
    let mut out = Vec::new();
    for t in inv.terminals.iter().filter(|t| t.state == "free").take(n) {
        let r = ok(app
            .write(Method::POST, "/v1/terminals", Some(json!({"sn": t.sn})))
            .await);
        let b: TerminalBinding = r.parse();
        assert_eq!(b.outcome, BindOutcome::Bound);
        out.push(b.terminal);
    }
    assert_eq!(out.len(), n, "enough free terminals");
    out
}

/// `POST /sandbox/trades` for the app's merchant with extra fields; paid at
/// once (`"status":"success"`) unless `extra` names a `status` (`null`:
/// drawn as the stream draws it).
pub async fn inject(app: &App, extra: Value) -> InjectedTrades {
    let mut body = json!({"merchant_id": app.merchant_id.clone().unwrap(), "status": "success"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    ok(app.open_post("/sandbox/trades", body).await).parse()
}

/// Every item of a list, page by page (`query` without cursor/limit).
pub async fn all_pages<T: serde::de::DeserializeOwned>(
    app: &App,
    path: &str,
    query: &str,
    limit: u32,
) -> (Vec<T>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = format!("limit={limit}");
        if !query.is_empty() {
            q.push('&');
            q.push_str(query);
        }
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page: Page<T> = ok(app.get(&format!("{path}?{q}")).await).parse();
        pages += 1;
        assert!(page.items.len() <= limit as usize);
        items.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 1_000, "paging does not end");
    }
    (items, pages)
}

pub async fn all_trades(app: &App, query: &str) -> Vec<Trade> {
    all_pages(app, "/v1/trades", query, 200).await.0
}

/// Moves the sandbox's business clock forward.
pub async fn advance_clock(app: &App, secs: i64) {
    ok(app
        .open_post("/sandbox/clock", json!({"advance_secs": secs}))
        .await);
}

/// The sandbox's business now (unix seconds).
pub async fn sandbox_now(app: &App) -> i64 {
    ok(app.open_get("/sandbox/clock").await).json()["unix"]
        .as_i64()
        .expect("unix")
}

/// Whether `text` holds a run of at least `n` digits.
pub fn has_digit_run(text: &str, n: usize) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// The next event of `event_type` on the stream (others are skipped; the
/// reader fails the test when nothing comes within its timeout).
pub async fn next_of(
    app: &App,
    events: &mut crate::common::SseReader,
    event_type: &str,
) -> merchant_contract::wire::Event {
    loop {
        let frame = events.next_event().await.expect("the stream stays open");
        let event = app.open_event(&frame);
        if event.event_type == event_type {
            return event;
        }
    }
}

/// Refreshes the app's session (after the clock moved past its expiry).
pub async fn refresh(app: &mut App) {
    let r = ok(app
        .post(
            "/v1/auth/refresh",
            json!({"refresh_token": app.refresh_token.clone().expect("signed in")}),
        )
        .await);
    let tokens: merchant_contract::wire::Tokens = r.parse();
    app.access_token = Some(tokens.access_token);
    app.refresh_token = Some(tokens.refresh_token);
}

/// The body of `POST /v1/applications/{id}/agreement` for the current
/// agreement, signed by `app`'s device key at `signed_at` over the
/// application's uploaded `signature` (by its digest `image_sha256`).
pub fn agreement_signature(
    app: &App,
    application_id: &str,
    agreement: &merchant_contract::domain::Agreement,
    image_sha256: &str,
    signed_at: i64,
) -> Value {
    use base64::Engine as _;
    let env = merchant_contract::domain::agreement_envelope(
        application_id,
        &agreement.version,
        &agreement.text_sha256,
        image_sha256,
        signed_at,
        app.key.serial_no(),
    );
    let sig = app.key.sign(env.as_bytes()).expect("device signs");
    json!({
        "version": agreement.version,
        "text_sha256": agreement.text_sha256,
        "signature_image_sha256": image_sha256,
        "signed_at": signed_at,
        "device_serial": app.key.serial_no(),
        "device_signature": base64::engine::general_purpose::STANDARD.encode(sig),
    })
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
