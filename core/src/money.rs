//! Money: [`Amount`] (yuan with fen precision), [`Rate`] (a percentage),
//! [`Channel`], [`RateTable`] and fees, and the 大写 (uppercase) and spoken
//! readings of an amount.
//!
//! # Amount text
//!
//! The merchant types amounts and the platform sends them as text; both go
//! through [`Amount::parse`]:
//!
//! - Whitespace around the text is ignored, and the full-width digits, point
//!   and signs a Chinese input method types (`８５０．５`) count as ASCII.
//! - Accepted: digits with an optional point and one or two decimals: `850`,
//!   `850.5`, `850.50`. Leading zeros are harmless (`0850` is 850.00). `0` is
//!   an amount (a fee can be zero); whether a trade may be zero is the
//!   trade's rule, not the amount's.
//! - Refused, each with its own code: empty or blank text (`amount.empty`);
//!   anything else that is not such a number, for instance `.5`, `5.`,
//!   `1,000`, `1e3`, `¥5` (`amount.not_a_number`); more than two decimals,
//!   even zeros such as `1.000` (`amount.too_many_decimals`); a leading sign,
//!   `+1` or `-1` (`amount.signed`); more than 99,999,999.99 yuan
//!   (`amount.too_large`). Every problem found is listed, not only the first.
//!
//! An `Amount` crosses the FFI as its text, always with two decimals
//! (`"850.00"`), and is stored in SQLite as integer fen ([`Amount::to_fen`]).
//!
//! # Rates and fees
//!
//! A [`Rate`] is a percentage (`"0.38"` means 0.38 %) with at most four
//! decimals, from 0 to 100. A [`ChannelRate`] applies `rate` to the whole
//! amount of a trade, or `rate_above` to the whole amount when the trade is
//! above `threshold` (the seeds: scan-code 0.38 % for trades up to 1,000.00
//! yuan, 0.60 % above), and never more than `cap` a trade. Fees round half up
//! to the fen.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Code, Error, Lang, MerchantError, Problem, Result};

crate::codes! {
    AMOUNT_EMPTY = Input, "amount.empty", "金额不能为空", "The amount is empty";
    AMOUNT_NOT_A_NUMBER = Input, "amount.not_a_number", "金额只能由数字和小数点组成，如 850 或 850.50", "The amount must be digits with an optional decimal point, such as 850 or 850.50";
    AMOUNT_TOO_MANY_DECIMALS = Input, "amount.too_many_decimals", "金额最多两位小数（精确到分）", "The amount has more than two decimals (fen)";
    AMOUNT_SIGNED = Input, "amount.signed", "金额不能带正负号", "The amount must not carry a sign";
    AMOUNT_TOO_LARGE = Input, "amount.too_large", "金额不能超过 99,999,999.99 元", "The amount is above 99,999,999.99 yuan";
    AMOUNT_NEGATIVE = Input, "amount.negative", "金额不能为负数", "The amount is negative";
    RATE_EMPTY = Input, "rate.empty", "费率不能为空", "The rate is empty";
    RATE_NOT_A_NUMBER = Input, "rate.not_a_number", "费率只能由数字和小数点组成，如 0.38（表示 0.38%）", "The rate must be a percentage in digits, such as 0.38 (for 0.38 %)";
    RATE_TOO_MANY_DECIMALS = Input, "rate.too_many_decimals", "费率最多四位小数", "The rate has more than four decimals";
    RATE_NEGATIVE = Input, "rate.negative", "费率不能为负数", "The rate is negative";
    RATE_TOO_HIGH = Input, "rate.too_high", "费率不能超过 100%", "The rate is above 100 %";
    CHANNEL_UNKNOWN = Input, "channel.unknown", "未知的收款渠道", "Unknown payment channel";
    RATE_TABLE_INVALID = Input, "rate_table.invalid", "费率表有误", "The rate table is not valid";
    RATE_TABLE_MISSING_CHANNEL = Input, "rate_table.missing_channel", "费率表缺少该渠道的费率", "The rate table has no rate for this channel";
    RATE_TABLE_DUPLICATE_CHANNEL = Input, "rate_table.duplicate_channel", "费率表中该渠道出现了不止一次", "The rate table lists this channel more than once";
    RATE_TABLE_THRESHOLD_INCOMPLETE = Input, "rate_table.threshold_incomplete", "分段费率须同时给出金额门槛和门槛以上的费率", "A tiered rate needs both the threshold and the rate above it";
}

/// The largest amount, in fen: 99,999,999.99 yuan.
const MAX_FEN: i64 = 99_999_999 * 100 + 99;

/// An input error whose problems each name the whole value (empty field).
fn input_error(problems: &[&'static Code]) -> Error {
    let first = problems.first().copied().unwrap_or(&AMOUNT_NOT_A_NUMBER);
    Error::input(
        first,
        problems.iter().map(|c| Problem::new(c, "")).collect(),
    )
}

/// Trims the text and maps the full-width forms a Chinese input method types
/// (digits, point, plus, minus, percent) to ASCII.
fn normalize_number(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '．' => '.',
            '＋' => '+',
            '－' | '−' => '-',
            '％' => '%',
            other => other,
        })
        .collect()
}

/// Splits `digits[.digits]` into its integer and fraction digits; `None` for
/// anything else (including `.5` and `5.`).
fn split_decimal(s: &str) -> Option<(&str, &str)> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (s, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && digits(int) && digits(frac)).then_some((int, frac))
}

// ---------------------------------------------------------------------------
// Amount
// ---------------------------------------------------------------------------

/// A non-negative amount of yuan with exactly fen precision, at most
/// 99,999,999.99. Crosses the FFI as text with two decimals (`"850.00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

