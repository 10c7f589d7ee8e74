//! Onboarding end to end: the sandbox in-process on 127.0.0.1:0, MerchantCore
//! driven as an app would: the form typed field by field (offline too),
//! lookups, photos prepared and uploaded with progress, the e-signed
//! agreement re-verified offline, review with a rejection fixed, activation.
//! One test kills a child process with SIGKILL mid-entry and finds every
//! acknowledged field after reopening.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{Device, bounded, sandbox_control, sign_in};
use merchant_core::media::sample::signature_png;
use merchant_core::onboarding::model::{
    ApplicationField as F, ApplicationStatus, PhotoKind, Severity, UploadListener, UploadState,
};
use merchant_core::session::PushProvider;
use merchant_core::store::{FileSecretStore, SecretStore};
use merchant_core::{CoreConfig, Lang, MerchantCore, MerchantError};
use merchant_sandbox::{RunningSandbox, SandboxConfig};

/// The sandbox with its review decided on the next read (no delay).
async fn sandbox() -> RunningSandbox {
    common::sandbox(SandboxConfig {
        review_delay_secs: 0,
        ..Default::default()
    })
    .await
}

/// A core on `data` and `keys` against any platform URL (a dead one, or
/// the parent's sandbox from a child process).
fn core_at(
    data: &std::path::Path,
    keys: &std::path::Path,
    url: &str,
    key: &str,
    app_id: &str,
) -> Arc<MerchantCore> {
    let secrets: Arc<dyn SecretStore> =
        FileSecretStore::new(keys.to_string_lossy().into_owned()).unwrap();
    let config = CoreConfig {
        data_dir: data.to_string_lossy().into_owned(),
        platform_url: url.to_owned(),
        platform_pin: None,
        platform_public_key: key.to_owned(),
        app_id: app_id.to_owned(),
        language: Lang::Zh,
        trusted_qr_hosts: Vec::new(),
    };
    MerchantCore::new(config, secrets).unwrap()
}

/// A sandbox-only GET.
async fn sandbox_get(sb: &RunningSandbox, path: &str) -> serde_json::Value {
    sandbox_control(sb, path, None).await
}

/// The latest activation code the sandbox texted to `phone`.
async fn activation_code(sb: &RunningSandbox, phone: &str) -> String {
    let sms = sandbox_get(
        sb,
        &format!("/sandbox/sms?phone={phone}&purpose=activation"),
    )
    .await;
    sms["code"].as_str().expect("the SMS has a code").to_owned()
}

// ---------------------------------------------------------------------------
// Test data

/// A Luhn-valid number from its digits before the check digit.
fn card(partial: &str) -> String {
    let check = merchant_core::validate::bank_card::luhn_check_digit(partial.as_bytes()).unwrap();
    format!("{partial}{}", char::from(check))
}

/// A valid ID number (born 1985-03-07) from its first 17 characters.
fn id_number() -> String {
    let first17 = "51010719850307123";
    let c = merchant_core::validate::id_card::check_char(first17.as_bytes()).unwrap();
    format!("{first17}{}", char::from(c))
}

/// A photo of a document: a JPEG of 800×600 with some texture.
fn jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(5),
            ((x + y) as u8).wrapping_add(seed),
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

async fn set(core: &MerchantCore, field: F, value: &str) {
    bounded(core.set_application_field(field, Some(value.to_owned())))
        .await
        .unwrap_or_else(|e| panic!("{field:?}: {e}"));
}

/// Fetches and caches the lookups a Chengdu restaurant's form needs.
async fn cache_lookups(core: &MerchantCore) {
    let provinces = bounded(core.lookup_regions(None)).await.unwrap();
    assert!(!provinces.from_cache);
    assert!(
        provinces.entries.iter().any(|e| e.code == "510000"),
        "四川省"
    );
    bounded(core.lookup_regions(Some("510000".into())))
        .await
        .unwrap();
    let districts = bounded(core.lookup_regions(Some("510100".into())))
        .await
        .unwrap();
    assert!(districts.entries.iter().any(|e| e.code == "510107"));
    let categories = bounded(core.lookup_mcc(None)).await.unwrap();
    for c in &categories.entries {
        bounded(core.lookup_mcc(Some(c.code.clone())))
            .await
            .unwrap();
    }
    let branches = bounded(core.lookup_bank_branches("102".into(), "510100".into()))
        .await
        .unwrap();
    assert!(branches.entries.iter().any(|e| e.code == "102651000017"));
}

