//! The sandbox-only controls under `/sandbox/*`: no signature, no session,
//! served only by the sandbox (docs/platform-api.md, "Sandbox-only").

use axum::Json;
use axum::extract::State;
use merchant_contract::codes;
use merchant_contract::wire::sandbox::{
    AdvanceClock, Clock, Disconnect, Disconnected, EmitEvent, Emitted, Info, OutboxItem,
    RAW_FRAME_MAX_REPEAT, RawFrame, RawFrameWritten, SandboxMerchant, Sms,
};
use merchant_contract::wire::{Page, event_types};
use rusqlite::{OptionalExtension as _, params};
use serde::Deserialize;

use crate::clock::rfc3339;
use crate::devices::provider_of;
use crate::error::ApiError;
use crate::guard::{JsonBody, QueryParams, parse_json};
use crate::state::AppState;

pub(crate) async fn info(State(state): State<AppState>) -> Json<Info> {
    Json(Info {
        app_id: state.app_id().to_owned(),
        platform_public_key: state.signer().public_key_base64(),
        platform_key_serial: state.signer().serial_no().to_owned(),
        seed: state.seed(),
        tls_pin: state.tls_pin(),
    })
}

#[derive(Deserialize)]
pub(crate) struct SmsQuery {
    phone: String,
    #[serde(default)]
    purpose: Option<String>,
}

pub(crate) async fn sms(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<SmsQuery>,
) -> Result<Json<Sms>, ApiError> {
    state.db(|c| {
        let row = c
            .query_row(
                "SELECT phone, purpose, text, code, sent_at, expires_at FROM sms
                 WHERE phone = ?1 AND (?2 IS NULL OR purpose = ?2)
                 ORDER BY sms_id DESC LIMIT 1",
                params![q.phone, q.purpose],
                |r| {
                    Ok(Sms {
                        phone: r.get(0)?,
                        purpose: r.get(1)?,
                        text: r.get(2)?,
                        code: r.get(3)?,
                        sent_at: rfc3339(r.get(4)?),
                        expires_at: rfc3339(r.get(5)?),
                    })
                },
            )
            .optional()?;
        row.map(Json).ok_or_else(ApiError::not_found)
    })
}

