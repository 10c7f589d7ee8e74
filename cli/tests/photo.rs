//! `merchant photo check` and `merchant photo prepare` run as a user runs
//! them: outputs, written files and exit statuses (0 acceptable, 1 refused
//! with each code on its own line, 2 usage or unreadable file); and the
//! bench's argument handling and child process.

use std::path::Path;

use merchant_core::media::{self, Target, sample};

mod common;

use common::merchant;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("written");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn check_prints_the_size_as_shown_and_the_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Stored 800x600 with EXIF orientation 6: shown 600x800.
    let photo = write(dir.path(), "a.jpg", &sample::camera_photo(800, 600, 1, 6));
    let r = merchant(&["photo", "check", &photo]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "ok 600x800 jpeg\n");
}

#[test]
fn check_prints_the_code_of_a_refused_photo_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = sample::camera_photo(800, 600, 1, 1);
    let cases = [
        (
            "text.jpg",
            b"not a photo at all".to_vec(),
            "photo.not_image",
        ),
        ("empty.png", Vec::new(), "photo.empty"),
        (
            "half.jpg",
            whole[..whole.len() / 2].to_vec(),
            "photo.corrupt",
        ),
        (
            "small.jpg",
            sample::camera_photo(599, 400, 1, 1),
            "photo.too_small",
        ),
    ];
    for (name, bytes, code) in cases {
        let file = write(dir.path(), name, &bytes);
        let r = merchant(&["photo", "check", &file]);
        assert_eq!(r.status, 1, "{name}");
        assert_eq!(r.stdout, format!("{code}\n"), "{name}");
        assert!(!r.stderr.is_empty(), "a message for people on stderr");
    }
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let r = merchant(&["photo", "check", "/nonexistent/photo.jpg"]);
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(merchant(&["photo", "check"]).status, 2);
}

#[test]
fn prepare_writes_what_the_core_prepares_with_its_size_and_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample::camera_photo(1200, 900, 4, 6);
    let photo = write(dir.path(), "in.jpg", &input);
    let out = dir.path().join("out.jpg");
    let r = merchant(&["photo", "prepare", &photo, out.to_str().expect("utf-8")]);
    assert_eq!(r.status, 0, "{}", r.stderr);

    let expected = media::prepare(&input, Target::Document).expect("prepares");
    let written = std::fs::read(&out).expect("the output is written");
    assert_eq!(written, expected.bytes);
    assert_eq!(
        r.stdout,
        format!(
            "ok 900x1200 jpeg\nsize {}\nsha256 {}\n",
            written.len(),
            expected.sha256
        )
    );
    assert!(!written.windows(5).any(|w| w == b"Exif\0"));
}

#[test]
fn prepare_refuses_with_the_code_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photo = write(dir.path(), "in.png", b"\x89PNG\r\n\x1a\n but nothing more");
    let out = dir.path().join("out.jpg");
    let r = merchant(&["photo", "prepare", &photo, out.to_str().expect("utf-8")]);
    assert_eq!(r.status, 1);
    assert_eq!(r.stdout, "photo.corrupt\n");
    assert!(!out.exists());
}

#[test]
fn bench_refuses_an_unknown_area_as_usage() {
    let r = merchant(&["bench", "nothing"]);
    assert_eq!(r.status, 2);
    assert!(
        r.stderr.contains("photo"),
        "the areas are listed: {}",
        r.stderr
    );
}

#[test]
fn a_bench_child_does_its_work_and_reports_its_peak_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photo = write(dir.path(), "in.jpg", &sample::camera_photo(800, 600, 1, 1));
    let r = merchant(&["bench-child", "photo", "prepare", &photo]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let kb = r
        .stdout
        .strip_prefix("vm_hwm_kb ")
        .expect("one figure")
        .trim();
    if cfg!(target_os = "linux") {
        assert!(kb.parse::<u64>().expect("kB") > 0);
    } else {
        assert_eq!(kb, "n/a");
    }
    let r = merchant(&["bench-child", "photo", "nothing", &photo]);
    assert_eq!(r.status, 1);
}
