//! session: sign-in by phone + SMS code, device key registration, session
//! refresh and sign-out (the Platform issue).
//!
//! - [`device`]: the device key (ECDSA P-256), wrapped by the SecretStore.
//! - [`state`]: what the core keeps in memory for the session capability.

pub mod device;
pub mod state;

use crate::MerchantCore;
use crate::error::MerchantError;

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
        let data_dir = self.data_dir_path();
        let secrets = self.secret_store();
        self.run(async move {
            let key = state.device_key(data_dir, secrets).await?;
            Ok(key.serial_no().to_owned())
        })
        .await
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