impl Amount {
    /// 0.00 yuan.
    pub const ZERO: Amount = Amount(Decimal::from_parts(0, 0, 0, false, 2));
    /// 99,999,999.99 yuan, the largest amount.
    pub const MAX: Amount = Amount(Decimal::from_parts(
        MAX_FEN as u32,
        (MAX_FEN >> 32) as u32,
        0,
        false,
        2,
    ));

    /// Parses amount text (see the module documentation for the rules).
    pub fn parse(text: &str) -> Result<Amount> {
        let s = normalize_number(text);
        if s.is_empty() {
            return Err(input_error(&[&AMOUNT_EMPTY]));
        }
        let mut problems: Vec<&'static Code> = Vec::new();
        let body = match s.strip_prefix(['+', '-']) {
            Some(rest) => {
                problems.push(&AMOUNT_SIGNED);
                rest
            }
            None => s.as_str(),
        };
        let Some((int, frac)) = split_decimal(body) else {
            problems.insert(0, &AMOUNT_NOT_A_NUMBER);
            return Err(input_error(&problems));
        };
        if frac.len() > 2 {
            problems.push(&AMOUNT_TOO_MANY_DECIMALS);
        }
        let int = int.trim_start_matches('0');
        if int.len() > 8 {
            problems.push(&AMOUNT_TOO_LARGE);
        }
        if !problems.is_empty() {
            return Err(input_error(&problems));
        }
        // At most 8 integer digits and 2 decimals: the sums below cannot overflow.
        let yuan = int.bytes().fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
        let mut fen = 0i64;
        for i in 0..2 {
            let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            fen = fen * 10 + digit;
        }
        Ok(Amount(Decimal::new(yuan * 100 + fen, 2)))
    }

    /// The amount of so many fen (分), as SQLite stores it.
    pub fn from_fen(fen: i64) -> Result<Amount> {
        if fen < 0 {
            return Err(input_error(&[&AMOUNT_NEGATIVE]));
        }
        if fen > MAX_FEN {
            return Err(input_error(&[&AMOUNT_TOO_LARGE]));
        }
        Ok(Amount(Decimal::new(fen, 2)))
    }

    /// The amount in fen (分), as SQLite stores it.
    pub fn to_fen(self) -> i64 {
        // The mantissa of a scale-2 decimal is the fen count, at most MAX_FEN.
        i64::try_from(self.0.mantissa()).unwrap_or(MAX_FEN)
    }

