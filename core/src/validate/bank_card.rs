//! Bank card numbers: 15 to 19 digits with a Luhn check digit, and the
//! issuer and kind of card from the embedded BIN table (longest prefix wins).
//!
//! Spaces and dashes are dropped and full-width digits count as ASCII, so
//! `6222 0212 3456 7890` is read as typed on the card. A BIN the table does
//! not know is reported as unknown (`bin: None`), never as an error: the
//! table covers the largest mainland issuers, not every one.

use serde::{Deserialize, Serialize};

use super::bin_table::{BINS, ISSUERS};
use super::{
    BANK_CARD_CHARACTERS, BANK_CARD_CHECKSUM, BANK_CARD_EMPTY, BANK_CARD_LENGTH, Findings,
    without_separators,
};
use crate::error::{Problem, Result};

/// The longest prefix in the table.
const LONGEST_BIN: usize = 10;
/// The fewest digits a lookup needs.
const SHORTEST_LOOKUP: usize = 6;

/// The kind of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "lowercase")]
pub enum CardKind {
    /// 借记卡.
    Debit,
    /// 信用卡 (贷记卡 and 准贷记卡).
    Credit,
    /// 预付费卡.
    Prepaid,
}

/// What the BIN table says about a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct BinInfo {
    /// The table's BIN that matched (the longest matching prefix).
    pub bin: String,
    /// The issuer's usual code, such as `ICBC`.
    pub bank_code: String,
    /// 中国工商银行.
    pub bank_name: String,
    /// Industrial and Commercial Bank of China.
    pub bank_name_en: String,
    pub card_kind: CardKind,
}

/// What `check_bank_card` found. The number itself is only given masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct BankCardCheck {
    pub valid: bool,
    /// Every problem found; empty when valid.
    pub problems: Vec<Problem>,
    /// `622202******7890`.
    pub masked: String,
    /// The issuer, when the number is all digits and its BIN is known
    /// (even if the number fails another check, so a form can show the bank
    /// while the merchant types).
    pub bin: Option<BinInfo>,
}

/// Whether a string of ASCII digits passes the Luhn check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    !digits.is_empty() && luhn_sum(digits, false).is_some_and(|s| s % 10 == 0)
}

