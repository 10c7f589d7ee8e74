//! Onboarding against the real sandbox over loopback: the whole story from
//! application to activation for a micro merchant and an enterprise, the
//! asynchronous review on the business clock, every documented refusal of a
//! form, a document, the review and the activation code, and the recovery
//! of a lost code.

mod common;
mod domain_common;

use common::*;
use domain_common::*;
use merchant_contract::domain::{
    AccountType, Agreement, Application, ApplicationStatus, DocumentKind, MerchantKind,
    MerchantProfile,
};
use merchant_contract::wire::event_types;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

/// A sandbox whose review decides at once (at the next read or tick).
async fn quick() -> merchant_sandbox::RunningSandbox {
    start(SandboxConfig {
        review_delay_secs: 0,
        ..SandboxConfig::default()
    })
    .await
}

/// Uploads every photo `form` needs and signs the agreement: ready to
/// submit.
async fn complete(app: &App, id: &str, form: &Value) -> Application {
    let kind = MerchantKind::parse(form["kind"].as_str().unwrap()).unwrap();
    let account = form["settlement"]["account_type"]
        .as_str()
        .and_then(AccountType::parse);
    for kind in DocumentKind::required(kind, account) {
        let (ty, bytes) = if kind == DocumentKind::Signature {
            ("image/png", TINY_PNG.to_vec())
        } else {
            ("image/jpeg", jpeg(2048))
        };
        ok(upload(
            app,
            &format!("/v1/applications/{id}/documents/{}", kind.as_str()),
            ty,
            &bytes,
        )
        .await);
    }
    let agreement: Agreement = ok(app.get("/v1/agreements/current").await).parse();
    let body = agreement_signature(app, id, &agreement, &sha256_hex(TINY_PNG), now());
    ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/agreement"),
            Some(body),
        )
        .await);
    let ready: Application = ok(app.get(&format!("/v1/applications/{id}")).await).parse();
    assert!(ready.missing.is_empty(), "{:?}", ready.missing);
    ready
}

/// Creates an application with `form` and completes it.
async fn prepared(app: &App, form: Value) -> Application {
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(form.clone()))
        .await)
    .parse();
    assert_eq!(created.status, ApplicationStatus::Draft);
    complete(app, &created.application_id, &form).await
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

async fn read(app: &App, id: &str) -> Application {
    ok(app.get(&format!("/v1/applications/{id}")).await).parse()
}

