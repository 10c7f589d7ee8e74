//! `SecretStore`: the platform key store, implemented by the app (Android
//! Keystore, iOS Keychain) or by [`super::FileSecretStore`] on desktop and in tests.

use crate::MerchantError;

/// Wraps and unwraps small secrets (data keys, the device key) under keys the
/// platform key store holds and never exports.
///
/// The core keeps only wrapped bytes on disk. An implementation that has lost
/// its key must fail `unwrap` with an error; it must never return other bytes.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    /// Encrypts `secret` under the key named `key_name`, creating that key if
    /// it does not exist yet.
    fn wrap(&self, key_name: String, secret: Vec<u8>) -> Result<Vec<u8>, MerchantError>;
    /// Decrypts what [`SecretStore::wrap`] returned for the same `key_name`.
    fn unwrap(&self, key_name: String, wrapped: Vec<u8>) -> Result<Vec<u8>, MerchantError>;
    /// Destroys the key named `key_name`; what it wrapped can never be read again.
    fn forget(&self, key_name: String) -> Result<(), MerchantError>;
}
