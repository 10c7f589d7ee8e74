//! `GET /sandbox/terminals/{sn}/back-photo`: a photo of a terminal's back,
//! its QR as the camera would see it, so that app developers (and the
//! tests) can try the "scan the back QR" flow without a camera or a
//! terminal. The QR is drawn from the inventory's QR text by a real QR
//! encoder, on a light label on the dark plastic of the terminal, turned by
//! `angle` degrees, in a JPEG `width` pixels wide (4:3).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use image::{Rgb, RgbImage};
use merchant_contract::domain as wire;
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

/// Draws the photo: the QR on its label, turned, JPEG-encoded.
pub fn draw(qr_text: &str, width: u32, angle_degrees: f64) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::new(qr_text.as_bytes())
        .map_err(|e| ApiError::internal(format!("qr encode: {e}")))?;
    let n = u32::try_from(code.width()).map_err(|_| ApiError::internal("qr width"))?;
    let colors = code.to_colors();
    let height = width * 3 / 4;
    // The label with its quiet zone takes 40% of the photo's width.
    let label_modules = n + 8;
    let module = ((width * 2 / 5) / label_modules).max(1);
    let label = label_modules * module;
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let (sin, cos) = angle_degrees.to_radians().sin_cos();
    let half = f64::from(label) / 2.0;
    let plastic = |x: u32, y: u32| -> u8 {
        // A faint diagonal texture, as on moulded plastic.
        let t = (x.wrapping_mul(7) ^ y.wrapping_mul(13)) % 9;
        46 + u8::try_from(t).unwrap_or(0)
    };
    let mut img = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            // Back-rotate the pixel into label coordinates.
            let dx = f64::from(x) + 0.5 - cx;
            let dy = f64::from(y) + 0.5 - cy;
            let lx = dx * cos + dy * sin + half;
            let ly = -dx * sin + dy * cos + half;
            let v = if lx >= 0.0 && ly >= 0.0 && lx < f64::from(label) && ly < f64::from(label) {
                // In the label: which module?
                let mx = (lx / f64::from(module)) as u32;
                let my = (ly / f64::from(module)) as u32;
                let inside = mx >= 4 && my >= 4 && mx < n + 4 && my < n + 4;
                let dark = inside
                    && colors
                        .get(((my - 4) * n + (mx - 4)) as usize)
                        .is_some_and(|c| *c == qrcode::Color::Dark);
                if dark { 24 } else { 238 }
            } else {
                plastic(x, y)
            };
            img.put_pixel(x, y, Rgb([v, v, v.saturating_add(4)]));
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .map_err(|e| ApiError::internal(format!("jpeg encode: {e}")))?;
    Ok(out)
}
