//! [`BtleplugCentral`]: the real radio through btleplug.
//!
//! btleplug's errors are mapped to this module's codes. On Linux most of
//! them arrive as `Other` wrapping a BlueZ/D-Bus error, whose D-Bus error
//! name (a stable part of the D-Bus and BlueZ interfaces) tells what went
//! wrong; failing to reach the system bus or BlueZ at all means there is no
//! usable adapter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use btleplug::api::{
    Central, CentralEvent, CentralState, Manager as _, Peripheral as _, ScanFilter,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    BleCentral, BleTerminalSeen, BoxFuture, CHARACTERISTIC_MISSING, DEVICE_GONE,
    DEVICE_INFORMATION_SERVICE, DEVICE_UNKNOWN, DisValues, FAILED,
    FIRMWARE_REVISION_CHARACTERISTIC, MODEL_NUMBER_CHARACTERISTIC, NO_ADAPTER, OFF,
    PERMISSION_DENIED, READ_TIMEOUT, SERIAL_NUMBER_CHARACTERISTIC, ScanStop,
};
use crate::error::{Code, Error, Result};

/// How long reaching the Bluetooth stack (the D-Bus system bus and BlueZ on
/// Linux) may take.
const STACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one GATT step (connect, discover, read) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stopping a scan or disconnecting may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);
/// The most peripherals remembered between a scan and a read.
const MAX_REMEMBERED: usize = 256;

/// The platform's Bluetooth LE stack through btleplug. Peripherals seen in
/// its scans are remembered (by device id) for [`BleCentral::read_dis`].
///
/// On Android, btleplug needs its JNI bridge initialised by the app first
/// (`btleplug::platform::init`); without it this fails with `bluetooth.*`
/// codes like any other missing stack.
pub struct BtleplugCentral {
    adapter: tokio::sync::Mutex<Option<Adapter>>,
    peripherals: Mutex<HashMap<String, Peripheral>>,
}

impl Default for BtleplugCentral {
    fn default() -> Self {
        BtleplugCentral::new()
    }
}

impl BtleplugCentral {
    /// Cheap: nothing is touched until the first scan or read.
    pub fn new() -> Self {
        BtleplugCentral {
            adapter: tokio::sync::Mutex::new(None),
            peripherals: Mutex::new(HashMap::new()),
        }
    }

    /// The first adapter, powered on. The manager is made once and kept: on
    /// Linux each one holds a D-Bus connection.
    async fn adapter(&self) -> Result<Adapter> {
        let mut slot = self.adapter.lock().await;
        let adapter = match slot.as_ref() {
            Some(a) => a.clone(),
            None => {
                let manager = new_manager().await?;
                let adapters = bounded(STACK_TIMEOUT, manager.adapters(), Stage::Stack).await?;
                let Some(adapter) = adapters.into_iter().next() else {
                    return Err(Error::new(&NO_ADAPTER).detail("the stack lists no adapter"));
                };
                *slot = Some(adapter.clone());
                adapter
            }
        };
        match bounded(STACK_TIMEOUT, adapter.adapter_state(), Stage::Stack).await {
            Ok(CentralState::PoweredOff) => Err(Error::new(&OFF)),
            Ok(_) => Ok(adapter),
            Err(e) => {
                // The connection may be gone (BlueZ restarted): make a new one next time.
                *slot = None;
                Err(e)
            }
        }
    }

    fn remember(&self, id: String, peripheral: Peripheral) {
        if let Ok(mut map) = self.peripherals.lock() {
            if map.len() >= MAX_REMEMBERED && !map.contains_key(&id) {
                map.clear();
            }
            map.insert(id, peripheral);
        }
    }

    fn remembered(&self, id: &str) -> Option<Peripheral> {
        self.peripherals
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
    }

