//! onboarding: the merchant's application (入网/进件), edited field by
//! field on the device, every change sealed at once; validated with every
//! problem at once; synced to the platform when the network allows; its
//! photos prepared on the phone and uploaded from a queue on disk; the
//! e-signed agreement; the status machine through review; activation.
//!
//! - [`model`]: the records apps see; [`store`]: tables and queries;
//!   [`api`]: the platform calls.
//! - [`validate`]: field and cross-field rules; [`lookups`]: the platform's
//!   trees cached for offline form filling; [`sync`]: the draft on the
//!   platform, submission, and applying what the platform says;
//!   [`status`]: the one transition function; [`uploads`]: photos;
//!   [`agreement`]: the e-signature; [`activation`]: the code and the
//!   merchant's profile.
//!
//! Codes: a rule the platform also checks gives the platform's own code
//! (`field.required`, `region.unknown`, `review.holder_not_legal_person`
//! ...), so the app branches on one code whichever side found it; the codes
//! below are the core's own.

pub mod activation;
pub mod agreement;
pub mod api;
pub mod lookups;
pub mod model;
pub mod status;
pub mod store;
pub mod sync;
pub mod uploads;
pub mod validate;

use std::sync::Arc;

use crate::MerchantCore;
use crate::error::{Code, Error, MerchantError, Problem, Result};
use crate::session::SessionState;
use crate::store::MerchantStore;
use model::{
    AccountType, ActivationCodeSent, AgreementRecordInfo, AgreementText, ApplicationDraft,
    ApplicationField as F, ApplicationPhoto, ApplicationProblem, ApplicationStatus, Lookup,
    MerchantKind, MerchantProfile, PhotoKind, SyncReport, UploadListener,
};

crate::codes! {
    ONBOARDING_INVALID = Input, "onboarding.invalid", "申请资料有误，请按提示修改后再提交", "The application has problems; fix them and submit again";
    ONBOARDING_ID_EXPIRING = Input, "onboarding.id_expiring", "身份证将在 30 天内到期，请及时更换并更新资料", "The ID card expires within 30 days; renew it and update the application";
    ONBOARDING_LICENCE_EXPIRING = Input, "onboarding.licence_expiring", "营业执照将在 30 天内到期，请及时更新", "The business licence expires within 30 days; renew it in time";
    ONBOARDING_LOOKUP_UNCHECKED = Input, "onboarding.lookup_unchecked", "暂未联网核对此代码，联网后会再核对", "Not checked against the platform's list yet (offline); it is checked once online";
    ONBOARDING_LICENCE_KIND_MISMATCH = Input, "onboarding.licence_kind_mismatch", "统一社会信用代码的主体类型与所选商户类型不一致，请核对", "The credit code's kind of entity differs from the merchant kind chosen; check it";
    ONBOARDING_NOT_STARTED = NotFound, "onboarding.not_started", "申请尚未提交到平台，请联网后重试", "The application has not reached the platform yet; go online and retry";
    ONBOARDING_PHOTOS_PENDING = Network, "onboarding.photos_pending", "仍有照片未上传成功，请联网后重试", "Some photos are not uploaded yet; go online and retry";
    ONBOARDING_AGREEMENT_TEXT_MISMATCH = Integrity, "onboarding.agreement_text_mismatch", "协议内容与其摘要不符，已拒绝", "The agreement text does not match its digest; refused";
    AGREEMENT_RECORD_MISSING = NotFound, "agreement_record.missing", "尚无已签署的协议记录", "No signed agreement record is kept";
    AGREEMENT_RECORD_MALFORMED = Integrity, "agreement_record.malformed", "协议签署记录格式无法识别", "The agreement record could not be read";
    AGREEMENT_RECORD_NOT_OURS = Integrity, "agreement_record.not_ours", "协议签署记录与本机签署的内容不符", "The agreement record is not what this device signed";
    AGREEMENT_RECORD_DEVICE_KEY = Integrity, "agreement_record.device_key_malformed", "协议签署记录中的设备公钥无效", "The agreement record's device key is malformed";
    AGREEMENT_RECORD_DEVICE_SERIAL = Integrity, "agreement_record.device_serial_mismatch", "协议签署记录中的设备公钥与设备编号不符", "The agreement record's device key is not its device serial's";
    AGREEMENT_RECORD_DEVICE_SIGNATURE = Integrity, "agreement_record.device_signature_invalid", "协议签署记录的设备签名无效：记录已被改动", "The agreement record's device signature does not verify: the record was altered";
    AGREEMENT_RECORD_PLATFORM_KEY = Integrity, "agreement_record.platform_key_mismatch", "协议签署记录不是由本平台密钥签署的", "The agreement record was not countersigned with the platform's key";
    AGREEMENT_RECORD_PLATFORM_SIGNATURE = Integrity, "agreement_record.platform_signature_invalid", "协议签署记录的平台签名无效：记录已被改动", "The agreement record's platform signature does not verify: the record was altered";
}

