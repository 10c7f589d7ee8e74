//! Validation of the whole application: every problem at once, errors and
//! warnings. The field checks are the Foundation's validators
//! (crate::validate); the cross-field rules are here.
//!
//! The platform's trees (regions, MCCs, bank branches) are read from the
//! lookups cached on the device, so validation never needs the network. A
//! code that is not in a cached list is an error; a code whose list was
//! never fetched (the device has been offline since the form was started)
//! is a warning, `onboarding.lookup_unchecked`: it never blocks, and the
//! platform checks the code again when the application is submitted.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::model::{
    AccountType, ApplicationField as F, ApplicationProblem, MerchantKind, PhotoKind, Severity,
};
use super::{
    ONBOARDING_ID_EXPIRING, ONBOARDING_LICENCE_EXPIRING, ONBOARDING_LICENCE_KIND_MISMATCH,
    ONBOARDING_LOOKUP_UNCHECKED,
};
use crate::error::{Code, Problem, current_language};
use crate::validate::{CardKind, bank_card, credit_code, id_card, name, phone};
use merchant_contract::PlatformCode;
use merchant_contract::domain as D;

/// A warning is given this many days (or fewer) before an ID or a licence
/// expires.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// The youngest legal person the platform takes.
pub const MIN_AGE: u32 = 18;

/// The lookup lists cached on the device: `query → codes`.
#[derive(Debug, Default, Clone)]
pub struct Trees {
    /// By parent region code (`""` for the provinces).
    pub regions: HashMap<String, Vec<String>>,
    /// By parent category (`""` for the categories themselves).
    pub mcc: HashMap<String, Vec<String>>,
    /// By `bank=…&region=…` query.
    pub branches: HashMap<String, Vec<String>>,
}

/// What validation looks at.
pub struct Input<'a> {
    pub fields: &'a HashMap<F, String>,
    pub photos: &'a [PhotoKind],
    pub agreement_signed: bool,
    pub trees: &'a Trees,
    pub today: NaiveDate,
}

pub use crate::validate::china_today;

/// A code of the core's catalogue or of the contract (the platform's own,
/// which the catalogue lists too): the same rule gives the same code
/// whichever side finds it.
trait Coded {
    fn name(&self) -> &'static str;
}

impl Coded for Code {
    fn name(&self) -> &'static str {
        self.code
    }
}

impl Coded for PlatformCode {
    fn name(&self) -> &'static str {
        self.code
    }
}

struct Out(Vec<ApplicationProblem>);

impl Out {
    fn code(&mut self, field: F, code: &impl Coded, severity: Severity) {
        self.at(field.key(), Some(field), code.name(), severity);
    }

    fn at(&mut self, key: &str, form_field: Option<F>, code: &str, severity: Severity) {
        if self.0.iter().any(|p| p.field == key && p.code == code) {
            return;
        }
        let known = crate::error::find(code);
        self.0.push(ApplicationProblem {
            field: key.to_owned(),
            form_field,
            code: code.to_owned(),
            severity,
            message: known
                .map(|c| c.message(current_language()).to_owned())
                .unwrap_or_else(|| code.to_owned()),
            message_en: known
                .map(|c| c.en.to_owned())
                .unwrap_or_else(|| code.to_owned()),
        });
    }

    fn error(&mut self, field: F, code: &impl Coded) {
        self.code(field, code, Severity::Error);
    }

    fn warning(&mut self, field: F, code: &impl Coded) {
        self.code(field, code, Severity::Warning);
    }

    fn problems(&mut self, field: F, problems: &[Problem], severity: Severity) {
        for p in problems {
            self.at(field.key(), Some(field), &p.code, severity);
        }
    }
}

