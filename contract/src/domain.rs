//! Wire records of the domain endpoints: onboarding, card BIN, terminals,
//! trades, refunds and settlements (docs/platform-api.md, the sections of the
//! same names), plus the requests of their sandbox-only controls.
//!
//! Conventions of every record here (see docs/platform-api.md):
//! - amounts are decimal strings of yuan with two decimals (`"850.00"`);
//! - rates are decimal strings of percent (`"0.38"`);
//! - times are RFC 3339 with the `+08:00` offset; days are `YYYY-MM-DD` in
//!   China time;
//! - channels are `"wechat"`, `"alipay"`, `"unionpay_qr"`, `"debit_card"`,
//!   `"credit_card"`.
//!
//! Amounts, rates and channels travel as text: each side parses them with its
//! own money types (the core's `Amount`, `Rate`, `Channel`), so a malformed
//! value is refused where it arrives instead of inside a serde derive.
//!
//! Personal data: the platform never echoes a legal name, an ID number or a
//! bank card number in full; records carry masked forms
//! (`legal_name_masked`, `id_number_masked`, `settlement_card_masked`) and
//! customer cards only as BIN + last four.

use serde::{Deserialize, Serialize};

use crate::codes::PlatformCode;

// ---------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------

macro_rules! domain_codes {
    ($list:ident: $($name:ident = $status:literal, $code:literal, $zh:literal, $en:literal;)+) => {
        $(
            pub const $name: PlatformCode = PlatformCode::new($code, $status, $zh, $en);
        )+
        pub const $list: &[PlatformCode] = &[$($name),+];
    };
}

// The refusals of the domain endpoints: the `code` of an error body.
domain_codes! { CODES:
    APPLICATION_EXISTS = 409, "application.exists", "已有进件申请，请修改后提交", "The merchant already has an application; change and submit it";
    APPLICATION_LOCKED = 409, "application.locked", "申请已审核通过，不能再修改", "The application has passed review and can no longer be changed";
    APPLICATION_INCOMPLETE = 400, "application.incomplete", "申请资料不完整", "The application is incomplete";
    APPLICATION_NOT_APPROVED = 409, "application.not_approved", "申请尚未审核通过", "The application has not been approved";
    MERCHANT_NOT_ACTIVE = 409, "merchant.not_active", "商户尚未激活", "The merchant is not active yet";
    DOCUMENT_KIND_UNKNOWN = 400, "document.kind_unknown", "不支持的资料类型", "No such document kind";
    DOCUMENT_NOT_APPLICABLE = 400, "document.not_applicable", "小微商户无需上传营业执照", "A micro merchant has no business licence to upload";
    DOCUMENT_TYPE_UNSUPPORTED = 415, "document.type_unsupported", "仅支持 JPEG 或 PNG 图片（签名须为 PNG）", "Only JPEG or PNG images (a signature must be PNG)";
    DOCUMENT_TOO_LARGE = 413, "document.too_large", "图片过大，最大 2 MB", "The image is larger than 2 MB";
    DOCUMENT_CONTENT_MISMATCH = 400, "document.content_mismatch", "图片内容与类型不符或不完整", "The bytes are not a whole image of the declared type";
    AGREEMENT_VERSION_OUTDATED = 409, "agreement.version_outdated", "协议已更新，请重新阅读后签署", "The agreement has a newer version; read and sign that";
    AGREEMENT_TEXT_MISMATCH = 400, "agreement.text_mismatch", "协议内容摘要不符", "The agreement text digest does not match";
    AGREEMENT_SIGNATURE_MISSING = 409, "agreement.signature_missing", "请先上传手写签名", "Upload the handwritten signature first";
    ACTIVATION_CODE_WRONG = 400, "activation.code_wrong", "激活码错误", "The activation code is wrong";
    ACTIVATION_CODE_EXPIRED = 400, "activation.code_expired", "激活码已过期，请重新获取", "The activation code has expired; ask for a new one";
    ACTIVATION_ATTEMPTS_EXCEEDED = 429, "activation.attempts_exceeded", "激活码错误次数过多，请重新获取", "Too many wrong activation codes; ask for a new one";
    ACTIVATION_RESEND_TOO_SOON = 429, "activation.resend_too_soon", "激活码发送过于频繁，请稍后再试", "An activation code was sent moments ago; try later";
    CARD_BIN_PREFIX_INVALID = 400, "card_bin.prefix_invalid", "卡号前缀应为 6 至 10 位数字", "The card prefix must be 6 to 10 digits";
    TERMINAL_NOT_FOUND = 404, "terminal.not_found", "终端不存在，请核对序列号", "No terminal has this serial number";
    TERMINAL_OWNED_BY_OTHER = 409, "terminal.owned_by_other", "该终端已绑定其他商户，不能绑定", "The terminal is bound to another merchant";
    TERMINAL_QR_INVALID = 400, "terminal.qr_invalid", "不是有效的终端背面二维码", "This is not a valid terminal back QR";
    TERMINAL_SN_INVALID = 400, "terminal.sn_invalid", "终端序列号格式不正确", "The serial number is not well formed";
    TERMINAL_MAIN_HAS_SECONDARIES = 409, "terminal.main_has_secondaries", "该正机下还有副机，请先将副机改挂其他正机、设为正机或解绑", "This main terminal still has secondary terminals; move or unbind them first";
    REFUND_EXCEEDS_REFUNDABLE = 409, "refund.exceeds_refundable", "退款金额超过可退金额", "The refund is above what is left to refund";
    REFUND_INSUFFICIENT_BALANCE = 409, "refund.insufficient_balance", "当日收款余额不足以退款", "The day's takings do not cover the refund";
    SANDBOX_MERCHANT_UNKNOWN = 404, "sandbox.merchant_unknown", "沙箱中没有该商户", "The sandbox has no such merchant";
    SANDBOX_NO_TERMINAL = 409, "sandbox.no_terminal", "商户没有可用于交易的终端", "The merchant has no terminal to trade on";
    SANDBOX_TERMINAL_NOT_BOUND = 409, "sandbox.terminal_not_bound", "该终端未绑定任何商户", "The terminal is not bound to any merchant";
    SETTLEMENT_DAY_CLOSED = 409, "settlement.day_closed", "该日已结算", "That day is already settled";
    SETTLEMENT_DAY_NOT_OVER = 409, "settlement.day_not_over", "该日尚未结束，不能结算", "That day is not over yet";
}