/// The catalogue entry of a contract code (the catalogue lists them all).
pub(crate) fn platform_code(c: &merchant_contract::PlatformCode) -> Code {
    crate::error::find(c.code).unwrap_or(crate::error::INTERNAL)
}

/// The longest value a field takes.
const MAX_VALUE_CHARS: usize = 200;

fn field_error(code: &merchant_contract::PlatformCode, field: F) -> Error {
    let c = platform_code(code);
    Error::input(&c, vec![Problem::new(&c, field.key())])
}

/// Checks a value's shape for its field: the kind, the account type and
/// the flags take their fixed words; every value is bounded.
fn checked_value(field: F, value: Option<String>) -> Result<Option<String>> {
    let Some(v) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > MAX_VALUE_CHARS {
        return Err(field_error(
            &merchant_contract::domain::FIELD_TOO_LONG,
            field,
        ));
    }
    let fits = match field {
        F::Kind => MerchantKind::parse(&v).is_some(),
        F::AccountType => AccountType::parse(&v).is_some(),
        F::IdLongTerm | F::LicenceLongTerm => v == "true" || v == "false",
        _ => !v.chars().any(char::is_control),
    };
    if fits {
        Ok(Some(v))
    } else {
        Err(field_error(
            &merchant_contract::domain::FIELD_INVALID,
            field,
        ))
    }
}

/// Every problem of the application as kept on the device.
pub(crate) fn problems(merchant: &MerchantStore) -> Result<Vec<ApplicationProblem>> {
    let fields = store::fields(merchant)?;
    let photos: Vec<PhotoKind> = sync::applicable(
        &store::photos(merchant)?
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        &fields,
    )
    .into_iter()
    .map(|p| p.kind)
    .collect();
    let trees = lookups::trees(merchant)?;
    Ok(validate::validate(&validate::Input {
        fields: &fields,
        photos: &photos,
        agreement_signed: agreement::is_signed(merchant)?,
        trees: &trees,
        today: validate::china_today(),
    }))
}

/// The draft as the app shows it.
pub(crate) fn draft(merchant: &MerchantStore) -> Result<ApplicationDraft> {
    let fields = store::fields(merchant)?;
    let state = store::state(merchant)?;
    let get = |f: F| fields.get(&f).cloned();
    let flag = |f: F| fields.get(&f).is_some_and(|v| v == "true");
    let (kind, account) = store::kind_and_account(&fields);
    let photos: Vec<ApplicationPhoto> = store::photos(merchant)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let present: Vec<PhotoKind> = sync::applicable(&photos, &fields)
        .into_iter()
        .map(|p| p.kind)
        .collect();
    let photos_missing = PhotoKind::needed(kind, account)
        .into_iter()
        .filter(|k| !present.contains(k))
        .collect();
    Ok(ApplicationDraft {
        kind,
        legal_name: get(F::LegalName),
        id_number: get(F::IdNumber),
        id_valid_from: get(F::IdValidFrom),
        id_valid_until: get(F::IdValidUntil),
        id_long_term: flag(F::IdLongTerm),
        credit_code: get(F::CreditCode),
        registered_name: get(F::RegisteredName),
        licence_valid_from: get(F::LicenceValidFrom),
        licence_valid_until: get(F::LicenceValidUntil),
        licence_long_term: flag(F::LicenceLongTerm),
        shop_name: get(F::ShopName),
        province_code: get(F::ProvinceCode),
        city_code: get(F::CityCode),
        district_code: get(F::DistrictCode),
        street: get(F::Street),
        mcc: get(F::Mcc),
        longitude: get(F::Longitude),
        latitude: get(F::Latitude),
        account_type: account,
        account_number: get(F::AccountNumber),
        holder_name: get(F::HolderName),
        branch_code: get(F::BranchCode),
        reserved_mobile: get(F::ReservedMobile),
        status: state.status,
        application_id: state.application_id.clone(),
        rejections: state.rejections.clone(),
        synced: sync::is_synced(merchant, &state)?,
        sync_error: state.sync_error.clone(),
        photos,
        photos_missing,
        agreement_signed: agreement::is_signed(merchant)?,
    })
}

