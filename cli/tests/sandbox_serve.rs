//! `merchant sandbox serve` prints its URL, pin and platform key, serves
//! them, and stops on Ctrl-C (SIGINT) with status 0.

use std::io::{BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Reads `name: value` lines until `app_id:` (the last one before serving).
fn read_banner(out: &mut impl std::io::BufRead) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "merchant sandbox serve ended before its banner");
        if let Some((k, v)) = line.trim_end().split_once(": ") {
            lines.push((k.to_owned(), v.to_owned()));
            if k == "android_emulator_url" {
                return lines;
            }
        }
    }
}

fn value<'a>(lines: &'a [(String, String)], name: &str) -> &'a str {
    lines
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} line"))
}

/// Kills the server if a test fails before stopping it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Server, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("merchant runs");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    (Server(child), out)
}

fn interrupt(pid: u32) {
    signal("-INT", pid);
}

fn signal(which: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok);
}

#[test]
fn serve_prints_what_a_client_needs_and_stops_on_ctrl_c() {
    let (mut server, mut out) =
        spawn(&["sandbox", "serve", "--addr", "127.0.0.1:0", "--seed", "7"]);
    let lines = read_banner(&mut out);
    let url = value(&lines, "url");
    let key = value(&lines, "platform_public_key");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(value(&lines, "pin").starts_with('-'));
    assert_eq!(value(&lines, "app_id"), "OP00000001");

    // It serves: /sandbox/info names the same key and seed.
    let hostport = url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(hostport).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET /sandbox/info HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).expect("reply");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("lklapi-signature: "));
    assert!(reply.contains(&format!("\"platform_public_key\":\"{key}\"")));
    assert!(reply.contains("\"seed\":7"));

    interrupt(server.0.id());
    let status = server.0.wait().expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_with_tls_prints_a_pin() {
    let (mut server, mut out) = spawn(&["sandbox", "serve", "--addr", "127.0.0.1:0", "--tls"]);
    let lines = read_banner(&mut out);
    assert!(value(&lines, "url").starts_with("https://127.0.0.1:"));
    let pin = value(&lines, "pin");
    // base64 of a SHA-256 digest: 44 characters ending in '='.
    assert_eq!(pin.len(), 44, "{pin}");
    assert!(pin.ends_with('='));
    assert!(value(&lines, "android_emulator_url").starts_with("https://10.0.2.2:"));
    interrupt(server.0.id());
    assert_eq!(server.0.wait().expect("exits").code(), Some(0));
}

/// A signal sent the moment the banner is read stops the server cleanly: the
/// handlers are in place before the banner is printed. SIGTERM (what
/// scripts and service managers send) stops it like Ctrl-C.
#[test]
fn serve_stops_on_a_signal_sent_right_after_the_banner() {
    for which in ["-INT", "-TERM"] {
        let (mut server, mut out) = spawn(&["sandbox", "serve", "--addr", "127.0.0.1:0"]);
        read_banner(&mut out);
        signal(which, server.0.id());
        assert_eq!(server.0.wait().expect("exits").code(), Some(0), "{which}");
    }
}

#[test]
fn serve_refuses_a_bad_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args(["sandbox", "serve", "--addr", "not-an-address"])
        .output()
        .expect("merchant runs");
    assert_eq!(out.status.code(), Some(2));
}

/// The README's main job against a platform it did not start: `merchant demo
/// --platform URL --pin PIN` walks the same story, renewal step included.
#[test]
fn demo_runs_the_same_story_against_a_served_sandbox() {
    let (server, mut out) = spawn(&["sandbox", "serve", "--addr", "127.0.0.1:0", "--tls"]);
    let banner = read_banner(&mut out);
    let demo = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args([
            "demo",
            "--platform",
            value(&banner, "url"),
            "--pin",
            value(&banner, "pin"),
            "--platform-key",
            value(&banner, "platform_public_key"),
            "--move-clock",
            "--phone",
            "+86 139-1234-5678",
        ])
        .output()
        .expect("merchant demo runs");
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(demo.status.success(), "demo failed:\n{stdout}");
    assert!(stdout.contains("139****5678"), "{stdout}");
    for step in [
        "Using the given platform",
        "Signing in and registering this device",
        "Renewing the session when the access token expires",
        "Demo complete",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    alerts_shown(&stdout);

    // Pinned to another key, the same platform is refused before anything is sent.
    let refused = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args([
            "demo",
            "--platform",
            value(&banner, "url"),
            "--pin",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ])
        .output()
        .expect("merchant demo runs");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("[platform.pin_mismatch]"));

    // Without --move-clock the shared sandbox's clock stays where it is.
    let before = clock(&banner);
    let quiet = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args([
            "demo",
            "--platform",
            value(&banner, "url"),
            "--pin",
            value(&banner, "pin"),
        ])
        .output()
        .expect("merchant demo runs");
    let stdout = String::from_utf8_lossy(&quiet.stdout);
    assert!(quiet.status.success(), "demo failed:\n{stdout}");
    assert!(stdout.contains("renewal step skipped"), "{stdout}");
    // The same platform a second time: the alerts part is told again.
    alerts_shown(&stdout);
    assert!(!stdout.contains("Renewing the session"), "{stdout}");
    let after = clock(&banner);
    assert!(
        after - before < 600,
        "the clock moved from {before} to {after}"
    );
    drop(server);
}

/// The demo's alerts part on a served sandbox, first run or repeat: the
/// live payments told with their voice, the drop resumed, one protection
/// alert per trade anomaly, the push shown once and its repeat recognised.
fn alerts_shown(stdout: &str) {
    for shown in [
        "🔊 微信收款八百五十元  [wechat_received 8 hundred 5 ten yuan]",
        "🔊 刷卡收款一千二百八十元  [card_received 1 thousand 2 hundred 8 ten yuan]",
        "5/5 笔各提醒一次",
        "↳ [alert.merchant_code]",
        "↳ [alert.fee_above_rate]",
        "↳ [alert.double_charge]",
        "↳ [alert.foreign_terminal]",
        "📱 通知 / notification: 收款到账：支付宝收款 23.00 元",
        "recognised as a replay, not shown [platform.push_replayed]",
    ] {
        assert!(stdout.contains(shown), "missing {shown:?} in:\n{stdout}");
    }
}

/// The served sandbox's business clock (unix seconds), read over its pinned
/// TLS with the core's own client.
fn clock(banner: &[(String, String)]) -> i64 {
    use merchant_core::platform::{Call, PlatformClient, PlatformConfig};
    let config = PlatformConfig::new(
        value(banner, "url"),
        Some(value(banner, "pin")),
        value(banner, "platform_public_key"),
        value(banner, "app_id"),
    )
    .expect("config");
    let client = PlatformClient::new(config).expect("client");
    let (device, _) = merchant_contract::envelope::DeviceKey::generate().expect("key");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock: merchant_contract::wire::sandbox::Clock = runtime
        .block_on(client.call(&device, &Call::get("/sandbox/clock")))
        .expect("GET /sandbox/clock");
    clock.unix
}
