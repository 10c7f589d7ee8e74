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
//! (`legal_name_masked`, `id_number_masked`, `account_number_masked`, ...) and
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
    APPLICATION_LOCKED = 409, "application.locked", "申请正在审核或已审核通过，不能修改", "The application is under review or approved and can no longer be changed";
    APPLICATION_INCOMPLETE = 400, "application.incomplete", "申请资料不完整", "The application is incomplete";
    APPLICATION_NOT_APPROVED = 409, "application.not_approved", "申请尚未审核通过", "The application has not been approved";
    MERCHANT_NOT_ACTIVE = 409, "merchant.not_active", "商户尚未激活", "The merchant is not active yet";
    DOCUMENT_KIND_UNKNOWN = 400, "document.kind_unknown", "不支持的资料类型", "No such document kind";
    DOCUMENT_NOT_APPLICABLE = 400, "document.not_applicable", "该商户类型或结算账户无需此类资料", "This document does not apply to this kind of merchant or settlement account";
    DOCUMENT_TYPE_UNSUPPORTED = 415, "document.type_unsupported", "仅支持 JPEG 或 PNG 图片（签名须为 PNG）", "Only JPEG or PNG images (a signature must be PNG)";
    DOCUMENT_TOO_LARGE = 413, "document.too_large", "图片过大，最大 2 MB", "The image is larger than 2 MB";
    DOCUMENT_CONTENT_MISMATCH = 400, "document.content_mismatch", "图片内容与类型不符或不完整", "The bytes are not a whole image of the declared type";
    AGREEMENT_VERSION_OUTDATED = 409, "agreement.version_outdated", "协议已更新，请重新阅读后签署", "The agreement has a newer version; read and sign that";
    AGREEMENT_TEXT_MISMATCH = 400, "agreement.text_mismatch", "协议内容摘要不符", "The agreement text digest does not match";
    AGREEMENT_SIGNATURE_MISSING = 409, "agreement.signature_missing", "请先上传手写签名", "Upload the handwritten signature first";
    AGREEMENT_IMAGE_MISMATCH = 400, "agreement.image_mismatch", "签名图片摘要与已上传的手写签名不符", "The signature image digest is not that of the uploaded signature";
    AGREEMENT_DEVICE_MISMATCH = 403, "agreement.device_mismatch", "签署设备须为发起请求的本商户已登记设备", "The signing device must be the requesting device, registered to this merchant";
    AGREEMENT_DEVICE_SIGNATURE_INVALID = 400, "agreement.device_signature_invalid", "设备签名校验失败", "The device signature of the agreement does not verify";
    AGREEMENT_SIGNED_AT_STALE = 400, "agreement.signed_at_stale", "签署时间与平台时间相差超过 5 分钟，请校准手机时间", "The signing time is more than 300 s from the platform's clock";
    AGREEMENT_NOT_SIGNED = 404, "agreement.not_signed", "协议尚未签署", "The agreement has not been signed";
    ACTIVATION_CODE_WRONG = 400, "activation.code_wrong", "激活码错误", "The activation code is wrong";
    ACTIVATION_CODE_EXPIRED = 400, "activation.code_expired", "激活码已过期，请重新获取", "The activation code has expired; ask for a new one";
    ACTIVATION_ATTEMPTS_EXCEEDED = 429, "activation.attempts_exceeded", "激活码错误次数过多，请重新获取", "Too many wrong activation codes; ask for a new one";
    ACTIVATION_RESEND_TOO_SOON = 429, "activation.resend_too_soon", "激活码发送过于频繁，请稍后再试", "An activation code was sent moments ago; try later";
    ACTIVATION_IDENTITY_MISMATCH = 400, "activation.identity_mismatch", "身份证号后六位不符", "The last 6 characters of the ID number do not match";
    ACTIVATION_RECOVER_LOCKED = 429, "activation.recover_locked", "核验错误次数过多，请 30 分钟后再试", "Too many mismatches; recovery is locked for 30 minutes";
    LOOKUP_PARENT_UNKNOWN = 404, "lookup.parent_unknown", "上级代码不存在", "No such parent code in the lookup";
    CARD_BIN_PREFIX_INVALID = 400, "card_bin.prefix_invalid", "卡号前缀应为 6 至 10 位数字", "The card prefix must be 6 to 10 digits";
    TERMINAL_NOT_FOUND = 404, "terminal.not_found", "终端不存在，请核对序列号", "No terminal has this serial number";
    TERMINAL_OWNED_BY_OTHER = 409, "terminal.owned_by_other", "该终端已绑定其他商户，不能绑定", "The terminal is bound to another merchant";
    TERMINAL_QR_INVALID = 400, "terminal.qr_invalid", "不是有效的终端背面二维码", "This is not a valid terminal back QR";
    TERMINAL_SN_INVALID = 400, "terminal.sn_invalid", "终端序列号格式不正确", "The serial number is not well formed";
    TERMINAL_MAIN_HAS_SECONDARIES = 409, "terminal.main_has_secondaries", "该正机下还有副机，请先将副机改挂其他正机、设为正机或解绑", "This main terminal still has secondary terminals; move or unbind them first";
    REFUND_EXCEEDS_REFUNDABLE = 409, "refund.exceeds_refundable", "退款金额超过可退金额", "The refund is above what is left to refund";
    REFUND_NOT_PAID = 409, "refund.not_paid", "该交易未支付成功，不能退款", "Only a paid sale can be refunded";
    REFUND_NOT_A_SALE = 409, "refund.not_a_sale", "撤销或退货记录不能再退款", "A void or refund record cannot be refunded";
    VOID_NOT_CARD = 409, "void.not_card", "扫码交易不能撤销，请使用退款", "A scan-code trade cannot be voided; refund it";
    VOID_DAY_OVER = 409, "void.day_over", "只能撤销当日交易，请使用退款", "Only a trade of the current business day can be voided; refund it";
    VOID_DAY_SETTLED = 409, "void.day_settled", "该交易所在日已结算，请使用退款", "The trade's day is settled; refund it";
    VOID_NOT_VOIDABLE = 409, "void.not_voidable", "该交易已退款、已撤销或未支付成功，不能撤销", "Only a paid sale with nothing refunded can be voided";
    STATEMENT_NOT_READY = 404, "statement.not_ready", "该日尚未结算，暂无对账单", "That day is not settled yet; there is no statement";
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
    FIELD_LICENCE_NOT_FOR_MICRO = 400, "application.licence_not_for_micro", "小微商户不填写营业执照", "A micro merchant has no business licence";
    FIELD_CORPORATE_NOT_FOR_KIND = 400, "application.corporate_not_for_kind", "对公结算账户仅限企业商户", "Only an enterprise may settle to a corporate account";
    FIELD_DATE_INVALID = 400, "date.invalid", "日期须为有效的 YYYY-MM-DD", "The date must be a real YYYY-MM-DD date";
    FIELD_VALIDITY_CONFLICT = 400, "validity.end_or_long_term", "有效期截止日期与长期有效须且只能填写其一", "Give exactly one of the end date or long-term";
    FIELD_VALIDITY_ORDER = 400, "validity.order", "有效期截止日期须晚于开始日期", "The end date must be after the start date";
    FIELD_VALIDITY_START_FUTURE = 400, "validity.start_in_future", "有效期开始日期不能晚于今天", "The start date cannot be after today";
    FIELD_REGION_UNKNOWN = 400, "region.unknown", "地区代码不存在", "No such region code";
    FIELD_REGION_NOT_NESTED = 400, "region.not_nested", "地区代码与上级地区不对应", "The region is not under the region above it";
    FIELD_MCC_UNKNOWN = 400, "mcc.unknown", "经营类目不存在", "No such merchant category code";
    FIELD_COORDINATE_INVALID = 400, "coordinate.invalid", "经纬度须为范围内的十进制数", "The coordinate must be a decimal number in range";
    FIELD_ACCOUNT_NUMBER_INVALID = 400, "account.number_invalid", "对公账号须为 8 至 30 位数字", "A corporate account number is 8 to 30 digits";
    FIELD_BRANCH_UNKNOWN = 400, "branch.unknown", "开户支行联行号不存在", "No such bank branch code";
    FIELD_BRANCH_BANK_MISMATCH = 400, "branch.bank_mismatch", "开户支行与结算卡的发卡行不符", "The branch is not of the card's bank";
    FIELD_ID_LAST6 = 400, "activation.id_suffix_invalid", "请输入身份证号后六位", "Give the last 6 characters of the ID number";
    FIELD_LOOKUP_CODE = 400, "lookup.code_invalid", "代码格式不正确", "The code is not well formed";
    FIELD_ONE_OF_SN_QR = 400, "terminal.sn_or_qr", "请提供终端序列号或背面二维码其中之一", "Give exactly one of sn or qr_text";
    FIELD_TERMINAL_MAIN_INVALID = 400, "terminal.main_invalid", "副机须挂在本商户的另一台正机下", "A secondary terminal must name another main terminal of the same merchant";
    FIELD_REFUND_ZERO = 400, "refund.amount_zero", "退款金额须大于零", "The refund amount must be above zero";
    FIELD_PAGE_CURSOR = 400, "page.cursor_invalid", "分页游标无效", "The page cursor is not valid";
    FIELD_PAGE_LIMIT = 400, "page.limit_invalid", "每页条数须为 1 至 200", "The page limit must be 1 to 200";
    FIELD_TIME = 400, "filter.time_invalid", "时间须为带时区的 RFC 3339 格式", "The time must be RFC 3339 with an offset";
    FIELD_DATE = 400, "filter.date_invalid", "日期须为 YYYY-MM-DD", "The date must be YYYY-MM-DD";
    FIELD_RANGE = 400, "filter.range_invalid", "开始时间须早于结束时间", "The start must be before the end";
    FIELD_CHANNEL = 400, "filter.channel_invalid", "支付渠道无效", "No such channel";
    FIELD_FEED_AFTER = 400, "feed.after_invalid", "变更序号须为非负整数", "after must be a whole number, 0 or more";
    FIELD_SEED_COUNT = 400, "seed.count_invalid", "生成笔数须为 1 至 2,000,000", "count must be 1 to 2,000,000";
    FIELD_SEED_DAYS = 400, "seed.days_invalid", "天数须为 1 至 3,660", "days must be 1 to 3,660";
}

