//! Onboarding against the real sandbox over loopback: the whole story from
//! application to activation, every documented refusal of a form, a
//! document, an agreement, the review and the activation code.

mod common;
mod domain_common;

use common::*;
use domain_common::*;
use merchant_contract::domain::{Agreement, Application, ApplicationStatus, MerchantProfile};
use merchant_contract::wire::event_types;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

/// Creates an application with `form`, uploads every photo it needs, signs
/// the agreement: ready to submit.
async fn prepared(app: &App, form: Value) -> Application {
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(form.clone()))
        .await)
    .parse();
    assert_eq!(created.status, ApplicationStatus::Draft);
    let id = &created.application_id;
    let mut kinds = vec!["id_front", "id_back", "bank_card"];
    if form["kind"] == "enterprise" {
        kinds.push("licence");
    }
    for kind in kinds {
        ok(upload(
            app,
            &format!("/v1/applications/{id}/documents/{kind}"),
            "image/jpeg",
            &jpeg(2048),
        )
        .await);
    }
    ok(upload(
        app,
        &format!("/v1/applications/{id}/documents/signature"),
        "image/png",
        TINY_PNG,
    )
    .await);
    let agreement: Agreement = ok(app.get("/v1/agreements/current").await).parse();
    ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/agreement"),
            Some(json!({"version": agreement.version, "text_sha256": agreement.text_sha256})),
        )
        .await);
    let ready: Application = ok(app.get(&format!("/v1/applications/{id}")).await).parse();
    assert!(ready.missing.is_empty(), "{:?}", ready.missing);
    ready
}

async fn submit(app: &App, id: &str) -> Application {
    ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/submit"),
            Some(json!({})),
        )
        .await)
    .parse()
}

