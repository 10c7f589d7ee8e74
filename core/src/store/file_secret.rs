//! `FileSecretStore`: the file-backed [`SecretStore`] for desktop and tests.
//!
//! One random 256-bit wrapping key per key name, in its own owner-only file
//! under the store's directory (`<safe stem of key_name>.key`, framed like
//! every key file, see keys.rs). `wrap` seals with AES-256-GCM (seal.rs) with
//! the key name bound as associated data, so bytes wrapped under one name do
//! not unwrap under another. `forget` deletes the key file.
//!
//! It protects against nothing that can read the directory: on a phone, use
//! the Android Keystore or iOS Keychain implementations instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::keys::{
    Secret, create_private_dir, read_key_file, remove_file_if_exists, safe_path, write_key_file,
};
use super::seal::{Place, Sealer};
use super::{IO, KEY_LOST, SecretStore};
use crate::MerchantError;
use crate::error::{Error, Result};

/// A [`SecretStore`] whose keys live in files under one directory.
#[derive(Debug, uniffi::Object)]
pub struct FileSecretStore {
    dir: PathBuf,
}

#[uniffi::export]
impl FileSecretStore {
    /// Opens (creating if needed) a file-backed key store in `dir`.
    #[uniffi::constructor]
    pub fn new(dir: String) -> Result<Arc<Self>, MerchantError> {
        Ok(FileSecretStore::open(Path::new(&dir))?)
    }
}

impl FileSecretStore {
    /// Opens (creating if needed) a file-backed key store in `dir`.
    pub fn open(dir: &Path) -> Result<Arc<Self>> {
        if dir.as_os_str().is_empty() {
            return Err(Error::new(&IO).detail("key store directory is empty"));
        }
        create_private_dir(dir)?;
        Ok(Arc::new(FileSecretStore {
            dir: dir.to_path_buf(),
        }))
    }

    fn key_path(&self, key_name: &str) -> PathBuf {
        safe_path(&self.dir, key_name, ".key")
    }

    fn sealer(&self, key_name: &str, create: bool) -> Result<Sealer> {
        let path = self.key_path(key_name);
        let key = match read_key_file(&path)? {
            Some(key) => key,
            None if create => {
                let key = Sealer::generate_key()?;
                if write_key_file(&path, key.as_bytes())? {
                    key
                } else {
                    // Another caller created it first: use theirs.
                    read_key_file(&path)?.ok_or_else(|| {
                        Error::new(&KEY_LOST).detail("key file vanished while being created")
                    })?
                }
            }
            None => return Err(Error::new(&KEY_LOST).detail("no key file for this key name")),
        };
        Sealer::new(key.as_bytes())
    }
}

fn place(key_name: &str) -> Place<'_> {
    Place::new("file_secret_store", "wrapped", key_name)
}

#[uniffi::export]
impl SecretStore for FileSecretStore {
    fn wrap(&self, key_name: String, secret: Vec<u8>) -> Result<Vec<u8>, MerchantError> {
        let secret = Secret::new(secret);
        let sealer = self.sealer(&key_name, true)?;
        Ok(sealer.seal(&place(&key_name), secret.as_bytes())?)
    }

    fn unwrap(&self, key_name: String, wrapped: Vec<u8>) -> Result<Vec<u8>, MerchantError> {
        let sealer = self.sealer(&key_name, false)?;
        Ok(sealer.open(&place(&key_name), &wrapped)?)
    }

    fn forget(&self, key_name: String) -> Result<(), MerchantError> {
        remove_file_if_exists(&self.key_path(&key_name))?;
        Ok(())
    }
}
