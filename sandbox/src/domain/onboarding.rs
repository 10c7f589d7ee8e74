//! Onboarding (入网/进件): the application, its document photos, the
//! e-signed agreement, the simulated review, the activation code by SMS and
//! the activation that makes the merchant active.
//!
//! One application per merchant. It is `draft` while being filled in; submit
//! runs the review ([`super::review`]) and makes it `rejected` (changed and
//! submitted again) or `approved` (an activation code goes out by SMS);
//! entering that code makes it `activated` and the merchant active.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use chrono::NaiveDate;
use merchant_contract::domain::{
    self as wire, Activate, Agreement, AgreementSignature, Application, ApplicationForm,
    ApplicationStatus, Document, DocumentKind, MerchantKind, MerchantProfile, Rejection,
    SettlementBank, SignAgreement,
};
use merchant_contract::wire::{Empty, FieldError, SmsCodeSent, event_types};
use merchant_core::validate::{BinInfo, CardKind};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use ring::digest;
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::documents::{self, DocumentProblem};
use super::review::{self, CardFacts, CheckedForm, IdFacts, NameFacts};
use super::{agreement, merchant};
use crate::clock::{rfc3339, to_china};
use crate::error::ApiError;
use crate::guard::{JsonBody, Merchant};
use crate::state::AppState;

/// Seconds an activation code stays valid.
pub const ACTIVATION_TTL_SECS: i64 = 30 * 60;
/// Seconds before another activation code may be sent.
pub const ACTIVATION_RESEND_SECS: i64 = 60;
/// Wrong entries that burn an activation code.
pub const ACTIVATION_MAX_ATTEMPTS: i64 = 5;

/// An application as stored.
#[derive(Debug, Clone)]
struct Stored {
    application_id: String,
    merchant_id: String,
    status: ApplicationStatus,
    form: CheckedForm,
    rejections: Vec<Rejection>,
    created_at: i64,
    updated_at: i64,
    submitted_at: Option<i64>,
    reviewed_at: Option<i64>,
    activated_at: Option<i64>,
    code_hash: Option<String>,
    code_sent_at: Option<i64>,
    code_expires_at: Option<i64>,
    code_attempts: i64,
    codes_sent: i64,
}

const COLUMNS: &str = "application_id, merchant_id, status, kind, shop_name, business_address,
    legal_name_masked, name_refused, id_masked, id_birth_date, id_refused, licence_code, card_masked, card_bin,
    card_bank_code, card_bank_name, card_bank_name_en, card_kind, rejections, created_at,
    updated_at, submitted_at, reviewed_at, activated_at, code_hash, code_sent_at,
    code_expires_at, code_attempts, codes_sent";

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("stored application: {what}"))
}

fn kind_of(text: &str) -> Option<MerchantKind> {
    match text {
        "micro" => Some(MerchantKind::Micro),
        "enterprise" => Some(MerchantKind::Enterprise),
        _ => None,
    }
}