#[tokio::test]
async fn a_merchant_onboards_from_application_to_activation() {
    let sandbox = start(SandboxConfig::default()).await;
    let phone = "13700000101";
    let app = App::ready(&sandbox, phone).await;
    let mut events = app.events(None).await;

    // Before: new, nothing to show, no binding possible.
    let p: MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    assert_eq!(p.status, "new");
    assert_eq!(p.merchant_no, None);
    app.get("/v1/applications/current")
        .await
        .expect_error(404, "resource.not_found");

    // A draft may be partial; it says what is missing.
    let draft: Application = ok(app
        .write(
            Method::POST,
            "/v1/applications",
            Some(json!({"kind": "micro", "shop_name": "老王面馆"})),
        )
        .await)
    .parse();
    assert_eq!(draft.status, ApplicationStatus::Draft);
    for m in [
        "business_address",
        "legal_name",
        "id_number",
        "settlement_card_number",
        "id_front",
        "id_back",
        "bank_card",
        "signature",
        "agreement",
    ] {
        assert!(draft.missing.contains(&m.to_owned()), "{m} missing");
    }
    assert!(!draft.missing.contains(&"licence".to_owned()));
    // Submitting it lists every missing item at once.
    let e = app
        .write(
            Method::POST,
            &format!("/v1/applications/{}/submit", draft.application_id),
            Some(json!({})),
        )
        .await
        .expect_error(400, "application.incomplete");
    let fields = e.fields.unwrap();
    assert_eq!(fields.len(), draft.missing.len());
    assert!(fields.iter().all(|f| f.code == "application.missing"));
    // A second application is refused; the current one is found.
    app.write(Method::POST, "/v1/applications", Some(good_form()))
        .await
        .expect_error(409, "application.exists");
    let current: Application = ok(app.get("/v1/applications/current").await).parse();
    assert_eq!(current.application_id, draft.application_id);

    // Fill it in (PUT replaces the form), then photos and the agreement.
    let id = draft.application_id.clone();
    let updated: Application = ok(app
        .write(
            Method::PUT,
            &format!("/v1/applications/{id}"),
            Some(good_form()),
        )
        .await)
    .parse();
    // Personal data comes back masked only.
    let text = serde_json::to_string(&updated).unwrap();
    let id_no = good_form()["id_number"].as_str().unwrap().to_owned();
    let card_no = good_form()["settlement_card_number"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!text.contains(&id_no) && !text.contains(&card_no));
    assert!(!text.contains("王小明"));
    assert_eq!(updated.legal_name_masked.as_deref(), Some("王*明"));
    assert_eq!(
        updated.id_number_masked.as_deref().map(|m| &m[..3]),
        Some("110")
    );
    assert!(
        updated
            .settlement_card_masked
            .as_deref()
            .unwrap()
            .starts_with("622202")
    );
    let bank = updated.settlement_bank.clone().unwrap();
    assert_eq!(bank.card_kind, "debit");
    assert_eq!(bank.bank_name, "中国工商银行");

    // Documents: kind, type, size and digest are kept.
    let doc = ok(upload(
        &app,
        &format!("/v1/applications/{id}/documents/id_front"),
        "image/jpeg",
        &jpeg(4096),
    )
    .await)
    .json();
    assert_eq!(doc["kind"], "id_front");
    assert_eq!(doc["size"], 4096);
    assert_eq!(doc["content_type"], "image/jpeg");
    assert_eq!(doc["sha256"].as_str().unwrap().len(), 64);
    for kind in ["id_back", "bank_card"] {
        ok(upload(
            &app,
            &format!("/v1/applications/{id}/documents/{kind}"),
            "image/png",
            TINY_PNG,
        )
        .await);
    }
    ok(upload(
        &app,
        &format!("/v1/applications/{id}/documents/signature"),
        "image/png",
        TINY_PNG,
    )
    .await);
    let agreement: Agreement = ok(app.get("/v1/agreements/current").await).parse();
    assert!(agreement.text.contains("0.38%"));
    let sig = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/agreement"),
            Some(json!({"version": agreement.version, "text_sha256": agreement.text_sha256})),
        )
        .await)
    .json();
    assert_eq!(sig["version"], agreement.version);
    assert_eq!(sig["text_sha256"], agreement.text_sha256);
    assert!(sig["signature_id"].as_str().unwrap().starts_with("sig_"));

    // Submit: approved, an activation code goes out by SMS.
    let approved = submit(&app, &id).await;
    assert_eq!(approved.status, ApplicationStatus::Approved);
    assert!(approved.rejections.is_empty());
    let reviewed = next_of(&app, &mut events, event_types::APPLICATION_REVIEWED).await;
    assert_eq!(reviewed.event_type, event_types::APPLICATION_REVIEWED);
    assert_eq!(reviewed.data["status"], "approved");
    let code = sandbox
        .latest_sms_code(phone, "activation")
        .expect("activation SMS");
    assert_eq!(code.len(), 8);
    let sms = ok(app
        .open_get(&format!("/sandbox/sms?phone={phone}&purpose=activation"))
        .await)
    .json();
    assert!(sms["text"].as_str().unwrap().contains(&code));

    // Approved applications are locked.
    app.write(
        Method::PUT,
        &format!("/v1/applications/{id}"),
        Some(good_form()),
    )
    .await
    .expect_error(409, "application.locked");
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/submit"),
        Some(json!({})),
    )
    .await
    .expect_error(409, "application.locked");

    // A wrong code, then the right one.
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/activate"),
        Some(json!({"activation_code": wrong})),
    )
    .await
    .expect_error(400, "activation.code_wrong");
    let active: MerchantProfile = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/activate"),
            Some(json!({"activation_code": code})),
        )
        .await)
    .parse();
    assert_eq!(active.status, "active");
    let merchant_no = active.merchant_no.clone().unwrap();
    assert_eq!(merchant_no.len(), 15);
    assert!(merchant_no.starts_with("822"));
    assert_eq!(active.shop_name.as_deref(), Some("老王面馆"));
    assert_eq!(active.rates.len(), 5);
    let wechat = active.rates.iter().find(|r| r.channel == "wechat").unwrap();
    assert_eq!(
        (
            wechat.rate.as_str(),
            wechat.threshold.as_deref(),
            wechat.rate_above.as_deref()
        ),
        ("0.38", Some("1000.00"), Some("0.60"))
    );
    let activated = next_of(&app, &mut events, event_types::MERCHANT_ACTIVATED).await;
    assert_eq!(activated.event_type, event_types::MERCHANT_ACTIVATED);
    assert_eq!(activated.data["merchant_no"], merchant_no);
    let p: MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    assert_eq!(p, active);
    let done: Application = ok(app.get(&format!("/v1/applications/{id}")).await).parse();
    assert_eq!(done.status, ApplicationStatus::Activated);
    assert!(done.activated_at.is_some());
    // Sign-in now reports the merchant active (after the SMS resend wait).
    advance_clock(&app, 61).await;
    let mut again = App::new(&sandbox);
    assert_eq!(again.sign_in(phone).await.merchant.status, "active");
}

