//! Onboarding (入网/进件): the application, its document photos, the
//! e-signed agreement, the asynchronous review, the activation code by SMS
//! (and its recovery) and the activation that makes the merchant active.
//!
//! One application per merchant. It is `draft` while being filled in; submit
//! makes it `under_review` with a `review_due_at` on the business clock
//! (`SandboxConfig::review_delay_secs` later). The review decides when that
//! time has come: lazily, when the merchant's application is read or
//! written, and proactively, by the reviewer task ([`spawn_reviewer`]) that
//! ticks every [`REVIEWER_TICK`], so `application.reviewed` goes out without
//! a read. It makes the application `rejected` (changed and submitted again,
//! same id) or `approved` (an activation code goes out by SMS); entering
//! that code makes it `activated` and the merchant active.

use std::sync::Weak;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use merchant_contract::domain::{
    self as wire, AGREEMENT_VERSION, AccountType, Activate, Agreement, AgreementRecord,
    Application, ApplicationForm, ApplicationStatus, Document, DocumentKind, LegalPersonView,
    MerchantProfile, RecoverActivationCode, Rejection, SettlementBank, SettlementView,
    SignAgreement, agreement_envelope, agreement_record_text, verify_device_signature,
};
use merchant_contract::envelope;
use merchant_contract::wire::{Empty, SmsCodeSent, event_types};
use merchant_core::money::RateTable;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use ring::digest;
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::documents::{self, DocumentProblem};
use super::review::{self, Kept};
use super::{agreement, lookups, merchant};
use crate::clock::{rfc3339, to_china, wall_unix};
use crate::error::ApiError;
use crate::guard::{Auth, JsonBody, Merchant};
use crate::state::{AppState, Inner};

/// Seconds an activation code stays valid.
pub const ACTIVATION_TTL_SECS: i64 = 30 * 60;
/// Seconds before another activation code may be sent.
pub const ACTIVATION_RESEND_SECS: i64 = 60;
/// Wrong entries that burn an activation code.
pub const ACTIVATION_MAX_ATTEMPTS: i64 = 5;
/// Identity mismatches that lock lost-code recovery.
pub const RECOVER_MAX_FAILURES: i64 = 5;
/// Seconds (business clock) recovery stays locked after them.
pub const RECOVER_LOCK_SECS: i64 = 30 * 60;
/// How often the reviewer task looks for reviews that are due (real time).
pub const REVIEWER_TICK: Duration = Duration::from_millis(200);

/// An application as stored.
#[derive(Debug, Clone)]
struct Stored {
    application_id: String,
    merchant_id: String,
    status: ApplicationStatus,
    form: Kept,
    rejections: Vec<Rejection>,
    created_at: i64,
    updated_at: i64,
    submitted_at: Option<i64>,
    review_due_at: Option<i64>,
    reviewed_at: Option<i64>,
    activated_at: Option<i64>,
    code_hash: Option<String>,
    code_sent_at: Option<i64>,
    code_expires_at: Option<i64>,
    code_attempts: i64,
    codes_sent: i64,
    recover_failures: i64,
    recover_locked_until: Option<i64>,
}

const COLUMNS: &str = "application_id, merchant_id, status, form, rejections, created_at,
    updated_at, submitted_at, review_due_at, reviewed_at, activated_at, code_hash, code_sent_at,
    code_expires_at, code_attempts, codes_sent, recover_failures, recover_locked_until";

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("stored application: {what}"))
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<Stored> {
    let status: String = r.get("status")?;
    let form: String = r.get("form")?;
    let rejections: String = r.get("rejections")?;
    Ok(Stored {
        application_id: r.get("application_id")?,
        merchant_id: r.get("merchant_id")?,
        status: ApplicationStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        form: serde_json::from_str(&form).map_err(|_| corrupt("form"))?,
        rejections: serde_json::from_str(&rejections).map_err(|_| corrupt("rejections"))?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        submitted_at: r.get("submitted_at")?,
        review_due_at: r.get("review_due_at")?,
        reviewed_at: r.get("reviewed_at")?,
        activated_at: r.get("activated_at")?,
        code_hash: r.get("code_hash")?,
        code_sent_at: r.get("code_sent_at")?,
        code_expires_at: r.get("code_expires_at")?,
        code_attempts: r.get("code_attempts")?,
        codes_sent: r.get("codes_sent")?,
        recover_failures: r.get("recover_failures")?,
        recover_locked_until: r.get("recover_locked_until")?,
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

fn record_of(conn: &Connection, application_id: &str) -> Result<Option<AgreementRecord>, ApiError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT record FROM dom_signatures WHERE application_id = ?1",
            params![application_id],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| ApiError::internal(format!("stored record: {e}")))
    })
    .transpose()
}

