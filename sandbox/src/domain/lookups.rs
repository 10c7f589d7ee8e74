//! The onboarding lookups: the region tree (GB/T 2260), the MCC tree
//! (ISO 18245) and the bank branches with their 联行号, from the data files
//! in sandbox/data (embedded at build time). `GET /v1/regions`,
//! `GET /v1/mcc`, `GET /v1/bank-branches`.
//!
//! The same tables check a saved form: a region code must exist at its level
//! and nest under the one above, an MCC must be a four-digit leaf, a branch
//! code must be listed.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Json;
use merchant_contract::domain::{
    self as wire, BankBranch, BankBranchList, BankBranchQuery, LookupQuery, MccList, MccNode,
    Region, RegionList,
};

use crate::error::ApiError;
use crate::guard::{Merchant, QueryParams};

/// The version of the embedded data: a cached answer with the same version
/// is current.
pub const DATA_VERSION: &str = "2025.06-sandbox.1";

const REGIONS_TSV: &str = include_str!("../../data/regions.tsv");
const MCC_TSV: &str = include_str!("../../data/mcc.tsv");
const BANKS_TSV: &str = include_str!("../../data/banks.tsv");
const BRANCHES_TSV: &str = include_str!("../../data/bank_branches.tsv");

/// A region's level, read from its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Province,
    City,
    District,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::District => "district",
        }
    }
}

/// Whether `code` is six ASCII digits.
pub fn six_digits(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The level of a six-digit code, by its shape.
pub fn level_of(code: &str) -> Option<Level> {
    if !six_digits(code) {
        return None;
    }
    Some(if code.ends_with("0000") {
        Level::Province
    } else if code.ends_with("00") {
        Level::City
    } else {
        Level::District
    })
}

/// The code of the region directly above `code` (none for a province).
pub fn parent_of(code: &str) -> Option<String> {
    match level_of(code)? {
        Level::Province => None,
        Level::City => Some(format!("{}0000", code.get(..2)?)),
        Level::District => Some(format!("{}00", code.get(..4)?)),
    }
}

/// One bank: CNAPS code, the BIN table's issuer code, names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bank {
    pub code: String,
    pub issuer: String,
    pub name: String,
    pub name_en: String,
}

/// The embedded tables.
pub struct Tables {
    /// Regions in file order.
    regions: Vec<(String, String)>,
    region_index: HashMap<String, usize>,
    /// Categories: code, name, English name.
    categories: Vec<(String, String, String)>,
    /// MCCs: category, code, name, English name.
    mccs: Vec<(String, String, String, String)>,
    banks: Vec<Bank>,
    branches: Vec<BankBranch>,
}

fn rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
}

fn load() -> Tables {
    let regions: Vec<(String, String)> = rows(REGIONS_TSV)
        .filter_map(|r| Some((r.first()?.to_string(), r.get(1)?.to_string())))
        .collect();
    let region_index = regions
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.clone(), i))
        .collect();
    let mut categories = Vec::new();
    let mut mccs = Vec::new();
    for r in rows(MCC_TSV) {
        match r.as_slice() {
            ["category", code, name, en] => {
                categories.push((code.to_string(), name.to_string(), en.to_string()))
            }
            ["mcc", cat, code, name, en] => mccs.push((
                cat.to_string(),
                code.to_string(),
                name.to_string(),
                en.to_string(),
            )),
            _ => {}
        }
    }
    let banks: Vec<Bank> = rows(BANKS_TSV)
        .filter_map(|r| match r.as_slice() {
            [code, issuer, name, en] => Some(Bank {
                code: code.to_string(),
                issuer: issuer.to_string(),
                name: name.to_string(),
                name_en: en.to_string(),
            }),
            _ => None,
        })
        .collect();
    let branches = rows(BRANCHES_TSV)
        .filter_map(|r| match r.as_slice() {
            [code, bank, region, name] => Some(BankBranch {
                branch_code: code.to_string(),
                name: name.to_string(),
                bank_code: bank.to_string(),
                bank_name: banks.iter().find(|b| b.code == *bank)?.name.clone(),
                region_code: region.to_string(),
            }),
            _ => None,
        })
        .collect();
    Tables {
        regions,
        region_index,
        categories,
        mccs,
        banks,
        branches,
    }
}

/// The embedded tables, parsed once.
pub fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(load)
}

