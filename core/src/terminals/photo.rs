//! terminals::photo: the back QR read from a photo of the terminal's back.
//!
//! [`scan_qr_photo`] decodes the photo through media/ (sniffed by its bytes,
//! refused above 40 megapixels before decoding, decoded under limits: the
//! `photo.*` codes), turns it to grey, and searches it for QR codes with
//! rqrr (pure Rust) in up to three passes, cheapest first:
//!
//! 1. the photo scaled (down only) so that its longest side is 1600 px, with
//!    rqrr's own thresholding (a code a tenth of a 12-MP photo's width is
//!    then about 4 px a module);
//! 2. the photo scaled (up or down) to 2400 px, binarised by our own local
//!    mean threshold (a box a 40th of the side): small, blurred or
//!    JPEG-smeared codes, whose modules rqrr's row-wise threshold loses;
//! 3. the same binarisation at 1600 px.
//!
//! The first code whose text [`parse_qr_text`] accepts is the answer. When
//! codes were read but none was accepted, the refusal of the first one read
//! is returned (a phishing sticker is `qr.untrusted_host`, not "no code");
//! when none was read at all, `qr.not_found`.
//!
//! Time and memory are bounded by the media budget (at most 40 megapixels
//! decoded), the grey copy (one byte a pixel) and the scaled copies (at most
//! 2400 px a side, with a 4-byte integral image): three searches over at most
//! 5.8 megapixels each, and at most [`MAX_GRIDS`] grids decoded.

use image::{DynamicImage, GrayImage};

use crate::error::{Error, Problem, Result};
use crate::media::{self, Budget};
use crate::terminals::qr::{TerminalQr, parse_qr_text};

crate::codes! {
    QR_NOT_FOUND = Input, "qr.not_found", "照片中没有找到可识别的二维码，请对准终端背面的二维码重新拍摄", "No readable QR code was found in the photo; photograph the QR on the terminal's back again";
}

/// The first pass's longest side (scaled down only).
pub const FIRST_SIDE: u32 = 1600;
/// The binarised passes' longest sides (scaled up or down).
pub const BINARISED_SIDES: [u32; 2] = [2400, 1600];
/// Most grids decoded per photo: a photo full of QR-like patterns does not
/// buy unbounded work.
pub const MAX_GRIDS: usize = 16;

/// Reads the terminal's back QR from a JPEG or PNG photo.
///
/// Codes: media's `photo.*` for bytes that are not a JPEG or PNG, a damaged
/// or truncated file, more than 40 megapixels declared; `qr.not_found` when
/// no code can be read; otherwise those of [`parse_qr_text`] for a code that
/// was read but is not a terminal back QR.
pub fn scan_qr_photo(bytes: &[u8], trusted_hosts: &[String]) -> Result<TerminalQr> {
    scan_qr_photo_text(bytes, trusted_hosts).map(|(qr, _)| qr)
}

/// [`scan_qr_photo`], with the text the code holds (accepted by
/// [`parse_qr_text`]): what a bind by photo sends, as a bind by QR text does.
pub fn scan_qr_photo_text(bytes: &[u8], trusted_hosts: &[String]) -> Result<(TerminalQr, String)> {
    let image = media::decode(bytes, &Budget::QR_PHOTO)?;
    scan_image_text(image, trusted_hosts)
}

/// [`scan_qr_photo`] for an image already decoded.
pub fn scan_image(image: DynamicImage, trusted_hosts: &[String]) -> Result<TerminalQr> {
    scan_image_text(image, trusted_hosts).map(|(qr, _)| qr)
}

/// [`scan_qr_photo_text`] for an image already decoded.
pub fn scan_image_text(
    image: DynamicImage,
    trusted_hosts: &[String],
) -> Result<(TerminalQr, String)> {
    let luma = image.into_luma8();
    let mut search = Search {
        trusted_hosts,
        first_refusal: None,
        grids: 0,
    };
    let first = downscale(&luma, FIRST_SIDE);
    let (w, h) = (first.width() as usize, first.height() as usize);
    let raw = first.as_raw();
    let found = search.run(|budget| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            raw.get(y * w + x).copied().unwrap_or(255)
        });
        decode_grids(prepared.detect_grids(), budget)
    });
    if let Some(found) = found {
        return Ok(found);
    }
    drop(first);
    for side in BINARISED_SIDES {
        let scaled = resize_long_side(&luma, side);
        let (w, h) = (scaled.width() as usize, scaled.height() as usize);
        let radius = (w.max(h) / 40).max(1);
        let dark = binarise(&scaled, radius, 4);
        drop(scaled);
        let found = search.run(|budget| {
            let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| {
                dark.get(y * w + x).copied().unwrap_or(false)
            });
            decode_grids(prepared.detect_grids(), budget)
        });
        if let Some(found) = found {
            return Ok(found);
        }
    }
    Err(search
        .first_refusal
        .unwrap_or_else(|| Error::input(&QR_NOT_FOUND, vec![Problem::new(&QR_NOT_FOUND, "")])))
}

