//! The records of onboarding that apps see.
//!
//! Personal fields (the legal person's name and ID number, the account
//! number, its holder's name, the reserved mobile) are shown in full: the
//! merchant typed them on this device, and the draft is theirs. They never go
//! into an error, a problem's message or a log.

use serde::{Deserialize, Serialize};

/// The kind of merchant that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum MerchantKind {
    /// 小微商户: a person without a business licence.
    Micro,
    /// 个体工商户: a licence whose credit code starts `92`.
    IndividualBusiness,
    /// 企业.
    Enterprise,
}

impl MerchantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MerchantKind::Micro => "micro",
            MerchantKind::IndividualBusiness => "individual_business",
            MerchantKind::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            MerchantKind::Micro,
            MerchantKind::IndividualBusiness,
            MerchantKind::Enterprise,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// Whether this kind has a business licence.
    pub fn has_licence(self) -> bool {
        !matches!(self, MerchantKind::Micro)
    }
}

/// The settlement account's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// 对私: a debit card in the legal person's own name.
    Personal,
    /// 对公: the enterprise's account, in the licence's registered name.
    Corporate,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Personal => "personal",
            AccountType::Corporate => "corporate",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "personal" => Some(AccountType::Personal),
            "corporate" => Some(AccountType::Corporate),
            _ => None,
        }
    }
}

/// One field of the application form, as the app edits it.
///
/// Values are text: dates `YYYY-MM-DD`, flags `true`/`false`, the kind and
/// account type by their wire names (`micro`, `individual_business`,
/// `enterprise`; `personal`, `corporate`). [`ApplicationField::key`] is the
/// field's name on the wire and in every problem and rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ApplicationField {
    Kind,
    LegalName,
    IdNumber,
    IdValidFrom,
    IdValidUntil,
    IdLongTerm,
    CreditCode,
    RegisteredName,
    LicenceValidFrom,
    LicenceValidUntil,
    LicenceLongTerm,
    ShopName,
    ProvinceCode,
    CityCode,
    DistrictCode,
    Street,
    Mcc,
    Longitude,
    Latitude,
    AccountType,
    AccountNumber,
    HolderName,
    BranchCode,
    ReservedMobile,
}

impl ApplicationField {
    pub const ALL: [ApplicationField; 24] = [
        ApplicationField::Kind,
        ApplicationField::LegalName,
        ApplicationField::IdNumber,
        ApplicationField::IdValidFrom,
        ApplicationField::IdValidUntil,
        ApplicationField::IdLongTerm,
        ApplicationField::CreditCode,
        ApplicationField::RegisteredName,
        ApplicationField::LicenceValidFrom,
        ApplicationField::LicenceValidUntil,
        ApplicationField::LicenceLongTerm,
        ApplicationField::ShopName,
        ApplicationField::ProvinceCode,
        ApplicationField::CityCode,
        ApplicationField::DistrictCode,
        ApplicationField::Street,
        ApplicationField::Mcc,
        ApplicationField::Longitude,
        ApplicationField::Latitude,
        ApplicationField::AccountType,
        ApplicationField::AccountNumber,
        ApplicationField::HolderName,
        ApplicationField::BranchCode,
        ApplicationField::ReservedMobile,
    ];

    /// The field's name on the wire (`legal_person.id_number`), as problems
    /// and the platform's rejections name it.
    pub fn key(self) -> &'static str {
        use ApplicationField as F;
        match self {
            F::Kind => "kind",
            F::LegalName => "legal_person.name",
            F::IdNumber => "legal_person.id_number",
            F::IdValidFrom => "legal_person.id_valid_from",
            F::IdValidUntil => "legal_person.id_valid_until",
            F::IdLongTerm => "legal_person.id_long_term",
            F::CreditCode => "licence.credit_code",
            F::RegisteredName => "licence.registered_name",
            F::LicenceValidFrom => "licence.valid_from",
            F::LicenceValidUntil => "licence.valid_until",
            F::LicenceLongTerm => "licence.long_term",
            F::ShopName => "shop.name",
            F::ProvinceCode => "shop.province_code",
            F::CityCode => "shop.city_code",
            F::DistrictCode => "shop.district_code",
            F::Street => "shop.street",
            F::Mcc => "shop.mcc",
            F::Longitude => "shop.longitude",
            F::Latitude => "shop.latitude",
            F::AccountType => "settlement.account_type",
            F::AccountNumber => "settlement.account_number",
            F::HolderName => "settlement.holder_name",
            F::BranchCode => "settlement.branch_code",
            F::ReservedMobile => "settlement.reserved_mobile",
        }
    }

    /// The field a wire name (`settlement.holder_name`) or, where it names
    /// one field only, its last part (`holder_name`) stands for.
    pub fn from_key(key: &str) -> Option<Self> {
        if let Some(f) = Self::ALL.into_iter().find(|f| f.key() == key) {
            return Some(f);
        }
        let mut found = Self::ALL
            .into_iter()
            .filter(|f| f.key().rsplit('.').next() == Some(key));
        match (found.next(), found.next()) {
            (Some(f), None) => Some(f),
            _ => None,
        }
    }

    /// Personal data: sealed at rest, never in a log or an error.
    pub fn is_personal(self) -> bool {
        use ApplicationField as F;
        matches!(
            self,
            F::LegalName | F::IdNumber | F::AccountNumber | F::HolderName | F::ReservedMobile
        )
    }
}

