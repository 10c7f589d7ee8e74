//! media: images from outside (document photos, photos of a terminal's back
//! QR) under limits: sniff by bytes, refuse above the pixel budget before
//! decoding, decode with limits, orient, strip metadata, re-encode.
//!
//! Every image that comes from outside goes through here once:
//!
//! - [`probe`] sniffs the format by its magic bytes (JPEG or PNG, nothing
//!   else), checks the byte size, and reads the dimensions from the header
//!   only; a declared size above the [`Budget`]'s pixel limit is refused
//!   before a single pixel is decoded (a decompression bomb is never
//!   decoded).
//! - [`decode`] probes, then decodes with `image::Limits` bounded by the
//!   budget and applies the EXIF orientation.
//! - [`prepare`] makes what is uploaded: decoded, scaled so that its longest
//!   side is at most [`MAX_SIDE`], oriented, and re-encoded from its pixels,
//!   so that no metadata block of the original (EXIF with GPS, XMP, comments,
//!   ICC profiles, PNG text chunks) survives; at most [`MAX_UPLOAD_BYTES`].
//!
//! Errors are `Input` errors with a `photo.*` code; their details (for the log)
//! give sizes, never content.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::{CompressionType, FilterType, PngDecoder, PngEncoder};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, Limits};

use crate::error::{Error, Problem, Result};

pub mod sample;
#[cfg(test)]
mod tests;

crate::codes! {
    PHOTO_EMPTY = Input, "photo.empty", "照片文件为空", "The photo file is empty";
    PHOTO_NOT_IMAGE = Input, "photo.not_image", "只支持 JPEG 或 PNG 格式的照片", "Only JPEG or PNG photos are accepted";
    PHOTO_TOO_LARGE = Input, "photo.too_large", "照片文件太大，不能超过 10 MB", "The photo file is too large; it must not exceed 10 MB";
    PHOTO_TOO_SMALL = Input, "photo.too_small", "照片分辨率太低，请重新拍摄清晰的照片", "The photo's resolution is too low; take a sharper photo";
    PHOTO_TOO_MANY_PIXELS = Input, "photo.too_many_pixels", "照片像素过多，无法处理", "The photo has too many pixels to be processed";
    PHOTO_CORRUPT = Input, "photo.corrupt", "照片文件已损坏或不完整", "The photo file is damaged or incomplete";
    PHOTO_CANNOT_FIT = Input, "photo.cannot_fit", "照片无法压缩到 2 MB 以内", "The photo cannot be made smaller than 2 MB";
    PHOTO_SIGNATURE_NOT_PNG = Input, "photo.signature_not_png", "签名须为 PNG 图片", "The signature must be a PNG image";
}

/// The longest side, in pixels, of what is uploaded.
pub const MAX_SIDE: u32 = 2560;

/// The largest upload, in bytes (2 MB).
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;

/// The JPEG qualities tried in turn until the photo fits [`MAX_UPLOAD_BYTES`].
const QUALITIES: [u8; 7] = [88, 80, 72, 64, 56, 48, 40];

/// The longest sides tried, after [`MAX_SIDE`] at every quality, when even
/// the lowest quality does not fit, each with these qualities.
const FALLBACK_SIDES: [u32; 2] = [1920, 1280];
const FALLBACK_QUALITIES: [u8; 2] = [64, 40];

/// The file formats accepted, told by their bytes, never by a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhotoFormat {
    Jpeg,
    Png,
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

impl PhotoFormat {
    /// `jpeg` or `png`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "jpeg",
            PhotoFormat::Png => "png",
        }
    }

    /// The MIME type, for an upload.
    pub fn content_type(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
        }
    }

    /// The format the magic bytes announce, if any.
    pub fn sniff(bytes: &[u8]) -> Option<PhotoFormat> {
        if bytes.starts_with(PNG_MAGIC) {
            Some(PhotoFormat::Png)
        } else if bytes.starts_with(JPEG_MAGIC) {
            Some(PhotoFormat::Jpeg)
        } else {
            None
        }
    }
}

/// What an image from outside may be: its file size, its pixel count, and
/// its minimum size (the shorter side and the longer side, so that a
/// landscape and a portrait photo are judged alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_bytes: usize,
    pub max_pixels: u64,
    pub min_short_side: u32,
    pub min_long_side: u32,
}

impl Budget {
    /// A photo of a document or of the shop: at most 10 MB and 40 megapixels,
    /// at least 600x400 (or 400x600).
    pub const DOCUMENT: Budget = Budget {
        max_bytes: 10 * 1024 * 1024,
        max_pixels: 40_000_000,
        min_short_side: 400,
        min_long_side: 600,
    };

