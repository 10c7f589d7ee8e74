//! terminals: bind a terminal by its back QR (text or photo), by its typed
//! serial or over Bluetooth LE; the merchant's terminal list with main and
//! secondary terminals and aliases, kept on the phone and shown offline.
//!
//! - [`qr`]: the back QR's text: trusted hosts only, look-alikes refused.
//! - [`photo`]: the back QR read from a photo (media/ decodes it).
//! - [`serial`]: serial normalisation and the platform's model rules.
//! - [`ble`]: Bluetooth LE behind a narrow trait (btleplug by default).
//! - [`api`]: the platform calls; [`store`]: the list and the model cache;
//!   [`events`]: the one function applying terminal events to the list.

pub mod api;
pub mod ble;
pub mod events;
pub mod model;
pub mod photo;
pub mod qr;
pub mod serial;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use merchant_contract::domain;

use crate::MerchantCore;
use crate::error::{Code, Error, MerchantError, Result};
use crate::session::SessionState;

pub use model::{BindOutcome, BindResult, Terminal, TerminalRole, TerminalStatus, TerminalUpdate};

/// Every code of the terminals capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    qr::CODES
        .iter()
        .chain(photo::CODES)
        .chain(serial::CODES)
        .chain(ble::CODES)
}

#[uniffi::export]
impl MerchantCore {
    /// Reads what the camera decoded from a terminal's back QR: the contract's
    /// `https://HOST/activate?sn=…&sig=…` from a trusted host
    /// (`CoreConfig::trusted_qr_hosts`), or a bare serial. A look-alike host,
    /// plain http, user-info, punycode and the like are refused with their
    /// `qr.*` codes. No network.
    pub fn parse_terminal_qr(&self, text: String) -> Result<qr::TerminalQr, MerchantError> {
        Ok(qr::parse_qr_text(&text, &self.config().qr_hosts())?)
    }

    /// Reads the back QR from a JPEG or PNG photo of the terminal (any
    /// angle, a code as small as a tenth of the photo's width, up to 12
    /// megapixels and more within the 40-megapixel budget), then parses it
    /// as `parse_terminal_qr` does. `qr.not_found` when no code can be read;
    /// `photo.*` for bytes that are not a usable image.
    pub async fn scan_terminal_qr(&self, photo: Vec<u8>) -> Result<qr::TerminalQr, MerchantError> {
        let hosts = self.config().qr_hosts();
        self.run(async move {
            tokio::task::spawn_blocking(move || photo::scan_qr_photo(&photo, &hosts))
                .await
                .map_err(|e| Error::new(&crate::error::RUNTIME).detail(e.to_string()))?
        })
        .await
    }