// Field-level codes: the `code` of an entry of `fields` in a
// `request.field_invalid` (or `application.incomplete`) refusal. Fields
// checked by the core's validators carry the validators' own codes
// (`id_card.checksum`, `bank_card.luhn`, `amount.too_many_decimals`, ...,
// listed in docs/errors.md).
domain_codes! { FIELD_CODES:
    FIELD_REQUIRED = 400, "field.required", "必填", "Required";
    FIELD_TOO_LONG = 400, "field.too_long", "内容过长", "Too long";
    FIELD_INVALID = 400, "field.invalid", "格式不正确", "Not in the expected form";
    FIELD_MISSING = 400, "application.missing", "尚未提供", "Not provided yet";
    FIELD_LICENCE_NOT_FOR_MICRO = 400, "application.licence_not_for_micro", "小微商户不填写营业执照代码", "A micro merchant has no licence code";
    FIELD_ONE_OF_SN_QR = 400, "terminal.sn_or_qr", "请提供终端序列号或背面二维码其中之一", "Give exactly one of sn or qr_text";
    FIELD_TERMINAL_MAIN_INVALID = 400, "terminal.main_invalid", "副机须挂在本商户的另一台正机下", "A secondary terminal must name another main terminal of the same merchant";
    FIELD_REFUND_ZERO = 400, "refund.amount_zero", "退款金额须大于零", "The refund amount must be above zero";
    FIELD_PAGE_CURSOR = 400, "page.cursor_invalid", "分页游标无效", "The page cursor is not valid";
    FIELD_PAGE_LIMIT = 400, "page.limit_invalid", "每页条数须为 1 至 200", "The page limit must be 1 to 200";
    FIELD_TIME = 400, "filter.time_invalid", "时间须为带时区的 RFC 3339 格式", "The time must be RFC 3339 with an offset";
    FIELD_DATE = 400, "filter.date_invalid", "日期须为 YYYY-MM-DD", "The date must be YYYY-MM-DD";
    FIELD_RANGE = 400, "filter.range_invalid", "开始时间须早于结束时间", "The start must be before the end";
    FIELD_CHANNEL = 400, "filter.channel_invalid", "支付渠道无效", "No such channel";
}

// Review outcomes: the `code` of a [`Rejection`] in an application the review
// refused (they arrive inside a 200 answer, hence the status).
domain_codes! { REVIEW_CODES:
    REVIEW_IDENTITY_MISMATCH = 200, "review.identity_mismatch", "身份信息核验不一致", "The name and ID number did not pass the identity check";
    REVIEW_APPLICANT_UNDERAGE = 200, "review.applicant_underage", "经营者须年满 18 周岁", "The applicant must be at least 18";
    REVIEW_CARD_NOT_DEBIT = 200, "review.settlement_card_not_debit", "结算卡须为借记卡", "The settlement card must be a debit card";
    REVIEW_CARD_BANK_UNKNOWN = 200, "review.settlement_card_bank_unknown", "无法识别结算卡的发卡行", "The settlement card's bank is not known";
    REVIEW_SHOP_NAME_REFUSED = 200, "review.shop_name_refused", "商户名称不合规", "The shop name is not acceptable";
}

/// Every code the domain declares.
pub fn all_codes() -> impl Iterator<Item = &'static PlatformCode> {
    CODES.iter().chain(FIELD_CODES).chain(REVIEW_CODES)
}

/// The domain code with this name, if any.
pub fn find(code: &str) -> Option<&'static PlatformCode> {
    all_codes().find(|c| c.code == code)
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

/// The domain's routes; `crate::routes::DOMAIN` is this list.
pub mod routes {
    use crate::routes::Access::{Open, Session};
    use crate::routes::{Route, UPLOAD_BODY_LIMIT};