const SHOP_REFUSED: &str = "测试拒绝小卖部";

async fn fill_micro(core: &MerchantCore, shop_name: &str) {
    set(core, F::Kind, "micro").await;
    set(core, F::LegalName, "王小明").await;
    set(core, F::IdNumber, &id_number()).await;
    set(core, F::IdValidFrom, "2015-03-07").await;
    set(core, F::IdValidUntil, "2035-03-07").await;
    set(core, F::ShopName, shop_name).await;
    set(core, F::ProvinceCode, "510000").await;
    set(core, F::CityCode, "510100").await;
    set(core, F::DistrictCode, "510107").await;
    set(core, F::Street, "人民南路四段 1 号").await;
    set(core, F::Mcc, "5812").await;
    set(core, F::Longitude, "104.0657").await;
    set(core, F::Latitude, "30.6598").await;
    set(core, F::AccountType, "personal").await;
    set(core, F::AccountNumber, &card("622202100000000001")).await;
    set(core, F::HolderName, "王小明").await;
    set(core, F::BranchCode, "102651000017").await;
    set(core, F::ReservedMobile, "13800000001").await;
}

/// Records what the upload listener was told.
#[derive(Default)]
struct Recorder {
    progress: Mutex<Vec<(PhotoKind, u64, u64)>>,
    done: Mutex<Vec<PhotoKind>>,
    failed: Mutex<Vec<(PhotoKind, String)>>,
}

impl UploadListener for Recorder {
    fn on_progress(&self, kind: PhotoKind, bytes_sent: u64, total: u64) {
        self.progress
            .lock()
            .unwrap()
            .push((kind, bytes_sent, total));
    }
    fn on_done(&self, kind: PhotoKind) {
        self.done.lock().unwrap().push(kind);
    }
    fn on_failed(&self, kind: PhotoKind, code: String) {
        self.failed.lock().unwrap().push((kind, code));
    }
}

async fn add_photos(core: &MerchantCore, kinds: &[PhotoKind]) {
    for (i, kind) in kinds.iter().enumerate() {
        let photo = bounded(core.add_application_photo(*kind, jpeg(i as u8)))
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(photo.state, UploadState::Queued);
        assert_eq!(photo.content_type, "image/jpeg");
        assert_eq!(photo.sha256.len(), 64);
    }
}

/// Uploads the queue with a listener and checks what it was told.
async fn upload_and_see_progress(core: &MerchantCore, kinds: &[PhotoKind]) {
    let recorder = Arc::new(Recorder::default());
    let photos = bounded(core.upload_application_photos(Some(recorder.clone())))
        .await
        .expect("uploaded");
    for kind in kinds {
        let p = photos.iter().find(|p| p.kind == *kind).expect("kept");
        assert_eq!(p.state, UploadState::Uploaded, "{kind:?}");
        assert!(
            recorder.done.lock().unwrap().contains(kind),
            "{kind:?} done"
        );
        let progress = recorder.progress.lock().unwrap();
        let mine: Vec<_> = progress.iter().filter(|(k, ..)| k == kind).collect();
        assert_eq!(mine.first().map(|(_, s, t)| (*s, *t)), Some((0, p.size)));
        assert_eq!(
            mine.last().map(|(_, s, t)| (*s, *t)),
            Some((p.size, p.size))
        );
        assert!(
            mine.windows(2).all(|w| w[0].1 <= w[1].1),
            "progress only grows"
        );
    }
    assert!(recorder.failed.lock().unwrap().is_empty());
    // Hash-addressed: a second run sends nothing (no progress), all done.
    let again = Arc::new(Recorder::default());
    bounded(core.upload_application_photos(Some(again.clone())))
        .await
        .unwrap();
    assert!(again.progress.lock().unwrap().is_empty());
}

