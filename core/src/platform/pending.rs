//! Pending writes: the idempotency key of every write that has not had a
//! final answer yet, kept in the merchant's store so that trying again —
//! after a lost answer, a timeout or an app restart — reuses the key and the
//! platform does the write at most once (docs/platform-api.md, "Idempotency").
//!
//! A write is named by an *intent* the capability chooses ("devices.register",
//! "terminals.bind:<sn>" ...). The body is kept sealed beside the key: the
//! same intent with the same body reuses the key; with another body (the
//! merchant changed the form) it gets a new one. The row goes once the
//! platform has answered for good: a 2xx, or a 4xx refusal. Network trouble,
//! 5xx and unverifiable answers keep it.

use merchant_contract::{DeviceKey, envelope};
use rusqlite::{OptionalExtension as _, params};

use super::{Call, PlatformClient, Reply};
use crate::error::{Error, Result};
use crate::store::{MerchantStore, Place};

/// Longest intent name.
pub const MAX_INTENT: usize = 200;

fn place(intent: &str) -> Place<'_> {
    Place::new("pending_write", "body_sealed", intent)
}

fn check_intent(intent: &str) -> Result<()> {
    if intent.is_empty() || intent.len() > MAX_INTENT {
        return Err(Error::new(&crate::error::INTERNAL).detail("pending write intent length"));
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The idempotency key for `intent` with `body`: the pending one when the
/// same write is waiting, otherwise a new one, stored before it is used.
pub fn key_for(store: &MerchantStore, intent: &str, body: &[u8]) -> Result<String> {
    check_intent(intent)?;
    store.db().write(|tx| {
        let row: Option<(String, Vec<u8>)> = tx
            .query_row(
                "SELECT idempotency_key, body_sealed FROM pending_write WHERE intent = ?1",
                [intent],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((key, sealed)) = row {
            // A value that no longer opens is treated as another body.
            let same = store
                .unseal(&place(intent), &sealed)
                .is_ok_and(|b| b.as_bytes() == body);
            if same && envelope::is_idempotency_key(&key) {
                return Ok(key);
            }
        }
        let key = envelope::generate_nonce()
            .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
        let sealed = store.seal(&place(intent), body)?;
        tx.execute(
            "INSERT INTO pending_write (intent, idempotency_key, body_sealed, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (intent) DO UPDATE SET idempotency_key = excluded.idempotency_key,
                 body_sealed = excluded.body_sealed, created_at = excluded.created_at",
            params![intent, key, sealed, now_ms()],
        )?;
        Ok(key)
    })
}

/// Forgets the pending write of `intent` (it had its final answer).
pub fn settle(store: &MerchantStore, intent: &str) -> Result<()> {
    store.db().write(|tx| {
        tx.execute("DELETE FROM pending_write WHERE intent = ?1", [intent])?;
        Ok(())
    })
}

/// The intents still waiting for a final answer, oldest first.
pub fn pending_intents(store: &MerchantStore) -> Result<Vec<String>> {
    store.db().read(|c| {
        let mut stmt = c.prepare("SELECT intent FROM pending_write ORDER BY created_at, intent")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    })
}

/// Whether an outcome is final for the write (so its key can go).
pub fn is_final(outcome: &Result<Reply>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(e) => (400..500).contains(&e.http_status) && e.code != "idempotency.in_progress",
    }
}

/// Sends `call` as the keyed write `intent`: attaches its stored key (so the
/// client may retry it), and forgets the key once the answer is final.
pub async fn send_keyed(
    client: &PlatformClient,
    device: &DeviceKey,
    store: &MerchantStore,
    intent: &str,
    call: Call,
) -> Result<Reply> {
    let key = key_for(store, intent, &call.body)?;
    let call = call.with_idempotency_key(key);
    let outcome = client.send(device, &call).await;
    if is_final(&outcome)
        && let Err(e) = settle(store, intent)
    {
        tracing::warn!(code = %e.code, "could not forget a settled pending write");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::store::{FileSecretStore, SecretStore, open_merchant};

    fn open(dir: &std::path::Path) -> MerchantStore {
        let secrets: Arc<dyn SecretStore> =
            FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
        open_merchant(&dir.join("data"), "M100", &secrets).unwrap()
    }

    #[test]
    fn the_same_write_keeps_its_key_across_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let key = key_for(&store, "devices.register", b"{\"a\":1}").unwrap();
        assert!(envelope::is_idempotency_key(&key));
        assert_eq!(
            key_for(&store, "devices.register", b"{\"a\":1}").unwrap(),
            key
        );
        store.db().close();
        drop(store);
        // The app restarts: a new store over the same files.
        let store = open(tmp.path());
        assert_eq!(
            key_for(&store, "devices.register", b"{\"a\":1}").unwrap(),
            key
        );
        assert_eq!(pending_intents(&store).unwrap(), ["devices.register"]);
    }

    #[test]
    fn another_body_or_a_settled_write_gets_a_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let first = key_for(&store, "terminals.bind:SN1", b"one").unwrap();
        let other = key_for(&store, "terminals.bind:SN1", b"two").unwrap();
        assert_ne!(first, other);
        // Intents are independent.
        let second_intent = key_for(&store, "terminals.bind:SN2", b"two").unwrap();
        assert_ne!(second_intent, other);
        settle(&store, "terminals.bind:SN1").unwrap();
        let again = key_for(&store, "terminals.bind:SN1", b"two").unwrap();
        assert_ne!(again, other);
        let mut pending = pending_intents(&store).unwrap();
        pending.sort();
        assert_eq!(pending, ["terminals.bind:SN1", "terminals.bind:SN2"]);
    }

    #[test]
    fn bodies_are_sealed_at_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let secret_body = b"{\"id_number\":\"110101199003074514\"}";
        key_for(&store, "applications.submit", secret_body).unwrap();
        let path = store.db().path().to_path_buf();
        store.db().close();
        let mut bytes = std::fs::read(&path).unwrap();
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        bytes.extend(std::fs::read(&wal).unwrap_or_default());
        let needle = b"110101199003074514";
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn final_answers_are_2xx_and_4xx_refusals() {
        let ok = Ok(Reply {
            status: 200,
            body: Vec::new(),
            request_id: None,
        });
        assert!(is_final(&ok));
        let refusal = |status, code: &str| {
            Err(Error::platform(
                crate::error::ErrorKind::Platform,
                code.to_owned(),
                None,
                status,
            ))
        };
        assert!(is_final(&refusal(409, "terminal.owned_by_other")));
        assert!(!is_final(&refusal(409, "idempotency.in_progress")));
        assert!(!is_final(&refusal(503, "server.busy")));
        assert!(!is_final(&Err(Error::new(&super::super::TIMEOUT))));
        assert!(!is_final(&Err(Error::new(
            &super::super::RESPONSE_SIGNATURE_INVALID
        ))));
    }

    #[test]
    fn hostile_intents_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        assert!(key_for(&store, "", b"x").is_err());
        assert!(key_for(&store, &"i".repeat(201), b"x").is_err());
    }
}