#[tokio::test]
async fn every_documented_review_refusal_has_its_reason() {
    let sandbox = start(SandboxConfig::default()).await;
    let unknown_bin_card = card_number("700000100000000001");
    assert_eq!(
        merchant_core::validate::lookup_bin(unknown_bin_card.clone()),
        None,
        "the sample card's BIN must stay unknown to the table"
    );
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "legal_name",
            json!("王测试拒绝"),
            "legal_name",
            "review.identity_mismatch",
        ),
        (
            "id_number",
            json!(id_number("11010519850307999")),
            "id_number",
            "review.identity_mismatch",
        ),
        (
            "id_number",
            json!(id_number("11010520150307123")),
            "id_number",
            "review.applicant_underage",
        ),
        (
            "settlement_card_number",
            json!(card_number("622575100000000001")),
            "settlement_card_number",
            "review.settlement_card_not_debit",
        ),
        (
            "settlement_card_number",
            json!(unknown_bin_card),
            "settlement_card_number",
            "review.settlement_card_bank_unknown",
        ),
        (
            "shop_name",
            json!("测试拒绝小卖部"),
            "shop_name",
            "review.shop_name_refused",
        ),
    ];
    for (i, (key, value, field, code)) in cases.into_iter().enumerate() {
        let app = App::ready(&sandbox, &format!("1370000020{i}")).await;
        let mut form = good_form();
        form[key] = value;
        let ready = prepared(&app, form).await;
        let refused = submit(&app, &ready.application_id).await;
        assert_eq!(refused.status, ApplicationStatus::Rejected, "{code}");
        assert_eq!(
            refused.rejections.len(),
            1,
            "{code}: {:?}",
            refused.rejections
        );
        let r = &refused.rejections[0];
        assert_eq!((r.field.as_str(), r.code.as_str()), (field, code));
        assert!(!r.message.is_empty() && !r.message_en.is_empty());
        // No activation code for a refused application.
        assert_eq!(
            sandbox.latest_sms_code(&format!("1370000020{i}"), "activation"),
            None
        );
        app.write(
            Method::POST,
            &format!("/v1/applications/{}/activate", ready.application_id),
            Some(json!({"activation_code": "12345678"})),
        )
        .await
        .expect_error(409, "application.not_approved");
        // Fixed and submitted again: approved.
        let fixed: Application = ok(app
            .write(
                Method::PUT,
                &format!("/v1/applications/{}", ready.application_id),
                Some(good_form()),
            )
            .await)
        .parse();
        assert_eq!(fixed.status, ApplicationStatus::Draft);
        assert!(fixed.rejections.is_empty());
        let approved = submit(&app, &ready.application_id).await;
        assert_eq!(approved.status, ApplicationStatus::Approved, "{code}");
    }
}

#[tokio::test]
async fn bad_fields_are_refused_at_once_each_with_its_code() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000301").await;
    let good_id = id_number("11010519850307123");
    let wrong_check = if good_id.ends_with('1') { '2' } else { '1' };
    let mut form = good_form();
    form["legal_name"] = json!("王2");
    form["id_number"] = json!(format!("{}{wrong_check}", &good_id[..17]));
    form["licence_code"] = json!("91350100M000100Y43");
    form["settlement_card_number"] = json!("6222021000000000012");
    form["shop_name"] = json!("店".repeat(41));
    let e = app
        .write(Method::POST, "/v1/applications", Some(form))
        .await
        .expect_error(400, "request.field_invalid");
    let fields = e.fields.unwrap();
    let has = |f: &str, c: &str| fields.iter().any(|x| x.field == f && x.code == c);
    assert!(has("legal_name", "name.digits"), "{fields:?}");
    assert!(has("id_number", "id_card.checksum"), "{fields:?}");
    assert!(has("licence_code", "application.licence_not_for_micro"));
    assert!(
        has("settlement_card_number", "bank_card.checksum"),
        "{fields:?}"
    );
    assert!(has("shop_name", "field.too_long"));
    // Nothing was created.
    app.get("/v1/applications/current")
        .await
        .expect_error(404, "resource.not_found");

    // An enterprise's credit code is checked (GB 32100); an unknown field or
    // kind is a malformed form.
    let mut form = good_form();
    form["kind"] = json!("enterprise");
    form["licence_code"] = json!("91350100M000100Y44");
    let e = app
        .write(Method::POST, "/v1/applications", Some(form))
        .await
        .expect_error(400, "request.field_invalid");
    assert!(
        e.fields
            .unwrap()
            .iter()
            .any(|f| f.field == "licence_code" && f.code.starts_with("credit_code."))
    );
    let mut form = good_form();
    form["nickname"] = json!("x");
    app.write(Method::POST, "/v1/applications", Some(form))
        .await
        .expect_error(400, "request.field_invalid");
    app.write(
        Method::POST,
        "/v1/applications",
        Some(json!({"kind": "personal"})),
    )
    .await
    .expect_error(400, "request.field_invalid");

    // An enterprise with a valid code needs its licence photo.
    let mut form = good_form();
    form["kind"] = json!("enterprise");
    form["licence_code"] = json!("91350100M000100Y43");
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(form))
        .await)
    .parse();
    assert!(created.missing.contains(&"licence".to_owned()));
    assert_eq!(created.licence_code.as_deref(), Some("91350100M000100Y43"));
}