fn card_kind_of(text: &str) -> Option<CardKind> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn card_kind_text(kind: CardKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<Stored> {
    let status: String = r.get("status")?;
    let kind: String = r.get("kind")?;
    let id = match (
        r.get::<_, Option<String>>("id_masked")?,
        r.get::<_, Option<String>>("id_birth_date")?,
    ) {
        (Some(masked), Some(birth)) => Some(IdFacts {
            masked,
            birth_date: NaiveDate::parse_from_str(&birth, "%Y-%m-%d")
                .map_err(|_| corrupt("birth date"))?,
            refused_sequence: r.get::<_, i64>("id_refused")? != 0,
        }),
        _ => None,
    };
    let card = match r.get::<_, Option<String>>("card_masked")? {
        None => None,
        Some(masked) => {
            let bin = match (
                r.get::<_, Option<String>>("card_bin")?,
                r.get::<_, Option<String>>("card_bank_code")?,
                r.get::<_, Option<String>>("card_bank_name")?,
                r.get::<_, Option<String>>("card_bank_name_en")?,
                r.get::<_, Option<String>>("card_kind")?,
            ) {
                (Some(bin), Some(bank_code), Some(bank_name), Some(bank_name_en), Some(kind)) => {
                    Some(BinInfo {
                        bin,
                        bank_code,
                        bank_name,
                        bank_name_en,
                        card_kind: card_kind_of(&kind).ok_or_else(|| corrupt("card kind"))?,
                    })
                }
                _ => None,
            };
            Some(CardFacts { masked, bin })
        }
    };
    let rejections: String = r.get("rejections")?;
    Ok(Stored {
        application_id: r.get("application_id")?,
        merchant_id: r.get("merchant_id")?,
        status: ApplicationStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        form: CheckedForm {
            kind: kind_of(&kind).ok_or_else(|| corrupt("kind"))?,
            shop_name: r.get("shop_name")?,
            business_address: r.get("business_address")?,
            legal_name: r
                .get::<_, Option<String>>("legal_name_masked")?
                .map(|masked| -> rusqlite::Result<NameFacts> {
                    Ok(NameFacts {
                        masked,
                        refused: r.get::<_, i64>("name_refused")? != 0,
                    })
                })
                .transpose()?,
            id,
            licence_code: r.get("licence_code")?,
            card,
        },
        rejections: serde_json::from_str(&rejections).map_err(|_| corrupt("rejections"))?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        submitted_at: r.get("submitted_at")?,
        reviewed_at: r.get("reviewed_at")?,
        activated_at: r.get("activated_at")?,
        code_hash: r.get("code_hash")?,
        code_sent_at: r.get("code_sent_at")?,
        code_expires_at: r.get("code_expires_at")?,
        code_attempts: r.get("code_attempts")?,
        codes_sent: r.get("codes_sent")?,
    })
}

/// The merchant's application (scoped: another merchant's is "not there").
fn load(
    conn: &Connection,
    merchant_id: &str,
    application_id: Option<&str>,
) -> Result<Option<Stored>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM dom_applications WHERE merchant_id = ?1 AND (?2 IS NULL OR application_id = ?2)"
    );
    Ok(conn
        .query_row(&sql, params![merchant_id, application_id], read_row)
        .optional()?)
}

fn load_own(
    conn: &Connection,
    merchant_id: &str,
    application_id: &str,
) -> Result<Stored, ApiError> {
    load(conn, merchant_id, Some(application_id))?.ok_or_else(ApiError::not_found)
}

fn documents_of(conn: &Connection, application_id: &str) -> Result<Vec<Document>, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT kind, content_type, size, sha256, uploaded_at FROM dom_documents WHERE application_id = ?1",
    )?;
    let rows = stmt
        .query_map(params![application_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut docs: Vec<Document> = rows
        .into_iter()
        .filter_map(|(kind, content_type, size, sha256, at)| {
            Some(Document {
                kind: DocumentKind::parse(&kind)?,
                content_type,
                size: u64::try_from(size).unwrap_or(0),
                sha256,
                uploaded_at: rfc3339(at),
            })
        })
        .collect();
    docs.sort_by_key(|d| DocumentKind::ALL.iter().position(|k| *k == d.kind));
    Ok(docs)
}

fn signature_of(
    conn: &Connection,
    application_id: &str,
) -> Result<Option<AgreementSignature>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT signature_id, version, text_sha256, image_sha256, signed_at FROM dom_signatures WHERE application_id = ?1",
            params![application_id],
            |r| {
                Ok(AgreementSignature {
                    signature_id: r.get(0)?,
                    version: r.get(1)?,
                    text_sha256: r.get(2)?,
                    signature_image_sha256: r.get(3)?,
                    signed_at: rfc3339(r.get(4)?),
                })
            },
        )
        .optional()?)
}

/// Whether the signature stands: the current agreement, the current text.
fn signature_current(sig: &Option<AgreementSignature>) -> bool {
    sig.as_ref().is_some_and(|s| {
        s.version == agreement::VERSION && s.text_sha256 == agreement::text_sha256()
    })
}

