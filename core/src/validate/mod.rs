//! Validation of what the merchant types: resident ID numbers, unified social
//! credit codes, bank cards (with the issuer from an embedded BIN table),
//! mainland mobile numbers and people's names, and masking for display.
//!
//! Every check returns every problem it finds at once, each a [`Problem`]
//! with a stable code (the field is left empty: the problem is about the value
//! as a whole; a form that combines several checks names its own fields). The
//! exported `check_*` functions return one record per validator; no record
//! carries the full value back, only its masked form, so a record can be
//! shown or logged as it is.
//!
//! Other modules use the `normalize` function of each validator, which gives
//! the canonical value (the 18 characters of an ID number, the digits of a
//! card) or an `Input` error listing every problem.

pub mod bank_card;
mod bin_table;
pub mod credit_code;
pub mod id_card;
pub mod mask;
pub mod name;
pub mod phone;

pub use bank_card::{BankCardCheck, BinInfo, CardKind, check_bank_card, lookup_bin};
pub use credit_code::{CreditCodeCheck, EntityKind, check_credit_code};
pub use id_card::{Gender, IdCardCheck, check_id_card};
pub use mask::{mask_bank_card, mask_id_card, mask_name, mask_phone};
pub use name::{NameCheck, NameScript, check_name};
pub use phone::{PhoneCheck, check_phone};

use crate::error::{Code, Error, Problem, Result};

/// China time: +08:00 all year.
pub const CHINA: chrono::FixedOffset = match chrono::FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

/// Today's date in China, whatever the device's time zone.
pub fn china_today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&CHINA).date_naive()
}

