//! terminals::ble: find a terminal over Bluetooth LE and read its Device
//! Information Service (serial, model, firmware).
//!
//! The radio sits behind the narrow [`BleCentral`] trait, with two
//! implementations: [`BtleplugCentral`] (btleplug: BlueZ over D-Bus on Linux,
//! CoreBluetooth on Apple platforms, the JNI bridge on Android), which the
//! exported API uses by default, and [`SimulatedCentral`], a configurable set of
//! advertising terminals with failure injection for the flow tests and demos.
//!
//! [`BleScanner`] is what the core uses on top of either:
//! - [`BleScanner::start_scan`] scans for peripherals advertising
//!   [`TERMINAL_SERVICE_UUID`] for a bounded time, reports each terminal once
//!   (deduplicated by device id) to a foreign [`BleScanListener`], and ends by
//!   calling its `on_finished` exactly once: `None` when terminals were found
//!   or the scan was cancelled, `bluetooth.scan_timeout` when nothing was found
//!   in time, or the `bluetooth.*` error that stopped it. The returned
//!   [`BleScanHandle`] cancels the scan on `cancel()` or when dropped.
//! - One scan at a time: starting a scan cancels the one still running (its
//!   listener gets `on_finished(None)`), and the new scan talks to the radio
//!   only once the old one has stopped.
//! - [`BleScanner::read_terminal`] connects to a device seen in a scan and
//!   reads the three DIS strings within a timeout. Values are UTF-8, trimmed of
//!   NULs and whitespace, at most [`MAX_DIS_CHARS`] characters, without control
//!   characters; anything else is `bluetooth.value_invalid`, never a panic.
//!
//! The serial read here is what the terminal says about itself: binding still
//! runs it through the serial rules (`terminals::serial`) and the platform.

mod btleplug_central;
mod simulated;

pub use btleplug_central::BtleplugCentral;
pub use simulated::{SimulatedAdapter, SimulatedCentral, SimulatedTerminal};

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::MerchantError;
use crate::error::{Error, RUNTIME, Result};

crate::codes! {
    NO_ADAPTER = Bluetooth, "bluetooth.no_adapter", "未找到蓝牙适配器，本机可能不支持蓝牙", "No Bluetooth adapter was found; this device may not support Bluetooth";
    OFF = Bluetooth, "bluetooth.off", "蓝牙已关闭，请在系统设置中打开蓝牙", "Bluetooth is off; turn it on in the system settings";
    PERMISSION_DENIED = Bluetooth, "bluetooth.permission_denied", "没有使用蓝牙的权限，请在系统设置中允许本应用使用蓝牙", "The app is not allowed to use Bluetooth; allow it in the system settings";
    SCAN_TIMEOUT = Bluetooth, "bluetooth.scan_timeout", "未搜索到终端，请确认终端已开机并靠近手机后重试", "No terminal was found in time; make sure the terminal is on and close to the phone, then retry";
    DEVICE_UNKNOWN = Bluetooth, "bluetooth.device_unknown", "未找到该终端，请重新搜索", "This terminal was not seen in a scan; scan again";
    DEVICE_GONE = Bluetooth, "bluetooth.device_gone", "读取时终端断开了连接，请靠近终端后重试", "The terminal went away while it was being read; move closer and retry";
    READ_TIMEOUT = Bluetooth, "bluetooth.read_timeout", "终端响应超时，请靠近终端后重试", "The terminal did not answer in time; move closer and retry";
    CHARACTERISTIC_MISSING = Bluetooth, "bluetooth.characteristic_missing", "终端未提供设备信息（序列号、型号或固件版本）", "The terminal does not provide its device information (serial, model or firmware)";
    VALUE_INVALID = Bluetooth, "bluetooth.value_invalid", "终端返回的设备信息无法识别", "The device information the terminal returned is not readable";
    FAILED = Bluetooth, "bluetooth.failed", "蓝牙操作失败，请重试", "The Bluetooth operation failed; please retry";
}