/// The value of a field, trimmed; `None` when blank.
fn get(fields: &HashMap<F, String>, f: F) -> Option<&str> {
    fields.get(&f).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn flag(fields: &HashMap<F, String>, f: F) -> bool {
    get(fields, f) == Some("true")
}

fn date(out: &mut Out, fields: &HashMap<F, String>, f: F) -> Option<NaiveDate> {
    let v = get(fields, f)?;
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            out.error(f, &D::FIELD_DATE_INVALID);
            None
        }
    }
}

fn required(out: &mut Out, fields: &HashMap<F, String>, f: F) -> Option<String> {
    match get(fields, f) {
        Some(v) => Some(v.to_owned()),
        None => {
            out.error(f, &D::FIELD_REQUIRED);
            None
        }
    }
}

fn text(out: &mut Out, fields: &HashMap<F, String>, f: F, max_chars: usize) {
    if let Some(v) = required(out, fields, f) {
        if v.chars().count() > max_chars {
            out.error(f, &D::FIELD_TOO_LONG);
        }
        if v.chars().any(char::is_control) {
            out.error(f, &D::FIELD_INVALID);
        }
    }
}

/// Which checks a validity period gets.
struct Period {
    from: F,
    until: F,
    long_term: F,
    expired: &'static PlatformCode,
    expiring: &'static Code,
}

fn period(out: &mut Out, fields: &HashMap<F, String>, p: &Period, today: NaiveDate) {
    let from = if get(fields, p.from).is_some() {
        date(out, fields, p.from)
    } else {
        out.error(p.from, &D::FIELD_REQUIRED);
        None
    };
    if from.is_some_and(|d| d > today) {
        out.error(p.from, &D::FIELD_VALIDITY_START_FUTURE);
    }
    let long_term = flag(fields, p.long_term);
    let has_until = get(fields, p.until).is_some();
    if long_term {
        if has_until {
            out.error(p.until, &D::FIELD_VALIDITY_CONFLICT);
        }
        return;
    }
    if !has_until {
        out.error(p.until, &D::FIELD_REQUIRED);
        return;
    }
    let Some(until) = date(out, fields, p.until) else {
        return;
    };
    if from.is_some_and(|f| until <= f) {
        out.error(p.until, &D::FIELD_VALIDITY_ORDER);
    }
    if until < today {
        out.error(p.until, p.expired);
    } else if (until - today).num_days() <= EXPIRY_WARNING_DAYS {
        out.warning(p.until, p.expiring);
    }
}