/// The agreement the merchant signs: its own rates (the standard table until
/// it is active).
fn agreement_for(conn: &Connection, merchant_id: &str) -> Result<Agreement, ApiError> {
    let rates = merchant::profile(conn, merchant_id)?
        .map(|p| p.rates)
        .unwrap_or_else(RateTable::standard);
    Ok(agreement::current(merchant::rates_wire(&rates)))
}

/// The record, when it stands for the current agreement text.
fn current_record(conn: &Connection, s: &Stored) -> Result<Option<AgreementRecord>, ApiError> {
    let current = agreement_for(conn, &s.merchant_id)?;
    Ok(record_of(conn, &s.application_id)?
        .filter(|r| r.version == current.version && r.text_sha256 == current.text_sha256))
}

fn settlement_bank(f: &Kept) -> Option<SettlementBank> {
    let s = f.settlement.as_ref()?;
    let t = lookups::tables();
    let branch = s.branch_code.as_deref().and_then(|c| t.branch(c));
    match s.account_type {
        Some(AccountType::Corporate) => {
            let b = branch?;
            let bank = t.bank(&b.bank_code)?;
            Some(SettlementBank {
                bank_code: Some(bank.code.clone()),
                bank_name: bank.name.clone(),
                bank_name_en: bank.name_en.clone(),
                card_kind: None,
                branch_name: Some(b.name.clone()),
            })
        }
        _ => {
            let c = s.card.as_ref()?;
            Some(SettlementBank {
                bank_code: t.bank_of_issuer(&c.issuer).map(|b| b.code.clone()),
                bank_name: c.bank_name.clone(),
                bank_name_en: c.bank_name_en.clone(),
                card_kind: Some(c.card_kind.clone()),
                branch_name: branch.map(|b| b.name.clone()),
            })
        }
    }
}

fn to_wire(conn: &Connection, s: &Stored, now: i64) -> Result<Application, ApiError> {
    let documents = documents_of(conn, &s.application_id)?;
    let record = current_record(conn, s)?;
    let kinds: Vec<DocumentKind> = documents.iter().map(|d| d.kind).collect();
    let missing = match s.status {
        ApplicationStatus::Draft | ApplicationStatus::Rejected => {
            review::missing(&s.form, &kinds, record.is_some())
        }
        _ => Vec::new(),
    };
    let f = &s.form;
    Ok(Application {
        application_id: s.application_id.clone(),
        status: s.status,
        kind: f.kind,
        legal_person: f.legal.as_ref().map(|l| LegalPersonView {
            legal_name_masked: l.name_masked.clone(),
            id_number_masked: l.id_masked.clone(),
            id_valid_from: l.id_valid_from.clone(),
            id_valid_until: l.id_valid_until.clone(),
            id_long_term: l.id_long_term,
        }),
        licence: f.licence.clone(),
        shop: f.shop.clone(),
        settlement: f.settlement.as_ref().map(|a| SettlementView {
            account_type: a.account_type,
            account_number_masked: a.number_masked.clone(),
            holder_name_masked: a.holder_masked.clone(),
            branch_code: a.branch_code.clone(),
            reserved_mobile_masked: a.mobile_masked.clone(),
        }),
        settlement_bank: settlement_bank(f),
        documents,
        agreement: record,
        missing,
        rejections: if s.status == ApplicationStatus::Rejected {
            s.rejections.clone()
        } else {
            Vec::new()
        },
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
        submitted_at: s.submitted_at.map(rfc3339),
        review_due_at: if s.status == ApplicationStatus::UnderReview {
            s.review_due_at.map(rfc3339)
        } else {
            None
        },
        reviewed_at: s.reviewed_at.map(rfc3339),
        activation_code_sent_at: s.code_sent_at.map(rfc3339),
        recovery_locked_until: s.recover_locked_until.filter(|&t| t > now).map(rfc3339),
        activated_at: s.activated_at.map(rfc3339),
    })
}

