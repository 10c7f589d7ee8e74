//! `GET /sandbox/terminals/{sn}/back-photo`: a photo of a terminal's back,
//! its QR as the camera would see it, so that app developers (and the
//! tests) can try the "scan the back QR" flow without a camera or a
//! terminal. The QR is drawn from the inventory's QR text by a real QR
//! encoder, on a white sticker on a camera-like picture, turned by `angle`
//! degrees, in a JPEG `width` pixels wide (4:3).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use merchant_contract::domain as wire;
use merchant_core::terminals::photo::sample;
use serde::Deserialize;

use super::inventory;
use super::terminals::inventory_rows;
use merchant_contract::wire::FieldError;

use crate::error::ApiError;
use crate::guard::QueryParams;
use crate::state::AppState;

/// The narrowest and widest photo the control draws.
pub const WIDTH_RANGE: std::ops::RangeInclusive<u32> = 320..=4000;
/// The photo's width when the query names none.
pub const DEFAULT_WIDTH: u32 = 1200;

/// The query of the control.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackPhotoQuery {
    width: Option<String>,
    angle: Option<String>,
}

/// `GET /sandbox/terminals/{sn}/back-photo?width=&angle=`.
pub async fn back_photo(
    State(state): State<AppState>,
    Path(sn): Path<String>,
    QueryParams(q): QueryParams<BackPhotoQuery>,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let width = match q.width.as_deref().map(str::parse::<u32>) {
        None => DEFAULT_WIDTH,
        Some(Ok(w)) if WIDTH_RANGE.contains(&w) => w,
        Some(_) => {
            problems.push(FieldError::new("width", wire::FIELD_INVALID.code));
            0
        }
    };
    let angle = match q.angle.as_deref().map(str::parse::<f64>) {
        None => 0.0,
        Some(Ok(a)) if a.is_finite() && (-360.0..=360.0).contains(&a) => a,
        Some(_) => {
            problems.push(FieldError::new("angle", wire::FIELD_INVALID.code));
            0.0
        }
    };
    let Some(sn) = inventory::normalize_sn(&sn) else {
        problems.push(FieldError::new("sn", wire::TERMINAL_SN_INVALID.code));
        return Err(ApiError::fields(problems));
    };
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let terminal = state
        .db(|conn| inventory_rows(conn, Some(&sn)))?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::new(&wire::TERMINAL_NOT_FOUND))?;
    let jpeg = tokio::task::spawn_blocking(move || draw(&terminal.qr_text, width, angle))
        .await
        .map_err(|e| ApiError::internal(format!("back photo task: {e}")))??;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

/// Draws the photo: the QR on its sticker, turned, JPEG-encoded, with the
/// core's own sample photos of back QRs (`terminals::photo::sample`).
pub fn draw(qr_text: &str, width: u32, angle_degrees: f64) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::new(qr_text.as_bytes())
        .map_err(|e| ApiError::internal(format!("qr encode: {e}")))?;
    let dark: Vec<bool> = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    let modules = sample::Modules {
        dark: &dark,
        size: code.width(),
    };
    let case = sample::Case {
        width,
        height: width * 3 / 4,
        // The code's modules take 30 % of the photo's width.
        fraction: 0.3,
        angle: angle_degrees as f32,
        blur: 0.0,
        quality: 85,
        seed: 1,
    };
    Ok(sample::jpeg(&modules, &case))
}