// Review outcomes: the `code` of a [`Rejection`] in an application the review
// refused (they arrive inside a 200 answer, hence the status).
domain_codes! { REVIEW_CODES:
    REVIEW_IDENTITY_MISMATCH = 200, "review.identity_mismatch", "身份信息核验不一致", "The name and ID number did not pass the identity check";
    REVIEW_APPLICANT_UNDERAGE = 200, "review.applicant_underage", "经营者须年满 18 周岁", "The applicant must be at least 18";
    REVIEW_CARD_NOT_DEBIT = 200, "review.settlement_card_not_debit", "结算卡须为借记卡", "The settlement card must be a debit card";
    REVIEW_CARD_BANK_UNKNOWN = 200, "review.settlement_card_bank_unknown", "无法识别结算卡的发卡行", "The settlement card's bank is not known";
    REVIEW_SHOP_NAME_REFUSED = 200, "review.shop_name_refused", "商户名称不合规", "The shop name is not acceptable";
    REVIEW_ID_EXPIRED = 200, "review.id_expired", "身份证已过有效期", "The ID card has expired";
    REVIEW_LICENCE_EXPIRED = 200, "review.licence_expired", "营业执照已过营业期限", "The business licence has expired";
    REVIEW_LICENCE_MISMATCH = 200, "review.licence_mismatch", "营业执照信息核验不一致", "The licence did not pass the registry check";
    REVIEW_HOLDER_NOT_LEGAL_PERSON = 200, "review.holder_not_legal_person", "对私结算账户须为经营者本人名下", "A personal account must be in the legal person's own name";
    REVIEW_HOLDER_NOT_REGISTERED_NAME = 200, "review.holder_not_registered_name", "对公结算账户户名须与营业执照名称一致", "A corporate account's holder must be the licence's registered name";
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
    pub const GET_AGREEMENT_RECORD: Route = Route::new(
        "GET",
        "/v1/applications/{application_id}/agreement",
        Session,
    );
    pub const SUBMIT_APPLICATION: Route =
        Route::new("POST", "/v1/applications/{application_id}/submit", Session).idempotent();
    pub const SEND_ACTIVATION_CODE: Route = Route::new(
        "POST",
        "/v1/applications/{application_id}/activation-code",
        Session,
    )
    .idempotent();
    pub const RECOVER_ACTIVATION_CODE: Route = Route::new(
        "POST",
        "/v1/applications/{application_id}/activation-code/recover",
        Session,
    )
    .idempotent();
    pub const REGIONS: Route = Route::new("GET", "/v1/regions", Session);
    pub const MCC: Route = Route::new("GET", "/v1/mcc", Session);
    pub const BANK_BRANCHES: Route = Route::new("GET", "/v1/bank-branches", Session);
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
    pub const TRADE_CHANGES: Route = Route::new("GET", "/v1/trades/changes", Session);
    pub const VOID: Route = Route::new("POST", "/v1/trades/{trade_id}/void", Session).idempotent();
    pub const STATEMENT: Route = Route::new("GET", "/v1/settlements/{date}/statement", Session);

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
    pub const SANDBOX_SEED_TRADES: Route = Route::new("POST", "/sandbox/trades/seed", Open);
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
        GET_AGREEMENT_RECORD,
        SUBMIT_APPLICATION,
        SEND_ACTIVATION_CODE,
        RECOVER_ACTIVATION_CODE,
        ACTIVATE,
        REGIONS,
        MCC,
        BANK_BRANCHES,
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
        TRADE_CHANGES,
        VOID,
        STATEMENT,
        SANDBOX_TERMINALS,
        SANDBOX_TERMINAL_BACK_PHOTO,
        SANDBOX_FREEZE_TERMINAL,
        SANDBOX_TRANSFER_TERMINAL,
        SANDBOX_ACTIVATE_MERCHANT,
        SANDBOX_TRADES,
        SANDBOX_TRADE_STREAM,
        SANDBOX_SEED_TRADES,
        SANDBOX_TRADE_STREAM_STOP,
        SANDBOX_REFUNDS,
        SANDBOX_SETTLEMENTS,
    ];
}

