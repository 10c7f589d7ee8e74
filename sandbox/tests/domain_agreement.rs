//! The e-signed agreement against the real sandbox: the text with the
//! merchant's own fee clauses, every refusal of a device signature, the
//! countersigned record fetched back and verified offline against both
//! keys, and any tampered field refused.

mod common;
mod domain_common;

use common::*;
use domain_common::*;
use merchant_contract::domain::{
    AGREEMENT_VERSION, Agreement, AgreementRecord, AgreementRecordError, Application,
    agreement_text, verify_agreement_record,
};
use merchant_contract::envelope::DeviceKey;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

async fn sign(app: &App, id: &str, body: Value) -> Reply {
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/agreement"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_agreement_names_the_merchants_rates_and_hashes_its_text() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000801").await;
    let a: Agreement = ok(app.get("/v1/agreements/current").await).parse();
    assert_eq!(a.version, AGREEMENT_VERSION);
    assert_eq!(a.text, agreement_text(&a.rates));
    assert_eq!(a.text_sha256, sha256_hex(a.text.as_bytes()));
    let p: merchant_contract::domain::MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    assert_eq!(a.rates, p.rates);
    for r in &a.rates {
        assert!(a.text.contains(&format!("{}%", r.rate)), "{}", r.channel);
    }
    assert!(
        a.text
            .contains("微信支付：单笔 1000.00 元（含）以下按交易金额的 0.38% 收取")
    );
}

#[tokio::test]
async fn a_signature_is_verified_countersigned_and_verifies_offline() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000811").await;
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(good_form()))
        .await)
    .parse();
    let id = created.application_id.clone();
    let agreement: Agreement = ok(app.get("/v1/agreements/current").await).parse();
    let image = sha256_hex(TINY_PNG);
    let good = |at: i64| agreement_signature(&app, &id, &agreement, &image, at);

    sign(&app, &id, good(now()))
        .await
        .expect_error(409, "agreement.signature_missing");
    ok(upload(
        &app,
        &format!("/v1/applications/{id}/documents/signature"),
        "image/png",
        TINY_PNG,
    )
    .await);
    app.get(&format!("/v1/applications/{id}/agreement"))
        .await
        .expect_error(404, "agreement.not_signed");

    // Every rule has its refusal.
    let mut b = good(now());
    b["version"] = json!("2024.01");
    sign(&app, &id, b)
        .await
        .expect_error(409, "agreement.version_outdated");
    let mut b = good(now());
    b["text_sha256"] = json!("0".repeat(64));
    sign(&app, &id, b)
        .await
        .expect_error(400, "agreement.text_mismatch");
    let b = agreement_signature(&app, &id, &agreement, &"1".repeat(64), now());
    sign(&app, &id, b)
        .await
        .expect_error(400, "agreement.image_mismatch");
    sign(&app, &id, good(now() - 400))
        .await
        .expect_error(400, "agreement.signed_at_stale");
    sign(&app, &id, good(now() + 400))
        .await
        .expect_error(400, "agreement.signed_at_stale");
    // Signed for another application id: the signature does not verify.
    let b = agreement_signature(&app, "app_other", &agreement, &image, now());
    sign(&app, &id, b)
        .await
        .expect_error(400, "agreement.device_signature_invalid");
    let mut b = good(now());
    b["device_signature"] = json!("not base64!");
    sign(&app, &id, b)
        .await
        .expect_error(400, "agreement.device_signature_invalid");
    // Another device's serial (even a real key) is not the signing device.
    let (other, _) = DeviceKey::generate().unwrap();
    let mut b = good(now());
    b["device_serial"] = json!(other.serial_no());
    sign(&app, &id, b)
        .await
        .expect_error(403, "agreement.device_mismatch");
    // Unknown fields are refused.
    let mut b = good(now());
    b["extra"] = json!(1);
    sign(&app, &id, b)
        .await
        .expect_error(400, "request.field_invalid");

    let record: AgreementRecord = ok(sign(&app, &id, good(now())).await).parse();
    assert!(record.signature_id.starts_with("sig_"));
    assert_eq!(record.application_id, id);
    assert_eq!(record.device_serial, app.key.serial_no());
    assert_eq!(record.device_public_key, app.key.public_key_base64());
    assert_eq!(record.signature_image_sha256, image);
    assert_eq!(record.platform_key_serial, app.platform.serial_no());
    assert_eq!(verify_agreement_record(&record, &app.platform), Ok(()));

    // Fetched back, it is the same record, and the application carries it.
    let fetched: AgreementRecord =
        ok(app.get(&format!("/v1/applications/{id}/agreement")).await).parse();
    assert_eq!(fetched, record);
    let a: Application = ok(app.get(&format!("/v1/applications/{id}")).await).parse();
    assert_eq!(a.agreement.as_ref(), Some(&record));
    assert!(!a.missing.contains(&"agreement".to_owned()));

    // Any single changed field fails the offline check.
    let as_json = serde_json::to_value(&record).unwrap();
    for (field, value) in as_json.as_object().unwrap() {
        let mut t = as_json.clone();
        t[field] = match value {
            Value::Number(n) => json!(n.as_i64().unwrap() + 1),
            Value::String(s) => {
                let mut s = s.clone();
                let last = s.pop().unwrap();
                s.push(if last == 'A' { 'B' } else { 'A' });
                json!(s)
            }
            other => panic!("{field}: {other}"),
        };
        let tampered: AgreementRecord = serde_json::from_value(t).unwrap();
        assert!(
            verify_agreement_record(&tampered, &app.platform).is_err(),
            "{field} tampered still verifies"
        );
    }
    let mut t = record.clone();
    t.platform_key_serial = "0".repeat(32);
    assert_eq!(
        verify_agreement_record(&t, &app.platform),
        Err(AgreementRecordError::PlatformKeyMismatch)
    );

    // Another handwritten signature voids the e-signature made with the first.
    let text_chunk: &[u8] = &[0, 0, 0, 0, b't', b'E', b'X', b't', 0x5E, 0x7C, 0x0B, 0x3D];
    let other_png: Vec<u8> = [&TINY_PNG[..33], text_chunk, &TINY_PNG[33..]].concat();
    ok(upload(
        &app,
        &format!("/v1/applications/{id}/documents/signature"),
        "image/png",
        &other_png,
    )
    .await);
    let a: Application = ok(app.get(&format!("/v1/applications/{id}")).await).parse();
    assert!(a.agreement.is_none());
    assert!(a.missing.contains(&"agreement".to_owned()));
}
