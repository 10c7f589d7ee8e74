//! Area `qr`: reading a terminal's back QR from photos. The read rate over a
//! grid of generated photos (photo size x code size x angle x blur x JPEG
//! quality), and the time of `scan_qr_photo` on a 12-megapixel JPEG beside a
//! plain decode of the same JPEG by the image crate.

use std::path::Path;

use merchant_core::terminals::photo::sample::{self, Case, Modules};
use merchant_core::terminals::photo::scan_qr_photo;
use merchant_core::terminals::qr::default_trusted_hosts;

use super::{Area, Figure, Options, peak_rss_mb, time};

pub const AREA: Area = Area {
    name: "qr",
    about: "read rate of back QRs in generated photos; scan of a 12-MP photo against a plain decode",
    run,
    child,
};

const TEXT: &str =
    "https://qr.sandbox.lakala.example/activate?sn=LKLA800123455&sig=0123456789abcdef";
const SN: &str = "LKLA800123455";

/// The grid: 2-MP and 3-MP photos, the code a tenth and a fifth of the
/// width, six angles, sharp and blurred (sigma 1 px), JPEG 60 and 85.
fn grid() -> Vec<Case> {
    sample::grid(
        &[(1600, 1200), (2000, 1500)],
        &[0.10, 0.20],
        &[0.0, 37.0, 90.0, 161.0, 233.0, 307.0],
        &[0.0, 1.0],
        &[60, 85],
    )
}

/// The 12-MP case timed: a code a tenth of the width, at 45 degrees,
/// blurred, JPEG 85.
fn twelve_mp() -> Case {
    Case {
        width: 4000,
        height: 3000,
        fraction: 0.10,
        angle: 45.0,
        blur: 1.0,
        quality: 85,
        seed: 12,
    }
}

fn modules() -> Result<(Vec<bool>, usize), String> {
    let code = qrcode::QrCode::new(TEXT.as_bytes()).map_err(|e| e.to_string())?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok((dark, code.width()))
}

fn run(options: &Options) -> Result<Vec<Figure>, String> {
    let (dark, size) = modules()?;
    let code = Modules { dark: &dark, size };
    let hosts = default_trusted_hosts();
    // --rows N: only the first N cases of the grid.
    let cases: Vec<Case> = grid()
        .into_iter()
        .take(options.rows.unwrap_or(usize::MAX))
        .collect();
    let mut read = 0usize;
    for case in &cases {
        let bytes = sample::jpeg(&code, case);
        match scan_qr_photo(&bytes, &hosts) {
            Ok(q) if q.sn == SN => read += 1,
            other => eprintln!(
                "not read: {}x{} fraction {} angle {} blur {} quality {}: {}",
                case.width,
                case.height,
                case.fraction,
                case.angle,
                case.blur,
                case.quality,
                other.err().map(|e| e.code.to_string()).unwrap_or_default()
            ),
        }
    }
    let rate = if cases.is_empty() {
        None
    } else {
        Some(read as f64 / cases.len() as f64)
    };

    let photo = sample::jpeg(&code, &twelve_mp());
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), &photo).map_err(|e| e.to_string())?;
    let found = scan_qr_photo(&photo, &hosts).map_err(|e| format!("12-MP photo: {e}"))?;
    if found.sn != SN {
        return Err("12-MP photo read another serial".into());
    }
    let scan = time(options.runs, || scan_qr_photo(&photo, &hosts));
    let decode = time(options.runs, || image::load_from_memory(&photo));
    let peak = peak_rss_mb(AREA.name, "scan", file.path());
    let baseline = peak_rss_mb(AREA.name, "load", file.path());

    Ok(vec![
        Figure::new(
            "qr_cases",
            Some(cases.len() as f64),
            "",
            "photos in the grid (2 sizes x 2 code sizes x 6 angles x 2 blurs x 2 qualities)",
        ),
        Figure::new(
            "qr_read_rate",
            rate,
            "",
            "share of the grid's photos whose serial scan_qr_photo read",
        ),
        Figure::new(
            "qr_decode_12mp_ms",
            Some(scan.median_ms),
            "ms",
            "scan_qr_photo on a 4000x3000 JPEG (code a tenth of the width, 45 degrees, blurred)",
        ),
        Figure::new(
            "jpeg_decode_12mp_ms",
            Some(decode.median_ms),
            "ms",
            "reference: the image crate's plain decode of the same JPEG",
        ),
        Figure::ratio(
            "scan_vs_decode",
            Some(scan.median_ms),
            Some(decode.median_ms),
            "qr_decode_12mp_ms / jpeg_decode_12mp_ms",
        ),
        Figure::new(
            "qr_scan_peak_rss_mb",
            peak,
            "MB",
            "peak resident memory of a child that loads the 12-MP file and scans it",
        ),
        Figure::new(
            "baseline_peak_rss_mb",
            baseline,
            "MB",
            "peak resident memory of a child that only loads the file",
        ),
    ])
}

fn child(probe: &str, input: &Path) -> Result<(), String> {
    let bytes = std::fs::read(input).map_err(|e| e.to_string())?;
    match probe {
        "load" => {
            std::hint::black_box(&bytes);
            Ok(())
        }
        "scan" => scan_qr_photo(&bytes, &default_trusted_hosts())
            .map(|q| {
                std::hint::black_box(q);
            })
            .map_err(|e| e.to_string()),
        other => Err(format!("no probe {other}")),
    }
}
