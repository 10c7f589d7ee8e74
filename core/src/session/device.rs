//! The device key: ECDSA P-256 (ring), created on first run, its PKCS#8
//! document wrapped by the app's [`SecretStore`] and kept in
//! `<data_dir>/device/device.key` (store's [`WrappedSecret`] file format).
//!
//! The key identifies this installation to the platform: its `serial_no` is
//! the fingerprint of the public key (docs/platform-api.md, "Envelope"), and
//! it signs every request. It outlives sign-outs: signing out forgets the
//! merchant's data key, not the device's identity.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use merchant_contract::DeviceKey;

use crate::error::{Error, INTERNAL, Result};
use crate::store::keys::create_private_dir;
use crate::store::{KEY_LOST, SecretStore, WrappedSecret};

/// The SecretStore key name under which the device key is wrapped.
pub const DEVICE_KEY_NAME: &str = "merchant-core.device";

/// Where the wrapped device key lives under `data_dir`.
pub fn device_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("device").join("device.key")
}

/// Loads the device key, creating and wrapping it on first run. Blocks on
/// the file system and the key store: run it on a blocking thread.
pub fn load_or_create(data_dir: &Path, secrets: &dyn SecretStore) -> Result<DeviceKey> {
    let path = device_key_path(data_dir);
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let pkcs8 = WrappedSecret::load_or_create(&path, DEVICE_KEY_NAME, secrets, || {
        let (_, pkcs8) = DeviceKey::generate()
            .map_err(|e| Error::new(&INTERNAL).detail(format!("device key generation: {e}")))?;
        Ok(pkcs8)
    })?;
    // The key store gave back bytes that are not the key it wrapped.
    DeviceKey::from_pkcs8(pkcs8.as_bytes())
        .map_err(|e| Error::new(&KEY_LOST).detail(format!("unwrapped device key: {e}")))
}

/// [`load_or_create`] on a blocking thread of the current runtime.
pub async fn load_or_create_async(
    data_dir: PathBuf,
    secrets: Arc<dyn SecretStore>,
) -> Result<DeviceKey> {
    tokio::task::spawn_blocking(move || load_or_create(&data_dir, &*secrets))
        .await
        .map_err(|e| Error::new(&crate::error::RUNTIME).detail(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileSecretStore;

    fn secrets(dir: &Path) -> Arc<dyn SecretStore> {
        FileSecretStore::new(dir.to_string_lossy().into_owned()).unwrap()
    }

    #[test]
    fn the_key_is_created_once_and_then_loaded() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let store = secrets(&tmp.path().join("keys"));
        let first = load_or_create(&data, &*store).unwrap();
        let again = load_or_create(&data, &*store).unwrap();
        assert_eq!(first.serial_no(), again.serial_no());
        assert_eq!(first.public_key(), again.public_key());
        assert!(merchant_contract::envelope::is_serial(first.serial_no()));
        // The file holds only wrapped bytes: the PKCS#8 document (which carries
        // the public point) is not in it in the clear.
        let on_disk = std::fs::read(device_key_path(&data)).unwrap();
        assert!(
            !on_disk
                .windows(first.public_key().len())
                .any(|w| w == first.public_key())
        );
    }

    #[test]
    fn a_lost_key_store_is_an_error_not_a_new_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let store = secrets(&tmp.path().join("keys"));
        load_or_create(&data, &*store).unwrap();
        store.forget(DEVICE_KEY_NAME.to_owned()).unwrap();
        let e = load_or_create(&data, &*store).unwrap_err();
        assert!(e.is(&crate::store::KEY_LOST), "got {e}");
    }

    /// A key store that answers every unwrap with bytes that are no key.
    struct Garbage;
    impl SecretStore for Garbage {
        fn wrap(
            &self,
            _: String,
            s: Vec<u8>,
        ) -> std::result::Result<Vec<u8>, crate::MerchantError> {
            Ok(s)
        }
        fn unwrap(
            &self,
            _: String,
            _: Vec<u8>,
        ) -> std::result::Result<Vec<u8>, crate::MerchantError> {
            Ok(vec![0x30, 0x03, 0x02, 0x01, 0x00])
        }
        fn forget(&self, _: String) -> std::result::Result<(), crate::MerchantError> {
            Ok(())
        }
    }

    #[test]
    fn a_key_store_that_returns_other_bytes_is_a_lost_key() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        load_or_create(&data, &*secrets(&tmp.path().join("keys"))).unwrap();
        let e = load_or_create(&data, &Garbage).unwrap_err();
        assert!(e.is(&KEY_LOST), "got {e}");
    }
}
