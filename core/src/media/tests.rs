use image::codecs::png::PngEncoder;
use image::{ImageEncoder, Rgba, RgbaImage};
use proptest::prelude::*;

use super::sample::{self, GPS_LATITUDE_BYTES};
use super::*;

fn code(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => {
            assert_eq!(e.kind, crate::error::ErrorKind::Input);
            assert_eq!(e.problems.len(), 1, "one problem listed");
            assert_eq!(e.problems[0].code, e.code);
            e.code.into_owned()
        }
    }
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    sample::jpeg(&sample::picture(width, height, 7, 12), 90)
}

fn png_of(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .expect("png encodes");
    out
}

fn png(width: u32, height: u32) -> Vec<u8> {
    png_of(&DynamicImage::ImageRgb8(sample::picture(
        width, height, 3, 0,
    )))
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// The chunk types of a PNG, in order.
fn png_chunks(bytes: &[u8]) -> Vec<String> {
    let mut at = 8;
    let mut kinds = Vec::new();
    while let Some(head) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        kinds.push(String::from_utf8_lossy(&head[4..8]).into_owned());
        at += 12 + len;
    }
    kinds
}

/// The markers of a JPEG up to and including its first scan.
fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
    let mut at = 2;
    let mut markers = vec![0xD8];
    while bytes.get(at) == Some(&0xFF) {
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
    }
    markers
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What a prepared JPEG may hold: SOI, the JFIF APP0, tables, a frame, a scan.
fn assert_bare_jpeg(bytes: &[u8]) {
    for m in jpeg_markers(bytes) {
        assert!(
            matches!(m, 0xD8 | 0xE0 | 0xDB | 0xC0 | 0xC4 | 0xDA),
            "unexpected marker {m:02X}"
        );
    }
    for needle in [
        &b"Exif\0"[..],
        b"http://ns.adobe.com/xap",
        sample::COMMENT,
        &GPS_LATITUDE_BYTES,
    ] {
        assert!(
            !contains(bytes, needle),
            "{:?} left",
            String::from_utf8_lossy(needle)
        );
    }
}

// ---- refusals -------------------------------------------------------------

#[test]
fn nothing_is_refused_as_empty() {
    assert_eq!(code(probe(&[], &Budget::DOCUMENT)), "photo.empty");
    assert_eq!(code(prepare(&[], Target::Document)), "photo.empty");
}

#[test]
fn text_gif_and_bmp_are_refused_as_not_images() {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0x58, 0x02, 0x90, 0x01, 0, 0, 0]);
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0; 52]);
    for bytes in [&b"this is not a photo"[..], &gif, &bmp, &[0xFF, 0xD8][..]] {
        assert_eq!(code(probe(bytes, &Budget::DOCUMENT)), "photo.not_image");
        assert_eq!(code(decode(bytes, &Budget::QR_PHOTO)), "photo.not_image");
        assert_eq!(code(prepare(bytes, Target::Document)), "photo.not_image");
    }
}

#[test]
fn the_format_is_told_by_its_magic_bytes() {
    assert_eq!(
        PhotoFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
        Some(PhotoFormat::Jpeg)
    );
    assert_eq!(PhotoFormat::sniff(PNG_MAGIC), Some(PhotoFormat::Png));
    assert_eq!(PhotoFormat::sniff(b"GIF89a"), None);
    assert_eq!(PhotoFormat::Jpeg.as_str(), "jpeg");
    assert_eq!(PhotoFormat::Png.content_type(), "image/png");
}

#[test]
fn a_jpeg_cut_in_half_is_corrupt() {
    let whole = jpeg(800, 600);
    assert!(decode(&whole, &Budget::DOCUMENT).is_ok());
    let half = &whole[..whole.len() / 2];
    assert_eq!(code(probe(half, &Budget::DOCUMENT)), "photo.corrupt");
    assert_eq!(code(decode(half, &Budget::DOCUMENT)), "photo.corrupt");
    assert_eq!(code(prepare(half, Target::Document)), "photo.corrupt");
    // Cut inside the headers.
    assert_eq!(
        code(probe(&whole[..40], &Budget::DOCUMENT)),
        "photo.corrupt"
    );
}

#[test]
fn a_png_cut_in_half_is_corrupt() {
    let whole = png(800, 600);
    assert!(decode(&whole, &Budget::DOCUMENT).is_ok());
    let half = &whole[..whole.len() / 2];
    assert_eq!(code(decode(half, &Budget::DOCUMENT)), "photo.corrupt");
    assert_eq!(code(prepare(half, Target::Document)), "photo.corrupt");
    assert_eq!(
        code(probe(&whole[..20], &Budget::DOCUMENT)),
        "photo.corrupt"
    );
}

