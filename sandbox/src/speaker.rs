//! The speaker role: at most one device of a merchant speaks the voice
//! broadcast. A device claims it (`PUT /v1/speaker`), gives it up
//! (`DELETE /v1/speaker`), or loses it when it is removed or signs out;
//! every change emits `speaker.changed` (data: [`SpeakerChanged`]) to the
//! merchant's stream and push, so the other devices fall silent.

use axum::Json;
use axum::extract::State;
use merchant_contract::wire::{Speaker, SpeakerChanged, event_types, speaker_reasons};
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::guard::Auth;
use crate::state::AppState;

/// The holder of the merchant's role: `(device_id, claimed_at)`.
fn holder(c: &Connection, merchant_id: &str) -> Result<Option<(String, i64)>, ApiError> {
    Ok(c.query_row(
        "SELECT device_id, claimed_at FROM speakers WHERE merchant_id = ?1",
        params![merchant_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

/// The signing device's id (a `Session` route: it is registered).
fn own_device(c: &Connection, auth: &Auth) -> Result<String, ApiError> {
    c.query_row(
        "SELECT device_id FROM devices WHERE merchant_id = ?1 AND serial_no = ?2",
        params![auth.merchant_id, auth.serial_no],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| ApiError::new(&merchant_contract::codes::AUTH_DEVICE_NOT_REGISTERED))
}

fn answer(held: Option<(String, i64)>, asking: &str) -> Speaker {
    match held {
        Some((device_id, at)) => Speaker {
            current: device_id == asking,
            device_id: Some(device_id),
            claimed_at: Some(rfc3339(at)),
        },
        None => Speaker {
            device_id: None,
            claimed_at: None,
            current: false,
        },
    }
}

fn changed(
    state: &AppState,
    c: &Connection,
    merchant_id: &str,
    held: Option<(String, i64)>,
    reason: &str,
) -> Result<(), ApiError> {
    let data = SpeakerChanged {
        claimed_at: held.as_ref().map(|(_, at)| rfc3339(*at)),
        device_id: held.map(|(d, _)| d),
        reason: reason.to_owned(),
    };
    let data = serde_json::to_value(&data)
        .map_err(|e| ApiError::internal(format!("speaker json: {e}")))?;
    state.emit_with(c, merchant_id, event_types::SPEAKER_CHANGED, data)?;
    Ok(())
}

/// `GET /v1/speaker`.
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Speaker>, ApiError> {
    state.db(|c| {
        let me = own_device(c, &auth)?;
        Ok(Json(answer(holder(c, &auth.merchant_id)?, &me)))
    })
}

/// `PUT /v1/speaker`: the signing device speaks from now on. Claiming a
/// role the device holds changes nothing and emits nothing.
pub(crate) async fn claim(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Speaker>, ApiError> {
    let now = state.now_unix();
    state.db(|c| {
        let tx = c.transaction()?;
        let me = own_device(&tx, &auth)?;
        let held = match holder(&tx, &auth.merchant_id)? {
            Some(h) if h.0 == me => h,
            _ => {
                tx.execute(
                    "INSERT INTO speakers (merchant_id, device_id, claimed_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (merchant_id) DO UPDATE SET device_id = excluded.device_id, claimed_at = excluded.claimed_at",
                    params![auth.merchant_id, me, now],
                )?;
                let h = (me.clone(), now);
                changed(
                    &state,
                    &tx,
                    &auth.merchant_id,
                    Some(h.clone()),
                    speaker_reasons::CLAIMED,
                )?;
                h
            }
        };
        tx.commit()?;
        Ok(Json(answer(Some(held), &me)))
    })
}

/// `DELETE /v1/speaker`: the signing device gives the role up; when another
/// device (or none) holds it, nothing changes.
pub(crate) async fn release(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Speaker>, ApiError> {
    state.db(|c| {
        let tx = c.transaction()?;
        let me = own_device(&tx, &auth)?;
        vacate(
            &state,
            &tx,
            &auth.merchant_id,
            &me,
            speaker_reasons::RELEASED,
        )?;
        let out = answer(holder(&tx, &auth.merchant_id)?, &me);
        tx.commit()?;
        Ok(Json(out))
    })
}

/// Takes the role from `device_id` if it holds it (inside the caller's
/// transaction), emitting `speaker.changed` with no device and `reason`.
pub(crate) fn vacate(
    state: &AppState,
    c: &Connection,
    merchant_id: &str,
    device_id: &str,
    reason: &str,
) -> Result<(), ApiError> {
    let n = c.execute(
        "DELETE FROM speakers WHERE merchant_id = ?1 AND device_id = ?2",
        params![merchant_id, device_id],
    )?;
    if n > 0 {
        changed(state, c, merchant_id, None, reason)?;
    }
    Ok(())
}
