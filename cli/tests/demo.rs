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
        "Alert settings on this phone, and claiming the speaker role",
        "speaker: 本机 / this phone",
        "Subscribing to live alerts",
        "alerts caught up",
        "Live payments: WeChat and Alipay",
        "The live stream is dropped once",
        "Refunding one of them (told live)",
        "Triggering each trade anomaly once",
        "Stored alerts and the open protection findings",
        "Push: a signed payload verified offline and shown once",
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
    alerts_are_shown(&stdout);
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

/// The alerts part: each live payment told once with its voice text and
/// clips, the stream dropped and resumed with nothing lost or repeated, one
/// protection alert per trade anomaly, a push shown once and its repeat
/// recognised.
fn alerts_are_shown(stdout: &str) {
    let count = |text: &str| stdout.matches(text).count();
    let position = |text: &str| stdout.find(text).unwrap_or(usize::MAX);
    let from = |start: usize, text: &str| {
        stdout
            .get(start..)
            .and_then(|rest| rest.find(text))
            .map_or(usize::MAX, |i| start + i)
    };
    // The live payments of each channel and the refund, each told once
    // with what the phone says and the clips that say it.
    for voice in [
        "🔊 微信收款八百五十元  [wechat_received 8 hundred 5 ten yuan]",
        "🔊 支付宝收款三十六点五元  [alipay_received 3 ten 6 point 5 yuan]",
        "🔊 云闪付收款一百二十八元  [unionpay_received 1 hundred 2 ten 8 yuan]",
        "🔊 刷卡收款一千二百八十元  [card_received 1 thousand 2 hundred 8 ten yuan]",
        "🔊 退款四百二十五元  [refund 4 hundred 2 ten 5 yuan]",
    ] {
        assert_eq!(count(voice), 1, "{voice:?} told once in:\n{stdout}");
    }
    // 850 and 1,280 yuan are at or above the 500 yuan highlight.
    assert!(
        stdout.contains("微信收款 850.00 元，终端")
            && stdout.contains("借记卡收款 1280.00 元，终端"),
        "{stdout}"
    );
    assert!(count("⭐ 大额 / large") >= 2, "{stdout}");
    // The drop: noticed, then connected again, then the payments made
    // meanwhile told; every live trade told exactly once.
    let step = position("The live stream is dropped once");
    let dropped = from(step, "⇄ 连接中断");
    let back = from(dropped, "⇄ 已连接 / connected");
    let told = from(back, "🔊 云闪付收款一百二十八元");
    assert!(
        step < dropped && dropped < back && back < told && told < usize::MAX,
        "dropped, resumed, then told:\n{stdout}"
    );
    assert!(stdout.contains("streams dropped: 1"), "{stdout}");
    assert!(
        stdout.contains("5/5 笔各提醒一次")
            && stdout.contains("resumed with nothing lost or repeated"),
        "{stdout}"
    );
    // One protection alert per anomaly: its code, severity, text, advice.
    let anomalies = position("Triggering each trade anomaly once");
    for (code, text) in [
        ("alert.merchant_code", "跳码："),
        ("alert.fee_above_rate", "费率异常："),
        ("alert.double_charge", "疑似重复扣款："),
        ("alert.foreign_terminal", "非本店终端交易："),
    ] {
        let shown = format!("↳ [{code}] 严重 / critical");
        assert_eq!(count(&shown), 1, "one {code} alert in:\n{stdout}");
        assert!(position(&shown) > anomalies, "{stdout}");
        assert!(
            stdout.contains(&format!("🛡 安全警告：{text}")),
            "{code}'s text in:\n{stdout}"
        );
    }
    assert!(count("建议 / advice: ") >= 4, "{stdout}");
    assert!(count("🔊 商户安全警告，请立即查看  [TTS]") >= 4, "{stdout}");
    // The open findings listed, one acknowledged, the subscription ended.
    assert!(
        stdout.contains("open protection findings: ") && stdout.contains("acknowledged: #"),
        "{stdout}"
    );
    assert!(
        stdout.contains("subscription: 已取消 / cancelled"),
        "{stdout}"
    );
    // The push: shown once, its repeat recognised and not shown.
    assert_eq!(
        count("📱 通知 / notification: 收款到账：支付宝收款 23.00 元"),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains("recognised as a replay, not shown [platform.push_replayed]"),
        "{stdout}"
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