#[test]
fn a_png_declaring_50000_by_50000_is_refused_from_its_header() {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bomb = PNG_MAGIC.to_vec();
    bomb.extend_from_slice(&png_chunk(b"IHDR", &ihdr));
    // A tiny IDAT that would inflate to gigabytes is never reached.
    bomb.extend_from_slice(&png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00]));
    bomb.extend_from_slice(&png_chunk(b"IEND", &[]));
    for budget in [Budget::DOCUMENT, Budget::QR_PHOTO] {
        assert_eq!(code(probe(&bomb, &budget)), "photo.too_many_pixels");
        assert_eq!(code(decode(&bomb, &budget)), "photo.too_many_pixels");
    }
    assert_eq!(
        code(prepare(&bomb, Target::Document)),
        "photo.too_many_pixels"
    );
    assert_eq!(
        code(prepare(&bomb, Target::Signature)),
        "photo.too_many_pixels"
    );
}

#[test]
fn a_jpeg_declaring_65000_by_65000_is_refused_from_its_header() {
    let mut bomb = jpeg(64, 48);
    // The SOF0 segment: FF C0, length, precision, height, width.
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame");
    bomb[sof + 5..sof + 7].copy_from_slice(&65_000u16.to_be_bytes());
    bomb[sof + 7..sof + 9].copy_from_slice(&65_000u16.to_be_bytes());
    assert_eq!(
        code(probe(&bomb, &Budget::QR_PHOTO)),
        "photo.too_many_pixels"
    );
    assert_eq!(
        code(decode(&bomb, &Budget::QR_PHOTO)),
        "photo.too_many_pixels"
    );
}

#[test]
fn a_file_over_10_mb_is_too_large() {
    let mut big = jpeg(640, 480);
    big.resize(10 * 1024 * 1024 + 1, 0);
    assert_eq!(code(probe(&big, &Budget::DOCUMENT)), "photo.too_large");
    assert_eq!(code(prepare(&big, Target::Document)), "photo.too_large");
    // Exactly 10 MB (trailing bytes after the image) is accepted.
    big.truncate(10 * 1024 * 1024);
    assert!(probe(&big, &Budget::DOCUMENT).is_ok());
}

#[test]
fn a_document_must_be_at_least_600_by_400_either_way() {
    for (w, h) in [(599, 400), (400, 599), (600, 399), (399, 600)] {
        let bytes = png(w, h);
        assert_eq!(
            code(probe(&bytes, &Budget::DOCUMENT)),
            "photo.too_small",
            "{w}x{h}"
        );
        assert_eq!(code(prepare(&bytes, Target::Document)), "photo.too_small");
    }
    for (w, h) in [(600, 400), (400, 600)] {
        let p = probe(&png(w, h), &Budget::DOCUMENT).expect("accepted");
        assert_eq!((p.width, p.height, p.format), (w, h, PhotoFormat::Png));
        let p = probe(&jpeg(w, h), &Budget::DOCUMENT).expect("accepted");
        assert_eq!((p.width, p.height, p.format), (w, h, PhotoFormat::Jpeg));
    }
    // A QR photo may be small.
    assert!(decode(&png(21, 21), &Budget::QR_PHOTO).is_ok());
    assert_eq!(
        code(probe(&png(20, 40), &Budget::QR_PHOTO)),
        "photo.too_small"
    );
}

#[test]
fn a_signature_must_be_a_png() {
    assert_eq!(
        code(prepare(&jpeg(600, 300), Target::Signature)),
        "photo.signature_not_png"
    );
    assert_eq!(
        code(prepare(b"not an image", Target::Signature)),
        "photo.not_image"
    );
}

#[test]
fn a_signature_that_cannot_fit_2_mb_is_refused() {
    // Full-range noise does not compress: 1600x1000 RGBA is 6.4 MB raw.
    let noise = sample::picture(1600, 1000, 11, 127);
    let rgba = RgbaImage::from_fn(1600, 1000, |x, y| {
        let p = noise.get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], p[0] ^ p[2]])
    });
    let bytes = png_of(&DynamicImage::ImageRgba8(rgba));
    assert!(bytes.len() < Budget::SIGNATURE.max_bytes);
    assert_eq!(code(prepare(&bytes, Target::Signature)), "photo.cannot_fit");
}