struct Search<'a> {
    trusted_hosts: &'a [String],
    first_refusal: Option<Error>,
    grids: usize,
}

impl Search<'_> {
    /// Searches one prepared image; the first accepted code, if any.
    fn run(
        &mut self,
        detect: impl FnOnce(usize) -> Vec<Option<String>>,
    ) -> Option<(TerminalQr, String)> {
        let budget = MAX_GRIDS.saturating_sub(self.grids);
        if budget == 0 {
            return None;
        }
        // rqrr is third-party code fed with pixels from outside: a panic in
        // it is a code not found, never a crash of the app.
        let texts = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| detect(budget)))
            .unwrap_or_default();
        for text in texts {
            self.grids += 1;
            let Some(text) = text else { continue };
            match parse_qr_text(&text, self.trusted_hosts) {
                Ok(found) => return Some((found, text)),
                Err(e) => {
                    self.first_refusal.get_or_insert(e);
                }
            }
        }
        None
    }
}

/// The text of each grid that decodes (`None` for one that does not), at
/// most `budget` grids.
fn decode_grids<G: rqrr::BitGrid>(grids: Vec<rqrr::Grid<G>>, budget: usize) -> Vec<Option<String>> {
    grids
        .into_iter()
        .take(budget)
        .map(|grid| grid.decode().map(|(_, text)| text).ok())
        .collect()
}

/// `src` scaled so that its longest side is `side`: down by area
/// averaging, up bilinearly.
pub fn resize_long_side(src: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = src.dimensions();
    let long = w.max(h);
    if long >= side || long == 0 {
        return downscale(src, side);
    }
    let scale = |v: u32| ((u64::from(v) * u64::from(side) / u64::from(long)) as u32).max(1);
    let (nw, nh) = (scale(w), scale(h));
    let fx = w as f32 / nw as f32;
    let fy = h as f32 / nh as f32;
    let at = |x: u32, y: u32| f32::from(src.get_pixel(x.min(w - 1), y.min(h - 1)).0[0]);
    GrayImage::from_fn(nw, nh, |x, y| {
        let u = ((x as f32 + 0.5) * fx - 0.5).max(0.0);
        let v = ((y as f32 + 0.5) * fy - 0.5).max(0.0);
        let (x0, y0) = (u as u32, v as u32);
        let (ax, ay) = (u - x0 as f32, v - y0 as f32);
        let top = at(x0, y0) * (1.0 - ax) + at(x0 + 1, y0) * ax;
        let bottom = at(x0, y0 + 1) * (1.0 - ax) + at(x0 + 1, y0 + 1) * ax;
        image::Luma([(top * (1.0 - ay) + bottom * ay).round() as u8])
    })
}

/// Dark pixels: darker by more than `offset` than the mean of the box of
/// `radius` around them (an integral image makes each box O(1)).
fn binarise(src: &GrayImage, radius: usize, offset: u32) -> Vec<bool> {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let raw = src.as_raw();
    let stride = w + 1;
    // At most 2400 x 2400 x 255 < 2^32: the sums fit a u32.
    let mut integral = vec![0u32; stride * (h + 1)];
    for (y, row) in raw.chunks_exact(w.max(1)).enumerate().take(h) {
        let mut sum = 0u32;
        for (x, &p) in row.iter().enumerate() {
            sum = sum.saturating_add(u32::from(p));
            let above = integral.get(y * stride + x + 1).copied().unwrap_or(0);
            if let Some(cell) = integral.get_mut((y + 1) * stride + x + 1) {
                *cell = above.saturating_add(sum);
            }
        }
    }
    let at = |x: usize, y: usize| integral.get(y * stride + x).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let sum = (at(x1, y1) + at(x0, y0)).wrapping_sub(at(x1, y0) + at(x0, y1));
            let count = ((y1 - y0) * (x1 - x0)).max(1) as u32;
            let pixel = u32::from(raw.get(y * w + x).copied().unwrap_or(255));
            out.push(pixel * count + offset * count < sum);
        }
    }
    out
}

