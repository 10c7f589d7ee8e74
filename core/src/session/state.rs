//! The session capability's state and logic, held by [`crate::MerchantCore`].
//!
//! On disk:
//!
//! ```text
//! <data_dir>/device/device.key            the device key, wrapped (device.rs)
//! <data_dir>/session/resident             id of the merchant whose store is on this device
//! <data_dir>/merchants/<id>/...           that merchant's store; the tokens sealed in its
//!                                          vault under "session.tokens"
//! ```
//!
//! The merchant is signed in when the resident merchant's vault holds
//! tokens. Signing out wipes the resident store (its data key first).
//! Signing in as another merchant wipes the previous one's.
//!
//! Refresh: before a call, an access token within [`REFRESH_MARGIN_SECS`] of
//! its expiry is refreshed first; a call refused with `auth.session_expired`
//! is refreshed and sent once more. Refreshes are single-flight: callers that
//! waited while another refreshed use its result (the platform rotates
//! refresh tokens and treats a reused one as theft).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use merchant_contract::{DeviceKey, routes, wire};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::model::{DeviceInfo, RegisteredDevice, SignedIn, SmsCodeSent};
use crate::CoreConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::platform::client::unix_now;
use crate::platform::{Call, PlatformClient, PlatformConfig, Reply, pending};
use crate::store::keys::{create_private_dir, remove_file_if_exists, write_new_file_atomically};
use crate::store::{MerchantStore, SecretStore, open_merchant_async, wipe_merchant_async};

/// An access token this close to its expiry is refreshed before use.
pub const REFRESH_MARGIN_SECS: i64 = 60;

/// The vault entry holding the tokens.
const TOKENS: &str = "session.tokens";
/// The intent of the device registration write.
const REGISTER_INTENT: &str = "devices.register";

/// The session as sealed in the vault.
#[derive(Clone, Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    access_expires_at: i64,
    refresh_token: String,
    refresh_expires_at: i64,
    device_registered: bool,
    merchant_status: String,
    phone_masked: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

/// The merchant whose store is on this device.
struct Resident {
    merchant_id: String,
    store: Arc<MerchantStore>,
    /// `None`: signed out (session ended), data kept.
    tokens: Mutex<Option<Live>>,
}

/// Tokens in memory with a generation that counts refreshes.
#[derive(Clone)]
struct Live {
    tokens: Tokens,
    generation: u64,
}

impl Resident {
    fn live(&self) -> Option<Live> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, tokens: Option<Tokens>) {
        let mut guard = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let generation = guard.as_ref().map_or(0, |l| l.generation + 1);
        *guard = tokens.map(|tokens| Live { tokens, generation });
    }

    /// Seals `tokens` into the vault, then shows them in memory.
    fn save(&self, tokens: Tokens) -> Result<()> {
        let json = serde_json::to_vec(&tokens)
            .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
        self.store.vault_put(TOKENS, &json)?;
        self.set(Some(tokens));
        Ok(())
    }

    /// Ends the session here (the platform refused it): tokens forgotten,
    /// data kept for the next sign-in of the same merchant.
    fn forget_tokens(&self) {
        if let Err(e) = self.store.vault_delete(TOKENS) {
            tracing::warn!(code = %e.code, "could not delete the session tokens");
        }
        self.set(None);
    }

    fn signed_in(&self, device_id: &str) -> Option<SignedIn> {
        let live = self.live()?;
        let t = live.tokens;
        Some(SignedIn {
            merchant_id: self.merchant_id.clone(),
            merchant_status: t.merchant_status,
            phone_masked: t.phone_masked,
            device_id: device_id.to_owned(),
            device_registered: t.device_registered,
            access_expires_at: t.access_expires_at,
            refresh_expires_at: t.refresh_expires_at,
        })
    }
}

enum Current {
    /// Not read from disk yet.
    Unloaded,
    Loaded(Option<Arc<Resident>>),
}

