//! Checks of an uploaded document photo: declared type, size, and that the
//! bytes really are a whole JPEG or PNG.
//!
//! The sandbox keeps only a document's kind, type, size and SHA-256, never
//! the image itself: nothing reads it back, and a photo of an ID card is
//! personal data.

use merchant_contract::domain::DocumentKind;

/// The largest document photo accepted, in bytes (2 MiB).
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// The image types accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
}

impl ImageType {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
        }
    }
}

/// Why a document upload is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentProblem {
    /// The Content-Type is not `image/jpeg` or `image/png` (a signature must be PNG).
    UnsupportedType,
    /// More than [`MAX_BYTES`].
    TooLarge,
    /// The bytes are not a whole image of the declared type (empty, other
    /// magic, or cut short).
    ContentMismatch,
}

const JPEG_START: &[u8] = &[0xFF, 0xD8, 0xFF];
const JPEG_END: &[u8] = &[0xFF, 0xD9];
const PNG_START: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// The IEND chunk: type and CRC.
const PNG_END: &[u8] = &[b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// Reads a Content-Type header value: `image/jpeg` or `image/png`, case
/// insensitive, parameters ignored.
pub fn parse_content_type(value: Option<&str>) -> Option<ImageType> {
    let media = value?.split(';').next()?.trim();
    if media.eq_ignore_ascii_case("image/jpeg") || media.eq_ignore_ascii_case("image/jpg") {
        Some(ImageType::Jpeg)
    } else if media.eq_ignore_ascii_case("image/png") {
        Some(ImageType::Png)
    } else {
        None
    }
}

/// Checks an upload of `kind` declared as `content_type`.
pub fn check(
    kind: DocumentKind,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ImageType, DocumentProblem> {
    let ty = parse_content_type(content_type).ok_or(DocumentProblem::UnsupportedType)?;
    if kind == DocumentKind::Signature && ty != ImageType::Png {
        return Err(DocumentProblem::UnsupportedType);
    }
    if bytes.len() > MAX_BYTES {
        return Err(DocumentProblem::TooLarge);
    }
    let whole = match ty {
        ImageType::Jpeg => {
            bytes.len() >= JPEG_START.len() + JPEG_END.len()
                && bytes.starts_with(JPEG_START)
                && bytes.ends_with(JPEG_END)
        }
        ImageType::Png => {
            bytes.len() >= PNG_START.len() + PNG_END.len()
                && bytes.starts_with(PNG_START)
                && bytes.ends_with(PNG_END)
        }
    };
    if whole {
        Ok(ty)
    } else {
        Err(DocumentProblem::ContentMismatch)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real 1×1 PNG.
    pub const TINY_PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8,
        0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    fn jpeg(len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.resize(len - 2, 0x11);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    #[test]
    fn whole_jpeg_and_png_pass() {
        assert_eq!(
            check(DocumentKind::IdFront, Some("image/jpeg"), &jpeg(1000)),
            Ok(ImageType::Jpeg)
        );
        assert_eq!(
            check(DocumentKind::Signature, Some("image/png"), TINY_PNG),
            Ok(ImageType::Png)
        );
        assert_eq!(
            check(DocumentKind::BankCard, Some("Image/PNG; q=1"), TINY_PNG),
            Ok(ImageType::Png)
        );
        assert_eq!(
            check(DocumentKind::IdBack, Some("image/jpeg"), &jpeg(MAX_BYTES)),
            Ok(ImageType::Jpeg)
        );
    }

    #[test]
    fn every_refusal_has_its_reason() {
        use DocumentProblem::*;
        let k = DocumentKind::IdFront;
        assert_eq!(check(k, None, TINY_PNG), Err(UnsupportedType));
        assert_eq!(check(k, Some("image/gif"), TINY_PNG), Err(UnsupportedType));
        assert_eq!(
            check(k, Some("application/octet-stream"), TINY_PNG),
            Err(UnsupportedType)
        );
        assert_eq!(
            check(DocumentKind::Signature, Some("image/jpeg"), &jpeg(100)),
            Err(UnsupportedType)
        );
        assert_eq!(
            check(k, Some("image/jpeg"), &jpeg(MAX_BYTES + 1)),
            Err(TooLarge)
        );
        // Declared PNG, bytes JPEG; declared JPEG, bytes PNG.
        assert_eq!(
            check(k, Some("image/png"), &jpeg(100)),
            Err(ContentMismatch)
        );
        assert_eq!(check(k, Some("image/jpeg"), TINY_PNG), Err(ContentMismatch));
        // Empty, cut short.
        assert_eq!(check(k, Some("image/png"), &[]), Err(ContentMismatch));
        let cut = &TINY_PNG[..TINY_PNG.len() - 3];
        assert_eq!(check(k, Some("image/png"), cut), Err(ContentMismatch));
        let j = jpeg(100);
        assert_eq!(check(k, Some("image/jpeg"), &j[..50]), Err(ContentMismatch));
        assert_eq!(
            check(k, Some("image/jpeg"), &[0xFF, 0xD8, 0xFF]),
            Err(ContentMismatch)
        );
    }
}

#[cfg(test)]
mod hostile {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_and_type_are_judged_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            ty in any::<Option<String>>(),
        ) {
            for kind in DocumentKind::ALL {
                if let Ok(t) = check(kind, ty.as_deref(), &bytes) {
                    // Accepted only when declared as that type and whole.
                    prop_assert_eq!(parse_content_type(ty.as_deref()), Some(t));
                    prop_assert!(bytes.len() >= 5);
                }
            }
        }
    }
}
