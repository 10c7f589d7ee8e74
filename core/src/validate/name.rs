//! People's names as on an ID card or a bank account: Chinese names, with the
//! middle dot of names such as 阿依古丽·买买提, and Latin names.
//!
//! Normalisation: whitespace around the name is dropped and runs inside are
//! one space; full-width letters count as ASCII. In a Chinese name, spaces
//! are dropped and the look-alike dots people type (`.`, `•`, `・`, `‧`, `∙`,
//! `⋅`, `･`, `．`, `ㆍ`, …) become the middle dot `·` (U+00B7), with no space
//! around it. In a Latin name, curly apostrophes become `'`.
//!
//! Rules: no digits; Chinese characters and Latin letters are not mixed; a
//! Chinese name holds only Chinese characters and middle dots, 2 to 30
//! characters, the dot never first, last or doubled; a Latin name holds only
//! letters, spaces, hyphens, apostrophes and periods, starts with a letter,
//! does not end with a space, hyphen or apostrophe, never has two separators
//! in a row (except a period before a space, `J. Smith`), and has 2 to 64
//! characters.

use serde::Serialize;

use super::{
    Findings, NAME_CHARACTERS, NAME_DIGITS, NAME_DOT, NAME_EMPTY, NAME_MIXED_SCRIPTS,
    NAME_SEPARATOR, NAME_TOO_LONG, NAME_TOO_SHORT, ascii_forms,
};
use crate::error::{Problem, Result};

const MIDDLE_DOT: char = '·';
const CHINESE_MIN: usize = 2;
const CHINESE_MAX: usize = 30;
const LATIN_MIN: usize = 2;
const LATIN_MAX: usize = 64;

/// The script of a valid name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "lowercase")]
pub enum NameScript {
    Chinese,
    Latin,
}

/// What `check_name` found. The name itself is only given masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct NameCheck {
    pub valid: bool,
    /// Every problem found; empty when valid.
    pub problems: Vec<Problem>,
    /// `张*明`, `J*** S****`.
    pub masked: String,
    /// For a valid name.
    pub script: Option<NameScript>,
}

/// A Chinese character (the CJK Unified Ideographs and their extensions and
/// compatibility forms, and 〇).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EBEF}'
        | '\u{2F800}'..='\u{2FA1F}'
        | '\u{30000}'..='\u{323AF}')
}

/// A Latin letter: ASCII, Latin-1, Latin Extended-A/B and Additional.
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}') && c.is_alphabetic())
}

/// Dots people type for the middle dot of a Chinese name.
fn is_dot_like(c: char) -> bool {
    matches!(
        c,
        '.' | '\u{00B7}'
            | '\u{0387}'
            | '\u{16EB}'
            | '\u{2022}'
            | '\u{2024}'
            | '\u{2027}'
            | '\u{2219}'
            | '\u{22C5}'
            | '\u{2E31}'
            | '\u{30FB}'
            | '\u{318D}'
            | '\u{FF0E}'
            | '\u{FF65}'
    )
}

/// A digit of any script (〇 is a Chinese character here, not a digit).
fn is_digit(c: char) -> bool {
    c.is_numeric() && !is_cjk(c)
}

fn is_latin_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\'' | '.')
}

/// The normalised name and what was found.
fn examine(value: &str) -> (String, Findings, Option<NameScript>) {
    let text = ascii_forms(value);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut f = Findings::default();
    if text.is_empty() {
        f.add(&NAME_EMPTY);
        return (text, f, None);
    }
    if text.chars().any(is_digit) {
        f.add(&NAME_DIGITS);
    }
    let chinese = text.chars().any(is_cjk);
    let latin = text.chars().any(is_latin_letter);
    if chinese && latin {
        f.add(&NAME_MIXED_SCRIPTS);
        return (text, f, None);
    }
    if chinese {
        let name: String = text
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| if is_dot_like(c) { MIDDLE_DOT } else { c })
            .collect();
        if name
            .chars()
            .any(|c| !(is_cjk(c) || c == MIDDLE_DOT || is_digit(c)))
        {
            f.add(&NAME_CHARACTERS);
        }
        if name.starts_with(MIDDLE_DOT) || name.ends_with(MIDDLE_DOT) || name.contains("··") {
            f.add(&NAME_DOT);
        }
        let n = name.chars().count();
        if name.chars().filter(|c| is_cjk(*c)).count() < CHINESE_MIN {
            f.add(&NAME_TOO_SHORT);
        }
        if n > CHINESE_MAX {
            f.add(&NAME_TOO_LONG);
        }
        (name, f, Some(NameScript::Chinese))
    } else if latin {
        let name: String = text
            .chars()
            .map(|c| {
                if matches!(c, '\u{2018}' | '\u{2019}') {
                    '\''
                } else {
                    c
                }
            })
            .collect();
        if name
            .chars()
            .any(|c| !(is_latin_letter(c) || is_latin_separator(c) || is_digit(c)))
        {
            f.add(&NAME_CHARACTERS);
        }
        let chars: Vec<char> = name.chars().collect();
        let bad_start = chars.first().is_some_and(|c| !is_latin_letter(*c));
        let bad_end = chars.last().is_some_and(|c| matches!(c, ' ' | '-' | '\''));
        let doubled = chars.windows(2).any(|w| {
            is_latin_separator(w[0]) && is_latin_separator(w[1]) && !(w[0] == '.' && w[1] == ' ')
        });
        if bad_start || bad_end || doubled {
            f.add(&NAME_SEPARATOR);
        }
        if chars.iter().filter(|c| is_latin_letter(**c)).count() < LATIN_MIN {
            f.add(&NAME_TOO_SHORT);
        }
        if chars.len() > LATIN_MAX {
            f.add(&NAME_TOO_LONG);
        }
        (name, f, Some(NameScript::Latin))
    } else {
        if text.chars().any(|c| !is_digit(c)) || f.is_empty() {
            f.add(&NAME_CHARACTERS);
        }
        (text, f, None)
    }
}