// ---------------------------------------------------------------------------
// Onboarding
// ---------------------------------------------------------------------------

/// What kind of merchant applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MerchantKind {
    /// 小微商户: a person without a business licence.
    Micro,
    /// 个体工商户: a sole trader with a business licence.
    IndividualBusiness,
    /// 企业: a company with a business licence.
    Enterprise,
}

impl MerchantKind {
    pub const ALL: [MerchantKind; 3] = [
        MerchantKind::Micro,
        MerchantKind::IndividualBusiness,
        MerchantKind::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MerchantKind::Micro => "micro",
            MerchantKind::IndividualBusiness => "individual_business",
            MerchantKind::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether this kind has a business licence (and must give it).
    pub fn has_licence(self) -> bool {
        !matches!(self, MerchantKind::Micro)
    }

    /// Whether this kind may settle to a corporate (对公) account.
    pub fn allows_corporate_account(self) -> bool {
        matches!(self, MerchantKind::Enterprise)
    }
}

/// The settlement account's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// 对私: a debit card in the legal person's own name.
    Personal,
    /// 对公: the company's bank account (enterprise only), in the licence's
    /// registered name.
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

/// Where an application stands.
///
/// `draft ─submit→ under_review ─review→ rejected | approved ─activate→ activated`;
/// a `rejected` application goes back to `draft` when changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Being filled in; can be changed and submitted.
    Draft,
    /// Submitted; the review decides by `review_due_at`. Locked meanwhile.
    UnderReview,
    /// Refused by the review; `rejections` says why. Can be changed and
    /// submitted again (same application id).
    Rejected,
    /// Passed the review; an activation code was sent by SMS.
    Approved,
    /// The activation code was entered: the merchant can take payments.
    Activated,
}

