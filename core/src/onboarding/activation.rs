//! Activation: the code texted after approval activates the merchant; the
//! core then keeps the merchant number and the agreed rates (Trades and
//! Alerts read them through [`profile`]). A lost code is sent again after
//! the merchant re-enters the last 6 characters of the ID number.

use merchant_contract::domain as wire;

use super::model::{ActivationCodeSent, AgreedRate, ApplicationStatus, MerchantProfile};
use super::status::Event;
use super::store;
use super::sync::{apply_in, apply_profile};
use super::{ONBOARDING_NOT_STARTED, api, platform_code};
use crate::error::{Error, Problem, Result};
use crate::session::SessionState;
use crate::store::MerchantStore;

/// The profile record of the wire's.
pub fn profile_of(p: &wire::MerchantProfile) -> MerchantProfile {
    MerchantProfile {
        merchant_id: p.merchant_id.clone(),
        merchant_no: p.merchant_no.clone(),
        shop_name: p.shop_name.clone(),
        rates: p
            .rates
            .iter()
            .map(|r| AgreedRate {
                channel: r.channel.clone(),
                rate: r.rate.clone(),
                threshold: r.threshold.clone(),
                rate_above: r.rate_above.clone(),
                cap: r.cap.clone(),
            })
            .collect(),
        activated_at: p.activated_at.clone(),
    }
}

fn application_id(merchant: &MerchantStore) -> Result<String> {
    store::state(merchant)?
        .application_id
        .ok_or_else(|| Error::new(&ONBOARDING_NOT_STARTED))
}

fn invalid(code: &merchant_contract::PlatformCode, field: &str) -> Error {
    let c = platform_code(code);
    Error::input(&c, vec![Problem::new(&c, field)])
}

/// Enters the activation code.
pub async fn activate(s: &SessionState, code: &str) -> Result<MerchantProfile> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.is_empty() || code.len() > 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(&wire::FIELD_INVALID, "activation_code"));
    }
    let merchant = s.merchant_store().await?;
    let id = application_id(&merchant)?;
    let profile = api::activate(s, &id, &code).await?;
    apply_profile(&merchant, &profile)?;
    Ok(profile_of(&profile))
}

/// Asks for the activation code again, proving the merchant with the last
/// 6 characters of the legal person's ID number.
pub async fn recover(s: &SessionState, id_last6: &str) -> Result<ActivationCodeSent> {
    let last6: String = id_last6
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let fits = last6.len() == 6
        && last6
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 5 && b == b'X'));
    if !fits {
        return Err(invalid(&wire::FIELD_ID_LAST6, "id_last6"));
    }
    let merchant = s.merchant_store().await?;
    let id = application_id(&merchant)?;
    let answer = api::recover_code(s, &id, &last6).await?;
    store::update_state(&merchant, |st| {
        apply_in(st, &Event::ActivationCodeSent);
        Ok(())
    })?;
    let expires_in = answer
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    Ok(ActivationCodeSent { expires_in })
}

/// The activated merchant kept on the device, or `None` before activation.
pub fn profile(merchant: &MerchantStore) -> Result<Option<MerchantProfile>> {
    let state = store::state(merchant)?;
    if state.status != ApplicationStatus::Activated {
        return Ok(None);
    }
    state
        .profile
        .map(|json| {
            serde_json::from_str(&json)
                .map_err(|_| Error::new(&crate::store::CORRUPT).detail("onboarding: profile"))
        })
        .transpose()
}