    /// Checks a typed serial: separators and case are forgiven, the check
    /// digit and, once the platform's model list is on the phone, the
    /// model's own rule are not. Works offline.
    pub async fn check_terminal_serial(
        &self,
        text: String,
    ) -> Result<serial::SerialCheck, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let models = cached_models(&state).await?;
            serial::check_serial(&text, &models)
        })
        .await
    }

    /// Fetches the platform's terminal models (their serial rules, whether
    /// they have Bluetooth) and keeps them for offline checks.
    pub async fn refresh_terminal_models(
        &self,
    ) -> Result<Vec<serial::TerminalModel>, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let models = api::models(&state).await?;
            let store = state.merchant_store().await?;
            store.db().write(|tx| store::replace_models(tx, &models))?;
            Ok(models)
        })
        .await
    }

    /// The terminal models kept on the phone (empty before the first
    /// `refresh_terminal_models`).
    pub async fn terminal_models(&self) -> Result<Vec<serial::TerminalModel>, MerchantError> {
        let state = self.session_state();
        self.run(async move { cached_models(&state).await }).await
    }

    /// Binds the terminal whose back QR the camera decoded. The QR is checked
    /// on the phone first (a phishing QR never leaves it), then the platform
    /// checks its signature. A terminal that belongs to another merchant is
    /// refused with `terminal.owned_by_other` and recorded as a protection
    /// finding.
    pub async fn bind_terminal_by_qr(&self, text: String) -> Result<BindResult, MerchantError> {
        let parsed = qr::parse_qr_text(&text, &self.config().qr_hosts())?;
        let body = bind_body(&parsed, &text);
        let state = self.session_state();
        self.run(async move { bind(&state, &parsed.sn, body).await })
            .await
    }

    /// Binds the terminal whose back QR is in `photo` (`scan_terminal_qr`, then
    /// `bind_terminal_by_qr`).
    pub async fn bind_terminal_by_qr_photo(
        &self,
        photo: Vec<u8>,
    ) -> Result<BindResult, MerchantError> {
        let hosts = self.config().qr_hosts();
        let state = self.session_state();
        self.run(async move {
            let (parsed, text) =
                tokio::task::spawn_blocking(move || photo::scan_qr_photo_text(&photo, &hosts))
                    .await
                    .map_err(|e| Error::new(&crate::error::RUNTIME).detail(e.to_string()))??;
            let body = bind_body(&parsed, &text);
            bind(&state, &parsed.sn, body).await
        })
        .await
    }

    /// Binds a terminal by the serial the merchant typed (checked as
    /// `check_terminal_serial` does before anything is sent).
    pub async fn bind_terminal_by_serial(&self, text: String) -> Result<BindResult, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let models = models_for_bind(&state).await?;
            let checked = serial::check_serial(&text, &models)?;
            let body = domain::BindTerminal {
                sn: Some(checked.sn.clone()),
                qr_text: None,
            };
            bind(&state, &checked.sn, body).await
        })
        .await
    }

    /// Binds a terminal found by `scan_terminals_ble`: reads its serial over
    /// Bluetooth LE (Device Information Service), then binds by serial.
    pub async fn bind_terminal_by_ble(
        &self,
        device_id: String,
    ) -> Result<BindResult, MerchantError> {
        let scanner = self.ble().clone();
        let state = self.session_state();
        self.run(async move {
            let info = scanner
                .read_terminal(&device_id, ble::DEFAULT_READ_TIMEOUT)
                .await?;
            let models = models_for_bind(&state).await?;
            let checked = serial::check_serial(&info.serial, &models)?;
            let body = domain::BindTerminal {
                sn: Some(checked.sn.clone()),
                qr_text: None,
            };
            bind(&state, &checked.sn, body).await
        })
        .await
    }

    /// Scans for terminals over Bluetooth LE for `timeout_ms` (at most 120 s),
    /// reporting each one once to `listener`. The returned handle stops the
    /// scan on `cancel()` or when dropped. Without an adapter, with Bluetooth
    /// off or without permission the listener's `on_finished` gets the
    /// `bluetooth.*` error; nothing found in time is `bluetooth.scan_timeout`.
    pub fn scan_terminals_ble(
        &self,
        timeout_ms: u64,
        listener: Arc<dyn ble::BleScanListener>,
    ) -> Result<Arc<ble::BleScanHandle>, MerchantError> {
        let handle = self.runtime_handle()?;
        Ok(self
            .ble()
            .start_scan(&handle, Duration::from_millis(timeout_ms), listener))
    }

    /// Reads a scanned terminal's serial, model and firmware over Bluetooth LE.
    pub async fn read_terminal_ble(
        &self,
        device_id: String,
    ) -> Result<ble::BleTerminalInfo, MerchantError> {
        let scanner = self.ble().clone();
        self.run(async move {
            scanner
                .read_terminal(&device_id, ble::DEFAULT_READ_TIMEOUT)
                .await
        })
        .await
    }

    /// The merchant's terminals as kept on the phone (shown offline): mains
    /// first, each followed by its secondaries; then the terminals that left
    /// the merchant (status `Unbound`), latest first.
    pub async fn terminals(&self) -> Result<Vec<Terminal>, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let store = state.merchant_store().await?;
            store.db().read(store::list)
        })
        .await
    }

    /// Fetches the terminal list from the platform and keeps it.
    pub async fn refresh_terminals(&self) -> Result<Vec<Terminal>, MerchantError> {
        let state = self.session_state();
        self.run(async move { refresh(&state).await }).await
    }

    /// Sets a terminal's alias and role (a secondary names its main). The
    /// platform's refusals keep their codes: `terminal.main_invalid`,
    /// `terminal.main_has_secondaries`, `field.too_long` …
    pub async fn update_terminal(
        &self,
        sn: String,
        update: TerminalUpdate,
    ) -> Result<Terminal, MerchantError> {
        let sn = serial::normalise_serial(&sn)?.sn;
        let update = TerminalUpdate {
            alias: update
                .alias
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            ..update
        };
        let state = self.session_state();
        self.run(async move {
            let t = api::update(&state, &sn, &update).await?;
            let store = state.merchant_store().await?;
            store.db().write(|tx| store::upsert(tx, &t))?;
            Ok(t)
        })
        .await
    }

    /// Unbinds one of the merchant's terminals. A main that still has
    /// secondaries is refused (`terminal.main_has_secondaries`) until they
    /// are moved.
    pub async fn unbind_terminal(&self, sn: String) -> Result<(), MerchantError> {
        let sn = serial::normalise_serial(&sn)?.sn;
        let state = self.session_state();
        self.run(async move {
            let outcome = api::unbind(&state, &sn).await;
            let store = state.merchant_store().await?;
            match outcome {
                Ok(at) => {
                    store.db().write(|tx| store::mark_unbound(tx, &sn, at))?;
                    Ok(())
                }
                // Not (or no longer) the merchant's: the list must say so.
                Err(e) if e.code == "resource.not_found" => {
                    let now = chrono::Utc::now().timestamp_millis();
                    store.db().write(|tx| store::mark_unbound(tx, &sn, now))?;
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }
}

/// The cached models; none while signed out (only the generic rules apply).
async fn cached_models(state: &SessionState) -> Result<Vec<serial::TerminalModel>> {
    match state.merchant_store().await {
        Ok(store) => store.db().read(store::models),
        Err(e) if e.code == "auth.session_missing" => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The models to check a serial against before binding: the cached ones;
/// when none are cached yet, fetched once (a bind needs the network anyway;
/// if the fetch fails, the generic rules apply and the platform decides).
async fn models_for_bind(state: &SessionState) -> Result<Vec<serial::TerminalModel>> {
    let cached = cached_models(state).await?;
    if !cached.is_empty() {
        return Ok(cached);
    }
    match api::models(state).await {
        Ok(models) => {
            let store = state.merchant_store().await?;
            store.db().write(|tx| store::replace_models(tx, &models))?;
            Ok(models)
        }
        Err(e) => {
            tracing::info!(code = %e.code, "terminal models not fetched; generic serial rules apply");
            Ok(Vec::new())
        }
    }
}

/// What a bind by back QR sends: the QR's text when it is the platform's
/// signed back QR (the platform checks its `sig`); a bare serial printed as a
/// QR binds as a typed serial.
fn bind_body(parsed: &qr::TerminalQr, text: &str) -> domain::BindTerminal {
    if parsed.sig.is_some() {
        domain::BindTerminal {
            sn: None,
            qr_text: Some(text.trim().to_owned()),
        }
    } else {
        domain::BindTerminal {
            sn: Some(parsed.sn.clone()),
            qr_text: None,
        }
    }
}

/// Binds and keeps the answer; a terminal owned by another merchant is
/// recorded as a protection finding and refused with the advice to verify
/// its owner.
async fn bind(state: &SessionState, sn: &str, body: domain::BindTerminal) -> Result<BindResult> {
    match api::bind(state, sn, &body).await {
        Ok((outcome, terminal)) => {
            let store = state.merchant_store().await?;
            store.db().write(|tx| store::upsert(tx, &terminal))?;
            Ok(BindResult { outcome, terminal })
        }
        Err(e) if e.code == domain::TERMINAL_OWNED_BY_OTHER.code => {
            let store = state.merchant_store().await?;
            store
                .db()
                .write(|tx| crate::findings::record(tx, &events::owned_by_other(sn)))?;
            let mut e = e;
            e.message = Some(events::owned_by_other_advice());
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Fetches the terminal list from the platform and keeps it; the list as
/// kept.
pub async fn refresh(state: &crate::session::SessionState) -> Result<Vec<Terminal>> {
    let listed = api::list(state).await?;
    let store = state.merchant_store().await?;
    store.db().write(|tx| {
        store::replace_all(tx, &listed)?;
        store::list(tx)
    })
}