// ---- orientation and metadata ---------------------------------------------

/// 800x600 with a red block at the top left.
fn marked_picture() -> image::RgbImage {
    let mut picture = sample::picture(800, 600, 5, 4);
    for y in 0..100 {
        for x in 0..100 {
            picture.put_pixel(x, y, image::Rgb([250, 10, 10]));
        }
    }
    picture
}

fn is_red(p: image::Rgb<u8>) -> bool {
    p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60
}

#[test]
fn the_exif_orientation_is_applied_and_exif_with_gps_is_stripped() {
    let plain = sample::jpeg(&marked_picture(), 90);
    // Orientation 6: the camera was turned; show it rotated 90° clockwise.
    let input = sample::with_segments(&plain, &[sample::exif_segment(6)]);
    assert!(contains(&input, &GPS_LATITUDE_BYTES));

    let p = probe(&input, &Budget::DOCUMENT).expect("probe");
    assert_eq!((p.width, p.height), (600, 800));
    let decoded = decode(&input, &Budget::DOCUMENT).expect("decode");
    assert_eq!((decoded.width(), decoded.height()), (600, 800));

    let prepared = prepare(&input, Target::Document).expect("prepare");
    assert_eq!(prepared.format, PhotoFormat::Jpeg);
    assert_eq!((prepared.width, prepared.height), (600, 800));
    assert_bare_jpeg(&prepared.bytes);
    // The red corner, top left as stored, is top right as shown.
    let shown = image::load_from_memory(&prepared.bytes)
        .expect("output decodes")
        .to_rgb8();
    assert_eq!(shown.dimensions(), (600, 800));
    assert!(is_red(*shown.get_pixel(600 - 50, 50)));
    assert!(!is_red(*shown.get_pixel(50, 50)));

    // Without the orientation, the same picture stays as it is.
    let kept = prepare(&plain, Target::Document).expect("prepare");
    assert_eq!((kept.width, kept.height), (800, 600));
}

#[test]
fn xmp_and_comment_segments_are_stripped() {
    let input = sample::with_segments(
        &jpeg(800, 600),
        &[
            sample::exif_segment(1),
            sample::xmp_segment(),
            sample::comment_segment(),
        ],
    );
    assert!(contains(&input, b"http://ns.adobe.com/xap"));
    assert!(contains(&input, sample::COMMENT));
    let prepared = prepare(&input, Target::Document).expect("prepare");
    assert_bare_jpeg(&prepared.bytes);
    assert_eq!((prepared.width, prepared.height), (800, 600));
}

fn png_with_text_chunks() -> Vec<u8> {
    let clean = png(800, 600);
    let ihdr_end = 8 + 25;
    let mut input = clean[..ihdr_end].to_vec();
    input.extend_from_slice(&png_chunk(b"tEXt", b"Comment\0Room 305, shop 12"));
    input.extend_from_slice(&png_chunk(
        b"iTXt",
        b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta/>",
    ));
    input.extend_from_slice(&png_chunk(b"zTXt", b"Author\0\0\x78\x9C\x03\x00"));
    input.extend_from_slice(&png_chunk(b"eXIf", &sample::exif_segment(1)[10..]));
    input.extend_from_slice(&clean[ihdr_end..]);
    input
}

#[test]
fn png_text_and_exif_chunks_are_stripped() {
    let input = png_with_text_chunks();
    let chunks = png_chunks(&input);
    for kind in ["tEXt", "iTXt", "zTXt", "eXIf"] {
        assert!(chunks.iter().any(|c| c == kind), "{kind} in the input");
    }
    let document = prepare(&input, Target::Document).expect("prepare");
    assert_eq!(document.format, PhotoFormat::Jpeg);
    assert_bare_jpeg(&document.bytes);

    let signature = prepare(&input, Target::Signature).expect("prepare");
    assert_eq!(signature.format, PhotoFormat::Png);
    assert_eq!(
        png_chunks(&signature.bytes)
            .iter()
            .filter(|c| !matches!(c.as_str(), "IHDR" | "IDAT" | "IEND"))
            .count(),
        0,
        "{:?}",
        png_chunks(&signature.bytes)
    );
    assert!(!contains(&signature.bytes, &GPS_LATITUDE_BYTES));
    assert!(!contains(&signature.bytes, b"Room 305"));
}

// ---- what is uploaded ------------------------------------------------------

