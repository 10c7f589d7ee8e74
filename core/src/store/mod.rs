//! store: SQLite (WAL, foreign keys, migrations by `PRAGMA user_version`) and
//! sealing of personal data with AES-256-GCM under a data key that the
//! platform key store ([`SecretStore`]) wraps.

mod secret;

pub use secret::SecretStore;

crate::codes! {
    PLACEHOLDER = Internal, "store.placeholder", "占位", "Placeholder";
}
