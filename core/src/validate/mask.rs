//! Masking for display: a card as its first 6 and last 4 digits, an ID
//! number as its first 3 and last 4 characters, a phone as its first 3 and
//! last 4 digits, a name as its first and last characters.
//!
//! Masking never reveals more than that, whatever the input: when a value is
//! too short to keep enough hidden between the shown ends, every character
//! is hidden. Stars stand one for one for hidden characters, at most
//! [`MAX_STARS`] of them, so absurdly long input gives a bounded output.

use super::{ascii_forms, compact, phone, without_separators};

/// The most stars a masked value holds.
pub const MAX_STARS: usize = 16;

/// Shows the first `front` and last `back` characters and stars the rest, if
/// at least `min_hidden` characters stay hidden; otherwise stars everything.
pub(crate) fn mask_middle(value: &str, front: usize, back: usize, min_hidden: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n < front + back + min_hidden {
        return "*".repeat(n.min(MAX_STARS));
    }
    let mut out: String = chars[..front].iter().collect();
    out.push_str(&"*".repeat((n - front - back).min(MAX_STARS)));
    out.extend(&chars[n - back..]);
    out
}

/// A bank card number for display: `622202******1234`. Spaces and dashes
/// are dropped first.
#[uniffi::export]
pub fn mask_bank_card(value: String) -> String {
    mask_middle(&without_separators(&value), 6, 4, 4)
}

/// A resident ID number for display: `110***********002X`.
#[uniffi::export]
pub fn mask_id_card(value: String) -> String {
    mask_middle(&compact(&value).to_uppercase(), 3, 4, 4)
}

/// A mobile number for display: `138****8000` (a +86 prefix is dropped).
#[uniffi::export]
pub fn mask_phone(value: String) -> String {
    mask_middle(&phone::strip(&value).0, 3, 4, 4)
}

/// A person's name for display: `张*`, `张*明`, `阿*****提`; a Latin name
/// keeps the first letter of each word: `J*** S****`.
#[uniffi::export]
pub fn mask_name(value: String) -> String {
    let text = ascii_forms(&value);
    let text = text.trim();
    if text.chars().any(super::name::is_cjk) {
        let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
        return match chars.len() {
            0 => String::new(),
            1 => "*".to_owned(),
            2 => format!("{}*", chars[0]),
            n => format!(
                "{}{}{}",
                chars[0],
                "*".repeat((n - 2).min(MAX_STARS)),
                chars[n - 1]
            ),
        };
    }
    text.split_whitespace()
        .take(MAX_STARS)
        .map(|word| {
            let mut chars = word.chars();
            let first: String = chars.next().into_iter().collect();
            first + &"*".repeat(chars.count().min(MAX_STARS))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn card_shows_first_six_and_last_four() {
        assert_eq!(
            mask_bank_card("6222021234567890123".into()),
            "622202*********0123"
        );
        assert_eq!(
            mask_bank_card("6222 0212 3456 7890".into()),
            "622202******7890"
        );
        assert_eq!(
            mask_bank_card("6222-0212-3456-7890".into()),
            "622202******7890"
        );
    }

    #[test]
    fn id_shows_first_three_and_last_four() {
        assert_eq!(
            mask_id_card("11010519491231002x".into()),
            "110***********002X"
        );
    }

    #[test]
    fn phone_shows_first_three_and_last_four() {
        assert_eq!(mask_phone("13800138000".into()), "138****8000");
        assert_eq!(mask_phone("+86 138-0013-8000".into()), "138****8000");
    }

    #[test]
    fn names_keep_their_ends() {
        assert_eq!(mask_name("张三".into()), "张*");
        assert_eq!(mask_name("张小明".into()), "张*明");
        assert_eq!(mask_name("阿依古丽·买买提".into()), "阿******提");
        assert_eq!(mask_name("John Smith".into()), "J*** S****");
        assert_eq!(mask_name("".into()), "");
        assert_eq!(mask_name("李".into()), "*");
    }

    #[test]
    fn short_or_odd_input_is_hidden_entirely() {
        assert_eq!(mask_bank_card("".into()), "");
        assert_eq!(mask_bank_card("1234567890123".into()), "*************");
        assert_eq!(mask_id_card("1234567890".into()), "**********");
        assert_eq!(mask_phone("1380013".into()), "*******");
        assert_eq!(mask_middle("ab", 3, 4, 4), "**");
    }

    #[test]
    fn long_input_gives_bounded_output() {
        let long = "6".repeat(10_000);
        let masked = mask_bank_card(long);
        assert_eq!(masked.chars().count(), 6 + MAX_STARS + 4);
        assert!(mask_name("a ".repeat(10_000)).chars().count() <= MAX_STARS * 2);
    }

    proptest! {
        #[test]
        fn masking_never_panics_and_never_shows_more(value in any::<String>()) {
            for (masked, front, back) in [
                (mask_bank_card(value.clone()), 6, 4),
                (mask_id_card(value.clone()), 3, 4),
                (mask_phone(value.clone()), 3, 4),
            ] {
                let shown = masked.chars().filter(|c| *c != '*').count();
                prop_assert!(shown <= front + back, "{masked}");
            }
            let _ = mask_name(value);
        }

        #[test]
        fn a_card_of_digits_keeps_exactly_ten_digits(digits in "[0-9]{15,19}") {
            let masked = mask_bank_card(digits.clone());
            prop_assert_eq!(masked.chars().count(), digits.len());
            prop_assert_eq!(&masked[..6], &digits[..6]);
            prop_assert_eq!(&masked[masked.len() - 4..], &digits[digits.len() - 4..]);
            prop_assert_eq!(masked.matches('*').count(), digits.len() - 10);
        }
    }
}