    pub const MERCHANT: Route = Route::new("GET", "/v1/merchant", Session);
    pub const CREATE_APPLICATION: Route =
        Route::new("POST", "/v1/applications", Session).idempotent();
    pub const CURRENT_APPLICATION: Route = Route::new("GET", "/v1/applications/current", Session);
    pub const GET_APPLICATION: Route =
        Route::new("GET", "/v1/applications/{application_id}", Session);
    pub const UPDATE_APPLICATION: Route =
        Route::new("PUT", "/v1/applications/{application_id}", Session).idempotent();
    pub const UPLOAD_DOCUMENT: Route = Route::new(
        "PUT",
        "/v1/applications/{application_id}/documents/{kind}",
        Session,
    )
    .idempotent()
    .body_limit(UPLOAD_BODY_LIMIT);
    pub const CURRENT_AGREEMENT: Route = Route::new("GET", "/v1/agreements/current", Session);
    pub const SIGN_AGREEMENT: Route = Route::new(
        "POST",
        "/v1/applications/{application_id}/agreement",
        Session,
    )
    .idempotent();
    pub const SUBMIT_APPLICATION: Route =
        Route::new("POST", "/v1/applications/{application_id}/submit", Session).idempotent();
    pub const SEND_ACTIVATION_CODE: Route = Route::new(
        "POST",
        "/v1/applications/{application_id}/activation-code",
        Session,
    )
    .idempotent();
    pub const ACTIVATE: Route = Route::new(
        "POST",
        "/v1/applications/{application_id}/activate",
        Session,
    )
    .idempotent();
    pub const CARD_BIN: Route = Route::new("GET", "/v1/card-bins/{prefix}", Session);
    pub const TERMINALS: Route = Route::new("GET", "/v1/terminals", Session);
    pub const BIND_TERMINAL: Route = Route::new("POST", "/v1/terminals", Session).idempotent();
    pub const UNBIND_TERMINAL: Route =
        Route::new("DELETE", "/v1/terminals/{sn}", Session).idempotent();
    pub const UPDATE_TERMINAL: Route =
        Route::new("PUT", "/v1/terminals/{sn}", Session).idempotent();
    pub const TERMINAL_MODELS: Route = Route::new("GET", "/v1/terminal-models", Session);
    pub const TRADES: Route = Route::new("GET", "/v1/trades", Session);
    pub const TRADE: Route = Route::new("GET", "/v1/trades/{trade_id}", Session);
    pub const REFUND: Route =
        Route::new("POST", "/v1/trades/{trade_id}/refunds", Session).idempotent();
    pub const REFUNDS: Route = Route::new("GET", "/v1/refunds", Session);
    pub const SETTLEMENTS: Route = Route::new("GET", "/v1/settlements", Session);
    pub const SETTLEMENT: Route = Route::new("GET", "/v1/settlements/{date}", Session);

    pub const SANDBOX_TERMINALS: Route = Route::new("GET", "/sandbox/terminals", Open);
    pub const SANDBOX_TERMINAL_BACK_PHOTO: Route =
        Route::new("GET", "/sandbox/terminals/{sn}/back-photo", Open);
    pub const SANDBOX_FREEZE_TERMINAL: Route =
        Route::new("POST", "/sandbox/terminals/freeze", Open);
    pub const SANDBOX_TRANSFER_TERMINAL: Route =
        Route::new("POST", "/sandbox/terminals/transfer", Open);
    pub const SANDBOX_ACTIVATE_MERCHANT: Route =
        Route::new("POST", "/sandbox/merchants/activate", Open);
    pub const SANDBOX_TRADES: Route = Route::new("POST", "/sandbox/trades", Open);
    pub const SANDBOX_TRADE_STREAM: Route = Route::new("POST", "/sandbox/trades/stream", Open);
    pub const SANDBOX_TRADE_STREAM_STOP: Route =
        Route::new("POST", "/sandbox/trades/stream/stop", Open);
    pub const SANDBOX_REFUNDS: Route = Route::new("POST", "/sandbox/refunds", Open);
    pub const SANDBOX_SETTLEMENTS: Route = Route::new("POST", "/sandbox/settlements", Open);

    /// Every domain route.
    pub const ALL: &[Route] = &[
        MERCHANT,
        CREATE_APPLICATION,
        CURRENT_APPLICATION,
        GET_APPLICATION,
        UPDATE_APPLICATION,
        UPLOAD_DOCUMENT,
        CURRENT_AGREEMENT,
        SIGN_AGREEMENT,
        SUBMIT_APPLICATION,
        SEND_ACTIVATION_CODE,
        ACTIVATE,
        CARD_BIN,
        TERMINALS,
        BIND_TERMINAL,
        UNBIND_TERMINAL,
        UPDATE_TERMINAL,
        TERMINAL_MODELS,
        TRADES,
        TRADE,
        REFUND,
        REFUNDS,
        SETTLEMENTS,
        SETTLEMENT,
        SANDBOX_TERMINALS,
        SANDBOX_TERMINAL_BACK_PHOTO,
        SANDBOX_FREEZE_TERMINAL,
        SANDBOX_TRANSFER_TERMINAL,
        SANDBOX_ACTIVATE_MERCHANT,
        SANDBOX_TRADES,
        SANDBOX_TRADE_STREAM,
        SANDBOX_TRADE_STREAM_STOP,
        SANDBOX_REFUNDS,
        SANDBOX_SETTLEMENTS,
    ];
}