fn digits(v: &str, n: std::ops::RangeInclusive<usize>) -> bool {
    n.contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `code` is in the cached list of `query`: `Some(bool)` when that
/// list is cached, `None` when it is not.
fn listed(lists: &HashMap<String, Vec<String>>, query: &str, code: &str) -> Option<bool> {
    lists.get(query).map(|l| l.iter().any(|c| c == code))
}

fn in_tree(out: &mut Out, f: F, found: Option<bool>, unknown: &PlatformCode) {
    match found {
        Some(true) => {}
        Some(false) => out.error(f, unknown),
        None => out.warning(f, &ONBOARDING_LOOKUP_UNCHECKED),
    }
}

/// Age in whole years on `today` of someone born on `birth`.
fn age_on(birth: NaiveDate, today: NaiveDate) -> u32 {
    today.years_since(birth).unwrap_or(0)
}

/// Every problem of the application.
pub fn validate(input: &Input<'_>) -> Vec<ApplicationProblem> {
    let fields = input.fields;
    let today = input.today;
    let mut out = Out(Vec::new());

    // The kind, and the licence exactly when the kind has one.
    let kind = get(fields, F::Kind).and_then(MerchantKind::parse);
    if kind.is_none() {
        out.error(F::Kind, &D::FIELD_REQUIRED);
    }

    // The legal person.
    let legal_name = required(&mut out, fields, F::LegalName).and_then(|v| {
        let c = name::check(&v);
        out.problems(F::LegalName, &c.problems, Severity::Error);
        name::normalize(&v).ok()
    });
    if let Some(v) = required(&mut out, fields, F::IdNumber) {
        let c = id_card::check_on(&v, today);
        out.problems(F::IdNumber, &c.problems, Severity::Error);
        let birth = c
            .birth_date
            .as_deref()
            .and_then(|b| NaiveDate::parse_from_str(b, "%Y-%m-%d").ok());
        if birth.is_some_and(|b| age_on(b, today) < MIN_AGE) {
            out.error(F::IdNumber, &D::REVIEW_APPLICANT_UNDERAGE);
        }
    }
    period(
        &mut out,
        fields,
        &Period {
            from: F::IdValidFrom,
            until: F::IdValidUntil,
            long_term: F::IdLongTerm,
            expired: &D::REVIEW_ID_EXPIRED,
            expiring: &ONBOARDING_ID_EXPIRING,
        },
        today,
    );

    // The licence.
    let licence_fields = [
        F::CreditCode,
        F::RegisteredName,
        F::LicenceValidFrom,
        F::LicenceValidUntil,
    ];
    let mut registered_name = None;
    match kind {
        Some(k) if k.has_licence() => {
            if let Some(v) = required(&mut out, fields, F::CreditCode) {
                let c = credit_code::check(&v);
                out.problems(F::CreditCode, &c.problems, Severity::Error);
                out.problems(F::CreditCode, &c.warnings, Severity::Warning);
                if let Some(entity) = c.entity {
                    use crate::validate::EntityKind as E;
                    let fits = matches!(
                        (k, entity),
                        (MerchantKind::IndividualBusiness, E::IndividualBusiness)
                            | (
                                MerchantKind::Enterprise,
                                E::Enterprise | E::FarmersCooperative | E::Other
                            )
                    );
                    if !fits {
                        out.warning(F::CreditCode, &ONBOARDING_LICENCE_KIND_MISMATCH);
                    }
                }
            }
            text(&mut out, fields, F::RegisteredName, 60);
            registered_name = get(fields, F::RegisteredName).map(str::to_owned);
            period(
                &mut out,
                fields,
                &Period {
                    from: F::LicenceValidFrom,
                    until: F::LicenceValidUntil,
                    long_term: F::LicenceLongTerm,
                    expired: &D::REVIEW_LICENCE_EXPIRED,
                    expiring: &ONBOARDING_LICENCE_EXPIRING,
                },
                today,
            );
        }
        Some(_) => {
            for f in licence_fields {
                if get(fields, f).is_some() {
                    out.error(f, &D::FIELD_LICENCE_NOT_FOR_MICRO);
                }
            }
            if flag(fields, F::LicenceLongTerm) {
                out.error(F::LicenceLongTerm, &D::FIELD_LICENCE_NOT_FOR_MICRO);
            }
        }
        None => {}
    }

    // The shop.
    text(&mut out, fields, F::ShopName, 40);
    let region = |out: &mut Out, f: F| {
        let v = required(out, fields, f)?;
        if digits(&v, 6..=6) {
            Some(v)
        } else {
            out.error(f, &D::FIELD_INVALID);
            None
        }
    };
    let province = region(&mut out, F::ProvinceCode);
    let city = region(&mut out, F::CityCode);
    let district = region(&mut out, F::DistrictCode);
    if let Some(p) = &province {
        in_tree(
            &mut out,
            F::ProvinceCode,
            listed(&input.trees.regions, "", p),
            &D::FIELD_REGION_UNKNOWN,
        );
    }
    if let (Some(p), Some(c)) = (&province, &city) {
        if p.get(..2) != c.get(..2) {
            out.error(F::CityCode, &D::FIELD_REGION_NOT_NESTED);
        } else {
            in_tree(
                &mut out,
                F::CityCode,
                listed(&input.trees.regions, p, c),
                &D::FIELD_REGION_UNKNOWN,
            );
        }
    }
    if let (Some(c), Some(d)) = (&city, &district) {
        if c.get(..4) != d.get(..4) {
            out.error(F::DistrictCode, &D::FIELD_REGION_NOT_NESTED);
        } else {
            in_tree(
                &mut out,
                F::DistrictCode,
                listed(&input.trees.regions, c, d),
                &D::FIELD_REGION_UNKNOWN,
            );
        }
    }
    text(&mut out, fields, F::Street, 100);
    if let Some(mcc) = required(&mut out, fields, F::Mcc) {
        if !digits(&mcc, 4..=4) {
            out.error(F::Mcc, &D::FIELD_INVALID);
        } else {
            let trees = &input.trees.mcc;
            let found = trees
                .iter()
                .filter(|(q, _)| !q.is_empty())
                .any(|(_, l)| l.contains(&mcc));
            let complete = trees
                .get("")
                .is_some_and(|cats| !cats.is_empty() && cats.iter().all(|c| trees.contains_key(c)));
            let state = if found {
                Some(true)
            } else if complete {
                Some(false)
            } else {
                None
            };
            in_tree(&mut out, F::Mcc, state, &D::FIELD_MCC_UNKNOWN);
        }
    }
    let lon = get(fields, F::Longitude);
    let lat = get(fields, F::Latitude);
    match (lon, lat) {
        (None, None) => {}
        (Some(lon), Some(lat)) => {
            let within = |v: &str, limit: i64| {
                v.parse::<Decimal>()
                    .is_ok_and(|d| d.abs() <= Decimal::from(limit) && d.scale() <= 8)
            };
            if !within(lon, 180) {
                out.error(F::Longitude, &D::FIELD_COORDINATE_INVALID);
            }
            if !within(lat, 90) {
                out.error(F::Latitude, &D::FIELD_COORDINATE_INVALID);
            }
        }
        (Some(_), None) => out.error(F::Latitude, &D::FIELD_COORDINATE_INVALID),
        (None, Some(_)) => out.error(F::Longitude, &D::FIELD_COORDINATE_INVALID),
    }

    // The settlement account.
    let account = get(fields, F::AccountType).and_then(AccountType::parse);
    if account.is_none() {
        out.error(F::AccountType, &D::FIELD_REQUIRED);
    }
    if account == Some(AccountType::Corporate)
        && kind.is_some_and(|k| k != MerchantKind::Enterprise)
    {
        out.error(F::AccountType, &D::FIELD_CORPORATE_NOT_FOR_KIND);
    }
    if let Some(number) = required(&mut out, fields, F::AccountNumber) {
        match account {
            Some(AccountType::Corporate) => {
                let compact: String = number.chars().filter(|c| !c.is_whitespace()).collect();
                if !digits(&compact, 8..=30) {
                    out.error(F::AccountNumber, &D::FIELD_ACCOUNT_NUMBER_INVALID);
                }
            }
            _ => {
                let c = bank_card::check(&number);
                out.problems(F::AccountNumber, &c.problems, Severity::Error);
                if c.valid {
                    match &c.bin {
                        Some(bin) if bin.card_kind != CardKind::Debit => {
                            out.error(F::AccountNumber, &D::REVIEW_CARD_NOT_DEBIT)
                        }
                        Some(_) => {}
                        None => out.error(F::AccountNumber, &D::REVIEW_CARD_BANK_UNKNOWN),
                    }
                }
            }
        }
    }
    if let Some(holder) = required(&mut out, fields, F::HolderName) {
        match account {
            Some(AccountType::Corporate) => {
                if registered_name.as_deref().is_some_and(|r| r != holder) {
                    out.error(F::HolderName, &D::REVIEW_HOLDER_NOT_REGISTERED_NAME);
                }
            }
            _ => {
                let c = name::check(&holder);
                out.problems(F::HolderName, &c.problems, Severity::Error);
                if let (Ok(h), Some(l)) = (name::normalize(&holder), &legal_name)
                    && h != *l
                {
                    out.error(F::HolderName, &D::REVIEW_HOLDER_NOT_LEGAL_PERSON);
                }
            }
        }
    }
    if let Some(branch) = required(&mut out, fields, F::BranchCode) {
        if !digits(&branch, 12..=12) {
            out.error(F::BranchCode, &D::FIELD_INVALID);
        } else {
            let lists = &input.trees.branches;
            let found = lists.values().any(|l| l.contains(&branch));
            // The list of the branch's bank (its first three digits) in
            // the shop's city, when cached, is the whole truth.
            let query = city.as_ref().map(|c| branch_query(&branch[..3], c));
            let state = if found {
                Some(true)
            } else if query.is_some_and(|q| lists.contains_key(&q)) {
                Some(false)
            } else {
                None
            };
            in_tree(&mut out, F::BranchCode, state, &D::FIELD_BRANCH_UNKNOWN);
        }
    }
    if let Some(v) = required(&mut out, fields, F::ReservedMobile) {
        let c = phone::check(&v);
        out.problems(F::ReservedMobile, &c.problems, Severity::Error);
    }

    // Photos and the agreement.
    for needed in PhotoKind::needed(kind, account) {
        if !input.photos.contains(&needed) {
            out.at(
                &photo_field(needed),
                None,
                D::FIELD_MISSING.code,
                Severity::Error,
            );
        }
    }
    if !input.agreement_signed {
        out.at("agreement", None, D::FIELD_MISSING.code, Severity::Error);
    }
    out.0
}

/// The problem field of a photo: its kind, as the platform's `missing`
/// and rejections name it.
pub fn photo_field(kind: PhotoKind) -> String {
    kind.as_str().to_owned()
}

/// The cache query of a bank's branches in a region.
pub fn branch_query(bank: &str, region: &str) -> String {
    format!("bank={bank}&region={region}")
}

/// Whether any problem is an error.
pub fn blocks(problems: &[ApplicationProblem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::bank_card::luhn_check_digit;

    fn card(partial: &str) -> String {
        let check = luhn_check_digit(partial.as_bytes()).expect("digits");
        format!("{partial}{}", char::from(check))
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")
    }

    /// 11010519491231002X is valid (born 1949); this one born 1985.
    const ID: &str = "110105198503071234";

    fn id() -> String {
        let first17 = &ID[..17];
        let c = id_card::check_char(first17.as_bytes()).expect("digits");
        format!("{first17}{}", char::from(c))
    }

    fn trees() -> Trees {
        let mut t = Trees::default();
        t.regions.insert(String::new(), vec!["510000".into()]);
        t.regions.insert("510000".into(), vec!["510100".into()]);
        t.regions.insert("510100".into(), vec!["510107".into()]);
        t.mcc.insert(String::new(), vec!["food".into()]);
        t.mcc.insert("food".into(), vec!["5812".into()]);
        t.branches
            .insert(branch_query("102", "510100"), vec!["102651000017".into()]);
        t
    }

    fn micro() -> HashMap<F, String> {
        let mut f = HashMap::new();
        let mut set = |k: F, v: &str| {
            f.insert(k, v.to_owned());
        };
        set(F::Kind, "micro");
        set(F::LegalName, "王小明");
        set(F::IdNumber, &id());
        set(F::IdValidFrom, "2015-03-07");
        set(F::IdValidUntil, "2035-03-07");
        set(F::ShopName, "老王面馆");
        set(F::ProvinceCode, "510000");
        set(F::CityCode, "510100");
        set(F::DistrictCode, "510107");
        set(F::Street, "人民南路四段 1 号");
        set(F::Mcc, "5812");
        set(F::AccountType, "personal");
        set(F::AccountNumber, &card("622202100000000001"));
        set(F::HolderName, "王小明");
        set(F::BranchCode, "102651000017");
        set(F::ReservedMobile, "13800000001");
        f
    }

    fn all_photos() -> Vec<PhotoKind> {
        PhotoKind::ALL.to_vec()
    }

    fn run(fields: &HashMap<F, String>, trees: &Trees) -> Vec<ApplicationProblem> {
        let photos = all_photos();
        validate(&Input {
            fields,
            photos: &photos,
            agreement_signed: true,
            trees,
            today: today(),
        })
    }

    fn codes(p: &[ApplicationProblem]) -> Vec<(String, String)> {
        p.iter()
            .map(|p| (p.field.clone(), p.code.clone()))
            .collect()
    }

    fn has(p: &[ApplicationProblem], field: F, code: &str) -> bool {
        p.iter().any(|p| p.field == field.key() && p.code == code)
    }

    #[test]
    fn a_complete_micro_application_has_no_problem() {
        let p = run(&micro(), &trees());
        assert!(p.is_empty(), "{:?}", codes(&p));
    }

    #[test]
    fn an_empty_form_lists_every_required_field_at_once() {
        let p = validate(&Input {
            fields: &HashMap::new(),
            photos: &[],
            agreement_signed: false,
            trees: &trees(),
            today: today(),
        });
        for f in [
            F::Kind,
            F::LegalName,
            F::IdNumber,
            F::ShopName,
            F::AccountType,
            F::ReservedMobile,
        ] {
            assert!(has(&p, f, "field.required"), "{f:?}");
        }
        assert!(
            p.iter()
                .any(|p| p.field == "id_front" && p.code == "application.missing")
        );
        assert!(p.iter().any(|p| p.field == "agreement"));
        assert!(blocks(&p));
    }

    #[test]
    fn the_holder_of_a_personal_account_is_the_legal_person_and_the_card_is_debit() {
        let mut f = micro();
        f.insert(F::HolderName, "李四".into());
        assert!(has(
            &run(&f, &trees()),
            F::HolderName,
            "review.holder_not_legal_person"
        ));
        let mut f = micro();
        // 622576 is a credit BIN (招商银行信用卡) in the table.
        let credit = crate::validate::bank_card::lookup("6225768888888888").map(|b| b.card_kind);
        if credit == Some(CardKind::Credit) {
            f.insert(F::AccountNumber, card("622576888888888"));
            assert!(has(
                &run(&f, &trees()),
                F::AccountNumber,
                "review.settlement_card_not_debit"
            ));
        }
    }

    #[test]
    fn a_minor_is_refused_on_the_day_of_submission() {
        let mut f = micro();
        // Born 2008-06-02: 17 on 2026-06-01, 18 the day after.
        let first17 = "11010520080602123";
        let c = id_card::check_char(first17.as_bytes()).unwrap();
        f.insert(F::IdNumber, format!("{first17}{}", char::from(c)));
        assert!(has(
            &run(&f, &trees()),
            F::IdNumber,
            "review.applicant_underage"
        ));
        let photos = all_photos();
        let next_day = validate(&Input {
            fields: &f,
            photos: &photos,
            agreement_signed: true,
            trees: &trees(),
            today: today().succ_opt().unwrap(),
        });
        assert!(!has(&next_day, F::IdNumber, "review.applicant_underage"));
    }

    #[test]
    fn expired_and_expiring_documents() {
        let mut f = micro();
        f.insert(F::IdValidUntil, "2026-05-31".into());
        let p = run(&f, &trees());
        assert!(has(&p, F::IdValidUntil, "review.id_expired"));
        assert!(blocks(&p));
        f.insert(F::IdValidUntil, "2026-06-20".into());
        let p = run(&f, &trees());
        assert!(has(&p, F::IdValidUntil, "onboarding.id_expiring"));
        assert!(!blocks(&p), "a warning never blocks: {:?}", codes(&p));
        f.insert(F::IdValidUntil, "2026-07-02".into());
        assert!(run(&f, &trees()).is_empty());
        // Long term and an end date is a contradiction.
        f.insert(F::IdLongTerm, "true".into());
        assert!(has(
            &run(&f, &trees()),
            F::IdValidUntil,
            "validity.end_or_long_term"
        ));
        f.remove(&F::IdValidUntil);
        assert!(run(&f, &trees()).is_empty());
    }

    #[test]
    fn the_licence_exactly_when_the_kind_needs_one_and_corporate_only_for_enterprises() {
        let mut f = micro();
        f.insert(F::CreditCode, "9144030071526726XG".into());
        assert!(has(
            &run(&f, &trees()),
            F::CreditCode,
            "application.licence_not_for_micro"
        ));
        let mut f = micro();
        f.insert(F::Kind, "enterprise".into());
        let p = run(&f, &trees());
        assert!(has(&p, F::CreditCode, "field.required"));
        assert!(has(&p, F::RegisteredName, "field.required"));
        f.insert(F::CreditCode, "9144030071526726XG".into());
        f.insert(F::RegisteredName, "深圳市腾讯计算机系统有限公司".into());
        f.insert(F::LicenceValidFrom, "2000-02-24".into());
        f.insert(F::LicenceLongTerm, "true".into());
        assert!(
            run(&f, &trees()).is_empty(),
            "{:?}",
            codes(&run(&f, &trees()))
        );
        f.insert(F::AccountType, "corporate".into());
        f.insert(F::AccountNumber, "4000 0231 0904 2345 678".into());
        f.insert(F::HolderName, "深圳市腾讯计算机系统有限公司".into());
        assert!(
            run(&f, &trees()).is_empty(),
            "{:?}",
            codes(&run(&f, &trees()))
        );
        f.insert(F::HolderName, "王小明".into());
        assert!(has(
            &run(&f, &trees()),
            F::HolderName,
            "review.holder_not_registered_name"
        ));
        f.insert(F::Kind, "individual_business".into());
        let p = run(&f, &trees());
        assert!(has(
            &p,
            F::AccountType,
            "application.corporate_not_for_kind"
        ));
        assert!(has(&p, F::CreditCode, "onboarding.licence_kind_mismatch"));
    }

    #[test]
    fn codes_from_the_trees_and_unchecked_codes_offline() {
        let mut f = micro();
        f.insert(F::DistrictCode, "510199".into());
        assert!(has(&run(&f, &trees()), F::DistrictCode, "region.unknown"));
        f.insert(F::DistrictCode, "520107".into());
        assert!(has(
            &run(&f, &trees()),
            F::DistrictCode,
            "region.not_nested"
        ));
        let mut f = micro();
        f.insert(F::Mcc, "5999".into());
        assert!(has(&run(&f, &trees()), F::Mcc, "mcc.unknown"));
        // Nothing cached: every tree code is a warning, nothing blocks.
        let p = run(&micro(), &Trees::default());
        assert!(!blocks(&p), "{:?}", codes(&p));
        for f in [
            F::ProvinceCode,
            F::CityCode,
            F::DistrictCode,
            F::Mcc,
            F::BranchCode,
        ] {
            assert!(has(&p, f, "onboarding.lookup_unchecked"), "{f:?}");
        }
    }

    #[test]
    fn field_validators_give_their_own_codes_and_warnings_stay_warnings() {
        let mut f = micro();
        let good = id();
        let wrong_last = if good.ends_with('1') { '2' } else { '1' };
        let wrong = format!("{}{wrong_last}", &good[..17]);
        f.insert(F::IdNumber, wrong.clone());
        f.insert(F::ReservedMobile, "1380000000".into());
        f.insert(F::LegalName, "王1明".into());
        let p = run(&f, &trees());
        assert!(has(&p, F::IdNumber, "id_card.checksum"), "{:?}", codes(&p));
        assert!(has(&p, F::ReservedMobile, "phone.length"));
        assert!(has(&p, F::LegalName, "name.digits"));
        for problem in &p {
            assert!(!problem.message.is_empty() && !problem.message_en.is_empty());
            assert!(!problem.message.contains(&wrong));
        }
    }
}
