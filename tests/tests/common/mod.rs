//! What the end-to-end tests share: the sandbox in-process (TLS unless a
//! test needs plain http), an app's view of one device, the sandbox's
//! controls and sign-in by SMS code.
#![allow(dead_code)]

pub mod live;
pub mod proxy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use merchant_contract::domain::sandbox::{Inventory, InventoryTerminal};
use merchant_contract::wire::sandbox::OutboxItem;
use merchant_core::platform::transport::{Timeouts, http_client};
use merchant_core::platform::{Endpoint, SpkiPin};
use merchant_core::store::{FileSecretStore, SecretStore};
use merchant_core::{CoreConfig, Lang, MerchantCore};
use merchant_sandbox::{RunningSandbox, Sandbox, SandboxConfig};

/// Every wait on the network is bounded by this (no sleeps).
pub const LIMIT: Duration = Duration::from_secs(30);

pub async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("the call finished in time")
}

pub async fn sandbox(config: SandboxConfig) -> RunningSandbox {
    Sandbox::start(config).await.expect("sandbox starts")
}

pub async fn tls_sandbox() -> RunningSandbox {
    sandbox(SandboxConfig {
        tls: true,
        ..Default::default()
    })
    .await
}

/// An app's view of one device: its data dir and its key store dir.
pub struct Device {
    pub _tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub keys: PathBuf,
}

impl Device {
    pub fn new() -> Device {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let keys = tmp.path().join("keys");
        Device {
            _tmp: tmp,
            data,
            keys,
        }
    }

    pub fn secrets(&self) -> Arc<dyn SecretStore> {
        FileSecretStore::new(self.keys.to_string_lossy().into_owned()).unwrap()
    }

    pub fn config(&self, sb: &RunningSandbox) -> CoreConfig {
        CoreConfig {
            data_dir: self.data.to_string_lossy().into_owned(),
            platform_url: sb.base_url.clone(),
            platform_pin: sb.pin.clone(),
            platform_public_key: sb.platform_public_key.clone(),
            app_id: sb.app_id.clone(),
            language: Lang::Zh,
            trusted_qr_hosts: Vec::new(),
        }
    }

    pub fn core(&self, sb: &RunningSandbox) -> Arc<MerchantCore> {
        self.core_with(self.config(sb))
    }

    pub fn core_with(&self, config: CoreConfig) -> Arc<MerchantCore> {
        MerchantCore::new(config, self.secrets()).unwrap()
    }
}

/// Calls a sandbox-only control (`/sandbox/*`, unsigned) over the same
/// pinned transport the core uses: a GET, or a POST of `body`. Expects 200.
pub async fn sandbox_control(
    sb: &RunningSandbox,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let endpoint = Endpoint::parse(&sb.base_url).unwrap();
    let pins = sb.pin.iter().map(|p| SpkiPin::parse(p).unwrap()).collect();
    let http = http_client(&endpoint, pins, Timeouts::default()).unwrap();
    let url = endpoint.url(path).unwrap();
    let request = match &body {
        None => http.get(url),
        Some(b) => http.post(url).json(b),
    };
    let resp = bounded(request.send()).await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    bounded(resp.json()).await.unwrap()
}

/// Reads the latest sign-in code the sandbox texted to `phone` through
/// `GET /sandbox/sms`.
pub async fn sms_code(sb: &RunningSandbox, phone: &str) -> String {
    let sms = sandbox_control(
        sb,
        &format!("/sandbox/sms?phone={phone}&purpose=sign_in"),
        None,
    )
    .await;
    let code = sms["code"].as_str().expect("the SMS has a code").to_owned();
    assert!(sms["text"].as_str().unwrap_or("").contains(&code));
    code
}

/// Requests a code for `phone` (as the merchant typed it), reads it, signs in.
pub async fn sign_in(
    core: &MerchantCore,
    sb: &RunningSandbox,
    phone: &str,
) -> merchant_core::session::SignedIn {
    let sent = bounded(core.request_sms_code(phone.to_owned()))
        .await
        .expect("code requested");
    assert!(sent.expires_in_secs > 0);
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = digits
        .strip_prefix("86")
        .filter(|d| d.len() == 11)
        .unwrap_or(&digits);
    let code = sms_code(sb, digits).await;
    bounded(core.sign_in(phone.to_owned(), code))
        .await
        .expect("signed in")
}

pub fn advance(sb: &RunningSandbox, secs: i64) {
    sb.state().clock().advance(secs);
}

/// What the sandbox pushed to `merchant_id`'s push tokens (`GET
/// /sandbox/outbox`), oldest first.
pub async fn outbox(sb: &RunningSandbox, merchant_id: &str) -> Vec<OutboxItem> {
    let outbox = sandbox_control(
        sb,
        &format!("/sandbox/outbox?merchant_id={merchant_id}"),
        None,
    )
    .await;
    serde_json::from_value(outbox["items"].clone()).expect("outbox items")
}

/// The sandbox's terminal inventory (`GET /sandbox/terminals`).
pub async fn inventory(sb: &RunningSandbox) -> Inventory {
    serde_json::from_value(sandbox_control(sb, "/sandbox/terminals", None).await).unwrap()
}

/// The inventory's free terminals.
pub fn free(inv: &Inventory) -> Vec<InventoryTerminal> {
    inv.terminals
        .iter()
        .filter(|t| t.state == "free")
        .cloned()
        .collect()
}

/// Signs a new merchant in on `core` and has the sandbox activate it (no
/// terminals yet); returns its merchant id.
pub async fn fresh_active_merchant(
    core: &MerchantCore,
    sb: &RunningSandbox,
    phone: &str,
) -> String {
    let me = sign_in(core, sb, phone).await;
    sandbox_control(
        sb,
        "/sandbox/merchants/activate",
        Some(serde_json::json!({"merchant_id": me.merchant_id})),
    )
    .await;
    me.merchant_id
}

/// Signs a new merchant in on `core`, has the sandbox activate it and binds
/// the first free terminal of the inventory by its back QR; returns the
/// merchant id and the terminal's serial.
pub async fn active_shop(
    core: &MerchantCore,
    sb: &RunningSandbox,
    phone: &str,
) -> (String, String) {
    let merchant_id = fresh_active_merchant(core, sb, phone).await;
    let terminal = free(&inventory(sb).await)
        .into_iter()
        .next()
        .expect("a free terminal in the inventory");
    bounded(core.bind_terminal_by_qr(terminal.qr_text.clone()))
        .await
        .expect("terminal bound");
    (merchant_id, terminal.sn)
}

/// The business day `days` before the sandbox clock's today (China time),
/// as `YYYY-MM-DD`.
pub async fn sandbox_day_before(sb: &RunningSandbox, days: u64) -> String {
    let clock = sandbox_control(sb, "/sandbox/clock", None).await;
    let today = clock["now"].as_str().expect("the clock's now")[..10].to_owned();
    (chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").expect("the clock's date")
        - chrono::Days::new(days))
    .format("%Y-%m-%d")
    .to_string()
}