#[tokio::test]
async fn a_micro_merchant_onboards_and_the_review_decides_on_the_business_clock() {
    let sandbox = start(SandboxConfig::default()).await;
    let phone = "13700000101";
    let app = App::ready(&sandbox, phone).await;
    let mut events = app.events(None).await;

    let p: MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    assert_eq!(p.status, "new");
    app.get("/v1/applications/current")
        .await
        .expect_error(404, "resource.not_found");

    // A draft may be partial; it says what is missing.
    let draft: Application = ok(app
        .write(
            Method::POST,
            "/v1/applications",
            Some(json!({"kind": "micro", "shop": {"name": "老王面馆"}})),
        )
        .await)
    .parse();
    assert!(draft.missing.contains(&"legal_person.id_number".to_owned()));
    assert!(!draft.missing.contains(&"shop.name".to_owned()));
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
    app.write(Method::POST, "/v1/applications", Some(good_form()))
        .await
        .expect_error(409, "application.exists");

    // Fill it in: personal data comes back masked only.
    let id = draft.application_id.clone();
    let updated: Application = ok(app
        .write(
            Method::PUT,
            &format!("/v1/applications/{id}"),
            Some(good_form()),
        )
        .await)
    .parse();
    let text = serde_json::to_string(&updated).unwrap();
    let card = good_form()["settlement"]["account_number"]
        .as_str()
        .unwrap()
        .to_owned();
    for secret in [good_id(), card, "王小明".into(), "13800000001".into()] {
        assert!(!text.contains(&secret), "{secret} echoed");
    }
    let lp = updated.legal_person.clone().unwrap();
    assert_eq!(lp.legal_name_masked.as_deref(), Some("王*明"));
    assert_eq!(lp.id_valid_until.as_deref(), Some("2035-03-07"));
    let s = updated.settlement.clone().unwrap();
    assert!(s.account_number_masked.unwrap().starts_with("622202"));
    assert_eq!(s.holder_name_masked.as_deref(), Some("王*明"));
    assert_eq!(s.reserved_mobile_masked.as_deref(), Some("138****0001"));
    assert_eq!(s.branch_code.as_deref(), Some("102651000017"));
    let shop = updated.shop.clone().unwrap();
    assert_eq!(shop.district_code.as_deref(), Some("510107"));
    assert_eq!(shop.latitude.as_deref(), Some("30.6598"));
    let bank = updated.settlement_bank.clone().unwrap();
    assert_eq!(bank.bank_code.as_deref(), Some("102"));
    assert_eq!(bank.card_kind.as_deref(), Some("debit"));
    assert_eq!(bank.bank_name, "中国工商银行");
    assert!(bank.branch_name.unwrap().contains("成都"));

    complete(&app, &id, &good_form()).await;

    // Submit: under review until the review is due, locked meanwhile.
    let before = sandbox_now(&app).await;
    let under = submit(&app, &id).await;
    assert_eq!(under.status, ApplicationStatus::UnderReview);
    assert!(under.missing.is_empty());
    let due = chrono::DateTime::parse_from_rfc3339(under.review_due_at.as_deref().unwrap())
        .unwrap()
        .timestamp();
    assert!(
        (before + 30..=before + 32).contains(&due),
        "{due} vs {before}"
    );
    // A second submit (another key) answers the application unchanged.
    let again = submit(&app, &id).await;
    assert_eq!(again.status, ApplicationStatus::UnderReview);
    assert_eq!(again.review_due_at, under.review_due_at);
    assert_eq!(read(&app, &id).await.status, ApplicationStatus::UnderReview);
    app.write(
        Method::PUT,
        &format!("/v1/applications/{id}"),
        Some(good_form()),
    )
    .await
    .expect_error(409, "application.locked");
    assert_eq!(sandbox.latest_sms_code(phone, "activation"), None);

    // Once the business clock reaches the due time the review decides and
    // says so on the event stream, without any read.
    advance_clock(&app, 31).await;
    let reviewed = next_of(&app, &mut events, event_types::APPLICATION_REVIEWED).await;
    assert_eq!(reviewed.data["status"], "approved");
    assert_eq!(reviewed.data["application_id"], id.as_str());
    assert!(reviewed.data["activation_code_sent_at"].is_string());
    let code = sandbox
        .latest_sms_code(phone, "activation")
        .expect("activation SMS");
    assert_eq!(code.len(), 8);
    let approved = read(&app, &id).await;
    assert_eq!(approved.status, ApplicationStatus::Approved);
    assert_eq!(approved.review_due_at, None);
    assert!(approved.reviewed_at.is_some() && approved.activation_code_sent_at.is_some());
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
    assert_eq!(active.merchant_no.as_ref().unwrap().len(), 15);
    assert_eq!(active.shop_name.as_deref(), Some("老王面馆"));
    assert_eq!(active.rates.len(), 5);
    let activated = next_of(&app, &mut events, event_types::MERCHANT_ACTIVATED).await;
    assert_eq!(
        activated.data["merchant_no"],
        active.merchant_no.clone().unwrap()
    );
    let p: MerchantProfile = ok(app.get("/v1/merchant").await).parse();
    assert_eq!(p, active);
    let done = read(&app, &id).await;
    assert_eq!(done.status, ApplicationStatus::Activated);
    assert!(done.activated_at.is_some());
}