// ---------------------------------------------------------------------------
// Onboarding
// ---------------------------------------------------------------------------

/// What kind of merchant applies (个人选小微，有营业执照选企业).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MerchantKind {
    /// 小微商户: a person without a business licence.
    Micro,
    /// 企业/个体工商户: has a business licence (unified social credit code).
    Enterprise,
}

impl MerchantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MerchantKind::Micro => "micro",
            MerchantKind::Enterprise => "enterprise",
        }
    }
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Being filled in; can be changed and submitted.
    Draft,
    /// Refused by the review; `rejections` says why. Can be changed and
    /// submitted again.
    Rejected,
    /// Passed the review; an activation code was sent by SMS.
    Approved,
    /// The activation code was entered: the merchant can take payments.
    Activated,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Draft => "draft",
            ApplicationStatus::Rejected => "rejected",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::Activated => "activated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "draft" => ApplicationStatus::Draft,
            "rejected" => ApplicationStatus::Rejected,
            "approved" => ApplicationStatus::Approved,
            "activated" => ApplicationStatus::Activated,
            _ => return None,
        })
    }
}

/// The body of `POST /v1/applications` and `PUT /v1/applications/{application_id}`.
///
/// Every field but `kind` may be left out while the draft is being filled
/// in; a `PUT` replaces the whole form. Fields present are checked at once
/// (format, checksums); the review at submit checks the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationForm {
    pub kind: MerchantKind,
    /// 商户名称: the name printed on receipts and shown to payers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<String>,
    /// 经营地址.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_address: Option<String>,
    /// 法人/经营者姓名, as on the ID card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// 居民身份证号码 (GB 11643, 18 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// 统一社会信用代码 (GB 32100); required for `enterprise`, refused for `micro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_code: Option<String>,
    /// 结算银行卡号: a debit card in the legal person's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_card_number: Option<String>,
}

/// A document photo, as `POST /v1/applications/{application_id}/documents/{kind}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 身份证人像面.
    IdFront,
    /// 身份证国徽面.
    IdBack,
    /// 营业执照 (enterprise only).
    Licence,
    /// 结算银行卡正面.
    BankCard,
    /// The merchant's handwritten signature, for the agreement (PNG).
    Signature,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::IdFront,
        DocumentKind::IdBack,
        DocumentKind::Licence,
        DocumentKind::BankCard,
        DocumentKind::Signature,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdFront => "id_front",
            DocumentKind::IdBack => "id_back",
            DocumentKind::Licence => "licence",
            DocumentKind::BankCard => "bank_card",
            DocumentKind::Signature => "signature",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A stored document photo (the platform keeps the bytes; the record does not
/// carry them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub kind: DocumentKind,
    /// `image/jpeg` or `image/png`.
    pub content_type: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    pub uploaded_at: String,
}

/// One reason the review refused an application, tied to a form field or a
/// document kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// A field of [`ApplicationForm`] or a document kind (`id_front`, ...).
    pub field: String,
    /// Stable code, such as `review.settlement_card_not_debit`.
    pub code: String,
    pub message: String,
    pub message_en: String,
}

/// The bank behind the settlement card, from the BIN table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementBank {
    pub bank_name: String,
    pub bank_name_en: String,
    /// `debit`, `credit` or `prepaid`.
    pub card_kind: String,
}

/// An onboarding application as the platform keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub application_id: String,
    pub status: ApplicationStatus,
    pub kind: MerchantKind,
    pub shop_name: Option<String>,
    pub business_address: Option<String>,
    /// First and last characters, stars between (`王*明`).
    pub legal_name_masked: Option<String>,
    /// First 3, stars, last 4.
    pub id_number_masked: Option<String>,
    pub licence_code: Option<String>,
    /// First 6, stars, last 4.
    pub settlement_card_masked: Option<String>,
    /// `None` when the card's BIN is not in the table.
    pub settlement_bank: Option<SettlementBank>,
    pub documents: Vec<Document>,
    /// The e-signature, once the agreement is signed.
    pub agreement: Option<AgreementSignature>,
    /// What is still needed before submit: form field names, document kinds,
    /// and `agreement`.
    pub missing: Vec<String>,
    /// Why the last review refused it (empty unless `rejected`).
    pub rejections: Vec<Rejection>,
    pub created_at: String,
    pub updated_at: String,
    pub submitted_at: Option<String>,
    pub reviewed_at: Option<String>,
    pub activated_at: Option<String>,
}