fn editable(s: &Stored) -> Result<(), ApiError> {
    match s.status {
        ApplicationStatus::Draft | ApplicationStatus::Rejected => Ok(()),
        ApplicationStatus::UnderReview
        | ApplicationStatus::Approved
        | ApplicationStatus::Activated => Err(ApiError::new(&wire::APPLICATION_LOCKED)),
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

/// The salt of an application's kept ID digest.
fn salt(state: &AppState, application_id: &str) -> String {
    format!("{}:{application_id}", state.seed())
}

fn check_form(
    state: &AppState,
    application_id: &str,
    form: &ApplicationForm,
    now: i64,
) -> Result<Kept, ApiError> {
    let today = to_china(now).date_naive();
    review::check_form(form, &salt(state, application_id), today).map_err(ApiError::fields)
}

fn write_form(conn: &Connection, application_id: &str, f: &Kept, now: i64) -> Result<(), ApiError> {
    let form =
        serde_json::to_string(f).map_err(|e| ApiError::internal(format!("form json: {e}")))?;
    conn.execute(
        "UPDATE dom_applications SET kind = ?2, form = ?3, updated_at = ?4, status = 'draft',
            rejections = '[]' WHERE application_id = ?1",
        params![application_id, f.kind.as_str(), form, now],
    )?;
    Ok(())
}

fn app_json(app: &Application) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(app).map_err(|e| ApiError::internal(format!("application json: {e}")))
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

/// Decides every review that is due at `now` (of one merchant, or all):
/// `rejected` or `approved` (the activation code goes out), and
/// `application.reviewed`. Returns how many were decided.
fn decide_due(
    state: &AppState,
    conn: &Connection,
    now: i64,
    merchant_id: Option<&str>,
) -> Result<usize, ApiError> {
    let due: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT merchant_id, application_id FROM dom_applications
             WHERE status = 'under_review' AND review_due_at <= ?1 AND (?2 IS NULL OR merchant_id = ?2)
             ORDER BY review_due_at, application_id",
        )?;
        stmt.query_map(params![now, merchant_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let today = to_china(now).date_naive();
    for (mid, aid) in &due {
        let s = load_own(conn, mid, aid)?;
        let rejections = review::review(&s.form, today);
        let status = if rejections.is_empty() {
            ApplicationStatus::Approved
        } else {
            ApplicationStatus::Rejected
        };
        let rejections_json = serde_json::to_string(&rejections)
            .map_err(|e| ApiError::internal(format!("rejections json: {e}")))?;
        conn.execute(
            "UPDATE dom_applications SET status = ?2, rejections = ?3, reviewed_at = ?4,
                updated_at = ?4, review_due_at = NULL WHERE application_id = ?1",
            params![aid, status.as_str(), rejections_json, now],
        )?;
        if status == ApplicationStatus::Approved {
            send_code(state, conn, &s, now)?;
        }
        let app = to_wire(conn, &load_own(conn, mid, aid)?, now)?;
        state.emit_with(
            conn,
            mid,
            event_types::APPLICATION_REVIEWED,
            app_json(&app)?,
        )?;
    }
    Ok(due.len())
}

/// Decides the reviews due now, in their own transaction (the reviewer task).
pub fn run_due_reviews(state: &AppState) -> Result<usize, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let n = decide_due(state, &tx, now, None)?;
        tx.commit()?;
        Ok(n)
    })
}

/// Starts the reviewer task on the current tokio runtime (none: nothing
/// runs, reviews are decided on reads). It ends once the sandbox is gone.
pub fn spawn_reviewer(state: &AppState) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<Inner> = std::sync::Arc::downgrade(&state.inner);
    handle.spawn(async move {
        let mut ticker = tokio::time::interval(REVIEWER_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            let state = AppState { inner };
            if let Err(e) = run_due_reviews(&state) {
                tracing::warn!(error = %e, "reviewer tick failed");
            }
        }
    });
}