#[tokio::test]
async fn an_enterprise_with_a_corporate_account_onboards() {
    let sandbox = quick().await;
    let app = App::ready(&sandbox, "13700000111").await;
    let form = enterprise_form();
    let created: Application = ok(app
        .write(Method::POST, "/v1/applications", Some(form.clone()))
        .await)
    .parse();
    let id = created.application_id.clone();
    for kind in ["licence", "opening_permit"] {
        assert!(created.missing.contains(&kind.to_owned()), "{kind}");
    }
    assert!(!created.missing.contains(&"bank_card".to_owned()));
    let licence = created.licence.clone().unwrap();
    assert_eq!(
        licence.registered_name.as_deref(),
        Some("成都老王餐饮有限公司")
    );
    assert_eq!(licence.long_term, Some(true));
    assert_eq!(licence.valid_until, None);
    let s = created.settlement.clone().unwrap();
    assert_eq!(s.account_type, Some(AccountType::Corporate));
    assert_eq!(
        s.holder_name_masked.as_deref(),
        Some("成都老王餐饮有限公司")
    );
    assert!(
        !serde_json::to_string(&created)
            .unwrap()
            .contains("51050142610800001234")
    );
    // The bank of a corporate account is the branch's.
    let bank = created.settlement_bank.clone().unwrap();
    assert_eq!(bank.bank_code.as_deref(), Some("105"));
    assert_eq!(bank.bank_name, "中国建设银行");
    assert_eq!(bank.card_kind, None);
    assert!(bank.branch_name.is_some());
    // A bank card photo does not apply to a corporate account.
    upload(
        &app,
        &format!("/v1/applications/{id}/documents/bank_card"),
        "image/jpeg",
        &jpeg(100),
    )
    .await
    .expect_error(400, "document.not_applicable");
    complete(&app, &id, &form).await;
    assert_eq!(
        submit(&app, &id).await.status,
        ApplicationStatus::UnderReview
    );
    let a = read(&app, &id).await;
    assert_eq!(a.status, ApplicationStatus::Approved, "{:?}", a.rejections);
}

/// One refusal case: a form, the field refused and the code.
struct Case {
    form: Value,
    field: &'static str,
    code: &'static str,
}

fn edit(base: Value, path: &[&str], value: Value) -> Value {
    let mut f = base;
    let mut at = &mut f;
    for p in &path[..path.len() - 1] {
        at = &mut at[*p];
    }
    at[path[path.len() - 1]] = value;
    f
}