impl ApplicationStatus {
    pub const ALL: [ApplicationStatus; 5] = [
        ApplicationStatus::Draft,
        ApplicationStatus::UnderReview,
        ApplicationStatus::Rejected,
        ApplicationStatus::Approved,
        ApplicationStatus::Activated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Draft => "draft",
            ApplicationStatus::UnderReview => "under_review",
            ApplicationStatus::Rejected => "rejected",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::Activated => "activated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// 法人/经营者: the person behind the merchant, as on the ID card.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalPersonForm {
    /// 姓名, as on the ID card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 居民身份证号码 (GB 11643, 18 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// 有效期起 `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_valid_from: Option<String>,
    /// 有效期至 `YYYY-MM-DD`; exactly one of this and `id_long_term: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_valid_until: Option<String>,
    /// 长期有效.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_long_term: Option<bool>,
}

/// 营业执照 (individual business and enterprise only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceForm {
    /// 统一社会信用代码 (GB 32100, 18 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
    /// 名称: the registered name on the licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_name: Option<String>,
    /// 成立日期/营业期限起 `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// 营业期限至 `YYYY-MM-DD`; exactly one of this and `long_term: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// 长期.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_term: Option<bool>,
}

/// 经营信息: the shop as payers see it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopForm {
    /// 商户简称: printed on receipts (at most 40 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Province code (GB/T 2260, six digits) from `GET /v1/regions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_code: Option<String>,
    /// City code under the province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_code: Option<String>,
    /// District code under the city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district_code: Option<String>,
    /// 详细地址 (street and number; at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// 经营类目: a four-digit MCC from `GET /v1/mcc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<String>,
    /// Decimal degrees, `-180`..=`180`, as text (`"104.0657"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<String>,
    /// Decimal degrees, `-90`..=`90`, as text (`"30.6598"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<String>,
}

/// 结算账户.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountType>,
    /// Personal: the debit card number (15–19 digits, Luhn). Corporate: the
    /// account number (8–30 digits, no check digit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    /// 开户名: the legal person's name (personal) or the licence's
    /// registered name (corporate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    /// 开户支行联行号 (12 digits) from `GET /v1/bank-branches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_code: Option<String>,
    /// 银行预留手机号: a mainland mobile number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_mobile: Option<String>,
}

/// The body of `POST /v1/applications` and `PUT /v1/applications/{application_id}`.
///
/// Every field but `kind` may be left out while the draft is being filled
/// in; a `PUT` replaces the whole form. Fields present are checked at once
/// (formats, checksums, existence in the lookups); the review checks the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationForm {
    pub kind: MerchantKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_person: Option<LegalPersonForm>,
    /// Required for `individual_business` and `enterprise`; refused for `micro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<LicenceForm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<ShopForm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<SettlementForm>,
}

/// The form fields by their dotted names, as `missing`, `fields` and
/// `rejections` name them.
pub mod form_fields {
    pub const KIND: &str = "kind";
    pub const LEGAL_NAME: &str = "legal_person.name";
    pub const ID_NUMBER: &str = "legal_person.id_number";
    pub const ID_VALID_FROM: &str = "legal_person.id_valid_from";
    pub const ID_VALID_UNTIL: &str = "legal_person.id_valid_until";
    pub const ID_LONG_TERM: &str = "legal_person.id_long_term";
    pub const LICENCE: &str = "licence";
    pub const CREDIT_CODE: &str = "licence.credit_code";
    pub const REGISTERED_NAME: &str = "licence.registered_name";
    pub const LICENCE_VALID_FROM: &str = "licence.valid_from";
    pub const LICENCE_VALID_UNTIL: &str = "licence.valid_until";
    pub const LICENCE_LONG_TERM: &str = "licence.long_term";
    pub const SHOP_NAME: &str = "shop.name";
    pub const PROVINCE: &str = "shop.province_code";
    pub const CITY: &str = "shop.city_code";
    pub const DISTRICT: &str = "shop.district_code";
    pub const STREET: &str = "shop.street";
    pub const MCC: &str = "shop.mcc";
    pub const LONGITUDE: &str = "shop.longitude";
    pub const LATITUDE: &str = "shop.latitude";
    pub const ACCOUNT_TYPE: &str = "settlement.account_type";
    pub const ACCOUNT_NUMBER: &str = "settlement.account_number";
    pub const HOLDER_NAME: &str = "settlement.holder_name";
    pub const BRANCH_CODE: &str = "settlement.branch_code";
    pub const RESERVED_MOBILE: &str = "settlement.reserved_mobile";
    /// The e-signed agreement, in `missing`.
    pub const AGREEMENT: &str = "agreement";
}