    /// A photo of a QR code: as a document, but at least 21x21 (the smallest
    /// QR code, one pixel a module).
    pub const QR_PHOTO: Budget = Budget {
        min_short_side: 21,
        min_long_side: 21,
        ..Budget::DOCUMENT
    };

    /// The merchant's handwritten signature: as a document, but at least
    /// 64x32 (or 32x64).
    pub const SIGNATURE: Budget = Budget {
        min_short_side: 32,
        min_long_side: 64,
        ..Budget::DOCUMENT
    };

    /// The bytes the decoder may allocate: the pixels at four bytes each,
    /// plus room for the decoder's own work.
    fn max_alloc(&self) -> u64 {
        self.max_pixels.saturating_mul(4).saturating_add(16 << 20)
    }
}

/// What the header says: the format and the size as shown, after the EXIF
/// orientation (a portrait photo stored sideways reads as portrait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
}

/// Sniffs, checks the byte size, and reads the header only. A declared size
/// over the pixel budget is refused here, before any pixel is decoded.
pub fn probe(bytes: &[u8], budget: &Budget) -> Result<Probe> {
    guarded(|| open(bytes, budget).map(|opened| opened.probe))
}

/// Probes, then decodes under limits from the budget and applies the EXIF
/// orientation.
pub fn decode(bytes: &[u8], budget: &Budget) -> Result<DynamicImage> {
    guarded(|| {
        let opened = open(bytes, budget)?;
        let orientation = opened.orientation;
        let mut image = opened.read(budget)?;
        image.apply_orientation(orientation);
        Ok(image)
    })
}

/// What a photo is prepared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A photo of a document or of the shop (JPEG or PNG in); always a JPEG
    /// out, transparency flattened onto white.
    Document,
    /// The merchant's handwritten signature: a PNG in, a PNG out
    /// (transparency kept).
    Signature,
}

/// What is uploaded: re-encoded from the pixels (no metadata), oriented, at
/// most [`MAX_SIDE`] on its longest side and [`MAX_UPLOAD_BYTES`] long.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedPhoto {
    pub bytes: Vec<u8>,
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
}

impl std::fmt::Debug for PreparedPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedPhoto")
            .field("len", &self.bytes.len())
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Prepares a photo for upload. Deterministic: the same bytes in give the
/// same bytes out.
///
/// A document becomes a JPEG at the first quality of 88, 80, ... 40 that
/// fits 2 MB; if none does, its longest side is cut to 1920 then 1280 (at
/// qualities 64 and 40) before it is refused with `photo.cannot_fit`. A
/// signature stays a PNG, refused with `photo.cannot_fit` if it does not fit.
pub fn prepare(bytes: &[u8], target: Target) -> Result<PreparedPhoto> {
    guarded(|| {
        let budget = match target {
            Target::Document => Budget::DOCUMENT,
            Target::Signature => {
                if PhotoFormat::sniff(bytes) == Some(PhotoFormat::Jpeg) {
                    return Err(refuse(&PHOTO_SIGNATURE_NOT_PNG));
                }
                Budget::SIGNATURE
            }
        };
        let opened = open(bytes, &budget)?;
        let orientation = opened.orientation;
        let image = opened.read(&budget)?;
        match target {
            Target::Document => prepare_document(image, orientation),
            Target::Signature => prepare_signature(image, orientation),
        }
    })
}

fn prepare_document(image: DynamicImage, orientation: Orientation) -> Result<PreparedPhoto> {
    // Scale first: the smaller image is the one converted and rotated.
    let image = flatten(scale_to(image, MAX_SIDE));
    let mut image = image;
    image.apply_orientation(orientation);
    for quality in QUALITIES {
        let jpeg = encode_jpeg(&image, quality)?;
        if jpeg.len() <= MAX_UPLOAD_BYTES {
            return Ok(prepared(jpeg, PhotoFormat::Jpeg, &image));
        }
    }
    for side in FALLBACK_SIDES {
        let smaller = scale_to(image.clone(), side);
        for quality in FALLBACK_QUALITIES {
            let jpeg = encode_jpeg(&smaller, quality)?;
            if jpeg.len() <= MAX_UPLOAD_BYTES {
                return Ok(prepared(jpeg, PhotoFormat::Jpeg, &smaller));
            }
        }
    }
    Err(refuse(&PHOTO_CANNOT_FIT).detail(format!(
        "{}x{} does not fit {MAX_UPLOAD_BYTES} bytes",
        image.width(),
        image.height()
    )))
}

