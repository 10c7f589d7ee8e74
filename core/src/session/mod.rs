//! session: sign-in by phone + SMS code, device key registration, session
//! refresh and sign-out (the Platform issue).
//!
//! - [`device`]: the device key (ECDSA P-256), wrapped by the SecretStore.
//! - [`model`]: the records the app sees.
//! - [`state`]: sign-in, refresh, registration of the device, push
//!   verification, sign-out, and calls with the session for the other
//!   capabilities ([`SessionState::send`], [`SessionState::send_keyed`],
//!   [`SessionState::merchant_store`]).
//! - [`push`]: the push token: register, rotate, unregister.
//! - [`local`]: plain values kept in the merchant store's `meta` (this
//!   device's platform id), readable inside any transaction.

pub mod device;
pub mod local;
pub mod model;
pub mod push;
pub mod state;

use crate::MerchantCore;
use crate::error::MerchantError;

pub use model::{DeviceInfo, PushEvent, PushProvider, RegisteredDevice, SignedIn, SmsCodeSent};
pub(crate) use state::SessionState;

// The session capability has no codes of its own: local session states use
// the platform's (`auth.session_missing`, `auth.session_expired`), so the app
// branches on one code whichever side noticed; key trouble is the store's.

#[uniffi::export]
impl MerchantCore {
    /// This installation's device id: the `serial_no` the platform knows it
    /// by (lowercase hex of the first 16 bytes of SHA-256 of the device
    /// public key). Creates the device key on first use and wraps it through
    /// the app's SecretStore; later calls unwrap it once and keep it in memory.
    pub async fn device_id(&self) -> Result<String, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let key = state.device_key().await?;
            Ok(key.serial_no().to_owned())
        })
        .await
    }

    /// How this device describes itself when it registers (before `sign_in`).
    pub fn set_device_info(&self, info: DeviceInfo) {
        self.session_state().set_device_info(info);
    }

    /// Asks the platform to text a sign-in code to `phone` (a mainland
    /// mobile number; `+86` and separators are fine).
    pub async fn request_sms_code(&self, phone: String) -> Result<SmsCodeSent, MerchantError> {
        let state = self.session_state();
        self.run(async move { state.request_sms_code(&phone).await })
            .await
    }

    /// Signs in with the phone and the code texted to it, keeps the session
    /// sealed on this device, and registers this device for the merchant.
    /// Signing in as another merchant than the one on this device wipes the
    /// previous merchant's local data.
    pub async fn sign_in(
        &self,
        phone: String,
        sms_code: String,
    ) -> Result<SignedIn, MerchantError> {
        let state = self.session_state();
        self.run(async move { state.sign_in(&phone, &sms_code).await })
            .await
    }

    /// Registers this device again when `sign_in` could not (see
    /// `SignedIn::device_registered`); the core also does it before its next call.
    pub async fn register_device(&self) -> Result<SignedIn, MerchantError> {
        let state = self.session_state();
        self.run(async move { state.register_device().await }).await
    }

    /// The current session, or `None` when signed out.
    pub async fn session(&self) -> Result<Option<SignedIn>, MerchantError> {
        let state = self.session_state();
        self.run(async move { state.session().await }).await
    }

    /// The devices registered for the signed-in merchant.
    pub async fn devices(&self) -> Result<Vec<RegisteredDevice>, MerchantError> {
        let state = self.session_state();
        self.run(async move { state.devices().await }).await
    }

    /// Removes one of the merchant's devices, named by its id as
    /// `devices()` lists it. Its sessions end and it receives no more pushes;
    /// if it spoke the voice broadcast, no device does until one claims it
    /// (`claim_speaker`). An unknown id is `resource.not_found`.
    pub async fn remove_device(&self, device_id: String) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move { state.remove_device(&device_id).await })
            .await
    }

    /// Registers the app's push token (from FCM or APNs) for this device, so
    /// the platform pushes the merchant's events to it, and keeps the
    /// registration's id on the phone. A token that is not 1–4096 characters
    /// of `[A-Za-z0-9:_.-]` is `request.field_invalid` (field `token`) and
    /// never leaves the device. When the provider later hands the app a new
    /// token, call `rotate_push_token`.
    pub async fn register_push_token(
        &self,
        provider: PushProvider,
        token: String,
    ) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move {
            state
                .register_push_token(provider.into(), &token)
                .await
                .map(drop)
        })
        .await
    }

    /// The provider handed the app a new token (Android's
    /// `FirebaseMessagingService.onNewToken`, iOS's
    /// `didRegisterForRemoteNotificationsWithDeviceToken`): the kept
    /// registration now pushes to `token`, atomically (every later event goes
    /// to the new value, none to the old). With no registration kept yet it
    /// registers `token`, so the shells may call this for every token they
    /// are given. Validated as `register_push_token`. A keyed write: a lost
    /// answer is retried with the same key.
    pub async fn rotate_push_token(
        &self,
        provider: PushProvider,
        token: String,
    ) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move {
            state
                .rotate_push_token(provider.into(), &token)
                .await
                .map(drop)
        })
        .await
    }

    /// Stops pushes to this device: unregisters the kept registration and
    /// forgets it. Idempotent (nothing registered is done already). Signing
    /// out, and removing the device, unregister its tokens on the platform
    /// as well.
    pub async fn unregister_push_token(&self) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move { state.unregister_push_token().await })
            .await
    }

    /// Verifies a push payload (the JSON text the platform sent through
    /// FCM/APNs) against the platform key in the config: the signature over
    /// the exact body, a timestamp within 300 s of now, and a payload not
    /// seen before. Returns its event; a payload that fails a check is an
    /// error (`platform.push_malformed`, `platform.push_signature_invalid`,
    /// `platform.push_stale`, `platform.push_replayed`) and must be dropped.
    pub fn verify_push(&self, payload: String) -> Result<PushEvent, MerchantError> {
        Ok(self.session_state().verify_push(&payload)?.into())
    }

    /// Signs out: ends the session on the platform (when reachable) and wipes
    /// the merchant's local data and data key from this device.
    pub async fn sign_out(&self) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move { state.sign_out().await }).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::store::{FileSecretStore, SecretStore};
    use crate::{CoreConfig, Lang, MerchantCore};

    fn core_at(dir: &std::path::Path) -> Arc<MerchantCore> {
        let secrets: Arc<dyn SecretStore> =
            FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
        let config = CoreConfig {
            data_dir: dir.join("data").to_string_lossy().into_owned(),
            platform_url: "http://127.0.0.1:1".to_owned(),
            platform_pin: None,
            platform_public_key: String::new(),
            app_id: "OP00000001".to_owned(),
            language: Lang::Zh,
            trusted_qr_hosts: Vec::new(),
        };
        MerchantCore::new(config, secrets).unwrap()
    }

    #[tokio::test]
    async fn device_id_is_stable_across_calls_and_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let core = core_at(tmp.path());
        let id = core.device_id().await.unwrap();
        assert!(merchant_contract::envelope::is_serial(&id), "{id}");
        assert_eq!(core.device_id().await.unwrap(), id);
        // Dropped here, inside another runtime's async context: must not panic.
        drop(core);
        let again = core_at(tmp.path());
        assert_eq!(again.device_id().await.unwrap(), id);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(core_at(other.path()).device_id().await.unwrap(), id);
    }

    #[tokio::test]
    async fn concurrent_first_calls_agree_on_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        let core = core_at(tmp.path());
        let (a, b) = tokio::join!(core.device_id(), core.device_id());
        assert_eq!(a.unwrap(), b.unwrap());
    }

    #[tokio::test]
    async fn a_lost_device_key_is_a_typed_error() {
        let tmp = tempfile::tempdir().unwrap();
        core_at(tmp.path()).device_id().await.unwrap();
        let path = super::device::device_key_path(&tmp.path().join("data"));
        std::fs::write(&path, b"garbage").unwrap();
        let e = core_at(tmp.path()).device_id().await.unwrap_err();
        assert_eq!(e.code(), "store.key_corrupt");
        assert!(matches!(e, crate::MerchantError::Integrity { .. }));
    }
}