    /// An amount from a decimal: refuses negative values, more than two
    /// decimals (after dropping trailing zeros) and values above the maximum.
    pub fn from_decimal(value: Decimal) -> Result<Amount> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(input_error(&[&AMOUNT_NEGATIVE]));
        }
        let mut problems: Vec<&'static Code> = Vec::new();
        if value.normalize().scale() > 2 {
            problems.push(&AMOUNT_TOO_MANY_DECIMALS);
        }
        if value > Amount::MAX.0 {
            problems.push(&AMOUNT_TOO_LARGE);
        }
        if !problems.is_empty() {
            return Err(input_error(&problems));
        }
        let mut d = value.abs();
        d.rescale(2);
        Ok(Amount(d))
    }

    /// The amount as a decimal of yuan with scale 2.
    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`, or `None` above the maximum.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        Amount::from_fen(self.to_fen().checked_add(other.to_fen())?).ok()
    }

    /// `self - other`, or `None` below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        Amount::from_fen(self.to_fen().checked_sub(other.to_fen())?).ok()
    }

    /// `rate` percent of this amount, rounded half up to the fen.
    pub fn percent(self, rate: Rate) -> Amount {
        // amount <= 1e8 and rate <= 100 with four decimals: the product has at
        // most 17 significant digits, far from Decimal's 28.
        let fee = (self.0 * rate.0 / Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        // A rate of at most 100 % keeps the fee within 0..=self.
        Amount::from_decimal(fee).unwrap_or(self)
    }

    /// The uppercase (大写) reading that bills and statements require, such
    /// as 壹仟零壹拾元零壹分 for 1010.01 and 壹拾万元整 for 100000.
    pub fn in_words(self) -> String {
        upper_reading(self.to_fen().unsigned_abs())
    }

    /// The reading for voice broadcast, such as 一千零五点五元 for 1005.50.
    pub fn spoken(self) -> String {
        spoken_reading(self.to_fen().unsigned_abs())
    }
}

impl Default for Amount {
    fn default() -> Amount {
        Amount::ZERO
    }
}

impl fmt::Display for Amount {
    /// Two decimals: `850.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Amount {
    type Err = Error;
    fn from_str(s: &str) -> Result<Amount> {
        Amount::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// From text only (never a JSON number, which could be a float).
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Amount, D::Error> {
        let text = String::deserialize(d)?;
        Amount::parse(&text).map_err(|e| serde::de::Error::custom(e.code))
    }
}

uniffi::custom_type!(Amount, String, {
    lower: |amount| amount.to_string(),
    try_lift: |text| Ok(Amount::parse(&text).map_err(MerchantError::from)?),
});

// ---------------------------------------------------------------------------
// Readings
// ---------------------------------------------------------------------------

const UPPER_DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const UPPER_UNITS: [&str; 4] = ["", "拾", "佰", "仟"];
const SPOKEN_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
const SPOKEN_UNITS: [&str; 4] = ["", "十", "百", "千"];
const GROUPS: [&str; 3] = ["", "万", "亿"];

/// Reads a whole number in groups of four digits (个, 万, 亿): one 零 for
/// every run of zeros between non-zero digits, none at the end. Numbers of
/// 10^12 and above are not needed (amounts stay below 10^8 yuan) and would
/// lack their group name. `spoken` reads a leading 一十 as 十 (十元, 十五万).
fn read_integer(n: u64, digits: &[char; 10], units: &[&str; 4], spoken: bool) -> String {
    if n == 0 {
        return digits[0].to_string();
    }
    let text = n.to_string();
    let len = text.len();
    let mut out = String::new();
    let mut pending_zero = false;
    for (i, b) in text.bytes().enumerate() {
        let digit = usize::from(b - b'0');
        let pos = len - 1 - i;
        let (unit, group) = (pos % 4, pos / 4);
        if digit == 0 {
            pending_zero = true;
        } else {
            if pending_zero && !out.is_empty() {
                out.push(digits[0]);
            }
            pending_zero = false;
            let leading_ten = spoken && out.is_empty() && digit == 1 && unit == 1;
            if !leading_ten {
                out.push(digits[digit]);
            }
            out.push_str(units[unit]);
        }
        if unit == 0 && group > 0 {
            let group_value = (n / 10u64.pow(4 * group as u32)) % 10_000;
            if group_value != 0 {
                out.push_str(GROUPS.get(group).copied().unwrap_or(""));
            }
        }
    }
    out
}

/// 大写 of an amount in fen, by the rules for bills: 整 after 元 when there
/// are no 角 and 分; 零 for zeros between digits, for a zero 角 before a 分,
/// and after 元 when the 元 digit is zero and 角 follows (壹仟陆佰捌拾元零叁角贰分);
/// no 元 and no leading 零 below one yuan (伍角, 伍分); 零元整 for zero.
fn upper_reading(fen: u64) -> String {
    let (yuan, jiao, fen) = (fen / 100, (fen / 10 % 10) as usize, (fen % 10) as usize);
    if yuan == 0 && jiao == 0 && fen == 0 {
        return "零元整".to_owned();
    }
    let mut out = String::new();
    if yuan > 0 {
        out.push_str(&read_integer(yuan, &UPPER_DIGITS, &UPPER_UNITS, false));
        out.push('元');
        if jiao == 0 && fen == 0 {
            out.push('整');
            return out;
        }
        if jiao == 0 || yuan % 10 == 0 {
            out.push('零');
        }
    }
    if jiao > 0 {
        out.push(UPPER_DIGITS[jiao]);
        out.push('角');
    }
    if fen > 0 {
        out.push(UPPER_DIGITS[fen]);
        out.push('分');
    }
    out
}

/// The spoken reading of an amount in fen: the yuan as a number (零 for
/// none), then 点 and the decimals without their trailing zeros, then 元:
/// 八百五十元, 二万点零八元, 零点五元.
pub(crate) fn spoken_reading(fen: u64) -> String {
    let (yuan, jiao, fen) = (fen / 100, (fen / 10 % 10) as usize, (fen % 10) as usize);
    let mut out = read_integer(yuan, &SPOKEN_DIGITS, &SPOKEN_UNITS, true);
    if jiao != 0 || fen != 0 {
        out.push('点');
        out.push(SPOKEN_DIGITS[jiao]);
        if fen != 0 {
            out.push(SPOKEN_DIGITS[fen]);
        }
    }
    out.push('元');
    out
}

// ---------------------------------------------------------------------------
// Rate
// ---------------------------------------------------------------------------

/// A percentage from 0 to 100 with at most four decimals: `"0.38"` is
/// 0.38 %. Crosses the FFI as that text (at least two decimals: `"0.60"`);
/// a trailing `%` is accepted when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(Decimal);

impl Rate {
    /// Parses a percentage such as `0.38`, `0.6` or `0.38%`.
    pub fn parse(text: &str) -> Result<Rate> {
        let s = normalize_number(text);
        let s = s.strip_suffix('%').map(str::trim_end).unwrap_or(&s);
        if s.is_empty() {
            return Err(input_error(&[&RATE_EMPTY]));
        }
        let mut problems: Vec<&'static Code> = Vec::new();
        let body = match s.strip_prefix('-') {
            Some(rest) => {
                problems.push(&RATE_NEGATIVE);
                rest
            }
            None => s,
        };
        let Some((int, frac)) = split_decimal(body) else {
            problems.insert(0, &RATE_NOT_A_NUMBER);
            return Err(input_error(&problems));
        };
        if frac.len() > 4 {
            problems.push(&RATE_TOO_MANY_DECIMALS);
        }
        let int = int.trim_start_matches('0');
        if int.len() > 3 {
            problems.push(&RATE_TOO_HIGH);
        }
        if !problems.is_empty() {
            return Err(input_error(&problems));
        }
        let frac = &frac[..frac.len().min(4)];
        let mantissa = format!("{}{}", if int.is_empty() { "0" } else { int }, frac)
            .bytes()
            .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
        Rate::from_percent(Decimal::new(mantissa, frac.len() as u32))
    }

    /// A rate of `percent` percent.
    pub fn from_percent(percent: Decimal) -> Result<Rate> {
        if percent.is_sign_negative() && !percent.is_zero() {
            return Err(input_error(&[&RATE_NEGATIVE]));
        }
        let mut problems: Vec<&'static Code> = Vec::new();
        if percent.normalize().scale() > 4 {
            problems.push(&RATE_TOO_MANY_DECIMALS);
        }
        if percent > Decimal::ONE_HUNDRED {
            problems.push(&RATE_TOO_HIGH);
        }
        if !problems.is_empty() {
            return Err(input_error(&problems));
        }
        Ok(Rate(percent.abs().normalize()))
    }

    /// The percentage: 0.38 for 0.38 %.
    pub fn percent(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Rate {
    /// At least two decimals: `0.38`, `0.60`, `0.595`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0.normalize();
        if d.scale() < 2 {
            d.rescale(2);
        }
        write!(f, "{d}")
    }
}

impl FromStr for Rate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rate> {
        Rate::parse(s)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Rate, D::Error> {
        let text = String::deserialize(d)?;
        Rate::parse(&text).map_err(|e| serde::de::Error::custom(e.code))
    }
}

uniffi::custom_type!(Rate, String, {
    lower: |rate| rate.to_string(),
    try_lift: |text| Ok(Rate::parse(&text).map_err(MerchantError::from)?),
});

// ---------------------------------------------------------------------------
// Channel
// ---------------------------------------------------------------------------

/// How the customer paid. The serde names are the platform contract's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, uniffi::Enum,
)]
pub enum Channel {
    /// 微信支付 (scan-code).
    #[serde(rename = "wechat")]
    WeChat,
    /// 支付宝 (scan-code).
    #[serde(rename = "alipay")]
    Alipay,
    /// 银联二维码 (scan-code).
    #[serde(rename = "unionpay_qr")]
    UnionPayQr,
    /// 借记卡 (card).
    #[serde(rename = "debit_card")]
    DebitCard,
    /// 信用卡 (card).
    #[serde(rename = "credit_card")]
    CreditCard,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::WeChat,
        Channel::Alipay,
        Channel::UnionPayQr,
        Channel::DebitCard,
        Channel::CreditCard,
    ];

    /// The contract's name: `wechat`, `alipay`, `unionpay_qr`, `debit_card`,
    /// `credit_card`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WeChat => "wechat",
            Channel::Alipay => "alipay",
            Channel::UnionPayQr => "unionpay_qr",
            Channel::DebitCard => "debit_card",
            Channel::CreditCard => "credit_card",
        }
    }

    /// The channel of a contract name.
    pub fn parse(name: &str) -> Result<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| input_error(&[&CHANNEL_UNKNOWN]))
    }

    /// WeChat, Alipay and UnionPay QR are scan-code channels (扫码).
    pub fn is_scan_code(self) -> bool {
        matches!(
            self,
            Channel::WeChat | Channel::Alipay | Channel::UnionPayQr
        )
    }

    /// The name the merchant knows, as in 微信收款八百五十元.
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Channel::WeChat, Lang::Zh) => "微信",
            (Channel::Alipay, Lang::Zh) => "支付宝",
            (Channel::UnionPayQr, Lang::Zh) => "银联二维码",
            (Channel::DebitCard, Lang::Zh) => "借记卡",
            (Channel::CreditCard, Lang::Zh) => "信用卡",
            (Channel::WeChat, Lang::En) => "WeChat Pay",
            (Channel::Alipay, Lang::En) => "Alipay",
            (Channel::UnionPayQr, Lang::En) => "UnionPay QR",
            (Channel::DebitCard, Lang::En) => "Debit card",
            (Channel::CreditCard, Lang::En) => "Credit card",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Channel> {
        Channel::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Rate table and fees
// ---------------------------------------------------------------------------

/// One channel's rate: `rate` percent of the trade amount, or `rate_above`
/// percent of the whole amount when the trade is above `threshold`, and at
/// most `cap` a trade. Field names follow the platform contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ChannelRate {
    pub channel: Channel,
    /// Percent of the amount, such as `"0.38"`.
    pub rate: Rate,
    /// Trades above this amount pay `rate_above` instead of `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Amount>,
    /// The rate of trades above `threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_above: Option<Rate>,
    /// The largest fee of one trade (封顶).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Amount>,
}