#[tokio::test]
async fn documents_are_checked_for_kind_type_size_and_content() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000401").await;
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(good_form()))
        .await)
    .parse();
    let base = format!("/v1/applications/{}/documents", created.application_id);
    upload(&app, &format!("{base}/selfie"), "image/png", TINY_PNG)
        .await
        .expect_error(400, "document.kind_unknown");
    upload(&app, &format!("{base}/licence"), "image/png", TINY_PNG)
        .await
        .expect_error(400, "document.not_applicable");
    upload(&app, &format!("{base}/id_front"), "image/gif", TINY_PNG)
        .await
        .expect_error(415, "document.type_unsupported");
    upload(&app, &format!("{base}/signature"), "image/jpeg", &jpeg(100))
        .await
        .expect_error(415, "document.type_unsupported");
    upload(&app, &format!("{base}/id_front"), "image/png", &jpeg(100))
        .await
        .expect_error(400, "document.content_mismatch");
    upload(
        &app,
        &format!("{base}/id_front"),
        "image/png",
        &TINY_PNG[..TINY_PNG.len() - 4],
    )
    .await
    .expect_error(400, "document.content_mismatch");
    upload(&app, &format!("{base}/id_front"), "image/jpeg", b"")
        .await
        .expect_error(400, "document.content_mismatch");
    upload(
        &app,
        &format!("{base}/id_front"),
        "image/jpeg",
        &jpeg(2 * 1024 * 1024 + 1),
    )
    .await
    .expect_error(413, "document.too_large");
    // Above the route's body limit the guard refuses before the handler.
    upload(
        &app,
        &format!("{base}/id_front"),
        "image/jpeg",
        &jpeg(8 * 1024 * 1024 + 1),
    )
    .await
    .expect_error(413, "request.body_too_large");
    // The largest photo passes, and replaces an earlier one.
    ok(upload(&app, &format!("{base}/id_front"), "image/jpeg", &jpeg(100)).await);
    ok(upload(
        &app,
        &format!("{base}/id_front"),
        "image/jpeg",
        &jpeg(2 * 1024 * 1024),
    )
    .await);
    let a: Application = ok(app
        .get(&format!("/v1/applications/{}", created.application_id))
        .await)
    .parse();
    assert_eq!(a.documents.len(), 1);
    assert_eq!(a.documents[0].size, 2 * 1024 * 1024);
    // Someone else's application: not found, like none at all.
    let other = App::ready(&sandbox, "13700000402").await;
    upload(&other, &format!("{base}/id_front"), "image/png", TINY_PNG)
        .await
        .expect_error(404, "resource.not_found");
}

#[tokio::test]
async fn the_agreement_binds_its_version_text_and_signature() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000501").await;
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(good_form()))
        .await)
    .parse();
    let id = created.application_id;
    let agreement: Agreement = ok(app.get("/v1/agreements/current").await).parse();
    let sign = |version: &str, sha: &str| json!({"version": version, "text_sha256": sha});
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/agreement"),
        Some(sign(&agreement.version, &agreement.text_sha256)),
    )
    .await
    .expect_error(409, "agreement.signature_missing");
    ok(upload(
        &app,
        &format!("/v1/applications/{id}/documents/signature"),
        "image/png",
        TINY_PNG,
    )
    .await);
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/agreement"),
        Some(sign("2024.01", &agreement.text_sha256)),
    )
    .await
    .expect_error(409, "agreement.version_outdated");
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/agreement"),
        Some(sign(&agreement.version, &"0".repeat(64))),
    )
    .await
    .expect_error(400, "agreement.text_mismatch");
    let sig = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/agreement"),
            Some(sign(&agreement.version, &agreement.text_sha256)),
        )
        .await)
    .json();
    let a: Application = ok(app.get(&format!("/v1/applications/{id}")).await).parse();
    assert!(!a.missing.contains(&"agreement".to_owned()));
    assert_eq!(
        a.agreement.as_ref().unwrap().signature_image_sha256,
        sig["signature_image_sha256"].as_str().unwrap()
    );
    // Another handwritten signature voids the e-signature made with the first.
    // The same image with an empty text chunk after the header: other bytes.
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