/// Routes a verified platform event about onboarding
/// (`application.reviewed`: the application; `merchant.activated`: the
/// profile) to the same transition function polling feeds. Other types are
/// ignored. (core.rs routes the live stream's events here once it lands.)
#[allow(dead_code)]
pub(crate) async fn apply_application_event(
    session: &SessionState,
    event_type: &str,
    data: &[u8],
) -> Result<()> {
    use merchant_contract::domain as wire;
    use merchant_contract::wire::event_types;
    let merchant = session.merchant_store().await?;
    match event_type {
        event_types::APPLICATION_REVIEWED => {
            let app: wire::Application =
                crate::platform::client::decode(data, &crate::platform::PUSH_MALFORMED)?;
            sync::apply_application(&merchant, &app)?;
        }
        event_types::MERCHANT_ACTIVATED => {
            let profile: wire::MerchantProfile =
                crate::platform::client::decode(data, &crate::platform::PUSH_MALFORMED)?;
            sync::apply_profile(&merchant, &profile)?;
        }
        _ => {}
    }
    Ok(())
}

#[uniffi::export]
impl MerchantCore {
    /// The application as kept on this device: every field as typed (in
    /// full: they are the merchant's own, on their own device), its status,
    /// photos and what is missing.
    pub async fn application_draft(&self) -> Result<ApplicationDraft, MerchantError> {
        let s = self.session_state();
        self.run(async move { draft(&*s.merchant_store().await?) })
            .await
    }

    /// Saves one field at once (sealed when it is personal data), or clears
    /// it with `None`. Works offline. Refused with `application.locked`
    /// while the application is under review or later; a rejected
    /// application goes back to Draft.
    pub async fn set_application_field(
        &self,
        field: F,
        value: Option<String>,
    ) -> Result<(), MerchantError> {
        let s = self.session_state();
        self.run(async move {
            let value = checked_value(field, value)?;
            store::set_field(&*s.merchant_store().await?, field, value.as_deref())
        })
        .await
    }

    /// Every problem of the application at once, errors and warnings (a
    /// warning never blocks submission). Needs no network: the platform's
    /// trees are read from the cached lookups.
    pub async fn validate_application(&self) -> Result<Vec<ApplicationProblem>, MerchantError> {
        let s = self.session_state();
        self.run(async move { problems(&*s.merchant_store().await?) })
            .await
    }

    /// Sends the draft to the platform if it changed. A failure (offline,
    /// a refusal) is reported, never thrown, and the local draft stays intact.
    pub async fn sync_application(&self) -> Result<SyncReport, MerchantError> {
        let s = self.session_state();
        self.run(async move { sync::sync(&s).await }).await
    }

    /// The provinces (`parent` `None`), a province's cities or a city's
    /// districts; from the device's cache when offline.
    pub async fn lookup_regions(&self, parent: Option<String>) -> Result<Lookup, MerchantError> {
        let s = self.session_state();
        self.run(async move { lookups::regions(&s, parent).await })
            .await
    }

    /// The MCC categories (`parent` `None`) or the four-digit MCCs of one.
    pub async fn lookup_mcc(&self, parent: Option<String>) -> Result<Lookup, MerchantError> {
        let s = self.session_state();
        self.run(async move { lookups::mcc(&s, parent).await })
            .await
    }

    /// The branches (联行号) of a bank (3-digit code) in a region.
    pub async fn lookup_bank_branches(
        &self,
        bank: String,
        region: String,
    ) -> Result<Lookup, MerchantError> {
        let s = self.session_state();
        self.run(async move { lookups::branches(&s, bank, region).await })
            .await
    }

    /// Prepares a photo on the phone (refused before any upload with the
    /// `photo.*` codes), keeps it sealed and queues it for upload. A
    /// signature must be a PNG.
    pub async fn add_application_photo(
        &self,
        kind: PhotoKind,
        bytes: Vec<u8>,
    ) -> Result<ApplicationPhoto, MerchantError> {
        let s = self.session_state();
        self.run(async move { uploads::add(&s, kind, bytes).await })
            .await
    }