/// `POST /v1/applications`.
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    JsonBody(form): JsonBody<ApplicationForm>,
) -> Result<Json<Application>, ApiError> {
    let now = state.now_unix();
    let application_id = {
        let mut rng = keyed_rng(state.seed(), &format!("application:{merchant_id}"));
        format!("app_{:016x}", rng.random::<u64>())
    };
    let checked = check_form(&state, &application_id, &form, now)?;
    state.db(|conn| {
        let tx = conn.transaction()?;
        if load(&tx, &merchant_id, None)?.is_some() {
            return Err(ApiError::new(&wire::APPLICATION_EXISTS));
        }
        tx.execute(
            "INSERT INTO dom_applications (application_id, merchant_id, status, kind, form, created_at, updated_at)
             VALUES (?1, ?2, 'draft', ?3, '{}', ?4, ?4)",
            params![application_id, merchant_id, checked.kind.as_str(), now],
        )?;
        write_form(&tx, &application_id, &checked, now)?;
        let app = to_wire(&tx, &load_own(&tx, &merchant_id, &application_id)?, now)?;
        tx.commit()?;
        Ok(Json(app))
    })
}

/// Reads the merchant's application after deciding its due review.
fn read(
    state: &AppState,
    merchant_id: &str,
    application_id: Option<&str>,
) -> Result<Json<Application>, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        decide_due(state, &tx, now, Some(merchant_id))?;
        let s = load(&tx, merchant_id, application_id)?.ok_or_else(ApiError::not_found)?;
        let app = to_wire(&tx, &s, now)?;
        tx.commit()?;
        Ok(Json(app))
    })
}

/// `GET /v1/applications/current`.
pub async fn current(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
) -> Result<Json<Application>, ApiError> {
    read(&state, &merchant_id, None)
}

/// `GET /v1/applications/{application_id}`.
pub async fn get_one(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
) -> Result<Json<Application>, ApiError> {
    read(&state, &merchant_id, Some(&application_id))
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
        decide_due(&state, &tx, now, Some(&merchant_id))?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        editable(&s)?;
        let checked = check_form(&state, &application_id, &form, now)?;
        write_form(&tx, &application_id, &checked, now)?;
        let app = to_wire(&tx, &load_own(&tx, &merchant_id, &application_id)?, now)?;
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
        decide_due(&state, &tx, now, Some(&merchant_id))?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        let kind =
            DocumentKind::parse(&kind).ok_or_else(|| ApiError::new(&wire::DOCUMENT_KIND_UNKNOWN))?;
        editable(&s)?;
        let account = s.form.settlement.as_ref().and_then(|a| a.account_type);
        if !kind.applies(s.form.kind, account) {
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

/// `GET /v1/agreements/current`: with the merchant's own fee clauses.
pub async fn current_agreement(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
) -> Result<Json<Agreement>, ApiError> {
    state.db(|conn| agreement_for(conn, &merchant_id).map(Json))
}

/// The public key of `serial` when it is a device registered to the merchant.
fn registered_key(
    conn: &Connection,
    merchant_id: &str,
    serial: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT k.public_key FROM devices d JOIN device_keys k ON k.serial_no = d.serial_no
             WHERE d.merchant_id = ?1 AND d.serial_no = ?2",
            params![merchant_id, serial],
            |r| r.get(0),
        )
        .optional()?)
}