#[tokio::test]
async fn activation_codes_expire_burn_and_resend_by_the_rules() {
    let sandbox = start(SandboxConfig::default()).await;
    let phone = "13700000601";
    let app = App::ready(&sandbox, phone).await;
    let ready = prepared(&app, good_form()).await;
    let id = ready.application_id.clone();
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/activation-code"),
        Some(json!({})),
    )
    .await
    .expect_error(409, "application.not_approved");
    assert_eq!(submit(&app, &id).await.status, ApplicationStatus::Approved);
    let first = sandbox.latest_sms_code(phone, "activation").unwrap();
    let activate = |code: String| {
        let path = format!("/v1/applications/{id}/activate");
        let app = &app;
        async move {
            app.write(Method::POST, &path, Some(json!({"activation_code": code})))
                .await
        }
    };

    // Resend too soon.
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/activation-code"),
        Some(json!({})),
    )
    .await
    .expect_error(429, "activation.resend_too_soon");

    // Five wrong entries burn the code: even the right one is refused then.
    let wrong = if first == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for _ in 0..5 {
        activate(wrong.to_owned())
            .await
            .expect_error(400, "activation.code_wrong");
    }
    activate(first.clone())
        .await
        .expect_error(429, "activation.attempts_exceeded");

    // A new code (after the resend wait) works again; it expires after 30 min.
    advance_clock(&app, 61).await;
    let sent = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/activation-code"),
            Some(json!({})),
        )
        .await)
    .json();
    assert_eq!(sent["sent"], true);
    assert_eq!(sent["expires_in"], 1800);
    let second = sandbox.latest_sms_code(phone, "activation").unwrap();
    assert_ne!(second, first, "a new code each time");
    advance_clock(&app, 1800).await;
    activate(second.clone())
        .await
        .expect_error(400, "activation.code_expired");

    let sent = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/activation-code"),
            Some(json!({})),
        )
        .await)
    .json();
    assert_eq!(sent["resend_after"], 60);
    let third = sandbox.latest_sms_code(phone, "activation").unwrap();
    let p: MerchantProfile = ok(activate(third.clone()).await).parse();
    assert_eq!(p.status, "active");
    // Entering it again (a retry after a lost answer) gives the same profile.
    let again: MerchantProfile = ok(activate(third).await).parse();
    assert_eq!(again, p);
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/activation-code"),
        Some(json!({})),
    )
    .await
    .expect_error(409, "application.locked");
}

#[tokio::test]
async fn one_merchant_cannot_see_or_touch_anothers_application() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13700000701").await;
    let b = App::ready(&sandbox, "13700000702").await;
    let mine: Application = ok(a
        .write(Method::POST, "/v1/applications", Some(good_form()))
        .await)
    .parse();
    let id = &mine.application_id;
    let theirs = b
        .get(&format!("/v1/applications/{id}"))
        .await
        .expect_error(404, "resource.not_found");
    let nobody = b
        .get("/v1/applications/app_0000000000000000")
        .await
        .expect_error(404, "resource.not_found");
    assert_eq!(theirs.message, nobody.message);
    b.get("/v1/applications/current")
        .await
        .expect_error(404, "resource.not_found");
    b.write(
        Method::PUT,
        &format!("/v1/applications/{id}"),
        Some(good_form()),
    )
    .await
    .expect_error(404, "resource.not_found");
    b.write(
        Method::POST,
        &format!("/v1/applications/{id}/submit"),
        Some(json!({})),
    )
    .await
    .expect_error(404, "resource.not_found");
    // A's application is untouched.
    let still: Application = ok(a.get(&format!("/v1/applications/{id}")).await).parse();
    assert_eq!(still, mine);
}
