//! Small plain values the session keeps in the merchant store's `meta`
//! table (no personal data: ids the platform gave this device), readable
//! inside any transaction, so that code holding only a connection (an event
//! applied in the alerts path) can tell which device it runs on.
//!
//! Keys: [`THIS_DEVICE`] (`{"serial_no","device_id"}`: this device as the
//! platform names it, `dev_…`, learned when it registers or when an answer
//! marks it `current`).

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The `meta` key of this device's platform id.
pub const THIS_DEVICE: &str = "session.this_device";

/// This device as the platform knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThisDevice {
    /// The serial of its key (what `device_id()` returns).
    pub serial_no: String,
    /// The platform's id of the registration (`dev_…`), which the speaker
    /// role and `speaker.changed` name.
    pub device_id: String,
}

/// The `meta` value under `key`, or `None`.
pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Sets the `meta` value under `key`.
pub fn meta_put(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Removes the `meta` value under `key`.
pub fn meta_delete(conn: &Connection, key: &str) -> Result<()> {
    conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
    Ok(())
}

/// This device's platform id, when known; a value that does not read is
/// treated as unknown (it is learned again).
pub fn this_device(conn: &Connection) -> Result<Option<ThisDevice>> {
    Ok(meta_get(conn, THIS_DEVICE)?.and_then(|v| serde_json::from_str(&v).ok()))
}

/// Keeps this device's platform id.
pub fn set_this_device(conn: &Connection, device: &ThisDevice) -> Result<()> {
    let json = serde_json::to_string(device)
        .map_err(|e| crate::error::Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
    meta_put(conn, THIS_DEVICE, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
            .unwrap();
        c
    }

    #[test]
    fn this_device_is_kept_replaced_and_unreadable_values_are_unknown() {
        let c = db();
        assert_eq!(this_device(&c).unwrap(), None);
        let d = ThisDevice {
            serial_no: "a".repeat(32),
            device_id: "dev_1".to_owned(),
        };
        set_this_device(&c, &d).unwrap();
        assert_eq!(this_device(&c).unwrap(), Some(d.clone()));
        let e = ThisDevice {
            device_id: "dev_2".to_owned(),
            ..d
        };
        set_this_device(&c, &e).unwrap();
        assert_eq!(this_device(&c).unwrap(), Some(e));
        meta_put(&c, THIS_DEVICE, "not json").unwrap();
        assert_eq!(this_device(&c).unwrap(), None);
        meta_delete(&c, THIS_DEVICE).unwrap();
        assert_eq!(meta_get(&c, THIS_DEVICE).unwrap(), None);
    }
}