fn to_wire(conn: &Connection, s: &Stored) -> Result<Application, ApiError> {
    let documents = documents_of(conn, &s.application_id)?;
    let signature = signature_of(conn, &s.application_id)?;
    let kinds: Vec<DocumentKind> = documents.iter().map(|d| d.kind).collect();
    let missing = match s.status {
        ApplicationStatus::Draft | ApplicationStatus::Rejected => {
            review::missing(&s.form, &kinds, signature_current(&signature))
        }
        _ => Vec::new(),
    };
    let f = &s.form;
    Ok(Application {
        application_id: s.application_id.clone(),
        status: s.status,
        kind: f.kind,
        shop_name: f.shop_name.clone(),
        business_address: f.business_address.clone(),
        legal_name_masked: f.legal_name.as_ref().map(|n| n.masked.clone()),
        id_number_masked: f.id.as_ref().map(|i| i.masked.clone()),
        licence_code: f.licence_code.clone(),
        settlement_card_masked: f.card.as_ref().map(|c| c.masked.clone()),
        settlement_bank: f
            .card
            .as_ref()
            .and_then(|c| c.bin.as_ref())
            .map(|b| SettlementBank {
                bank_name: b.bank_name.clone(),
                bank_name_en: b.bank_name_en.clone(),
                card_kind: card_kind_text(b.card_kind),
            }),
        documents,
        agreement: signature,
        missing,
        rejections: if s.status == ApplicationStatus::Rejected {
            s.rejections.clone()
        } else {
            Vec::new()
        },
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
        submitted_at: s.submitted_at.map(rfc3339),
        reviewed_at: s.reviewed_at.map(rfc3339),
        activated_at: s.activated_at.map(rfc3339),
    })
}

fn editable(s: &Stored) -> Result<(), ApiError> {
    match s.status {
        ApplicationStatus::Draft | ApplicationStatus::Rejected => Ok(()),
        ApplicationStatus::Approved | ApplicationStatus::Activated => {
            Err(ApiError::new(&wire::APPLICATION_LOCKED))
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// A stream of draws keyed by the seed and a label.
fn keyed_rng(seed: u64, label: &str) -> ChaCha8Rng {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"merchant-sandbox onboarding v1\0");
    ctx.update(&seed.to_be_bytes());
    ctx.update(label.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    ChaCha8Rng::from_seed(key)
}

fn check_form(form: &ApplicationForm) -> Result<CheckedForm, ApiError> {
    review::check_form(form).map_err(|fields: Vec<FieldError>| ApiError::fields(fields))
}

fn write_form(
    conn: &Connection,
    application_id: &str,
    f: &CheckedForm,
    now: i64,
) -> Result<(), ApiError> {
    let bin = f.card.as_ref().and_then(|c| c.bin.as_ref());
    conn.execute(
        "UPDATE dom_applications SET kind = ?2, shop_name = ?3, business_address = ?4,
            legal_name_masked = ?5, name_refused = ?17, id_masked = ?6, id_birth_date = ?7, id_refused = ?8,
            licence_code = ?9, card_masked = ?10, card_bin = ?11, card_bank_code = ?12,
            card_bank_name = ?13, card_bank_name_en = ?14, card_kind = ?15, updated_at = ?16,
            status = 'draft', rejections = '[]'
         WHERE application_id = ?1",
        params![
            application_id,
            f.kind.as_str(),
            f.shop_name,
            f.business_address,
            f.legal_name.as_ref().map(|n| n.masked.clone()),
            f.id.as_ref().map(|i| i.masked.clone()),
            f.id.as_ref()
                .map(|i| i.birth_date.format("%Y-%m-%d").to_string()),
            f.id.as_ref().is_some_and(|i| i.refused_sequence),
            f.licence_code,
            f.card.as_ref().map(|c| c.masked.clone()),
            bin.map(|b| b.bin.clone()),
            bin.map(|b| b.bank_code.clone()),
            bin.map(|b| b.bank_name.clone()),
            bin.map(|b| b.bank_name_en.clone()),
            bin.map(|b| card_kind_text(b.card_kind)),
            now,
            f.legal_name.as_ref().is_some_and(|n| n.refused),
        ],
    )?;
    Ok(())
}

/// `POST /v1/applications`.
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    JsonBody(form): JsonBody<ApplicationForm>,
) -> Result<Json<Application>, ApiError> {
    let checked = check_form(&form)?;
    let now = state.now_unix();
    let application_id = {
        let mut rng = keyed_rng(state.seed(), &format!("application:{merchant_id}"));
        format!("app_{:016x}", rng.random::<u64>())
    };
    state.db(|conn| {
        let tx = conn.transaction()?;
        if load(&tx, &merchant_id, None)?.is_some() {
            return Err(ApiError::new(&wire::APPLICATION_EXISTS));
        }
        tx.execute(
            "INSERT INTO dom_applications (application_id, merchant_id, status, kind, created_at, updated_at)
             VALUES (?1, ?2, 'draft', ?3, ?4, ?4)",
            params![application_id, merchant_id, checked.kind.as_str(), now],
        )?;
        write_form(&tx, &application_id, &checked, now)?;
        let app = to_wire(&tx, &load_own(&tx, &merchant_id, &application_id)?)?;
        tx.commit()?;
        Ok(Json(app))
    })
}

/// `GET /v1/applications/current`.
pub async fn current(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
) -> Result<Json<Application>, ApiError> {
    state.db(|conn| {
        let s = load(conn, &merchant_id, None)?.ok_or_else(ApiError::not_found)?;
        Ok(Json(to_wire(conn, &s)?))
    })
}

/// `GET /v1/applications/{application_id}`.
pub async fn get_one(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
) -> Result<Json<Application>, ApiError> {
    state.db(|conn| {
        let s = load_own(conn, &merchant_id, &application_id)?;
        Ok(Json(to_wire(conn, &s)?))
    })
}

/// `PUT /v1/applications/{application_id}`: replaces the form.
pub async fn update(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(form): JsonBody<ApplicationForm>,
) -> Result<Json<Application>, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        editable(&s)?;
        let checked = check_form(&form)?;
        write_form(&tx, &application_id, &checked, now)?;
        let app = to_wire(&tx, &load_own(&tx, &merchant_id, &application_id)?)?;
        tx.commit()?;
        Ok(Json(app))
    })
}

