//! Onboarding rules: what a saved form must look like, what a submit needs,
//! and the simulated review (documented in docs/platform-api.md,
//! "Onboarding").
//!
//! Saving (`POST`/`PUT` of an application) checks every field present with
//! the core's validators and refuses with every problem at once
//! (`request.field_invalid`, one `fields` entry per problem). Only facts the
//! review needs are kept: the ID number and the settlement card are stored
//! masked (and the legal name too), with the birth date, the identity-check
//! flags and the card's BIN facts; never in full.
//!
//! The review, at submit, refuses (status `rejected`, one [`Rejection`] per
//! reason) when:
//! - the legal name contains `测试拒绝` (identity check fails);
//! - the ID number's sequence code (characters 15–17) is `999` (identity
//!   check fails);
//! - the applicant is under 18 on the sandbox's today;
//! - the settlement card's BIN is not in the BIN table, or is not a debit card;
//! - the shop name contains `测试拒绝`.
//!
//! Anything else is approved.

use chrono::{Datelike, NaiveDate};
use merchant_contract::domain::{
    self as wire, ApplicationForm, DocumentKind, MerchantKind, Rejection,
};
use merchant_contract::wire::FieldError;
use merchant_core::validate::{BinInfo, CardKind, bank_card, credit_code, id_card, mask, name};

/// The marker that makes the simulated review refuse a name.
pub const REFUSE_MARKER: &str = "测试拒绝";
/// ID numbers with this sequence code fail the simulated identity check.
pub const REFUSED_ID_SEQUENCE: &str = "999";
/// Longest shop name and address, in characters.
pub const SHOP_NAME_MAX: usize = 40;
pub const ADDRESS_MAX: usize = 100;

/// The ID number's facts the platform keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdFacts {
    pub masked: String,
    pub birth_date: NaiveDate,
    /// The sequence code is [`REFUSED_ID_SEQUENCE`].
    pub refused_sequence: bool,
}

/// The legal name's facts the platform keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFacts {
    /// First and last characters (`王*明`).
    pub masked: String,
    /// The name carries [`REFUSE_MARKER`].
    pub refused: bool,
}

/// The settlement card's facts the platform keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    pub masked: String,
    pub bin: Option<BinInfo>,
}

/// A form that passed the save checks, reduced to what is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedForm {
    pub kind: MerchantKind,
    pub shop_name: Option<String>,
    pub business_address: Option<String>,
    pub legal_name: Option<NameFacts>,
    pub id: Option<IdFacts>,
    pub licence_code: Option<String>,
    pub card: Option<CardFacts>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn free_text(
    field: &str,
    value: Option<&str>,
    max: usize,
    out: &mut Vec<FieldError>,
) -> Option<String> {
    let v = value?;
    if v.chars().count() > max {
        out.push(err(field, wire::FIELD_TOO_LONG.code));
        return None;
    }
    if v.chars().any(char::is_control) {
        out.push(err(field, wire::FIELD_INVALID.code));
        return None;
    }
    Some(v.to_owned())
}

fn err(field: &str, code: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code: code.to_owned(),
    }
}

fn problems_of(field: &str, e: &merchant_core::error::Error, out: &mut Vec<FieldError>) {
    if e.problems.is_empty() {
        out.push(err(field, &e.code));
    }
    for p in &e.problems {
        out.push(err(field, &p.code));
    }
}

/// Checks a form as saved. A blank field counts as left out. Every problem
/// of every field is listed.
pub fn check_form(form: &ApplicationForm) -> Result<CheckedForm, Vec<FieldError>> {
    let mut out = Vec::new();
    let shop_name = free_text(
        "shop_name",
        present(&form.shop_name),
        SHOP_NAME_MAX,
        &mut out,
    );
    let business_address = free_text(
        "business_address",
        present(&form.business_address),
        ADDRESS_MAX,
        &mut out,
    );
    let legal_name = present(&form.legal_name).and_then(|v| match name::normalize(v) {
        Ok(n) => Some(NameFacts {
            masked: mask::mask_name(n.clone()),
            refused: n.contains(REFUSE_MARKER),
        }),
        Err(e) => {
            problems_of("legal_name", &e, &mut out);
            None
        }
    });
    let id = present(&form.id_number).and_then(|v| match id_card::normalize(v) {
        Ok(n) => {
            let check = id_card::check(&n);
            let birth_date = check
                .birth_date
                .as_deref()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            match birth_date {
                Some(birth_date) => Some(IdFacts {
                    masked: check.masked,
                    birth_date,
                    refused_sequence: n.get(14..17) == Some(REFUSED_ID_SEQUENCE),
                }),
                None => {
                    out.push(err("id_number", wire::FIELD_INVALID.code));
                    None
                }
            }
        }
        Err(e) => {
            problems_of("id_number", &e, &mut out);
            None
        }
    });
    let licence_code = match (form.kind, present(&form.licence_code)) {
        (_, None) => None,
        (MerchantKind::Micro, Some(_)) => {
            out.push(err("licence_code", wire::FIELD_LICENCE_NOT_FOR_MICRO.code));
            None
        }
        (MerchantKind::Enterprise, Some(v)) => match credit_code::normalize(v) {
            Ok(n) => Some(n),
            Err(e) => {
                problems_of("licence_code", &e, &mut out);
                None
            }
        },
    };
    let card = present(&form.settlement_card_number).and_then(|v| match bank_card::normalize(v) {
        Ok(n) => {
            let check = bank_card::check(&n);
            Some(CardFacts {
                masked: check.masked,
                bin: check.bin,
            })
        }
        Err(e) => {
            problems_of("settlement_card_number", &e, &mut out);
            None
        }
    });
    if out.is_empty() {
        Ok(CheckedForm {
            kind: form.kind,
            shop_name,
            business_address,
            legal_name,
            id,
            licence_code,
            card,
        })
    } else {
        Err(out)
    }
}

