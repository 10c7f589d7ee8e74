//! Onboarding rules: what a saved form must look like, what a submit needs,
//! and the simulated review (documented in docs/platform-api.md,
//! "Onboarding").
//!
//! **On save** (`POST`/`PUT` of an application) every field present is
//! checked for its form: the core's validators (name, ID number, credit code,
//! bank card, mobile), dates and validities, lengths, and existence in the
//! lookups (region codes nesting, MCC, branch, the branch's bank against the
//! card's). Every problem is listed at once (`request.field_invalid`).
//!
//! **At review** (after submit, on the business clock) the identity and the
//! time-dependent rules: the identity check (`测试拒绝` names, ID sequence
//! `999`), age 18+, ID and licence not expired, the licence registry check
//! (`测试拒绝` in the registered name), the personal card's BIN (known,
//! debit), and the holder's name (the legal person's for a personal
//! account, the registered name for a corporate one).
//!
//! Only facts the review needs are kept ([`Kept`]): personal fields masked,
//! the birth date, flags, the holder match, and a salted hash of the ID
//! number's last 6 characters (for lost-code recovery); never a whole ID,
//! card or account number, phone or name.

use chrono::{Datelike, NaiveDate};
use merchant_contract::PlatformCode;
use merchant_contract::domain::{
    self as wire, AccountType, ApplicationForm, DocumentKind, LegalPersonForm, LicenceForm,
    MerchantKind, Rejection, SettlementForm, ShopForm, form_fields as ff,
};
use merchant_contract::wire::FieldError;
use merchant_core::validate::{bank_card, credit_code, id_card, mask, name, phone};
use ring::digest;
use serde::{Deserialize, Serialize};

use super::lookups::{self, Level};

/// The marker that makes the simulated review refuse a name.
pub const REFUSE_MARKER: &str = "测试拒绝";
/// ID numbers with this sequence code fail the simulated identity check.
pub const REFUSED_ID_SEQUENCE: &str = "999";
/// Longest shop name, in characters.
pub const SHOP_NAME_MAX: usize = 40;
/// Longest street line and registered name, in characters.
pub const TEXT_MAX: usize = 100;
/// A corporate account number's length, in digits.
pub const CORPORATE_ACCOUNT_DIGITS: std::ops::RangeInclusive<usize> = 8..=30;

/// The legal person's facts the platform keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LegalKept {
    pub name_masked: Option<String>,
    /// The name carries [`REFUSE_MARKER`].
    pub name_refused: bool,
    pub id_masked: Option<String>,
    /// `YYYY-MM-DD`, from the ID number.
    pub birth_date: Option<String>,
    /// The sequence code is [`REFUSED_ID_SEQUENCE`].
    pub id_refused: bool,
    /// Salted SHA-256 of the ID number's last 6 characters (upper case).
    pub id_last6_hash: Option<String>,
    pub id_valid_from: Option<String>,
    pub id_valid_until: Option<String>,
    pub id_long_term: Option<bool>,
}

/// The personal card's BIN facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardKept {
    /// The BIN table's issuer code (`ICBC`).
    pub issuer: String,
    pub bank_name: String,
    pub bank_name_en: String,
    /// `debit`, `credit` or `prepaid`.
    pub card_kind: String,
}

/// The settlement account's facts the platform keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SettlementKept {
    pub account_type: Option<AccountType>,
    pub number_masked: Option<String>,
    /// The BIN's facts of a personal card (`None`: unknown BIN, or corporate).
    pub card: Option<CardKept>,
    pub holder_masked: Option<String>,
    /// Whether the holder is the legal person (personal) or the registered
    /// name (corporate); `None` while one of the two is missing.
    pub holder_matches: Option<bool>,
    pub branch_code: Option<String>,
    pub mobile_masked: Option<String>,
}

/// A form that passed the save checks, reduced to what is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub kind: MerchantKind,
    pub legal: Option<LegalKept>,
    pub licence: Option<LicenceForm>,
    pub shop: Option<ShopForm>,
    pub settlement: Option<SettlementKept>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
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

fn date(field: &str, value: Option<&str>, out: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let v = value?;
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            out.push(err(field, wire::FIELD_DATE_INVALID.code));
            None
        }
    }
}

