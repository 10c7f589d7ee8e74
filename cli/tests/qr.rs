//! `merchant qr parse|scan`, run as a user runs them: the serial (and the
//! model and sig) on stdout with exit 0, or each problem's code with exit 1.

use merchant_core::terminals::photo::sample::{self, Case, Modules};

mod common;

use common::merchant;

const SN: &str = "LKLA800123455";
const SIG: &str = "0123456789abcdef";

#[test]
fn parse_prints_the_serial_then_model_and_sig() {
    let text = format!("https://qr.sandbox.lakala.example/activate?sn={SN}&model=A8&sig={SIG}");
    let run = merchant(&["qr", "parse", &text]);
    assert_eq!(run.status, 0);
    assert_eq!(run.stdout, format!("{SN}\nmodel=A8\nsig={SIG}\n"));

    let run = merchant(&["qr", "parse", "lkl-a8-0012345-5"]);
    assert_eq!(run.status, 0);
    assert_eq!(run.stdout, format!("{SN}\n"));
}

#[test]
fn parse_refuses_with_codes_and_exit_1() {
    let run = merchant(&["qr", "parse", &format!("https://evil.com/activate?sn={SN}")]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "qr.untrusted_host\n");

    let run = merchant(&["qr", "parse", "LKLA800123456"]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "qr.serial_invalid\nserial.check_digit\n");

    let run = merchant(&["qr", "parse", "-x"]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "qr.unrecognised\n");
}

#[test]
fn trusted_hosts_replace_the_default_ones() {
    let text = format!("https://qr.example.com/activate?sn={SN}");
    let run = merchant(&["qr", "parse", &text, "--trusted-host", "qr.example.com"]);
    assert_eq!(run.status, 0);
    assert_eq!(run.stdout, format!("{SN}\n"));
    let default = format!("https://qr.sandbox.lakala.example/activate?sn={SN}");
    let run = merchant(&[
        "qr",
        "parse",
        &default,
        "--trusted-host",
        "qr.example.com",
        "--trusted-host",
        "other.example",
    ]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "qr.untrusted_host\n");
}

fn photo_of(text: &str, file: &std::path::Path) {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("encodes");
    let dark: Vec<bool> = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    let case = Case {
        width: 1200,
        height: 900,
        fraction: 0.25,
        angle: 30.0,
        blur: 0.5,
        quality: 80,
        seed: 5,
    };
    let bytes = sample::jpeg(
        &Modules {
            dark: &dark,
            size: code.width(),
        },
        &case,
    );
    std::fs::write(file, bytes).expect("writes the photo");
}

#[test]
fn scan_reads_a_photo_and_refuses_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("back.jpg");
    photo_of(
        &format!("https://qr.sandbox.lakala.example/activate?sn={SN}&sig={SIG}"),
        &good,
    );
    let run = merchant(&["qr", "scan", good.to_str().expect("utf-8 path")]);
    assert_eq!(run.status, 0);
    assert_eq!(run.stdout, format!("{SN}\nsig={SIG}\n"));

    let phishing = dir.path().join("phishing.jpg");
    photo_of(
        &format!("https://qr.sandbox.lakala.example@evil.com/activate?sn={SN}"),
        &phishing,
    );
    let run = merchant(&["qr", "scan", phishing.to_str().expect("utf-8 path")]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "qr.user_info\n");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a photo").expect("writes");
    let run = merchant(&["qr", "scan", text.to_str().expect("utf-8 path")]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "photo.not_image\n");

    let run = merchant(&[
        "qr",
        "scan",
        dir.path().join("missing.jpg").to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status, 2);
}
