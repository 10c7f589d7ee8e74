//! The platform's lookups (regions, MCCs, bank branches), cached in the
//! merchant's store for offline form filling and for validation.
//!
//! Online, each call fetches and replaces the cached list; when the platform
//! cannot be reached, the cached list is returned (`from_cache: true`), and
//! without one the call fails with the network's code.

use merchant_contract::domain::{self as wire, routes};

use super::model::{Lookup, LookupEntry};
use super::store;
use super::validate::{Trees, branch_query};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::session::SessionState;
use crate::store::MerchantStore;

pub const REGIONS: &str = "regions";
pub const MCC: &str = "mcc";
pub const BRANCHES: &str = "bank-branches";

/// A code fit for a query string: 1 to 32 ASCII letters, digits or `_`.
fn checked(code: &str, field: &str) -> Result<String> {
    let code = code.trim();
    let ok = !code.is_empty()
        && code.len() <= 32
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(code.to_owned())
    } else {
        let c = super::platform_code(&wire::FIELD_LOOKUP_CODE);
        Err(Error::input(&c, vec![Problem::new(&c, field)]))
    }
}

fn entries_json(entries: &[LookupEntry]) -> Result<String> {
    serde_json::to_string(entries)
        .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))
}

fn parse_entries(json: &str) -> Result<Vec<LookupEntry>> {
    serde_json::from_str(json)
        .map_err(|_| Error::new(&crate::store::CORRUPT).detail("cached lookup is not JSON"))
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    crate::platform::client::decode(body, &crate::platform::RESPONSE_MALFORMED)
}

/// Fetches a list, keeps it, and returns it; on network trouble, the kept
/// copy.
async fn fetch(
    s: &SessionState,
    endpoint: &'static str,
    route: &str,
    url_query: String,
    cache_query: String,
    parse: fn(&[u8]) -> Result<Vec<LookupEntry>>,
) -> Result<Lookup> {
    let merchant = s.merchant_store().await?;
    match super::api::lookup(s, route, &url_query).await {
        Ok(body) => {
            let entries = parse(&body)?;
            let fetched_at = store::now_ms();
            store::put_lookup(
                &merchant,
                endpoint,
                &cache_query,
                &entries_json(&entries)?,
                fetched_at,
            )?;
            Ok(Lookup {
                entries,
                fetched_at,
                from_cache: false,
            })
        }
        Err(e) if e.kind == ErrorKind::Network => {
            match store::lookup(&merchant, endpoint, &cache_query)? {
                Some((json, fetched_at)) => Ok(Lookup {
                    entries: parse_entries(&json)?,
                    fetched_at,
                    from_cache: true,
                }),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The query of a tree lookup (`parent=…`, empty for the top level) and the
/// parent as the cache keys it.
fn parent_query(parent: Option<String>) -> Result<(String, String)> {
    match parent.filter(|p| !p.trim().is_empty()) {
        Some(p) => {
            let p = checked(&p, "parent")?;
            Ok((format!("parent={p}"), p))
        }
        None => Ok((String::new(), String::new())),
    }
}

/// `GET /v1/regions?parent=`: the provinces (`parent` `None`), a province's
/// cities or a city's districts.
pub async fn regions(s: &SessionState, parent: Option<String>) -> Result<Lookup> {
    let (url_query, parent) = parent_query(parent)?;
    fetch(
        s,
        REGIONS,
        routes::REGIONS.path,
        url_query,
        parent,
        |body| {
            let list: wire::RegionList = decode(body)?;
            Ok(list
                .items
                .into_iter()
                .map(|r| LookupEntry {
                    code: r.code,
                    name: r.name,
                    name_en: None,
                })
                .collect())
        },
    )
    .await
}

/// `GET /v1/mcc?parent=`: the categories (`parent` `None`) or the MCCs of one.
pub async fn mcc(s: &SessionState, parent: Option<String>) -> Result<Lookup> {
    let (url_query, parent) = parent_query(parent)?;
    fetch(s, MCC, routes::MCC.path, url_query, parent, |body| {
        let list: wire::MccList = decode(body)?;
        Ok(list
            .items
            .into_iter()
            .map(|m| LookupEntry {
                code: m.code,
                name: m.name,
                name_en: Some(m.name_en),
            })
            .collect())
    })
    .await
}

/// `GET /v1/bank-branches?bank=&region=`: the branches (联行号) of a bank
/// (3-digit code) in a region.
pub async fn branches(s: &SessionState, bank: String, region: String) -> Result<Lookup> {
    let bank = checked(&bank, "bank")?;
    let region = checked(&region, "region")?;
    let query = branch_query(&bank, &region);
    fetch(
        s,
        BRANCHES,
        routes::BANK_BRANCHES.path,
        query.clone(),
        query,
        |body| {
            let list: wire::BankBranchList = decode(body)?;
            Ok(list
                .items
                .into_iter()
                .map(|b| LookupEntry {
                    code: b.branch_code,
                    name: b.name,
                    name_en: None,
                })
                .collect())
        },
    )
    .await
}

/// The cached lists as validation reads them.
pub fn trees(merchant: &MerchantStore) -> Result<Trees> {
    let mut t = Trees::default();
    for (endpoint, into) in [
        (REGIONS, &mut t.regions),
        (MCC, &mut t.mcc),
        (BRANCHES, &mut t.branches),
    ] {
        for (query, json) in store::lookups_of(merchant, endpoint)? {
            let codes = parse_entries(&json)?.into_iter().map(|e| e.code).collect();
            into.insert(query, codes);
        }
    }
    Ok(t)
}