#[derive(Deserialize)]
pub(crate) struct OutboxQuery {
    merchant_id: String,
    /// Items after this outbox id (the `next_cursor` of the last page).
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

pub(crate) async fn outbox(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<OutboxQuery>,
) -> Result<Json<Page<OutboxItem>>, ApiError> {
    let after: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| {
            ApiError::new(&codes::REQUEST_FIELD_INVALID)
                .field("cursor", codes::REQUEST_FIELD_INVALID.code)
        })?,
    };
    let limit = q
        .limit
        .unwrap_or(merchant_contract::wire::PAGE_LIMIT_DEFAULT);
    if !(1..=merchant_contract::wire::PAGE_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::new(&codes::REQUEST_FIELD_INVALID)
            .field("limit", codes::REQUEST_FIELD_INVALID.code));
    }
    let items = state.db(|c| {
        let mut stmt = c.prepare(
            "SELECT outbox_id, merchant_id, provider, token_id, token, event_id, event_type, payload FROM outbox
             WHERE merchant_id = ?1 AND outbox_id > ?2 ORDER BY outbox_id LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![q.merchant_id, after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let full = items.len() == limit as usize;
    let items: Vec<OutboxItem> = items
        .into_iter()
        .filter_map(
            |(id, merchant_id, provider, token_id, token, event_id, event_type, payload)| {
                Some(OutboxItem {
                    outbox_id: id as u64,
                    merchant_id,
                    provider: provider_of(provider)?,
                    token_id,
                    token,
                    event_id: event_id as u64,
                    event_type,
                    payload,
                })
            },
        )
        .collect();
    let next_cursor = if full {
        items.last().map(|i| i.outbox_id.to_string())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

pub(crate) async fn emit(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<EmitEvent>,
) -> Result<Json<Emitted>, ApiError> {
    if !event_types::ALL.contains(&req.event_type.as_str()) {
        return Err(ApiError::new(&codes::REQUEST_FIELD_INVALID)
            .field("type", codes::REQUEST_FIELD_INVALID.code));
    }
    let event_id = state.db(|c| {
        if !state.merchant_exists(c, &req.merchant_id)? {
            return Err(ApiError::not_found());
        }
        let tx = c.transaction()?;
        let id = state.emit_with(&tx, &req.merchant_id, &req.event_type, req.data.clone())?;
        tx.commit()?;
        Ok(id)
    })?;
    Ok(Json(Emitted { event_id }))
}

pub(crate) async fn disconnect(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Disconnected>, ApiError> {
    // The body is optional: empty means every stream.
    let req: Disconnect = if body.iter().all(u8::is_ascii_whitespace) {
        Disconnect::default()
    } else {
        parse_json(&body)?
    };
    let streams = state.disconnect_streams(req.merchant_id.as_deref());
    Ok(Json(Disconnected { streams }))
}

/// The largest raw frame written, `repeat` included: 64 MiB.
const RAW_FRAME_MAX_BYTES: usize = 64 * 1024 * 1024;

pub(crate) async fn raw_frame(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RawFrame>,
) -> Result<Json<RawFrameWritten>, ApiError> {
    let field = |name: &str| {
        ApiError::new(&codes::REQUEST_FIELD_INVALID).field(name, codes::REQUEST_FIELD_INVALID.code)
    };
    let once: Vec<u8> = match (req.frame, req.frame_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| field("frame_base64"))?
        }
        _ => return Err(field("frame")),
    };
    if once.is_empty() {
        return Err(field("frame"));
    }
    let repeat = req.repeat.unwrap_or(1);
    if !(1..=RAW_FRAME_MAX_REPEAT).contains(&repeat)
        || once.len() * repeat as usize > RAW_FRAME_MAX_BYTES
    {
        return Err(field("repeat"));
    }
    let exists = state.db(|c| state.merchant_exists(c, &req.merchant_id))?;
    if !exists {
        return Err(ApiError::not_found());
    }
    let bytes = once.repeat(repeat as usize);
    let streams = state.write_raw_frame(&req.merchant_id, bytes.into(), req.close);
    Ok(Json(RawFrameWritten { streams }))
}

fn clock_now(state: &AppState) -> Clock {
    let unix = state.now_unix();
    Clock {
        now: rfc3339(unix),
        unix,
    }
}

pub(crate) async fn clock(State(state): State<AppState>) -> Json<Clock> {
    Json(clock_now(&state))
}

/// The most the clock moves in one call: 366 days.
const MAX_ADVANCE_SECS: i64 = 366 * 24 * 3600;

pub(crate) async fn advance_clock(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<AdvanceClock>,
) -> Result<Json<Clock>, ApiError> {
    if !(1..=MAX_ADVANCE_SECS).contains(&req.advance_secs) {
        return Err(ApiError::new(&codes::REQUEST_FIELD_INVALID)
            .field("advance_secs", codes::REQUEST_FIELD_INVALID.code));
    }
    state.clock().advance(req.advance_secs);
    // Pending trades that the new time makes due resolve now.
    if let Err(e) = crate::domain::trades::apply_all_due(&state) {
        tracing::warn!(error = %e, "applying due trades after the clock moved");
    }
    Ok(Json(clock_now(&state)))
}

pub(crate) async fn merchants(
    State(state): State<AppState>,
) -> Result<Json<Page<SandboxMerchant>>, ApiError> {
    let items = state.db(|c| {
        let mut stmt = c.prepare(
            "SELECT merchant_id, phone, status, seeded FROM merchants ORDER BY created_at, rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SandboxMerchant {
                    merchant_id: r.get(0)?,
                    phone: r.get(1)?,
                    status: r.get(2)?,
                    seeded: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}
