use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::error::ErrorKind;

/// Virtual time is paused in these tests: this bound only catches a hang.
const HANG: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Terminal(BleTerminalSeen),
    Finished(Option<MerchantError>),
}

/// A listener that records every call and forwards it to the test.
struct Recorder {
    log: Mutex<Vec<Event>>,
    tx: mpsc::UnboundedSender<Event>,
}

impl Recorder {
    fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Recorder {
                log: Mutex::new(Vec::new()),
                tx,
            }),
            rx,
        )
    }

    fn record(&self, e: Event) {
        self.log.lock().unwrap().push(e.clone());
        let _ = self.tx.send(e);
    }

    fn log(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    fn terminals(&self) -> Vec<BleTerminalSeen> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                Event::Terminal(s) => Some(s),
                Event::Finished(_) => None,
            })
            .collect()
    }

    fn finishes(&self) -> Vec<Option<MerchantError>> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                Event::Finished(f) => Some(f),
                Event::Terminal(_) => None,
            })
            .collect()
    }
}

impl BleScanListener for Recorder {
    fn on_terminal(&self, seen: BleTerminalSeen) -> Result<(), MerchantError> {
        self.record(Event::Terminal(seen));
        Ok(())
    }

    fn on_finished(&self, error: Option<MerchantError>) -> Result<(), MerchantError> {
        self.record(Event::Finished(error));
        Ok(())
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(HANG, rx.recv())
        .await
        .expect("an event before the hang bound")
        .expect("the listener is alive")
}

/// Waits for the scan's end, then for its task: nothing can be called after.
async fn finished(
    handle: &BleScanHandle,
    rx: &mut mpsc::UnboundedReceiver<Event>,
) -> Option<MerchantError> {
    let outcome = loop {
        if let Event::Finished(f) = next(rx).await {
            break f;
        }
    };
    tokio::time::timeout(HANG, handle.wait())
        .await
        .expect("the scan task ends");
    assert!(handle.is_finished());
    outcome
}

fn terminal_a() -> SimulatedTerminal {
    SimulatedTerminal::new("sim-a", "LKLA800123455", "A8", "A8_V2.4.0")
}

fn terminal_b() -> SimulatedTerminal {
    SimulatedTerminal {
        rssi: Some(-75),
        ..SimulatedTerminal::new("sim-b", "LKL0000002", "A8S", "2.0.0")
    }
}

/// A peripheral nearby that is not a terminal.
fn headphones() -> SimulatedTerminal {
    SimulatedTerminal {
        name: Some("Headphones".into()),
        services: vec![sig_uuid(0x110B)],
        ..SimulatedTerminal::new("sim-headphones", "X", "X", "X")
    }
}

fn scanner(
    adapter: SimulatedAdapter,
    terminals: Vec<SimulatedTerminal>,
) -> (BleScanner, Arc<SimulatedCentral>) {
    let central = Arc::new(SimulatedCentral::new(adapter, terminals));
    (BleScanner::new(central.clone()), central)
}

fn code(e: &Option<MerchantError>) -> Option<&str> {
    e.as_ref().map(|e| e.code())
}

#[test]
fn service_uuid_constants_agree_and_codes_are_bluetooth() {
    assert_eq!(
        Uuid::parse_str(TERMINAL_SERVICE_UUID).unwrap(),
        TERMINAL_SERVICE
    );
    assert_eq!(
        DEVICE_INFORMATION_SERVICE,
        Uuid::parse_str("0000180a-0000-1000-8000-00805f9b34fb").unwrap()
    );
    assert_eq!(
        SERIAL_NUMBER_CHARACTERISTIC,
        Uuid::parse_str("00002a25-0000-1000-8000-00805f9b34fb").unwrap()
    );
    assert_eq!(
        MODEL_NUMBER_CHARACTERISTIC,
        Uuid::parse_str("00002a24-0000-1000-8000-00805f9b34fb").unwrap()
    );
    assert_eq!(
        FIRMWARE_REVISION_CHARACTERISTIC,
        Uuid::parse_str("00002a26-0000-1000-8000-00805f9b34fb").unwrap()
    );
    for c in CODES {
        assert_eq!(c.kind, ErrorKind::Bluetooth, "{}", c.code);
        assert!(c.code.starts_with("bluetooth."), "{}", c.code);
    }
    for c in [
        NO_ADAPTER,
        OFF,
        PERMISSION_DENIED,
        DEVICE_GONE,
        SCAN_TIMEOUT,
    ] {
        assert!(
            crate::error::find(c.code).is_some(),
            "{} is in the catalogue",
            c.code
        );
    }
}

#[tokio::test(start_paused = true)]
async fn scan_reports_each_advertising_terminal_once() {
    let (ble, central) = scanner(
        SimulatedAdapter::Ready,
        vec![terminal_a(), headphones(), terminal_b()],
    );
    let (listener, mut rx) = Recorder::new();
    let handle = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(5),
        listener.clone(),
    );
    assert_eq!(finished(&handle, &mut rx).await, None);
    // The simulated radio repeated each advertisement many times.
    let mut seen = listener.terminals();
    seen.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    assert_eq!(
        seen,
        vec![
            BleTerminalSeen {
                device_id: "sim-a".into(),
                name: Some("LKL-A8".into()),
                rssi: Some(-60)
            },
            BleTerminalSeen {
                device_id: "sim-b".into(),
                name: Some("LKL-A8S".into()),
                rssi: Some(-75)
            },
        ]
    );
    assert_eq!(listener.finishes().len(), 1);
    assert!(matches!(listener.log().last(), Some(Event::Finished(None))));
    assert_eq!(central.scans_running(), 0, "the radio's scan was stopped");
}

