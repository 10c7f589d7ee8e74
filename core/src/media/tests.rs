use super::*;

#[test]
fn the_format_is_told_by_its_magic_bytes() {
    assert_eq!(
        PhotoFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
        Some(PhotoFormat::Jpeg)
    );
    assert_eq!(PhotoFormat::sniff(PNG_MAGIC), Some(PhotoFormat::Png));
    assert_eq!(PhotoFormat::sniff(b"GIF89a"), None);
    assert_eq!(PhotoFormat::sniff(b"BM"), None);
}
