//! `GET /v1/card-bins/{prefix}`: the card BIN lookup, backed by the core's
//! embedded BIN table (longest prefix wins). The prefix is 6 to 10 digits:
//! never a whole card number, so a full PAN never travels for a lookup.

use axum::Json;
use axum::extract::Path;
use merchant_contract::domain::{self as wire, CardBin};
use merchant_core::validate::lookup_bin;

use crate::error::ApiError;
use crate::guard::Merchant;

/// The shortest and longest prefix accepted.
pub const PREFIX_MIN: usize = 6;
pub const PREFIX_MAX: usize = 10;

/// Whether `prefix` is 6 to 10 ASCII digits.
pub fn prefix_ok(prefix: &str) -> bool {
    (PREFIX_MIN..=PREFIX_MAX).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit())
}

/// What the table says about `prefix` (already checked).
pub fn answer(prefix: &str) -> CardBin {
    match lookup_bin(prefix.to_owned()) {
        Some(info) => CardBin {
            prefix: prefix.to_owned(),
            known: true,
            bin: Some(info.bin),
            bank_name: Some(info.bank_name),
            bank_name_en: Some(info.bank_name_en),
            card_kind: serde_json::to_value(info.card_kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
        },
        None => CardBin {
            prefix: prefix.to_owned(),
            known: false,
            bin: None,
            bank_name: None,
            bank_name_en: None,
            card_kind: None,
        },
    }
}

/// `GET /v1/card-bins/{prefix}`.
pub async fn lookup(
    Merchant(_): Merchant,
    Path(prefix): Path<String>,
) -> Result<Json<CardBin>, ApiError> {
    if !prefix_ok(&prefix) {
        return Err(ApiError::new(&wire::CARD_BIN_PREFIX_INVALID));
    }
    Ok(Json(answer(&prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_six_to_ten_digits() {
        assert!(prefix_ok("622202"));
        assert!(prefix_ok("6222021234"));
        for bad in [
            "62220",
            "62220212345",
            "62220a",
            "６２２２０２",
            "",
            "622202 ",
        ] {
            assert!(!prefix_ok(bad), "{bad}");
        }
    }

    #[test]
    fn known_and_unknown_bins() {
        let a = answer("6222021234");
        assert!(a.known);
        assert_eq!(a.bin.as_deref(), Some("622202"));
        assert_eq!(a.card_kind.as_deref(), Some("debit"));
        assert!(a.bank_name.is_some());
        let u = answer("7000001234");
        assert!(!u.known);
        assert_eq!(u.bank_name, None);
    }
}