/// The Luhn check digit (ASCII) to append to `partial`, or `None` when it is
/// not all digits.
pub fn luhn_check_digit(partial: &[u8]) -> Option<u8> {
    let sum = luhn_sum(partial, true)?;
    Some(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// The Luhn sum, doubling every second digit from the right; `appending`
/// doubles as if a check digit followed.
fn luhn_sum(digits: &[u8], appending: bool) -> Option<u32> {
    let mut sum = 0;
    for (i, b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = u32::from(b - b'0');
        let double = (i % 2 == 1) != appending;
        sum += if double {
            if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
        } else {
            d
        };
    }
    Some(sum)
}

/// What the BIN table says about the card that starts with `prefix` (at
/// least 6 digits; spaces and dashes are dropped), or `None` when the table
/// does not know it or the prefix is too short or not digits.
pub fn lookup(prefix: &str) -> Option<BinInfo> {
    let digits = without_separators(prefix);
    if digits.len() < SHORTEST_LOOKUP || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let longest = digits.len().min(LONGEST_BIN);
    (1..=longest).rev().find_map(|len| {
        let candidate = &digits[..len];
        let i = BINS
            .binary_search_by(|(bin, ..)| bin.cmp(&candidate))
            .ok()?;
        let (bin, issuer, kind) = BINS[i];
        let issuer = ISSUERS.get(usize::from(issuer))?;
        Some(BinInfo {
            bin: bin.to_owned(),
            bank_code: issuer.code.to_owned(),
            bank_name: issuer.zh.to_owned(),
            bank_name_en: issuer.en.to_owned(),
            card_kind: kind,
        })
    })
}

fn findings(digits: &str) -> Findings {
    let mut f = Findings::default();
    if digits.is_empty() {
        f.add(&BANK_CARD_EMPTY);
        return f;
    }
    let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
    if !all_digits {
        f.add(&BANK_CARD_CHARACTERS);
    }
    let n = digits.chars().count();
    if !(15..=19).contains(&n) {
        f.add(&BANK_CARD_LENGTH);
    } else if all_digits && !luhn_valid(digits.as_bytes()) {
        f.add(&BANK_CARD_CHECKSUM);
    }
    f
}

/// Checks a bank card number, listing every problem, and looks its BIN up.
pub fn check(value: &str) -> BankCardCheck {
    let digits = without_separators(value);
    let f = findings(&digits);
    BankCardCheck {
        valid: f.is_empty(),
        problems: f.problems(),
        masked: super::mask::mask_bank_card(digits.clone()),
        bin: lookup(&digits),
    }
}

/// The digits of a valid card number, or an `Input` error listing every
/// problem.
pub fn normalize(value: &str) -> Result<String> {
    let digits = without_separators(value);
    findings(&digits).into_result(digits)
}

/// Checks a bank card number (Luhn, 15–19 digits; spaces allowed) and names
/// its issuer when the BIN is known.
#[uniffi::export]
pub fn check_bank_card(value: String) -> BankCardCheck {
    check(&value)
}

/// What the embedded BIN table says about a card prefix of at least 6
/// digits; `None` for an unknown BIN.
#[uniffi::export]
pub fn lookup_bin(prefix: String) -> Option<BinInfo> {
    lookup(&prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// A Luhn-valid number from its digits before the check digit.
    fn complete(partial: &str) -> String {
        let d = luhn_check_digit(partial.as_bytes()).expect("digits");
        format!("{partial}{}", char::from(d))
    }

    fn codes(value: &str) -> Vec<String> {
        check(value).problems.into_iter().map(|p| p.code).collect()
    }

    #[test]
    fn luhn_agrees_with_known_numbers() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b""));
        assert!(!luhn_valid(b"7992739871a"));
        assert_eq!(luhn_check_digit(b"7992739871"), Some(b'3'));
        assert_eq!(luhn_check_digit(b"411111111111111"), Some(b'1'));
        assert_eq!(luhn_check_digit(b"x"), None);
    }

    #[test]
    fn a_valid_card_names_its_bank() {
        let card = complete("622202123456789012");
        let c = check(&card);
        assert!(c.valid, "{:?}", c.problems);
        let bin = c.bin.expect("known BIN");
        assert_eq!(bin.bank_code, "ICBC");
        assert_eq!(bin.bank_name, "中国工商银行");
        assert_eq!(bin.card_kind, CardKind::Debit);
        assert_eq!(c.masked, format!("622202*********{}", &card[15..]));
    }

    #[test]
    fn spaces_dashes_and_full_width_are_accepted() {
        let card = complete("622848040256489001");
        let spaced: String = card
            .chars()
            .enumerate()
            .flat_map(|(i, c)| (i > 0 && i % 4 == 0).then_some(' ').into_iter().chain([c]))
            .collect();
        assert!(check(&spaced).valid, "{spaced}");
        assert!(check(&card.replace("0402", "-0402-")).valid);
        let wide: String = card
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).expect("full-width"))
            .collect();
        assert_eq!(normalize(&wide).expect("valid"), card);
    }

    #[test]
    fn the_twenty_largest_issuers_are_known() {
        let cases = [
            ("622202", "ICBC", CardKind::Debit),
            ("622700", "CCB", CardKind::Debit),
            ("622848", "ABC", CardKind::Debit),
            ("621661", "BOC", CardKind::Debit),
            ("622262", "COMM", CardKind::Debit),
            ("621799", "PSBC", CardKind::Debit),
            ("622588", "CMB", CardKind::Debit),
            ("622690", "CITIC", CardKind::Debit),
            ("622660", "CEB", CardKind::Debit),
            ("622630", "HXBANK", CardKind::Debit),
            ("622622", "CMBC", CardKind::Debit),
            ("622538", "SPABANK", CardKind::Debit),
            ("622909", "CIB", CardKind::Debit),
            ("622521", "SPDB", CardKind::Debit),
            ("622568", "GDB", CardKind::Debit),
            ("6223091100", "CZBANK", CardKind::Debit),
            ("622884", "BOHAIB", CardKind::Debit),
            ("602969", "BJBANK", CardKind::Debit),
            ("622892", "SHBANK", CardKind::Debit),
            ("622173", "JSBANK", CardKind::Debit),
            ("622575", "CMB", CardKind::Credit),
            ("625906", "BOC", CardKind::Credit),
            ("620021", "COMM", CardKind::Prepaid),
        ];
        for (prefix, code, kind) in cases {
            let info = lookup(&format!("{prefix}0000000")).unwrap_or_else(|| panic!("{prefix}"));
            assert_eq!(
                (info.bank_code.as_str(), info.card_kind),
                (code, kind),
                "{prefix}"
            );
        }
        let issuers: HashSet<u8> = BINS.iter().map(|(_, i, _)| *i).collect();
        assert!(issuers.len() >= 20);
        assert_eq!(issuers.len(), ISSUERS.len(), "every issuer has BINs");
    }

    #[test]
    fn the_longest_prefix_wins() {
        // 浙商银行 holds 10-digit BINs under 622309, which the table leaves to no one.
        let info = lookup("6223093310123456789").expect("known");
        assert_eq!(
            (info.bin.as_str(), info.bank_code.as_str()),
            ("6223093310", "CZBANK")
        );
        assert_eq!(lookup("6223090000123456789"), None);
        // A short old prefix still matches a full number.
        let old = lookup("9558801234567890123").expect("known");
        assert_eq!(
            (old.bin.as_str(), old.bank_code.as_str()),
            ("95588", "ICBC")
        );
        let older = lookup("9558001234567890123").expect("known");
        assert_eq!(older.bin, "9558");
    }

    #[test]
    fn unknown_or_short_prefixes_are_unknown_not_errors() {
        assert_eq!(lookup("000000"), None);
        assert_eq!(lookup("62220"), None, "fewer than 6 digits");
        assert_eq!(lookup("62220a"), None);
        assert_eq!(lookup(""), None);
        let unknown = complete("123456789012345");
        let c = check(&unknown);
        assert!(c.valid, "{:?}", c.problems);
        assert_eq!(c.bin, None);
        assert_eq!(
            lookup_bin("6222 02".into()).expect("known").bank_code,
            "ICBC"
        );
    }

    #[test]
    fn each_rule_has_its_code() {
        assert_eq!(codes(""), ["bank_card.empty"]);
        // A lone dash separates nothing: it is a stray character.
        assert_eq!(codes(" - "), ["bank_card.characters", "bank_card.length"]);
        assert_eq!(codes(&complete("6222021234567")), ["bank_card.length"]);
        assert_eq!(
            codes(&complete("62220212345678901234")),
            ["bank_card.length"]
        );
        let mut bad = complete("622202123456789012").into_bytes();
        bad[18] = b'0' + (bad[18] - b'0' + 1) % 10;
        assert_eq!(
            codes(&String::from_utf8(bad).expect("ascii")),
            ["bank_card.checksum"]
        );
        assert_eq!(codes("6222021234567890a2"), ["bank_card.characters"]);
        assert_eq!(codes("6222a"), ["bank_card.characters", "bank_card.length"]);
        let e = normalize("6222a").expect_err("bad");
        assert_eq!(e.code, "bank_card.characters");
        assert_eq!(e.problems.len(), 2);
    }

    #[test]
    fn the_bin_is_shown_while_typing() {
        let c = check("622202");
        assert!(!c.valid);
        assert_eq!(c.bin.expect("known").bank_code, "ICBC");
    }

    #[test]
    fn the_record_never_holds_the_full_number() {
        let card = complete("622202123456789012");
        let json = serde_json::to_string(&check(&card)).expect("json");
        assert!(!json.contains(&card), "{json}");
        assert!(!json.contains(&card[6..15]), "{json}");
    }

    #[test]
    fn the_table_is_sorted_unique_and_well_formed() {
        for pair in BINS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (bin, issuer, _) in BINS {
            assert!((3..=LONGEST_BIN).contains(&bin.len()), "{bin}");
            assert!(bin.bytes().all(|b| b.is_ascii_digit()), "{bin}");
            assert!(usize::from(*issuer) < ISSUERS.len(), "{bin}");
        }
        let codes: HashSet<&str> = ISSUERS.iter().map(|i| i.code).collect();
        assert_eq!(codes.len(), ISSUERS.len());
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
            let _ = lookup(&value);
        }

        #[test]
        fn generated_luhn_cards_are_accepted(partial in "[0-9]{14,18}") {
            let card = complete(&partial);
            prop_assert!(check(&card).valid, "{}", card);
            prop_assert_eq!(normalize(&card).ok(), Some(card));
        }

        #[test]
        fn one_changed_digit_is_caught(partial in "[0-9]{14,18}", pos in 0usize..15, delta in 1u8..10) {
            let mut bytes = complete(&partial).into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(!check(&changed).valid);
        }

        #[test]
        fn lookup_finds_every_table_entry(i in 0usize..BINS.len(), rest in "[0-9]{0,13}") {
            let (bin, ..) = BINS[i];
            let number = format!("{bin}{rest}");
            if number.len() >= SHORTEST_LOOKUP {
                let info = lookup(&number).expect("a prefix of the table matches");
                prop_assert!(number.starts_with(&info.bin));
                prop_assert!(info.bin.len() >= bin.len());
            }
        }
    }
}