impl ChannelRate {
    /// The rate that applies to a trade of `amount`.
    pub fn rate_for(&self, amount: Amount) -> Rate {
        match (self.threshold, self.rate_above) {
            (Some(threshold), Some(above)) if amount > threshold => above,
            _ => self.rate,
        }
    }

    /// The fee of a trade of `amount`: the applicable rate, rounded half up
    /// to the fen, at most the cap.
    pub fn fee(&self, amount: Amount) -> Amount {
        let fee = amount.percent(self.rate_for(amount));
        match self.cap {
            Some(cap) if fee > cap => cap,
            _ => fee,
        }
    }
}

/// The merchant's rates: one [`ChannelRate`] for each [`Channel`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct RateTable {
    pub rates: Vec<ChannelRate>,
}

impl RateTable {
    /// The seeds' standard rates: scan-code (WeChat, Alipay, UnionPay QR)
    /// 0.38 % for trades up to 1,000.00 yuan and 0.60 % above; cards 0.60 %.
    pub fn standard() -> RateTable {
        let scan = Rate(Decimal::new(38, 2));
        let card = Rate(Decimal::new(60, 2));
        let threshold = Amount(Decimal::new(1_000 * 100, 2));
        RateTable {
            rates: Channel::ALL
                .into_iter()
                .map(|channel| ChannelRate {
                    channel,
                    rate: if channel.is_scan_code() { scan } else { card },
                    threshold: channel.is_scan_code().then_some(threshold),
                    rate_above: channel.is_scan_code().then_some(card),
                    cap: None,
                })
                .collect(),
        }
    }