/// `src` scaled down by area averaging so that its longest side is at most
/// `max_side` (a copy of `src` when it already is).
pub fn downscale(src: &GrayImage, max_side: u32) -> GrayImage {
    let (w, h) = src.dimensions();
    let long = w.max(h);
    if long <= max_side || max_side == 0 {
        return src.clone();
    }
    let scale = |v: u32| ((u64::from(v) * u64::from(max_side) / u64::from(long)) as u32).max(1);
    let (nw, nh) = (scale(w), scale(h));
    // The source span of each output column: [start, end), never empty.
    let span = |i: u32, n: u32, len: u32| {
        let start = (u64::from(i) * u64::from(len) / u64::from(n)) as usize;
        let end = (u64::from(i + 1) * u64::from(len) / u64::from(n)) as usize;
        (start, end.max(start + 1).min(len as usize))
    };
    let columns: Vec<(usize, usize)> = (0..nw).map(|i| span(i, nw, w)).collect();
    let mut out = Vec::with_capacity(nw as usize * nh as usize);
    let mut sums = vec![0u32; w as usize];
    let rows: Vec<&[u8]> = src.as_raw().chunks_exact(w as usize).collect();
    for oy in 0..nh {
        let (y0, y1) = span(oy, nh, h);
        sums.iter_mut().for_each(|s| *s = 0);
        for row in rows.get(y0..y1).unwrap_or_default() {
            for (s, &p) in sums.iter_mut().zip(row.iter()) {
                *s += u32::from(p);
            }
        }
        let height = (y1 - y0) as u32;
        for &(x0, x1) in &columns {
            let total: u32 = sums.get(x0..x1).unwrap_or_default().iter().sum();
            let count = height * (x1 - x0) as u32;
            out.push((total / count.max(1)) as u8);
        }
    }
    GrayImage::from_raw(nw, nh, out).unwrap_or_else(|| src.clone())
}

/// Photos of terminal back QRs for tests and `merchant bench`: a QR code
/// (its module matrix, from any encoder) printed on a white sticker, placed
/// on a camera-like picture at a given size and angle, blurred, and
/// JPEG-compressed. The same case gives the same photo.
pub mod sample {
    use image::{GrayImage, Luma, RgbImage};

