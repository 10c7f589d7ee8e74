//! `MerchantStore`: one signed-in merchant's database and the data key that
//! seals its personal data.
//!
//! ```text
//! <data_dir>/merchants/<safe stem of merchant_id>/merchant.db   (+ -wal, -shm)
//! <data_dir>/merchants/<safe stem of merchant_id>/data.key      (wrapped data key)
//! ```
//!
//! The data key is 32 random bytes, wrapped by the app's [`SecretStore`]
//! under [`data_key_name`]. A sealed check value in `meta` tells at open
//! whether the key is the one the database was written with, so a wrong key
//! is [`KEY_WRONG`] at once instead of a failure at some later read. A
//! database whose key file is gone is [`KEY_MISSING`]: its data cannot be
//! read, and the app's way out is to sign in again, which wipes it
//! ([`wipe_merchant`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::{Connection, OptionalExtension, params};

use super::db::Db;
use super::keys::{Secret, create_private_dir, io_error, safe_file_stem};
use super::seal::{Place, Sealer};
use super::{
    CORRUPT, KEY_MISSING, KEY_WRONG, MERCHANT_ID_INVALID, SecretStore, UNSEAL_FAILED, WrappedSecret,
};
use crate::error::{Error, Result};

/// The database file in a merchant's directory.
pub const DB_FILE: &str = "merchant.db";
/// The wrapped data key beside it.
pub const KEY_FILE: &str = "data.key";

const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLACE: Place<'static> = Place::new("meta", "value", KEY_CHECK);
const KEY_CHECK_TEXT: &[u8] = b"merchant-core data key check, version 1";

/// Longest merchant id accepted (platform ids are far shorter).
const MAX_MERCHANT_ID: usize = 128;

/// The directory of one merchant under `data_dir`.
pub fn merchant_dir(data_dir: &Path, merchant_id: &str) -> Result<PathBuf> {
    if merchant_id.is_empty() || merchant_id.len() > MAX_MERCHANT_ID {
        return Err(Error::new(&MERCHANT_ID_INVALID)
            .detail(format!("merchant id of {} bytes", merchant_id.len())));
    }
    Ok(data_dir.join("merchants").join(safe_file_stem(merchant_id)))
}

/// The [`SecretStore`] key name that wraps a merchant's data key.
pub fn data_key_name(merchant_id: &str) -> String {
    format!("merchant-core.data.{}", safe_file_stem(merchant_id))
}

/// Opens (creating on first use) the store of `merchant_id` under `data_dir`.
/// Blocks on the file system and on the key store.
pub fn open_merchant(
    data_dir: &Path,
    merchant_id: &str,
    secrets: &Arc<dyn SecretStore>,
) -> Result<MerchantStore> {
    let dir = merchant_dir(data_dir, merchant_id)?;
    create_private_dir(&dir)?;
    let db_path = dir.join(DB_FILE);
    let key_path = dir.join(KEY_FILE);
    let key_name = data_key_name(merchant_id);

    // The key comes first: a database is only ever created under a key that
    // is already safely on disk. A database without its key is not given a
    // new one, which could never read what is in it.
    let key = if has_data(&db_path)? {
        WrappedSecret::load(&key_path, &key_name, &**secrets).map_err(|e| {
            if e.is(&KEY_MISSING) {
                e.detail("the database exists but its data key file does not")
            } else {
                e
            }
        })?
    } else {
        WrappedSecret::load_or_create(&key_path, &key_name, &**secrets, || {
            Ok(Sealer::generate_key()?.as_bytes().to_vec())
        })?
    };
    let sealer = Sealer::new(key.as_bytes())?;
    drop(key);

    let db = Db::open(&db_path)?;
    check_key(&db, &sealer)?;
    Ok(MerchantStore {
        dir,
        key_path,
        key_name,
        db,
        sealer,
        secrets: secrets.clone(),
    })
}

/// Deletes a merchant's local data and data key without opening the store
/// (which may be impossible: key lost, database damaged). Wiping what is not
/// there succeeds.
pub fn wipe_merchant(data_dir: &Path, merchant_id: &str, secrets: &dyn SecretStore) -> Result<()> {
    let dir = merchant_dir(data_dir, merchant_id)?;
    let key = WrappedSecret::wipe(&dir.join(KEY_FILE), &data_key_name(merchant_id), secrets);
    let files = remove_dir(&dir);
    key.and(files)
}

/// Whether the database file (or its WAL) holds anything.
fn has_data(db_path: &Path) -> Result<bool> {
    let mut wal = db_path.as_os_str().to_owned();
    wal.push("-wal");
    for p in [db_path, Path::new(&wal)] {
        match std::fs::metadata(p) {
            Ok(m) if m.len() > 0 => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("stat database", &e)),
        }
    }
    Ok(false)
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove merchant directory", &e)),
    }
}