/// `PUT /v1/applications/{application_id}/documents/{kind}`: the photo as
/// the raw body, `Content-Type: image/jpeg` or `image/png`.
pub async fn upload_document(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path((application_id, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Document>, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        let kind =
            DocumentKind::parse(&kind).ok_or_else(|| ApiError::new(&wire::DOCUMENT_KIND_UNKNOWN))?;
        editable(&s)?;
        if kind == DocumentKind::Licence && s.form.kind == MerchantKind::Micro {
            return Err(ApiError::new(&wire::DOCUMENT_NOT_APPLICABLE));
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let ty = documents::check(kind, content_type, &body).map_err(|p| match p {
            DocumentProblem::UnsupportedType => ApiError::new(&wire::DOCUMENT_TYPE_UNSUPPORTED),
            DocumentProblem::TooLarge => ApiError::new(&wire::DOCUMENT_TOO_LARGE),
            DocumentProblem::ContentMismatch => ApiError::new(&wire::DOCUMENT_CONTENT_MISMATCH),
        })?;
        let sha = sha256_hex(&body);
        tx.execute(
            "INSERT INTO dom_documents (application_id, kind, content_type, size, sha256, uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (application_id, kind) DO UPDATE SET content_type = ?3, size = ?4, sha256 = ?5, uploaded_at = ?6",
            params![application_id, kind.as_str(), ty.content_type(), body.len() as i64, sha, now],
        )?;
        if kind == DocumentKind::Signature {
            // A new handwritten signature voids an e-signature made with another.
            tx.execute(
                "DELETE FROM dom_signatures WHERE application_id = ?1 AND image_sha256 <> ?2",
                params![application_id, sha],
            )?;
        }
        tx.execute(
            "UPDATE dom_applications SET updated_at = ?2 WHERE application_id = ?1",
            params![application_id, now],
        )?;
        tx.commit()?;
        Ok(Json(Document {
            kind,
            content_type: ty.content_type().to_owned(),
            size: body.len() as u64,
            sha256: sha,
            uploaded_at: rfc3339(now),
        }))
    })
}

/// `GET /v1/agreements/current`.
pub async fn current_agreement(Merchant(_): Merchant) -> Json<Agreement> {
    Json(agreement::current())
}

/// `POST /v1/applications/{application_id}/agreement`: e-signs the current
/// agreement with the uploaded handwritten signature.
pub async fn sign_agreement(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(sign): JsonBody<SignAgreement>,
) -> Result<Json<AgreementSignature>, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        editable(&s)?;
        if sign.version != agreement::VERSION {
            return Err(ApiError::new(&wire::AGREEMENT_VERSION_OUTDATED));
        }
        if !sign
            .text_sha256
            .eq_ignore_ascii_case(&agreement::text_sha256())
        {
            return Err(ApiError::new(&wire::AGREEMENT_TEXT_MISMATCH));
        }
        let image: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM dom_documents WHERE application_id = ?1 AND kind = 'signature'",
                params![application_id],
                |r| r.get(0),
            )
            .optional()?;
        let image = image.ok_or_else(|| ApiError::new(&wire::AGREEMENT_SIGNATURE_MISSING))?;
        let signature_id = format!(
            "sig_{}",
            &sha256_hex(format!("{}:{application_id}:{image}:{now}", state.seed()).as_bytes())[..16]
        );
        tx.execute(
            "INSERT INTO dom_signatures (application_id, signature_id, version, text_sha256, image_sha256, signed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (application_id) DO UPDATE SET signature_id = ?2, version = ?3,
                text_sha256 = ?4, image_sha256 = ?5, signed_at = ?6",
            params![
                application_id,
                signature_id,
                agreement::VERSION,
                agreement::text_sha256(),
                image,
                now
            ],
        )?;
        let sig = signature_of(&tx, &application_id)?
            .ok_or_else(|| ApiError::internal("signature just written"))?;
        tx.commit()?;
        Ok(Json(sig))
    })
}