#[test]
fn the_same_photo_always_prepares_to_the_same_bytes() {
    let input = sample::with_segments(&jpeg(1200, 900), &[sample::exif_segment(3)]);
    let a = prepare(&input, Target::Document).expect("prepare");
    let b = prepare(&input, Target::Document).expect("prepare");
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(a.sha256, b.sha256);
    let digest = ring::digest::digest(&ring::digest::SHA256, &a.bytes);
    assert_eq!(a.sha256, hex::encode(digest));
    assert_eq!(a.sha256.len(), 64);
    assert!(a.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    // A different photo, a different hash.
    let other = prepare(&jpeg(1200, 901), Target::Document).expect("prepare");
    assert_ne!(other.sha256, a.sha256);
}

#[test]
fn a_long_photo_is_scaled_to_2560_on_its_longest_side() {
    let wide = prepare(&jpeg(2700, 1200), Target::Document).expect("prepare");
    assert_eq!((wide.width, wide.height), (2560, 1138));
    let tall = prepare(&png(1200, 2700), Target::Document).expect("prepare");
    assert_eq!((tall.width, tall.height), (1138, 2560));
    let small = prepare(&jpeg(1000, 700), Target::Document).expect("prepare");
    assert_eq!((small.width, small.height), (1000, 700));
    let decoded = image::load_from_memory(&wide.bytes).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (2560, 1138));
}

#[test]
fn a_noisy_12_megapixel_photo_prepares_to_a_2560_jpeg_under_2_mb() {
    let input = sample::camera_photo(4000, 3000, 12, 1);
    assert!(input.len() > 2 * MAX_UPLOAD_BYTES, "{} bytes", input.len());
    let prepared = prepare(&input, Target::Document).expect("prepare");
    assert_eq!((prepared.width, prepared.height), (2560, 1920));
    assert!(prepared.bytes.len() <= MAX_UPLOAD_BYTES);
    assert_bare_jpeg(&prepared.bytes);
}

#[test]
fn a_transparent_png_document_is_flattened_onto_white() {
    let clear = RgbaImage::from_pixel(800, 600, Rgba([0, 0, 0, 0]));
    let bytes = png_of(&DynamicImage::ImageRgba8(clear.clone()));
    let prepared = prepare(&bytes, Target::Document).expect("prepare");
    assert_eq!(prepared.format, PhotoFormat::Jpeg);
    let shown = image::load_from_memory(&prepared.bytes)
        .expect("decodes")
        .to_rgb8();
    assert!(shown.get_pixel(400, 300).0.iter().all(|&c| c > 245));

    // A signature keeps its transparency.
    let signature = prepare(&bytes, Target::Signature).expect("prepare");
    let back = image::load_from_memory(&signature.bytes).expect("decodes");
    assert!(back.color().has_alpha());
    assert_eq!(back.to_rgba8(), clear);
}

#[test]
fn every_photo_code_is_in_the_catalogue() {
    for c in CODES {
        assert!(c.code.starts_with("photo."));
        assert_eq!(crate::error::find(c.code), Some(*c));
    }
    assert!(CODES.len() >= 8);
}

// ---- anything at all: typed errors, never a panic ---------------------------

fn small_valid() -> Vec<Vec<u8>> {
    vec![
        sample::with_segments(&jpeg(64, 48), &[sample::exif_segment(6)]),
        png(64, 48),
    ]
}

fn check_typed<T>(r: Result<T>) {
    if let Err(e) = r {
        assert!(e.code.starts_with("photo."), "{}", e.code);
        assert!(CODES.iter().any(|c| c.code == e.code));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_give_typed_errors(
        prefix in prop::sample::select(vec![&b""[..], &[0xFF, 0xD8, 0xFF][..], PNG_MAGIC]),
        rest in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&rest);
        check_typed(probe(&bytes, &Budget::QR_PHOTO));
        check_typed(decode(&bytes, &Budget::QR_PHOTO));
        check_typed(prepare(&bytes, Target::Document));
        check_typed(prepare(&bytes, Target::Signature));
    }

    #[test]
    fn mutated_photos_give_typed_errors(
        which in 0usize..2,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = small_valid().swap_remove(which);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            let n = cut.index(bytes.len());
            bytes.truncate(n);
        }
        check_typed(probe(&bytes, &Budget::QR_PHOTO));
        check_typed(decode(&bytes, &Budget::QR_PHOTO));
        check_typed(prepare(&bytes, Target::Signature));
    }
}
