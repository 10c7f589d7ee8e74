//! store: SQLite (WAL, foreign keys, migrations by `PRAGMA user_version`) and
//! sealing of personal data with AES-256-GCM under a data key that the
//! platform key store ([`SecretStore`]) wraps.
//!
//! - [`seal`]: [`Sealer`] and [`Place`], the AES-256-GCM format.
//! - [`keys`]: [`WrappedSecret`], small secrets wrapped by the key store and
//!   kept in files; [`Secret`], bytes that are zeroed when dropped.
//! - [`FileSecretStore`]: the file-backed key store for desktop and tests.
//! - [`Db`] and [`schema`]: one SQLite file, its pragmas, and the append-only
//!   list of migrations (read schema.rs before adding a table).
//! - [`MerchantStore`] ([`open_merchant`]): one merchant's database plus the
//!   data key sealing its personal data, with a sealed name → value vault.

pub mod db;
mod file_secret;
pub mod keys;
mod merchant;
pub mod schema;
pub mod seal;
mod secret;

pub use db::Db;
pub use file_secret::FileSecretStore;
pub use keys::{Secret, WrappedSecret};
pub use merchant::{
    DB_FILE, KEY_FILE, MerchantStore, data_key_name, merchant_dir, open_merchant,
    open_merchant_async, wipe_merchant, wipe_merchant_async,
};
pub use seal::{Place, Sealer};
pub use secret::SecretStore;

crate::codes! {
    IO = Storage, "store.io", "本地文件读写失败", "Reading or writing a local file failed";
    SEAL_FAILED = Internal, "store.seal_failed", "数据加密失败", "Sealing data failed";
    UNSEAL_FAILED = Integrity, "store.unseal_failed", "加密数据无法解开：密钥不符或数据已被改动", "Sealed data could not be opened: wrong key or altered data";
    KEY_MISSING = Integrity, "store.key_missing", "数据密钥文件缺失，本地数据无法读取，请重新登录", "The data key file is missing; local data cannot be read. Please sign in again";
    KEY_CORRUPT = Integrity, "store.key_corrupt", "数据密钥文件已损坏，本地数据无法读取，请重新登录", "The data key file is damaged; local data cannot be read. Please sign in again";
    KEY_LOST = Integrity, "store.key_lost", "系统密钥库无法解开数据密钥（密钥已丢失或已更换），请重新登录", "The system key store cannot unwrap the data key (key lost or replaced). Please sign in again";
    KEY_WRAP_FAILED = Storage, "store.key_wrap_failed", "系统密钥库无法保护数据密钥", "The system key store could not wrap the data key";
    KEY_FORGET_FAILED = Storage, "store.key_forget_failed", "系统密钥库未能删除数据密钥", "The system key store could not delete the data key";
    KEY_WRONG = Integrity, "store.key_wrong", "数据密钥与本地数据库不匹配，本地数据无法读取，请重新登录", "The data key does not match the local database; local data cannot be read. Please sign in again";
    SQLITE = Storage, "store.sqlite", "本地数据库出错", "The local database failed";
    BUSY = Storage, "store.busy", "本地数据库正忙，请稍后重试", "The local database is busy; please try again";
    DISK_FULL = Storage, "store.disk_full", "手机存储空间不足", "The device storage is full";
    NOT_A_DATABASE = Storage, "store.not_a_database", "本地数据文件不是数据库", "The local data file is not a database";
    CORRUPT = Storage, "store.corrupt", "本地数据库已损坏", "The local database is damaged";
    FOREIGN_DATABASE = Storage, "store.foreign_database", "本地数据文件不属于本应用", "The local data file does not belong to this app";
    SCHEMA_TOO_NEW = Storage, "store.schema_too_new", "本地数据来自更新版本的应用，请升级应用", "The local data was written by a newer version of the app; please update the app";
    MIGRATION_FAILED = Storage, "store.migration_failed", "本地数据库升级失败", "Upgrading the local database failed";
    CLOSED = Storage, "store.closed", "本地数据库已关闭", "The local database is closed";
    MERCHANT_ID_INVALID = Internal, "store.merchant_id_invalid", "商户编号无效", "The merchant id is not valid";
}

#[cfg(test)]
mod tests;