#[tokio::test]
async fn every_documented_review_refusal_has_its_reason_and_a_fix_resubmits() {
    let sandbox = quick().await;
    let unknown_bin_card = card_number("700000100000000001");
    assert_eq!(
        merchant_core::validate::lookup_bin(unknown_bin_card.clone()),
        None,
        "the sample card's BIN must stay unknown to the table"
    );
    let g = good_form;
    let e = enterprise_form;
    let cases = vec![
        Case {
            form: edit(
                edit(g(), &["legal_person", "name"], json!("王测试拒绝")),
                &["settlement", "holder_name"],
                json!("王测试拒绝"),
            ),
            field: "legal_person.name",
            code: "review.identity_mismatch",
        },
        Case {
            form: edit(
                g(),
                &["legal_person", "id_number"],
                json!(id_number("11010519850307999")),
            ),
            field: "legal_person.id_number",
            code: "review.identity_mismatch",
        },
        Case {
            form: edit(
                g(),
                &["legal_person", "id_number"],
                json!(id_number("11010520150307123")),
            ),
            field: "legal_person.id_number",
            code: "review.applicant_underage",
        },
        Case {
            form: edit(
                edit(g(), &["legal_person", "id_valid_from"], json!("2000-01-01")),
                &["legal_person", "id_valid_until"],
                json!("2020-01-01"),
            ),
            field: "legal_person.id_valid_until",
            code: "review.id_expired",
        },
        Case {
            form: edit(g(), &["settlement", "holder_name"], json!("李四")),
            field: "settlement.holder_name",
            code: "review.holder_not_legal_person",
        },
        Case {
            form: edit(
                edit(
                    g(),
                    &["settlement", "account_number"],
                    json!(card_number("622575100000000001")),
                ),
                &["settlement", "branch_code"],
                json!("308651000159"),
            ),
            field: "settlement.account_number",
            code: "review.settlement_card_not_debit",
        },
        Case {
            form: edit(
                g(),
                &["settlement", "account_number"],
                json!(unknown_bin_card),
            ),
            field: "settlement.account_number",
            code: "review.settlement_card_bank_unknown",
        },
        Case {
            form: edit(g(), &["shop", "name"], json!("测试拒绝小卖部")),
            field: "shop.name",
            code: "review.shop_name_refused",
        },
        Case {
            form: edit(
                edit(
                    edit(e(), &["licence", "long_term"], json!(false)),
                    &["licence", "valid_until"],
                    json!("2020-01-01"),
                ),
                &["licence", "valid_from"],
                json!("2010-01-01"),
            ),
            field: "licence.valid_until",
            code: "review.licence_expired",
        },
        Case {
            form: edit(
                edit(
                    e(),
                    &["licence", "registered_name"],
                    json!("测试拒绝餐饮有限公司"),
                ),
                &["settlement", "holder_name"],
                json!("测试拒绝餐饮有限公司"),
            ),
            field: "licence.registered_name",
            code: "review.licence_mismatch",
        },
        Case {
            form: edit(
                e(),
                &["settlement", "holder_name"],
                json!("成都别家餐饮有限公司"),
            ),
            field: "settlement.holder_name",
            code: "review.holder_not_registered_name",
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let phone = format!("137000002{i:02}");
        let app = App::ready(&sandbox, &phone).await;
        let ready = prepared(&app, case.form.clone()).await;
        let id = ready.application_id.clone();
        assert_eq!(
            submit(&app, &id).await.status,
            ApplicationStatus::UnderReview
        );
        let refused = read(&app, &id).await;
        assert_eq!(refused.status, ApplicationStatus::Rejected, "{}", case.code);
        assert_eq!(
            refused.rejections.len(),
            1,
            "{}: {:?}",
            case.code,
            refused.rejections
        );
        let r = &refused.rejections[0];
        assert_eq!((r.field.as_str(), r.code.as_str()), (case.field, case.code));
        let code = merchant_contract::domain::find(case.code).unwrap();
        assert_eq!(
            (r.message.as_str(), r.message_en.as_str()),
            (code.zh, code.en)
        );
        assert_eq!(sandbox.latest_sms_code(&phone, "activation"), None);
        app.write(
            Method::POST,
            &format!("/v1/applications/{id}/activate"),
            Some(json!({"activation_code": "12345678"})),
        )
        .await
        .expect_error(409, "application.not_approved");
        // Fixed and submitted again: the same application, approved.
        let fix = if case.form["kind"] == "enterprise" {
            e()
        } else {
            g()
        };
        let fixed: Application = ok(app
            .write(Method::PUT, &format!("/v1/applications/{id}"), Some(fix))
            .await)
        .parse();
        assert_eq!(fixed.status, ApplicationStatus::Draft);
        assert!(fixed.rejections.is_empty());
        assert_eq!(submit(&app, &id).await.application_id, id);
        let approved = read(&app, &id).await;
        assert_eq!(
            approved.status,
            ApplicationStatus::Approved,
            "{}",
            case.code
        );
    }
}

#[tokio::test]
async fn bad_fields_are_refused_at_once_each_with_its_code() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000301").await;
    let good = good_id();
    let wrong_check = if good.ends_with('1') { '2' } else { '1' };
    let form = json!({
        "kind": "micro",
        "legal_person": {"name": "王2", "id_number": format!("{}{wrong_check}", &good[..17]),
            "id_valid_from": "2015-02-30", "id_valid_until": "2035-03-07", "id_long_term": true},
        "licence": {"credit_code": "91350100M000100Y43"},
        "shop": {"name": "店".repeat(41), "province_code": "510000", "city_code": "440100",
            "district_code": "510199", "mcc": "9999", "longitude": "181", "latitude": "north"},
        "settlement": {"account_type": "corporate", "account_number": "1234567",
            "holder_name": "王小明", "branch_code": "10265100001", "reserved_mobile": "12345"}
    });
    let e = app
        .write(Method::POST, "/v1/applications", Some(form))
        .await
        .expect_error(400, "request.field_invalid");
    let fields = e.fields.unwrap();
    let has = |f: &str, c: &str| fields.iter().any(|x| x.field == f && x.code == c);
    for (f, c) in [
        ("legal_person.name", "name.digits"),
        ("legal_person.id_number", "id_card.checksum"),
        ("legal_person.id_valid_from", "date.invalid"),
        ("legal_person.id_valid_until", "validity.end_or_long_term"),
        ("licence", "application.licence_not_for_micro"),
        ("shop.name", "field.too_long"),
        ("shop.city_code", "region.not_nested"),
        ("shop.district_code", "region.unknown"),
        ("shop.mcc", "mcc.unknown"),
        ("shop.longitude", "coordinate.invalid"),
        ("shop.latitude", "coordinate.invalid"),
        (
            "settlement.account_type",
            "application.corporate_not_for_kind",
        ),
        ("settlement.account_number", "account.number_invalid"),
        ("settlement.branch_code", "field.invalid"),
    ] {
        assert!(has(f, c), "{f} {c}: {fields:?}");
    }
    assert!(
        fields
            .iter()
            .any(|x| x.field == "settlement.reserved_mobile" && x.code.starts_with("phone.")),
        "{fields:?}"
    );
    // Nothing was created, and no personal data came back.
    app.get("/v1/applications/current")
        .await
        .expect_error(404, "resource.not_found");

    // Existence in the lookups, the branch's bank, the card's checks.
    let mut f = good_form();
    f["shop"]["province_code"] = json!("990000");
    f["settlement"]["branch_code"] = json!("105651000136");
    f["settlement"]["account_number"] = json!("6222021000000000012");
    let fields = app
        .write(Method::POST, "/v1/applications", Some(f))
        .await
        .expect_error(400, "request.field_invalid")
        .fields
        .unwrap();
    let has = |f: &str, c: &str| fields.iter().any(|x| x.field == f && x.code == c);
    assert!(has("shop.province_code", "region.unknown"), "{fields:?}");
    // The city is judged against a known province only.
    assert!(
        !fields.iter().any(|x| x.field == "shop.city_code"),
        "{fields:?}"
    );
    assert!(
        has("settlement.account_number", "bank_card.checksum"),
        "{fields:?}"
    );
    let mut f = good_form();
    f["settlement"]["branch_code"] = json!("105651000136");
    let fields = app
        .write(Method::POST, "/v1/applications", Some(f))
        .await
        .expect_error(400, "request.field_invalid")
        .fields
        .unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(
        (fields[0].field.as_str(), fields[0].code.as_str()),
        ("settlement.branch_code", "branch.bank_mismatch")
    );
    let mut f = good_form();
    f["settlement"]["branch_code"] = json!("102651099999");
    f["legal_person"]["id_valid_until"] = json!("2010-01-01");
    let fields = app
        .write(Method::POST, "/v1/applications", Some(f))
        .await
        .expect_error(400, "request.field_invalid")
        .fields
        .unwrap();
    let has = |f: &str, c: &str| fields.iter().any(|x| x.field == f && x.code == c);
    assert!(has("settlement.branch_code", "branch.unknown"));
    assert!(has("legal_person.id_valid_until", "validity.order"));

    // An enterprise's credit code is checked (GB 32100); unknown fields
    // (at any depth) and kinds make a malformed form.
    let mut f = enterprise_form();
    f["licence"]["credit_code"] = json!("91350100M000100Y44");
    let fields = app
        .write(Method::POST, "/v1/applications", Some(f))
        .await
        .expect_error(400, "request.field_invalid")
        .fields
        .unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f.field == "licence.credit_code" && f.code.starts_with("credit_code."))
    );
    let mut f = good_form();
    f["nickname"] = json!("x");
    app.write(Method::POST, "/v1/applications", Some(f))
        .await
        .expect_error(400, "request.field_invalid");
    let mut f = good_form();
    f["shop"]["nickname"] = json!("x");
    app.write(Method::POST, "/v1/applications", Some(f))
        .await
        .expect_error(400, "request.field_invalid");
    app.write(
        Method::POST,
        "/v1/applications",
        Some(json!({"kind": "personal"})),
    )
    .await
    .expect_error(400, "request.field_invalid");
}