/// A validity (start; end or long-term): the dates as kept, after the
/// checks of their form and order.
fn validity(
    fields: (&str, &str),
    from: Option<&str>,
    until: Option<&str>,
    long_term: Option<bool>,
    today: NaiveDate,
    out: &mut Vec<FieldError>,
) -> (Option<String>, Option<String>, Option<bool>) {
    let (from_field, until_field) = fields;
    let f = date(from_field, from, out);
    let u = date(until_field, until, out);
    if until.is_some() && long_term == Some(true) {
        out.push(err(until_field, wire::FIELD_VALIDITY_CONFLICT.code));
    }
    if let Some(f) = f {
        if f > today {
            out.push(err(from_field, wire::FIELD_VALIDITY_START_FUTURE.code));
        }
        if let Some(u) = u
            && u <= f
        {
            out.push(err(until_field, wire::FIELD_VALIDITY_ORDER.code));
        }
    }
    (
        f.map(|d| d.format("%Y-%m-%d").to_string()),
        u.map(|d| d.format("%Y-%m-%d").to_string()),
        long_term,
    )
}

/// The salted digest of an ID number's last 6 characters.
pub fn last6_hash(salt: &str, last6: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"merchant-sandbox id-last6 v1\0");
    ctx.update(salt.as_bytes());
    ctx.update(b"\0");
    ctx.update(last6.to_ascii_uppercase().as_bytes());
    hex::encode(ctx.finish())
}

fn check_legal(
    lp: &LegalPersonForm,
    salt: &str,
    today: NaiveDate,
    out: &mut Vec<FieldError>,
) -> (LegalKept, Option<String>) {
    let mut kept = LegalKept::default();
    let mut normal_name = None;
    if let Some(v) = present(&lp.name) {
        match name::normalize(v) {
            Ok(n) => {
                kept.name_masked = Some(mask::mask_name(n.clone()));
                kept.name_refused = n.contains(REFUSE_MARKER);
                normal_name = Some(n);
            }
            Err(e) => problems_of(ff::LEGAL_NAME, &e, out),
        }
    }
    if let Some(v) = present(&lp.id_number) {
        match id_card::normalize(v) {
            Ok(n) => {
                let check = id_card::check(&n);
                match check.birth_date {
                    Some(b) => {
                        kept.id_masked = Some(check.masked);
                        kept.birth_date = Some(b);
                        kept.id_refused = n.get(14..17) == Some(REFUSED_ID_SEQUENCE);
                        kept.id_last6_hash = n.get(12..).map(|l| last6_hash(salt, l));
                    }
                    None => out.push(err(ff::ID_NUMBER, wire::FIELD_INVALID.code)),
                }
            }
            Err(e) => problems_of(ff::ID_NUMBER, &e, out),
        }
    }
    let (f, u, l) = validity(
        (ff::ID_VALID_FROM, ff::ID_VALID_UNTIL),
        present(&lp.id_valid_from),
        present(&lp.id_valid_until),
        lp.id_long_term,
        today,
        out,
    );
    kept.id_valid_from = f;
    kept.id_valid_until = u;
    kept.id_long_term = l;
    (kept, normal_name)
}

fn check_licence(l: &LicenceForm, today: NaiveDate, out: &mut Vec<FieldError>) -> LicenceForm {
    let credit_code = present(&l.credit_code).and_then(|v| match credit_code::normalize(v) {
        Ok(n) => Some(n),
        Err(e) => {
            problems_of(ff::CREDIT_CODE, &e, out);
            None
        }
    });
    let registered_name = free_text(
        ff::REGISTERED_NAME,
        present(&l.registered_name),
        TEXT_MAX,
        out,
    );
    let (valid_from, valid_until, long_term) = validity(
        (ff::LICENCE_VALID_FROM, ff::LICENCE_VALID_UNTIL),
        present(&l.valid_from),
        present(&l.valid_until),
        l.long_term,
        today,
        out,
    );
    LicenceForm {
        credit_code,
        registered_name,
        valid_from,
        valid_until,
        long_term,
    }
}

/// A decimal degree within `-max..=max`, as text.
fn coordinate_ok(v: &str, max: u32) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !int.is_empty()
        && int.len() <= 3
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 10
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (!digits.contains('.') || !frac.is_empty());
    if !well_formed {
        return false;
    }
    let whole: u32 = int.parse().unwrap_or(u32::MAX);
    whole < max || (whole == max && frac.bytes().all(|b| b == b'0'))
}