/// `GET /v1/agreements/current`: the merchant agreement (商户服务协议) to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub version: String,
    pub title: String,
    pub text: String,
    /// Lowercase hex SHA-256 of `text` as UTF-8: the signature binds this.
    pub text_sha256: String,
}

/// The body of `POST /v1/applications/{application_id}/agreement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignAgreement {
    pub version: String,
    pub text_sha256: String,
}

/// The e-signature record of an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementSignature {
    pub signature_id: String,
    pub version: String,
    pub text_sha256: String,
    /// SHA-256 of the signature image (document kind `signature`).
    pub signature_image_sha256: String,
    pub signed_at: String,
}

/// The body of `POST /v1/applications/{application_id}/activate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    pub activation_code: String,
}

/// One channel's agreed rate: `rate` percent of the amount, or
/// `rate_above` percent for trades above `threshold`, at most `cap` a trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRate {
    pub channel: String,
    pub rate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_above: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
}

/// `GET /v1/merchant` and the answer to a successful activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantProfile {
    pub merchant_id: String,
    /// `new` (no activated application yet) or `active`.
    pub status: String,
    /// 商户编号 (15 digits), once active: every trade of this merchant
    /// carries it.
    pub merchant_no: Option<String>,
    pub shop_name: Option<String>,
    /// The agreed rates, one per channel.
    pub rates: Vec<ChannelRate>,
    pub activated_at: Option<String>,
}

// ---------------------------------------------------------------------------
// Card BIN
// ---------------------------------------------------------------------------

/// `GET /v1/card-bins/{prefix}`: what the BIN table says about a card prefix.
/// An unknown BIN is an answer (`known: false`), not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardBin {
    /// The prefix asked about (6 to 10 digits).
    pub prefix: String,
    pub known: bool,
    /// The table's matching BIN (longest prefix), when known.
    pub bin: Option<String>,
    pub bank_name: Option<String>,
    pub bank_name_en: Option<String>,
    /// `debit`, `credit` or `prepaid`, when known.
    pub card_kind: Option<String>,
}

// ---------------------------------------------------------------------------
// Terminals
// ---------------------------------------------------------------------------

/// The longest serial text (typed, read over Bluetooth or from a QR) the
/// platform reads; anything longer is not a serial.
pub const SERIAL_TEXT_MAX: usize = 64;

/// A serial as typed or read, normalised the way both sides of the contract
/// do it before checking it: surrounding and inner ASCII spaces, tabs, line
/// breaks and dashes (`-`) are dropped and ASCII letters upper-cased, so
/// `" lkl-a800 1234 55 "` reads `LKLA800123455`. Nothing else is changed
/// (a full-width digit stays and fails the serial rules). `None` for text
/// longer than [`SERIAL_TEXT_MAX`] bytes. This is only the normalisation:
/// the serial rules (`LKL`, a model code, 7 digits, a Luhn check digit, and
/// the model's `serial_prefix` and `serial_length`) are checked after it.
pub fn squeeze_serial(text: &str) -> Option<String> {
    if text.len() > SERIAL_TEXT_MAX {
        return None;
    }
    Some(
        text.chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

/// The Bluetooth LE face of a terminal: what it advertises and which
/// characteristics carry its identity (docs/platform-api.md, Terminals).
pub mod ble {
    /// The 128-bit GATT service UUID every terminal advertises: scan for it.
    pub const SERVICE_UUID: &str = "4c4b4c50-4f53-4000-8000-000000000001";
    /// The standard Device Information Service.
    pub const DEVICE_INFORMATION_SERVICE: u16 = 0x180A;
    /// Serial Number String: the terminal's SN.
    pub const SERIAL_NUMBER_STRING: u16 = 0x2A25;
    /// Model Number String: the model (as `Terminal::model`, e.g. `A8`).
    pub const MODEL_NUMBER_STRING: u16 = 0x2A24;
    /// Firmware Revision String: as `Terminal::firmware`.
    pub const FIRMWARE_REVISION_STRING: u16 = 0x2A26;
}

/// One terminal model, as `GET /v1/terminal-models` lists it: what a client
/// caches to check a typed or scanned serial offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalModel {
    /// The model as terminals name it (`Terminal::model`, the BLE Model
    /// Number String), e.g. `A8`, `LK-Q1`.
    pub model: String,
    /// The model's name for people, e.g. `拉卡拉电签 A8`.
    pub name: String,
    /// Every serial of this model starts with it (`LKL` + the two-character
    /// model code), e.g. `LKLA8`.
    pub serial_prefix: String,
    /// How many characters its serials have (after normalising).
    pub serial_length: u32,
    /// Whether it can be found and read over Bluetooth LE.
    pub has_bluetooth: bool,
}

/// The body of `POST /v1/terminals`: exactly one of `sn` (typed or read over
/// Bluetooth) or `qr_text` (the QR on the terminal's back, as scanned).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindTerminal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_text: Option<String>,
}

/// Whether a terminal takes payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalStatus {
    Active,
    /// Frozen by the platform (风控冻结): takes no payments until unfrozen.
    Frozen,
}

impl TerminalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalStatus::Active => "active",
            TerminalStatus::Frozen => "frozen",
        }
    }
}

