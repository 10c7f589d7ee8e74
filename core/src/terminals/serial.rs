//! terminals::serial: the terminal's serial number (SN) as the merchant types
//! it, reads it off the back label, or gets it from the back QR.
//!
//! The contract's form (docs/platform-api.md, Terminals): `LKL` + a
//! two-character model code + 7 digits + one Luhn check digit over those 7
//! digits, e.g. `LKLA800123455`. Typed serials may be in any case, with
//! spaces or dashes between groups (`lkl-a8 0012 3455`) and in the full-width
//! forms a Chinese input method types; they are upper-cased and the
//! separators dropped before the rules apply.
//!
//! [`check_serial`] adds the per-model rules the platform publishes
//! (`GET /v1/terminal-models`): the serial must start with one model's
//! `serial_prefix` and have that model's `serial_length`. With an empty model
//! list (nothing fetched or cached yet) only the generic rules of
//! [`normalise_serial`] apply.
//!
//! No serial ever goes into an error's message or detail.

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Problem, Result};
use crate::validate::bank_card::luhn_check_digit;

crate::codes! {
    SERIAL_EMPTY = Input, "serial.empty", "终端序列号不能为空", "The serial number is empty";
    SERIAL_FORMAT = Input, "serial.format", "终端序列号应为 LKL、2 位型号码和 8 位数字，共 13 位", "The serial number must be LKL, a two-character model code and 8 digits: 13 characters";
    SERIAL_PREFIX = Input, "serial.prefix", "终端序列号应以 LKL 开头", "The serial number must start with LKL";
    SERIAL_CHECK_DIGIT = Input, "serial.check_digit", "终端序列号校验位不正确，请检查是否输错", "The serial number's check digit is wrong; check for a typo";
    SERIAL_MODEL_UNKNOWN = Input, "serial.model_unknown", "终端序列号不属于任何已知机型", "The serial number belongs to no known terminal model";
    SERIAL_MODEL_LENGTH = Input, "serial.model_length", "终端序列号的长度与该机型不符", "The serial number's length does not match its terminal model";
}

/// The prefix every serial starts with.
pub const SERIAL_PREFIX_TEXT: &str = "LKL";
/// The length of a serial in the contract's generic form.
pub const SERIAL_LENGTH: usize = 13;
/// The longest text looked at (bytes): room for full-width characters and
/// separators around 13 characters. Anything longer is refused unread.
pub const MAX_SERIAL_INPUT: usize = 128;

/// A serial in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Serial {
    /// The serial: upper case, no separators, e.g. `LKLA800123455`.
    pub sn: String,
    /// The two-character model code the serial carries, e.g. `A8`.
    pub model_code: String,
}

/// A terminal model as the platform publishes it (`GET /v1/terminal-models`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct TerminalModel {
    /// The model code, e.g. `A8`.
    pub model: String,
    /// The model's name for the merchant, e.g. `拉卡拉电签 A8`.
    pub name: String,
    /// What every serial of the model starts with, e.g. `LKLA8`.
    pub serial_prefix: String,
    /// How many characters a serial of the model has, e.g. 13.
    pub serial_length: u32,
    /// Whether the model can be bound over Bluetooth LE.
    pub has_bluetooth: bool,
}

/// A typed serial checked against the published models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct SerialCheck {
    /// The serial in canonical form.
    pub sn: String,
    /// The model code: the matched model's, or the two characters after
    /// `LKL` when no model list was given.
    pub model_code: String,
    /// The model the serial belongs to; `None` when the list was empty.
    pub model: Option<TerminalModel>,
}

/// One failed rule as an `Input` error with that rule's problem.
fn refuse(code: &'static Code) -> Error {
    Error::input(code, vec![Problem::new(code, "")])
}

/// Upper case without separators (spaces, dashes, their full-width forms),
/// or the first rule it breaks: empty, too long, a character other than an
/// ASCII letter or digit.
fn clean(text: &str) -> Result<String> {
    if text.len() > MAX_SERIAL_INPUT {
        return Err(refuse(&SERIAL_FORMAT).detail("serial input over the length bound"));
    }
    let sn: String = crate::validate::ascii_forms(text)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if sn.is_empty() {
        return Err(refuse(&SERIAL_EMPTY));
    }
    if !sn
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(refuse(&SERIAL_FORMAT).detail("serial has characters other than A-Z, 0-9"));
    }
    if !sn.starts_with(SERIAL_PREFIX_TEXT) {
        return Err(refuse(&SERIAL_PREFIX));
    }
    Ok(sn)
}

/// Checks the digits after the model part: all digits, the last one the Luhn
/// check digit over the others.
fn check_digits(body: &str) -> Result<()> {
    let bytes = body.as_bytes();
    let Some((check, digits)) = bytes.split_last() else {
        return Err(refuse(&SERIAL_FORMAT));
    };
    if digits.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(refuse(&SERIAL_FORMAT).detail("serial body is not all digits"));
    }
    if luhn_check_digit(digits) != Some(*check) {
        return Err(refuse(&SERIAL_CHECK_DIGIT));
    }
    Ok(())
}

