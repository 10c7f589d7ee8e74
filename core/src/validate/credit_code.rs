//! Unified social credit codes (统一社会信用代码), GB 32100-2015.
//!
//! 18 characters over the 31-character alphabet `0-9 A-H J-N P-R T U W-Y`
//! (no I, O, S, V, Z): the registration authority (9 for market regulation),
//! the kind of entity (for authority 9: 1 enterprise, 2 individual business,
//! 3 farmers' cooperative), the 6-digit region code of the registering
//! office, the 9-character organisation code of GB 11714-1997 (its last
//! character is its own check), and the mod-31 check character.
//!
//! Whitespace is dropped, full-width characters count as ASCII and lower
//! case letters as upper case.
//!
//! The registry's own rule is the mod-31 check character: a code that
//! passes it is valid. The GB 11714 check of the organisation code inside
//! (characters 9 to 17) is only a warning: codes issued since 2015 need not
//! pass it (python-stdnum, for one, does not ask it), and a real code must
//! never be refused by a rule stricter than the registry's.

use serde::Serialize;

use super::{
    CREDIT_CODE_CHARACTERS, CREDIT_CODE_CHECKSUM, CREDIT_CODE_EMPTY, CREDIT_CODE_LENGTH,
    CREDIT_CODE_ORGANISATION, CREDIT_CODE_REGION, Findings, compact, mask::mask_middle, province,
};
use crate::error::{Problem, Result};

/// The code's alphabet; a character's value is its index.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 characters (3^i mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// GB 11714 weights of the organisation code's first 8 characters.
const ORGANISATION_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The kind of entity a valid code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// 企业 (91…).
    Enterprise,
    /// 个体工商户 (92…).
    IndividualBusiness,
    /// 农民专业合作社 (93…).
    FarmersCooperative,
    /// Registered elsewhere than market regulation (社会团体, 事业单位, …).
    Other,
}

/// What `check_credit_code` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct CreditCodeCheck {
    pub valid: bool,
    /// Every problem found; empty when valid.
    pub problems: Vec<Problem>,
    /// What is worth a second look but does not make the code invalid
    /// (`credit_code.organisation_code`): shown, never blocking.
    pub warnings: Vec<Problem>,
    /// `91440300********XG`: the authority, kind and region, and the last two.
    pub masked: String,
    /// For a valid code.
    pub entity: Option<EntityKind>,
    /// The province of the registering office, for a valid code (`None` for
    /// central registrations, region 100000).
    pub province: Option<String>,
}

fn value_of(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|a| *a == b).map(|i| i as u32)
}

/// The check character of the first 17 characters, or `None` when they are
/// not 17 characters of the alphabet.
pub fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in first17.iter().zip(WEIGHTS) {
        sum += value_of(*b)? * w;
    }
    Some(ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// The GB 11714 check character of an organisation code's first 8
/// characters (digits and capital letters), or `None` for other input.
pub fn organisation_check_char(body: &[u8]) -> Option<u8> {
    if body.len() != 8 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in body.iter().zip(ORGANISATION_WEIGHTS) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        d => b'0' + d as u8,
    })
}

/// The problems of a canonical code, and its warnings.
fn findings(code: &str) -> (Findings, Findings) {
    let mut f = Findings::default();
    let mut w = Findings::default();
    let bytes = code.as_bytes();
    let n = code.chars().count();
    if n == 0 {
        f.add(&CREDIT_CODE_EMPTY);
        return (f, w);
    }
    if n != 18 {
        f.add(&CREDIT_CODE_LENGTH);
    }
    let chars_ok = bytes.iter().all(|b| value_of(*b).is_some());
    if !chars_ok {
        f.add(&CREDIT_CODE_CHARACTERS);
    }
    if n == 18 && chars_ok {
        let region = &code[2..8];
        let region_ok = region.bytes().all(|b| b.is_ascii_digit())
            && (region.starts_with("10") || province(&region[..2]).is_some());
        if !region_ok {
            f.add(&CREDIT_CODE_REGION);
        }
        if organisation_check_char(&bytes[8..16]) != Some(bytes[16]) {
            w.add(&CREDIT_CODE_ORGANISATION);
        }
        if check_char(&bytes[..17]) != Some(bytes[17]) {
            f.add(&CREDIT_CODE_CHECKSUM);
        }
    }
    (f, w)
}