fn prepare_signature(image: DynamicImage, orientation: Orientation) -> Result<PreparedPhoto> {
    let image = scale_to(image, MAX_SIDE);
    // Eight bits a channel: PNG's 16-bit depth adds nothing to handwriting.
    let mut image = match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    image.apply_orientation(orientation);
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Default, FilterType::Adaptive)
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .map_err(|e| refuse(&PHOTO_CORRUPT).detail(format!("png encoding: {e}")))?;
    if png.len() > MAX_UPLOAD_BYTES {
        return Err(refuse(&PHOTO_CANNOT_FIT).detail(format!(
            "signature png {} bytes over {MAX_UPLOAD_BYTES}",
            png.len()
        )));
    }
    Ok(prepared(png, PhotoFormat::Png, &image))
}

fn prepared(bytes: Vec<u8>, format: PhotoFormat, image: &DynamicImage) -> PreparedPhoto {
    let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    PreparedPhoto {
        bytes,
        format,
        width: image.width(),
        height: image.height(),
        sha256,
    }
}

/// The image with its longest side at most `side`, the aspect ratio kept,
/// by area averaging (each output pixel the mean of the input pixels it
/// covers: no aliasing, deterministic, and no float copy of the image).
fn scale_to(image: DynamicImage, side: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let longest = w.max(h);
    if longest <= side || longest == 0 {
        return image;
    }
    let scaled = |v: u32| {
        let v = (u64::from(v) * u64::from(side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(v).unwrap_or(side).max(1)
    };
    image.thumbnail_exact(scaled(w), scaled(h))
}

/// A JPEG-ready image: 8-bit grey stays grey, everything else becomes 8-bit
/// RGB, transparency composed onto white (a transparent PNG turns white, as
/// it looks on screen, not black).
fn flatten(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            let (w, h) = rgba.dimensions();
            let mut rgb = image::RgbImage::new(w, h);
            for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
                let [r, g, b, a] = px.0;
                let over_white = |c: u8| {
                    let (c, a) = (u16::from(c), u16::from(a));
                    // c·a + 255·(255 − a), rounded, over 255: at most 255.
                    ((c * a + 255 * (255 - a) + 127) / 255) as u8
                };
                out.0 = [over_white(r), over_white(g), over_white(b)];
            }
            DynamicImage::ImageRgb8(rgb)
        }
        other if other.color().has_color() => DynamicImage::ImageRgb8(other.to_rgb8()),
        other => DynamicImage::ImageLuma8(other.to_luma8()),
    }
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<Vec<u8>> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode_image(image)
        .map_err(|e| refuse(&PHOTO_CORRUPT).detail(format!("jpeg encoding: {e}")))?;
    Ok(jpeg)
}

/// A file whose header has been read and checked against the budget.
struct Opened<'a> {
    probe: Probe,
    orientation: Orientation,
    decoder: Decoder<'a>,
}

enum Decoder<'a> {
    Jpeg(JpegDecoder<Cursor<&'a [u8]>>),
    Png(Box<PngDecoder<Cursor<&'a [u8]>>>),
}

impl Opened<'_> {
    fn read(self, budget: &Budget) -> Result<DynamicImage> {
        match self.decoder {
            Decoder::Jpeg(d) => read_pixels(d, budget),
            Decoder::Png(d) => read_pixels(*d, budget),
        }
    }
}

fn limits(budget: &Budget) -> Limits {
    let side = u32::try_from(budget.max_pixels).unwrap_or(u32::MAX);
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(budget.max_alloc());
    limits
}

fn read_pixels(mut decoder: impl ImageDecoder, budget: &Budget) -> Result<DynamicImage> {
    let limits = limits(budget);
    let needed = decoder.total_bytes();
    if needed > budget.max_alloc() {
        return Err(refuse(&PHOTO_TOO_MANY_PIXELS).detail(format!(
            "{needed} decoded bytes over {}",
            budget.max_alloc()
        )));
    }
    decoder.set_limits(limits).map_err(image_error)?;
    DynamicImage::from_decoder(decoder).map_err(image_error)
}