/// Reviews are decided on the platform's next read: poll until decided.
async fn reviewed(core: &MerchantCore) -> ApplicationStatus {
    bounded(async {
        loop {
            let s = core.refresh_application_status().await.expect("refreshed");
            if !matches!(
                s,
                ApplicationStatus::Submitted | ApplicationStatus::UnderReview
            ) {
                return s;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}

const MICRO_PHOTOS: [PhotoKind; 6] = [
    PhotoKind::IdFront,
    PhotoKind::IdBack,
    PhotoKind::BankCard,
    PhotoKind::ShopFront,
    PhotoKind::ShopInside,
    PhotoKind::Checkstand,
];

// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_micro_merchant_is_rejected_once_fixes_it_and_is_activated() {
    let sb = sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let phone = "13800000001";
    sign_in(&core, &sb, phone).await;
    cache_lookups(&core).await;
    fill_micro(&core, SHOP_REFUSED).await;

    // Only the photos and the agreement are missing.
    let problems = bounded(core.validate_application()).await.unwrap();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(
        problems.iter().all(|p| p.code == "application.missing"),
        "{problems:?}"
    );
    assert!(
        fields.contains(&"id_front") && fields.contains(&"agreement"),
        "{fields:?}"
    );
    assert!(!fields.contains(&"licence") && !fields.contains(&"opening_permit"));

    // Submitting now is refused on the device with every error.
    let e = bounded(core.submit_application()).await.unwrap_err();
    assert_eq!(e.code(), "onboarding.invalid");
    assert!(e.problems().len() >= 7, "{:?}", e.problems());

    add_photos(&core, &MICRO_PHOTOS).await;
    upload_and_see_progress(&core, &MICRO_PHOTOS).await;

    let agreement = bounded(core.fetch_agreement()).await.unwrap();
    assert!(
        agreement.text.contains("微信支付"),
        "the merchant's own fee clauses"
    );
    let record = bounded(core.sign_agreement(signature_png()))
        .await
        .expect("signed");
    assert_eq!(record.text_sha256, agreement.text_sha256);
    let draft = bounded(core.application_draft()).await.unwrap();
    assert!(draft.agreement_signed);
    assert!(
        draft.photos_missing.is_empty(),
        "{:?}",
        draft.photos_missing
    );
    assert!(draft.synced);
    assert!(
        bounded(core.validate_application())
            .await
            .unwrap()
            .is_empty()
    );

    let status = bounded(core.submit_application()).await.expect("submitted");
    assert!(matches!(
        status,
        ApplicationStatus::UnderReview | ApplicationStatus::Submitted
    ));
    // Under review the form is locked.
    let locked = bounded(core.set_application_field(F::Street, Some("x".into())))
        .await
        .unwrap_err();
    assert_eq!(locked.code(), "application.locked");

    // Rejected: the reason points at the shop name.
    assert_eq!(reviewed(&core).await, ApplicationStatus::Rejected);
    let draft = bounded(core.application_draft()).await.unwrap();
    assert_eq!(draft.status, ApplicationStatus::Rejected);
    let reason = draft.rejections.first().expect("a reason");
    assert_eq!(reason.code, "review.shop_name_refused");
    assert_eq!(reason.form_field, Some(F::ShopName));
    assert!(!reason.message.is_empty() && !reason.message_en.is_empty());

    // The fix: an edit takes it back to Draft; the resubmission is approved.
    set(&core, F::ShopName, "老王面馆").await;
    let draft = bounded(core.application_draft()).await.unwrap();
    assert_eq!(draft.status, ApplicationStatus::Draft);
    assert!(draft.rejections.is_empty());
    assert!(!draft.synced, "the fix is not on the platform yet");
    bounded(core.submit_application())
        .await
        .expect("resubmitted");
    assert_eq!(reviewed(&core).await, ApplicationStatus::ActivationCodeSent);
    assert_eq!(bounded(core.merchant_profile()).await.unwrap(), None);

    // A wrong code, then the texted one.
    let wrong = bounded(core.activate_merchant("00000000".into()))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), "activation.code_wrong");
    let code = activation_code(&sb, phone).await;
    let profile = bounded(core.activate_merchant(code))
        .await
        .expect("activated");
    let no = profile.merchant_no.clone().expect("a merchant number");
    assert_eq!(no.len(), 15);
    assert!(!profile.rates.is_empty());
    let kept = bounded(core.merchant_profile())
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(kept, profile);
    assert_eq!(
        bounded(core.application_draft()).await.unwrap().status,
        ApplicationStatus::Activated
    );
    // Kept across a restart.
    drop(core);
    let again = dev.core(&sb);
    assert_eq!(
        bounded(again.merchant_profile())
            .await
            .unwrap()
            .and_then(|p| p.merchant_no),
        Some(no)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn an_enterprise_settles_to_a_corporate_account() {
    let sb = sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    sign_in(&core, &sb, "13800000003").await;
    // Unknown kinds and account types are refused as typed.
    for (field, value) in [
        (F::Kind, "corporation"),
        (F::AccountType, "savings"),
        (F::IdLongTerm, "yes"),
    ] {
        let e = bounded(core.set_application_field(field, Some(value.into())))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "field.invalid", "{field:?}");
    }
    cache_lookups(&core).await;
    fill_micro(&core, "蜀味餐饮").await;
    let company = "成都蜀味餐饮管理有限公司";
    set(&core, F::Kind, "enterprise").await;
    // A code whose organisation-code check fails is valid with a warning.
    let mut first17 = b"9151010771526726Y".to_vec();
    let check = merchant_core::validate::credit_code::check_char(&first17).unwrap();
    first17.push(check);
    set(&core, F::CreditCode, std::str::from_utf8(&first17).unwrap()).await;
    set(&core, F::RegisteredName, company).await;
    set(&core, F::LicenceValidFrom, "2019-01-01").await;
    set(&core, F::LicenceLongTerm, "true").await;
    set(&core, F::AccountType, "corporate").await;
    set(&core, F::AccountNumber, "4402 2010 0900 1234 567").await;
    set(&core, F::HolderName, "王小明").await;

    let problems = bounded(core.validate_application()).await.unwrap();
    let has = |field: F, code: &str| {
        problems
            .iter()
            .any(|p| p.form_field == Some(field) && p.code == code)
    };
    assert!(
        has(F::HolderName, "review.holder_not_registered_name"),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.code == "credit_code.organisation_code" && p.severity == Severity::Warning)
    );
    let photos_needed: Vec<&str> = problems
        .iter()
        .filter(|p| p.code == "application.missing")
        .map(|p| p.field.as_str())
        .collect();
    assert!(photos_needed.contains(&"licence") && photos_needed.contains(&"opening_permit"));
    assert!(!photos_needed.contains(&"bank_card"), "{photos_needed:?}");
    set(&core, F::HolderName, company).await;

    let kinds = [
        PhotoKind::IdFront,
        PhotoKind::IdBack,
        PhotoKind::Licence,
        PhotoKind::OpeningPermit,
        PhotoKind::ShopFront,
        PhotoKind::ShopInside,
        PhotoKind::Checkstand,
    ];
    add_photos(&core, &kinds).await;
    upload_and_see_progress(&core, &kinds).await;
    bounded(core.sign_agreement(signature_png()))
        .await
        .expect("signed");
    let problems = bounded(core.validate_application()).await.unwrap();
    assert!(
        problems.iter().all(|p| p.severity == Severity::Warning),
        "{problems:?}"
    );
    bounded(core.submit_application()).await.expect("submitted");
    assert_eq!(reviewed(&core).await, ApplicationStatus::ActivationCodeSent);
    let code = activation_code(&sb, "13800000003").await;
    let profile = bounded(core.activate_merchant(code))
        .await
        .expect("activated");
    assert!(profile.merchant_no.is_some());
    sb.shutdown().await;
}

#[tokio::test]
async fn a_double_tap_submits_once_and_the_agreement_record_is_verified_offline() {
    let sb = sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let phone = "13800000004";
    sign_in(&core, &sb, phone).await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm-token-onboarding".into()))
        .await
        .unwrap();
    cache_lookups(&core).await;
    fill_micro(&core, "老王面馆").await;
    add_photos(&core, &MICRO_PHOTOS).await;
    bounded(core.sign_agreement(signature_png()))
        .await
        .expect("signed");

    // The record kept verifies offline against both keys...
    let kept = bounded(core.agreement_record())
        .await
        .unwrap()
        .expect("kept");
    let info = bounded(core.verify_agreement_record(None))
        .await
        .expect("verifies");
    assert_eq!(info.device_serial, bounded(core.device_id()).await.unwrap());
    let refetched = bounded(core.refetch_agreement_record())
        .await
        .expect("refetched");
    assert_eq!(refetched, info);
    // ...and any changed byte is refused with its own code.
    let record: serde_json::Value = serde_json::from_str(&kept).unwrap();
    let tampered = |field: &str, value: serde_json::Value| {
        let mut r = record.clone();
        r[field] = value;
        Some(r.to_string())
    };
    let cases = [
        (
            tampered("signed_at", (info.signed_at + 1).into()),
            "agreement_record.device_signature_invalid",
        ),
        (
            tampered("platform_signed_at", 1.into()),
            "agreement_record.platform_signature_invalid",
        ),
        (
            tampered("signature_id", "sig_other".into()),
            "agreement_record.platform_signature_invalid",
        ),
        (
            tampered("platform_key_serial", "0".repeat(32).into()),
            "agreement_record.platform_key_mismatch",
        ),
        (
            tampered("device_serial", "0".repeat(32).into()),
            "agreement_record.device_serial_mismatch",
        ),
        (
            Some(kept.replacen('{', "[", 1)),
            "agreement_record.malformed",
        ),
    ];
    for (json, code) in cases {
        let e = bounded(core.verify_agreement_record(json))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code);
        assert!(matches!(e, MerchantError::Integrity { .. }), "{e:?}");
    }

    // A double tap: both taps answer, one submission.
    let (a, b) = tokio::join!(core.submit_application(), core.submit_application());
    let (a, b) = (a.expect("first tap"), b.expect("second tap"));
    assert!(matches!(
        a,
        ApplicationStatus::UnderReview | ApplicationStatus::Submitted
    ));
    assert_eq!(a, b);
    assert_eq!(reviewed(&core).await, ApplicationStatus::ActivationCodeSent);
    let merchant_id = bounded(core.session()).await.unwrap().unwrap().merchant_id;
    let reviews = pushed_of(&sb, &merchant_id, "application.reviewed")
        .await
        .len();
    assert_eq!(reviews, 1, "one submission, one review");

    // The code is lost: asked again after the last 6 characters of the ID.
    let id = id_number();
    let malformed = bounded(core.recover_activation_code("12345".into()))
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), "activation.id_suffix_invalid");
    assert!(matches!(malformed, MerchantError::Input { .. }));
    let wrong_last = if id.ends_with('1') { "2" } else { "1" };
    let wrong = format!("{}{wrong_last}", &id[12..17]);
    let e = bounded(core.recover_activation_code(wrong))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "activation.identity_mismatch");
    let first = activation_code(&sb, phone).await;
    sb.state().clock().advance(61);
    let sent = bounded(core.recover_activation_code(id[12..].to_owned()))
        .await
        .expect("sent again");
    assert!(sent.expires_in.is_some_and(|s| s > 0));
    let second = activation_code(&sb, phone).await;
    assert_ne!(first, second, "a new code");
    let profile = bounded(core.activate_merchant(second))
        .await
        .expect("activated");
    assert!(profile.merchant_no.is_some());
    sb.shutdown().await;
}