/// Writes the sealed check value on first open; on later opens, proves the
/// key is the database's own.
fn check_key(db: &Db, sealer: &Sealer) -> Result<()> {
    db.write(|tx| {
        let stored: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [KEY_CHECK], |r| {
                r.get(0)
            })
            .optional()?;
        match stored {
            None => {
                let sealed = sealer.seal(&KEY_CHECK_PLACE, KEY_CHECK_TEXT)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![KEY_CHECK, B64.encode(sealed)],
                )?;
                Ok(())
            }
            Some(text) => {
                let sealed = B64
                    .decode(text.as_bytes())
                    .map_err(|_| Error::new(&CORRUPT).detail("key check is not base64"))?;
                match sealer.open(&KEY_CHECK_PLACE, &sealed) {
                    Ok(plain) if plain == KEY_CHECK_TEXT => Ok(()),
                    Ok(_) => Err(Error::new(&KEY_WRONG).detail("key check opened to other text")),
                    Err(e) if e.is(&UNSEAL_FAILED) => Err(Error::new(&KEY_WRONG)
                        .detail("the data key does not open this database's key check")),
                    Err(e) => Err(e),
                }
            }
        }
    })
}

fn vault_place(name: &str) -> Place<'_> {
    Place::new("vault", "sealed", name)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One merchant's store: the database and the sealer of its personal data.
pub struct MerchantStore {
    dir: PathBuf,
    key_path: PathBuf,
    key_name: String,
    db: Db,
    sealer: Sealer,
    secrets: Arc<dyn SecretStore>,
}

impl std::fmt::Debug for MerchantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantStore").finish_non_exhaustive()
    }
}

impl MerchantStore {
    /// The database, for the capabilities' own tables.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The merchant's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seals personal data for a column: see [`Place`].
    pub fn seal(&self, place: &Place<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.sealer.seal(place, plaintext)
    }

    /// Opens what [`MerchantStore::seal`] sealed for the same place.
    pub fn unseal(&self, place: &Place<'_>, sealed: &[u8]) -> Result<Secret> {
        self.sealer.open(place, sealed).map(Secret::new)
    }

    /// Seals `value` and stores it under `name`, replacing what was there.
    pub fn vault_put(&self, name: &str, value: &[u8]) -> Result<()> {
        self.db.write(|tx| self.vault_put_in(tx, name, value))
    }

    /// [`MerchantStore::vault_put`] inside the caller's transaction (to
    /// change a vault value and other rows atomically).
    pub fn vault_put_in(&self, conn: &Connection, name: &str, value: &[u8]) -> Result<()> {
        let sealed = self.sealer.seal(&vault_place(name), value)?;
        conn.execute(
            "INSERT INTO vault (name, sealed, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
            params![name, sealed, now_ms()],
        )?;
        Ok(())
    }

    /// The value stored under `name`, or `None`.
    pub fn vault_get(&self, name: &str) -> Result<Option<Secret>> {
        self.db.read(|c| self.vault_get_in(c, name))
    }

    /// [`MerchantStore::vault_get`] inside the caller's transaction.
    pub fn vault_get_in(&self, conn: &Connection, name: &str) -> Result<Option<Secret>> {
        let sealed: Option<Vec<u8>> = conn
            .query_row("SELECT sealed FROM vault WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        sealed
            .map(|s| self.sealer.open(&vault_place(name), &s).map(Secret::new))
            .transpose()
    }

    /// The text stored under `name` (a token, say), or `None`.
    pub fn vault_get_string(&self, name: &str) -> Result<Option<String>> {
        self.vault_get(name)?
            .map(|s| {
                String::from_utf8(s.as_bytes().to_vec())
                    .map_err(|_| Error::new(&CORRUPT).detail("vault value is not UTF-8"))
            })
            .transpose()
    }

    /// Deletes the value under `name`; `true` when there was one.
    pub fn vault_delete(&self, name: &str) -> Result<bool> {
        self.db.write(|tx| self.vault_delete_in(tx, name))
    }

    /// [`MerchantStore::vault_delete`] inside the caller's transaction.
    pub fn vault_delete_in(&self, conn: &Connection, name: &str) -> Result<bool> {
        Ok(conn.execute("DELETE FROM vault WHERE name = ?1", [name])? > 0)
    }

    /// Destroys the merchant's local data: first the data key (file and key
    /// store entry), which alone makes every sealed value unreadable, then
    /// the database files. The store is closed afterwards (`store.closed`).
    pub fn wipe(&self) -> Result<()> {
        let key = WrappedSecret::wipe(&self.key_path, &self.key_name, &*self.secrets);
        self.db.close();
        let files = remove_dir(&self.dir);
        key.and(files)
    }
}

/// [`open_merchant`] on a blocking thread of the current tokio runtime (call
/// it inside `MerchantCore::run`).
pub async fn open_merchant_async(
    data_dir: PathBuf,
    merchant_id: String,
    secrets: Arc<dyn SecretStore>,
) -> Result<Arc<MerchantStore>> {
    blocking(move || open_merchant(&data_dir, &merchant_id, &secrets).map(Arc::new)).await
}

/// [`wipe_merchant`] on a blocking thread of the current tokio runtime.
pub async fn wipe_merchant_async(
    data_dir: PathBuf,
    merchant_id: String,
    secrets: Arc<dyn SecretStore>,
) -> Result<()> {
    blocking(move || wipe_merchant(&data_dir, &merchant_id, &*secrets)).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(&crate::error::RUNTIME).detail(e.to_string()))?
}