/// Kept (in the rejections of the state row) by its wire name.
impl Serialize for ApplicationField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for ApplicationField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        ApplicationField::from_key(&key)
            .ok_or_else(|| serde::de::Error::custom("unknown application field"))
    }
}

/// The wire name of a form field (`settlement.holder_name`).
#[uniffi::export]
pub fn application_field_key(field: ApplicationField) -> String {
    field.key().to_owned()
}

/// A document photo's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    /// 身份证人像面.
    IdFront,
    /// 身份证国徽面.
    IdBack,
    /// 结算银行卡正面 (personal account).
    BankCard,
    /// 营业执照 (individual business and enterprise).
    Licence,
    /// 开户许可证 (corporate account).
    OpeningPermit,
    /// 门头照.
    ShopFront,
    /// 店内照.
    ShopInside,
    /// 收银台.
    Checkstand,
    /// The merchant's handwritten signature (PNG), for the agreement.
    Signature,
}

impl PhotoKind {
    pub const ALL: [PhotoKind; 9] = [
        PhotoKind::IdFront,
        PhotoKind::IdBack,
        PhotoKind::BankCard,
        PhotoKind::Licence,
        PhotoKind::OpeningPermit,
        PhotoKind::ShopFront,
        PhotoKind::ShopInside,
        PhotoKind::Checkstand,
        PhotoKind::Signature,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::IdFront => "id_front",
            PhotoKind::IdBack => "id_back",
            PhotoKind::BankCard => "bank_card",
            PhotoKind::Licence => "licence",
            PhotoKind::OpeningPermit => "opening_permit",
            PhotoKind::ShopFront => "shop_front",
            PhotoKind::ShopInside => "shop_inside",
            PhotoKind::Checkstand => "checkstand",
            PhotoKind::Signature => "signature",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The photos an application of `kind` paid into an account of
    /// `account` needs (the signature included).
    pub fn needed(kind: Option<MerchantKind>, account: Option<AccountType>) -> Vec<PhotoKind> {
        let mut out = vec![PhotoKind::IdFront, PhotoKind::IdBack];
        match account {
            Some(AccountType::Corporate) => out.push(PhotoKind::OpeningPermit),
            _ => out.push(PhotoKind::BankCard),
        }
        if kind.is_some_and(MerchantKind::has_licence) {
            out.push(PhotoKind::Licence);
        }
        out.extend([
            PhotoKind::ShopFront,
            PhotoKind::ShopInside,
            PhotoKind::Checkstand,
            PhotoKind::Signature,
        ]);
        out
    }
}

/// Where the application stands, on this device.
///
/// Moves only forward: Draft → Submitted → UnderReview → Rejected | Approved
/// → ActivationCodeSent → Activated; the one way back is Rejected → Draft,
/// when the merchant changes the rejected application.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, uniffi::Enum,
)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    #[default]
    Draft,
    Submitted,
    UnderReview,
    Rejected,
    Approved,
    ActivationCodeSent,
    Activated,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Draft => "draft",
            ApplicationStatus::Submitted => "submitted",
            ApplicationStatus::UnderReview => "under_review",
            ApplicationStatus::Rejected => "rejected",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::ActivationCodeSent => "activation_code_sent",
            ApplicationStatus::Activated => "activated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        use ApplicationStatus as S;
        [
            S::Draft,
            S::Submitted,
            S::UnderReview,
            S::Rejected,
            S::Approved,
            S::ActivationCodeSent,
            S::Activated,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether the form may be changed in this status.
    pub fn editable(self) -> bool {
        matches!(self, ApplicationStatus::Draft | ApplicationStatus::Rejected)
    }
}

/// How serious a problem is: an error blocks submission, a warning never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem of the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ApplicationProblem {
    /// The wire name of the field (`legal_person.id_number`), of a photo
    /// (`photos.id_front`), or `agreement`.
    pub field: String,
    /// The form field, when the problem belongs to one (for highlighting).
    pub form_field: Option<ApplicationField>,
    /// The stable code (`id_card.checksum`, `onboarding.holder_not_legal_person`).
    pub code: String,
    pub severity: Severity,
    /// The message in the current language.
    pub message: String,
    /// The message in English.
    pub message_en: String,
}

/// A reason the platform's review gave, tied back to the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ApplicationRejection {
    /// The field the platform named.
    pub field: String,
    /// That field in the form, when it is one (the app highlights it).
    pub form_field: Option<ApplicationField>,
    /// That photo, when the reason is about a photo.
    pub photo: Option<PhotoKind>,
    pub code: String,
    pub message: String,
    pub message_en: String,
}