impl Tables {
    /// The name of a region, when the tree has it.
    pub fn region_name(&self, code: &str) -> Option<&str> {
        self.region_index
            .get(code)
            .and_then(|&i| self.regions.get(i))
            .map(|(_, n)| n.as_str())
    }

    /// Whether the tree lists anything under `code`.
    pub fn has_children(&self, code: &str) -> bool {
        self.regions
            .iter()
            .any(|(c, _)| parent_of(c).as_deref() == Some(code))
    }

    /// The regions directly under `parent` (the provinces for `None`).
    pub fn regions_under(&self, parent: Option<&str>) -> Vec<Region> {
        self.regions
            .iter()
            .filter(|(c, _)| parent_of(c).as_deref() == parent)
            .filter_map(|(c, n)| {
                Some(Region {
                    code: c.clone(),
                    name: n.clone(),
                    level: level_of(c)?.as_str().to_owned(),
                    has_children: self.has_children(c),
                })
            })
            .collect()
    }

    /// Whether `code` is a four-digit MCC of the tree.
    pub fn mcc_exists(&self, code: &str) -> bool {
        self.mccs.iter().any(|(_, c, _, _)| c == code)
    }

    pub fn category_exists(&self, code: &str) -> bool {
        self.categories.iter().any(|(c, _, _)| c == code)
    }

    /// The categories (`None`) or the MCCs of one category.
    pub fn mcc_under(&self, parent: Option<&str>) -> Vec<MccNode> {
        match parent {
            None => self
                .categories
                .iter()
                .map(|(c, n, e)| MccNode {
                    code: c.clone(),
                    name: n.clone(),
                    name_en: e.clone(),
                    level: "category".to_owned(),
                    has_children: self.mccs.iter().any(|m| &m.0 == c),
                })
                .collect(),
            Some(p) => self
                .mccs
                .iter()
                .filter(|m| m.0 == p)
                .map(|(_, c, n, e)| MccNode {
                    code: c.clone(),
                    name: n.clone(),
                    name_en: e.clone(),
                    level: "mcc".to_owned(),
                    has_children: false,
                })
                .collect(),
        }
    }

    /// The branch with this 联行号.
    pub fn branch(&self, code: &str) -> Option<&BankBranch> {
        self.branches.iter().find(|b| b.branch_code == code)
    }

    /// The bank with this CNAPS code.
    pub fn bank(&self, code: &str) -> Option<&Bank> {
        self.banks.iter().find(|b| b.code == code)
    }

    /// The bank whose cards the BIN table lists under `issuer` (`ICBC`).
    pub fn bank_of_issuer(&self, issuer: &str) -> Option<&Bank> {
        self.banks.iter().find(|b| b.issuer == issuer)
    }

    /// Branches of `bank` (3 digits) in `region` (a province or a city).
    pub fn branches(&self, bank: Option<&str>, region: Option<&str>) -> Vec<BankBranch> {
        self.branches
            .iter()
            .filter(|b| bank.is_none_or(|k| b.bank_code == k))
            .filter(|b| {
                region.is_none_or(|r| {
                    b.region_code == r || parent_of(&b.region_code).as_deref() == Some(r)
                })
            })
            .cloned()
            .collect()
    }
}

fn parent_param(parent: Option<String>) -> Option<String> {
    parent
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
}

/// `GET /v1/regions?parent=`.
pub async fn regions(
    Merchant(_): Merchant,
    QueryParams(q): QueryParams<LookupQuery>,
) -> Result<Json<RegionList>, ApiError> {
    let parent = parent_param(q.parent);
    let t = tables();
    if let Some(p) = &parent {
        if !six_digits(p) {
            return Err(ApiError::fields(vec![]).field("parent", wire::FIELD_LOOKUP_CODE.code));
        }
        if t.region_name(p).is_none() || level_of(p) == Some(Level::District) {
            return Err(ApiError::new(&wire::LOOKUP_PARENT_UNKNOWN));
        }
    }
    Ok(Json(RegionList {
        version: DATA_VERSION.to_owned(),
        items: t.regions_under(parent.as_deref()),
        parent,
    }))
}