    /// One generated photo.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Case {
        pub width: u32,
        pub height: u32,
        /// The side of the code (its modules, not the quiet zone) as a
        /// fraction of the photo's width.
        pub fraction: f32,
        /// Rotation of the code, in degrees.
        pub angle: f32,
        /// Gaussian blur sigma in pixels of the photo (0 = sharp).
        pub blur: f32,
        /// JPEG quality.
        pub quality: u8,
        pub seed: u64,
    }

    /// The grid of cases: every photo size × code size × angle × blur ×
    /// quality given.
    pub fn grid(
        sizes: &[(u32, u32)],
        fractions: &[f32],
        angles: &[f32],
        blurs: &[f32],
        qualities: &[u8],
    ) -> Vec<Case> {
        let mut out = Vec::new();
        for &(width, height) in sizes {
            for &fraction in fractions {
                for &angle in angles {
                    for &blur in blurs {
                        for &quality in qualities {
                            let seed = out.len() as u64 + 1;
                            out.push(Case {
                                width,
                                height,
                                fraction,
                                angle,
                                blur,
                                quality,
                                seed,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// A square module matrix (`true` = dark), row by row, `size` a side.
    pub struct Modules<'a> {
        pub dark: &'a [bool],
        pub size: usize,
    }

    /// The sticker: the code at `module` px a module with a 4-module quiet
    /// zone, dark ink on off-white paper, blurred by `blur`.
    fn sticker(code: &Modules<'_>, module: f32, blur: f32) -> GrayImage {
        let quiet = 4.0;
        let side = ((code.size as f32 + 2.0 * quiet) * module).ceil().max(1.0) as u32;
        let img = GrayImage::from_fn(side, side, |x, y| {
            let mx = (x as f32 + 0.5) / module - quiet;
            let my = (y as f32 + 0.5) / module - quiet;
            let inside = mx >= 0.0 && my >= 0.0 && mx < code.size as f32 && my < code.size as f32;
            let dark = inside
                && code
                    .dark
                    .get(my as usize * code.size + mx as usize)
                    .copied()
                    .unwrap_or(false);
            Luma([if dark { 30 } else { 235 }])
        });
        if blur > 0.0 {
            image::imageops::blur(&img, blur)
        } else {
            img
        }
    }

    /// The photo of `case` with `code` on it, before compression.
    pub fn photo(code: &Modules<'_>, case: &Case) -> RgbImage {
        let mut photo = crate::media::sample::picture(case.width, case.height, case.seed, 12);
        let module = case.fraction * case.width as f32 / code.size.max(1) as f32;
        let sticker = sticker(code, module, case.blur);
        let half = sticker.width() as f32 / 2.0;
        let (sin, cos) = case.angle.to_radians().sin_cos();
        let reach = half * (sin.abs() + cos.abs());
        // The centre: somewhere the whole rotated sticker fits, by the seed.
        let pick = |len: u32, salt: u64| {
            let room = (len as f32 - 2.0 * reach).max(0.0);
            let r = (case.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> salt) % 1000;
            reach.min(len as f32 / 2.0) + room * r as f32 / 1000.0
        };
        let (cx, cy) = (pick(case.width, 7), pick(case.height, 29));
        let x0 = (cx - reach).floor().max(0.0) as u32;
        let y0 = (cy - reach).floor().max(0.0) as u32;
        let x1 = ((cx + reach).ceil() as u32).min(case.width);
        let y1 = ((cy + reach).ceil() as u32).min(case.height);
        for y in y0..y1 {
            for x in x0..x1 {
                // Back from the photo into the upright sticker.
                let dx = x as f32 + 0.5 - cx;
                let dy = y as f32 + 0.5 - cy;
                let u = cos * dx + sin * dy + half - 0.5;
                let v = -sin * dx + cos * dy + half - 0.5;
                if let Some(value) = bilinear(&sticker, u, v) {
                    photo.put_pixel(x, y, image::Rgb([value, value, value]));
                }
            }
        }
        photo
    }

    /// The sticker's grey at (u, v), interpolated; `None` outside it.
    fn bilinear(img: &GrayImage, u: f32, v: f32) -> Option<u8> {
        let (w, h) = (img.width() as f32, img.height() as f32);
        if u < -0.5 || v < -0.5 || u > w - 0.5 || v > h - 0.5 {
            return None;
        }
        let u = u.clamp(0.0, w - 1.0);
        let v = v.clamp(0.0, h - 1.0);
        let (x0, y0) = (u.floor() as u32, v.floor() as u32);
        let (x1, y1) = (
            (x0 + 1).min(img.width() - 1),
            (y0 + 1).min(img.height() - 1),
        );
        let (fx, fy) = (u - x0 as f32, v - y0 as f32);
        let p = |x, y| f32::from(img.get_pixel(x, y).0[0]);
        let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
        let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
        Some((top * (1.0 - fy) + bottom * fy).round() as u8)
    }

    /// The JPEG of `case`'s photo.
    pub fn jpeg(code: &Modules<'_>, case: &Case) -> Vec<u8> {
        crate::media::sample::jpeg(&photo(code, case), case.quality)
    }
}

#[cfg(test)]
mod tests {
    use super::sample::{Case, Modules};
    use super::*;

    const HOST: &str = "qr.sandbox.lakala.example";
    const TEXT: &str =
        "https://qr.sandbox.lakala.example/activate?sn=LKLA800123455&sig=0123456789abcdef";

    fn hosts() -> Vec<String> {
        vec![HOST.to_owned()]
    }

    fn modules(text: &str) -> (Vec<bool>, usize) {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let size = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        (dark, size)
    }

    fn scan_case(text: &str, case: &Case) -> Result<TerminalQr> {
        let (dark, size) = modules(text);
        let bytes = sample::jpeg(&Modules { dark: &dark, size }, case);
        scan_qr_photo(&bytes, &hosts())
    }

    fn case(width: u32, height: u32, fraction: f32, angle: f32, blur: f32, quality: u8) -> Case {
        Case {
            width,
            height,
            fraction,
            angle,
            blur,
            quality,
            seed: 7,
        }
    }

    /// The grid the tests read: 2-MP and 3-MP photos, the code a tenth to
    /// a fifth of the width, eight angles round the circle, sharp and
    /// slightly blurred, JPEG at 60 and 85.
    fn test_grid() -> Vec<Case> {
        sample::grid(
            &[(1600, 1200), (2000, 1500)],
            &[0.10, 0.2],
            &[0.0, 37.0, 90.0, 135.0, 200.0, 251.0, 300.0, 333.0],
            &[0.0, 1.0],
            &[60, 85],
        )
    }

    #[test]
    fn reads_codes_at_any_angle_size_blur_and_quality() {
        let (dark, size) = modules(TEXT);
        let code = Modules { dark: &dark, size };
        let cases: Vec<Case> = test_grid().into_iter().step_by(4).collect();
        let mut missed = Vec::new();
        for c in &cases {
            let bytes = sample::jpeg(&code, c);
            match scan_qr_photo(&bytes, &hosts()) {
                Ok(q) => assert_eq!(q.sn, "LKLA800123455"),
                Err(e) => missed.push((c.angle, c.fraction, c.blur, c.quality, e.code)),
            }
        }
        // Every case of this grid meets the requirement (a tenth of the
        // width or more, slightly blurred, JPEG): all must read.
        assert!(missed.is_empty(), "missed {missed:?} of {}", cases.len());
    }

    #[test]
    fn reads_a_small_rotated_blurred_code_in_a_12_megapixel_photo() {
        let c = case(4000, 3000, 0.10, 45.0, 1.0, 60);
        let q = scan_case(TEXT, &c).unwrap();
        assert_eq!(
            q,
            TerminalQr {
                sn: "LKLA800123455".into(),
                model: None,
                sig: Some("0123456789abcdef".into())
            }
        );
    }

    #[test]
    fn a_photo_without_a_code_is_not_found() {
        let photo = crate::media::sample::picture(1600, 1200, 3, 12);
        let bytes = crate::media::sample::jpeg(&photo, 80);
        let e = scan_qr_photo(&bytes, &hosts()).unwrap_err();
        assert_eq!(e.code, "qr.not_found");
    }

    #[test]
    fn a_phishing_code_is_refused_for_what_it_says() {
        let c = case(1600, 1200, 0.2, 30.0, 0.0, 85);
        let e = scan_case(
            "https://qr.sandbox.lakala.example.evil.com/activate?sn=LKLA800123455",
            &c,
        )
        .unwrap_err();
        assert_eq!(e.code, "qr.untrusted_host");
        let e = scan_case("hello", &c).unwrap_err();
        assert_eq!(e.code, "qr.unrecognised");
    }

    #[test]
    fn bytes_that_are_no_photo_get_media_codes() {
        assert_eq!(
            scan_qr_photo(b"", &hosts()).unwrap_err().code,
            "photo.empty"
        );
        assert_eq!(
            scan_qr_photo(b"GIF89a....", &hosts()).unwrap_err().code,
            "photo.not_image"
        );
        let (dark, size) = modules(TEXT);
        let bytes = sample::jpeg(
            &Modules { dark: &dark, size },
            &case(800, 600, 0.3, 0.0, 0.0, 80),
        );
        let cut = &bytes[..bytes.len() / 2];
        assert_eq!(
            scan_qr_photo(cut, &hosts()).unwrap_err().code,
            "photo.corrupt"
        );
    }

    #[test]
    fn scaling_keeps_the_aspect_and_the_bounds() {
        let img = GrayImage::from_fn(400, 100, |x, _| {
            image::Luma([if x < 200 { 0 } else { 200 }])
        });
        let small = downscale(&img, 100);
        assert_eq!(small.dimensions(), (100, 25));
        assert_eq!(small.get_pixel(10, 10).0[0], 0);
        assert_eq!(small.get_pixel(90, 10).0[0], 200);
        let big = resize_long_side(&img, 800);
        assert_eq!(big.dimensions(), (800, 200));
        assert_eq!(big.get_pixel(700, 100).0[0], 200);
        let bits = binarise(&img, 50, 4);
        assert!(bits[190] && !bits[210] && !bits[10]);
    }
}