fn canonical(value: &str) -> String {
    compact(value).to_uppercase()
}

/// Checks a unified social credit code, listing every problem.
pub fn check(value: &str) -> CreditCodeCheck {
    let code = canonical(value);
    let (f, w) = findings(&code);
    let valid = f.is_empty();
    let entity = valid.then(|| match &code[..2] {
        "91" => EntityKind::Enterprise,
        "92" => EntityKind::IndividualBusiness,
        "93" => EntityKind::FarmersCooperative,
        _ => EntityKind::Other,
    });
    CreditCodeCheck {
        valid,
        problems: f.problems(),
        warnings: w.problems(),
        masked: mask_middle(&code, 8, 2, 4),
        entity,
        province: valid
            .then(|| province(&code[2..4]))
            .flatten()
            .map(str::to_owned),
    }
}

/// The 18 upper-case characters of a valid code, or an `Input` error listing
/// every problem (warnings do not refuse: see the module docs).
pub fn normalize(value: &str) -> Result<String> {
    let code = canonical(value);
    findings(&code).0.into_result(code)
}

/// Checks a unified social credit code (GB 32100-2015), listing every
/// problem; a valid code also gives the kind of entity and the province.
#[uniffi::export]
pub fn check_credit_code(value: String) -> CreditCodeCheck {
    check(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Codes of well-known companies, printed on their public licences.
    const REAL: [&str; 6] = [
        "9144030071526726XG",
        "914403001922038216",
        "91100000100003962T",
        "91330100799655058B",
        "91110108551385082Q",
        "91350100M000100Y43",
    ];

    fn codes(value: &str) -> Vec<String> {
        check(value).problems.into_iter().map(|p| p.code).collect()
    }

    /// A valid code from its first 16 characters.
    fn complete(first16: &str) -> String {
        let org = organisation_check_char(&first16.as_bytes()[8..16]).expect("org body");
        let first17 = format!("{first16}{}", char::from(org));
        let check = check_char(first17.as_bytes()).expect("17 characters");
        format!("{first17}{}", char::from(check))
    }

    #[test]
    fn real_codes_are_valid() {
        for code in REAL {
            let c = check(code);
            assert!(c.valid, "{code}: {:?}", c.problems);
            assert_eq!(c.entity, Some(EntityKind::Enterprise));
        }
        assert_eq!(check(REAL[0]).province.as_deref(), Some("广东省"));
        assert_eq!(check(REAL[2]).province, None, "central registration");
        assert_eq!(check(REAL[0]).masked, "91440300********XG");
    }

    #[test]
    fn lower_case_spaces_and_full_width_are_accepted() {
        assert_eq!(
            normalize(" 9144 0300 7152 6726 xg ").expect("valid"),
            "9144030071526726XG"
        );
        assert!(check("９１４４０３００７１５２６７２６ＸＧ").valid);
    }

    #[test]
    fn entity_kinds_follow_the_second_character() {
        assert_eq!(
            check(&complete("92440300MA5F0000")).entity,
            Some(EntityKind::IndividualBusiness)
        );
        assert_eq!(
            check(&complete("93440300MA5F0000")).entity,
            Some(EntityKind::FarmersCooperative)
        );
        assert_eq!(
            check(&complete("52440300MA5F0000")).entity,
            Some(EntityKind::Other)
        );
    }

    #[test]
    fn each_rule_has_its_code() {
        assert_eq!(codes(""), ["credit_code.empty"]);
        assert_eq!(codes("9144030071526726X"), ["credit_code.length"]);
        assert_eq!(codes("9144030071526726XI"), ["credit_code.characters"]);
        assert_eq!(codes("9144030071526726X-"), ["credit_code.characters"]);
        assert_eq!(codes("9144030071526726XA"), ["credit_code.checksum"]);
        assert_eq!(codes(&complete("9199030071526726")), ["credit_code.region"]);
        assert_eq!(codes(&complete("91AB030071526726")), ["credit_code.region"]);
        // The organisation code's own check character changed, the final
        // check recomputed: only the organisation check fails.
        let mut first17 = b"9144030071526726".to_vec();
        first17.push(b'Y');
        let last = check_char(&first17).expect("17");
        first17.push(last);
        let code = String::from_utf8(first17).expect("ascii");
        let c = super::check(&code);
        assert!(c.valid, "a warning does not invalidate: {:?}", c.problems);
        assert!(c.problems.is_empty());
        let warnings: Vec<_> = c.warnings.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(warnings, ["credit_code.organisation_code"]);
        assert_eq!(c.entity, Some(EntityKind::Enterprise));
        assert_eq!(normalize(&code).ok(), Some(code));
    }

    #[test]
    fn valid_codes_without_doubt_carry_no_warning() {
        for code in REAL {
            assert!(check(code).warnings.is_empty(), "{code}");
        }
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let c = check("9199030071526726YA");
        assert_eq!(
            codes("9199030071526726YA"),
            ["credit_code.region", "credit_code.checksum"]
        );
        assert_eq!(
            c.warnings.len(),
            1,
            "the organisation check is still reported"
        );
        assert_eq!(
            codes("91440300715267O"),
            ["credit_code.length", "credit_code.characters"]
        );
    }

    #[test]
    fn organisation_check_maps_ten_to_x_and_eleven_to_zero() {
        // 6 × 2 = 12 ≡ 1 (mod 11): 11 - 1 = 10 is written X.
        assert_eq!(organisation_check_char(b"00000006"), Some(b'X'));
        // 0 ≡ 0 (mod 11): 11 - 0 = 11 is written 0.
        assert_eq!(organisation_check_char(b"00000000"), Some(b'0'));
        // 1 × 2 = 2: 11 - 2 = 9.
        assert_eq!(organisation_check_char(b"00000001"), Some(b'9'));
        // Letters count from 10: A × 3 = 30 ≡ 8, 11 - 8 = 3.
        assert_eq!(organisation_check_char(b"A0000000"), Some(b'3'));
        assert_eq!(organisation_check_char(b"0000000"), None);
        assert_eq!(organisation_check_char(b"0000000*"), None);
    }

    fn valid_code() -> impl Strategy<Value = String> {
        let provinces: Vec<&'static str> = super::super::province_codes().collect();
        (
            proptest::sample::select(vec!["91", "92", "93", "11", "12", "51", "52", "Y1"]),
            proptest::sample::select(provinces),
            0u32..10_000,
            "[0-9A-HJ-NPQRTUWXY]{8}",
        )
            .prop_map(|(kind, p, area, org)| complete(&format!("{kind}{p}{area:04}{org}")))
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
        fn generated_valid_codes_are_accepted(code in valid_code()) {
            let c = check(&code);
            prop_assert!(c.valid, "{} {:?}", code, c.problems);
            prop_assert_eq!(normalize(&code.to_lowercase()).ok(), Some(code));
        }

        #[test]
        fn one_changed_character_is_caught(code in valid_code(), pos in 0usize..18, delta in 1usize..31) {
            let mut bytes = code.into_bytes();
            let v = ALPHABET.iter().position(|a| *a == bytes[pos]).expect("alphabet");
            bytes[pos] = ALPHABET[(v + delta) % 31];
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(!check(&changed).valid);
        }
    }
}