/// A terminal's place among the merchant's terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalRole {
    /// 正机.
    Main,
    /// 副机: belongs under one of the merchant's mains (`main_sn`).
    Secondary,
}

impl TerminalRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalRole::Main => "main",
            TerminalRole::Secondary => "secondary",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "main" => Some(TerminalRole::Main),
            "secondary" => Some(TerminalRole::Secondary),
            _ => None,
        }
    }
}

/// The longest alias, in characters.
pub const TERMINAL_ALIAS_MAX: usize = 20;

/// A terminal bound to the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    /// The serial number (SN) printed on the back, e.g. `LKLA8` + 8 digits.
    pub sn: String,
    /// Model, e.g. `A8`, `LK-Q1` (see [`TerminalModel`]).
    pub model: String,
    pub firmware: String,
    /// The merchant's name for it (1..=20 characters), or `null`.
    pub alias: Option<String>,
    pub status: TerminalStatus,
    pub role: TerminalRole,
    /// A secondary's main; `null` for a main.
    pub main_sn: Option<String>,
    pub bound_at: String,
    /// The latest trade on it for this merchant; `null` until one happens.
    pub last_trade_at: Option<String>,
}

/// Whether a bind changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindOutcome {
    /// Newly bound to the merchant (`terminal.bound` was emitted).
    Bound,
    /// It was the merchant's already: nothing changed, nothing emitted.
    AlreadyBound,
}

/// The answer to `POST /v1/terminals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalBinding {
    pub outcome: BindOutcome,
    pub terminal: Terminal,
}

/// The body of `PUT /v1/terminals/{sn}`: the terminal's alias and role,
/// replaced as a whole (a left-out `alias` or `main_sn` is `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTerminal {
    /// 1..=20 characters after trimming, no control characters; `null`
    /// clears it.
    #[serde(default)]
    pub alias: Option<String>,
    pub role: TerminalRole,
    /// Required for a `secondary`: another main of the same merchant; must
    /// be `null` for a `main`.
    #[serde(default)]
    pub main_sn: Option<String>,
}

/// Why a terminal left the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnbindReason {
    /// The merchant unbound it (`DELETE /v1/terminals/{sn}`).
    Merchant,
    /// The platform moved it to another merchant.
    Transferred,
}

/// The answer to `DELETE /v1/terminals/{sn}` and the body of `terminal.unbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalUnbound {
    pub sn: String,
    pub unbound_at: String,
    pub reason: UnbindReason,
}

// ---------------------------------------------------------------------------
// Trades and refunds
// ---------------------------------------------------------------------------

/// Where a trade stands after refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStatus {
    Success,
    PartiallyRefunded,
    Refunded,
}

/// The customer's card of a card trade: never more than BIN + last four.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRef {
    /// First six digits.
    pub bin: String,
    pub last4: String,
    /// `debit`, `credit` or `prepaid`, or `unknown`.
    pub card_kind: String,
    pub bank_name: Option<String>,
}

/// One sale (消费 by card, or a scan-code payment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub trade_id: String,
    pub channel: String,
    pub amount: String,
    /// The fee the platform took for this trade.
    pub fee: String,
    /// The rate (percent) the fee was computed with.
    pub rate: String,
    pub status: TradeStatus,
    /// Sum of refunds so far.
    pub refunded_amount: String,
    pub terminal_sn: String,
    /// 商户编号 the trade was routed under (normally the merchant's own).
    pub merchant_no: String,
    /// 商户名称 printed on the receipt for that merchant code.
    pub merchant_name: String,
    /// Card trades only.
    pub card: Option<CardRef>,
    /// 参考号 (12 digits).
    pub reference_no: String,
    pub created_at: String,
}

/// The body of `POST /v1/trades/{trade_id}/refunds` (with an Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub amount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One refund of a trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub trade_id: String,
    pub amount: String,
    /// The part of the trade's fee given back with this refund.
    pub fee_returned: String,
    pub reason: Option<String>,
    pub created_at: String,
}

/// The answer to a refund and the body of `trade.refunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRefunded {
    pub trade: Trade,
    pub refund: Refund,
}

// ---------------------------------------------------------------------------
// Settlements
// ---------------------------------------------------------------------------

/// One day's settlement (结算单, T+1) for the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The business day settled, `YYYY-MM-DD` (China time).
    pub date: String,
    pub trade_count: u32,
    pub refund_count: u32,
    /// Sum of the day's trade amounts.
    pub gross_amount: String,
    /// Fees of the day's trades minus fees returned with the day's refunds.
    pub fee_amount: String,
    /// Sum of the day's refunds.
    pub refund_amount: String,
    /// What is due: `gross_amount - fee_amount - refund_amount`.
    pub net_amount: String,
    /// What was paid to the settlement card. Equal to `net_amount` unless
    /// the platform settled short.
    pub settled_amount: String,
    /// The settlement card, first 6, stars, last 4.
    pub account_masked: Option<String>,
    pub settled_at: String,
}

