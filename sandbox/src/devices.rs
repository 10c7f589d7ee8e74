//! Devices and push tokens of the signed-in merchant.

use axum::Json;
use axum::extract::{Path, State};
use merchant_contract::codes;
use merchant_contract::envelope;
use merchant_contract::wire::{
    Device, DeviceRegistered, Empty, FieldError, Page, PushProvider, PushToken, RegisterDevice,
    RegisterPushToken, event_types,
};
use rand::Rng as _;
use rusqlite::{OptionalExtension as _, params};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::guard::{Auth, JsonBody, Merchant, Signer};
use crate::state::AppState;

/// The longest push token accepted.
pub const MAX_PUSH_TOKEN_LEN: usize = 4096;

fn text_field(problems: &mut Vec<FieldError>, field: &str, value: &str, max_chars: usize) {
    let n = value.chars().count();
    if n == 0 || n > max_chars || value.chars().any(char::is_control) {
        problems.push(FieldError {
            field: field.to_owned(),
            code: codes::REQUEST_FIELD_INVALID.code.to_owned(),
        });
    }
}

pub(crate) async fn register(
    State(state): State<AppState>,
    auth: Auth,
    signer: Signer,
    JsonBody(req): JsonBody<RegisterDevice>,
) -> Result<Json<DeviceRegistered>, ApiError> {
    let mut problems = Vec::new();
    text_field(&mut problems, "name", &req.name, 64);
    text_field(&mut problems, "model", &req.model, 64);
    text_field(&mut problems, "app_version", &req.app_version, 32);
    if !["android", "ios", "other"].contains(&req.os.as_str()) {
        problems.push(FieldError {
            field: "os".into(),
            code: codes::REQUEST_FIELD_INVALID.code.into(),
        });
    }
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    // The key registered must be the key that signed this very request.
    let key = envelope::decode_device_public_key(&req.device_public_key).map_err(|_| {
        ApiError::new(&codes::AUTH_DEVICE_KEY_INVALID)
            .field("device_public_key", codes::AUTH_DEVICE_KEY_INVALID.code)
    })?;
    if key != signer.public_key {
        return Err(ApiError::new(&codes::AUTH_DEVICE_KEY_INVALID)
            .field("device_public_key", codes::AUTH_DEVICE_KEY_INVALID.code));
    }
    let now = state.now_unix();
    let candidate = format!("dev_{:016x}", state.rng(|r| r.random::<u64>()));
    let (device_id, registered_at) = state.db(|c| {
        let tx = c.transaction()?;
        let existing: Option<(String, i64)> = tx
            .query_row(
                "SELECT device_id, registered_at FROM devices WHERE merchant_id = ?1 AND serial_no = ?2",
                params![auth.merchant_id, auth.serial_no],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let out = match existing {
            Some((id, at)) => {
                tx.execute(
                    "UPDATE devices SET name = ?2, os = ?3, model = ?4, app_version = ?5 WHERE device_id = ?1",
                    params![id, req.name, req.os, req.model, req.app_version],
                )?;
                (id, at)
            }
            None => {
                tx.execute(
                    "INSERT INTO devices (device_id, merchant_id, serial_no, name, os, model, app_version, registered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![candidate, auth.merchant_id, auth.serial_no, req.name, req.os, req.model, req.app_version, now],
                )?;
                state.emit_with(
                    &tx,
                    &auth.merchant_id,
                    event_types::DEVICE_REGISTERED,
                    serde_json::json!({
                        "device_id": candidate,
                        "serial_no": auth.serial_no,
                        "name": req.name,
                        "os": req.os,
                        "model": req.model,
                    }),
                )?;
                (candidate.clone(), now)
            }
        };
        tx.commit()?;
        Ok(out)
    })?;
    Ok(Json(DeviceRegistered {
        device_id,
        serial_no: auth.serial_no,
        registered_at: rfc3339(registered_at),
    }))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Page<Device>>, ApiError> {
    let items = state.db(|c| {
        let mut stmt = c.prepare(
            "SELECT device_id, serial_no, name, os, model, app_version, registered_at
             FROM devices WHERE merchant_id = ?1 ORDER BY registered_at, device_id",
        )?;
        let rows = stmt
            .query_map(params![auth.merchant_id], |r| {
                let serial_no: String = r.get(1)?;
                Ok(Device {
                    device_id: r.get(0)?,
                    current: serial_no == auth.serial_no,
                    serial_no,
                    name: r.get(2)?,
                    os: r.get(3)?,
                    model: r.get(4)?,
                    app_version: r.get(5)?,
                    registered_at: rfc3339(r.get(6)?),
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

pub(crate) async fn remove(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
    Path(device_id): Path<String>,
) -> Result<Json<Empty>, ApiError> {
    let now = state.now_unix();
    state.db(|c| {
        let tx = c.transaction()?;
        let serial: Option<String> = tx
            .query_row(
                "SELECT serial_no FROM devices WHERE device_id = ?1 AND merchant_id = ?2",
                params![device_id, merchant_id],
                |r| r.get(0),
            )
            .optional()?;
        // Another merchant's device is "not found", like one that never was.
        let serial = serial.ok_or_else(ApiError::not_found)?;
        tx.execute("DELETE FROM devices WHERE device_id = ?1", params![device_id])?;
        tx.execute(
            "UPDATE sessions SET revoked_at = ?3 WHERE merchant_id = ?1 AND serial_no = ?2 AND revoked_at IS NULL",
            params![merchant_id, serial, now],
        )?;
        tx.execute(
            "DELETE FROM push_tokens WHERE merchant_id = ?1 AND serial_no = ?2",
            params![merchant_id, serial],
        )?;
        tx.commit()?;
        Ok(Json(Empty {}))
    })
}

/// A push provider as the tables keep it (its wire name), or `None` for
/// text that names none.
pub(crate) fn provider_of(text: String) -> Option<PushProvider> {
    serde_json::from_value(serde_json::Value::String(text)).ok()
}

fn push_token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_PUSH_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'))
}

pub(crate) async fn register_push_token(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<RegisterPushToken>,
) -> Result<Json<Empty>, ApiError> {
    if !push_token_ok(&req.token) {
        return Err(ApiError::fields(vec![FieldError {
            field: "token".into(),
            code: codes::REQUEST_FIELD_INVALID.code.into(),
        }]));
    }
    let now = state.now_unix();
    state.db(|c| {
        c.execute(
            "INSERT INTO push_tokens (merchant_id, token, provider, serial_no, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (merchant_id, token) DO UPDATE SET provider = excluded.provider, serial_no = excluded.serial_no",
            params![auth.merchant_id, req.token, req.provider.as_str(), auth.serial_no, now],
        )?;
        Ok(Json(Empty {}))
    })
}

pub(crate) async fn list_push_tokens(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
) -> Result<Json<Page<PushToken>>, ApiError> {
    let items = state.db(|c| {
        let mut stmt = c.prepare(
            "SELECT provider, token, serial_no, registered_at FROM push_tokens
             WHERE merchant_id = ?1 ORDER BY registered_at, token",
        )?;
        let rows = stmt
            .query_map(params![merchant_id], |r| {
                let provider: String = r.get(0)?;
                Ok((
                    provider,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let items = items
        .into_iter()
        .filter_map(|(provider, token, serial_no, at)| {
            let provider = provider_of(provider)?;
            Some(PushToken {
                provider,
                token,
                serial_no,
                registered_at: rfc3339(at),
            })
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}