fn check_shop(s: &ShopForm, out: &mut Vec<FieldError>) -> ShopForm {
    let t = lookups::tables();
    let name = free_text(ff::SHOP_NAME, present(&s.name), SHOP_NAME_MAX, out);
    let street = free_text(ff::STREET, present(&s.street), TEXT_MAX, out);
    let mut region = |field: &str, value: Option<&str>, level: Level, above: Option<&str>| {
        let v = value?;
        if lookups::level_of(v) != Some(level) || t.region_name(v).is_none() {
            out.push(err(field, wire::FIELD_REGION_UNKNOWN.code));
            return None;
        }
        if let Some(above) = above
            && lookups::parent_of(v).as_deref() != Some(above)
        {
            out.push(err(field, wire::FIELD_REGION_NOT_NESTED.code));
        }
        Some(v.to_owned())
    };
    let province = region(
        ff::PROVINCE,
        present(&s.province_code),
        Level::Province,
        None,
    );
    let city = region(
        ff::CITY,
        present(&s.city_code),
        Level::City,
        province.as_deref(),
    );
    let district = region(
        ff::DISTRICT,
        present(&s.district_code),
        Level::District,
        city.as_deref(),
    );
    let mcc = present(&s.mcc).and_then(|v| {
        if t.mcc_exists(v) {
            Some(v.to_owned())
        } else {
            out.push(err(ff::MCC, wire::FIELD_MCC_UNKNOWN.code));
            None
        }
    });
    let mut coord = |field: &str, value: Option<&str>, max: u32| {
        let v = value?;
        if coordinate_ok(v, max) {
            Some(v.to_owned())
        } else {
            out.push(err(field, wire::FIELD_COORDINATE_INVALID.code));
            None
        }
    };
    let longitude = coord(ff::LONGITUDE, present(&s.longitude), 180);
    let latitude = coord(ff::LATITUDE, present(&s.latitude), 90);
    ShopForm {
        name,
        province_code: province,
        city_code: city,
        district_code: district,
        street,
        mcc,
        longitude,
        latitude,
    }
}

fn check_settlement(
    s: &SettlementForm,
    kind: MerchantKind,
    legal_name: Option<&str>,
    registered_name: Option<&str>,
    out: &mut Vec<FieldError>,
) -> SettlementKept {
    let t = lookups::tables();
    let mut kept = SettlementKept {
        account_type: s.account_type,
        ..SettlementKept::default()
    };
    if s.account_type == Some(AccountType::Corporate) && !kind.allows_corporate_account() {
        out.push(err(
            ff::ACCOUNT_TYPE,
            wire::FIELD_CORPORATE_NOT_FOR_KIND.code,
        ));
    }
    let corporate = s.account_type == Some(AccountType::Corporate);
    if let Some(v) = present(&s.account_number) {
        if corporate {
            let digits: String = v.chars().filter(|c| *c != ' ' && *c != '-').collect();
            if CORPORATE_ACCOUNT_DIGITS.contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
            {
                kept.number_masked = Some(mask::mask_bank_card(digits));
            } else {
                out.push(err(
                    ff::ACCOUNT_NUMBER,
                    wire::FIELD_ACCOUNT_NUMBER_INVALID.code,
                ));
            }
        } else {
            match bank_card::normalize(v) {
                Ok(n) => {
                    let check = bank_card::check(&n);
                    kept.number_masked = Some(check.masked);
                    kept.card = check.bin.map(|b| CardKept {
                        issuer: b.bank_code,
                        bank_name: b.bank_name,
                        bank_name_en: b.bank_name_en,
                        card_kind: serde_json::to_value(b.card_kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                    });
                }
                Err(e) => problems_of(ff::ACCOUNT_NUMBER, &e, out),
            }
        }
    }
    if let Some(v) = present(&s.holder_name) {
        if corporate {
            if let Some(h) = free_text(ff::HOLDER_NAME, Some(v), TEXT_MAX, out) {
                kept.holder_matches = registered_name.map(|r| r == h);
                kept.holder_masked = Some(h);
            }
        } else {
            match name::normalize(v) {
                Ok(n) => {
                    kept.holder_matches = legal_name.map(|l| l == n);
                    kept.holder_masked = Some(mask::mask_name(n));
                }
                Err(e) => problems_of(ff::HOLDER_NAME, &e, out),
            }
        }
    }
    if let Some(v) = present(&s.branch_code) {
        if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
            out.push(err(ff::BRANCH_CODE, wire::FIELD_INVALID.code));
        } else if let Some(branch) = t.branch(v) {
            let card_bank = kept.card.as_ref().and_then(|c| t.bank_of_issuer(&c.issuer));
            if !corporate
                && kept.card.is_some()
                && card_bank.is_none_or(|b| b.code != branch.bank_code)
            {
                out.push(err(ff::BRANCH_CODE, wire::FIELD_BRANCH_BANK_MISMATCH.code));
            }
            kept.branch_code = Some(v.to_owned());
        } else {
            out.push(err(ff::BRANCH_CODE, wire::FIELD_BRANCH_UNKNOWN.code));
        }
    }
    if let Some(v) = present(&s.reserved_mobile) {
        match phone::normalize(v) {
            Ok(n) => kept.mobile_masked = Some(mask::mask_phone(n)),
            Err(e) => problems_of(ff::RESERVED_MOBILE, &e, out),
        }
    }
    kept
}