    async fn run_scan(
        &self,
        service: Uuid,
        found: mpsc::Sender<BleTerminalSeen>,
        mut stop: ScanStop,
    ) -> Result<()> {
        let adapter = self.adapter().await?;
        let mut events = bounded(STACK_TIMEOUT, adapter.events(), Stage::Scan).await?;
        bounded(
            STACK_TIMEOUT,
            adapter.start_scan(ScanFilter {
                services: vec![service],
            }),
            Stage::Scan,
        )
        .await?;
        let result = loop {
            tokio::select! {
                biased;
                _ = stop.stopped() => break Ok(()),
                event = events.next() => match event {
                    None => break Err(Error::new(&FAILED).detail("the adapter's event stream ended")),
                    Some(CentralEvent::StateUpdate(CentralState::PoweredOff)) => break Err(Error::new(&OFF)),
                    Some(
                        CentralEvent::DeviceDiscovered(id)
                        | CentralEvent::DeviceUpdated(id)
                        | CentralEvent::ServicesAdvertisement { id, .. }
                        | CentralEvent::ServiceDataAdvertisement { id, .. },
                    ) => {
                        if let Some(seen) = self.look_at(&adapter, &id, service).await
                            && found.send(seen).await.is_err()
                        {
                            break Ok(());
                        }
                    }
                    Some(_) => {}
                },
            }
        };
        let _ = tokio::time::timeout(CLEANUP_TIMEOUT, adapter.stop_scan()).await;
        result
    }

    /// The peripheral `id` as a terminal, if it advertises `service`.
    async fn look_at(
        &self,
        adapter: &Adapter,
        id: &btleplug::platform::PeripheralId,
        service: Uuid,
    ) -> Option<BleTerminalSeen> {
        let peripheral = tokio::time::timeout(STEP_TIMEOUT, adapter.peripheral(id))
            .await
            .ok()?
            .ok()?;
        let properties = tokio::time::timeout(STEP_TIMEOUT, peripheral.properties())
            .await
            .ok()?
            .ok()??;
        if !properties.services.contains(&service) {
            return None;
        }
        let device_id = id.to_string();
        self.remember(device_id.clone(), peripheral);
        Some(BleTerminalSeen {
            device_id,
            name: properties.local_name.or(properties.advertisement_name),
            rssi: properties.rssi,
        })
    }

    async fn run_read(&self, device_id: &str) -> Result<DisValues> {
        // The stack first: without an adapter, "unknown device" would mislead.
        self.adapter().await?;
        let Some(peripheral) = self.remembered(device_id) else {
            return Err(Error::new(&DEVICE_UNKNOWN));
        };
        let result = read_values(&peripheral).await;
        let _ = tokio::time::timeout(CLEANUP_TIMEOUT, peripheral.disconnect()).await;
        result
    }
}

async fn read_values(peripheral: &Peripheral) -> Result<DisValues> {
    if !bounded(STEP_TIMEOUT, peripheral.is_connected(), Stage::Read).await? {
        bounded(STEP_TIMEOUT, peripheral.connect(), Stage::Read).await?;
    }
    bounded(STEP_TIMEOUT, peripheral.discover_services(), Stage::Read).await?;
    let characteristics = peripheral.characteristics();
    Ok(DisValues {
        serial: read_one(peripheral, &characteristics, SERIAL_NUMBER_CHARACTERISTIC).await?,
        model: read_one(peripheral, &characteristics, MODEL_NUMBER_CHARACTERISTIC).await?,
        firmware: read_one(
            peripheral,
            &characteristics,
            FIRMWARE_REVISION_CHARACTERISTIC,
        )
        .await?,
    })
}

async fn read_one(
    peripheral: &Peripheral,
    characteristics: &std::collections::BTreeSet<btleplug::api::Characteristic>,
    uuid: Uuid,
) -> Result<Vec<u8>> {
    let Some(c) = characteristics
        .iter()
        .find(|c| c.uuid == uuid && c.service_uuid == DEVICE_INFORMATION_SERVICE)
    else {
        return Err(Error::new(&CHARACTERISTIC_MISSING).detail(format!("no {uuid}")));
    };
    bounded(STEP_TIMEOUT, peripheral.read(c), Stage::Read).await
}