crate::codes! {
    ID_CARD_EMPTY = Input, "id_card.empty", "身份证号码不能为空", "The ID number is empty";
    ID_CARD_OLD_FORM = Input, "id_card.old_form", "不支持 15 位旧版身份证号码，请填写 18 位号码", "The old 15-digit ID number is not accepted; enter the 18-character number";
    ID_CARD_LENGTH = Input, "id_card.length", "身份证号码应为 18 位", "The ID number must have 18 characters";
    ID_CARD_CHARACTERS = Input, "id_card.characters", "身份证号码前 17 位应为数字，最后一位为数字或 X", "The ID number must be 17 digits followed by a digit or X";
    ID_CARD_REGION = Input, "id_card.region", "身份证号码的地区码不存在", "The ID number's region code does not exist";
    ID_CARD_BIRTH_DATE = Input, "id_card.birth_date", "身份证号码中的出生日期不是有效日期", "The ID number's birth date is not a real date";
    ID_CARD_BIRTH_FUTURE = Input, "id_card.birth_future", "身份证号码中的出生日期晚于今天", "The ID number's birth date is in the future";
    ID_CARD_BIRTH_TOO_OLD = Input, "id_card.birth_too_old", "身份证号码中的出生日期早于 1900 年", "The ID number's birth date is before 1900";
    ID_CARD_CHECKSUM = Input, "id_card.checksum", "身份证号码校验位不正确，请检查是否输错", "The ID number's check character is wrong; check for a typo";
    CREDIT_CODE_EMPTY = Input, "credit_code.empty", "统一社会信用代码不能为空", "The unified social credit code is empty";
    CREDIT_CODE_LENGTH = Input, "credit_code.length", "统一社会信用代码应为 18 位", "The unified social credit code must have 18 characters";
    CREDIT_CODE_CHARACTERS = Input, "credit_code.characters", "统一社会信用代码只能包含数字和大写字母（不含 I、O、S、V、Z）", "The unified social credit code may hold only digits and capital letters other than I, O, S, V, Z";
    CREDIT_CODE_REGION = Input, "credit_code.region", "统一社会信用代码第 3–8 位的行政区划码不正确", "The region code (characters 3 to 8) of the unified social credit code is wrong";
    CREDIT_CODE_ORGANISATION = Input, "credit_code.organisation_code", "提示：统一社会信用代码中的组织机构代码（第 9–17 位）未通过其自身校验，请核对营业执照", "Note: the organisation code (characters 9 to 17) of the unified social credit code fails its own check; compare it with the licence";
    CREDIT_CODE_CHECKSUM = Input, "credit_code.checksum", "统一社会信用代码校验位不正确，请检查是否输错", "The unified social credit code's check character is wrong; check for a typo";
    BANK_CARD_EMPTY = Input, "bank_card.empty", "银行卡号不能为空", "The bank card number is empty";
    BANK_CARD_CHARACTERS = Input, "bank_card.characters", "银行卡号只能包含数字", "The bank card number may hold only digits";
    BANK_CARD_LENGTH = Input, "bank_card.length", "银行卡号应为 15 到 19 位数字", "The bank card number must have 15 to 19 digits";
    BANK_CARD_CHECKSUM = Input, "bank_card.checksum", "银行卡号校验不正确，请检查是否输错", "The bank card number fails its check digit; check for a typo";
    PHONE_EMPTY = Input, "phone.empty", "手机号码不能为空", "The mobile number is empty";
    PHONE_COUNTRY = Input, "phone.country", "仅支持中国大陆手机号码（+86）", "Only mainland China mobile numbers (+86) are accepted";
    PHONE_CHARACTERS = Input, "phone.characters", "手机号码只能包含数字", "The mobile number may hold only digits";
    PHONE_LENGTH = Input, "phone.length", "手机号码应为 11 位数字", "The mobile number must have 11 digits";
    PHONE_PREFIX = Input, "phone.prefix", "手机号码应以 13 至 19 开头", "The mobile number must start with 13 to 19";
    NAME_EMPTY = Input, "name.empty", "姓名不能为空", "The name is empty";
    NAME_DIGITS = Input, "name.digits", "姓名不能包含数字", "The name must not contain digits";
    NAME_CHARACTERS = Input, "name.characters", "姓名包含不允许的字符", "The name contains characters that are not allowed";
    NAME_MIXED_SCRIPTS = Input, "name.mixed_scripts", "姓名不能同时包含汉字和拉丁字母", "The name must not mix Chinese characters and Latin letters";
    NAME_DOT = Input, "name.dot_position", "姓名中的间隔点“·”不能在开头、结尾或连续出现", "The middle dot (·) of a name must not start, end or repeat";
    NAME_SEPARATOR = Input, "name.separator", "姓名须以字母开头，空格、连字符、撇号不能在结尾或连续出现", "A Latin name must start with a letter; spaces, hyphens and apostrophes must not end it or repeat";
    NAME_TOO_SHORT = Input, "name.too_short", "姓名太短", "The name is too short";
    NAME_TOO_LONG = Input, "name.too_long", "姓名太长", "The name is too long";
}

/// The problems a check found, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Findings(Vec<&'static Code>);