/// The GATT service every terminal advertises (documented in
/// docs/platform-api.md); scans look for it and nothing else.
pub const TERMINAL_SERVICE_UUID: &str = "4c4b4c50-4f53-4000-8000-000000000001";
/// [`TERMINAL_SERVICE_UUID`] as a [`Uuid`].
pub const TERMINAL_SERVICE: Uuid = Uuid::from_u128(0x4c4b4c50_4f53_4000_8000_000000000001);

/// The Bluetooth SIG's 16-bit UUIDs on the base UUID.
const fn sig_uuid(short: u16) -> Uuid {
    Uuid::from_u128(((short as u128) << 96) | 0x0000_0000_0000_1000_8000_0080_5f9b_34fb)
}
/// Device Information Service (0x180A).
pub const DEVICE_INFORMATION_SERVICE: Uuid = sig_uuid(0x180A);
/// Serial Number String (0x2A25).
pub const SERIAL_NUMBER_CHARACTERISTIC: Uuid = sig_uuid(0x2A25);
/// Model Number String (0x2A24).
pub const MODEL_NUMBER_CHARACTERISTIC: Uuid = sig_uuid(0x2A24);
/// Firmware Revision String (0x2A26).
pub const FIRMWARE_REVISION_CHARACTERISTIC: Uuid = sig_uuid(0x2A26);

/// The longest DIS value accepted, in characters after trimming.
pub const MAX_DIS_CHARS: usize = 64;
/// The longest raw DIS value looked at, in bytes (a GATT attribute's maximum).
pub const MAX_DIS_BYTES: usize = 512;
/// The longest advertised name passed on, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The longest device id accepted, in bytes.
pub const MAX_DEVICE_ID_BYTES: usize = 256;

/// How long a scan runs when the app does not say.
pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest scan allowed; longer requests are cut to it.
pub const MAX_SCAN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connecting to a terminal and reading its DIS may take.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a backend gets to stop its scan cleanly once asked.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A terminal seen advertising [`TERMINAL_SERVICE_UUID`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BleTerminalSeen {
    /// The platform's id of the peripheral (a BlueZ path, a CoreBluetooth
    /// UUID, an address), to pass to `read_terminal`.
    pub device_id: String,
    /// The advertised name, without control characters, at most
    /// [`MAX_NAME_CHARS`] characters.
    pub name: Option<String>,
    /// Signal strength in dBm, when known.
    pub rssi: Option<i16>,
}

/// What a terminal's Device Information Service says about it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BleTerminalInfo {
    pub device_id: String,
    /// Serial Number String (0x2A25), as the terminal reports it.
    pub serial: String,
    /// Model Number String (0x2A24).
    pub model: String,
    /// Firmware Revision String (0x2A26).
    pub firmware: String,
}

/// The raw bytes of the three DIS characteristics, as a backend read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisValues {
    pub serial: Vec<u8>,
    pub model: Vec<u8>,
    pub firmware: Vec<u8>,
}

/// A boxed, sendable future: what [`BleCentral`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Asks a running scan to stop; see [`ScanStop::channel`].
#[derive(Debug)]
pub struct ScanStopper(watch::Sender<bool>);

impl ScanStopper {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// The stop request a [`BleCentral::scan`] watches. It fires when
/// [`ScanStopper::stop`] is called or the stopper is dropped.
#[derive(Debug, Clone)]
pub struct ScanStop(watch::Receiver<bool>);

impl ScanStop {
    pub fn channel() -> (ScanStopper, ScanStop) {
        let (tx, rx) = watch::channel(false);
        (ScanStopper(tx), ScanStop(rx))
    }