/// Checks a person's name, listing every problem.
pub fn check(value: &str) -> NameCheck {
    let (name, f, script) = examine(value);
    let valid = f.is_empty();
    NameCheck {
        valid,
        problems: f.problems(),
        masked: super::mask::mask_name(name),
        script: if valid { script } else { None },
    }
}

/// The normalised form of a valid name (see the module documentation), or
/// an `Input` error listing every problem.
pub fn normalize(value: &str) -> Result<String> {
    let (name, f, _) = examine(value);
    f.into_result(name)
}

/// Checks a person's name: a Chinese name (with · for names such as
/// 阿依古丽·买买提) or a Latin one.
#[uniffi::export]
pub fn check_name(value: String) -> NameCheck {
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
    fn chinese_names_are_accepted() {
        for name in ["张三", "欧阳娜娜", "阿依古丽·买买提", "𠀋一", "李〇"] {
            let c = check(name);
            assert!(c.valid, "{name}: {:?}", c.problems);
            assert_eq!(c.script, Some(NameScript::Chinese));
        }
    }

    #[test]
    fn look_alike_dots_and_spaces_are_normalised() {
        for typed in [
            "阿依古丽.买买提",
            "阿依古丽•买买提",
            "阿依古丽・买买提",
            "阿依古丽 · 买买提",
            "阿依古丽．买买提",
            "阿依古丽‧买买提",
            " 阿依古丽∙买买提 ",
        ] {
            assert_eq!(normalize(typed).expect(typed), "阿依古丽·买买提", "{typed}");
        }
        assert_eq!(normalize("张 三").expect("spaces"), "张三");
    }

    #[test]
    fn latin_names_are_accepted() {
        for name in [
            "John Smith",
            "Mary-Jane O'Neil",
            "J. R. R. Tolkien",
            "Martin Luther King Jr.",
            "Zoë Saldaña",
            "Nguyễn Văn An",
            "Ｊｏｈｎ Ｓｍｉｔｈ",
        ] {
            let c = check(name);
            assert!(c.valid, "{name}: {:?}", c.problems);
            assert_eq!(c.script, Some(NameScript::Latin));
        }
        assert_eq!(normalize("  John   O’Neil ").expect("ok"), "John O'Neil");
    }

    #[test]
    fn each_rule_has_its_code() {
        assert_eq!(codes(""), ["name.empty"]);
        assert_eq!(codes("   "), ["name.empty"]);
        assert_eq!(codes("张三3"), ["name.digits"]);
        assert_eq!(codes("John2"), ["name.digits"]);
        assert_eq!(codes("张John"), ["name.mixed_scripts"]);
        assert_eq!(codes("张三!"), ["name.characters"]);
        assert_eq!(codes("张三😀"), ["name.characters"]);
        assert_eq!(codes("John_Smith"), ["name.characters"]);
        assert_eq!(codes("·阿依古丽"), ["name.dot_position"]);
        assert_eq!(codes("阿依古丽·"), ["name.dot_position"]);
        assert_eq!(codes("阿依古丽··买买提"), ["name.dot_position"]);
        assert_eq!(codes("阿依古丽..买买提"), ["name.dot_position"]);
        assert_eq!(codes("-John"), ["name.separator"]);
        assert_eq!(codes("John-"), ["name.separator"]);
        assert_eq!(codes("John--Smith"), ["name.separator"]);
        assert_eq!(codes("John ' Smith"), ["name.separator"]);
        assert_eq!(codes("张"), ["name.too_short"]);
        assert_eq!(codes("J"), ["name.too_short"]);
        assert_eq!(codes(&"张".repeat(31)), ["name.too_long"]);
        assert_eq!(codes(&"a".repeat(65)), ["name.too_long"]);
        assert_eq!(codes("!!!"), ["name.characters"]);
        assert_eq!(codes("123"), ["name.digits"]);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        assert_eq!(
            codes("·张3!"),
            [
                "name.digits",
                "name.characters",
                "name.dot_position",
                "name.too_short"
            ]
        );
    }

    #[test]
    fn the_record_never_holds_the_full_name() {
        let c = check("阿依古丽·买买提");
        assert_eq!(c.masked, "阿******提");
        let json = serde_json::to_string(&c).expect("json");
        assert!(!json.contains("古丽"), "{json}");
        assert_eq!(check("John Smith").masked, "J*** S****");
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
        fn generated_chinese_names_are_accepted(
            given in proptest::collection::vec(0x4E00u32..=0x9FA5, 2..6),
            second in proptest::collection::vec(0x4E00u32..=0x9FA5, 0..6),
        ) {
            let part = |v: &Vec<u32>| v.iter().filter_map(|c| char::from_u32(*c)).collect::<String>();
            let name = if second.is_empty() {
                part(&given)
            } else {
                format!("{}·{}", part(&given), part(&second))
            };
            prop_assert!(check(&name).valid, "{}", name);
            prop_assert_eq!(normalize(&name).ok(), Some(name));
        }

        #[test]
        fn generated_latin_names_are_accepted(words in proptest::collection::vec("[A-Z][a-z]{1,10}", 1..4)) {
            let name = words.join(" ");
            prop_assert!(check(&name).valid, "{}", name);
            prop_assert_eq!(normalize(&name).ok(), Some(name));
        }
    }
}