/// What a submit needs and does not have yet: field names, document kinds,
/// and `agreement`, in a fixed order.
pub fn missing(
    form: &CheckedForm,
    documents: &[DocumentKind],
    agreement_signed: bool,
) -> Vec<String> {
    let enterprise = form.kind == MerchantKind::Enterprise;
    let mut out: Vec<String> = [
        ("shop_name", form.shop_name.is_some()),
        ("business_address", form.business_address.is_some()),
        ("legal_name", form.legal_name.is_some()),
        ("id_number", form.id.is_some()),
        ("licence_code", !enterprise || form.licence_code.is_some()),
        ("settlement_card_number", form.card.is_some()),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(f, _)| f.to_owned())
    .collect();
    for kind in DocumentKind::ALL {
        let needed = kind != DocumentKind::Licence || enterprise;
        if needed && !documents.contains(&kind) {
            out.push(kind.as_str().to_owned());
        }
    }
    if !agreement_signed {
        out.push("agreement".to_owned());
    }
    out
}

fn rejection(field: &str, code: &merchant_contract::PlatformCode) -> Rejection {
    Rejection {
        field: field.to_owned(),
        code: code.code.to_owned(),
        message: code.zh.to_owned(),
        message_en: code.en.to_owned(),
    }
}

/// Whole years from `birth` to `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// The simulated review of a complete form on `today`: the reasons to
/// refuse it (empty: approved).
pub fn review(form: &CheckedForm, today: NaiveDate) -> Vec<Rejection> {
    let mut out = Vec::new();
    if form
        .shop_name
        .as_deref()
        .is_some_and(|n| n.contains(REFUSE_MARKER))
    {
        out.push(rejection("shop_name", &wire::REVIEW_SHOP_NAME_REFUSED));
    }
    if form.legal_name.as_ref().is_some_and(|n| n.refused) {
        out.push(rejection("legal_name", &wire::REVIEW_IDENTITY_MISMATCH));
    }
    if let Some(id) = &form.id {
        if id.refused_sequence {
            out.push(rejection("id_number", &wire::REVIEW_IDENTITY_MISMATCH));
        }
        if age_on(id.birth_date, today) < 18 {
            out.push(rejection("id_number", &wire::REVIEW_APPLICANT_UNDERAGE));
        }
    }
    if let Some(card) = &form.card {
        match &card.bin {
            None => out.push(rejection(
                "settlement_card_number",
                &wire::REVIEW_CARD_BANK_UNKNOWN,
            )),
            Some(info) if info.card_kind != CardKind::Debit => out.push(rejection(
                "settlement_card_number",
                &wire::REVIEW_CARD_NOT_DEBIT,
            )),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid ID number from its first 17 digits.
    pub fn id_number(first17: &str) -> String {
        let c = id_card::check_char(first17.as_bytes()).expect("17 digits");
        format!("{first17}{}", char::from(c))
    }

    /// A Luhn-valid card number from its digits before the check digit.
    pub fn card_number(partial: &str) -> String {
        let c = bank_card::luhn_check_digit(partial.as_bytes()).expect("digits");
        format!("{partial}{}", char::from(c))
    }

    fn good_form() -> ApplicationForm {
        ApplicationForm {
            kind: MerchantKind::Micro,
            shop_name: Some("老王便利店".into()),
            business_address: Some("成都市武侯区人民南路四段 1 号".into()),
            legal_name: Some("王小明".into()),
            id_number: Some(id_number("11010519850307123")),
            licence_code: None,
            settlement_card_number: Some(card_number("622202100000000001")),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 5, 27).unwrap()
    }

    #[test]
    fn a_good_form_is_kept_masked_and_approved() {
        let f = check_form(&good_form()).unwrap();
        assert_eq!(
            f.legal_name,
            Some(NameFacts {
                masked: "王*明".into(),
                refused: false
            })
        );
        let id = f.id.as_ref().unwrap();
        assert!(id.masked.starts_with("110") && id.masked.contains('*'));
        assert_eq!(id.birth_date, NaiveDate::from_ymd_opt(1985, 3, 7).unwrap());
        assert!(!id.refused_sequence);
        let card = f.card.as_ref().unwrap();
        assert!(card.masked.starts_with("622202") && card.masked.contains('*'));
        assert_eq!(card.bin.as_ref().unwrap().card_kind, CardKind::Debit);
        assert_eq!(missing(&f, &DocumentKind::ALL, true), Vec::<String>::new());
        assert_eq!(review(&f, today()), vec![]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut form = good_form();
        form.legal_name = Some("王2".into());
        // A wrong check character.
        let good = id_number("11010519850307123");
        let wrong = if good.ends_with('1') { '2' } else { '1' };
        form.id_number = Some(format!("{}{wrong}", &good[..17]));
        form.licence_code = Some("91350100M000100Y43".into());
        form.settlement_card_number = Some("6222021000000000012".into());
        form.shop_name = Some("店".repeat(SHOP_NAME_MAX + 1));
        let errs = check_form(&form).unwrap_err();
        let has = |f: &str, c: &str| errs.iter().any(|e| e.field == f && e.code == c);
        assert!(has("legal_name", "name.digits"), "{errs:?}");
        assert!(has("id_number", "id_card.checksum"), "{errs:?}");
        assert!(has("licence_code", "application.licence_not_for_micro"));
        assert!(
            has("settlement_card_number", "bank_card.checksum"),
            "{errs:?}"
        );
        assert!(has("shop_name", "field.too_long"));
    }

    #[test]
    fn enterprise_licence_code_is_checked() {
        let mut form = good_form();
        form.kind = MerchantKind::Enterprise;
        form.licence_code = Some("91350100M000100Y44".into());
        let errs = check_form(&form).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.field == "licence_code" && e.code.starts_with("credit_code.")),
            "{errs:?}"
        );
        // Missing for an enterprise: the code and the licence photo.
        form.licence_code = None;
        let f = check_form(&form).unwrap();
        let m = missing(&f, &[DocumentKind::IdFront], false);
        assert_eq!(
            m,
            vec![
                "licence_code",
                "id_back",
                "licence",
                "bank_card",
                "signature",
                "agreement"
            ]
        );
    }

    #[test]
    fn blank_fields_are_left_out() {
        let mut form = good_form();
        form.shop_name = Some("   ".into());
        let f = check_form(&form).unwrap();
        assert_eq!(f.shop_name, None);
        assert!(missing(&f, &DocumentKind::ALL, true).contains(&"shop_name".to_owned()));
    }

    #[test]
    fn documented_inputs_are_rejected_with_their_reasons() {
        let codes = |form: ApplicationForm| -> Vec<(String, String)> {
            review(&check_form(&form).unwrap(), today())
                .into_iter()
                .map(|r| (r.field, r.code))
                .collect()
        };
        let pair = |f: &str, c: &str| vec![(f.to_owned(), c.to_owned())];

        let mut f = good_form();
        f.legal_name = Some("王测试拒绝".into());
        assert_eq!(codes(f), pair("legal_name", "review.identity_mismatch"));

        let mut f = good_form();
        f.id_number = Some(id_number("11010519850307999"));
        assert_eq!(codes(f), pair("id_number", "review.identity_mismatch"));

        let mut f = good_form();
        f.id_number = Some(id_number("11010520100307123"));
        assert_eq!(codes(f), pair("id_number", "review.applicant_underage"));

        let mut f = good_form();
        f.settlement_card_number = Some(card_number("622575100000000001"));
        assert_eq!(
            codes(f),
            pair("settlement_card_number", "review.settlement_card_not_debit")
        );

        let mut f = good_form();
        let unknown = card_number("700000100000000001");
        assert_eq!(merchant_core::validate::lookup_bin(unknown.clone()), None);
        f.settlement_card_number = Some(unknown);
        assert_eq!(
            codes(f),
            pair(
                "settlement_card_number",
                "review.settlement_card_bank_unknown"
            )
        );

        let mut f = good_form();
        f.shop_name = Some("测试拒绝小卖部".into());
        assert_eq!(codes(f), pair("shop_name", "review.shop_name_refused"));
    }

    #[test]
    fn age_counts_whole_years() {
        let b = NaiveDate::from_ymd_opt(2007, 5, 28).unwrap();
        assert_eq!(age_on(b, today()), 17);
        let b = NaiveDate::from_ymd_opt(2007, 5, 27).unwrap();
        assert_eq!(age_on(b, today()), 18);
    }
}