    /// Resolves once the scan should stop.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}

/// The radio, as the core needs it. Implementations report failures with
/// this module's `bluetooth.*` codes and never panic on what a peripheral
/// sends.
pub trait BleCentral: Send + Sync + 'static {
    /// Scans for peripherals advertising `service` and sends each one seen on
    /// `found` (repeats are fine: the caller deduplicates) until `stop` fires
    /// or `found` is closed; then stops the radio's scan and returns `Ok`.
    /// Returns an error at once when the scan cannot run (no adapter,
    /// Bluetooth off, permission denied) or fails while running.
    fn scan<'a>(
        &'a self,
        service: Uuid,
        found: mpsc::Sender<BleTerminalSeen>,
        stop: ScanStop,
    ) -> BoxFuture<'a, Result<()>>;

    /// Connects to a device seen in an earlier scan of this central, reads
    /// the DIS characteristics and lets the connection go. An id not seen is
    /// `bluetooth.device_unknown`; the caller bounds the time.
    fn read_dis<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Result<DisValues>>;
}

/// Receives the results of a scan started with [`BleScanner::start_scan`],
/// implemented by the app. Calls come from a core thread, one at a time.
#[uniffi::export(with_foreign)]
pub trait BleScanListener: Send + Sync {
    /// A terminal seen for the first time in this scan.
    fn on_terminal(&self, seen: BleTerminalSeen) -> Result<(), MerchantError>;
    /// The scan is over; called exactly once, and nothing follows it. `None`
    /// when terminals were found or the scan was cancelled; otherwise a
    /// `Bluetooth` error: `bluetooth.scan_timeout` when nothing was found in
    /// time, or what stopped the scan (`bluetooth.no_adapter`, `.off`,
    /// `.permission_denied`, `.failed`).
    fn on_finished(&self, error: Option<MerchantError>) -> Result<(), MerchantError>;
}