/// Checks a form as saved on `today`; `salt` salts the kept digest of the
/// ID's last 6 characters. A blank field counts as left out. Every problem
/// of every field is listed.
pub fn check_form(
    form: &ApplicationForm,
    salt: &str,
    today: NaiveDate,
) -> Result<Kept, Vec<FieldError>> {
    let mut out = Vec::new();
    let (legal, legal_name) = match &form.legal_person {
        Some(lp) => {
            let (k, n) = check_legal(lp, salt, today, &mut out);
            (Some(k), n)
        }
        None => (None, None),
    };
    let licence = match (&form.licence, form.kind.has_licence()) {
        (None, _) => None,
        (Some(_), false) => {
            out.push(err(ff::LICENCE, wire::FIELD_LICENCE_NOT_FOR_MICRO.code));
            None
        }
        (Some(l), true) => Some(check_licence(l, today, &mut out)),
    };
    let shop = form.shop.as_ref().map(|s| check_shop(s, &mut out));
    let registered = licence.as_ref().and_then(|l| l.registered_name.as_deref());
    let settlement = form
        .settlement
        .as_ref()
        .map(|s| check_settlement(s, form.kind, legal_name.as_deref(), registered, &mut out));
    if out.is_empty() {
        Ok(Kept {
            kind: form.kind,
            legal,
            licence,
            shop,
            settlement,
        })
    } else {
        Err(out)
    }
}

/// What a submit needs and does not have yet: dotted form fields, document
/// kinds, and `agreement`, in a fixed order.
pub fn missing(form: &Kept, documents: &[DocumentKind], agreement_signed: bool) -> Vec<String> {
    let t = lookups::tables();
    let mut out: Vec<&str> = Vec::new();
    let lp = form.legal.clone().unwrap_or_default();
    let validity_given =
        |until: &Option<String>, long: Option<bool>| until.is_some() || long == Some(true);
    for (f, ok) in [
        (ff::LEGAL_NAME, lp.name_masked.is_some()),
        (ff::ID_NUMBER, lp.id_masked.is_some()),
        (ff::ID_VALID_FROM, lp.id_valid_from.is_some()),
        (
            ff::ID_VALID_UNTIL,
            validity_given(&lp.id_valid_until, lp.id_long_term),
        ),
    ] {
        if !ok {
            out.push(f);
        }
    }
    if form.kind.has_licence() {
        let l = form.licence.clone().unwrap_or_default();
        for (f, ok) in [
            (ff::CREDIT_CODE, l.credit_code.is_some()),
            (ff::REGISTERED_NAME, l.registered_name.is_some()),
            (ff::LICENCE_VALID_FROM, l.valid_from.is_some()),
            (
                ff::LICENCE_VALID_UNTIL,
                validity_given(&l.valid_until, l.long_term),
            ),
        ] {
            if !ok {
                out.push(f);
            }
        }
    }
    let s = form.shop.clone().unwrap_or_default();
    let district_needed = s.city_code.as_deref().is_none_or(|c| t.has_children(c));
    for (f, ok) in [
        (ff::SHOP_NAME, s.name.is_some()),
        (ff::PROVINCE, s.province_code.is_some()),
        (ff::CITY, s.city_code.is_some()),
        (ff::DISTRICT, !district_needed || s.district_code.is_some()),
        (ff::STREET, s.street.is_some()),
        (ff::MCC, s.mcc.is_some()),
    ] {
        if !ok {
            out.push(f);
        }
    }
    let a = form.settlement.clone().unwrap_or_default();
    for (f, ok) in [
        (ff::ACCOUNT_TYPE, a.account_type.is_some()),
        (ff::ACCOUNT_NUMBER, a.number_masked.is_some()),
        (ff::HOLDER_NAME, a.holder_masked.is_some()),
        (ff::BRANCH_CODE, a.branch_code.is_some()),
        (ff::RESERVED_MOBILE, a.mobile_masked.is_some()),
    ] {
        if !ok {
            out.push(f);
        }
    }
    let mut out: Vec<String> = out.into_iter().map(str::to_owned).collect();
    for kind in DocumentKind::required(form.kind, a.account_type) {
        if !documents.contains(&kind) {
            out.push(kind.as_str().to_owned());
        }
    }
    if !agreement_signed {
        out.push(ff::AGREEMENT.to_owned());
    }
    out
}

