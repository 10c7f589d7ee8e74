//! The onboarding calls to the platform (docs/platform-api.md, "Onboarding"),
//! all through the session. Writes are keyed: their idempotency keys are
//! kept in the merchant's store until the answer is final, so a retry after
//! a lost answer or an app restart does the write once.

use merchant_contract::domain::{self as wire, routes};
use reqwest::Method;

use crate::error::{Error, Result};
use crate::platform::client::Progress;
use crate::platform::{Call, RESPONSE_MALFORMED};
use crate::session::SessionState;

/// Intents of the keyed writes (platform/pending.rs).
const CREATE: &str = "onboarding.create";
const UPDATE: &str = "onboarding.update";
const SIGN: &str = "onboarding.agreement";
const SUBMIT: &str = "onboarding.submit";
const ACTIVATE: &str = "onboarding.activate";
const RECOVER: &str = "onboarding.recover_code";

/// An id the platform gave is used in paths: only plain characters.
fn checked_id(id: &str) -> Result<&str> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(Error::new(&RESPONSE_MALFORMED).detail("application id not fit for a path"))
    }
}

fn path(template: &str, id: &str) -> Result<String> {
    Ok(template.replace("{application_id}", checked_id(id)?))
}

/// `POST /v1/applications`.
pub async fn create(s: &SessionState, form: &wire::ApplicationForm) -> Result<wire::Application> {
    let call = Call::post_json(routes::CREATE_APPLICATION.path, form)?;
    s.send_keyed(CREATE, call).await?.json()
}

/// `GET /v1/applications/current`; `None` when the merchant has none yet.
pub async fn current(s: &SessionState) -> Result<Option<wire::Application>> {
    match s.send(Call::get(routes::CURRENT_APPLICATION.path)).await {
        Ok(reply) => reply.json().map(Some),
        Err(e) if e.code == "resource.not_found" => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /v1/applications/{id}`.
pub async fn get(s: &SessionState, id: &str) -> Result<wire::Application> {
    let call = Call::get(path(routes::GET_APPLICATION.path, id)?);
    s.send(call).await?.json()
}

/// `PUT /v1/applications/{id}`: the whole form.
pub async fn update(
    s: &SessionState,
    id: &str,
    form: &wire::ApplicationForm,
) -> Result<wire::Application> {
    let call = Call::put_json(path(routes::UPDATE_APPLICATION.path, id)?, form)?;
    s.send_keyed(UPDATE, call).await?.json()
}

/// `PUT /v1/applications/{id}/documents/{kind}` with the raw bytes.
pub async fn upload(
    s: &SessionState,
    id: &str,
    kind: &str,
    content_type: &'static str,
    bytes: Vec<u8>,
    progress: Progress,
) -> Result<wire::Document> {
    let p = path(routes::UPLOAD_DOCUMENT.path, id)?.replace("{kind}", kind);
    let call = Call::raw(Method::PUT, p, content_type, bytes).with_progress(progress);
    let intent = format!("onboarding.document:{kind}");
    s.send_keyed(&intent, call).await?.json()
}

/// `GET /v1/agreements/current`: the agreement with the merchant's fee clauses.
pub async fn agreement(s: &SessionState) -> Result<wire::Agreement> {
    s.send(Call::get(routes::CURRENT_AGREEMENT.path))
        .await?
        .json()
}

/// `POST /v1/applications/{id}/agreement`.
pub async fn sign(
    s: &SessionState,
    id: &str,
    body: &wire::SignAgreement,
) -> Result<wire::AgreementRecord> {
    let call = Call::post_json(path(routes::SIGN_AGREEMENT.path, id)?, body)?;
    s.send_keyed(SIGN, call).await?.json()
}

/// `GET /v1/applications/{id}/agreement`: the signed record as the platform
/// keeps it; the raw body, so the record can be kept byte for byte.
pub async fn agreement_record(s: &SessionState, id: &str) -> Result<Vec<u8>> {
    let call = Call::get(path(routes::GET_AGREEMENT_RECORD.path, id)?);
    Ok(s.send(call).await?.body)
}

/// `POST /v1/applications/{id}/submit`.
pub async fn submit(s: &SessionState, id: &str) -> Result<wire::Application> {
    let call = Call::post_json(
        path(routes::SUBMIT_APPLICATION.path, id)?,
        &serde_json::json!({}),
    )?;
    s.send_keyed(SUBMIT, call).await?.json()
}

/// `POST /v1/applications/{id}/activate`.
pub async fn activate(s: &SessionState, id: &str, code: &str) -> Result<wire::MerchantProfile> {
    let body = wire::Activate {
        activation_code: code.to_owned(),
    };
    let call = Call::post_json(path(routes::ACTIVATE.path, id)?, &body)?;
    s.send_keyed(ACTIVATE, call).await?.json()
}

/// `POST /v1/applications/{id}/activation-code/recover`.
pub async fn recover_code(s: &SessionState, id: &str, id_last6: &str) -> Result<serde_json::Value> {
    let body = wire::RecoverActivationCode {
        id_last6: id_last6.to_owned(),
    };
    let call = Call::post_json(path(routes::RECOVER_ACTIVATION_CODE.path, id)?, &body)?;
    s.send_keyed(RECOVER, call).await?.json()
}

/// `GET /v1/merchant`.
pub async fn merchant(s: &SessionState) -> Result<wire::MerchantProfile> {
    s.send(Call::get(routes::MERCHANT.path)).await?.json()
}

/// A lookup: `GET /v1/regions`, `/v1/mcc` or `/v1/bank-branches` with `query`
/// (already encoded; its values are codes, never personal data).
pub async fn lookup(s: &SessionState, route_path: &str, query: &str) -> Result<Vec<u8>> {
    let p = if query.is_empty() {
        route_path.to_owned()
    } else {
        format!("{route_path}?{query}")
    };
    Ok(s.send(Call::get(p)).await?.body)
}