    /// Uploads the queued photos (syncing the draft first), telling
    /// `listener` the progress; resumes whatever an earlier run or an app
    /// restart left queued. A photo the platform already has (same SHA-256)
    /// is not sent again. Returns every photo with its state.
    pub async fn upload_application_photos(
        &self,
        listener: Option<Arc<dyn UploadListener>>,
    ) -> Result<Vec<ApplicationPhoto>, MerchantError> {
        let s = self.session_state();
        self.run(async move { uploads::upload(&s, listener).await })
            .await
    }

    /// The agreement to sign, with the merchant's own fee clauses; its text
    /// is checked against its SHA-256 and kept (shown offline too).
    pub async fn fetch_agreement(&self) -> Result<AgreementText, MerchantError> {
        let s = self.session_state();
        self.run(async move { agreement::fetch(&s).await }).await
    }

    /// Signs the agreement with the merchant's drawn signature (PNG): the
    /// signature is uploaded, the device key signs the canonical envelope,
    /// and the platform's countersigned record is verified and kept.
    pub async fn sign_agreement(
        &self,
        signature_png: Vec<u8>,
    ) -> Result<AgreementRecordInfo, MerchantError> {
        let s = self.session_state();
        self.run(async move { agreement::sign(&s, signature_png).await })
            .await
    }

    /// The signed agreement record kept on the device (JSON), if any.
    pub async fn agreement_record(&self) -> Result<Option<String>, MerchantError> {
        let s = self.session_state();
        self.run(async move { agreement::record_json(&s).await })
            .await
    }

    /// Verifies a signed agreement record offline (the kept one when
    /// `record_json` is `None`): the device's signature, the platform's
    /// (config's `platform_public_key`), and that it is this device's
    /// signature of this agreement. Any changed byte is refused with an
    /// `agreement_record.*` code.
    pub async fn verify_agreement_record(
        &self,
        record_json: Option<String>,
    ) -> Result<AgreementRecordInfo, MerchantError> {
        let s = self.session_state();
        self.run(async move { agreement::verify(&s, record_json).await })
            .await
    }

    /// Fetches the signed record back from the platform, verifies and keeps it.
    pub async fn refetch_agreement_record(&self) -> Result<AgreementRecordInfo, MerchantError> {
        let s = self.session_state();
        self.run(async move { agreement::refetch(&s).await }).await
    }

    /// Submits the application for review, once: everything is validated
    /// on the device first (`onboarding.invalid` with every error), the
    /// draft synced and the photos uploaded. A double tap, or a retry after
    /// a lost answer, submits once.
    pub async fn submit_application(&self) -> Result<ApplicationStatus, MerchantError> {
        let s = self.session_state();
        self.run(async move { sync::submit(&s).await }).await
    }

    /// Asks the platform where the application stands and moves the status
    /// machine (a rejection brings its reasons, tied to the form's fields).
    pub async fn refresh_application_status(&self) -> Result<ApplicationStatus, MerchantError> {
        let s = self.session_state();
        self.run(async move { sync::refresh(&s).await }).await
    }

    /// Enters the activation code texted after approval; returns the
    /// merchant's profile (merchant number, agreed rates), also kept.
    pub async fn activate_merchant(
        &self,
        activation_code: String,
    ) -> Result<MerchantProfile, MerchantError> {
        let s = self.session_state();
        self.run(async move { activation::activate(&s, &activation_code).await })
            .await
    }

    /// Texts the activation code again after the merchant re-enters the
    /// last 6 characters of the legal person's ID number
    /// (`activation.identity_mismatch`; `activation.recover_locked` after 5).
    pub async fn recover_activation_code(
        &self,
        id_last6: String,
    ) -> Result<ActivationCodeSent, MerchantError> {
        let s = self.session_state();
        self.run(async move { activation::recover(&s, &id_last6).await })
            .await
    }

    /// The activated merchant (merchant number, agreed rates), or `None`
    /// before activation.
    pub async fn merchant_profile(&self) -> Result<Option<MerchantProfile>, MerchantError> {
        let s = self.session_state();
        self.run(async move { activation::profile(&*s.merchant_store().await?) })
            .await
    }
}
