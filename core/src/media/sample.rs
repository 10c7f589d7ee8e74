//! Synthetic photos for tests, the demo and `merchant bench`: a camera-like
//! picture (gradients, shapes and sensor noise, the same for the same seed),
//! the metadata segments a phone camera writes (EXIF with orientation and
//! GPS, XMP, a comment), so that what media/ strips can be checked byte by
//! byte, and a handwritten signature as a drawing pad gives it.

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, Rgb, RgbImage};

/// The GPS latitude written by [`exif_segment`] (31° 14' 23.45"), as the
/// bytes of its three big-endian rationals: a test finds them in the input
/// and must not find them in what is uploaded.
pub const GPS_LATITUDE_BYTES: [u8; 24] = [
    0, 0, 0, 31, 0, 0, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0x09, 0x29, 0, 0, 0, 100,
];

/// The comment text written by [`comment_segment`].
pub const COMMENT: &[u8] = b"shot at shop 12, Room 305";

/// A deterministic picture: colour gradients, a few flat shapes (the edges a
/// document has) and noise of amplitude `noise` (0 = none, 30 = a phone
/// camera in a dim shop).
pub fn picture(width: u32, height: u32, seed: u64, noise: u8) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (w, h) = (width.max(1), height.max(1));
    RgbImage::from_fn(width, height, |x, y| {
        let gx = (x * 255 / w) as i32;
        let gy = (y * 255 / h) as i32;
        let mut px = [gx, gy, (gx + gy) / 2];
        // A dark band and a light block, like text lines and paper.
        if (y * 16 / h) % 4 == 1 && (x * 8 / w) % 2 == 0 {
            px = [px[0] / 4, px[1] / 4, px[2] / 4];
        }
        if x > w / 3 && x < w / 2 && y > h / 3 && y < h / 2 {
            px = [230, 228, 220];
        }
        let amplitude = i32::from(noise);
        if amplitude > 0 {
            let r = next();
            for (i, c) in px.iter_mut().enumerate() {
                let n = ((r >> (i * 16)) & 0xFFFF) as i32 % (2 * amplitude + 1) - amplitude;
                *c += n;
            }
        }
        Rgb(px.map(|c| c.clamp(0, 255) as u8))
    })
}

/// `image` as a JPEG at `quality`, with no metadata.
pub fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    // Encoding an in-memory RGB image into a Vec cannot fail.
    let _ = JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&DynamicImage::ImageRgb8(image.clone()));
    out
}

/// `jpeg` with `segments` inserted right after its SOI marker, where a
/// camera writes its APP segments.
pub fn with_segments(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + 1024);
    out.extend_from_slice(jpeg.get(..2).unwrap_or_default());
    for s in segments {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(jpeg.get(2..).unwrap_or_default());
    out
}

/// A marker segment: FF, the marker, the big-endian length, the payload.
fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).unwrap_or(u16::MAX);
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An APP1 EXIF segment (big-endian TIFF) holding `Orientation` and a GPS
/// IFD with a latitude ([`GPS_LATITUDE_BYTES`]).
pub fn exif_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2A");
    tiff.extend_from_slice(&8u32.to_be_bytes());
    // IFD0 at 8: two entries (12 bytes each), then the next-IFD offset.
    let gps_ifd = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_be_bytes());
    // Orientation, SHORT, 1 value, left-justified in the 4-byte field.
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // GPSInfo IFD pointer, LONG.
    tiff.extend_from_slice(&0x8825u16.to_be_bytes());
    tiff.extend_from_slice(&4u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&(gps_ifd as u32).to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: LatitudeRef "N", Latitude 3 RATIONALs stored after the IFD.
    let data = gps_ifd + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&0x0001u16.to_be_bytes());
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&2u32.to_be_bytes());
    tiff.extend_from_slice(b"N\0\0\0");
    tiff.extend_from_slice(&0x0002u16.to_be_bytes());
    tiff.extend_from_slice(&5u16.to_be_bytes());
    tiff.extend_from_slice(&3u32.to_be_bytes());
    tiff.extend_from_slice(&(data as u32).to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&GPS_LATITUDE_BYTES);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    segment(0xE1, &payload)
}

/// An APP1 XMP segment.
pub fn xmp_segment() -> Vec<u8> {
    let mut payload = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    payload.extend_from_slice(
        b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><rdf:Description \
          exif:GPSLatitude=\"31,14.39N\"/></rdf:RDF></x:xmpmeta>",
    );
    segment(0xE1, &payload)
}

/// A COM segment holding [`COMMENT`].
pub fn comment_segment() -> Vec<u8> {
    segment(0xFE, COMMENT)
}

/// A phone camera's photo: [`picture`] with sensor noise, a JPEG at quality
/// 90 with an EXIF segment (`orientation`, GPS). 4000x3000 gives a 12-MP
/// photo of about 5 MB.
pub fn camera_photo(width: u32, height: u32, seed: u64, orientation: u16) -> Vec<u8> {
    with_segments(
        &jpeg(&picture(width, height, seed, 16), 90),
        &[exif_segment(orientation)],
    )
}

/// A handwritten signature as the app's drawing pad gives it: a PNG of a
/// dark wavy stroke on a transparent 360x120 pad.
pub fn signature_png() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(360, 120, |x, y| {
        let wave = 60 + (i64::from(x / 12) % 9 - 4) * 5;
        if (i64::from(y) - wave).abs() < 3 {
            image::Rgba([20, 20, 20, 255])
        } else {
            image::Rgba([255, 255, 255, 0])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    // Encoding an in-memory image to PNG does not fail; an empty answer
    // would be refused by media as not an image.
    match DynamicImage::ImageRgba8(img).write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => out.into_inner(),
        Err(_) => Vec::new(),
    }
}