/// A document photo, as `PUT /v1/applications/{application_id}/documents/{kind}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
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
    /// 收银台照.
    Checkstand,
    /// The merchant's handwritten signature, for the agreement (PNG).
    Signature,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 9] = [
        DocumentKind::IdFront,
        DocumentKind::IdBack,
        DocumentKind::BankCard,
        DocumentKind::Licence,
        DocumentKind::OpeningPermit,
        DocumentKind::ShopFront,
        DocumentKind::ShopInside,
        DocumentKind::Checkstand,
        DocumentKind::Signature,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdFront => "id_front",
            DocumentKind::IdBack => "id_back",
            DocumentKind::BankCard => "bank_card",
            DocumentKind::Licence => "licence",
            DocumentKind::OpeningPermit => "opening_permit",
            DocumentKind::ShopFront => "shop_front",
            DocumentKind::ShopInside => "shop_inside",
            DocumentKind::Checkstand => "checkstand",
            DocumentKind::Signature => "signature",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether a merchant of `kind` settling to an account of `account`
    /// (`None`: not chosen yet) needs (and may upload) this document.
    /// `bank_card` and `opening_permit` apply once the account type is
    /// known; while it is not, either may be uploaded.
    pub fn applies(self, kind: MerchantKind, account: Option<AccountType>) -> bool {
        match self {
            DocumentKind::Licence => kind.has_licence(),
            DocumentKind::BankCard => account != Some(AccountType::Corporate),
            DocumentKind::OpeningPermit => {
                kind.allows_corporate_account() && account != Some(AccountType::Personal)
            }
            _ => true,
        }
    }

    /// The documents a merchant of `kind` with an account of `account`
    /// needs, in [`DocumentKind::ALL`] order (`account` unknown counts as
    /// personal).
    pub fn required(kind: MerchantKind, account: Option<AccountType>) -> Vec<DocumentKind> {
        let account = Some(account.unwrap_or(AccountType::Personal));
        Self::ALL
            .into_iter()
            .filter(|d| d.applies(kind, account))
            .collect()
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

/// One reason the review refused an application, tied to a form field (dotted
/// name) or a document kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// A dotted form field (`settlement.holder_name`) or a document kind.
    pub field: String,
    /// Stable code, such as `review.settlement_card_not_debit`.
    pub code: String,
    pub message: String,
    pub message_en: String,
}

/// The bank of the settlement account: from the BIN table for a personal
/// card, from the branch for a corporate account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementBank {
    /// The bank's 3-digit CNAPS code (`102` for ICBC), when known.
    pub bank_code: Option<String>,
    pub bank_name: String,
    pub bank_name_en: String,
    /// `debit`, `credit` or `prepaid` for a personal card; `null` for a
    /// corporate account.
    pub card_kind: Option<String>,
    /// The branch's name, when `branch_code` is given.
    pub branch_name: Option<String>,
}

/// The legal person as the platform echoes it: personal data masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalPersonView {
    /// First and last characters, stars between (`王*明`).
    pub legal_name_masked: Option<String>,
    /// First 3, stars, last 4.
    pub id_number_masked: Option<String>,
    pub id_valid_from: Option<String>,
    pub id_valid_until: Option<String>,
    pub id_long_term: Option<bool>,
}

/// The settlement account as the platform echoes it: personal data masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementView {
    pub account_type: Option<AccountType>,
    /// First 6, stars, last 4 (a corporate account: first 4, stars, last 4).
    pub account_number_masked: Option<String>,
    /// A personal holder masked like a legal name; a corporate holder (a
    /// company name) as given.
    pub holder_name_masked: Option<String>,
    pub branch_code: Option<String>,
    /// First 3, stars, last 4.
    pub reserved_mobile_masked: Option<String>,
}

/// An onboarding application as the platform keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub application_id: String,
    pub status: ApplicationStatus,
    pub kind: MerchantKind,
    /// `null` when the form has no `legal_person`.
    pub legal_person: Option<LegalPersonView>,
    /// The licence as given (not personal data); `null` when absent.
    pub licence: Option<LicenceForm>,
    /// The shop as given; `null` when absent.
    pub shop: Option<ShopForm>,
    pub settlement: Option<SettlementView>,
    /// `null` while the bank cannot be told (no account, an unknown BIN, no
    /// branch for a corporate account).
    pub settlement_bank: Option<SettlementBank>,
    pub documents: Vec<Document>,
    /// The signed agreement record, once signed (and still current).
    pub agreement: Option<AgreementRecord>,
    /// What a submit still needs: dotted form fields, document kinds,
    /// `agreement`, in a fixed order. Empty from `under_review` on.
    pub missing: Vec<String>,
    /// Why the last review refused it (empty unless `rejected`).
    pub rejections: Vec<Rejection>,
    pub created_at: String,
    pub updated_at: String,
    pub submitted_at: Option<String>,
    /// When the review will have decided (only while `under_review`).
    pub review_due_at: Option<String>,
    pub reviewed_at: Option<String>,
    /// When the last activation code was texted (approved and after).
    pub activation_code_sent_at: Option<String>,
    /// While lost-code recovery is locked after 5 identity mismatches:
    /// when it unlocks.
    pub recovery_locked_until: Option<String>,
    pub activated_at: Option<String>,
}