/// Where a photo stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Prepared and kept sealed on this device; waiting to be uploaded.
    Queued,
    /// The platform has it (same SHA-256).
    Uploaded,
}

/// A photo of the application, as kept on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApplicationPhoto {
    pub kind: PhotoKind,
    /// Lowercase hex SHA-256 of the prepared bytes: what the platform gets.
    pub sha256: String,
    /// `image/jpeg` or `image/png`.
    pub content_type: String,
    pub size: u64,
    pub state: UploadState,
    /// Failed tries since it was queued.
    pub attempts: u32,
    /// The code of the last failure, if any.
    pub last_error: Option<String>,
}

/// The whole application as the app shows it: every field as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct ApplicationDraft {
    pub kind: Option<MerchantKind>,
    pub legal_name: Option<String>,
    pub id_number: Option<String>,
    pub id_valid_from: Option<String>,
    pub id_valid_until: Option<String>,
    pub id_long_term: bool,
    pub credit_code: Option<String>,
    pub registered_name: Option<String>,
    pub licence_valid_from: Option<String>,
    pub licence_valid_until: Option<String>,
    pub licence_long_term: bool,
    pub shop_name: Option<String>,
    pub province_code: Option<String>,
    pub city_code: Option<String>,
    pub district_code: Option<String>,
    pub street: Option<String>,
    pub mcc: Option<String>,
    pub longitude: Option<String>,
    pub latitude: Option<String>,
    pub account_type: Option<AccountType>,
    pub account_number: Option<String>,
    pub holder_name: Option<String>,
    pub branch_code: Option<String>,
    pub reserved_mobile: Option<String>,
    /// Where it stands.
    pub status: ApplicationStatus,
    /// The platform's id, once the draft reached it.
    pub application_id: Option<String>,
    /// Why the last review refused it (while `Rejected`).
    pub rejections: Vec<ApplicationRejection>,
    /// Whether the platform holds the form exactly as it is here.
    pub synced: bool,
    /// The code of the last failed sync, when the last one failed.
    pub sync_error: Option<String>,
    pub photos: Vec<ApplicationPhoto>,
    /// The photos the kind and account type still need.
    pub photos_missing: Vec<PhotoKind>,
    /// Whether the agreement is signed (a platform-signed record is kept).
    pub agreement_signed: bool,
}

/// One entry of a platform lookup (a region, an MCC or its category, a
/// bank branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct LookupEntry {
    /// The code: six digits for a region, four for an MCC, twelve for a
    /// branch (联行号); a category's own code for a category.
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
}

/// A lookup list and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Lookup {
    pub entries: Vec<LookupEntry>,
    /// When the platform gave it (unix ms).
    pub fetched_at: i64,
    /// `true` when the platform could not be reached and this is the copy
    /// kept on the device.
    pub from_cache: bool,
}

/// The outcome of a sync of the draft to the platform.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Whether the platform now holds the form as it is here.
    pub synced: bool,
    pub application_id: Option<String>,
    /// The code of the failure, when it failed (the local draft is intact).
    pub error: Option<String>,
}

/// The agreement to sign, as kept on the device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgreementText {
    pub version: String,
    pub title: String,
    pub text: String,
    /// Lowercase hex SHA-256 of `text` as UTF-8 (checked by the core).
    pub text_sha256: String,
}

/// A signed agreement, as the platform signed it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgreementRecordInfo {
    pub application_id: String,
    pub version: String,
    pub text_sha256: String,
    pub signature_image_sha256: String,
    /// Unix seconds.
    pub signed_at: i64,
    pub device_serial: String,
}

/// One channel's agreed rate (percent as decimal text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct AgreedRate {
    pub channel: String,
    pub rate: String,
    pub threshold: Option<String>,
    pub rate_above: Option<String>,
    pub cap: Option<String>,
}

/// The activated merchant: what Trades and Alerts rely on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct MerchantProfile {
    pub merchant_id: String,
    /// 商户编号 (15 digits).
    pub merchant_no: Option<String>,
    pub shop_name: Option<String>,
    pub rates: Vec<AgreedRate>,
    pub activated_at: Option<String>,
}

/// The answer to a recovered activation code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ActivationCodeSent {
    /// Seconds the new code stays valid, when the platform says.
    pub expires_in: Option<u32>,
}

/// Told about the progress of photo uploads. Implemented by the app.
#[uniffi::export(with_foreign)]
pub trait UploadListener: Send + Sync {
    /// `bytes_sent` of `total` handed to the connection.
    fn on_progress(&self, kind: PhotoKind, bytes_sent: u64, total: u64);
    /// The platform has the photo.
    fn on_done(&self, kind: PhotoKind);
    /// This try failed with `code`; the queue tries again later.
    fn on_failed(&self, kind: PhotoKind, code: String);
}