/// Draws, records and sends a new activation code inside the transaction.
fn send_code(state: &AppState, conn: &Connection, s: &Stored, now: i64) -> Result<(), ApiError> {
    let n = s.codes_sent + 1;
    let mut rng = keyed_rng(
        state.seed(),
        &format!("activation:{}:{n}", s.application_id),
    );
    let code = format!("{:08}", rng.random_range(0..100_000_000u32));
    let phone = state.merchant_phone(conn, &s.merchant_id)?;
    let text = format!(
        "【拉卡拉】您的商户激活码为 {code}，{} 分钟内有效，请在 App 中输入完成激活。请勿告知他人。",
        ACTIVATION_TTL_SECS / 60
    );
    state.send_sms_with(
        conn,
        &phone,
        "activation",
        &code,
        &text,
        ACTIVATION_TTL_SECS,
    )?;
    conn.execute(
        "UPDATE dom_applications SET code_hash = ?2, code_sent_at = ?3, code_expires_at = ?4,
            code_attempts = 0, codes_sent = ?5 WHERE application_id = ?1",
        params![
            s.application_id,
            sha256_hex(code.as_bytes()),
            now,
            now + ACTIVATION_TTL_SECS,
            n
        ],
    )?;
    Ok(())
}

/// `POST /v1/applications/{application_id}/submit`: runs the review.
pub async fn submit(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Json<Application>, ApiError> {
    let now = state.now_unix();
    let today = to_china(now).date_naive();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        editable(&s)?;
        let current = to_wire(&tx, &s)?;
        if !current.missing.is_empty() {
            let mut e = ApiError::new(&wire::APPLICATION_INCOMPLETE);
            for m in &current.missing {
                e = e.field(m, wire::FIELD_MISSING.code);
            }
            return Err(e);
        }
        let rejections = review::review(&s.form, today);
        let status = if rejections.is_empty() {
            ApplicationStatus::Approved
        } else {
            ApplicationStatus::Rejected
        };
        let rejections_json = serde_json::to_string(&rejections)
            .map_err(|e| ApiError::internal(format!("rejections json: {e}")))?;
        tx.execute(
            "UPDATE dom_applications SET status = ?2, rejections = ?3, submitted_at = ?4,
                reviewed_at = ?4, updated_at = ?4 WHERE application_id = ?1",
            params![application_id, status.as_str(), rejections_json, now],
        )?;
        if status == ApplicationStatus::Approved {
            send_code(&state, &tx, &s, now)?;
        }
        let app = to_wire(&tx, &load_own(&tx, &merchant_id, &application_id)?)?;
        let body = serde_json::to_value(&app)
            .map_err(|e| ApiError::internal(format!("application json: {e}")))?;
        state.emit_with(&tx, &merchant_id, event_types::APPLICATION_REVIEWED, body)?;
        tx.commit()?;
        Ok(Json(app))
    })
}

