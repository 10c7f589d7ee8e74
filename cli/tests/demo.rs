//! `merchant demo` is the README's main job: it must walk the whole story
//! against the embedded sandbox and exit 0.

use std::process::Command;

#[test]
fn demo_walks_the_story_on_the_embedded_sandbox() {
    let exports = tempfile::tempdir().expect("a temporary folder");
    let out = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .arg("demo")
        .arg("--out")
        .arg(exports.path())
        .output()
        .expect("the merchant binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "Starting the embedded sandbox platform",
        "Opening the merchant core",
        "Requesting an SMS sign-in code",
        "Signing in and registering this device",
        "Binding a terminal by the QR on its back",
        "Making it the main terminal, with an alias",
        "Trying to bind another merchant's terminal (refused)",
        "Renewing the session when the access token expires",
        "Signing out and wiping local data",
        "A new merchant signs in to onboard",
        "Preparing photos on the phone (EXIF/GPS stripped) and uploading them",
        "signed record verified offline (device and platform)",
        "[review.shop_name_refused]",
        "Fixing what was refused and submitting again",
        "review: activation_code_sent",
        "the merchant is active",
        "merchant number",
        "Syncing trades onto the phone",
        "Today's trades, first page",
        "Today's summary",
        "Refunding one trade",
        "partially_refunded",
        "Reconciling yesterday against its statement file",
        "matched",
        "Exporting this month's trades (CSV and XLSX)",
        "Demo complete",
    ] {
        assert!(stdout.contains(step), "missing step {step:?} in:\n{stdout}");
    }
    // The onboarded merchant binds its terminal once it is active.
    let position = |text: &str| stdout.find(text).unwrap_or(usize::MAX);
    assert!(
        position("the merchant is active") < position("Binding a terminal by the QR on its back"),
        "the terminal is bound after activation:\n{stdout}"
    );
    // The terminal was bound and named; another merchant's was refused and
    // recorded as a protection finding.
    for shown in [
        "已绑定 / bound",
        "收银台1号",
        "正机 / main",
        "[terminal.owned_by_other]",
        "安全提醒 / protection finding",
    ] {
        assert!(stdout.contains(shown), "missing {shown:?} in:\n{stdout}");
    }
    // The new merchant's personal data is shown masked only.
    assert!(stdout.contains("138****0002"), "{stdout}");
    assert!(!stdout.contains("13800000002"), "{stdout}");
    assert!(stdout.contains("510***********123X"), "{stdout}");
    // The phone is shown masked only.
    assert!(stdout.contains("139****5678"), "{stdout}");
    assert!(
        !stdout.contains("13912345678"),
        "the full phone number leaked:\n{stdout}"
    );
    // This month's exports were written where --out said, their paths printed.
    for ext in ["csv", "xlsx"] {
        let written: Vec<_> = std::fs::read_dir(exports.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        assert_eq!(written.len(), 1, "one {ext} export: {written:?}");
        assert!(stdout.contains(&*written[0].to_string_lossy()), "{stdout}");
    }
    let csv = std::fs::read(
        std::fs::read_dir(exports.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "csv"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        csv.starts_with(b"\xEF\xBB\xBF"),
        "the CSV starts with a BOM"
    );
}

#[test]
fn demo_against_an_unreachable_platform_fails_with_a_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args(["demo", "--platform", "http://127.0.0.1:9", "--data-dir"])
        .arg(tempfile::tempdir().expect("temp dir").path())
        .output()
        .expect("the merchant binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[platform.unreachable]"),
        "no unreachable code in:\n{stdout}"
    );
}

#[test]
fn demo_refuses_plain_http_to_a_non_loopback_host() {
    let out = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args(["demo", "--platform", "http://192.0.2.1:8700"])
        .output()
        .expect("the merchant binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[platform.insecure_url]"), "{stdout}");
}