    /// Checks the table: every channel exactly once, and a threshold only
    /// together with its `rate_above`. Lists every problem; each problem's
    /// field is `rates.<channel>`. (Rates and amounts were checked when they
    /// were parsed: a negative rate or one above 100 % cannot exist.)
    pub fn check(&self) -> Result<()> {
        let mut problems = Vec::new();
        for channel in Channel::ALL {
            let field = format!("rates.{channel}");
            let mut entries = self.rates.iter().filter(|r| r.channel == channel);
            match (entries.next(), entries.next()) {
                (None, _) => problems.push(Problem::new(&RATE_TABLE_MISSING_CHANNEL, &field)),
                (Some(_), Some(_)) => {
                    problems.push(Problem::new(&RATE_TABLE_DUPLICATE_CHANNEL, &field))
                }
                (Some(_), None) => {}
            }
            if self
                .rates
                .iter()
                .any(|r| r.channel == channel && r.threshold.is_some() != r.rate_above.is_some())
            {
                problems.push(Problem::new(&RATE_TABLE_THRESHOLD_INCOMPLETE, &field));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::input(&RATE_TABLE_INVALID, problems))
        }
    }

    /// The rate of a channel, after checking the whole table.
    pub fn rate(&self, channel: Channel) -> Result<&ChannelRate> {
        self.check()?;
        self.rates
            .iter()
            .find(|r| r.channel == channel)
            .ok_or_else(|| Error::new(&RATE_TABLE_MISSING_CHANNEL))
    }

    /// The fee of a trade of `amount` through `channel`.
    pub fn fee(&self, channel: Channel, amount: Amount) -> Result<Amount> {
        Ok(self.rate(channel)?.fee(amount))
    }
}

// ---------------------------------------------------------------------------
// Exported functions
// ---------------------------------------------------------------------------

/// Parses amount text such as `850`, `850.5` or `850.50` (see [`Amount`]);
/// an `Input` error lists every problem.
#[uniffi::export]
pub fn parse_amount(text: String) -> Result<Amount, MerchantError> {
    Ok(Amount::parse(&text)?)
}

/// The uppercase (大写) reading of an amount: 壹仟零壹拾元零壹分.
/// Fails only when the app passes text that is not an amount.
#[uniffi::export]
pub fn amount_in_words(amount: Amount) -> Result<String, MerchantError> {
    Ok(amount.in_words())
}

/// The spoken reading of an amount for voice broadcast: 一千零五点五元.
/// Fails only when the app passes text that is not an amount.
#[uniffi::export]
pub fn amount_spoken(amount: Amount) -> Result<String, MerchantError> {
    Ok(amount.spoken())
}

/// The seeds' standard rate table (see [`RateTable::standard`]).
#[uniffi::export]
pub fn default_rate_table() -> RateTable {
    RateTable::standard()
}

