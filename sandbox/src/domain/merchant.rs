//! The merchant as the domain knows it: active or not, its 商户编号, shop
//! name, agreed rates and settlement account. `GET /v1/merchant`.

use axum::Json;
use axum::extract::State;
use merchant_contract::domain::{self as wire, ChannelRate, MerchantProfile};
use merchant_contract::wire::event_types;
use merchant_core::money::RateTable;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::generator;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::guard::Merchant;
use crate::state::AppState;

/// An active merchant.
#[derive(Debug, Clone)]
pub struct Profile {
    pub merchant_id: String,
    pub merchant_no: String,
    pub shop_name: Option<String>,
    pub rates: RateTable,
    pub account_masked: Option<String>,
    pub activated_at: i64,
}

/// The agreed rates on the wire.
pub fn rates_wire(table: &RateTable) -> Vec<ChannelRate> {
    table
        .rates
        .iter()
        .map(|r| ChannelRate {
            channel: r.channel.as_str().to_owned(),
            rate: r.rate.to_string(),
            threshold: r.threshold.map(|a| a.to_string()),
            rate_above: r.rate_above.map(|a| a.to_string()),
            cap: r.cap.map(|a| a.to_string()),
        })
        .collect()
}

/// The active merchant's profile, `None` while not active.
pub fn profile(conn: &Connection, merchant_id: &str) -> Result<Option<Profile>, ApiError> {
    let row = conn
        .query_row(
            "SELECT merchant_no, shop_name, rates, account_masked, activated_at
             FROM dom_merchants WHERE merchant_id = ?1",
            params![merchant_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((merchant_no, shop_name, rates, account_masked, activated_at)) = row else {
        return Ok(None);
    };
    let rates: RateTable = serde_json::from_str(&rates)
        .map_err(|e| ApiError::internal(format!("stored rates: {e}")))?;
    Ok(Some(Profile {
        merchant_id: merchant_id.to_owned(),
        merchant_no,
        shop_name,
        rates,
        account_masked,
        activated_at,
    }))
}

/// The profile of an active merchant, or 409 `merchant.not_active`.
pub fn require_active(conn: &Connection, merchant_id: &str) -> Result<Profile, ApiError> {
    profile(conn, merchant_id)?.ok_or_else(|| ApiError::new(&wire::MERCHANT_NOT_ACTIVE))
}

/// The profile on the wire (`new` when not active).
pub fn to_wire(merchant_id: &str, p: Option<&Profile>) -> MerchantProfile {
    match p {
        Some(p) => MerchantProfile {
            merchant_id: merchant_id.to_owned(),
            status: "active".to_owned(),
            merchant_no: Some(p.merchant_no.clone()),
            shop_name: p.shop_name.clone(),
            rates: rates_wire(&p.rates),
            activated_at: Some(rfc3339(p.activated_at)),
        },
        None => MerchantProfile {
            merchant_id: merchant_id.to_owned(),
            status: "new".to_owned(),
            merchant_no: None,
            shop_name: None,
            rates: rates_wire(&RateTable::standard()),
            activated_at: None,
        },
    }
}

/// Makes a merchant active inside the caller's transaction: gives it its
/// 商户编号 and the standard rates, sets its status, and (unless `quiet`)
/// emits `merchant.activated`. An already active merchant is left as it is.
pub fn activate_with(
    state: &AppState,
    conn: &Connection,
    merchant_id: &str,
    shop_name: Option<&str>,
    account_masked: Option<&str>,
    at: i64,
    quiet: bool,
) -> Result<Profile, ApiError> {
    if let Some(p) = profile(conn, merchant_id)? {
        return Ok(p);
    }
    let rates = serde_json::to_string(&RateTable::standard())
        .map_err(|e| ApiError::internal(format!("rates json: {e}")))?;
    // The 商户编号 is drawn from the seed and the merchant id; the rare clash
    // with another merchant's draws again.
    let mut merchant_no = generator::merchant_no(state.seed(), merchant_id);
    for attempt in 1..=8 {
        let taken = conn
            .query_row(
                "SELECT 1 FROM dom_merchants WHERE merchant_no = ?1",
                params![merchant_no],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !taken {
            break;
        }
        merchant_no = generator::merchant_no(state.seed(), &format!("{merchant_id}#{attempt}"));
    }
    conn.execute(
        "INSERT INTO dom_merchants (merchant_id, merchant_no, shop_name, rates, account_masked, activated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![merchant_id, merchant_no, shop_name, rates, account_masked, at],
    )?;
    state.set_merchant_status(conn, merchant_id, "active")?;
    let p = require_active(conn, merchant_id)?;
    if !quiet {
        let body = serde_json::to_value(to_wire(merchant_id, Some(&p)))
            .map_err(|e| ApiError::internal(format!("profile json: {e}")))?;
        state.emit_with(conn, merchant_id, event_types::MERCHANT_ACTIVATED, body)?;
    }
    Ok(p)
}

/// Seeding: activates a seeded merchant without an event.
pub(crate) fn activate_seeded(
    state: &AppState,
    merchant_id: &str,
    shop_name: &str,
    at: i64,
) -> Result<(), ApiError> {
    state.db(|conn| {
        let tx = conn.transaction()?;
        activate_with(state, &tx, merchant_id, Some(shop_name), None, at, true)?;
        tx.commit()?;
        Ok(())
    })
}

/// `GET /v1/merchant`.
pub async fn get_profile(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
) -> Result<Json<MerchantProfile>, ApiError> {
    let p = state.db(|conn| profile(conn, &merchant_id))?;
    Ok(Json(to_wire(&merchant_id, p.as_ref())))
}