#[tokio::test]
async fn missing_lists_exactly_what_the_kind_and_the_account_need() {
    let sandbox = start(SandboxConfig::default()).await;
    let docs = |m: &[String]| -> Vec<String> {
        m.iter()
            .filter(|x| DocumentKind::parse(x).is_some())
            .cloned()
            .collect()
    };
    let cases = [
        (
            json!({"kind": "micro"}),
            vec![
                "id_front",
                "id_back",
                "bank_card",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature",
            ],
        ),
        (
            json!({"kind": "individual_business"}),
            vec![
                "id_front",
                "id_back",
                "bank_card",
                "licence",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature",
            ],
        ),
        (
            json!({"kind": "enterprise", "settlement": {"account_type": "corporate"}}),
            vec![
                "id_front",
                "id_back",
                "licence",
                "opening_permit",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature",
            ],
        ),
    ];
    for (i, (form, want)) in cases.into_iter().enumerate() {
        let app = App::ready(&sandbox, &format!("1370000031{i}")).await;
        let a: Application = ok(app
            .write(Method::POST, "/v1/applications", Some(form.clone()))
            .await)
        .parse();
        assert_eq!(docs(&a.missing), want, "{form}");
        assert_eq!(a.missing.last().map(String::as_str), Some("agreement"));
        let licence_fields = a.missing.iter().any(|m| m.starts_with("licence."));
        assert_eq!(licence_fields, form["kind"] != "micro", "{form}");
        assert!(a.missing.contains(&"settlement.reserved_mobile".to_owned()));
    }
    // A city without districts in the tree needs none.
    let app = App::ready(&sandbox, "13700000319").await;
    let mut f = good_form();
    f["shop"]["province_code"] = json!("440000");
    f["shop"]["city_code"] = json!("441900");
    f["shop"]["district_code"] = Value::Null;
    let a: Application = ok(app.write(Method::POST, "/v1/applications", Some(f)).await).parse();
    assert!(
        !a.missing.contains(&"shop.district_code".to_owned()),
        "{:?}",
        a.missing
    );
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
    for kind in ["licence", "opening_permit"] {
        upload(&app, &format!("{base}/{kind}"), "image/png", TINY_PNG)
            .await
            .expect_error(400, "document.not_applicable");
    }
    for kind in ["shop_front", "shop_inside", "checkstand"] {
        ok(upload(&app, &format!("{base}/{kind}"), "image/png", TINY_PNG).await);
    }
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
    upload(
        &app,
        &format!("{base}/id_front"),
        "image/jpeg",
        &jpeg(8 * 1024 * 1024 + 1),
    )
    .await
    .expect_error(413, "request.body_too_large");
    ok(upload(&app, &format!("{base}/id_front"), "image/jpeg", &jpeg(100)).await);
    ok(upload(
        &app,
        &format!("{base}/id_front"),
        "image/jpeg",
        &jpeg(2 * 1024 * 1024),
    )
    .await);
    let a = read(&app, &created.application_id).await;
    assert_eq!(a.documents.len(), 4);
    let front = a
        .documents
        .iter()
        .find(|d| d.kind == DocumentKind::IdFront)
        .unwrap();
    assert_eq!(front.size, 2 * 1024 * 1024);
    let other = App::ready(&sandbox, "13700000402").await;
    upload(&other, &format!("{base}/id_front"), "image/png", TINY_PNG)
        .await
        .expect_error(404, "resource.not_found");
}