fn rejection(field: &str, code: &PlatformCode) -> Rejection {
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

fn expired(until: Option<&str>, today: NaiveDate) -> bool {
    until
        .and_then(|u| NaiveDate::parse_from_str(u, "%Y-%m-%d").ok())
        .is_some_and(|u| u < today)
}

/// The simulated review of a complete form on `today`: the reasons to
/// refuse it (empty: approved).
pub fn review(form: &Kept, today: NaiveDate) -> Vec<Rejection> {
    let mut out = Vec::new();
    if let Some(lp) = &form.legal {
        if lp.name_refused {
            out.push(rejection(ff::LEGAL_NAME, &wire::REVIEW_IDENTITY_MISMATCH));
        }
        if lp.id_refused {
            out.push(rejection(ff::ID_NUMBER, &wire::REVIEW_IDENTITY_MISMATCH));
        }
        let birth = lp
            .birth_date
            .as_deref()
            .and_then(|b| NaiveDate::parse_from_str(b, "%Y-%m-%d").ok());
        if birth.is_some_and(|b| age_on(b, today) < 18) {
            out.push(rejection(ff::ID_NUMBER, &wire::REVIEW_APPLICANT_UNDERAGE));
        }
        if lp.id_long_term != Some(true) && expired(lp.id_valid_until.as_deref(), today) {
            out.push(rejection(ff::ID_VALID_UNTIL, &wire::REVIEW_ID_EXPIRED));
        }
    }
    if let Some(l) = &form.licence {
        if l.registered_name
            .as_deref()
            .is_some_and(|n| n.contains(REFUSE_MARKER))
        {
            out.push(rejection(
                ff::REGISTERED_NAME,
                &wire::REVIEW_LICENCE_MISMATCH,
            ));
        }
        if l.long_term != Some(true) && expired(l.valid_until.as_deref(), today) {
            out.push(rejection(
                ff::LICENCE_VALID_UNTIL,
                &wire::REVIEW_LICENCE_EXPIRED,
            ));
        }
    }
    if form
        .shop
        .as_ref()
        .and_then(|s| s.name.as_deref())
        .is_some_and(|n| n.contains(REFUSE_MARKER))
    {
        out.push(rejection(ff::SHOP_NAME, &wire::REVIEW_SHOP_NAME_REFUSED));
    }
    if let Some(s) = &form.settlement {
        match s.account_type {
            Some(AccountType::Personal) | None => {
                match &s.card {
                    None => out.push(rejection(
                        ff::ACCOUNT_NUMBER,
                        &wire::REVIEW_CARD_BANK_UNKNOWN,
                    )),
                    Some(c) if c.card_kind != "debit" => {
                        out.push(rejection(ff::ACCOUNT_NUMBER, &wire::REVIEW_CARD_NOT_DEBIT))
                    }
                    Some(_) => {}
                }
                if s.holder_matches == Some(false) {
                    out.push(rejection(
                        ff::HOLDER_NAME,
                        &wire::REVIEW_HOLDER_NOT_LEGAL_PERSON,
                    ));
                }
            }
            Some(AccountType::Corporate) => {
                if s.holder_matches == Some(false) {
                    out.push(rejection(
                        ff::HOLDER_NAME,
                        &wire::REVIEW_HOLDER_NOT_REGISTERED_NAME,
                    ));
                }
            }
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

    /// A valid credit code from its first 8 characters and the first 8 of
    /// its organisation code.
    pub fn credit(head: &str, org: &str) -> String {
        let o = credit_code::organisation_check_char(org.as_bytes()).expect("8 characters");
        let first17 = format!("{head}{org}{}", char::from(o));
        let c = credit_code::check_char(first17.as_bytes()).expect("17 characters");
        format!("{first17}{}", char::from(c))
    }

    fn good_form() -> ApplicationForm {
        serde_json::from_value(serde_json::json!({
            "kind": "micro",
            "legal_person": {"name": "王小明", "id_number": id_number("11010519850307123"),
                "id_valid_from": "2015-03-07", "id_valid_until": "2035-03-07"},
            "shop": {"name": "老王面馆", "province_code": "510000", "city_code": "510100",
                "district_code": "510107", "street": "人民南路四段1号", "mcc": "5812",
                "longitude": "104.0657", "latitude": "30.6598"},
            "settlement": {"account_type": "personal",
                "account_number": card_number("622202100000000001"),
                "holder_name": "王小明", "branch_code": "102651000017",
                "reserved_mobile": "13800000001"}
        }))
        .unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 5, 27).unwrap()
    }

    fn check(form: &ApplicationForm) -> Result<Kept, Vec<FieldError>> {
        check_form(form, "salt", today())
    }

    fn all_docs() -> Vec<DocumentKind> {
        DocumentKind::ALL.to_vec()
    }

    #[test]
    fn a_good_form_is_kept_masked_and_approved() {
        let f = check(&good_form()).unwrap();
        let lp = f.legal.as_ref().unwrap();
        assert_eq!(lp.name_masked.as_deref(), Some("王*明"));
        assert!(lp.id_masked.as_ref().unwrap().starts_with("110"));
        assert_eq!(lp.birth_date.as_deref(), Some("1985-03-07"));
        assert_eq!(
            lp.id_last6_hash,
            Some(last6_hash("salt", &id_number("11010519850307123")[12..]))
        );
        let s = f.settlement.as_ref().unwrap();
        assert_eq!(s.card.as_ref().unwrap().card_kind, "debit");
        assert_eq!(s.holder_matches, Some(true));
        assert_eq!(s.mobile_masked.as_deref(), Some("138****0001"));
        let kept = serde_json::to_string(&f).unwrap();
        for secret in ["王小明", "110105198503071230", "6222021000", "13800000001"] {
            assert!(!kept.contains(secret), "{secret} kept");
        }
        assert_eq!(missing(&f, &all_docs(), true), Vec::<String>::new());
        assert_eq!(review(&f, today()), vec![]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut form = good_form();
        let lp = form.legal_person.as_mut().unwrap();
        lp.name = Some("王2".into());
        lp.id_long_term = Some(true);
        lp.id_valid_from = Some("2015-02-30".into());
        form.licence = Some(LicenceForm::default());
        let shop = form.shop.as_mut().unwrap();
        shop.city_code = Some("440100".into());
        shop.district_code = Some("510199".into());
        shop.mcc = Some("9999".into());
        shop.latitude = Some("91".into());
        shop.longitude = Some("1e3".into());
        shop.name = Some("店".repeat(SHOP_NAME_MAX + 1));
        let s = form.settlement.as_mut().unwrap();
        s.account_type = Some(AccountType::Corporate);
        s.account_number = Some("1234567".into());
        s.branch_code = Some("102651009999".into());
        s.reserved_mobile = Some("12345".into());
        let errs = check(&form).unwrap_err();
        let has = |f: &str, c: &str| errs.iter().any(|e| e.field == f && e.code == c);
        assert!(has("legal_person.name", "name.digits"), "{errs:?}");
        assert!(has(
            "legal_person.id_valid_until",
            "validity.end_or_long_term"
        ));
        assert!(has("legal_person.id_valid_from", "date.invalid"));
        assert!(has("licence", "application.licence_not_for_micro"));
        assert!(has("shop.city_code", "region.not_nested"));
        assert!(has("shop.district_code", "region.unknown"), "{errs:?}");
        assert!(has("shop.mcc", "mcc.unknown"));
        assert!(has("shop.latitude", "coordinate.invalid"));
        assert!(has("shop.longitude", "coordinate.invalid"));
        assert!(has("shop.name", "field.too_long"));
        assert!(has(
            "settlement.account_type",
            "application.corporate_not_for_kind"
        ));
        assert!(has("settlement.account_number", "account.number_invalid"));
        assert!(has("settlement.branch_code", "branch.unknown"));
        assert!(
            errs.iter()
                .any(|e| e.field == "settlement.reserved_mobile" && e.code.starts_with("phone.")),
            "{errs:?}"
        );
    }

    #[test]
    fn validity_order_and_future_start() {
        let mut form = good_form();
        let lp = form.legal_person.as_mut().unwrap();
        lp.id_valid_from = Some("2026-01-01".into());
        lp.id_valid_until = Some("2025-01-01".into());
        let errs = check(&form).unwrap_err();
        assert!(errs.iter().any(|e| e.code == "validity.start_in_future"));
        assert!(errs.iter().any(|e| e.code == "validity.order"));
    }

    #[test]
    fn an_enterprise_with_a_corporate_account() {
        let mut form = good_form();
        form.kind = MerchantKind::Enterprise;
        form.licence = Some(LicenceForm {
            credit_code: Some(credit("91350211", "MA2Y0KXX")),
            registered_name: Some("厦门某某餐饮有限公司".into()),
            valid_from: Some("2019-01-01".into()),
            valid_until: None,
            long_term: Some(true),
        });
        let s = form.settlement.as_mut().unwrap();
        s.account_type = Some(AccountType::Corporate);
        s.account_number = Some("4402 2120 0910 0012 345".into());
        s.holder_name = Some("厦门某某餐饮有限公司".into());
        s.branch_code = Some("105651000136".into());
        let f = match check(&form) {
            Ok(f) => f,
            Err(e) => panic!("{e:?}"),
        };
        let s = f.settlement.as_ref().unwrap();
        assert_eq!(s.holder_matches, Some(true));
        assert_eq!(s.card, None);
        let docs = [DocumentKind::IdFront];
        let m = missing(&f, &docs, false);
        assert!(m.contains(&"opening_permit".to_owned()) && m.contains(&"licence".to_owned()));
        assert!(!m.contains(&"bank_card".to_owned()));
        assert_eq!(review(&f, today()), vec![]);
        // Another holder: refused at review.
        let mut other = form.clone();
        other.settlement.as_mut().unwrap().holder_name = Some("王小明".into());
        let f = check(&other).unwrap();
        let r = review(&f, today());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].field, "settlement.holder_name");
        assert_eq!(r[0].code, "review.holder_not_registered_name");
    }

    #[test]
    fn the_branch_must_be_of_the_cards_bank() {
        let mut form = good_form();
        // A CCB branch for an ICBC card.
        form.settlement.as_mut().unwrap().branch_code = Some("105651000136".into());
        let errs = check(&form).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, "branch.bank_mismatch");
    }

    #[test]
    fn blank_fields_are_left_out_and_missing_lists_them() {
        let form: ApplicationForm = serde_json::from_value(serde_json::json!({
            "kind": "individual_business", "shop": {"name": "  ", "city_code": "441900"}
        }))
        .unwrap();
        let f = check(&form).unwrap();
        let m = missing(&f, &[], false);
        assert_eq!(
            m,
            [
                "legal_person.name",
                "legal_person.id_number",
                "legal_person.id_valid_from",
                "legal_person.id_valid_until",
                "licence.credit_code",
                "licence.registered_name",
                "licence.valid_from",
                "licence.valid_until",
                "shop.name",
                "shop.province_code",
                "shop.street",
                "shop.mcc",
                "settlement.account_type",
                "settlement.account_number",
                "settlement.holder_name",
                "settlement.branch_code",
                "settlement.reserved_mobile",
                "id_front",
                "id_back",
                "bank_card",
                "licence",
                "shop_front",
                "shop_inside",
                "checkstand",
                "signature",
                "agreement",
            ]
        );
    }

    #[test]
    fn documented_inputs_are_rejected_with_their_reasons() {
        let codes = |form: ApplicationForm| -> Vec<(String, String)> {
            review(&check(&form).unwrap(), today())
                .into_iter()
                .map(|r| (r.field, r.code))
                .collect()
        };
        let pair = |f: &str, c: &str| vec![(f.to_owned(), c.to_owned())];
        let with = |edit: &dyn Fn(&mut ApplicationForm)| {
            let mut f = good_form();
            edit(&mut f);
            f
        };
        assert_eq!(
            codes(with(&|f| {
                f.legal_person.as_mut().unwrap().name = Some("王测试拒绝".into());
                f.settlement.as_mut().unwrap().holder_name = Some("王测试拒绝".into());
            })),
            pair("legal_person.name", "review.identity_mismatch")
        );
        assert_eq!(
            codes(with(&|f| f.legal_person.as_mut().unwrap().id_number =
                Some(id_number("11010519850307999")))),
            pair("legal_person.id_number", "review.identity_mismatch")
        );
        assert_eq!(
            codes(with(&|f| f.legal_person.as_mut().unwrap().id_number =
                Some(id_number("11010520100307123")))),
            pair("legal_person.id_number", "review.applicant_underage")
        );
        assert_eq!(
            codes(with(&|f| {
                let lp = f.legal_person.as_mut().unwrap();
                lp.id_valid_from = Some("2005-03-07".into());
                lp.id_valid_until = Some("2025-03-07".into());
            })),
            pair("legal_person.id_valid_until", "review.id_expired")
        );
        assert_eq!(
            codes(with(
                &|f| f.settlement.as_mut().unwrap().holder_name = Some("李四".into())
            )),
            pair("settlement.holder_name", "review.holder_not_legal_person")
        );
        assert_eq!(
            codes(with(&|f| {
                let s = f.settlement.as_mut().unwrap();
                s.account_number = Some(card_number("622575100000000001"));
                s.branch_code = Some("308651000159".into());
            })),
            pair(
                "settlement.account_number",
                "review.settlement_card_not_debit"
            )
        );
        assert_eq!(
            codes(with(&|f| {
                let s = f.settlement.as_mut().unwrap();
                s.account_number = Some(card_number("700000100000000001"));
            })),
            pair(
                "settlement.account_number",
                "review.settlement_card_bank_unknown"
            )
        );
        assert_eq!(
            codes(with(
                &|f| f.shop.as_mut().unwrap().name = Some("测试拒绝小卖部".into())
            )),
            pair("shop.name", "review.shop_name_refused")
        );
    }

    #[test]
    fn licence_rules_at_review() {
        let mut form = good_form();
        form.kind = MerchantKind::IndividualBusiness;
        form.licence = Some(LicenceForm {
            credit_code: Some(credit("92510107", "MA6C0XXX")),
            registered_name: Some("测试拒绝面馆".into()),
            valid_from: Some("2015-01-01".into()),
            valid_until: Some("2025-01-01".into()),
            long_term: Some(false),
        });
        let f = match check(&form) {
            Ok(f) => f,
            Err(e) => panic!("{e:?}"),
        };
        let codes: Vec<_> = review(&f, today())
            .into_iter()
            .map(|r| (r.field, r.code))
            .collect();
        assert_eq!(
            codes,
            vec![
                (
                    "licence.registered_name".to_owned(),
                    "review.licence_mismatch".to_owned()
                ),
                (
                    "licence.valid_until".to_owned(),
                    "review.licence_expired".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn coordinates() {
        for ok in ["104.0657", "-33.9", "0", "180", "180.000", "90"] {
            assert!(coordinate_ok(ok, 180), "{ok}");
        }
        assert!(coordinate_ok("90.0", 90));
        for bad in [
            "180.1", "1e3", "", "-", ".5", "5.", "１", "1000", "abc", "90.01",
        ] {
            assert!(
                !coordinate_ok(bad, if bad == "90.01" { 90 } else { 180 }),
                "{bad}"
            );
        }
    }

    #[test]
    fn age_counts_whole_years() {
        let b = NaiveDate::from_ymd_opt(2007, 5, 28).unwrap();
        assert_eq!(age_on(b, today()), 17);
        let b = NaiveDate::from_ymd_opt(2007, 5, 27).unwrap();
        assert_eq!(age_on(b, today()), 18);
    }
}