/// `POST /v1/applications/{application_id}/agreement`: the device's
/// signature of the agreement, verified and countersigned.
pub async fn sign_agreement(
    State(state): State<AppState>,
    auth: Auth,
    Path(application_id): Path<String>,
    JsonBody(sign): JsonBody<SignAgreement>,
) -> Result<Json<AgreementRecord>, ApiError> {
    let now = state.now_unix();
    let wall = wall_unix();
    let merchant_id = auth.merchant_id.clone();
    state.db(|conn| {
        let tx = conn.transaction()?;
        decide_due(&state, &tx, now, Some(&merchant_id))?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        editable(&s)?;
        if sign.version != AGREEMENT_VERSION {
            return Err(ApiError::new(&wire::AGREEMENT_VERSION_OUTDATED));
        }
        let current = agreement_for(&tx, &merchant_id)?;
        if sign.text_sha256 != current.text_sha256 {
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
        if sign.signature_image_sha256 != image {
            return Err(ApiError::new(&wire::AGREEMENT_IMAGE_MISMATCH));
        }
        if sign.device_serial != auth.serial_no {
            return Err(ApiError::new(&wire::AGREEMENT_DEVICE_MISMATCH));
        }
        let key = registered_key(&tx, &merchant_id, &sign.device_serial)?
            .ok_or_else(|| ApiError::new(&wire::AGREEMENT_DEVICE_MISMATCH))?;
        if envelope::check_freshness(sign.signed_at, wall).is_err() {
            return Err(ApiError::new(&wire::AGREEMENT_SIGNED_AT_STALE));
        }
        let env = agreement_envelope(
            &application_id,
            &sign.version,
            &sign.text_sha256,
            &sign.signature_image_sha256,
            sign.signed_at,
            &sign.device_serial,
        );
        verify_device_signature(&key, env.as_bytes(), &sign.device_signature)
            .map_err(|_| ApiError::new(&wire::AGREEMENT_DEVICE_SIGNATURE_INVALID))?;
        let signature_id = format!(
            "sig_{}",
            sha256_hex(
                format!(
                    "{}:{application_id}:{}",
                    state.seed(),
                    sign.device_signature
                )
                .as_bytes()
            )
            .get(..16)
            .unwrap_or_default()
        );
        let mut record = AgreementRecord {
            signature_id,
            application_id: application_id.clone(),
            version: sign.version.clone(),
            text_sha256: sign.text_sha256.clone(),
            signature_image_sha256: image.clone(),
            signed_at: sign.signed_at,
            device_serial: sign.device_serial.clone(),
            device_public_key: B64.encode(&key),
            device_signature: sign.device_signature.clone(),
            platform_signed_at: wall,
            platform_key_serial: state.signer().serial_no().to_owned(),
            platform_signature: String::new(),
        };
        let sig = state
            .signer()
            .sign(agreement_record_text(&record).as_bytes())
            .map_err(|e| ApiError::internal(format!("countersign: {e}")))?;
        record.platform_signature = B64.encode(sig);
        let json = serde_json::to_string(&record)
            .map_err(|e| ApiError::internal(format!("record json: {e}")))?;
        tx.execute(
            "INSERT INTO dom_signatures (application_id, version, text_sha256, image_sha256, record)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (application_id) DO UPDATE SET version = ?2, text_sha256 = ?3,
                image_sha256 = ?4, record = ?5",
            params![application_id, record.version, record.text_sha256, image, json],
        )?;
        tx.execute(
            "UPDATE dom_applications SET updated_at = ?2 WHERE application_id = ?1",
            params![application_id, now],
        )?;
        tx.commit()?;
        Ok(Json(record))
    })
}

/// `GET /v1/applications/{application_id}/agreement`: the signed record.
pub async fn get_agreement_record(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
) -> Result<Json<AgreementRecord>, ApiError> {
    state.db(|conn| {
        load_own(conn, &merchant_id, &application_id)?;
        record_of(conn, &application_id)?
            .map(Json)
            .ok_or_else(|| ApiError::new(&wire::AGREEMENT_NOT_SIGNED))
    })
}

/// `POST /v1/applications/{application_id}/submit`: hands the application to
/// the review. A second submit while under review answers it unchanged.
pub async fn submit(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Json<Application>, ApiError> {
    let now = state.now_unix();
    let delay = state.config().review_delay_secs.max(0);
    state.db(|conn| {
        let tx = conn.transaction()?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        if s.status == ApplicationStatus::UnderReview {
            let app = to_wire(&tx, &s, now)?;
            return Ok(Json(app));
        }
        editable(&s)?;
        let current = to_wire(&tx, &s, now)?;
        if !current.missing.is_empty() {
            let mut e = ApiError::new(&wire::APPLICATION_INCOMPLETE);
            for m in &current.missing {
                e = e.field(m, wire::FIELD_MISSING.code);
            }
            return Err(e);
        }
        tx.execute(
            "UPDATE dom_applications SET status = 'under_review', rejections = '[]', submitted_at = ?2,
                review_due_at = ?3, updated_at = ?2 WHERE application_id = ?1",
            params![application_id, now, now.saturating_add(delay)],
        )?;
        let app = to_wire(&tx, &load_own(&tx, &merchant_id, &application_id)?, now)?;
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
        decide_due(&state, &tx, now, Some(&merchant_id))?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        approved(&s)?;
        resend_allowed(&s, now)?;
        send_code(&state, &tx, &s, now)?;
        tx.commit()?;
        Ok(Json(code_sent()))
    })
}

fn approved(s: &Stored) -> Result<(), ApiError> {
    match s.status {
        ApplicationStatus::Approved => Ok(()),
        ApplicationStatus::Activated => Err(ApiError::new(&wire::APPLICATION_LOCKED)),
        _ => Err(ApiError::new(&wire::APPLICATION_NOT_APPROVED)),
    }
}

fn resend_allowed(s: &Stored, now: i64) -> Result<(), ApiError> {
    if s.code_sent_at
        .is_some_and(|at| now < at + ACTIVATION_RESEND_SECS)
    {
        return Err(ApiError::new(&wire::ACTIVATION_RESEND_TOO_SOON));
    }
    Ok(())
}

fn code_sent() -> SmsCodeSent {
    SmsCodeSent {
        sent: true,
        expires_in: ACTIVATION_TTL_SECS,
        resend_after: ACTIVATION_RESEND_SECS,
    }
}

/// Whether `s` is 6 characters: 5 digits and a digit or `X`.
fn id_suffix_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && b.iter().take(5).all(u8::is_ascii_digit)
        && b.get(5)
            .is_some_and(|c| c.is_ascii_digit() || *c == b'X' || *c == b'x')
}

/// `POST /v1/applications/{application_id}/activation-code/recover`: a lost
/// code, sent again after the last 6 characters of the ID number match.
pub async fn recover_activation_code(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(application_id): Path<String>,
    JsonBody(body): JsonBody<RecoverActivationCode>,
) -> Result<Json<SmsCodeSent>, ApiError> {
    let now = state.now_unix();
    let given = body.id_last6.trim().to_owned();
    state.db(|conn| {
        let tx = conn.transaction()?;
        decide_due(&state, &tx, now, Some(&merchant_id))?;
        let s = load_own(&tx, &merchant_id, &application_id)?;
        approved(&s)?;
        if s.recover_locked_until.is_some_and(|t| now < t) {
            return Err(ApiError::new(&wire::ACTIVATION_RECOVER_LOCKED));
        }
        if !id_suffix_ok(&given) {
            return Err(ApiError::fields(vec![]).field("id_last6", wire::FIELD_ID_LAST6.code));
        }
        let kept = s.form.legal.as_ref().and_then(|l| l.id_last6_hash.clone());
        let matches = kept.is_some_and(|h| {
            let g = review::last6_hash(&salt(&state, &application_id), &given);
            g.len() == h.len() && g.bytes().zip(h.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
        });
        if !matches {
            let failures = s.recover_failures + 1;
            let locked = failures >= RECOVER_MAX_FAILURES;
            tx.execute(
                "UPDATE dom_applications SET recover_failures = ?2, recover_locked_until = ?3
                 WHERE application_id = ?1",
                params![
                    application_id,
                    if locked { 0 } else { failures },
                    locked
                        .then_some(now + RECOVER_LOCK_SECS)
                        .or(s.recover_locked_until)
                ],
            )?;
            tx.commit()?;
            return Err(ApiError::new(if locked {
                &wire::ACTIVATION_RECOVER_LOCKED
            } else {
                &wire::ACTIVATION_IDENTITY_MISMATCH
            }));
        }
        resend_allowed(&s, now)?;
        tx.execute(
            "UPDATE dom_applications SET recover_failures = 0 WHERE application_id = ?1",
            params![application_id],
        )?;
        send_code(&state, &tx, &s, now)?;
        tx.commit()?;
        Ok(Json(code_sent()))
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
        decide_due(&state, &tx, now, Some(&merchant_id))?;
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
            s.form.shop.as_ref().and_then(|sh| sh.name.as_deref()),
            s.form
                .settlement
                .as_ref()
                .and_then(|a| a.number_masked.as_deref()),
            now,
            false,
        )?;
        tx.commit()?;
        Ok(Json(merchant::to_wire(&merchant_id, Some(&p))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_suffixes() {
        for ok in ["071230", "12345X", "12345x"] {
            assert!(id_suffix_ok(ok), "{ok}");
        }
        for bad in ["", "07123", "0712300", "X12345", "07123Y", "０７１２３０"] {
            assert!(!id_suffix_ok(bad), "{bad}");
        }
    }

    #[test]
    fn the_freshness_window_is_the_documented_300_seconds() {
        assert_eq!(envelope::FRESHNESS_WINDOW_SECS, 300);
    }
}
