//! The merchant agreement (e-signature): the text with the merchant's fee
//! clauses kept on the device with its SHA-256; the handwritten signature
//! uploaded as the `signature` photo; the canonical envelope
//! (merchant_contract::agreement) signed by the device key; the record the
//! platform countersigns, kept and re-verified offline against both keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use merchant_contract::agreement::{
    AgreementRecordError, agreement_envelope, verify_agreement_record,
};
use merchant_contract::domain as wire;

use super::model::{AgreementRecordInfo, AgreementText, PhotoKind, UploadState};
use super::store::{self, StoredAgreement};
use super::*;
use crate::error::{Error, ErrorKind, Result};
use crate::platform::client::unix_now;
use crate::session::SessionState;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn text_of(a: &StoredAgreement) -> AgreementText {
    AgreementText {
        version: a.version.clone(),
        title: a.title.clone(),
        text: a.text.clone(),
        text_sha256: a.text_sha256.clone(),
    }
}

/// Fetches the current agreement (the merchant's own fee clauses), checks
/// that its text hashes to its `text_sha256`, and keeps it; offline, the
/// copy kept.
pub async fn fetch(s: &SessionState) -> Result<AgreementText> {
    let merchant = s.merchant_store().await?;
    match api::agreement(s).await {
        Ok(a) => {
            if sha256_hex(a.text.as_bytes()) != a.text_sha256 {
                return Err(Error::new(&ONBOARDING_AGREEMENT_TEXT_MISMATCH));
            }
            let stored = StoredAgreement {
                version: a.version,
                title: a.title,
                text: a.text,
                text_sha256: a.text_sha256,
                record: None,
            };
            store::put_agreement_text(&merchant, &stored)?;
            Ok(text_of(&stored))
        }
        Err(e) if e.kind == ErrorKind::Network => match store::agreement(&merchant)? {
            Some(a) => Ok(text_of(&a)),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Signs the current agreement with the drawn signature (a PNG): the
/// signature photo is prepared, kept and uploaded first; then the device
/// signs the envelope and the platform's countersigned record is verified
/// and kept.
pub async fn sign(s: &SessionState, signature_png: Vec<u8>) -> Result<AgreementRecordInfo> {
    let photo = super::uploads::add(s, PhotoKind::Signature, signature_png).await?;
    let _one = super::sync::WRITES.lock().await;
    let (photos, _) = super::uploads::upload_locked(s, None).await?;
    let uploaded = photos.iter().any(|p| {
        p.kind == PhotoKind::Signature
            && p.sha256 == photo.sha256
            && p.state == UploadState::Uploaded
    });
    if !uploaded {
        return Err(Error::new(&ONBOARDING_PHOTOS_PENDING).detail("signature not uploaded"));
    }
    let merchant = s.merchant_store().await?;
    let id = store::state(&merchant)?
        .application_id
        .ok_or_else(|| Error::new(&ONBOARDING_NOT_STARTED))?;
    let text = fetch(s).await?;
    let device = s.device_key().await?;
    let signed_at = unix_now();
    let envelope = agreement_envelope(
        &id,
        &text.version,
        &text.text_sha256,
        &photo.sha256,
        signed_at,
        device.serial_no(),
    );
    let signature = device
        .sign(envelope.as_bytes())
        .map_err(|e| Error::new(&crate::platform::SIGNING_FAILED).detail(e.to_string()))?;
    let body = wire::SignAgreement {
        version: text.version.clone(),
        text_sha256: text.text_sha256.clone(),
        signature_image_sha256: photo.sha256.clone(),
        signed_at,
        device_serial: device.serial_no().to_owned(),
        device_signature: B64.encode(signature),
    };
    let record = api::sign(s, &id, &body).await?;
    let expected = Expected {
        application_id: &id,
        version: &text.version,
        text_sha256: &text.text_sha256,
        signature_image_sha256: Some(&photo.sha256),
        device_serial: device.serial_no(),
    };
    let info = check(s, &record, &expected)?;
    let json = serde_json::to_string(&record)
        .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
    store::put_agreement_record(&merchant, &json)?;
    Ok(info)
}

/// What a record must say to be this device's signature of this agreement.
struct Expected<'a> {
    application_id: &'a str,
    version: &'a str,
    text_sha256: &'a str,
    signature_image_sha256: Option<&'a str>,
    device_serial: &'a str,
}

fn record_code(e: AgreementRecordError) -> &'static crate::error::Code {
    match e {
        AgreementRecordError::DeviceKeyMalformed => &AGREEMENT_RECORD_DEVICE_KEY,
        AgreementRecordError::DeviceSerialMismatch => &AGREEMENT_RECORD_DEVICE_SERIAL,
        AgreementRecordError::DeviceSignatureInvalid => &AGREEMENT_RECORD_DEVICE_SIGNATURE,
        AgreementRecordError::PlatformKeyMismatch => &AGREEMENT_RECORD_PLATFORM_KEY,
        AgreementRecordError::PlatformSignatureInvalid => &AGREEMENT_RECORD_PLATFORM_SIGNATURE,
    }
}

/// Verifies a record against the platform key of the config and the
/// device's own key, and that it is what was signed.
fn check(
    s: &SessionState,
    record: &wire::AgreementRecord,
    expected: &Expected<'_>,
) -> Result<AgreementRecordInfo> {
    let client = s.client()?;
    verify_agreement_record(record, &client.config().platform_key)
        .map_err(|e| Error::new(record_code(e)).detail(e.to_string()))?;
    let ours = record.application_id == expected.application_id
        && record.version == expected.version
        && record.text_sha256 == expected.text_sha256
        && expected
            .signature_image_sha256
            .is_none_or(|h| record.signature_image_sha256 == h)
        && record.device_serial == expected.device_serial;
    if !ours {
        return Err(Error::new(&AGREEMENT_RECORD_NOT_OURS));
    }
    Ok(AgreementRecordInfo {
        application_id: record.application_id.clone(),
        version: record.version.clone(),
        text_sha256: record.text_sha256.clone(),
        signature_image_sha256: record.signature_image_sha256.clone(),
        signed_at: record.signed_at,
        device_serial: record.device_serial.clone(),
    })
}

/// The record kept on the device, as JSON.
pub async fn record_json(s: &SessionState) -> Result<Option<String>> {
    let merchant = s.merchant_store().await?;
    Ok(store::agreement(&merchant)?.and_then(|a| a.record))
}

/// Verifies `json` (the kept record when `None`) offline: the device's and
/// the platform's signatures, and that it is this device's signature of
/// the agreement kept on the device for this application.
pub async fn verify(s: &SessionState, json: Option<String>) -> Result<AgreementRecordInfo> {
    let merchant = s.merchant_store().await?;
    let kept = store::agreement(&merchant)?;
    let json = match json.or_else(|| kept.as_ref().and_then(|a| a.record.clone())) {
        Some(j) => j,
        None => return Err(Error::new(&AGREEMENT_RECORD_MISSING)),
    };
    let record: wire::AgreementRecord =
        crate::platform::client::decode(json.as_bytes(), &AGREEMENT_RECORD_MALFORMED)?;
    let Some(kept) = kept else {
        return Err(Error::new(&AGREEMENT_RECORD_MISSING));
    };
    let id = store::state(&merchant)?.application_id.unwrap_or_default();
    let device = s.device_key().await?;
    check(
        s,
        &record,
        &Expected {
            application_id: &id,
            version: &kept.version,
            text_sha256: &kept.text_sha256,
            signature_image_sha256: None,
            device_serial: device.serial_no(),
        },
    )
}

/// Fetches the record back from the platform, verifies it and keeps it.
pub async fn refetch(s: &SessionState) -> Result<AgreementRecordInfo> {
    let merchant = s.merchant_store().await?;
    let id = store::state(&merchant)?
        .application_id
        .ok_or_else(|| Error::new(&ONBOARDING_NOT_STARTED))?;
    let body = api::agreement_record(s, &id).await?;
    let json = String::from_utf8(body)
        .map_err(|_| Error::new(&AGREEMENT_RECORD_MALFORMED).detail("not UTF-8"))?;
    let info = verify(s, Some(json.clone())).await?;
    store::put_agreement_record(&merchant, &json)?;
    Ok(info)
}

/// Whether a signed record is kept for the current agreement.
pub fn is_signed(merchant: &crate::store::MerchantStore) -> Result<bool> {
    Ok(store::agreement(merchant)?.is_some_and(|a| a.record.is_some()))
}