/// `POST /v1/applications/{application_id}/activation-code`: sends a new code.
pub async fn send_activation_code(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Json<SmsCodeSent>, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        match s.status {
            ApplicationStatus::Approved => {}
            ApplicationStatus::Activated => return Err(ApiError::new(&wire::APPLICATION_LOCKED)),
            _ => return Err(ApiError::new(&wire::APPLICATION_NOT_APPROVED)),
        }
        if s.code_sent_at
            .is_some_and(|at| now < at + ACTIVATION_RESEND_SECS)
        {
            return Err(ApiError::new(&wire::ACTIVATION_RESEND_TOO_SOON));
        }
        send_code(&state, &tx, &s, now)?;
        tx.commit()?;
        Ok(Json(SmsCodeSent {
            sent: true,
            expires_in: ACTIVATION_TTL_SECS,
            resend_after: ACTIVATION_RESEND_SECS,
        }))
    })
}

/// `POST /v1/applications/{application_id}/activate`: enters the code.
pub async fn activate(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(body): JsonBody<Activate>,
) -> Result<Json<MerchantProfile>, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        match s.status {
            ApplicationStatus::Approved => {}
            ApplicationStatus::Activated => {
                // Already done (an app retrying after a lost answer).
                let p = merchant::profile(&tx, &merchant_id)?;
                return Ok(Json(merchant::to_wire(&merchant_id, p.as_ref())));
            }
            _ => return Err(ApiError::new(&wire::APPLICATION_NOT_APPROVED)),
        }
        let Some(hash) = s.code_hash.clone() else {
            return Err(ApiError::new(&wire::ACTIVATION_CODE_EXPIRED));
        };
        if s.code_attempts >= ACTIVATION_MAX_ATTEMPTS {
            return Err(ApiError::new(&wire::ACTIVATION_ATTEMPTS_EXCEEDED));
        }
        if s.code_expires_at.is_none_or(|at| now >= at) {
            return Err(ApiError::new(&wire::ACTIVATION_CODE_EXPIRED));
        }
        let given = sha256_hex(body.activation_code.trim().as_bytes());
        let same = given.len() == hash.len()
            && given
                .bytes()
                .zip(hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            tx.execute(
                "UPDATE dom_applications SET code_attempts = code_attempts + 1 WHERE application_id = ?1",
                params![application_id],
            )?;
            tx.commit()?;
            return Err(ApiError::new(&wire::ACTIVATION_CODE_WRONG));
        }
        tx.execute(
            "UPDATE dom_applications SET status = 'activated', activated_at = ?2, updated_at = ?2,
                code_hash = NULL WHERE application_id = ?1",
            params![application_id, now],
        )?;
        let p = merchant::activate_with(
            &state,
            &tx,
            &merchant_id,
            s.form.shop_name.as_deref(),
            s.form.card.as_ref().map(|c| c.masked.as_str()),
            now,
            false,
        )?;
        tx.commit()?;
        Ok(Json(merchant::to_wire(&merchant_id, Some(&p))))
    })
}
