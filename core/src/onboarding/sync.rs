//! The draft on the platform: building the wire form from the fields kept
//! on the device, syncing it (create, then PUT), submitting it, and applying
//! what the platform says (answers, polls, events) through the one
//! transition function of status.rs.

use std::collections::HashMap;

use merchant_contract::domain as wire;

use super::model::{
    AccountType, ApplicationField as F, ApplicationPhoto, ApplicationRejection, ApplicationStatus,
    MerchantKind, PhotoKind, SyncReport,
};
use super::status::{Event, PlatformStatus, transition};
use super::store::{self, State};
use super::{api, platform_code};
use crate::error::{Error, ErrorKind, Result};
use crate::session::SessionState;
use crate::store::MerchantStore;
use crate::validate::{bank_card, credit_code, id_card, name, phone};

/// One onboarding write at a time in this process: a double tap on submit
/// waits for the first and then finds it submitted.
pub static WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn wire_kind(k: MerchantKind) -> wire::MerchantKind {
    match k {
        MerchantKind::Micro => wire::MerchantKind::Micro,
        MerchantKind::IndividualBusiness => wire::MerchantKind::IndividualBusiness,
        MerchantKind::Enterprise => wire::MerchantKind::Enterprise,
    }
}

fn wire_account(a: AccountType) -> wire::AccountType {
    match a {
        AccountType::Personal => wire::AccountType::Personal,
        AccountType::Corporate => wire::AccountType::Corporate,
    }
}

pub fn wire_document(k: PhotoKind) -> Option<wire::DocumentKind> {
    wire::DocumentKind::parse(k.as_str())
}