/// The fee of a trade of `amount` through `channel` under `table`, rounded
/// half up to the fen. A bad table is an `Input` error listing its problems.
#[uniffi::export]
pub fn fee_for(
    table: RateTable,
    channel: Channel,
    amount: Amount,
) -> Result<Amount, MerchantError> {
    Ok(table.fee(channel, amount)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).expect("test amount parses")
    }

    fn rate(text: &str) -> Rate {
        Rate::parse(text).expect("test rate parses")
    }

    fn codes_of(e: &Error) -> Vec<String> {
        e.problems.iter().map(|p| p.code.clone()).collect()
    }

    fn refused(text: &str) -> (String, Vec<String>) {
        let e = Amount::parse(text).expect_err(text);
        assert_eq!(e.kind, crate::error::ErrorKind::Input, "{text}");
        (e.code.to_string(), codes_of(&e))
    }

    #[test]
    fn accepts_the_issue_forms_and_keeps_fen_precision() {
        assert_eq!(amount("850").to_string(), "850.00");
        assert_eq!(amount("850.5").to_string(), "850.50");
        assert_eq!(amount("850.50").to_string(), "850.50");
        assert_eq!(amount("850.5"), amount("850.50"));
        assert_eq!(amount("0").to_string(), "0.00");
        assert_eq!(amount("0.01").to_fen(), 1);
        assert_eq!(amount("99999999.99"), Amount::MAX);
        assert_eq!(amount("0850"), amount("850"));
    }

    #[test]
    fn trims_whitespace_and_reads_full_width_digits() {
        assert_eq!(amount("  850.5\t"), amount("850.50"));
        assert_eq!(amount("８５０．５"), amount("850.50"));
        assert_eq!(amount("\u{3000}12\u{3000}"), amount("12"));
    }

    #[test]
    fn refuses_each_bad_form_with_its_own_code() {
        for text in ["", "   ", "\u{3000}"] {
            assert_eq!(refused(text).0, "amount.empty", "{text:?}");
        }
        for text in [
            "abc", "1,000", "1e3", ".5", "5.", "¥5", "5元", "1 000", "1.2.3", "٣", "NaN", "0x10",
            "1_000", "+", "-",
        ] {
            assert_eq!(refused(text).0, "amount.not_a_number", "{text:?}");
        }
        for text in ["1.234", "1.000", "0.001"] {
            assert_eq!(refused(text).0, "amount.too_many_decimals", "{text:?}");
        }
        for text in ["+1", "-1", "－1", "+0"] {
            assert_eq!(refused(text).0, "amount.signed", "{text:?}");
        }
        for text in [
            "100000000",
            "100000000.00",
            "123456789012345678901234567890",
        ] {
            assert_eq!(refused(text).0, "amount.too_large", "{text:?}");
        }
    }

    #[test]
    fn lists_every_problem_at_once() {
        let (code, all) = refused("-100000000.123");
        assert_eq!(code, "amount.signed");
        assert_eq!(
            all,
            [
                "amount.signed",
                "amount.too_many_decimals",
                "amount.too_large"
            ]
        );
        assert_eq!(refused("-x").1, ["amount.not_a_number", "amount.signed"]);
    }

    #[test]
    fn fen_round_trips_and_refuses_out_of_range() {
        for fen in [0, 1, 10, 85_050, MAX_FEN] {
            assert_eq!(Amount::from_fen(fen).expect("in range").to_fen(), fen);
        }
        assert_eq!(Amount::from_fen(85_050).expect("ok").to_string(), "850.50");
        assert!(
            Amount::from_fen(-1)
                .expect_err("negative")
                .is(&AMOUNT_NEGATIVE)
        );
        assert!(
            Amount::from_fen(MAX_FEN + 1)
                .expect_err("large")
                .is(&AMOUNT_TOO_LARGE)
        );
        assert!(Amount::from_fen(i64::MIN).is_err());
        assert!(Amount::from_fen(i64::MAX).is_err());
    }

    #[test]
    fn from_decimal_checks_sign_scale_and_range() {
        assert_eq!(
            Amount::from_decimal(Decimal::new(8505, 1)).expect("ok"),
            amount("850.5")
        );
        assert_eq!(
            Amount::from_decimal(Decimal::new(1_000, 3)).expect("trailing zeros"),
            amount("1")
        );
        assert!(
            Amount::from_decimal(Decimal::new(-1, 2))
                .expect_err("neg")
                .is(&AMOUNT_NEGATIVE)
        );
        assert!(
            Amount::from_decimal(Decimal::new(1, 3))
                .expect_err("scale")
                .is(&AMOUNT_TOO_MANY_DECIMALS)
        );
        assert!(
            Amount::from_decimal(Decimal::new(100_000_000, 0))
                .expect_err("big")
                .is(&AMOUNT_TOO_LARGE)
        );
        assert_eq!(
            Amount::from_decimal(Decimal::ZERO).expect("zero"),
            Amount::ZERO
        );
        assert_eq!(Amount::ZERO.to_string(), "0.00");
        assert_eq!(Amount::MAX.to_string(), "99999999.99");
    }

    #[test]
    fn checked_arithmetic_stays_in_range() {
        assert_eq!(
            amount("1.10").checked_add(amount("2.95")),
            Some(amount("4.05"))
        );
        assert_eq!(Amount::MAX.checked_add(amount("0.01")), None);
        assert_eq!(
            amount("5").checked_sub(amount("0.01")),
            Some(amount("4.99"))
        );
        assert_eq!(amount("5").checked_sub(amount("5")), Some(Amount::ZERO));
        assert_eq!(amount("5").checked_sub(amount("5.01")), None);
    }

    #[test]
    fn serde_uses_text_and_refuses_numbers() {
        let json = serde_json::to_string(&amount("850.5")).expect("serialize");
        assert_eq!(json, "\"850.50\"");
        let back: Amount = serde_json::from_str("\"850.5\"").expect("deserialize");
        assert_eq!(back, amount("850.50"));
        assert!(serde_json::from_str::<Amount>("850.5").is_err());
        let err = serde_json::from_str::<Amount>("\"-1\"").expect_err("signed");
        assert!(err.to_string().contains("amount.signed"), "{err}");
    }

    #[test]
    fn crosses_the_ffi_as_text_and_a_bad_text_is_a_typed_error() {
        use uniffi::{Lift, Lower};
        let lowered = <Amount as Lower<crate::UniFfiTag>>::lower(amount("850.5"));
        let text = <String as Lift<crate::UniFfiTag>>::try_lift(lowered).expect("lift text");
        assert_eq!(text, "850.50");

        let good = <String as Lower<crate::UniFfiTag>>::lower("12.3".to_owned());
        let lifted = <Amount as Lift<crate::UniFfiTag>>::try_lift(good).expect("lift amount");
        assert_eq!(lifted, amount("12.30"));

        let bad = <String as Lower<crate::UniFfiTag>>::lower("12.345".to_owned());
        let err = <Amount as Lift<crate::UniFfiTag>>::try_lift(bad).expect_err("refused");
        // UniFFI hands this error to the app as a typed MerchantError when the
        // function returns Result<_, MerchantError>: it must downcast.
        let typed = err.downcast::<MerchantError>().expect("a MerchantError");
        assert_eq!(typed.code(), "amount.too_many_decimals");

        let bad_rate = <String as Lower<crate::UniFfiTag>>::lower("-1".to_owned());
        let err = <Rate as Lift<crate::UniFfiTag>>::try_lift(bad_rate).expect_err("refused");
        let typed = err.downcast::<MerchantError>().expect("a MerchantError");
        assert_eq!(typed.code(), "rate.negative");
    }

    #[test]
    fn uppercase_reading_of_the_issue_examples() {
        assert_eq!(amount("1010.01").in_words(), "壹仟零壹拾元零壹分");
        assert_eq!(amount("100000").in_words(), "壹拾万元整");
        assert_eq!(amount("0.5").in_words(), "伍角");
    }

    #[test]
    fn uppercase_reading_of_edge_cases() {
        let cases = [
            ("0", "零元整"),
            ("0.05", "伍分"),
            ("0.55", "伍角伍分"),
            ("1", "壹元整"),
            ("10", "壹拾元整"),
            ("15.80", "壹拾伍元捌角"),
            ("10.05", "壹拾元零伍分"),
            ("10.50", "壹拾元零伍角"),
            ("11.05", "壹拾壹元零伍分"),
            ("10000.5", "壹万元零伍角"),
            ("1409.50", "壹仟肆佰零玖元伍角"),
            ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
            ("6007.14", "陆仟零柒元壹角肆分"),
            ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
            ("107000.53", "壹拾万零柒仟元零伍角叁分"),
            ("100100", "壹拾万零壹佰元整"),
            ("1000001", "壹佰万零壹元整"),
            ("10010000", "壹仟零壹万元整"),
            ("99999999.99", "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ];
        for (text, words) in cases {
            assert_eq!(amount(text).in_words(), words, "{text}");
        }
        // Beyond the largest amount, the reading itself still follows the rules.
        assert_eq!(upper_reading(100_010_000 * 100), "壹亿零壹万元整");
        assert_eq!(upper_reading(100_000_000 * 100), "壹亿元整");
        assert_eq!(upper_reading(1_000_000_000 * 100), "壹拾亿元整");
    }

    #[test]
    fn spoken_reading_of_the_issue_examples() {
        assert_eq!(amount("850").spoken(), "八百五十元");
        assert_eq!(amount("1005.5").spoken(), "一千零五点五元");
        assert_eq!(amount("10").spoken(), "十元");
        assert_eq!(amount("20000.08").spoken(), "二万点零八元");
        assert_eq!(amount("850.50").spoken(), "八百五十点五元");
        assert_eq!(amount("0.5").spoken(), "零点五元");
    }

    #[test]
    fn spoken_reading_of_edge_cases() {
        let cases = [
            ("0", "零元"),
            ("0.05", "零点零五元"),
            ("0.01", "零点零一元"),
            ("1", "一元"),
            ("15", "十五元"),
            ("110", "一百一十元"),
            ("100000", "十万元"),
            ("150000", "十五万元"),
            ("100010", "十万零一十元"),
            ("10000.5", "一万点五元"),
            ("2002", "二千零二元"),
            ("99999999.99", "九千九百九十九万九千九百九十九点九九元"),
        ];
        for (text, spoken) in cases {
            assert_eq!(amount(text).spoken(), spoken, "{text}");
        }
        assert_eq!(spoken_reading(100_010_000 * 100), "一亿零一万元");
    }

    #[test]
    fn rates_parse_display_and_refuse() {
        assert_eq!(rate("0.38").to_string(), "0.38");
        assert_eq!(rate("0.6").to_string(), "0.60");
        assert_eq!(rate("0.595").to_string(), "0.595");
        assert_eq!(rate("0.38%"), rate("0.38"));
        assert_eq!(rate(" 0.38 ％"), rate("0.38"));
        assert_eq!(rate("100").to_string(), "100.00");
        assert_eq!(rate("0").to_string(), "0.00");
        let code = |t: &str| Rate::parse(t).expect_err(t).code.to_string();
        assert_eq!(code(""), "rate.empty");
        assert_eq!(code("%"), "rate.empty");
        assert_eq!(code("abc"), "rate.not_a_number");
        assert_eq!(code("+0.38"), "rate.not_a_number");
        assert_eq!(code("-0.38"), "rate.negative");
        assert_eq!(code("-"), "rate.not_a_number");
        assert_eq!(code("100.01"), "rate.too_high");
        assert_eq!(code("1000"), "rate.too_high");
        assert_eq!(code("0.12345"), "rate.too_many_decimals");
        assert!(Rate::from_percent(Decimal::new(-1, 2)).is_err());
        assert!(Rate::from_percent(Decimal::new(10001, 2)).is_err());
    }

    #[test]
    fn channels_use_the_contract_names() {
        let names: Vec<String> = Channel::ALL
            .iter()
            .map(|c| serde_json::to_string(c).expect("serialize"))
            .collect();
        assert_eq!(
            names,
            [
                "\"wechat\"",
                "\"alipay\"",
                "\"unionpay_qr\"",
                "\"debit_card\"",
                "\"credit_card\""
            ]
        );
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()).expect("parse"), c);
            assert_eq!(format!("\"{c}\""), serde_json::to_string(&c).expect("json"));
        }
        assert!(
            Channel::parse("WeChat")
                .expect_err("case")
                .is(&CHANNEL_UNKNOWN)
        );
        assert!(Channel::WeChat.is_scan_code() && !Channel::DebitCard.is_scan_code());
        assert_eq!(Channel::WeChat.label(Lang::Zh), "微信");
    }

    #[test]
    fn standard_table_follows_the_seeds() {
        let t = RateTable::standard();
        t.check().expect("standard table is valid");
        let fee = |c, a: &str| t.fee(c, amount(a)).expect("fee").to_string();
        assert_eq!(fee(Channel::WeChat, "850"), "3.23");
        assert_eq!(fee(Channel::Alipay, "100"), "0.38");
        assert_eq!(fee(Channel::UnionPayQr, "1000.00"), "3.80");
        assert_eq!(fee(Channel::WeChat, "1000.01"), "6.00");
        assert_eq!(fee(Channel::WeChat, "2000"), "12.00");
        assert_eq!(fee(Channel::DebitCard, "850"), "5.10");
        assert_eq!(fee(Channel::CreditCard, "2000"), "12.00");
        assert_eq!(fee(Channel::CreditCard, "0"), "0.00");
        assert_eq!(fee(Channel::WeChat, "1"), "0.00");
        assert_eq!(fee(Channel::WeChat, "1.32"), "0.01");
        assert_eq!(
            t.rate(Channel::WeChat)
                .expect("r")
                .rate_for(amount("1000.01")),
            rate("0.6")
        );
    }

    #[test]
    fn fees_round_half_up_not_to_even() {
        let t = RateTable::standard();
        // 7.50 × 0.60 % = 0.045: half up gives 0.05 (half to even would give 0.04).
        assert_eq!(
            t.fee(Channel::DebitCard, amount("7.50")).expect("fee"),
            amount("0.05")
        );
        // 7.49 × 0.60 % = 0.04494 → 0.04.
        assert_eq!(
            t.fee(Channel::DebitCard, amount("7.49")).expect("fee"),
            amount("0.04")
        );
        assert_eq!(Amount::MAX.percent(rate("100")), Amount::MAX);
    }

    #[test]
    fn cap_limits_the_fee() {
        let mut t = RateTable::standard();
        for r in &mut t.rates {
            if r.channel == Channel::DebitCard {
                r.cap = Some(amount("20"));
            }
        }
        assert_eq!(
            t.fee(Channel::DebitCard, amount("3000")).expect("fee"),
            amount("18.00")
        );
        assert_eq!(
            t.fee(Channel::DebitCard, amount("10000")).expect("fee"),
            amount("20.00")
        );
    }

    #[test]
    fn bad_tables_list_every_problem() {
        let mut t = RateTable::standard();
        t.rates.retain(|r| r.channel != Channel::Alipay);
        let dup = t.rates[0].clone();
        t.rates.push(dup);
        t.rates[1].rate_above = None;
        let e = t.fee(Channel::WeChat, amount("1")).expect_err("bad table");
        assert!(e.is(&RATE_TABLE_INVALID));
        let found: Vec<(String, String)> = e
            .problems
            .iter()
            .map(|p| (p.code.clone(), p.field.clone()))
            .collect();
        assert_eq!(
            found,
            [
                ("rate_table.duplicate_channel".into(), "rates.wechat".into()),
                ("rate_table.missing_channel".into(), "rates.alipay".into()),
                (
                    "rate_table.threshold_incomplete".into(),
                    "rates.unionpay_qr".into()
                ),
            ]
        );
        let m: MerchantError = e.into();
        assert_eq!(m.code(), "rate_table.invalid");
        assert_eq!(m.problems().len(), 3);
    }

    #[test]
    fn rate_table_serde_matches_the_contract() {
        let json = serde_json::to_value(RateTable::standard()).expect("json");
        assert_eq!(
            json["rates"][0],
            serde_json::json!({"channel":"wechat","rate":"0.38","threshold":"1000.00","rate_above":"0.60"})
        );
        assert_eq!(
            json["rates"][3],
            serde_json::json!({"channel":"debit_card","rate":"0.60"})
        );
        let back: RateTable = serde_json::from_value(json).expect("back");
        assert_eq!(back, RateTable::standard());
        let bad = serde_json::json!({"rates":[{"channel":"wechat","rate":"-0.38"}]});
        assert!(serde_json::from_value::<RateTable>(bad).is_err());
    }

    #[test]
    fn exported_functions_map_to_typed_errors() {
        assert_eq!(
            parse_amount("850.5".into()).expect("ok").to_string(),
            "850.50"
        );
        let e = parse_amount("".into()).expect_err("empty");
        assert!(matches!(e, MerchantError::Input { .. }));
        assert_eq!(e.code(), "amount.empty");
        assert_eq!(e.problems()[0].code, "amount.empty");
        assert_eq!(amount_in_words(amount("0.5")).expect("ok"), "伍角");
        assert_eq!(amount_spoken(amount("10")).expect("ok"), "十元");
        let fee = fee_for(default_rate_table(), Channel::WeChat, amount("850")).expect("fee");
        assert_eq!(fee.to_string(), "3.23");
        let e = fee_for(RateTable { rates: vec![] }, Channel::WeChat, amount("1")).expect_err("x");
        assert_eq!(e.code(), "rate_table.invalid");
        assert_eq!(e.problems().len(), 5);
    }

    proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in any::<String>()) {
            if let Ok(a) = Amount::parse(&text) {
                prop_assert_eq!(Amount::parse(&a.to_string()).ok(), Some(a));
            }
            if let Ok(r) = Rate::parse(&text) {
                prop_assert_eq!(Rate::parse(&r.to_string()).ok(), Some(r));
            }
            if let Ok(c) = Channel::parse(&text) {
                prop_assert_eq!(Channel::parse(c.as_str()).ok(), Some(c));
            }
        }

        #[test]
        fn numeric_looking_text_never_panics(text in "[-+０-９0-9.,% ]{0,40}") {
            if let Ok(a) = Amount::parse(&text) {
                prop_assert_eq!(Amount::parse(&a.to_string()).ok(), Some(a));
            }
            if let Ok(r) = Rate::parse(&text) {
                prop_assert_eq!(Rate::parse(&r.to_string()).ok(), Some(r));
            }
        }

        #[test]
        fn every_amount_round_trips_and_reads(fen in 0..=MAX_FEN) {
            let a = Amount::from_fen(fen).expect("in range");
            prop_assert_eq!(Amount::parse(&a.to_string()).ok(), Some(a));
            prop_assert_eq!(a.to_fen(), fen);
            let words = a.in_words();
            prop_assert!(words.ends_with('整') || words.ends_with('角') || words.ends_with('分'));
            prop_assert!(!words.contains("零零"));
            let spoken = a.spoken();
            prop_assert!(spoken.ends_with('元'));
            prop_assert!(!spoken.contains("零零元"));
        }

        #[test]
        fn decimal_text_round_trips(yuan in 0u32..100_000_000, fen in 0u32..100, short in any::<bool>()) {
            let text = if short && fen % 10 == 0 {
                format!("{yuan}.{}", fen / 10)
            } else {
                format!("{yuan}.{fen:02}")
            };
            let a = Amount::parse(&text).expect("valid text");
            prop_assert_eq!(a.to_fen(), i64::from(yuan) * 100 + i64::from(fen));
        }

        #[test]
        fn fee_never_exceeds_the_amount(fen in 0..=MAX_FEN, c in 0usize..5) {
            let a = Amount::from_fen(fen).expect("in range");
            let fee = RateTable::standard().fee(Channel::ALL[c], a).expect("fee");
            prop_assert!(fee <= a);
        }
    }
}
