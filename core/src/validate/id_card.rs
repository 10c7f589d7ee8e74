//! Resident identity card numbers (公民身份号码), GB 11643-1999.
//!
//! 18 characters: a 6-digit region code (the first two name the province),
//! the birth date as 8 digits, a 3-digit sequence whose last digit gives the
//! gender (odd for men), and an ISO 7064 MOD 11-2 check character (`X` for
//! 10; `x` is read as `X`). Whitespace is dropped and full-width characters
//! count as ASCII. The old 15-digit form is refused with its own code.
//!
//! The birth date must be a real calendar date, not after today in China
//! time, and not before 1900.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::{
    Findings, ID_CARD_BIRTH_DATE, ID_CARD_BIRTH_FUTURE, ID_CARD_BIRTH_TOO_OLD, ID_CARD_CHARACTERS,
    ID_CARD_CHECKSUM, ID_CARD_EMPTY, ID_CARD_LENGTH, ID_CARD_OLD_FORM, ID_CARD_REGION, compact,
    province,
};
use crate::error::{Problem, Result};

/// ISO 7064 MOD 11-2 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder of the weighted sum mod 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The gender a valid ID number records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

/// What `check_id_card` found. The number itself is only given masked;
/// gender, birth date and province are given for a valid number only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct IdCardCheck {
    pub valid: bool,
    /// Every problem found; empty when valid.
    pub problems: Vec<Problem>,
    /// `110***********002X`.
    pub masked: String,
    pub gender: Option<Gender>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// The province of the region code, such as 北京市.
    pub province: Option<String>,
}

/// The check character of the first 17 digits (ASCII), or `None` when they
/// are not 17 digits.
pub fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize])
}

use super::china_today;