/// The wire form of the fields. Values are sent in their canonical form
/// when their own check passes; a value that fails it is left out (the
/// platform would refuse the whole form for it), so a draft with a typo
/// still syncs everything else. `None` without a kind.
pub fn form(fields: &HashMap<F, String>) -> Option<wire::ApplicationForm> {
    let kind = fields.get(&F::Kind).and_then(|k| MerchantKind::parse(k))?;
    let text = |f: F| {
        fields
            .get(&f)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let canon = |f: F, n: fn(&str) -> Result<String>| text(f).and_then(|v| n(&v).ok());
    let flag = |f: F| (text(f).as_deref() == Some("true")).then_some(true);
    let account = text(F::AccountType).and_then(|a| AccountType::parse(&a));

    let legal_person = wire::LegalPersonForm {
        name: canon(F::LegalName, name::normalize),
        id_number: canon(F::IdNumber, id_card::normalize),
        id_valid_from: text(F::IdValidFrom),
        id_valid_until: text(F::IdValidUntil).filter(|_| flag(F::IdLongTerm).is_none()),
        id_long_term: flag(F::IdLongTerm),
    };
    let licence = kind.has_licence().then(|| wire::LicenceForm {
        credit_code: canon(F::CreditCode, credit_code::normalize),
        registered_name: text(F::RegisteredName),
        valid_from: text(F::LicenceValidFrom),
        valid_until: text(F::LicenceValidUntil).filter(|_| flag(F::LicenceLongTerm).is_none()),
        long_term: flag(F::LicenceLongTerm),
    });
    let shop = wire::ShopForm {
        name: text(F::ShopName),
        province_code: text(F::ProvinceCode),
        city_code: text(F::CityCode),
        district_code: text(F::DistrictCode),
        street: text(F::Street),
        mcc: text(F::Mcc),
        longitude: text(F::Longitude),
        latitude: text(F::Latitude),
    };
    let account_number = match account {
        Some(AccountType::Corporate) => text(F::AccountNumber)
            .map(|v| v.chars().filter(|c| !c.is_whitespace()).collect::<String>()),
        _ => canon(F::AccountNumber, bank_card::normalize),
    };
    let holder_name = match account {
        Some(AccountType::Corporate) => text(F::HolderName),
        _ => canon(F::HolderName, name::normalize),
    };
    let settlement = wire::SettlementForm {
        account_type: account.map(wire_account),
        account_number,
        holder_name,
        branch_code: text(F::BranchCode),
        reserved_mobile: canon(F::ReservedMobile, phone::normalize),
    };
    Some(wire::ApplicationForm {
        kind: wire_kind(kind),
        legal_person: Some(legal_person).filter(|l| *l != wire::LegalPersonForm::default()),
        licence: licence.filter(|l| *l != wire::LicenceForm::default()),
        shop: Some(shop).filter(|s| *s != wire::ShopForm::default()),
        settlement: Some(settlement).filter(|s| *s != wire::SettlementForm::default()),
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The form body and its hash, or `None` without a kind.
fn body(merchant: &MerchantStore) -> Result<Option<(wire::ApplicationForm, String)>> {
    let fields = store::fields(merchant)?;
    let Some(form) = form(&fields) else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(&form)
        .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
    Ok(Some((form, sha256_hex(&bytes))))
}

/// Whether the platform holds the form as it is here.
pub fn is_synced(merchant: &MerchantStore, state: &State) -> Result<bool> {
    Ok(
        match (body(merchant)?, &state.synced_sha256, &state.application_id) {
            (Some((_, hash)), Some(synced), Some(_)) => hash == *synced,
            _ => false,
        },
    )
}

/// Sends the draft to the platform when it changed: creates the
/// application the first time (or finds the one the merchant has), then
/// replaces its form. Failures are kept as `sync_error` and returned.
pub async fn sync_locked(s: &SessionState) -> Result<String> {
    let merchant = s.merchant_store().await?;
    let state = store::state(&merchant)?;
    let Some((form, hash)) = body(&merchant)? else {
        let c = platform_code(&wire::FIELD_REQUIRED);
        return Err(Error::input(
            &c,
            vec![crate::error::Problem::new(&c, F::Kind.key())],
        ));
    };
    if let Some(id) = &state.application_id
        && state.synced_sha256.as_deref() == Some(hash.as_str())
    {
        return Ok(id.clone());
    }
    if !state.status.editable() {
        // Under review or later: the platform holds what it reviews.
        return state
            .application_id
            .clone()
            .ok_or_else(|| Error::new(&super::ONBOARDING_NOT_STARTED));
    }
    let outcome = push(s, &merchant, state.application_id.clone(), &form).await;
    match outcome {
        Ok(app) => {
            let id = app.application_id.clone();
            store::update_state(&merchant, |st| {
                st.application_id = Some(id.clone());
                st.synced_sha256 = Some(hash.clone());
                st.sync_error = None;
                Ok(())
            })?;
            Ok(id)
        }
        Err(e) => {
            let code = e.code.to_string();
            store::update_state(&merchant, |st| {
                st.sync_error = Some(code);
                Ok(())
            })?;
            Err(e)
        }
    }
}

async fn push(
    s: &SessionState,
    merchant: &MerchantStore,
    id: Option<String>,
    form: &wire::ApplicationForm,
) -> Result<wire::Application> {
    let id = match id {
        Some(id) => id,
        None => match api::current(s).await? {
            Some(app) => {
                remember_id(merchant, &app.application_id)?;
                app.application_id
            }
            None => {
                let app = api::create(s, form).await?;
                remember_id(merchant, &app.application_id)?;
                return Ok(app);
            }
        },
    };
    api::update(s, &id, form).await
}

fn remember_id(merchant: &MerchantStore, id: &str) -> Result<()> {
    store::update_state(merchant, |st| {
        st.application_id = Some(id.to_owned());
        Ok(())
    })
}

/// [`sync_locked`] as the app sees it: a report, never an error for
/// network or platform trouble (the local draft is intact either way).
pub async fn sync(s: &SessionState) -> Result<SyncReport> {
    let _one = WRITES.lock().await;
    match sync_locked(s).await {
        Ok(id) => Ok(SyncReport {
            synced: true,
            application_id: Some(id),
            error: None,
        }),
        Err(e) if matches!(e.kind, ErrorKind::Storage | ErrorKind::Internal) => Err(e),
        Err(e) => {
            let merchant = s.merchant_store().await?;
            let state = store::state(&merchant)?;
            Ok(SyncReport {
                synced: false,
                application_id: state.application_id,
                error: Some(e.code.to_string()),
            })
        }
    }
}

/// The reasons of a review, tied back to the form's fields and photos.
pub fn rejections(list: &[wire::Rejection]) -> Vec<ApplicationRejection> {
    list.iter()
        .take(64)
        .map(|r| ApplicationRejection {
            field: r.field.clone(),
            form_field: F::from_key(&r.field),
            photo: PhotoKind::parse(&r.field),
            code: r.code.clone(),
            message: match crate::error::current_language() {
                crate::error::Lang::Zh => r.message.clone(),
                crate::error::Lang::En => r.message_en.clone(),
            },
            message_en: r.message_en.clone(),
        })
        .collect()
}

fn platform_status(s: wire::ApplicationStatus) -> PlatformStatus {
    match s {
        wire::ApplicationStatus::Draft => PlatformStatus::Draft,
        wire::ApplicationStatus::UnderReview => PlatformStatus::UnderReview,
        wire::ApplicationStatus::Rejected => PlatformStatus::Rejected,
        wire::ApplicationStatus::Approved => PlatformStatus::Approved,
        wire::ApplicationStatus::Activated => PlatformStatus::Activated,
    }
}

/// Feeds `event` to the transition function and keeps the result.
pub fn apply_in(st: &mut State, event: &Event) -> bool {
    match transition(st.status, event) {
        Some(next) => {
            st.status = next;
            if next != ApplicationStatus::Rejected {
                st.rejections.clear();
            }
            true
        }
        None => false,
    }
}

/// Applies what the platform says about the application (an answer, a
/// poll or an `application.reviewed` event).
pub fn apply_application(
    merchant: &MerchantStore,
    app: &wire::Application,
) -> Result<ApplicationStatus> {
    store::update_state(merchant, |st| {
        if st
            .application_id
            .as_deref()
            .is_some_and(|id| id != app.application_id)
        {
            tracing::warn!("an event about another application was ignored");
            return Ok(st.status);
        }
        st.application_id = Some(app.application_id.clone());
        let event = Event::Platform(platform_status(app.status));
        if apply_in(st, &event) && st.status == ApplicationStatus::Rejected {
            st.rejections = rejections(&app.rejections);
        }
        if app.status == wire::ApplicationStatus::Approved && app.activation_code_sent_at.is_some()
        {
            apply_in(st, &Event::ActivationCodeSent);
        }
        Ok(st.status)
    })
}

/// Applies an activated merchant's profile (`merchant.activated`, or the
/// answer to `activate`): kept for Trades and Alerts.
pub fn apply_profile(merchant: &MerchantStore, profile: &wire::MerchantProfile) -> Result<()> {
    if profile.status != "active" {
        return Ok(());
    }
    let json = serde_json::to_string(&super::activation::profile_of(profile))
        .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
    store::update_state(merchant, |st| {
        apply_in(st, &Event::Activated);
        st.profile = Some(json);
        Ok(())
    })
}

/// `GET` the application and apply it; without one, the merchant's
/// profile (an active merchant is activated here too).
pub async fn refresh(s: &SessionState) -> Result<ApplicationStatus> {
    let merchant = s.merchant_store().await?;
    let state = store::state(&merchant)?;
    let app = match &state.application_id {
        Some(id) => api::get(s, id).await?,
        None => match api::current(s).await? {
            Some(app) => app,
            None => {
                // No application on the platform: a merchant activated
                // without one from this phone (a new phone, an older app).
                // Its profile still says so, and carries the merchant
                // number and rates the protection alerts compare with.
                let profile = api::merchant(s).await?;
                apply_profile(&merchant, &profile)?;
                return Ok(store::state(&merchant)?.status);
            }
        },
    };
    let status = apply_application(&merchant, &app)?;
    if status == ApplicationStatus::Activated && store::state(&merchant)?.profile.is_none() {
        let profile = api::merchant(s).await?;
        apply_profile(&merchant, &profile)?;
    }
    Ok(status)
}

/// The photos that count for the application as it is now.
pub fn applicable(
    photos: &[ApplicationPhoto],
    fields: &HashMap<F, String>,
) -> Vec<ApplicationPhoto> {
    let (kind, account) = store::kind_and_account(fields);
    photos
        .iter()
        .filter(|p| match (kind, wire_document(p.kind)) {
            (Some(k), Some(d)) => d.applies(wire_kind(k), account.map(wire_account)),
            _ => true,
        })
        .cloned()
        .collect()
}

/// Submits once: validates everything on the device, syncs the form,
/// uploads what is queued, then submits as a keyed write (a double tap or a
/// retry after a lost answer submits once).
pub async fn submit(s: &SessionState) -> Result<ApplicationStatus> {
    let _one = WRITES.lock().await;
    let merchant = s.merchant_store().await?;
    let state = store::state(&merchant)?;
    if !state.status.editable() {
        // Already submitted (a second tap): nothing to do.
        return Ok(state.status);
    }
    let problems = super::problems(&merchant)?;
    if super::validate::blocks(&problems) {
        let list = problems
            .iter()
            .filter(|p| p.severity == super::model::Severity::Error)
            .map(|p| crate::error::Problem {
                code: p.code.clone(),
                field: p.field.clone(),
                message: p.message.clone(),
            })
            .collect();
        return Err(Error::input(&super::ONBOARDING_INVALID, list));
    }
    let id = sync_locked(s).await?;
    super::uploads::upload_all_locked(s).await?;
    let app = api::submit(s, &id).await?;
    store::update_state(&merchant, |st| {
        apply_in(st, &Event::Submitted);
        Ok(())
    })?;
    apply_application(&merchant, &app)
}