/// Held once per core, shared with the tasks it spawns.
pub struct SessionState {
    data_dir: PathBuf,
    secrets: Arc<dyn SecretStore>,
    platform_url: String,
    platform_pin: Option<String>,
    platform_public_key: String,
    app_id: String,
    client: OnceLock<Arc<PlatformClient>>,
    device: OnceCell<Arc<DeviceKey>>,
    device_info: Mutex<DeviceInfo>,
    /// Serialises loading, sign-in and sign-out.
    current: tokio::sync::Mutex<Current>,
    /// Single-flight refresh.
    refresh: tokio::sync::Mutex<()>,
    /// One device registration at a time.
    register: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState").finish_non_exhaustive()
    }
}

fn resident_path(data_dir: &Path) -> PathBuf {
    data_dir.join("session").join("resident")
}

/// Whether the platform's refusal means the session is over (as opposed to
/// a signature, clock or device problem, which signing in again would not fix
/// by itself and which must not throw the session away).
fn ends_session(e: &Error) -> bool {
    matches!(
        &*e.code,
        "auth.session_missing"
            | "auth.session_invalid"
            | "auth.session_expired"
            | "auth.session_revoked"
    )
}

pub(super) fn not_signed_in() -> Error {
    Error::new(&merchant_contract_code("auth.session_missing"))
}

/// The catalogue entry of a contract code (they are all in `platform::CODES`).
pub(super) fn merchant_contract_code(code: &str) -> crate::error::Code {
    crate::error::find(code).unwrap_or(crate::error::INTERNAL)
}

impl SessionState {
    pub fn new(config: &CoreConfig, secrets: Arc<dyn SecretStore>) -> Self {
        SessionState {
            data_dir: PathBuf::from(&config.data_dir),
            secrets,
            platform_url: config.platform_url.clone(),
            platform_pin: config.platform_pin.clone(),
            platform_public_key: config.platform_public_key.clone(),
            app_id: config.app_id.clone(),
            client: OnceLock::new(),
            device: OnceCell::new(),
            device_info: Mutex::new(DeviceInfo::default()),
            current: tokio::sync::Mutex::new(Current::Unloaded),
            refresh: tokio::sync::Mutex::new(()),
            register: tokio::sync::Mutex::new(()),
        }
    }