/// Normalises a serial (any case; spaces or dashes as separators, dropped)
/// and checks the contract's generic rules. Codes: `serial.empty`,
/// `serial.format` (length or characters; also text over
/// [`MAX_SERIAL_INPUT`] bytes, refused before any work), `serial.prefix`,
/// `serial.check_digit`.
pub fn normalise_serial(text: &str) -> Result<Serial> {
    let sn = clean(text)?;
    if sn.len() != SERIAL_LENGTH {
        return Err(refuse(&SERIAL_FORMAT).detail("serial length is not 13"));
    }
    // `clean` left only ASCII, so these byte ranges are character ranges.
    let model_code = sn.get(3..5).unwrap_or_default().to_owned();
    let body = sn.get(5..).unwrap_or_default();
    check_digits(body)?;
    Ok(Serial { sn, model_code })
}

/// Normalises a serial and checks it against the models the platform
/// publishes: the model whose `serial_prefix` the serial starts with (the
/// longest such prefix when several match), then that model's length, then
/// the digits after the prefix with their Luhn check digit.
///
/// Codes: those of [`normalise_serial`], plus `serial.model_unknown` (no
/// model's prefix matches) and `serial.model_length` (the length is not the
/// model's). With an empty `models` list only the generic rules apply and
/// `model` is `None`.
pub fn check_serial(text: &str, models: &[TerminalModel]) -> Result<SerialCheck> {
    if models.is_empty() {
        let s = normalise_serial(text)?;
        return Ok(SerialCheck {
            sn: s.sn,
            model_code: s.model_code,
            model: None,
        });
    }
    let sn = clean(text)?;
    let model = models
        .iter()
        .filter(|m| {
            let prefix = m.serial_prefix.to_ascii_uppercase();
            !prefix.is_empty() && sn.starts_with(&prefix)
        })
        .max_by_key(|m| m.serial_prefix.len())
        .ok_or_else(|| refuse(&SERIAL_MODEL_UNKNOWN))?;
    if usize::try_from(model.serial_length).ok() != Some(sn.len()) {
        return Err(refuse(&SERIAL_MODEL_LENGTH));
    }
    // The prefix matched as ASCII upper case, so it ends on a char boundary.
    let body = sn.get(model.serial_prefix.len()..).unwrap_or_default();
    check_digits(body)?;
    Ok(SerialCheck {
        sn,
        model_code: model.model.clone(),
        model: Some(model.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Ok(v) => format!("ok {v:?}"),
            Err(e) => e.code.to_string(),
        }
    }

    fn model(code: &str, length: u32) -> TerminalModel {
        TerminalModel {
            model: code.to_owned(),
            name: format!("拉卡拉电签 {code}"),
            serial_prefix: format!("LKL{code}"),
            serial_length: length,
            has_bluetooth: true,
        }
    }

    /// A valid serial with the given model code and 7-digit body.
    pub(crate) fn make(code: &str, body: u32) -> String {
        let digits = format!("{body:07}");
        let check = luhn_check_digit(digits.as_bytes()).map(char::from);
        format!("LKL{code}{digits}{}", check.unwrap_or('0'))
    }

    #[test]
    fn the_contract_example_is_valid_in_every_typed_form() {
        for typed in [
            "LKLA800123455",
            "lkla800123455",
            " LKL-A8-0012345-5 ",
            "lkl a8 0012 3455",
            "ＬＫＬＡ８００１２３４５５",
            "LKL\u{3000}A8\u{3000}00123455",
        ] {
            let s = normalise_serial(typed).unwrap();
            assert_eq!(s.sn, "LKLA800123455", "{typed}");
            assert_eq!(s.model_code, "A8");
        }
    }

    #[test]
    fn each_broken_rule_has_its_own_code() {
        assert_eq!(code(normalise_serial("")), "serial.empty");
        assert_eq!(code(normalise_serial(" - -")), "serial.empty");
        assert_eq!(code(normalise_serial("LKLA80012345")), "serial.format");
        assert_eq!(code(normalise_serial("LKLA8001234555")), "serial.format");
        assert_eq!(code(normalise_serial("LKLA8001234_5")), "serial.format");
        assert_eq!(code(normalise_serial("LKLA8O0123455")), "serial.format");
        assert_eq!(code(normalise_serial("LKLA8/0123455")), "serial.format");
        assert_eq!(code(normalise_serial("LKLÄ800123455")), "serial.format");
        assert_eq!(code(normalise_serial("XKLA800123455")), "serial.prefix");
        assert_eq!(
            code(normalise_serial("LKLA800123456")),
            "serial.check_digit"
        );
        assert_eq!(
            code(normalise_serial("LKLA800123545")),
            "serial.check_digit"
        );
        assert_eq!(
            code(normalise_serial(&"LKLA800123455 ".repeat(20))),
            "serial.format"
        );
    }

    #[test]
    fn errors_never_carry_the_serial() {
        let e = normalise_serial("LKLA800123456").unwrap_err();
        let public = crate::MerchantError::from(e.clone());
        assert!(!format!("{e} {e:?} {public:?}").contains("0012345"));
        assert_eq!(public.problems()[0].code, "serial.check_digit");
    }

    #[test]
    fn models_decide_prefix_and_length() {
        let models = [model("A8", 13), model("Q1", 13), model("M2", 14)];
        let c = check_serial("lkla8-00123455", &models).unwrap();
        assert_eq!(c.sn, "LKLA800123455");
        assert_eq!(c.model_code, "A8");
        assert_eq!(
            c.model.as_ref().map(|m| m.name.as_str()),
            Some("拉卡拉电签 A8")
        );
        let q1 = make("Q1", 765_432);
        assert_eq!(check_serial(&q1, &models).unwrap().model_code, "Q1");

        // The generic rules would take Z9, but no model has that prefix.
        let z9 = make("Z9", 1);
        assert!(normalise_serial(&z9).is_ok());
        assert_eq!(code(check_serial(&z9, &models)), "serial.model_unknown");
        // M2 serials have 14 characters: 9 digits after LKLM2.
        assert_eq!(
            code(check_serial(&make("M2", 1), &models)),
            "serial.model_length"
        );
        let digits = "00000001";
        let check = luhn_check_digit(digits.as_bytes()).map(char::from).unwrap();
        let m2 = format!("LKLM2{digits}{check}");
        assert_eq!(check_serial(&m2, &models).unwrap().model_code, "M2");
        assert_eq!(
            code(check_serial("LKLA80012345", &models)),
            "serial.model_length"
        );
        assert_eq!(
            code(check_serial("LKLA800123456", &models)),
            "serial.check_digit"
        );
        assert_eq!(
            code(check_serial("QKLA800123455", &models)),
            "serial.prefix"
        );
        assert_eq!(code(check_serial("", &models)), "serial.empty");
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let mut special = model("A8", 14);
        special.model = "A8X".to_owned();
        special.serial_prefix = "LKLA81".to_owned();
        let models = [model("A8", 13), special];
        assert_eq!(
            check_serial(&make("A8", 123_455), &models)
                .unwrap()
                .model_code,
            "A8"
        );
        let digits = "2345678";
        let check = luhn_check_digit(digits.as_bytes()).map(char::from).unwrap();
        let long = format!("LKLA81{digits}{check}");
        assert_eq!(check_serial(&long, &models).unwrap().model_code, "A8X");
    }

    #[test]
    fn without_models_only_the_generic_rules_apply() {
        let ok = check_serial(&make("Z9", 42), &[]).unwrap();
        assert_eq!(ok.sn, make("Z9", 42));
        assert_eq!(ok.model_code, "Z9");
        assert!(ok.model.is_none());
        assert_eq!(code(check_serial("LKLZ9000000420", &[])), "serial.format");
    }

    #[test]
    fn models_come_from_the_platform_json() {
        let m: TerminalModel = serde_json::from_str(
            r#"{ "model": "A8", "name": "拉卡拉电签 A8", "serial_prefix": "LKLA8", "serial_length": 13, "has_bluetooth": true }"#,
        )
        .unwrap();
        assert_eq!(m, model("A8", 13));
    }

    proptest! {
        #[test]
        fn any_text_is_checked_without_panic(text in any::<String>()) {
            if let Ok(s) = normalise_serial(&text) {
                prop_assert_eq!(s.sn.len(), SERIAL_LENGTH);
                prop_assert_eq!(normalise_serial(&s.sn).ok(), Some(s.clone()));
                prop_assert_eq!(check_serial(&text, &[]).map(|c| c.sn).ok(), Some(s.sn));
            }
            let _ = check_serial(&text, &[model("A8", 13), model("", 0)]);
        }

        #[test]
        fn generated_serials_are_valid_and_one_typo_is_caught(
            code in "[A-Z0-9]{2}", body in 0u32..10_000_000, pos in 5usize..13, delta in 1u8..10,
        ) {
            let sn = make(&code, body);
            let s = normalise_serial(&sn).unwrap();
            prop_assert_eq!(&s.sn, &sn);
            prop_assert_eq!(&s.model_code, &code);
            let mut typo = sn.into_bytes();
            typo[pos] = b'0' + (typo[pos] - b'0' + delta) % 10;
            let typo = String::from_utf8(typo).unwrap();
            prop_assert_eq!(code_of(&typo), "serial.check_digit");
        }
    }

    fn code_of(text: &str) -> String {
        code(normalise_serial(text))
    }
}