/// A running scan. `cancel()` or dropping the handle stops it; the
/// listener's `on_finished(None)` follows, and no `on_terminal` starts after
/// `cancel()` has returned.
#[derive(uniffi::Object)]
pub struct BleScanHandle {
    cancel: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[uniffi::export]
impl BleScanHandle {
    /// Stops the scan. Calling it again, or after the scan ended, does nothing.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Whether the scan is over and its listener has been told.
    pub fn is_finished(&self) -> bool {
        match self.task.lock() {
            Ok(task) => task.as_ref().is_none_or(|t| t.is_finished()),
            Err(_) => true,
        }
    }
}

impl BleScanHandle {
    /// Waits until the scan's task has ended (its listener told).
    pub async fn wait(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for BleScanHandle {
    fn drop(&mut self) {
        self.cancel.send_replace(true);
    }
}

/// Scans for terminals and reads their device information, through one
/// [`BleCentral`]. Cheap to clone; clones share the central and the
/// one-scan-at-a-time rule.
#[derive(Clone)]
pub struct BleScanner {
    central: Arc<dyn BleCentral>,
    /// The scan started last, to cancel when another starts.
    current: Arc<Mutex<Weak<BleScanHandle>>>,
    /// Held by the scan talking to the radio.
    radio: Arc<tokio::sync::Mutex<()>>,
}

impl Default for BleScanner {
    /// The real radio ([`BtleplugCentral`]).
    fn default() -> Self {
        BleScanner::new(Arc::new(BtleplugCentral::new()))
    }
}

impl BleScanner {
    pub fn new(central: Arc<dyn BleCentral>) -> Self {
        BleScanner {
            central,
            current: Arc::new(Mutex::new(Weak::new())),
            radio: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Starts a scan for terminals on `runtime`, for `timeout` (cut to
    /// [`MAX_SCAN_TIMEOUT`]), reporting to `listener`. A scan still running
    /// is cancelled first. Never blocks; errors reach `listener.on_finished`.
    pub fn start_scan(
        &self,
        runtime: &tokio::runtime::Handle,
        timeout: Duration,
        listener: Arc<dyn BleScanListener>,
    ) -> Arc<BleScanHandle> {
        let (cancel_tx, mut cancel) = watch::channel(false);
        let handle = Arc::new(BleScanHandle {
            cancel: cancel_tx,
            task: Mutex::new(None),
        });
        if let Ok(mut current) = self.current.lock() {
            if let Some(previous) = current.upgrade() {
                previous.cancel();
            }
            *current = Arc::downgrade(&handle);
        }
        let central = self.central.clone();
        let radio = self.radio.clone();
        let mut finish = Finish(Some(listener));
        let task = runtime.spawn(async move {
            let deadline = tokio::time::Instant::now() + timeout.min(MAX_SCAN_TIMEOUT);
            let end = tokio::select! {
                biased;
                _ = cancelled(&mut cancel) => ScanEnd::Cancelled,
                _guard = radio.lock_owned() => {
                    let listener = finish.0.clone();
                    run_scan(&*central, deadline, &mut cancel, |seen| {
                        if let Some(l) = &listener
                            && let Err(e) = l.on_terminal(seen)
                        {
                            tracing::debug!(code = e.code(), "scan listener refused a terminal");
                        }
                    })
                    .await
                }
            };
            finish.finish(match end {
                ScanEnd::Cancelled => None,
                ScanEnd::Done(r) => r.err().map(MerchantError::from),
            });
        });
        if let Ok(mut slot) = handle.task.lock() {
            *slot = Some(task);
        }
        handle
    }

    /// Scans for `timeout` (cut to [`MAX_SCAN_TIMEOUT`]) and returns every
    /// terminal seen, once each; `bluetooth.scan_timeout` if none. A scan
    /// started with [`BleScanner::start_scan`] is cancelled first.
    pub async fn scan(&self, timeout: Duration) -> Result<Vec<BleTerminalSeen>> {
        if let Ok(mut current) = self.current.lock()
            && let Some(previous) = current.upgrade()
        {
            previous.cancel();
            *current = Weak::new();
        }
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_SCAN_TIMEOUT);
        let (_keep, mut never) = watch::channel(false);
        let _guard = self.radio.lock().await;
        let mut all = Vec::new();
        match run_scan(&*self.central, deadline, &mut never, |seen| all.push(seen)).await {
            ScanEnd::Done(r) => r.map(|_| all),
            ScanEnd::Cancelled => Err(Error::new(&FAILED).detail("scan cancelled")),
        }
    }

    /// Connects to `device_id` (seen in a scan) and reads its serial, model
    /// and firmware, within `timeout` (else `bluetooth.read_timeout`).
    pub async fn read_terminal(
        &self,
        device_id: &str,
        timeout: Duration,
    ) -> Result<BleTerminalInfo> {
        if device_id.is_empty() || device_id.len() > MAX_DEVICE_ID_BYTES {
            return Err(Error::new(&DEVICE_UNKNOWN).detail("device id empty or too long"));
        }
        let raw = tokio::time::timeout(timeout, self.central.read_dis(device_id))
            .await
            .map_err(|_| Error::new(&READ_TIMEOUT).detail(format!("no answer in {timeout:?}")))??;
        decode_dis(device_id, &raw)
    }
}

/// How a scan ended.
enum ScanEnd {
    Cancelled,
    /// The number of terminals found, or why the scan failed.
    Done(Result<usize>),
}

/// Resolves when the handle was cancelled or dropped.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await;
}

fn is_cancelled(cancel: &watch::Receiver<bool>) -> bool {
    *cancel.borrow() || cancel.has_changed().is_err()
}

/// Awaits `fut` if there is one, else never resolves.
async fn maybe<F: Future + Unpin>(fut: Option<&mut F>) -> F::Output {
    match fut {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The scan loop shared by [`BleScanner::start_scan`] and
/// [`BleScanner::scan`]: runs the central's scan until `deadline`, a
/// cancellation or the central's end, and passes each new terminal to
/// `deliver`.
async fn run_scan(
    central: &dyn BleCentral,
    deadline: tokio::time::Instant,
    cancel: &mut watch::Receiver<bool>,
    mut deliver: impl FnMut(BleTerminalSeen),
) -> ScanEnd {
    let (stopper, stop) = ScanStop::channel();
    let (found_tx, mut found) = mpsc::channel(32);
    let mut scan = Some(central.scan(TERMINAL_SERVICE, found_tx, stop));
    let mut seen = HashSet::new();
    let mut failure = None;
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    let mut watch_cancel = cancel.clone();
    let cancelled_now = loop {
        tokio::select! {
            biased;
            _ = cancelled(&mut watch_cancel) => break true,
            r = maybe(scan.as_mut()) => {
                scan = None;
                if let Err(e) = r {
                    failure = Some(e);
                    // Pass on what was found before the failure, then end.
                    while let Ok(s) = found.try_recv() {
                        if is_cancelled(cancel) {
                            break;
                        }
                        if let Some(s) = admit(s, &mut seen) {
                            deliver(s);
                        }
                    }
                    break false;
                }
            }
            s = found.recv() => match s {
                Some(s) => {
                    if is_cancelled(cancel) {
                        break true;
                    }
                    if let Some(s) = admit(s, &mut seen) {
                        deliver(s);
                    }
                }
                // The central finished and everything it sent is delivered.
                None => break false,
            },
            _ = &mut sleep => break false,
        }
    };
    stopper.stop();
    drop(found);
    if let Some(scan) = scan
        && let Ok(Err(e)) = tokio::time::timeout(STOP_GRACE, scan).await
        && failure.is_none()
        && seen.is_empty()
    {
        failure = Some(e);
    }
    if cancelled_now || is_cancelled(cancel) {
        return ScanEnd::Cancelled;
    }
    ScanEnd::Done(match failure {
        Some(e) => Err(e),
        None if seen.is_empty() => Err(Error::new(&SCAN_TIMEOUT)),
        None => Ok(seen.len()),
    })
}

/// A terminal's first sighting in a scan, cleaned up; `None` for a repeat or
/// an unusable id.
fn admit(mut s: BleTerminalSeen, seen: &mut HashSet<String>) -> Option<BleTerminalSeen> {
    if s.device_id.is_empty() || s.device_id.len() > MAX_DEVICE_ID_BYTES {
        return None;
    }
    if !seen.insert(s.device_id.clone()) {
        return None;
    }
    s.name = s.name.as_deref().and_then(clean_name);
    Some(s)
}

/// An advertised name without control characters, trimmed and bounded.
fn clean_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim_end().to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Calls the listener's `on_finished` exactly once: with the outcome, or,
/// if the task is dropped before it ends (runtime shut down), with
/// `internal.runtime`.
struct Finish(Option<Arc<dyn BleScanListener>>);

impl Finish {
    fn finish(&mut self, error: Option<MerchantError>) {
        if let Some(listener) = self.0.take()
            && let Err(e) = listener.on_finished(error)
        {
            tracing::debug!(code = e.code(), "scan listener failed on finish");
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.0.is_some() {
            self.finish(Some(
                Error::new(&RUNTIME).detail("scan task dropped").into(),
            ));
        }
    }
}

/// The three DIS values as text; see the module doc for the rules.
pub fn decode_dis(device_id: &str, raw: &DisValues) -> Result<BleTerminalInfo> {
    Ok(BleTerminalInfo {
        device_id: device_id.to_owned(),
        serial: dis_string("serial 0x2A25", &raw.serial)?,
        model: dis_string("model 0x2A24", &raw.model)?,
        firmware: dis_string("firmware 0x2A26", &raw.firmware)?,
    })
}

/// One DIS value: UTF-8, NULs and whitespace trimmed at both ends, not
/// empty, at most [`MAX_DIS_CHARS`] characters, no control characters.
fn dis_string(what: &str, raw: &[u8]) -> Result<String> {
    let invalid = |why: &str| Error::new(&VALUE_INVALID).detail(format!("{what}: {why}"));
    if raw.len() > MAX_DIS_BYTES {
        return Err(invalid("longer than a GATT value"));
    }
    let text = std::str::from_utf8(raw).map_err(|_| invalid("not UTF-8"))?;
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    if text.chars().count() > MAX_DIS_CHARS {
        return Err(invalid("too long"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("control characters"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests;