impl BleCentral for BtleplugCentral {
    fn scan<'a>(
        &'a self,
        service: Uuid,
        found: mpsc::Sender<BleTerminalSeen>,
        stop: ScanStop,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.run_scan(service, found, stop))
    }

    fn read_dis<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Result<DisValues>> {
        Box::pin(self.run_read(device_id))
    }
}

/// Makes the btleplug manager. On Linux this connects to the D-Bus system
/// bus synchronously, so it runs on a blocking thread, bounded in time.
async fn new_manager() -> Result<Manager> {
    #[cfg(target_os = "linux")]
    {
        let runtime = tokio::runtime::Handle::current();
        let connect = tokio::task::spawn_blocking(move || runtime.block_on(Manager::new()));
        match tokio::time::timeout(STACK_TIMEOUT, connect).await {
            Err(_) => Err(Error::new(&NO_ADAPTER).detail("the Bluetooth stack did not answer")),
            Ok(Err(e)) => Err(Error::new(&FAILED).detail(format!("stack connection task: {e}"))),
            Ok(Ok(r)) => r.map_err(|e| map_error(e, Stage::Stack)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        bounded(STACK_TIMEOUT, Manager::new(), Stage::Stack).await
    }
}

/// What was being done when btleplug failed, for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reaching the stack and the adapter.
    Stack,
    Scan,
    /// Connecting to a peripheral and reading it.
    Read,
}

/// `fut` within `limit`; btleplug's errors mapped.
async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = btleplug::Result<T>>,
    stage: Stage,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| map_error(e, stage)),
        Err(_) => Err(match stage {
            Stage::Stack => Error::new(&NO_ADAPTER).detail("the Bluetooth stack did not answer"),
            Stage::Scan => Error::new(&FAILED).detail("the adapter did not answer"),
            Stage::Read => Error::new(&READ_TIMEOUT),
        }),
    }
}

/// D-Bus error names (BlueZ and the bus itself) and the code each means.
const DBUS_NAMES: &[(&str, &Code)] = &[
    (
        "org.freedesktop.DBus.Error.AccessDenied",
        &PERMISSION_DENIED,
    ),
    ("org.freedesktop.DBus.Error.AuthFailed", &PERMISSION_DENIED),
    ("org.bluez.Error.NotPermitted", &PERMISSION_DENIED),
    ("org.bluez.Error.NotAuthorized", &PERMISSION_DENIED),
    ("org.bluez.Error.AuthenticationFailed", &PERMISSION_DENIED),
    ("org.bluez.Error.NotReady", &OFF),
    ("org.freedesktop.DBus.Error.ServiceUnknown", &NO_ADAPTER),
    ("org.freedesktop.DBus.Error.NameHasNoOwner", &NO_ADAPTER),
    ("org.freedesktop.DBus.Error.NoServer", &NO_ADAPTER),
    ("org.freedesktop.DBus.Error.FileNotFound", &NO_ADAPTER),
    ("org.freedesktop.DBus.Error.Spawn", &NO_ADAPTER),
    ("org.bluez.Error.NotAvailable", &NO_ADAPTER),
    ("org.bluez.Error.DoesNotExist", &DEVICE_GONE),
    ("org.freedesktop.DBus.Error.UnknownObject", &DEVICE_GONE),
    ("org.freedesktop.DBus.Error.UnknownMethod", &DEVICE_GONE),
    ("org.bluez.Error.NotConnected", &DEVICE_GONE),
    ("org.bluez.Error.Failed", &FAILED),
    ("org.bluez.Error.InProgress", &FAILED),
];