    /// The platform client, built on first use from the core's config (so
    /// a bad URL, pin or key is reported by the first call that needs them).
    pub fn client(&self) -> Result<Arc<PlatformClient>> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let config = PlatformConfig::new(
            &self.platform_url,
            self.platform_pin.as_deref(),
            &self.platform_public_key,
            &self.app_id,
        )?;
        let client = Arc::new(PlatformClient::new(config)?);
        // Two first callers may race; both clients are equal, keep the first.
        Ok(self.client.get_or_init(|| client).clone())
    }

    /// The device key, loaded (or created) once, then kept in memory.
    pub async fn device_key(&self) -> Result<Arc<DeviceKey>> {
        self.device
            .get_or_try_init(|| async {
                super::device::load_or_create_async(self.data_dir.clone(), self.secrets.clone())
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    pub fn set_device_info(&self, info: DeviceInfo) {
        *self.device_info.lock().unwrap_or_else(|p| p.into_inner()) = info.normalised();
    }

    // ------------------------------------------------------------------
    // Loading the resident merchant.

    /// The resident merchant, reading it from disk on first use.
    async fn resident(&self) -> Result<Option<Arc<Resident>>> {
        let mut current = self.current.lock().await;
        self.loaded(&mut current).await
    }

    async fn loaded(&self, current: &mut Current) -> Result<Option<Arc<Resident>>> {
        if let Current::Loaded(r) = current {
            return Ok(r.clone());
        }
        let r = self.load().await?;
        *current = Current::Loaded(r.clone());
        Ok(r)
    }

    async fn load(&self) -> Result<Option<Arc<Resident>>> {
        let Some(merchant_id) = read_resident(&self.data_dir)? else {
            return Ok(None);
        };
        let store = match open_merchant_async(
            self.data_dir.clone(),
            merchant_id.clone(),
            self.secrets.clone(),
        )
        .await
        {
            Ok(s) => s,
            // The data key is lost, wrong or damaged: nothing in the store
            // can be read again. Wipe it; the merchant signs in again.
            Err(e) if e.kind == ErrorKind::Integrity => {
                tracing::warn!(code = %e.code, "resident store unreadable; wiping it");
                self.wipe_by_id(&merchant_id).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let tokens = match store.vault_get(TOKENS) {
            Ok(Some(bytes)) => match serde_json::from_slice::<Tokens>(bytes.as_bytes()) {
                Ok(t) => Some(t),
                Err(_) => {
                    tracing::warn!("stored session tokens unreadable; signed out");
                    None
                }
            },
            Ok(None) => None,
            Err(e) if e.kind == ErrorKind::Integrity => {
                tracing::warn!(code = %e.code, "stored session tokens do not open; signed out");
                None
            }
            Err(e) => return Err(e),
        };
        let resident = Resident {
            merchant_id,
            store,
            tokens: Mutex::new(None),
        };
        resident.set(tokens);
        Ok(Some(Arc::new(resident)))
    }

    async fn wipe_by_id(&self, merchant_id: &str) -> Result<()> {
        wipe_merchant_async(
            self.data_dir.clone(),
            merchant_id.to_owned(),
            self.secrets.clone(),
        )
        .await?;
        remove_file_if_exists(&resident_path(&self.data_dir))?;
        Ok(())
    }

    // ------------------------------------------------------------------
    // The exported operations.

    /// The session as the app shows it; `None` when signed out.
    pub async fn session(&self) -> Result<Option<SignedIn>> {
        let Some(resident) = self.resident().await? else {
            return Ok(None);
        };
        if resident.live().is_none() {
            return Ok(None);
        }
        let device = self.device_key().await?;
        Ok(resident.signed_in(device.serial_no()))
    }

    /// `POST /v1/auth/sms-code` for a phone the validator accepts.
    pub async fn request_sms_code(&self, phone: &str) -> Result<SmsCodeSent> {
        let phone = crate::validate::phone::normalize(phone)?;
        let device = self.device_key().await?;
        let body = wire::SmsCodeRequest {
            phone,
            device_public_key: Some(device.public_key_base64()),
        };
        let call = Call::post_json(routes::SMS_CODE.path, &body)?;
        let sent: wire::SmsCodeSent = self.client()?.call(&device, &call).await?;
        Ok(sent.into())
    }

    /// Signs in, keeps the session sealed, registers the device if needed.
    pub async fn sign_in(&self, phone: &str, sms_code: &str) -> Result<SignedIn> {
        let phone = crate::validate::phone::normalize(phone)?;
        let device = self.device_key().await?;
        let client = self.client()?;
        let body = wire::SignInRequest {
            phone,
            sms_code: sms_code.trim().to_owned(),
            device_public_key: Some(device.public_key_base64()),
        };
        let call = Call::post_json(routes::SIGN_IN.path, &body)?;
        let signed: wire::SignedIn = client.call(&device, &call).await?;

        let resident = {
            let mut current = self.current.lock().await;
            let previous = self.loaded(&mut current).await?;
            let resident = match previous {
                Some(p) if p.merchant_id == signed.merchant_id => {
                    // The same merchant again: end the session it replaces.
                    self.end_remotely(&client, &device, &p).await;
                    p
                }
                other => {
                    if let Some(p) = other {
                        // Another merchant was resident: end and wipe theirs.
                        self.end_remotely(&client, &device, &p).await;
                        p.set(None);
                        *current = Current::Loaded(None);
                        p.store.wipe()?;
                    }
                    Arc::new(Resident {
                        merchant_id: signed.merchant_id.clone(),
                        store: self.open_fresh(&signed.merchant_id).await?,
                        tokens: Mutex::new(None),
                    })
                }
            };
            resident.save(Tokens {
                access_token: signed.access_token,
                access_expires_at: signed.access_expires_at,
                refresh_token: signed.refresh_token,
                refresh_expires_at: signed.refresh_expires_at,
                device_registered: signed.device_registered,
                merchant_status: signed.merchant.status,
                phone_masked: signed.merchant.phone_masked,
            })?;
            write_resident(&self.data_dir, &signed.merchant_id)?;
            *current = Current::Loaded(Some(resident.clone()));
            resident
        };

        if let Err(e) = self.ensure_registered(&resident).await {
            // Signed in all the same; the next call registers again.
            tracing::warn!(code = %e.code, "device registration after sign-in failed");
        }
        resident
            .signed_in(device.serial_no())
            .ok_or_else(not_signed_in)
    }

    /// Opens the store of a merchant who just signed in; one that cannot be
    /// read any more (lost key) is wiped and made anew.
    async fn open_fresh(&self, merchant_id: &str) -> Result<Arc<MerchantStore>> {
        let open = || {
            open_merchant_async(
                self.data_dir.clone(),
                merchant_id.to_owned(),
                self.secrets.clone(),
            )
        };
        match open().await {
            Ok(s) => Ok(s),
            Err(e) if e.kind == ErrorKind::Integrity => {
                tracing::warn!(code = %e.code, "merchant store unreadable; wiping it");
                self.wipe_by_id(merchant_id).await?;
                open().await
            }
            Err(e) => Err(e),
        }
    }

    /// Registers this device (again) when the session says it is not.
    pub async fn register_device(&self) -> Result<SignedIn> {
        let resident = self.resident().await?.ok_or_else(not_signed_in)?;
        self.ensure_registered(&resident).await?;
        let device = self.device_key().await?;
        resident
            .signed_in(device.serial_no())
            .ok_or_else(not_signed_in)
    }

    async fn ensure_registered(&self, resident: &Arc<Resident>) -> Result<()> {
        let registered = |r: &Resident| r.live().is_some_and(|l| l.tokens.device_registered);
        if registered(resident) {
            return Ok(());
        }
        let _one = self.register.lock().await;
        if registered(resident) {
            return Ok(());
        }
        let device = self.device_key().await?;
        let info = self
            .device_info
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let body = wire::RegisterDevice {
            device_public_key: device.public_key_base64(),
            name: info.name,
            os: info.os,
            model: info.model,
            app_version: info.app_version,
        };
        let call = Call::post_json(routes::REGISTER_DEVICE.path, &body)?;
        let reply = self
            .send_as(resident, &device, call, Some(REGISTER_INTENT))
            .await?;
        let registered: wire::DeviceRegistered = reply.json()?;
        if registered.serial_no != device.serial_no() {
            return Err(Error::new(&crate::platform::RESPONSE_MALFORMED)
                .detail("registered another serial_no"));
        }
        let this = super::local::ThisDevice {
            serial_no: registered.serial_no,
            device_id: registered.device_id,
        };
        resident
            .store
            .db()
            .write(|tx| super::local::set_this_device(tx, &this))?;
        let mut tokens = resident.live().ok_or_else(not_signed_in)?.tokens;
        tokens.device_registered = true;
        resident.save(tokens)
    }

    /// The merchant's registered devices.
    pub async fn devices(&self) -> Result<Vec<RegisteredDevice>> {
        let reply = self.send(Call::get(routes::LIST_DEVICES.path)).await?;
        let page: wire::Page<wire::Device> = reply.json()?;
        Ok(page.items.into_iter().map(Into::into).collect())
    }

    /// Removes one of the merchant's devices, named as `devices()` lists it
    /// (its serial): `DELETE /v1/devices/{device_id}` with the platform's id
    /// of it, a keyed write. The device's sessions and push tokens end; if it
    /// spoke the voice broadcast, no device does until one claims it.
    pub async fn remove_device(&self, serial_no: &str) -> Result<()> {
        let reply = self.send(Call::get(routes::LIST_DEVICES.path)).await?;
        let page: wire::Page<wire::Device> = reply.json()?;
        let Some(device) = page.items.into_iter().find(|d| d.serial_no == serial_no) else {
            return Err(Error::new(&merchant_contract_code("resource.not_found"))
                .detail("no such device of the merchant"));
        };
        let path = routes::REMOVE_DEVICE
            .path
            .replace("{device_id}", &device.device_id);
        let intent = format!("devices.remove:{}", device.device_id);
        let _: wire::Empty = self.send_keyed(&intent, Call::delete(path)).await?.json()?;
        Ok(())
    }

    /// This device as the platform names it (`dev_…`): kept since it
    /// registered, or else read from the device list (the entry marked
    /// `current`) and kept.
    pub async fn this_device(&self) -> Result<super::local::ThisDevice> {
        let store = self.merchant_store().await?;
        let serial = self.device_key().await?.serial_no().to_owned();
        if let Some(d) = store.db().read(super::local::this_device)?
            && d.serial_no == serial
        {
            return Ok(d);
        }
        let reply = self.send(Call::get(routes::LIST_DEVICES.path)).await?;
        let page: wire::Page<wire::Device> = reply.json()?;
        let Some(me) = page
            .items
            .into_iter()
            .find(|d| d.current && d.serial_no == serial)
        else {
            return Err(Error::new(&crate::platform::RESPONSE_MALFORMED)
                .detail("the device list has no current device"));
        };
        let this = super::local::ThisDevice {
            serial_no: me.serial_no,
            device_id: me.device_id,
        };
        store
            .db()
            .write(|tx| super::local::set_this_device(tx, &this))?;
        Ok(this)
    }

    /// Verifies a signed push payload with the configured platform key.
    pub fn verify_push(&self, payload: &str) -> Result<crate::platform::VerifiedPush> {
        self.client()?.verify_push(payload)
    }

    /// Ends the session on the platform (best effort) and wipes the
    /// merchant's local data and data key.
    pub async fn sign_out(&self) -> Result<()> {
        let mut current = self.current.lock().await;
        let resident = match self.loaded(&mut current).await {
            Ok(r) => r,
            Err(e) => {
                // The store cannot even be opened: wipe what the pointer names.
                tracing::warn!(code = %e.code, "sign-out without a readable store");
                if let Some(id) = read_resident(&self.data_dir)? {
                    self.wipe_by_id(&id).await?;
                }
                *current = Current::Loaded(None);
                return Ok(());
            }
        };
        let Some(resident) = resident else {
            return Ok(());
        };
        if let (Ok(client), Ok(device)) = (self.client(), self.device_key().await) {
            self.end_remotely(&client, &device, &resident).await;
        }
        resident.set(None);
        let wiped = resident.store.wipe();
        let pointer = remove_file_if_exists(&resident_path(&self.data_dir));
        *current = Current::Loaded(None);
        wiped?;
        pointer?;
        Ok(())
    }

    /// Tells the platform the session is over; failures are only logged
    /// (the local wipe happens regardless).
    async fn end_remotely(&self, client: &PlatformClient, device: &DeviceKey, r: &Resident) {
        let Some(live) = r.live() else {
            return;
        };
        let call = match Call::post_json(routes::SIGN_OUT.path, &wire::Empty {}) {
            Ok(c) => c.with_session(live.tokens.access_token),
            Err(_) => return,
        };
        if let Err(e) = client.send(device, &call).await {
            tracing::info!(code = %e.code, "platform sign-out failed; wiping locally anyway");
        }
    }

    // ------------------------------------------------------------------
    // Calls with the session, for this and the other capabilities.

    /// The resident merchant's store while signed in.
    pub async fn merchant_store(&self) -> Result<Arc<MerchantStore>> {
        let resident = self.resident().await?.ok_or_else(not_signed_in)?;
        if resident.live().is_none() {
            return Err(not_signed_in());
        }
        Ok(resident.store.clone())
    }

    /// Sends `call` with the session: registers the device first if needed,
    /// refreshes the access token when it is near expiry (or refused as
    /// expired, then once more).
    pub async fn send(&self, call: Call) -> Result<Reply> {
        let resident = self.resident().await?.ok_or_else(not_signed_in)?;
        self.ensure_registered(&resident).await?;
        let device = self.device_key().await?;
        self.send_as(&resident, &device, call, None).await
    }

    /// [`SessionState::send`] as the keyed write `intent`: its idempotency
    /// key is kept in the merchant's store until the answer is final.
    pub async fn send_keyed(&self, intent: &str, call: Call) -> Result<Reply> {
        let resident = self.resident().await?.ok_or_else(not_signed_in)?;
        self.ensure_registered(&resident).await?;
        let device = self.device_key().await?;
        self.send_as(&resident, &device, call, Some(intent)).await
    }

    async fn send_as(
        &self,
        resident: &Arc<Resident>,
        device: &DeviceKey,
        call: Call,
        intent: Option<&str>,
    ) -> Result<Reply> {
        let client = self.client()?;
        self.with_access(resident, device, &client, |token| {
            self.send_once(resident, device, &client, &call, token, intent)
        })
        .await
    }

    /// Runs `attempt` with a fresh access token; when the platform refuses
    /// it as expired, refreshes (single-flight) and runs it once more; a
    /// refusal that ends the session forgets the tokens.
    async fn with_access<T, F, Fut>(
        &self,
        resident: &Resident,
        device: &DeviceKey,
        client: &PlatformClient,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let (token, generation) = self.fresh_access(resident, device, client).await?;
        match attempt(token).await {
            Err(e) if e.code == "auth.session_expired" => {
                let token = self.refresh(resident, device, client, generation).await?;
                attempt(token).await
            }
            Err(e) if ends_session(&e) => {
                resident.forget_tokens();
                Err(e)
            }
            other => other,
        }
    }

    /// Opens the live event stream (`GET /v1/events`) with the session,
    /// resuming after `last_event_id`: the device registered first if
    /// needed, the access token refreshed as for any call (and once more
    /// when refused as expired). A refusal that ends the session is an
    /// `Auth` error. The frames are read by `platform::sse`.
    pub async fn open_events(
        &self,
        last_event_id: Option<u64>,
    ) -> Result<crate::platform::sse::ByteStream> {
        let resident = self.resident().await?.ok_or_else(not_signed_in)?;
        self.ensure_registered(&resident).await?;
        let device = self.device_key().await?;
        let client = self.client()?;
        self.with_access(&resident, &device, &client, |token| {
            let call = Call::get(routes::EVENTS.path).with_session(token);
            let client = client.clone();
            let device = device.clone();
            async move {
                client
                    .open_event_stream(&device, &call, last_event_id)
                    .await
            }
        })
        .await
    }

    async fn send_once(
        &self,
        resident: &Resident,
        device: &DeviceKey,
        client: &PlatformClient,
        call: &Call,
        token: String,
        intent: Option<&str>,
    ) -> Result<Reply> {
        let call = call.clone().with_session(token);
        match intent {
            Some(intent) => {
                pending::send_keyed(client, device, &resident.store, intent, call).await
            }
            None => client.send(device, &call).await,
        }
    }

    /// An access token fit to use now, and the generation it belongs to.
    async fn fresh_access(
        &self,
        resident: &Resident,
        device: &DeviceKey,
        client: &PlatformClient,
    ) -> Result<(String, u64)> {
        let live = resident.live().ok_or_else(not_signed_in)?;
        if unix_now() + REFRESH_MARGIN_SECS < live.tokens.access_expires_at {
            return Ok((live.tokens.access_token, live.generation));
        }
        let token = self
            .refresh(resident, device, client, live.generation)
            .await?;
        let generation = resident.live().map_or(0, |l| l.generation);
        Ok((token, generation))
    }

    /// Refreshes the tokens unless another caller already did since
    /// `seen_generation`; returns the access token to use.
    async fn refresh(
        &self,
        resident: &Resident,
        device: &DeviceKey,
        client: &PlatformClient,
        seen_generation: u64,
    ) -> Result<String> {
        let _one = self.refresh.lock().await;
        let live = resident.live().ok_or_else(not_signed_in)?;
        if live.generation != seen_generation {
            return Ok(live.tokens.access_token);
        }
        let now = unix_now();
        if now >= live.tokens.refresh_expires_at {
            resident.forget_tokens();
            return Err(Error::new(&merchant_contract_code("auth.session_expired"))
                .detail("refresh token expired locally"));
        }
        let body = wire::RefreshRequest {
            refresh_token: live.tokens.refresh_token.clone(),
        };
        let call = Call::post_json(routes::REFRESH.path, &body)?;
        match client.call::<wire::Tokens>(device, &call).await {
            Ok(t) if t.merchant_id == resident.merchant_id => {
                let tokens = Tokens {
                    access_token: t.access_token,
                    access_expires_at: t.access_expires_at,
                    refresh_token: t.refresh_token,
                    refresh_expires_at: t.refresh_expires_at,
                    ..live.tokens
                };
                let access = tokens.access_token.clone();
                resident.save(tokens)?;
                Ok(access)
            }
            Ok(_) => Err(Error::new(&crate::platform::RESPONSE_MALFORMED)
                .detail("refresh answered for another merchant")),
            Err(e) if ends_session(&e) => {
                // The platform ended the session (expired, revoked, unknown).
                resident.forget_tokens();
                Err(e)
            }
            // Network trouble: the current token still works until it expires.
            Err(e) if now < live.tokens.access_expires_at => {
                tracing::info!(code = %e.code, "refresh failed; using the current access token");
                Ok(live.tokens.access_token)
            }
            Err(e) => Err(e),
        }
    }
}

// ----------------------------------------------------------------------
// The resident pointer file.

/// The longest merchant id the pointer may hold.
const MAX_MERCHANT_ID: usize = 128;

fn read_resident(data_dir: &Path) -> Result<Option<String>> {
    let path = resident_path(data_dir);
    let text = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::new(&crate::store::IO).detail(format!("read resident: {e}")));
        }
    };
    let id = String::from_utf8(text).ok().map(|s| s.trim().to_owned());
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_MERCHANT_ID
                && !id.chars().any(char::is_control) =>
        {
            Ok(Some(id))
        }
        _ => {
            tracing::warn!("resident pointer unreadable; treating as signed out");
            remove_file_if_exists(&path)?;
            Ok(None)
        }
    }
}

fn write_resident(data_dir: &Path, merchant_id: &str) -> Result<()> {
    let path = resident_path(data_dir);
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    remove_file_if_exists(&path)?;
    write_new_file_atomically(&path, merchant_id.as_bytes())?;
    Ok(())
}

/// The live stream opens and verifies through the session: the
/// authenticated request of [`SessionState::open_events`] and the push
/// verification of [`SessionState::verify_push`].
impl crate::platform::sse::EventSource for SessionState {
    fn open(
        &self,
        last_event_id: Option<u64>,
    ) -> impl std::future::Future<Output = Result<crate::platform::sse::ByteStream>> + Send {
        self.open_events(last_event_id)
    }

    fn verify(&self, payload: &str) -> Result<crate::platform::VerifiedPush> {
        self.verify_push(payload)
    }
}