fn open<'a>(bytes: &'a [u8], budget: &Budget) -> Result<Opened<'a>> {
    if bytes.is_empty() {
        return Err(refuse(&PHOTO_EMPTY));
    }
    let Some(format) = PhotoFormat::sniff(bytes) else {
        return Err(refuse(&PHOTO_NOT_IMAGE));
    };
    if bytes.len() > budget.max_bytes {
        return Err(refuse(&PHOTO_TOO_LARGE).detail(format!(
            "{} bytes over {}",
            bytes.len(),
            budget.max_bytes
        )));
    }
    let (mut decoder, (width, height)) = match format {
        PhotoFormat::Png => {
            // The dimensions from IHDR, checked before the decoder reads on.
            let dimensions = png_dimensions(bytes)?;
            check_size(dimensions, budget)?;
            let decoder =
                PngDecoder::with_limits(Cursor::new(bytes), limits(budget)).map_err(image_error)?;
            (Decoder::Png(Box::new(decoder)), dimensions)
        }
        PhotoFormat::Jpeg => {
            if !jpeg_complete(bytes) {
                return Err(refuse(&PHOTO_CORRUPT).detail("no end of image after the scan"));
            }
            // Reads the headers only.
            let decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(image_error)?;
            let dimensions = decoder.dimensions();
            check_size(dimensions, budget)?;
            (Decoder::Jpeg(decoder), dimensions)
        }
    };
    // A malformed EXIF block leaves the photo as stored.
    let orientation = match &mut decoder {
        Decoder::Jpeg(d) => d.orientation(),
        Decoder::Png(d) => d.orientation(),
    }
    .unwrap_or(Orientation::NoTransforms);
    let (width, height) = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    };
    Ok(Opened {
        probe: Probe {
            format,
            width,
            height,
        },
        orientation,
        decoder,
    })
}

/// Refuses a declared size over the pixel budget or under the minimum.
fn check_size((width, height): (u32, u32), budget: &Budget) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(refuse(&PHOTO_CORRUPT).detail("a side of zero pixels"));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > budget.max_pixels {
        return Err(refuse(&PHOTO_TOO_MANY_PIXELS).detail(format!(
            "{width}x{height} over {} pixels",
            budget.max_pixels
        )));
    }
    let (short, long) = (width.min(height), width.max(height));
    if short < budget.min_short_side || long < budget.min_long_side {
        return Err(refuse(&PHOTO_TOO_SMALL).detail(format!(
            "{width}x{height} under {}x{}",
            budget.min_long_side, budget.min_short_side
        )));
    }
    Ok(())
}

/// Width and height from the IHDR chunk, which must come first.
fn png_dimensions(bytes: &[u8]) -> Result<(u32, u32)> {
    let corrupt = || refuse(&PHOTO_CORRUPT).detail("no IHDR chunk first");
    let ihdr = bytes.get(8..24).ok_or_else(corrupt)?;
    if ihdr.get(0..8) != Some(&[0, 0, 0, 13, b'I', b'H', b'D', b'R'][..]) {
        return Err(corrupt());
    }
    let be = |at: usize| {
        ihdr.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(corrupt)
    };
    Ok((be(8)?, be(12)?))
}

/// Whether an end-of-image marker follows the first scan: a JPEG cut short
/// has none (entropy-coded data never holds FF D9; a thumbnail's EOI inside
/// an APP segment comes before the scan and does not count).
fn jpeg_complete(bytes: &[u8]) -> bool {
    let mut at = 2;
    loop {
        if bytes.get(at) != Some(&0xFF) {
            return false;
        }
        // Fill bytes: any number of FF before the marker.
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at + 1) else {
            return false;
        };
        match marker {
            0x01 | 0xD0..=0xD8 => at += 2,
            0xD9 => return false,
            _ => {
                let Some(len) = bytes
                    .get(at + 2..at + 4)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                else {
                    return false;
                };
                let next = at + 2 + len;
                if marker == 0xDA {
                    return bytes
                        .get(next..)
                        .is_some_and(|scan| scan.windows(2).any(|w| w == [0xFF, 0xD9]));
                }
                at = next;
            }
        }
    }
}

fn image_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(e) => refuse(&PHOTO_TOO_MANY_PIXELS).detail(e.to_string()),
        ImageError::Unsupported(e) => refuse(&PHOTO_CORRUPT).detail(format!("unsupported: {e}")),
        other => refuse(&PHOTO_CORRUPT).detail(other.to_string()),
    }
}

/// An `Input` error with its one problem.
fn refuse(code: &'static crate::error::Code) -> Error {
    Error::input(code, vec![Problem::new(code, "")])
}

/// Runs image work so that a defect in a decoder, whatever the bytes, ends
/// as `photo.corrupt` and never as a panic across the FFI.
fn guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(refuse(&PHOTO_CORRUPT).detail("the decoder failed")))
}