#[tokio::test]
async fn the_form_is_typed_and_validated_with_the_platform_down() {
    let sb = sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    sign_in(&core, &sb, "13800000005").await;
    cache_lookups(&core).await;
    let url = sb.base_url.clone();
    let key = sb.platform_public_key.clone();
    let app_id = sb.app_id.clone();
    sb.shutdown().await;
    drop(core);

    let core = core_at(&dev.data, &dev.keys, &url, &key, &app_id);
    fill_micro(&core, "老王面馆").await;
    set(&core, F::DistrictCode, "510199").await;
    add_photos(&core, &[PhotoKind::IdFront]).await;
    // Bad photos are refused on the phone, before any network call.
    let small = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image::RgbImage::new(300, 200))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    let mut cut = jpeg(7);
    cut.truncate(cut.len() / 2);
    for (bytes, code) in [
        (b"GIF89a not a photo".to_vec(), "photo.not_image"),
        (small, "photo.too_small"),
        (cut, "photo.corrupt"),
    ] {
        let e = bounded(core.add_application_photo(PhotoKind::IdBack, bytes))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code);
    }
    let e = bounded(core.add_application_photo(PhotoKind::Signature, jpeg(8)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "photo.signature_not_png");
    let problems = bounded(core.validate_application()).await.unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.form_field == Some(F::DistrictCode) && p.code == "region.unknown"),
        "the cached tree knows the district list: {problems:?}"
    );
    // Lookups come from the cache, marked so.
    let cached = bounded(core.lookup_regions(Some("510100".into())))
        .await
        .unwrap();
    assert!(cached.from_cache);
    assert!(cached.entries.iter().any(|e| e.code == "510107"));
    // A list never fetched is a network error, not an empty list.
    let e = bounded(core.lookup_regions(Some("440300".into())))
        .await
        .unwrap_err();
    assert!(matches!(e, MerchantError::Network { .. }), "{e:?}");
    // The sync fails and says why; the draft is intact.
    let report = bounded(core.sync_application()).await.unwrap();
    assert!(!report.synced);
    assert!(
        report
            .error
            .as_deref()
            .is_some_and(|c| c.starts_with("platform.")),
        "{report:?}"
    );
    let draft = bounded(core.application_draft()).await.unwrap();
    assert_eq!(draft.sync_error, report.error);
    assert_eq!(draft.legal_name.as_deref(), Some("王小明"));
    assert_eq!(draft.id_number, Some(id_number()));
    assert_eq!(draft.district_code.as_deref(), Some("510199"));
    assert_eq!(draft.photos.len(), 1);

    // Offline with nothing cached: tree codes are warnings, never blockers.
    let fresh = Device::new();
    let sb2 = sandbox().await;
    let c2 = fresh.core(&sb2);
    sign_in(&c2, &sb2, "13800000006").await;
    fill_micro(&c2, "老王面馆").await;
    let problems = bounded(c2.validate_application()).await.unwrap();
    let unchecked: Vec<_> = problems
        .iter()
        .filter(|p| p.code == "onboarding.lookup_unchecked")
        .map(|p| p.form_field)
        .collect();
    assert_eq!(unchecked.len(), 5, "{problems:?}");
    assert!(
        problems
            .iter()
            .filter(|p| p.code == "onboarding.lookup_unchecked")
            .all(|p| p.severity == Severity::Warning)
    );
    sb2.shutdown().await;
}