// ---------------------------------------------------------------------------
// Onboarding lookups
// ---------------------------------------------------------------------------

/// The query of `GET /v1/regions` and `GET /v1/mcc`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// One node of the region tree (GB/T 2260).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Six digits, such as `510107`.
    pub code: String,
    pub name: String,
    /// `province`, `city` or `district`.
    pub level: String,
    /// Whether `GET /v1/regions?parent=<code>` lists anything.
    pub has_children: bool,
}

/// `GET /v1/regions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionList {
    /// The data's version: a cached answer with the same version is current.
    pub version: String,
    /// The parent asked for (`null`: the provinces).
    pub parent: Option<String>,
    pub items: Vec<Region>,
}

/// One node of the MCC tree: a category or a four-digit MCC (ISO 18245).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MccNode {
    /// A category code (`catering`) or an MCC (`5812`).
    pub code: String,
    pub name: String,
    pub name_en: String,
    /// `category` or `mcc`.
    pub level: String,
    pub has_children: bool,
}

/// `GET /v1/mcc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MccList {
    pub version: String,
    pub parent: Option<String>,
    pub items: Vec<MccNode>,
}

/// The query of `GET /v1/bank-branches`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankBranchQuery {
    /// A 3-digit bank code (`102`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
    /// A province or city code: branches in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// One bank branch (开户支行) with its 12-digit 联行号.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankBranch {
    /// 联行号: bank code (3) + city code (4) + branch (4) + check (1).
    pub branch_code: String,
    pub name: String,
    pub bank_code: String,
    pub bank_name: String,
    /// The city (GB/T 2260) the branch is in.
    pub region_code: String,
}

/// `GET /v1/bank-branches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankBranchList {
    pub version: String,
    pub items: Vec<BankBranch>,
}

// ---------------------------------------------------------------------------
// The agreement (e-signature)
// ---------------------------------------------------------------------------

/// `GET /v1/agreements/current`: the merchant agreement (商户服务协议) to
/// sign, with the merchant's own fee clauses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub version: String,
    pub title: String,
    /// [`agreement_text`] of the merchant's rates.
    pub text: String,
    /// Lowercase hex SHA-256 of `text` as UTF-8: the signature binds this.
    pub text_sha256: String,
    /// The rates the fee clauses name.
    pub rates: Vec<ChannelRate>,
}

/// The body of `POST /v1/applications/{application_id}/agreement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignAgreement {
    pub version: String,
    pub text_sha256: String,
    /// Lowercase hex SHA-256 of the uploaded `signature` document.
    pub signature_image_sha256: String,
    /// Unix seconds, within ±300 s of the platform's clock.
    pub signed_at: i64,
    /// The signing device's serial_no (32 hex).
    pub device_serial: String,
    /// Base64 DER ECDSA P-256 SHA-256 signature of [`agreement_envelope`].
    pub device_signature: String,
}

/// The signed agreement record: the merchant's device signature, countersigned
/// by the platform. [`verify_agreement_record`] checks it offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementRecord {
    pub signature_id: String,
    pub application_id: String,
    pub version: String,
    pub text_sha256: String,
    pub signature_image_sha256: String,
    /// Unix seconds, as the device signed.
    pub signed_at: i64,
    pub device_serial: String,
    /// Base64 of the device's 65-byte public key point.
    pub device_public_key: String,
    /// Base64 DER ECDSA signature of the envelope.
    pub device_signature: String,
    /// Unix seconds, when the platform countersigned.
    pub platform_signed_at: i64,
    /// The platform key's serial (fingerprint of its PKCS#1 DER).
    pub platform_key_serial: String,
    /// Base64 RSA PKCS#1 v1.5 SHA-256 signature of [`agreement_record_text`].
    pub platform_signature: String,
}

pub use crate::agreement::{
    AGREEMENT_ENVELOPE_TAG, AGREEMENT_TITLE, AGREEMENT_VERSION, AgreementRecordError,
    agreement_envelope, agreement_record_text, agreement_text, verify_agreement_record,
    verify_device_signature,
};

/// The body of `POST /v1/applications/{application_id}/activation-code/recover`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverActivationCode {
    /// The last 6 characters of the legal person's ID number (`x` or `X`).
    pub id_last6: String,
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

/// What a trade record is: a sale, or a void (撤销) or refund (退货) of one,
/// each its own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeKind {
    /// 消费: a card sale or a scan-code payment.
    Sale,
    /// 撤销: a card sale cancelled whole on its own business day before
    /// settlement; its fee is returned in full.
    Void,
    /// 退货: all or part of a sale given back.
    Refund,
}