#[tokio::test(start_paused = true)]
async fn scan_that_finds_nothing_ends_with_scan_timeout() {
    let (ble, central) = scanner(SimulatedAdapter::Ready, vec![headphones()]);
    let (listener, mut rx) = Recorder::new();
    let handle = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(3),
        listener.clone(),
    );
    let outcome = finished(&handle, &mut rx).await;
    assert_eq!(code(&outcome), Some("bluetooth.scan_timeout"));
    assert!(matches!(outcome, Some(MerchantError::Bluetooth { .. })));
    assert!(listener.terminals().is_empty());
    assert_eq!(central.scans_running(), 0);

    // The same through the collecting scan.
    let e = ble.scan(Duration::from_secs(3)).await.unwrap_err();
    assert!(e.is(&SCAN_TIMEOUT));
}

#[tokio::test(start_paused = true)]
async fn a_terminal_that_starts_advertising_too_late_is_a_scan_timeout() {
    let slow = SimulatedTerminal {
        appears_after: Duration::from_secs(30),
        ..terminal_a()
    };
    let (ble, _) = scanner(SimulatedAdapter::Ready, vec![slow]);
    assert!(
        ble.scan(Duration::from_secs(10))
            .await
            .unwrap_err()
            .is(&SCAN_TIMEOUT)
    );
    let found = ble.scan(Duration::from_secs(40)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].device_id, "sim-a");
}

/// Terminal a advertises at once, terminal b only after 50 s: a scan of
/// 100 s that is not stopped would report both.
fn a_now_b_later() -> Vec<SimulatedTerminal> {
    vec![
        terminal_a(),
        SimulatedTerminal {
            appears_after: Duration::from_secs(50),
            ..terminal_b()
        },
    ]
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_the_scan_and_finishes_once() {
    let (ble, central) = scanner(SimulatedAdapter::Ready, a_now_b_later());
    let (listener, mut rx) = Recorder::new();
    let handle = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(100),
        listener.clone(),
    );
    assert!(matches!(next(&mut rx).await, Event::Terminal(_)));
    assert!(!handle.is_finished());
    handle.cancel();
    assert_eq!(finished(&handle, &mut rx).await, None);
    handle.cancel();
    let ids: Vec<_> = listener
        .terminals()
        .into_iter()
        .map(|s| s.device_id)
        .collect();
    assert_eq!(ids, vec!["sim-a"], "nothing delivered after cancel()");
    assert_eq!(listener.finishes(), vec![None]);
    assert!(matches!(listener.log().last(), Some(Event::Finished(None))));
    assert_eq!(central.scans_running(), 0, "the radio's scan was stopped");
}