/// `GET /v1/mcc?parent=`.
pub async fn mcc(
    Merchant(_): Merchant,
    QueryParams(q): QueryParams<LookupQuery>,
) -> Result<Json<MccList>, ApiError> {
    let parent = parent_param(q.parent);
    let t = tables();
    if let Some(p) = &parent
        && !t.category_exists(p)
    {
        return Err(ApiError::new(&wire::LOOKUP_PARENT_UNKNOWN));
    }
    Ok(Json(MccList {
        version: DATA_VERSION.to_owned(),
        items: t.mcc_under(parent.as_deref()),
        parent,
    }))
}

/// `GET /v1/bank-branches?bank=&region=`.
pub async fn bank_branches(
    Merchant(_): Merchant,
    QueryParams(q): QueryParams<BankBranchQuery>,
) -> Result<Json<BankBranchList>, ApiError> {
    let bank = parent_param(q.bank);
    let region = parent_param(q.region);
    let mut e = ApiError::fields(vec![]);
    if let Some(b) = &bank
        && !(b.len() == 3 && b.bytes().all(|c| c.is_ascii_digit()))
    {
        e = e.field("bank", wire::FIELD_LOOKUP_CODE.code);
    }
    if let Some(r) = &region
        && !six_digits(r)
    {
        e = e.field("region", wire::FIELD_LOOKUP_CODE.code);
    }
    if !e.fields.is_empty() {
        return Err(e);
    }
    Ok(Json(BankBranchList {
        version: DATA_VERSION.to_owned(),
        items: tables().branches(bank.as_deref(), region.as_deref()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_province_and_its_cities_are_there() {
        let t = tables();
        let provinces = t.regions_under(None);
        assert_eq!(provinces.len(), 31);
        assert!(
            provinces
                .iter()
                .all(|p| p.level == "province" && p.has_children)
        );
        let sichuan = t.regions_under(Some("510000"));
        assert_eq!(sichuan.len(), 21);
        assert!(
            sichuan
                .iter()
                .any(|c| c.code == "510100" && c.name == "成都市")
        );
        let beijing = t.regions_under(Some("110000"));
        assert_eq!(beijing.len(), 1);
        assert_eq!(beijing[0].code, "110100");
        assert_eq!(t.region_name("510107"), Some("武侯区"));
        assert_eq!(t.region_name("110105"), Some("朝阳区"));
        assert_eq!(parent_of("510107").as_deref(), Some("510100"));
        assert_eq!(parent_of("510100").as_deref(), Some("510000"));
        // Every code nests under a region the tree has.
        for (c, _) in &t.regions {
            if let Some(p) = parent_of(c) {
                assert!(t.region_name(&p).is_some(), "{c} has no parent {p}");
            }
        }
        // Prefecture-level divisions in all: 333 and the grouping codes.
        let cities = t
            .regions
            .iter()
            .filter(|(c, _)| level_of(c) == Some(Level::City));
        assert_eq!(cities.count(), 342);
    }

    #[test]
    fn the_mcc_tree_has_the_common_codes() {
        let t = tables();
        assert!(t.mccs.len() >= 60);
        for code in [
            "5411", "5812", "5814", "5912", "5311", "5331", "5499", "5651", "5699", "5732", "5941",
            "5945", "5992", "7230", "7298", "7011", "4121", "7538", "8011", "8021", "8062", "8220",
            "8299",
        ] {
            assert!(t.mcc_exists(code), "{code}");
        }
        let mut seen = std::collections::HashSet::new();
        for (cat, code, _, _) in &t.mccs {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(t.category_exists(cat));
            assert!(code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()));
        }
        assert!(!t.mcc_exists("catering"));
        assert!(!t.mcc_exists("9999"));
    }

    #[test]
    fn branches_have_twelve_digit_codes_of_known_banks() {
        let t = tables();
        let b = t.branch("102651000017").unwrap();
        assert_eq!(b.bank_code, "102");
        assert_eq!(b.region_code, "510100");
        for b in &t.branches {
            assert_eq!(b.branch_code.len(), 12);
            assert!(b.branch_code.starts_with(&b.bank_code));
            assert!(t.region_name(&b.region_code).is_some());
        }
        assert!(!t.branches(Some("105"), Some("110100")).is_empty());
        assert!(
            t.branches(Some("105"), Some("510000"))
                .iter()
                .all(|b| b.region_code == "510100")
        );
        assert_eq!(t.bank_of_issuer("ICBC").unwrap().code, "102");
    }
}
