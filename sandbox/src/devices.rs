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
        // A removed device speaks no more.
        crate::speaker::vacate(
            &state,
            &tx,
            &merchant_id,
            &device_id,
            merchant_contract::wire::speaker_reasons::DEVICE_REMOVED,
        )?;
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

/// The push token of `token_id`, for the answers.
fn push_token_row(
    c: &rusqlite::Connection,
    merchant_id: &str,
    token_id: &str,
) -> Result<Option<PushToken>, ApiError> {
    let row = c
        .query_row(
            "SELECT token_id, provider, token, serial_no, registered_at FROM push_tokens
             WHERE merchant_id = ?1 AND token_id = ?2",
            params![merchant_id, token_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(token_id, provider, token, serial_no, at)| {
        Some(PushToken {
            token_id,
            provider: provider_of(provider)?,
            token,
            serial_no,
            registered_at: rfc3339(at),
        })
    }))
}

fn bad_token() -> ApiError {
    ApiError::fields(vec![FieldError {
        field: "token".into(),
        code: codes::REQUEST_FIELD_INVALID.code.into(),
    }])
}

pub(crate) async fn register_push_token(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<RegisterPushToken>,
) -> Result<Json<PushToken>, ApiError> {
    if !push_token_ok(&req.token) {
        return Err(bad_token());
    }
    let now = state.now_unix();
    let candidate = format!("ptk_{:016x}", state.rng(|r| r.random::<u64>()));
    state.db(|c| {
        let tx = c.transaction()?;
        // A token value is registered once per merchant: registering it
        // again (from any of its devices) keeps its token_id and moves it
        // to the signing device.
        tx.execute(
            "INSERT INTO push_tokens (merchant_id, token_id, token, provider, serial_no, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (merchant_id, token) DO UPDATE SET provider = excluded.provider, serial_no = excluded.serial_no",
            params![auth.merchant_id, candidate, req.token, req.provider.as_str(), auth.serial_no, now],
        )?;
        let token_id: String = tx.query_row(
            "SELECT token_id FROM push_tokens WHERE merchant_id = ?1 AND token = ?2",
            params![auth.merchant_id, req.token],
            |r| r.get(0),
        )?;
        let out = push_token_row(&tx, &auth.merchant_id, &token_id)?
            .ok_or_else(|| ApiError::internal("push token just written is gone"))?;
        tx.commit()?;
        Ok(Json(out))
    })
}

/// `DELETE /v1/push-tokens/{token_id}`: the signing device's token stops
/// receiving pushes at once. Another device's or merchant's token, like one
/// that does not exist (or no longer does), is 404.
pub(crate) async fn unregister_push_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(token_id): Path<String>,
) -> Result<Json<Empty>, ApiError> {
    state.db(|c| {
        let n = c.execute(
            "DELETE FROM push_tokens WHERE merchant_id = ?1 AND serial_no = ?2 AND token_id = ?3",
            params![auth.merchant_id, auth.serial_no, token_id],
        )?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        Ok(Json(Empty {}))
    })
}

/// `PUT /v1/push-tokens/{token_id}`: the provider handed the device a new
/// token. In one transaction the registration takes the new value (its
/// token_id stays): the old value gets nothing from then on, the new one
/// every later event. A registration of the same value elsewhere in the
/// merchant is folded into this one (one push per event and token).
pub(crate) async fn rotate_push_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(token_id): Path<String>,
    JsonBody(req): JsonBody<RegisterPushToken>,
) -> Result<Json<PushToken>, ApiError> {
    if !push_token_ok(&req.token) {
        return Err(bad_token());
    }
    state.db(|c| {
        let tx = c.transaction()?;
        let own: Option<String> = tx
            .query_row(
                "SELECT token FROM push_tokens WHERE merchant_id = ?1 AND serial_no = ?2 AND token_id = ?3",
                params![auth.merchant_id, auth.serial_no, token_id],
                |r| r.get(0),
            )
            .optional()?;
        if own.is_none() {
            return Err(ApiError::not_found());
        }
        tx.execute(
            "DELETE FROM push_tokens WHERE merchant_id = ?1 AND token = ?2 AND token_id <> ?3",
            params![auth.merchant_id, req.token, token_id],
        )?;
        tx.execute(
            "UPDATE push_tokens SET token = ?3, provider = ?4 WHERE merchant_id = ?1 AND token_id = ?2",
            params![auth.merchant_id, token_id, req.token, req.provider.as_str()],
        )?;
        let out = push_token_row(&tx, &auth.merchant_id, &token_id)?
            .ok_or_else(|| ApiError::internal("push token just written is gone"))?;
        tx.commit()?;
        Ok(Json(out))
    })
}

pub(crate) async fn list_push_tokens(
    State(state): State<AppState>,
    Merchant(merchant_id): Merchant,
) -> Result<Json<Page<PushToken>>, ApiError> {
    let items = state.db(|c| {
        let mut stmt = c.prepare(
            "SELECT token_id, provider, token, serial_no, registered_at FROM push_tokens
             WHERE merchant_id = ?1 ORDER BY registered_at, token_id",
        )?;
        let rows = stmt
            .query_map(params![merchant_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let items = items
        .into_iter()
        .filter_map(|(token_id, provider, token, serial_no, at)| {
            let provider = provider_of(provider)?;
            Some(PushToken {
                token_id,
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