/// btleplug's error as one of this module's codes. The technical text
/// (names, paths; never personal data) goes to the detail for the log.
fn map_error(e: btleplug::Error, stage: Stage) -> Error {
    use btleplug::Error as B;
    let code: &Code = match &e {
        B::PermissionDenied => &PERMISSION_DENIED,
        B::NoAdapterAvailable => &NO_ADAPTER,
        B::DeviceNotFound | B::NotConnected if stage == Stage::Read => &DEVICE_GONE,
        B::DeviceNotFound | B::NotConnected => &FAILED,
        B::NoSuchCharacteristic | B::UnexpectedCharacteristic => &CHARACTERISTIC_MISSING,
        B::TimedOut(_) if stage == Stage::Read => &READ_TIMEOUT,
        B::TimedOut(_) if stage == Stage::Stack => &NO_ADAPTER,
        B::Other(inner) => other_code(&format!("{inner:?}"), stage),
        _ => &FAILED,
    };
    let mut detail = format!("{stage:?}: {e:?}");
    if detail.len() > 300 {
        let mut end = 300;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
    }
    Error::new(code).detail(detail)
}

/// The code for a wrapped stack error, from its debug text (which carries
/// the D-Bus error name on Linux).
fn other_code(debug: &str, stage: Stage) -> &'static Code {
    if let Some((_, code)) = DBUS_NAMES.iter().find(|(name, _)| debug.contains(name)) {
        return code;
    }
    if debug.contains("NoBluetoothAdapters") {
        return &NO_ADAPTER;
    }
    if debug.contains("UuidNotFound") {
        return &CHARACTERISTIC_MISSING;
    }
    if debug.contains("ServiceDiscoveryTimedOut") {
        return &READ_TIMEOUT;
    }
    match stage {
        // Not reaching the system bus or BlueZ: no usable adapter here.
        Stage::Stack => &NO_ADAPTER,
        Stage::Scan | Stage::Read => &FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbus_error_names_map_to_their_codes() {
        let text = |name: &str| format!("DbusError(D-Bus error: something ({name}))");
        assert_eq!(
            other_code(
                &text("org.freedesktop.DBus.Error.AccessDenied"),
                Stage::Scan
            )
            .code,
            PERMISSION_DENIED.code
        );
        assert_eq!(
            other_code(&text("org.bluez.Error.NotReady"), Stage::Scan).code,
            OFF.code
        );
        assert_eq!(
            other_code(
                &text("org.freedesktop.DBus.Error.ServiceUnknown"),
                Stage::Scan
            )
            .code,
            NO_ADAPTER.code
        );
        assert_eq!(
            other_code(&text("org.bluez.Error.DoesNotExist"), Stage::Read).code,
            DEVICE_GONE.code
        );
        assert_eq!(
            other_code("NoBluetoothAdapters", Stage::Scan).code,
            NO_ADAPTER.code
        );
        assert_eq!(
            other_code("something else", Stage::Stack).code,
            NO_ADAPTER.code
        );
        assert_eq!(other_code("something else", Stage::Read).code, FAILED.code);
    }

    #[test]
    fn btleplug_errors_map_by_stage() {
        assert!(map_error(btleplug::Error::PermissionDenied, Stage::Scan).is(&PERMISSION_DENIED));
        assert!(map_error(btleplug::Error::NoAdapterAvailable, Stage::Stack).is(&NO_ADAPTER));
        assert!(map_error(btleplug::Error::DeviceNotFound, Stage::Read).is(&DEVICE_GONE));
        assert!(map_error(btleplug::Error::NotConnected, Stage::Read).is(&DEVICE_GONE));
        assert!(map_error(btleplug::Error::NotConnected, Stage::Scan).is(&FAILED));
        assert!(
            map_error(btleplug::Error::NoSuchCharacteristic, Stage::Read)
                .is(&CHARACTERISTIC_MISSING)
        );
        assert!(
            map_error(
                btleplug::Error::TimedOut(Duration::from_secs(1)),
                Stage::Read
            )
            .is(&READ_TIMEOUT)
        );
        assert!(map_error(btleplug::Error::Other("x".into()), Stage::Stack).is(&NO_ADAPTER));
        assert!(map_error(btleplug::Error::RuntimeError("x".into()), Stage::Read).is(&FAILED));
    }
}