fn digits_at(bytes: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    let part = bytes.get(range)?;
    part.iter()
        .all(u8::is_ascii_digit)
        .then(|| part.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

struct Parsed {
    number: String,
    findings: Findings,
    birth: Option<NaiveDate>,
}

fn parse(value: &str, today: NaiveDate) -> Parsed {
    let number = compact(value).to_uppercase();
    let mut f = Findings::default();
    let mut birth = None;
    let bytes = number.as_bytes();
    let n = number.chars().count();
    if n == 0 {
        f.add(&ID_CARD_EMPTY);
    } else if n == 15 && bytes.iter().all(u8::is_ascii_digit) {
        f.add(&ID_CARD_OLD_FORM);
    } else {
        if n != 18 {
            f.add(&ID_CARD_LENGTH);
        }
        let last = bytes.len().saturating_sub(1);
        let chars_ok = bytes
            .iter()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (*b == b'X' && i == last));
        if !chars_ok {
            f.add(&ID_CARD_CHARACTERS);
        }
        if n == 18 {
            // Only a numeric prefix can name a province; anything else is
            // already a `characters` problem.
            if let Some(prefix) = number.get(..2)
                && prefix.bytes().all(|b| b.is_ascii_digit())
                && province(prefix).is_none()
            {
                f.add(&ID_CARD_REGION);
            }
            if let (Some(y), Some(m), Some(d)) = (
                digits_at(bytes, 6..10),
                digits_at(bytes, 10..12),
                digits_at(bytes, 12..14),
            ) {
                match NaiveDate::from_ymd_opt(y as i32, m, d) {
                    None => f.add(&ID_CARD_BIRTH_DATE),
                    Some(date) if date > today => f.add(&ID_CARD_BIRTH_FUTURE),
                    Some(date) if date.year() < 1900 => f.add(&ID_CARD_BIRTH_TOO_OLD),
                    Some(date) => birth = Some(date),
                }
            }
            if chars_ok && check_char(&bytes[..17]) != Some(bytes[17]) {
                f.add(&ID_CARD_CHECKSUM);
            }
        }
    }
    Parsed {
        number,
        findings: f,
        birth,
    }
}

/// Checks an ID number against today's date in China.
pub fn check(value: &str) -> IdCardCheck {
    check_on(value, china_today())
}

/// Checks an ID number as of `today` (birth dates after it are refused).
pub fn check_on(value: &str, today: NaiveDate) -> IdCardCheck {
    let p = parse(value, today);
    let valid = p.findings.is_empty();
    let bytes = p.number.as_bytes();
    IdCardCheck {
        valid,
        problems: p.findings.problems(),
        masked: super::mask::mask_id_card(p.number.clone()),
        gender: valid.then(|| digits_at(bytes, 16..17)).flatten().map(|d| {
            if d % 2 == 1 {
                Gender::Male
            } else {
                Gender::Female
            }
        }),
        birth_date: valid
            .then_some(p.birth)
            .flatten()
            .map(|d| d.format("%Y-%m-%d").to_string()),
        province: valid
            .then(|| p.number.get(..2).and_then(province))
            .flatten()
            .map(str::to_owned),
    }
}

/// The 18 characters of a valid ID number (`X` upper case), or an `Input`
/// error listing every problem.
pub fn normalize(value: &str) -> Result<String> {
    let p = parse(value, china_today());
    p.findings.into_result(p.number)
}

/// Checks a resident ID number (GB 11643-1999), listing every problem; a
/// valid number also gives gender, birth date and province.
#[uniffi::export]
pub fn check_id_card(value: String) -> IdCardCheck {
    check(&value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example of GB 11643-1999 itself (a woman born 1949-12-31).
    const SAMPLE: &str = "11010519491231002X";

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    /// A valid number from its first 17 digits.
    pub(crate) fn complete(first17: &str) -> String {
        let c = check_char(first17.as_bytes()).expect("17 digits");
        format!("{first17}{}", char::from(c))
    }

    fn codes(value: &str) -> Vec<String> {
        check_on(value, day(2026, 1, 1))
            .problems
            .into_iter()
            .map(|p| p.code)
            .collect()
    }

    #[test]
    fn the_standards_example_is_valid_and_readable() {
        let c = check_on(SAMPLE, day(2026, 1, 1));
        assert!(c.valid, "{:?}", c.problems);
        assert_eq!(c.gender, Some(Gender::Female));
        assert_eq!(c.birth_date.as_deref(), Some("1949-12-31"));
        assert_eq!(c.province.as_deref(), Some("北京市"));
        assert_eq!(c.masked, "110***********002X");
    }

    #[test]
    fn lower_case_x_spaces_and_full_width_are_accepted() {
        assert!(check_on("11010519491231002x", day(2026, 1, 1)).valid);
        assert!(check_on("110105 19491231 002X", day(2026, 1, 1)).valid);
        assert!(check_on("１１０１０５１９４９１２３１００２Ｘ", day(2026, 1, 1)).valid);
        assert_eq!(normalize(" 11010519491231002x ").expect("valid"), SAMPLE);
    }

    #[test]
    fn gender_comes_from_the_seventeenth_digit() {
        let man = complete("44030119900307123");
        let c = check_on(&man, day(2026, 1, 1));
        assert!(c.valid, "{:?}", c.problems);
        assert_eq!(c.gender, Some(Gender::Male));
        assert_eq!(c.birth_date.as_deref(), Some("1990-03-07"));
        assert_eq!(c.province.as_deref(), Some("广东省"));
    }

    #[test]
    fn each_rule_has_its_code() {
        assert_eq!(codes(""), ["id_card.empty"]);
        assert_eq!(codes("110105491231002"), ["id_card.old_form"]);
        assert_eq!(codes("1101051949123100"), ["id_card.length"]);
        assert_eq!(codes("110105194912310021"), ["id_card.checksum"]);
        assert_eq!(codes(&complete("99010519491231002")), ["id_card.region"]);
        assert_eq!(
            codes(&complete("11010519490230002")),
            ["id_card.birth_date"]
        );
        assert_eq!(
            codes(&complete("11010520260102002")),
            ["id_card.birth_future"]
        );
        assert_eq!(
            codes(&complete("44052418800101001")),
            ["id_card.birth_too_old"]
        );
        assert_eq!(codes("1101051949X231002X"), ["id_card.characters"]);
        assert_eq!(codes("11010519491231002Y"), ["id_card.characters"]);
    }

    #[test]
    fn leap_days_follow_the_calendar() {
        assert!(check_on(&complete("11010520000229002"), day(2026, 1, 1)).valid);
        assert_eq!(
            codes(&complete("11010519000229002")),
            ["id_card.birth_date"]
        );
        assert_eq!(
            codes(&complete("11010520230229002")),
            ["id_card.birth_date"]
        );
    }

    #[test]
    fn the_birth_date_may_be_today_but_not_tomorrow() {
        let born_today = complete("11010520260101002");
        assert!(check_on(&born_today, day(2026, 1, 1)).valid);
        assert!(!check_on(&born_today, day(2025, 12, 31)).valid);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        // Wrong region, impossible date and a letter inside: all three.
        assert_eq!(
            codes("990105194913321A2X"),
            ["id_card.characters", "id_card.region", "id_card.birth_date"]
        );
        // Wrong region and a wrong check character.
        assert_eq!(
            codes("990105194912310021"),
            ["id_card.region", "id_card.checksum"]
        );
    }

    #[test]
    fn details_are_only_given_for_valid_numbers() {
        let c = check_on("110105194912310021", day(2026, 1, 1));
        assert!(!c.valid);
        assert_eq!((c.gender, c.birth_date, c.province), (None, None, None));
        let e = normalize("110105194912310021").expect_err("bad");
        assert_eq!(e.code, "id_card.checksum");
    }

    #[test]
    fn the_record_never_holds_the_full_number() {
        let json = serde_json::to_string(&check_on(SAMPLE, day(2026, 1, 1))).expect("json");
        assert!(!json.contains(SAMPLE), "{json}");
        assert!(!json.contains("19491231"), "{json}");
    }

    #[test]
    fn check_uses_todays_date() {
        assert!(check(SAMPLE).valid);
        let next_year = china_today().year() + 1;
        let future = complete(&format!("110105{next_year}0101002"));
        assert_eq!(
            check(&future).problems[0].code,
            "id_card.birth_future",
            "a birth next year is refused"
        );
    }

    fn valid_number() -> impl Strategy<Value = String> {
        let provinces: Vec<&'static str> = super::super::province_codes().collect();
        (
            proptest::sample::select(provinces),
            0u32..10_000,
            1900i32..=2025,
            1u32..=12,
            1u32..=28,
            0u32..1000,
        )
            .prop_map(|(p, area, y, m, d, seq)| {
                complete(&format!("{p}{area:04}{y:04}{m:02}{d:02}{seq:03}"))
            })
    }

    proptest! {
        #[test]
        fn any_text_is_checked_without_panic(value in any::<String>()) {
            let c = check(&value);
            prop_assert_eq!(c.valid, c.problems.is_empty());
            prop_assert!(c.masked.chars().filter(|c| *c != '*').count() <= 7);
            prop_assert_eq!(c.valid, normalize(&value).is_ok());
            if let Ok(n) = normalize(&value) {
                prop_assert_eq!(normalize(&n).ok(), Some(n));
            }
        }

        #[test]
        fn id_like_text_is_checked_without_panic(value in "[0-9Xx ]{0,20}") {
            let c = check(&value);
            prop_assert_eq!(c.valid, normalize(&value).is_ok());
        }

        #[test]
        fn generated_valid_numbers_are_accepted(number in valid_number()) {
            let c = check(&number);
            prop_assert!(c.valid, "{} {:?}", number, c.problems);
            prop_assert!(c.gender.is_some() && c.birth_date.is_some());
            prop_assert_eq!(normalize(&number.to_lowercase()).ok(), Some(number));
        }

        #[test]
        fn one_changed_digit_is_caught(number in valid_number(), pos in 0usize..17, delta in 1u8..10) {
            let mut bytes = number.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(!check(&changed).valid);
        }
    }
}