/// Where a trade record stands. A sale moves `pending` → `success` |
/// `failed` | `closed`, then `success` → `partially_refunded` → `refunded`,
/// or `success` → `voided`. A void or refund record is `success` (or
/// `pending` → `success` | `failed`). A status never moves back: the order of
/// [`TradeStatus::rank`] is the order a record may move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStatus {
    /// A scan code shown or a card read; not paid yet.
    Pending,
    Success,
    /// The payment was declined.
    Failed,
    /// An unpaid scan code expired.
    Closed,
    PartiallyRefunded,
    Refunded,
    /// Cancelled whole by a void.
    Voided,
}

impl TradeStatus {
    /// Every status, in wire form order.
    pub const ALL: [TradeStatus; 7] = [
        TradeStatus::Pending,
        TradeStatus::Success,
        TradeStatus::Failed,
        TradeStatus::Closed,
        TradeStatus::PartiallyRefunded,
        TradeStatus::Refunded,
        TradeStatus::Voided,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Pending => "pending",
            TradeStatus::Success => "success",
            TradeStatus::Failed => "failed",
            TradeStatus::Closed => "closed",
            TradeStatus::PartiallyRefunded => "partially_refunded",
            TradeStatus::Refunded => "refunded",
            TradeStatus::Voided => "voided",
        }
    }

    /// The status of a wire name.
    pub fn parse(name: &str) -> Option<TradeStatus> {
        TradeStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a record may move from `self` to `next` (staying is allowed).
    pub fn may_become(self, next: TradeStatus) -> bool {
        use TradeStatus::*;
        self == next
            || matches!(
                (self, next),
                (Pending, Success | Failed | Closed)
                    | (Success, PartiallyRefunded | Refunded | Voided)
                    | (PartiallyRefunded, Refunded)
            )
    }

    /// Whether the money moved: paid, whether or not later given back.
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            TradeStatus::Success
                | TradeStatus::PartiallyRefunded
                | TradeStatus::Refunded
                | TradeStatus::Voided
        )
    }
}

impl TradeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeKind::Sale => "sale",
            TradeKind::Void => "void",
            TradeKind::Refund => "refund",
        }
    }

    /// The kind of a wire name.
    pub fn parse(name: &str) -> Option<TradeKind> {
        [TradeKind::Sale, TradeKind::Void, TradeKind::Refund]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
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

/// One trade record: a sale (消费 by card, or a scan-code payment), or a void
/// or refund of one ([`TradeKind`]). The record as it stands now; every
/// change to it (paid, closed, refunded, voided) gives it a new
/// `change_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// 订单号: `T` + 20 digits for a sale, `V…` for a void, `R…` for a refund.
    pub trade_id: String,
    pub kind: TradeKind,
    /// A void or refund: the sale it gives back. `null` for a sale.
    pub original_trade_id: Option<String>,
    pub channel: String,
    /// A sale: what the customer paid. A void or refund: what was given back
    /// (positive).
    pub amount: String,
    /// A sale: the fee the platform took. A void or refund: the fee returned
    /// with it (positive).
    pub fee: String,
    /// The rate (percent) the sale's fee was computed with.
    pub rate: String,
    pub status: TradeStatus,
    /// A sale: the sum of its refunds so far (a void gives back all of it
    /// without counting here). `0.00` for a void or refund record.
    pub refunded_amount: String,
    pub terminal_sn: String,
    /// 商户编号 the trade was routed under (normally the merchant's own): 15
    /// characters, 3 acquirer, 4 region, 4 MCC (digits 8–11), 4 sequence.
    pub merchant_no: String,
    /// 商户名称 printed on the receipt for that merchant code.
    pub merchant_name: String,
    /// Card trades only.
    pub card: Option<CardRef>,
    /// Scan-code trades only: an opaque token of the paying account, the same
    /// for the same payer at the same merchant (no personal data).
    pub payer: Option<String>,
    /// 参考号 (12 digits).
    pub reference_no: String,
    /// 批次号 (6 digits).
    pub batch_no: String,
    /// 凭证号 (6 digits).
    pub voucher_no: String,
    /// 流水号 (14 digits).
    pub log_no: String,
    /// The business day (China time, `YYYY-MM-DD`) the record counts in.
    pub business_date: String,
    pub created_at: String,
    /// When the record last changed (equal to `created_at` until it does).
    pub updated_at: String,
    /// The record's place in the merchant's change feed: one counter per
    /// merchant, given anew to the record on its insert and on every change
    /// of it, so it is the sequence of the record's latest change.
    pub change_seq: u64,
}

/// A page of `GET /v1/trades/changes`: the records that changed after
/// `after`, in change order, each as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeChanges {
    pub changes: Vec<Trade>,
    /// The `change_seq` of the last record given (or `after` itself when the
    /// page is empty): the next page's `after`.
    pub next_after: u64,
    /// Whether more changes are waiting after this page.
    pub has_more: bool,
    /// How many of the merchant's records hold a `change_seq` above
    /// `next_after` (0 on the last page): exact when answered, though
    /// records may change meanwhile.
    pub remaining: u64,
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

/// The body of `POST /v1/trades/{trade_id}/void` (with an Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// At most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to a void and the body of `trade.voided`: the sale, now
/// `voided`, and the void's own record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeVoided {
    pub trade: Trade,
    pub void: Trade,
}