impl Findings {
    fn add(&mut self, code: &'static Code) {
        if !self.0.iter().any(|c| c.code == code.code) {
            self.0.push(code);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each finding as a problem about the value as a whole.
    fn problems(&self) -> Vec<Problem> {
        self.0.iter().map(|c| Problem::new(c, "")).collect()
    }

    /// `value` when nothing was found; otherwise an `Input` error whose code
    /// is the first finding's, listing them all.
    fn into_result<T>(self, value: T) -> Result<T> {
        match self.0.first().copied() {
            None => Ok(value),
            Some(first) => Err(Error::input(first, self.problems())),
        }
    }
}

/// Maps the full-width ASCII forms (U+FF01..U+FF5E) and the ideographic
/// space that a Chinese input method types to their ASCII forms.
pub(crate) fn ascii_forms(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

/// `s` in ASCII forms without any whitespace.
pub(crate) fn compact(s: &str) -> String {
    ascii_forms(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// `s` in ASCII forms without whitespace, and without the dashes card and
/// phone numbers are typed with between their digits ("138-0013-8000"). A
/// dash anywhere else (leading, trailing, doubled, beside a letter) stays, so
/// the caller refuses it as a character problem.
pub(crate) fn without_separators(s: &str) -> String {
    let chars: Vec<char> = compact(s).chars().collect();
    chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            let between_digits = i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            !(c == '-' && between_digits)
        })
        .map(|(_, &c)| c)
        .collect()
}

/// The province-level divisions of GB/T 2260 by their two-digit code, with
/// 83 for the residence permits of Taiwan residents.
const PROVINCES: [(&str, &str); 35] = [
    ("11", "北京市"),
    ("12", "天津市"),
    ("13", "河北省"),
    ("14", "山西省"),
    ("15", "内蒙古自治区"),
    ("21", "辽宁省"),
    ("22", "吉林省"),
    ("23", "黑龙江省"),
    ("31", "上海市"),
    ("32", "江苏省"),
    ("33", "浙江省"),
    ("34", "安徽省"),
    ("35", "福建省"),
    ("36", "江西省"),
    ("37", "山东省"),
    ("41", "河南省"),
    ("42", "湖北省"),
    ("43", "湖南省"),
    ("44", "广东省"),
    ("45", "广西壮族自治区"),
    ("46", "海南省"),
    ("50", "重庆市"),
    ("51", "四川省"),
    ("52", "贵州省"),
    ("53", "云南省"),
    ("54", "西藏自治区"),
    ("61", "陕西省"),
    ("62", "甘肃省"),
    ("63", "青海省"),
    ("64", "宁夏回族自治区"),
    ("65", "新疆维吾尔自治区"),
    ("71", "台湾省"),
    ("81", "香港特别行政区"),
    ("82", "澳门特别行政区"),
    ("83", "台湾"),
];

/// The province of a two-digit region prefix.
pub(crate) fn province(prefix: &str) -> Option<&'static str> {
    PROVINCES
        .iter()
        .find(|(code, _)| *code == prefix)
        .map(|(_, name)| *name)
}

/// Every province prefix, for tests that generate valid numbers.
#[cfg(test)]
pub(crate) fn province_codes() -> impl Iterator<Item = &'static str> {
    PROVINCES.iter().map(|(code, _)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_forms_become_ascii() {
        assert_eq!(ascii_forms("１１０Ｘｘ\u{3000}－"), "110Xx -");
        assert_eq!(compact(" 6222 0200\t1234 "), "622202001234");
        assert_eq!(
            without_separators("６２２２-0200\u{3000}1234"),
            "622202001234"
        );
    }

    #[test]
    fn only_dashes_between_digits_are_separators() {
        assert_eq!(without_separators("138-0013-8000"), "13800138000");
        assert_eq!(without_separators("+86-138 0013 8000"), "+8613800138000");
        assert_eq!(without_separators("-13800138000"), "-13800138000");
        assert_eq!(without_separators("13800138000-"), "13800138000-");
        assert_eq!(without_separators("138--00138000"), "138--00138000");
        // So a stray dash is refused, not silently dropped.
        assert!(!phone::check("-13800138000").valid);
        assert!(!phone::check("13800138000-").valid);
        assert!(!bank_card::check("-6222021234567890128").valid);
        assert!(phone::check("138-0013-8000").valid);
    }

    #[test]
    fn a_non_numeric_id_prefix_is_a_character_problem_only() {
        let codes: Vec<String> = id_card::check("1X0105194912310021")
            .problems
            .into_iter()
            .map(|p| p.code)
            .collect();
        assert!(
            codes.contains(&"id_card.characters".to_owned()),
            "{codes:?}"
        );
        assert!(!codes.contains(&"id_card.region".to_owned()), "{codes:?}");
    }

    #[test]
    fn provinces_are_known_by_their_codes() {
        assert_eq!(province("11"), Some("北京市"));
        assert_eq!(province("65"), Some("新疆维吾尔自治区"));
        assert_eq!(province("00"), None);
        assert_eq!(province("99"), None);
        assert_eq!(province(""), None);
    }

    #[test]
    fn every_code_is_in_the_catalogue_once() {
        let all = crate::error::catalogue();
        for c in CODES {
            assert_eq!(
                all.iter().filter(|k| k.code == c.code).count(),
                1,
                "{}",
                c.code
            );
        }
    }
}