#[tokio::test]
async fn activation_codes_expire_burn_and_resend_by_the_rules() {
    let sandbox = quick().await;
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
    submit(&app, &id).await;
    assert_eq!(read(&app, &id).await.status, ApplicationStatus::Approved);
    let first = sandbox.latest_sms_code(phone, "activation").unwrap();
    let activate = |code: String| {
        let path = format!("/v1/applications/{id}/activate");
        let app = &app;
        async move {
            app.write(Method::POST, &path, Some(json!({"activation_code": code})))
                .await
        }
    };
    app.write(
        Method::POST,
        &format!("/v1/applications/{id}/activation-code"),
        Some(json!({})),
    )
    .await
    .expect_error(429, "activation.resend_too_soon");
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
    advance_clock(&app, 61).await;
    let sent = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/activation-code"),
            Some(json!({})),
        )
        .await)
    .json();
    assert_eq!(sent["expires_in"], 1800);
    let second = sandbox.latest_sms_code(phone, "activation").unwrap();
    assert_ne!(second, first, "a new code each time");
    advance_clock(&app, 1800).await;
    activate(second.clone())
        .await
        .expect_error(400, "activation.code_expired");
    ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/activation-code"),
            Some(json!({})),
        )
        .await);
    let third = sandbox.latest_sms_code(phone, "activation").unwrap();
    let p: MerchantProfile = ok(activate(third.clone()).await).parse();
    assert_eq!(p.status, "active");
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

