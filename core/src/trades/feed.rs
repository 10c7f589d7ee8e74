//! The change feed's pages (`GET /v1/trades/changes`) checked whole before
//! anything is written.
//!
//! A page is refused whole, with one of the codes below, when any record of
//! it is malformed or hostile (an unknown enum, an amount that is not a
//! positive amount, a fee or a refunded sum above the amount, more of a
//! card than BIN + last four, a void or refund not naming its sale, malformed
//! numbers, dates or times), when a trade appears twice in it, or when its
//! sequence does not rise (each `change_seq` above the last and above the
//! page's `after`, `next_after` the last one). Nothing of a refused page
//! reaches the store. A trade event is checked the same way, as a page of
//! its own records (see `apply.rs`).
//!
//! Error details name the record's place and the field, never a value (a
//! value could be card digits).

use std::collections::HashSet;

use merchant_contract::domain;

use super::model::Trade;
use crate::error::{Code, Error, Result};

crate::codes! {
    PAGE_MALFORMED = Platform, "trades.page_malformed", "交易变更数据格式无法识别，已整页拒收", "The page of trade changes could not be understood; it was refused whole";
    PAGE_SEQUENCE = Platform, "trades.page_sequence", "交易变更序号未按顺序递增，已整页拒收", "The change sequence of the page does not rise in order; it was refused whole";
    PAGE_DUPLICATE = Platform, "trades.page_duplicate", "同一页中交易重复出现，已整页拒收", "A trade appears twice in one page; the page was refused whole";
    RECORD_AMOUNT = Platform, "trades.record_amount", "交易金额无效（须为正数且最多两位小数），已整页拒收", "A trade amount is not a positive amount with at most two decimals; the page was refused whole";
    RECORD_FEE_ABOVE_AMOUNT = Platform, "trades.record_fee_above_amount", "交易手续费高于交易金额，已整页拒收", "A trade's fee is above its amount; the page was refused whole";
    RECORD_REFUNDED_ABOVE_AMOUNT = Platform, "trades.record_refunded_above_amount", "交易已退金额高于交易金额，已整页拒收", "A trade's refunded sum is above its amount; the page was refused whole";
    RECORD_CARD = Platform, "trades.record_card", "交易卡信息超出卡号前六位和后四位，已整页拒收", "A trade carries more of a card than its BIN and last four; the page was refused whole";
    RECORD_KIND = Platform, "trades.record_kind", "交易类型与原交易号不一致，已整页拒收", "A trade's kind and its original trade do not agree; the page was refused whole";
    RECORD_CHANNEL = Platform, "trades.record_channel", "未知的收款渠道，已整页拒收", "A trade names an unknown channel; the page was refused whole";
    RECORD_FIELD = Platform, "trades.record_field", "交易记录字段格式无效，已整页拒收", "A field of a trade record is malformed; the page was refused whole";
}

/// The most records a page may hold: the contract's largest `limit`.
pub const MAX_PAGE: u32 = 1000;

/// A page that passed every check: the app's records, in change order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPage {
    /// The cursor the page was asked after.
    pub after: u64,
    pub records: Vec<Trade>,
    /// The cursor once the page is applied.
    pub next_after: u64,
    pub has_more: bool,
    /// The feed's estimate of the changes left after this page.
    pub remaining: u64,
}

/// Reads a page's body. A body that is not the contract's page (an unknown
/// kind, status or field type, a missing field) is `trades.page_malformed`;
/// the detail names where, never the value.
pub fn decode_page(body: &[u8]) -> Result<domain::TradeChanges> {
    // Plain serde first: tracking the path costs as much again as decoding,
    // so it is paid only to describe a page that fails.
    serde_json::from_slice(body).or_else(|_| crate::platform::client::decode(body, &PAGE_MALFORMED))
}

/// Reads an event's data as `T` (`trades.page_malformed` when it does not
/// fit; the detail names where, never the value).
pub fn from_value<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        Error::new(&PAGE_MALFORMED).detail(format!("trade event mismatch at `{}`", e.path()))
    })
}

/// Checks a whole page asked with `after` and `limit` and maps its records;
/// the first problem refuses it.
pub fn validate(page: domain::TradeChanges, after: u64, limit: u32) -> Result<ValidPage> {
    let domain::TradeChanges {
        changes,
        next_after,
        has_more,
        remaining,
    } = page;
    let limit = limit.min(MAX_PAGE) as usize;
    if changes.len() > limit {
        return Err(Error::new(&PAGE_MALFORMED)
            .detail(format!("{} records for a limit of {limit}", changes.len())));
    }
    let mut last = after;
    for (i, t) in changes.iter().enumerate() {
        if t.change_seq <= last {
            return Err(Error::new(&PAGE_SEQUENCE).detail(format!(
                "record {i}: change_seq {} not above {last}",
                t.change_seq
            )));
        }
        last = t.change_seq;
    }
    if next_after != last {
        return Err(Error::new(&PAGE_SEQUENCE)
            .detail(format!("next_after {next_after}, last change_seq {last}")));
    }
    if changes.is_empty() && has_more {
        return Err(Error::new(&PAGE_SEQUENCE).detail("an empty page says more follow"));
    }
    let records = records(changes)?;
    Ok(ValidPage {
        after,
        records,
        next_after,
        has_more,
        remaining,
    })
}

/// Checks and maps records that must appear once each (a page, or the
/// records of one event): the first problem refuses them all.
pub fn records(changes: Vec<domain::Trade>) -> Result<Vec<Trade>> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(changes.len());
    for (i, t) in changes.iter().enumerate() {
        if !seen.insert(t.trade_id.as_str()) {
            return Err(Error::new(&PAGE_DUPLICATE).detail(format!("record {i}: trade_id")));
        }
    }
    drop(seen);
    let mut out = Vec::with_capacity(changes.len());
    for (i, t) in changes.into_iter().enumerate() {
        out.push(super::api::trade_from_wire(t).map_err(|e| at(e, i))?);
    }
    Ok(out)
}

fn at(mut e: Error, i: usize) -> Error {
    e.detail = Some(match e.detail.take() {
        Some(d) => format!("record {i}: {d}"),
        None => format!("record {i}"),
    });
    e
}

/// Whether `e` is one of this module's refusals of a page or record.
pub fn is_refusal(e: &Error) -> bool {
    CODES.iter().any(|c: &Code| e.is(c))
}
