//! Area `photo`: preparing a 12-megapixel camera photo for upload
//! (`media::prepare`), beside a plain decode and re-encode by the image
//! crate of the same photo; peak memory of each in a child process beside a
//! child that only loads the bytes.

use std::io::Cursor;
use std::path::Path;

use image::ImageReader;
use image::codecs::jpeg::JpegEncoder;
use merchant_core::media::{self, Target, sample};

use super::{Area, Figure, Options, peak_rss_mb, time};

pub const AREA: Area = Area {
    name: "photo",
    about: "prepare a 12-MP camera photo for upload, against a plain decode and encode",
    run,
    child,
};

/// The quality the reference encodes at: the first one `prepare` tries.
const REFERENCE_QUALITY: u8 = 88;

fn run(options: &Options) -> Result<Vec<Figure>, String> {
    // A phone's portrait photo: stored 4000x3000 with EXIF orientation 6.
    let input = sample::camera_photo(4000, 3000, 2026, 6);
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), &input).map_err(|e| e.to_string())?;

    let prepared = media::prepare(&input, Target::Document).map_err(|e| e.to_string())?;
    let prepare = time(options.runs, || media::prepare(&input, Target::Document));
    let reference = time(options.runs, || reference_decode_encode(&input));

    let peak = peak_rss_mb(AREA.name, "prepare", file.path());
    let baseline = peak_rss_mb(AREA.name, "load", file.path());

    Ok(vec![
        Figure::new(
            "input_bytes",
            Some(input.len() as f64),
            "B",
            "the camera JPEG (4000x3000, EXIF orientation 6 and GPS)",
        ),
        Figure::new(
            "output_bytes",
            Some(prepared.bytes.len() as f64),
            "B",
            "what is uploaded (1920x2560 JPEG)",
        ),
        Figure::new(
            "photo_prepare_ms",
            Some(prepare.median_ms),
            "ms",
            "media::prepare: probe, decode under limits, scale, orient, encode to fit 2 MB",
        ),
        Figure::new(
            "reference_decode_encode_ms",
            Some(reference.median_ms),
            "ms",
            "reference: image crate decode, JPEG encode at quality 88, full size",
        ),
        Figure::ratio(
            "prepare_vs_reference",
            Some(prepare.median_ms),
            Some(reference.median_ms),
            "photo_prepare_ms / reference_decode_encode_ms",
        ),
        Figure::new(
            "photo_peak_rss_mb",
            peak,
            "MB",
            "peak resident memory of a child that loads the file and prepares it",
        ),
        Figure::new(
            "baseline_peak_rss_mb",
            baseline,
            "MB",
            "peak resident memory of a child that only loads the file",
        ),
    ])
}

/// The plain way: decode with the image crate's defaults, encode the whole
/// picture again; no budget, orientation, scaling or size target.
fn reference_decode_encode(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let image = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, REFERENCE_QUALITY)
        .encode_image(&image)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn child(probe: &str, input: &Path) -> Result<(), String> {
    let bytes = std::fs::read(input).map_err(|e| e.to_string())?;
    match probe {
        "load" => {
            std::hint::black_box(&bytes);
            Ok(())
        }
        "prepare" => media::prepare(&bytes, Target::Document)
            .map(|p| {
                std::hint::black_box(p);
            })
            .map_err(|e| e.to_string()),
        other => Err(format!("no probe {other}")),
    }
}