/// An ID number of a 1990-born applicant whose check character is `X`.
fn id_ending_in_x() -> String {
    (100..1000)
        .map(|seq| id_number(&format!("11010519900101{seq:03}")))
        .find(|n| n.ends_with('X'))
        .expect("some sequence gives X")
}

#[tokio::test]
async fn a_lost_activation_code_is_sent_again_after_the_id_suffix_matches() {
    let sandbox = quick().await;
    let phone = "13700000611";
    let app = App::ready(&sandbox, phone).await;
    let id_no = id_ending_in_x();
    let mut form = good_form();
    form["legal_person"]["id_number"] = json!(id_no);
    let id = prepared(&app, form).await.application_id;
    let recover = |last6: String| {
        let path = format!("/v1/applications/{id}/activation-code/recover");
        let app = &app;
        async move {
            app.write(Method::POST, &path, Some(json!({"id_last6": last6})))
                .await
        }
    };
    // Not before approval.
    recover(id_no[12..].to_owned())
        .await
        .expect_error(409, "application.not_approved");
    submit(&app, &id).await;
    assert_eq!(read(&app, &id).await.status, ApplicationStatus::Approved);
    let first = sandbox.latest_sms_code(phone, "activation").unwrap();
    advance_clock(&app, 61).await;

    // Malformed: a field refusal, not counted as a mismatch.
    let e = recover("12345".into())
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].code, "activation.id_suffix_invalid");
    // A match (lower-case x accepted) sends a fresh code.
    let lower = id_no[12..].to_lowercase();
    assert!(lower.ends_with('x'));
    let sent = ok(recover(lower).await).json();
    assert_eq!(sent["sent"], true);
    let second = sandbox.latest_sms_code(phone, "activation").unwrap();
    assert_ne!(second, first);

    // Five mismatches lock recovery for 30 minutes on the business clock.
    advance_clock(&app, 61).await;
    for _ in 0..4 {
        recover("000000".into())
            .await
            .expect_error(400, "activation.identity_mismatch");
    }
    recover("000000".into())
        .await
        .expect_error(429, "activation.recover_locked");
    recover(id_no[12..].to_owned())
        .await
        .expect_error(429, "activation.recover_locked");
    let locked = read(&app, &id).await;
    let until =
        chrono::DateTime::parse_from_rfc3339(locked.recovery_locked_until.as_deref().unwrap())
            .unwrap()
            .timestamp();
    let now = sandbox_now(&app).await;
    assert!(
        (now + 1790..=now + 1800).contains(&until),
        "{until} vs {now}"
    );
    advance_clock(&app, 1801).await;
    assert_eq!(read(&app, &id).await.recovery_locked_until, None);
    ok(recover(id_no[12..].to_owned()).await);
    let third = sandbox.latest_sms_code(phone, "activation").unwrap();
    // The recovered code activates; the ID number was never kept.
    let p: MerchantProfile = ok(app
        .write(
            Method::POST,
            &format!("/v1/applications/{id}/activate"),
            Some(json!({"activation_code": third})),
        )
        .await)
    .parse();
    assert_eq!(p.status, "active");
    let text = serde_json::to_string(&read(&app, &id).await).unwrap();
    assert!(!text.contains(&id_no));
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
    b.get(&format!("/v1/applications/{id}/agreement"))
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
    b.write(
        Method::POST,
        &format!("/v1/applications/{id}/activation-code/recover"),
        Some(json!({"id_last6": "071230"})),
    )
    .await
    .expect_error(404, "resource.not_found");
    let still: Application = ok(a.get(&format!("/v1/applications/{id}")).await).parse();
    assert_eq!(still, mine);
}