// ---------------------------------------------------------------------------
// SIGKILL mid-entry

const CHILD_DIR: &str = "ONBOARDING_SIGKILL_CHILD_DIR";
const CHILD_URL: &str = "ONBOARDING_SIGKILL_CHILD_URL";
const CHILD_KEY: &str = "ONBOARDING_SIGKILL_CHILD_KEY";
const CHILD_APP: &str = "ONBOARDING_SIGKILL_CHILD_APP";

/// The fields the child cycles through, personal ones among them.
const CYCLE: [F; 6] = [
    F::LegalName,
    F::ShopName,
    F::IdNumber,
    F::Street,
    F::AccountNumber,
    F::ReservedMobile,
];

fn value_of(i: usize) -> String {
    format!("值{i}")
}

/// The child's half of `a_kill_mid_entry_loses_no_acknowledged_field`: run
/// by the test binary itself in a child process (the variables say where);
/// edits field after field and prints `ack N` after each acknowledged edit,
/// until it is killed. Run without them, as part of the suite, it checks
/// that it was not asked to do anything.
#[tokio::test]
async fn sigkill_child_editing_loop() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        assert!(std::env::var(CHILD_URL).is_err());
        return;
    };
    let dir = PathBuf::from(dir);
    let core = core_at(
        &dir.join("data"),
        &dir.join("keys"),
        &std::env::var(CHILD_URL).unwrap(),
        &std::env::var(CHILD_KEY).unwrap(),
        &std::env::var(CHILD_APP).unwrap(),
    );
    use std::io::Write;
    for i in 0.. {
        let field = CYCLE[i % CYCLE.len()];
        core.set_application_field(field, Some(value_of(i)))
            .await
            .expect("saved");
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test]
async fn a_kill_mid_entry_loses_no_acknowledged_field() {
    let sb = sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    sign_in(&core, &sb, "13800000007").await;
    drop(core);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child_editing_loop",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dev._tmp.path())
        .env(CHILD_URL, &sb.base_url)
        .env(CHILD_KEY, &sb.platform_public_key)
        .env(CHILD_APP, &sb.app_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().unwrap();
    const KILL_AFTER: usize = 40;
    let acked = tokio::task::spawn_blocking(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("a line");
            if let Some(n) = line.strip_prefix("ack ") {
                let n: usize = n.parse().unwrap();
                last = Some(n);
                if n + 1 >= KILL_AFTER {
                    // SIGKILL: no destructor, no flush, no goodbye.
                    child.kill().expect("killed");
                    break;
                }
            }
        }
        child.wait().expect("reaped");
        last.expect("edits were acknowledged")
    });
    let last = bounded(acked).await.unwrap();
    assert!(last + 1 >= KILL_AFTER);

    // Reopen on the same data: every field holds its last acknowledged
    // value or a later one.
    let core = dev.core(&sb);
    let draft = bounded(core.application_draft()).await.expect("reopened");
    for (k, field) in CYCLE.iter().enumerate() {
        let last_ack = (0..=last).rev().find(|i| i % CYCLE.len() == k).unwrap();
        let value = match field {
            F::LegalName => draft.legal_name.clone(),
            F::ShopName => draft.shop_name.clone(),
            F::IdNumber => draft.id_number.clone(),
            F::Street => draft.street.clone(),
            F::AccountNumber => draft.account_number.clone(),
            F::ReservedMobile => draft.reserved_mobile.clone(),
            _ => unreachable!(),
        }
        .unwrap_or_else(|| panic!("{field:?} lost"));
        let n: usize = value.trim_start_matches('值').parse().unwrap();
        assert!(
            n >= last_ack && n % CYCLE.len() == k,
            "{field:?}: {n} < {last_ack}"
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn failed_uploads_are_retried_and_resume_after_a_restart() {
    let sb = sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    sign_in(&core, &sb, "13800000008").await;
    fill_micro(&core, "老王面馆").await;
    bounded(core.sync_application()).await.unwrap();
    drop(core);

    // The app runs where the platform cannot be reached: every try fails,
    // is reported, and the photos stay queued on disk.
    let offline = core_at(
        &dev.data,
        &dev.keys,
        "http://127.0.0.1:9",
        &sb.platform_public_key,
        &sb.app_id,
    );
    add_photos(&offline, &[PhotoKind::IdFront, PhotoKind::IdBack]).await;
    let recorder = Arc::new(Recorder::default());
    let photos = bounded(offline.upload_application_photos(Some(recorder.clone())))
        .await
        .expect("a report, not an error");
    assert!(photos.iter().all(|p| p.state == UploadState::Queued));
    let failed = recorder.failed.lock().unwrap().clone();
    assert!(!failed.is_empty(), "failures are reported");
    assert!(
        failed.iter().all(|(_, code)| code.starts_with("platform.")),
        "{failed:?}"
    );
    let photos = bounded(offline.application_draft()).await.unwrap().photos;
    // Tried three times each (full-jitter backoff between the tries).
    assert!(
        photos
            .iter()
            .all(|p| p.attempts == 3 && p.last_error.is_some()),
        "{photos:?}"
    );
    assert_eq!(failed.len(), 6, "{failed:?}");
    drop(offline);

    // Restarted with the network back: the queue carries on.
    let core = dev.core(&sb);
    let recorder = Arc::new(Recorder::default());
    let photos = bounded(core.upload_application_photos(Some(recorder.clone())))
        .await
        .unwrap();
    assert!(
        photos.iter().all(|p| p.state == UploadState::Uploaded),
        "{photos:?}"
    );
    assert_eq!(recorder.done.lock().unwrap().len(), 2);
    sb.shutdown().await;
}

/// The events of `event_type` the sandbox pushed to `merchant_id`.
async fn pushed_of(
    sb: &RunningSandbox,
    merchant_id: &str,
    event_type: &str,
) -> Vec<merchant_contract::wire::sandbox::OutboxItem> {
    common::outbox(sb, merchant_id)
        .await
        .into_iter()
        .filter(|i| i.event_type == event_type)
        .collect()
}

#[tokio::test]
async fn the_review_and_the_activation_arrive_as_events_through_the_one_event_path() {
    // The review waits 30 s of the platform's clock: only its event tells.
    let sb = common::sandbox(SandboxConfig::default()).await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let phone = "13900139005";
    let me = sign_in(&core, &sb, phone).await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm-onboarding".to_owned()))
        .await
        .unwrap();
    cache_lookups(&core).await;
    fill_micro(&core, "老王面馆").await;
    add_photos(&core, &MICRO_PHOTOS).await;
    bounded(core.upload_application_photos(None)).await.unwrap();
    bounded(core.fetch_agreement()).await.unwrap();
    bounded(core.sign_agreement(signature_png())).await.unwrap();
    let status = bounded(core.submit_application()).await.unwrap();
    assert!(matches!(
        status,
        ApplicationStatus::UnderReview | ApplicationStatus::Submitted
    ));

    // The platform's clock passes the review's delay; its reviewer decides
    // and pushes `application.reviewed` without anyone asking.
    common::advance(&sb, 31);
    let reviewed = bounded(async {
        loop {
            let items = pushed_of(&sb, &me.merchant_id, "application.reviewed").await;
            if let Some(item) = items.into_iter().next() {
                return item;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    let event = core.verify_push(reviewed.payload.clone()).unwrap();
    bounded(core.apply_event(event)).await.expect("applied");
    let draft = bounded(core.application_draft()).await.unwrap();
    assert_eq!(
        draft.status,
        ApplicationStatus::ActivationCodeSent,
        "moved by the event alone"
    );

    let code = activation_code(&sb, phone).await;
    let profile = bounded(core.activate_merchant(code)).await.unwrap();
    let activated = pushed_of(&sb, &me.merchant_id, "merchant.activated").await;
    assert_eq!(activated.len(), 1);
    // The same news again, by push after the answer: nothing moves back.
    let event = core.verify_push(activated[0].payload.clone()).unwrap();
    bounded(core.apply_event(event)).await.unwrap();
    let draft = bounded(core.application_draft()).await.unwrap();
    assert_eq!(draft.status, ApplicationStatus::Activated);
    assert_eq!(
        bounded(core.merchant_profile())
            .await
            .unwrap()
            .unwrap()
            .merchant_no,
        profile.merchant_no
    );
    sb.shutdown().await;
}