/// The answer to a refund and the body of `trade.refunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRefunded {
    /// The sale, updated (`partially_refunded` or `refunded`).
    pub trade: Trade,
    pub refund: Refund,
    /// The refund's own record (kind `refund`, `trade_id` the refund's id),
    /// as the change feed carries it.
    pub record: Trade,
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

    use super::{Settlement, Terminal, TerminalStatus, Trade, TradeStatus};

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
        /// `success` (paid at once) or `pending` (paid or, for a scan code,
        /// closed 5–60 s later on the business clock). Left out, the status
        /// is drawn as the stream draws it: a scan-code trade is `pending`
        /// three times in ten, a card trade `failed` one time in fifty,
        /// otherwise `success`. An anomaly is always `success`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status: Option<TradeStatus>,
    }

    /// The answer to `POST /sandbox/trades`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct InjectedTrades {
        pub trades: Vec<Trade>,
        pub anomaly: Option<Anomaly>,
    }

    /// The body of `POST /sandbox/trades/seed`: give a merchant `count`
    /// trades spread over the `days` business days before the sandbox's
    /// today, drawn as the stream draws them (channels, amounts, cards,
    /// payers, refunds and voids, closed scan codes), at once: for benches
    /// and tests. No events are emitted; the change feed carries them all.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SeedTrades {
        pub merchant_id: String,
        /// 1..=2,000,000.
        pub count: u32,
        /// 1..=3,660 days, ending yesterday.
        pub days: u32,
        /// Settle the seeded days (default true).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub settle: Option<bool>,
    }

    /// The answer to `POST /sandbox/trades/seed`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SeededTrades {
        pub merchant_id: String,
        /// Sale records made.
        pub trades: u64,
        /// Void and refund records made.
        pub reversals: u64,
        /// The merchant's latest `change_seq` after seeding.
        pub last_change_seq: u64,
        pub elapsed_ms: u64,
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
    fn required_documents_follow_the_kind_and_the_account() {
        use AccountType::*;
        use DocumentKind::*;
        let names = |k, a| -> Vec<&str> {
            DocumentKind::required(k, a)
                .into_iter()
                .map(DocumentKind::as_str)
                .collect()
        };
        assert_eq!(
            names(MerchantKind::Micro, Some(Personal)),
            [
                "id_front",
                "id_back",
                "bank_card",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature"
            ]
        );
        assert_eq!(
            names(MerchantKind::IndividualBusiness, None),
            [
                "id_front",
                "id_back",
                "bank_card",
                "licence",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature"
            ]
        );
        assert_eq!(
            names(MerchantKind::Enterprise, Some(Corporate)),
            [
                "id_front",
                "id_back",
                "licence",
                "opening_permit",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature"
            ]
        );
        assert!(!Licence.applies(MerchantKind::Micro, None));
        assert!(!OpeningPermit.applies(MerchantKind::IndividualBusiness, None));
        assert!(OpeningPermit.applies(MerchantKind::Enterprise, None));
        assert!(!BankCard.applies(MerchantKind::Enterprise, Some(Corporate)));
        for s in ApplicationStatus::ALL {
            assert_eq!(ApplicationStatus::parse(s.as_str()), Some(s));
        }
        for k in MerchantKind::ALL {
            assert_eq!(MerchantKind::parse(k.as_str()), Some(k));
        }
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
            serde_json::from_str(r#"{"kind":"micro","shop":{"name":"老王面馆"}}"#).unwrap();
        assert_eq!(ok.kind, MerchantKind::Micro);
        assert!(serde_json::from_str::<ApplicationForm>(r#"{"shop":{"name":"x"}}"#).is_err());
        assert!(
            serde_json::from_str::<ApplicationForm>(r#"{"kind":"micro","shop":{"nick":"x"}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<ApplicationForm>(r#"{"kind":"other"}"#).is_err());
        assert_eq!(ok.shop.unwrap().name.as_deref(), Some("老王面馆"));
        let full: ApplicationForm = serde_json::from_str(
            r#"{"kind":"enterprise",
             "legal_person":{"name":"王小明","id_number":"110105198503071230","id_valid_from":"2015-03-07","id_valid_until":"2035-03-07","id_long_term":false},
             "licence":{"credit_code":"91350211MA2XXXXXXX","registered_name":"厦门某某餐饮有限公司","valid_from":"2019-01-01","valid_until":null,"long_term":true},
             "shop":{"name":"老王面馆","province_code":"510000","city_code":"510100","district_code":"510107","street":"人民南路四段1号","mcc":"5812","longitude":"104.0657","latitude":"30.6598"},
             "settlement":{"account_type":"corporate","account_number":"4402212009100012345","holder_name":"厦门某某餐饮有限公司","branch_code":"102651000017","reserved_mobile":"13800000001"}}"#,
        )
        .unwrap();
        assert_eq!(
            full.settlement.unwrap().account_type,
            Some(AccountType::Corporate)
        );
        assert_eq!(full.licence.unwrap().long_term, Some(true));
        assert!(serde_json::from_str::<BindTerminal>(r#"{"serial":"x"}"#).is_err());
    }
}
