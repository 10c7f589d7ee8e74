//! [`SimulatedCentral`]: advertising terminals without a radio, for flow
//! tests and demos, with the failures a real radio has.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    BleCentral, BleTerminalSeen, BoxFuture, CHARACTERISTIC_MISSING, DEVICE_GONE, DEVICE_UNKNOWN,
    DisValues, NO_ADAPTER, OFF, PERMISSION_DENIED, ScanStop, TERMINAL_SERVICE,
};
use crate::error::{Error, Result};

/// The state of the simulated adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimulatedAdapter {
    #[default]
    Ready,
    /// No adapter: `bluetooth.no_adapter`.
    Missing,
    /// Bluetooth off: `bluetooth.off`.
    Off,
    /// The app may not use Bluetooth: `bluetooth.permission_denied`.
    PermissionDenied,
}

/// One simulated peripheral.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedTerminal {
    pub device_id: String,
    pub name: Option<String>,
    pub rssi: Option<i16>,
    /// The services it advertises ([`TERMINAL_SERVICE`] for a terminal).
    pub services: Vec<Uuid>,
    /// Raw DIS values; `None` leaves the characteristic out.
    pub serial: Option<Vec<u8>>,
    pub model: Option<Vec<u8>>,
    pub firmware: Option<Vec<u8>>,
    /// It starts advertising this long after a scan starts.
    pub appears_after: Duration,
    /// Each characteristic read takes this long.
    pub read_delay: Duration,
    /// It goes away after its serial has been read (`bluetooth.device_gone`).
    pub gone_mid_read: bool,
}

impl SimulatedTerminal {
    /// A terminal advertising the terminal service, with UTF-8 DIS values.
    pub fn new(device_id: &str, serial: &str, model: &str, firmware: &str) -> Self {
        SimulatedTerminal {
            device_id: device_id.to_owned(),
            name: Some(format!("LKL-{model}")),
            rssi: Some(-60),
            services: vec![TERMINAL_SERVICE],
            serial: Some(serial.as_bytes().to_vec()),
            model: Some(model.as_bytes().to_vec()),
            firmware: Some(firmware.as_bytes().to_vec()),
            appears_after: Duration::ZERO,
            read_delay: Duration::ZERO,
            gone_mid_read: false,
        }
    }
}

/// A central whose adapter state and nearby peripherals are configured.
/// Each advertising peripheral is reported again every `advertise_every`, as
/// a real radio does.
#[derive(Debug)]
pub struct SimulatedCentral {
    adapter: SimulatedAdapter,
    terminals: Vec<SimulatedTerminal>,
    advertise_every: Duration,
    running: AtomicUsize,
    most_running: AtomicUsize,
    scans: AtomicUsize,
}

impl SimulatedCentral {
    pub fn new(adapter: SimulatedAdapter, terminals: Vec<SimulatedTerminal>) -> Self {
        SimulatedCentral {
            adapter,
            terminals,
            advertise_every: Duration::from_millis(200),
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
            scans: AtomicUsize::new(0),
        }
    }

    /// Scans running now.
    pub fn scans_running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// The most scans that ever ran at the same time.
    pub fn most_scans_at_once(&self) -> usize {
        self.most_running.load(Ordering::SeqCst)
    }

    /// Scans started so far.
    pub fn scans_started(&self) -> usize {
        self.scans.load(Ordering::SeqCst)
    }

    fn adapter_ready(&self) -> Result<()> {
        match self.adapter {
            SimulatedAdapter::Ready => Ok(()),
            SimulatedAdapter::Missing => Err(Error::new(&NO_ADAPTER)),
            SimulatedAdapter::Off => Err(Error::new(&OFF)),
            SimulatedAdapter::PermissionDenied => Err(Error::new(&PERMISSION_DENIED)),
        }
    }

    async fn run_scan(
        &self,
        service: Uuid,
        found: mpsc::Sender<BleTerminalSeen>,
        mut stop: ScanStop,
    ) -> Result<()> {
        self.adapter_ready()?;
        self.scans.fetch_add(1, Ordering::SeqCst);
        let _running = Running::start(self);
        let started = tokio::time::Instant::now();
        loop {
            for t in &self.terminals {
                if t.services.contains(&service) && started.elapsed() >= t.appears_after {
                    let seen = BleTerminalSeen {
                        device_id: t.device_id.clone(),
                        name: t.name.clone(),
                        rssi: t.rssi,
                    };
                    if found.send(seen).await.is_err() {
                        return Ok(());
                    }
                }
            }
            tokio::select! {
                biased;
                _ = stop.stopped() => return Ok(()),
                _ = tokio::time::sleep(self.advertise_every) => {}
            }
        }
    }

    async fn run_read(&self, device_id: &str) -> Result<DisValues> {
        self.adapter_ready()?;
        let Some(t) = self.terminals.iter().find(|t| t.device_id == device_id) else {
            return Err(Error::new(&DEVICE_UNKNOWN));
        };
        let read = |value: &Option<Vec<u8>>| {
            value
                .clone()
                .ok_or_else(|| Error::new(&CHARACTERISTIC_MISSING))
        };
        tokio::time::sleep(t.read_delay).await;
        let serial = read(&t.serial)?;
        if t.gone_mid_read {
            return Err(Error::new(&DEVICE_GONE).detail("simulated: gone after the serial"));
        }
        tokio::time::sleep(t.read_delay).await;
        let model = read(&t.model)?;
        tokio::time::sleep(t.read_delay).await;
        let firmware = read(&t.firmware)?;
        Ok(DisValues {
            serial,
            model,
            firmware,
        })
    }
}

/// Counts a running scan for as long as it lives.
struct Running<'a>(&'a SimulatedCentral);

impl<'a> Running<'a> {
    fn start(central: &'a SimulatedCentral) -> Self {
        let now = central.running.fetch_add(1, Ordering::SeqCst) + 1;
        central.most_running.fetch_max(now, Ordering::SeqCst);
        Running(central)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BleCentral for SimulatedCentral {
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
