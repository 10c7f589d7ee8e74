//! Mainland China mobile numbers: 11 digits starting 13 to 19.
//!
//! Spaces and dashes are dropped, full-width digits count as ASCII, and a
//! country prefix of `+86`, `0086` or `86` (before 11 digits) is dropped.
//! Any other `+` prefix is refused as a number from another country.

use serde::Serialize;

use super::{
    Findings, PHONE_CHARACTERS, PHONE_COUNTRY, PHONE_EMPTY, PHONE_LENGTH, PHONE_PREFIX,
    without_separators,
};
use crate::error::{Problem, Result};

/// What `check_phone` found. The number itself is only given masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PhoneCheck {
    pub valid: bool,
    /// Every problem found; empty when valid.
    pub problems: Vec<Problem>,
    /// `138****8000`.
    pub masked: String,
}

/// The number without separators and without a +86 prefix, and whether it
/// carried another country's `+` prefix.
pub(crate) fn strip(value: &str) -> (String, bool) {
    let s = without_separators(value);
    if let Some(rest) = s.strip_prefix("+86") {
        return (rest.to_owned(), false);
    }
    if s.starts_with('+') {
        return (s, true);
    }
    if let Some(rest) = s.strip_prefix("0086") {
        return (rest.to_owned(), false);
    }
    match s.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => (rest.to_owned(), false),
        _ => (s, false),
    }
}

fn findings(number: &str, foreign: bool) -> Findings {
    let mut f = Findings::default();
    if number.is_empty() {
        f.add(&PHONE_EMPTY);
        return f;
    }
    if foreign {
        f.add(&PHONE_COUNTRY);
        return f;
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        f.add(&PHONE_CHARACTERS);
    }
    if number.chars().count() != 11 {
        f.add(&PHONE_LENGTH);
    }
    let bytes = number.as_bytes();
    if f.is_empty() && !(bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1])) {
        f.add(&PHONE_PREFIX);
    }
    f
}

/// Checks a mainland mobile number, listing every problem.
pub fn check(value: &str) -> PhoneCheck {
    let (number, foreign) = strip(value);
    let f = findings(&number, foreign);
    PhoneCheck {
        valid: f.is_empty(),
        problems: f.problems(),
        masked: super::mask::mask_phone(value.to_owned()),
    }
}

/// The 11 digits of a valid mainland mobile number, or an `Input` error
/// listing every problem.
pub fn normalize(value: &str) -> Result<String> {
    let (number, foreign) = strip(value);
    findings(&number, foreign).into_result(number)
}

/// Checks a mainland China mobile number (`+86` and separators allowed).
#[uniffi::export]
pub fn check_phone(value: String) -> PhoneCheck {
    check(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codes(value: &str) -> Vec<String> {
        check(value).problems.into_iter().map(|p| p.code).collect()
    }

    #[test]
    fn accepts_mainland_numbers_in_their_usual_forms() {
        for v in [
            "13800138000",
            "+8613800138000",
            "+86 138 0013 8000",
            "86-138-0013-8000",
            "008613800138000",
            "１３８００１３８０００",
            "19912345678",
        ] {
            let c = check(v);
            assert!(c.valid, "{v}: {:?}", c.problems);
            assert_eq!(c.masked.len(), 11);
            assert_eq!(normalize(v).expect("valid").len(), 11);
        }
        assert_eq!(
            normalize("+86 138-0013-8000").expect("valid"),
            "13800138000"
        );
    }

    #[test]
    fn refuses_with_codes() {
        assert_eq!(codes(""), ["phone.empty"]);
        // A lone dash separates nothing: it is a stray character.
        assert_eq!(codes(" - "), ["phone.characters", "phone.length"]);
        assert_eq!(codes("+1 415 555 0100"), ["phone.country"]);
        assert_eq!(codes("1380013800"), ["phone.length"]);
        assert_eq!(codes("12800138000"), ["phone.prefix"]);
        assert_eq!(codes("23800138000"), ["phone.prefix"]);
        assert_eq!(codes("1380013800a"), ["phone.characters"]);
        assert_eq!(codes("138001380abc"), ["phone.characters", "phone.length"]);
        let e = normalize("12800138000").expect_err("bad prefix");
        assert_eq!(e.code, "phone.prefix");
    }

    #[test]
    fn the_record_never_holds_the_full_number() {
        let json = serde_json::to_string(&check("13800138000")).expect("json");
        assert!(!json.contains("13800138000"), "{json}");
        assert!(json.contains("138****8000"));
    }

    proptest! {
        #[test]
        fn any_text_is_checked_without_panic(value in any::<String>()) {
            let c = check(&value);
            prop_assert_eq!(c.valid, c.problems.is_empty());
            prop_assert_eq!(c.valid, normalize(&value).is_ok());
            if let Ok(n) = normalize(&value) {
                prop_assert_eq!(normalize(&n).ok(), Some(n));
            }
        }

        #[test]
        fn generated_numbers_are_valid(second in 3u8..=9, rest in "[0-9]{9}") {
            let number = format!("1{second}{rest}");
            prop_assert!(check(&number).valid);
            let with_prefix = format!("+86 {number}");
            prop_assert_eq!(normalize(&with_prefix).ok(), Some(number));
        }
    }
}