// ---------------------------------------------------------------------------
// Sandbox-only controls (docs/platform-api.md, "Sandbox-only")
// ---------------------------------------------------------------------------

/// Sandbox-only records: requests and answers of the `/sandbox/*` controls of
/// the domain. The real platform has none of these.
pub mod sandbox {
    use serde::{Deserialize, Serialize};

    use super::{Settlement, Terminal, TerminalStatus, Trade};

    /// An anomaly the sandbox can inject into a merchant's trades.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Anomaly {
        /// 跳码: the trade is routed under another merchant code and name.
        MerchantCode,
        /// The fee is computed at a rate above the agreed one.
        FeeAboveRate,
        /// The same card, amount and terminal charged twice within seconds.
        DoubleCharge,
        /// The trade comes from a terminal bound to someone else.
        ForeignTerminal,
    }

    /// The body of `POST /sandbox/trades`: make trades for a merchant now.
    /// Left-out fields are drawn from the seeded generator.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct InjectTrades {
        pub merchant_id: String,
        /// How many trades (1..=200; default 1). With `double_charge`, the
        /// number of pairs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub count: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub channel: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub amount: Option<String>,
        /// One of the merchant's terminals (default: drawn from them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub terminal_sn: Option<String>,
        /// When the trade happened (RFC 3339), not after the sandbox's now and
        /// not on a day already settled (default: now).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub at: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub anomaly: Option<Anomaly>,
    }

    /// The answer to `POST /sandbox/trades`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct InjectedTrades {
        pub trades: Vec<Trade>,
        pub anomaly: Option<Anomaly>,
    }

    /// The body of `POST /sandbox/trades/stream`: start (or replace) the
    /// merchant's steady stream of trades.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct StartTradeStream {
        pub merchant_id: String,
        /// Milliseconds between trades (50..=3 600 000; default 2 000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub interval_ms: Option<u64>,
        /// Stop after this many trades (default: until stopped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub count: Option<u32>,
    }

    /// The body of `POST /sandbox/trades/stream/stop`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct StopTradeStream {
        pub merchant_id: String,
    }

    /// The answer to the stream controls.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TradeStreamState {
        pub merchant_id: String,
        pub running: bool,
        /// Trades the current (or last) stream has made.
        pub produced: u32,
    }

    /// The body of `POST /sandbox/refunds`: refund one of a merchant's trades
    /// now, as if the merchant had asked (the answer is a
    /// [`TradeRefunded`](super::TradeRefunded), and `trade.refunded` is
    /// emitted).
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RefundTrade {
        pub merchant_id: String,
        pub trade_id: String,
        /// How much (default: whatever is left of the trade).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub amount: Option<String>,
        /// At most 64 characters (default: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }

    /// The body of `POST /sandbox/settlements`: settle one past day now.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RunSettlement {
        pub merchant_id: String,
        /// A day before the sandbox's today, `YYYY-MM-DD`.
        pub date: String,
        /// Pay this much less than due (an amount; default `"0.00"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shortfall: Option<String>,
    }

    /// The answer to `POST /sandbox/settlements`.
    pub type SettlementRun = Settlement;

    /// The body of `POST /sandbox/merchants/activate`: make a merchant active
    /// without onboarding (for tests and app developers).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ActivateMerchant {
        pub merchant_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shop_name: Option<String>,
    }

    /// One terminal of the seeded inventory, as `GET /sandbox/terminals` lists it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct InventoryTerminal {
        pub sn: String,
        pub model: String,
        pub firmware: String,
        /// The text of the QR on its back.
        pub qr_text: String,
        /// `free`, or `bound` (to `merchant_id`; the seeded other merchant
        /// holds every fifth terminal).
        pub state: String,
        /// The merchant it is bound to, when bound in this sandbox.
        pub merchant_id: Option<String>,
        /// `active` or `frozen` (`POST /sandbox/terminals/freeze`); a freeze
        /// stays with the terminal when it is unbound or moved.
        pub status: TerminalStatus,
    }

    /// The body of `POST /sandbox/terminals/freeze`: freeze or unfreeze one
    /// terminal of the inventory (the answer is its [`InventoryTerminal`]).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FreezeTerminal {
        pub sn: String,
        pub frozen: bool,
    }

    /// The body of `POST /sandbox/terminals/transfer`: the platform moves a
    /// bound terminal to another merchant, named by exactly one of
    /// `to_phone` or `to_merchant_id`.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TransferTerminal {
        pub sn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_phone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_merchant_id: Option<String>,
    }

    /// The answer to `POST /sandbox/terminals/transfer`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TerminalTransferred {
        pub from_merchant_id: String,
        pub to_merchant_id: String,
        /// The terminal as its new merchant sees it.
        pub terminal: Terminal,
    }

    /// `GET /sandbox/terminals`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Inventory {
        pub terminals: Vec<InventoryTerminal>,
        /// Well-formed serials that are in no inventory (for "unknown" tests).
        pub unknown_sns: Vec<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_documented_names() {
        assert_eq!(
            serde_json::to_string(&ApplicationStatus::Activated).unwrap(),
            "\"activated\""
        );
        assert_eq!(
            serde_json::to_string(&TradeStatus::PartiallyRefunded).unwrap(),
            "\"partially_refunded\""
        );
        for k in DocumentKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert_eq!(DocumentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            serde_json::to_string(&sandbox::Anomaly::MerchantCode).unwrap(),
            "\"merchant_code\""
        );
        assert_eq!(DocumentKind::parse("selfie"), None);
    }

    #[test]
    fn codes_are_unique_lowercase_dotted_and_apart_from_the_infrastructure() {
        let mut seen = std::collections::HashSet::new();
        for c in all_codes() {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(crate::codes::find(c.code).is_none(), "{} clashes", c.code);
            assert!(c.code.contains('.'));
            assert!(
                c.code
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '.' || ch == '_')
            );
            assert!(!c.zh.is_empty() && !c.en.is_empty());
        }
        for c in CODES {
            assert!((400..600).contains(&c.status), "{}", c.code);
        }
        assert_eq!(
            find("terminal.owned_by_other"),
            Some(&TERMINAL_OWNED_BY_OTHER)
        );
        assert_eq!(TERMINAL_OWNED_BY_OTHER.status, 409);
    }

    #[test]
    fn terminal_records_use_the_documented_shapes() {
        let t = Terminal {
            sn: "LKLA800123455".into(),
            model: "A8".into(),
            firmware: "A8_V2.4.0".into(),
            alias: None,
            status: TerminalStatus::Active,
            role: TerminalRole::Secondary,
            main_sn: Some("LKLA800000009".into()),
            bound_at: "2025-06-01T09:40:00+08:00".into(),
            last_trade_at: None,
        };
        let v = serde_json::to_value(TerminalBinding {
            outcome: BindOutcome::AlreadyBound,
            terminal: t.clone(),
        })
        .unwrap();
        assert_eq!(v["outcome"], "already_bound");
        assert_eq!(v["terminal"]["role"], "secondary");
        assert_eq!(v["terminal"]["status"], "active");
        // Nulls travel as nulls: a client tells "none" from "not sent".
        assert!(v["terminal"]["alias"].is_null());
        assert!(
            v["terminal"]
                .as_object()
                .unwrap()
                .contains_key("last_trade_at")
        );
        let gone = TerminalUnbound {
            sn: t.sn.clone(),
            unbound_at: t.bound_at.clone(),
            reason: UnbindReason::Transferred,
        };
        assert_eq!(serde_json::to_value(gone).unwrap()["reason"], "transferred");
        for r in [TerminalRole::Main, TerminalRole::Secondary] {
            assert_eq!(TerminalRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            serde_json::to_value(TerminalStatus::Frozen).unwrap(),
            TerminalStatus::Frozen.as_str()
        );
        // An update replaces alias and role; left-out nullable fields are null.
        let u: UpdateTerminal = serde_json::from_str(r#"{"role":"main"}"#).unwrap();
        assert_eq!((u.alias, u.main_sn), (None, None));
        assert!(serde_json::from_str::<UpdateTerminal>(r#"{"alias":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<UpdateTerminal>(r#"{"role":"main","status":"frozen"}"#).is_err()
        );
        assert!(serde_json::from_str::<UpdateTerminal>(r#"{"role":"spare"}"#).is_err());
        assert!(
            serde_json::from_str::<sandbox::TransferTerminal>(r#"{"sn":"x","to":"y"}"#).is_err()
        );
    }

    #[test]
    fn typed_serials_are_squeezed_before_their_rules() {
        assert_eq!(
            squeeze_serial(" lkl-a800 1234 55\t").as_deref(),
            Some("LKLA800123455")
        );
        assert_eq!(squeeze_serial("").as_deref(), Some(""));
        // Full-width characters are left for the serial rules to refuse.
        assert_eq!(squeeze_serial("ＬKL").as_deref(), Some("ＬKL"));
        assert_eq!(squeeze_serial(&"1".repeat(SERIAL_TEXT_MAX + 1)), None);
        assert!(squeeze_serial(&"-".repeat(SERIAL_TEXT_MAX)).is_some());
        assert_eq!(ble::SERVICE_UUID.len(), 36);
        assert_eq!(ble::SERIAL_NUMBER_STRING, 0x2A25);
    }

    #[test]
    fn forms_refuse_unknown_fields() {
        let err = serde_json::from_str::<ApplicationForm>(r#"{"kind":"micro","nickname":"x"}"#);
        assert!(err.is_err());
        let ok: ApplicationForm =
            serde_json::from_str(r#"{"kind":"micro","shop_name":"老王面馆"}"#).unwrap();
        assert_eq!(ok.kind, MerchantKind::Micro);
        assert!(serde_json::from_str::<ApplicationForm>(r#"{"shop_name":"x"}"#).is_err());
        assert_eq!(ok.shop_name.as_deref(), Some("老王面馆"));
        assert!(serde_json::from_str::<BindTerminal>(r#"{"serial":"x"}"#).is_err());
    }
}