#[tokio::test(start_paused = true)]
async fn a_scan_cancelled_before_finding_anything_is_not_a_timeout() {
    let (ble, central) = scanner(SimulatedAdapter::Ready, vec![headphones()]);
    let (listener, mut rx) = Recorder::new();
    let handle = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(100),
        listener.clone(),
    );
    handle.cancel();
    // Left alone it would end with `bluetooth.scan_timeout`.
    assert_eq!(finished(&handle, &mut rx).await, None);
    assert_eq!(listener.finishes(), vec![None]);
    assert_eq!(central.scans_running(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_cancels_the_scan() {
    let (ble, central) = scanner(SimulatedAdapter::Ready, a_now_b_later());
    let (listener, mut rx) = Recorder::new();
    let handle = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(100),
        listener.clone(),
    );
    assert!(matches!(next(&mut rx).await, Event::Terminal(_)));
    drop(handle);
    let outcome = loop {
        if let Event::Finished(f) = next(&mut rx).await {
            break f;
        }
    };
    assert_eq!(outcome, None);
    // Let the rest of the scan's time pass (virtually): nothing else arrives.
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert!(rx.try_recv().is_err());
    assert_eq!(listener.finishes(), vec![None]);
    let ids: Vec<_> = listener
        .terminals()
        .into_iter()
        .map(|s| s.device_id)
        .collect();
    assert_eq!(ids, vec!["sim-a"]);
    assert_eq!(central.scans_running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_scan_cancels_the_first_and_never_overlaps_it() {
    let (ble, central) = scanner(SimulatedAdapter::Ready, a_now_b_later());
    let (first, mut first_rx) = Recorder::new();
    let h1 = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(100),
        first.clone(),
    );
    assert!(matches!(next(&mut first_rx).await, Event::Terminal(_)));
    let (second, mut second_rx) = Recorder::new();
    let h2 = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(60),
        second.clone(),
    );
    assert_eq!(
        finished(&h1, &mut first_rx).await,
        None,
        "the first scan is cancelled"
    );
    assert_eq!(
        finished(&h2, &mut second_rx).await,
        None,
        "the second scan runs to its end"
    );
    assert_eq!(first.finishes(), vec![None]);
    assert_eq!(
        first.terminals().len(),
        1,
        "the first scan stopped before terminal b appeared"
    );
    assert_eq!(second.finishes(), vec![None]);
    assert_eq!(
        second.terminals().len(),
        2,
        "the second scan reports both terminals afresh"
    );
    assert_eq!(central.scans_started(), 2);
    assert_eq!(
        central.most_scans_at_once(),
        1,
        "the radio ran one scan at a time"
    );
}

#[tokio::test(start_paused = true)]
async fn adapter_failures_have_their_own_codes() {
    for (adapter, expected) in [
        (SimulatedAdapter::Missing, "bluetooth.no_adapter"),
        (SimulatedAdapter::Off, "bluetooth.off"),
        (
            SimulatedAdapter::PermissionDenied,
            "bluetooth.permission_denied",
        ),
    ] {
        let (ble, _) = scanner(adapter, vec![terminal_a()]);
        let (listener, mut rx) = Recorder::new();
        let handle = ble.start_scan(
            &tokio::runtime::Handle::current(),
            Duration::from_secs(5),
            listener.clone(),
        );
        let outcome = finished(&handle, &mut rx).await;
        assert_eq!(code(&outcome), Some(expected));
        assert!(matches!(outcome, Some(MerchantError::Bluetooth { .. })));
        assert!(listener.terminals().is_empty());
        let read = ble
            .read_terminal("sim-a", DEFAULT_READ_TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(read.code, expected);
        assert_eq!(read.kind, ErrorKind::Bluetooth);
    }
}

#[tokio::test(start_paused = true)]
async fn read_terminal_returns_the_trimmed_dis_values() {
    let padded = SimulatedTerminal {
        serial: Some(b"LKLA800123455\0\0\0".to_vec()),
        model: Some(b"  A8 ".to_vec()),
        firmware: Some("固件 1.2.3\r\n".as_bytes().to_vec()),
        ..terminal_a()
    };
    let (ble, _) = scanner(SimulatedAdapter::Ready, vec![padded]);
    let found = ble.scan(Duration::from_secs(2)).await.unwrap();
    let info = ble
        .read_terminal(&found[0].device_id, DEFAULT_READ_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        info,
        BleTerminalInfo {
            device_id: "sim-a".into(),
            serial: "LKLA800123455".into(),
            model: "A8".into(),
            firmware: "固件 1.2.3".into(),
        }
    );
}

#[tokio::test(start_paused = true)]
async fn read_failures_have_their_own_codes() {
    let gone = SimulatedTerminal {
        gone_mid_read: true,
        ..SimulatedTerminal::new("sim-gone", "LKL0000003", "A8", "1.0")
    };
    let slow = SimulatedTerminal {
        read_delay: Duration::from_secs(20),
        ..SimulatedTerminal::new("sim-slow", "LKL0000004", "A8", "1.0")
    };
    let no_firmware = SimulatedTerminal {
        firmware: None,
        ..SimulatedTerminal::new("sim-nofw", "LKL0000005", "A8", "1.0")
    };
    let bad_utf8 = SimulatedTerminal {
        serial: Some(vec![b'L', 0xff, 0xfe]),
        ..SimulatedTerminal::new("sim-utf8", "x", "A8", "1.0")
    };
    let (ble, _) = scanner(
        SimulatedAdapter::Ready,
        vec![gone, slow.clone(), no_firmware, bad_utf8],
    );
    let read = |id: &'static str| {
        let ble = ble.clone();
        async move {
            ble.read_terminal(id, DEFAULT_READ_TIMEOUT)
                .await
                .unwrap_err()
        }
    };
    assert!(read("sim-gone").await.is(&DEVICE_GONE));
    assert!(read("sim-slow").await.is(&READ_TIMEOUT));
    assert!(read("sim-nofw").await.is(&CHARACTERISTIC_MISSING));
    assert!(read("sim-utf8").await.is(&VALUE_INVALID));
    assert!(read("sim-never-seen").await.is(&DEVICE_UNKNOWN));
    assert!(read("").await.is(&DEVICE_UNKNOWN));
    let long_id = "x".repeat(MAX_DEVICE_ID_BYTES + 1);
    assert!(
        ble.read_terminal(&long_id, DEFAULT_READ_TIMEOUT)
            .await
            .unwrap_err()
            .is(&DEVICE_UNKNOWN)
    );
    // A slow terminal is read when the caller allows the time.
    let info = ble
        .read_terminal("sim-slow", Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(info.serial, "LKL0000004");
}

#[test]
fn dis_values_are_bounded_utf8_without_control_characters() {
    let raw = |serial: &[u8]| DisValues {
        serial: serial.to_vec(),
        model: b"A8".to_vec(),
        firmware: b"1.0".to_vec(),
    };
    let ok = |serial: &[u8]| decode_dis("d", &raw(serial)).map(|i| i.serial);
    let invalid = |serial: &[u8]| {
        let e = decode_dis("d", &raw(serial)).unwrap_err();
        assert!(e.is(&VALUE_INVALID), "{serial:?} gave {e}");
    };
    assert_eq!(ok(b"\0 LKL1 \0").unwrap(), "LKL1");
    assert_eq!(ok(&[b'S'; MAX_DIS_CHARS]).unwrap().len(), MAX_DIS_CHARS);
    assert_eq!(ok("终端序列号".as_bytes()).unwrap(), "终端序列号");
    invalid(&[b'S'; MAX_DIS_CHARS + 1]);
    invalid(&vec![0u8; MAX_DIS_BYTES + 1]);
    invalid(b"");
    invalid(b"\0\0\0");
    invalid(b"   ");
    invalid(&[0xc3]);
    invalid(&[0xff; 8]);
    invalid(b"LKL\x1b[31m1");
    invalid(b"LKL\x001");
    for (serial, model, firmware) in [
        (b"S".as_slice(), b"".as_slice(), b"1".as_slice()),
        (b"S", b"M", &[0x80]),
    ] {
        let e = decode_dis(
            "d",
            &DisValues {
                serial: serial.to_vec(),
                model: model.to_vec(),
                firmware: firmware.to_vec(),
            },
        )
        .unwrap_err();
        assert!(e.is(&VALUE_INVALID));
    }
}

#[test]
fn arbitrary_dis_bytes_never_panic() {
    use proptest::prelude::*;
    proptest!(|(serial in proptest::collection::vec(any::<u8>(), 0..700))| {
        let raw = DisValues { serial, model: b"A8".to_vec(), firmware: b"1".to_vec() };
        match decode_dis("d", &raw) {
            Ok(info) => {
                prop_assert!(!info.serial.is_empty());
                prop_assert!(info.serial.chars().count() <= MAX_DIS_CHARS);
                prop_assert!(!info.serial.chars().any(char::is_control));
            }
            Err(e) => prop_assert!(e.is(&VALUE_INVALID)),
        }
    });
}

#[test]
fn advertised_names_are_cleaned_and_bounded() {
    assert_eq!(clean_name(" LKL-A8\u{7}\n "), Some("LKL-A8".into()));
    assert_eq!(clean_name("\0\0"), None);
    assert_eq!(
        clean_name(&"名".repeat(200)).unwrap().chars().count(),
        MAX_NAME_CHARS
    );
    let mut seen = HashSet::new();
    let long = BleTerminalSeen {
        device_id: "x".repeat(MAX_DEVICE_ID_BYTES + 1),
        name: None,
        rssi: None,
    };
    assert_eq!(admit(long, &mut seen), None);
}

/// The real backend on a machine without a Bluetooth adapter (or without a
/// D-Bus system bus): a typed `bluetooth.*` error, no panic, no hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_backend_without_an_adapter_fails_with_a_bluetooth_code() {
    const EXPECTED: &[&str] = &[
        "bluetooth.no_adapter",
        "bluetooth.off",
        "bluetooth.permission_denied",
        "bluetooth.failed",
        "bluetooth.scan_timeout",
    ];
    let bound = Duration::from_secs(20);
    let ble = BleScanner::default();

    let (listener, mut rx) = Recorder::new();
    let handle = ble.start_scan(
        &tokio::runtime::Handle::current(),
        Duration::from_secs(3),
        listener.clone(),
    );
    let outcome = tokio::time::timeout(bound, finished(&handle, &mut rx))
        .await
        .expect("the scan ends");
    let Some(MerchantError::Bluetooth { code, .. }) = &outcome else {
        panic!("expected a Bluetooth error, got {outcome:?}");
    };
    assert!(EXPECTED.contains(&code.as_str()), "{code}");
    assert_eq!(listener.finishes().len(), 1);

    let read = tokio::time::timeout(
        bound,
        ble.read_terminal("hci0/dev_00_11_22_33_44_55", DEFAULT_READ_TIMEOUT),
    )
    .await
    .expect("the read ends")
    .unwrap_err();
    assert_eq!(read.kind, ErrorKind::Bluetooth);
    assert!(
        EXPECTED.contains(&read.code.as_ref()) || read.is(&DEVICE_UNKNOWN),
        "{}",
        read.code
    );

    let collected = tokio::time::timeout(bound, ble.scan(Duration::from_secs(3)))
        .await
        .expect("the collecting scan ends")
        .unwrap_err();
    assert_eq!(collected.kind, ErrorKind::Bluetooth);
    assert!(
        EXPECTED.contains(&collected.code.as_ref()),
        "{}",
        collected.code
    );
}
