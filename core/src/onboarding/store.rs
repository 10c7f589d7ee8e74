//! The onboarding tables and their queries (migration 3 of store/schema.rs).
//!
//! Every edit is one short write transaction, so a kill between two edits
//! loses nothing that was acknowledged. Personal fields and photos are
//! sealed with the merchant's data key at a [`Place`] naming table, column
//! and row; the rest is plain.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::model::{
    AccountType, ApplicationField, ApplicationPhoto, ApplicationRejection, ApplicationStatus,
    MerchantKind, PhotoKind, UploadState,
};
use crate::error::{Error, Result};
use crate::store::{CORRUPT, MerchantStore, Place};

pub const MIGRATION: &str = "
-- One row per form field the merchant filled in. Personal fields (names,
-- ID number, account number, reserved mobile) are in `sealed`, AES-256-GCM
-- at Place('application_field', 'sealed', field); the others in `plain`.
CREATE TABLE application_field (
    field      TEXT PRIMARY KEY NOT NULL CHECK (length(field) BETWEEN 1 AND 64),
    plain      TEXT,
    sealed     BLOB,
    updated_at INTEGER NOT NULL,
    CHECK ((plain IS NULL) <> (sealed IS NULL))
) STRICT, WITHOUT ROWID;

-- The application's state on this device (one row).
CREATE TABLE application_state (
    id             INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    application_id TEXT,
    status         TEXT NOT NULL,
    -- JSON list of the review's reasons: field, code and messages (no values).
    rejections     TEXT NOT NULL DEFAULT '[]',
    -- SHA-256 of the last form body the platform accepted.
    synced_sha256  TEXT,
    sync_error     TEXT,
    -- JSON of the activated merchant's profile (merchant number, rates).
    profile        TEXT,
    updated_at     INTEGER NOT NULL
) STRICT;

-- The application's photos, prepared on the device; the upload queue.
-- `sealed` is AES-256-GCM at Place('application_photo', 'sealed', kind).
CREATE TABLE application_photo (
    kind            TEXT PRIMARY KEY NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    sha256          TEXT NOT NULL CHECK (length(sha256) = 64),
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL CHECK (size >= 0),
    sealed          BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'uploaded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    added_at        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The platform's lookups (regions, MCCs, bank branches) kept for offline
-- form filling: the answer's entries as JSON, by endpoint and query.
CREATE TABLE lookup_cache (
    endpoint   TEXT NOT NULL,
    query      TEXT NOT NULL,
    entries    TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint, query)
) STRICT, WITHOUT ROWID;

-- The agreement shown to the merchant and, once signed, the record the
-- platform signed (JSON, kept exactly as received).
CREATE TABLE agreement (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version     TEXT NOT NULL,
    title       TEXT NOT NULL,
    text        TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    record      TEXT,
    fetched_at  INTEGER NOT NULL
) STRICT;
";

pub const SAMPLE: &str = "
INSERT INTO application_field (field, plain, sealed, updated_at)
    VALUES ('shop.name', '老王面馆', NULL, 1700000000000);
INSERT INTO application_field (field, plain, sealed, updated_at)
    VALUES ('legal_person.name', NULL, x'01c1c2c3', 1700000000000);
INSERT INTO application_state (id, application_id, status, rejections, updated_at)
    VALUES (1, 'app_1', 'rejected', '[]', 1700000000000);
INSERT INTO application_photo (kind, sha256, content_type, size, sealed, state, added_at)
    VALUES ('id_front', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
            'image/jpeg', 4, x'01d1d2', 'queued', 1700000000000);
INSERT INTO lookup_cache (endpoint, query, entries, fetched_at)
    VALUES ('regions', '', '[]', 1700000000000);
INSERT INTO agreement (id, version, title, text, text_sha256, fetched_at)
    VALUES (1, '2025.05', 't', 'x', '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881', 1700000000000);
";

fn field_place(field: ApplicationField) -> Place<'static> {
    Place::new("application_field", "sealed", field.key())
}

fn photo_place(kind: PhotoKind) -> Place<'static> {
    Place::new("application_photo", "sealed", kind.as_str())
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn corrupt(what: &str) -> Error {
    Error::new(&CORRUPT).detail(format!("onboarding: {what}"))
}

/// The application's state row.
#[derive(Debug, Clone)]
pub struct State {
    pub application_id: Option<String>,
    pub status: ApplicationStatus,
    pub rejections: Vec<ApplicationRejection>,
    pub synced_sha256: Option<String>,
    pub sync_error: Option<String>,
    pub profile: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            application_id: None,
            status: ApplicationStatus::Draft,
            rejections: Vec::new(),
            synced_sha256: None,
            sync_error: None,
            profile: None,
        }
    }
}

pub fn state_in(c: &Connection) -> Result<State> {
    let row = c
        .query_row(
            "SELECT application_id, status, rejections, synced_sha256, sync_error, profile
             FROM application_state WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((application_id, status, rejections, synced_sha256, sync_error, profile)) = row else {
        return Ok(State::default());
    };
    Ok(State {
        application_id,
        status: ApplicationStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        rejections: serde_json::from_str(&rejections).map_err(|_| corrupt("rejections"))?,
        synced_sha256,
        sync_error,
        profile,
    })
}

pub fn state(store: &MerchantStore) -> Result<State> {
    store.db().read(state_in)
}

/// Writes the state row as a whole.
pub fn put_state_in(c: &Connection, s: &State) -> Result<()> {
    let rejections = serde_json::to_string(&s.rejections)
        .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
    c.execute(
        "INSERT INTO application_state
             (id, application_id, status, rejections, synced_sha256, sync_error, profile, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET application_id = excluded.application_id,
             status = excluded.status, rejections = excluded.rejections,
             synced_sha256 = excluded.synced_sha256, sync_error = excluded.sync_error,
             profile = excluded.profile, updated_at = excluded.updated_at",
        params![
            s.application_id,
            s.status.as_str(),
            rejections,
            s.synced_sha256,
            s.sync_error,
            s.profile,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Changes the state row in one transaction.
pub fn update_state<T>(
    store: &MerchantStore,
    f: impl FnOnce(&mut State) -> Result<T>,
) -> Result<T> {
    store.db().write(|tx| {
        let mut s = state_in(tx)?;
        let out = f(&mut s)?;
        put_state_in(tx, &s)?;
        Ok(out)
    })
}

/// Every field filled in, personal ones unsealed.
pub fn fields(store: &MerchantStore) -> Result<HashMap<ApplicationField, String>> {
    let rows: Vec<(String, Option<String>, Option<Vec<u8>>)> = store.db().read(|c| {
        let mut stmt = c.prepare("SELECT field, plain, sealed FROM application_field")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })?;
    let mut out = HashMap::new();
    for (key, plain, sealed) in rows {
        let Some(field) = ApplicationField::ALL.into_iter().find(|f| f.key() == key) else {
            continue;
        };
        let value = match (plain, sealed) {
            (Some(p), _) => p,
            (None, Some(s)) => {
                let open = store.unseal(&field_place(field), &s)?;
                String::from_utf8(open.as_bytes().to_vec()).map_err(|_| corrupt("field text"))?
            }
            (None, None) => continue,
        };
        out.insert(field, value);
    }
    Ok(out)
}

/// An edit that changes what the platform reviews: refused unless the
/// application may be changed; a rejected one goes back to Draft.
fn begin_edit(c: &Connection) -> Result<State> {
    let mut s = state_in(c)?;
    if !s.status.editable() {
        return Err(Error::new(&super::platform_code(
            &merchant_contract::domain::APPLICATION_LOCKED,
        ))
        .detail(format!("status {}", s.status.as_str())));
    }
    if let Some(next) = super::status::transition(s.status, &super::status::Event::Edited) {
        s.status = next;
        s.rejections.clear();
    }
    put_state_in(c, &s)?;
    Ok(s)
}

/// Saves one field (sealed when personal), or clears it for `None`.
pub fn set_field(
    store: &MerchantStore,
    field: ApplicationField,
    value: Option<&str>,
) -> Result<()> {
    store.db().write(|tx| {
        begin_edit(tx)?;
        match value {
            None => {
                tx.execute(
                    "DELETE FROM application_field WHERE field = ?1",
                    [field.key()],
                )?;
            }
            Some(v) => {
                let (plain, sealed) = if field.is_personal() {
                    (None, Some(store.seal(&field_place(field), v.as_bytes())?))
                } else {
                    (Some(v.to_owned()), None)
                };
                tx.execute(
                    "INSERT INTO application_field (field, plain, sealed, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (field) DO UPDATE SET plain = excluded.plain,
                         sealed = excluded.sealed, updated_at = excluded.updated_at",
                    params![field.key(), plain, sealed, now_ms()],
                )?;
            }
        }
        Ok(())
    })
}

/// A photo and its prepared bytes' facts.
pub struct NewPhoto<'a> {
    pub kind: PhotoKind,
    pub sha256: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// Keeps a prepared photo sealed and queues it (replacing one of the same kind).
pub fn put_photo(store: &MerchantStore, p: &NewPhoto<'_>) -> Result<()> {
    let sealed = store.seal(&photo_place(p.kind), p.bytes)?;
    store.db().write(|tx| {
        begin_edit(tx)?;
        tx.execute(
            "INSERT INTO application_photo
                 (kind, sha256, content_type, size, sealed, state, attempts, last_error,
                  next_attempt_at, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, NULL, 0, ?6)
             ON CONFLICT (kind) DO UPDATE SET sha256 = excluded.sha256,
                 content_type = excluded.content_type, size = excluded.size,
                 sealed = excluded.sealed, state = 'queued', attempts = 0, last_error = NULL,
                 next_attempt_at = 0, added_at = excluded.added_at",
            params![
                p.kind.as_str(),
                p.sha256,
                p.content_type,
                p.bytes.len() as i64,
                sealed,
                now_ms()
            ],
        )?;
        Ok(())
    })
}

fn upload_state(text: &str) -> Result<UploadState> {
    match text {
        "queued" => Ok(UploadState::Queued),
        "uploaded" => Ok(UploadState::Uploaded),
        _ => Err(corrupt("photo state")),
    }
}

/// Every photo, with its queue facts (not its bytes).
pub fn photos(store: &MerchantStore) -> Result<Vec<(ApplicationPhoto, i64)>> {
    store.db().read(|c| {
        let mut stmt = c.prepare(
            "SELECT kind, sha256, content_type, size, state, attempts, last_error, next_attempt_at
             FROM application_photo ORDER BY added_at, kind",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, sha256, content_type, size, state, attempts, last_error, next) = row?;
            let Some(kind) = PhotoKind::parse(&kind) else {
                continue;
            };
            out.push((
                ApplicationPhoto {
                    kind,
                    sha256,
                    content_type,
                    size: u64::try_from(size).unwrap_or(0),
                    state: upload_state(&state)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    last_error,
                },
                next,
            ));
        }
        Ok(out)
    })
}

/// The sealed bytes of a photo, opened, if its hash is still `sha256`.
pub fn photo_bytes(
    store: &MerchantStore,
    kind: PhotoKind,
    sha256: &str,
) -> Result<Option<Vec<u8>>> {
    let sealed: Option<Vec<u8>> = store.db().read(|c| {
        Ok(c.query_row(
            "SELECT sealed FROM application_photo WHERE kind = ?1 AND sha256 = ?2",
            params![kind.as_str(), sha256],
            |r| r.get(0),
        )
        .optional()?)
    })?;
    sealed
        .map(|s| {
            store
                .unseal(&photo_place(kind), &s)
                .map(|b| b.as_bytes().to_vec())
        })
        .transpose()
}

/// Marks a photo uploaded, if it is still the same one.
pub fn photo_uploaded(store: &MerchantStore, kind: PhotoKind, sha256: &str) -> Result<()> {
    store.db().write(|tx| {
        tx.execute(
            "UPDATE application_photo SET state = 'uploaded', last_error = NULL, next_attempt_at = 0
             WHERE kind = ?1 AND sha256 = ?2",
            params![kind.as_str(), sha256],
        )?;
        Ok(())
    })
}

/// Counts a failed try and when the next may start.
pub fn photo_failed(
    store: &MerchantStore,
    kind: PhotoKind,
    sha256: &str,
    code: &str,
    next_attempt_at: i64,
) -> Result<()> {
    store.db().write(|tx| {
        tx.execute(
            "UPDATE application_photo SET attempts = attempts + 1, last_error = ?3,
                 next_attempt_at = ?4
             WHERE kind = ?1 AND sha256 = ?2 AND state = 'queued'",
            params![kind.as_str(), sha256, code, next_attempt_at],
        )?;
        Ok(())
    })
}

/// A cached lookup: entries (JSON) and when they were fetched.
pub fn lookup(store: &MerchantStore, endpoint: &str, query: &str) -> Result<Option<(String, i64)>> {
    store.db().read(|c| {
        Ok(c.query_row(
            "SELECT entries, fetched_at FROM lookup_cache WHERE endpoint = ?1 AND query = ?2",
            params![endpoint, query],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    })
}

/// Every cached list of an endpoint: (query, entries JSON).
pub fn lookups_of(store: &MerchantStore, endpoint: &str) -> Result<Vec<(String, String)>> {
    store.db().read(|c| {
        let mut stmt = c.prepare(
            "SELECT query, entries FROM lookup_cache WHERE endpoint = ?1 ORDER BY query",
        )?;
        let rows = stmt.query_map([endpoint], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

pub fn put_lookup(
    store: &MerchantStore,
    endpoint: &str,
    query: &str,
    entries: &str,
    fetched_at: i64,
) -> Result<()> {
    store.db().write(|tx| {
        tx.execute(
            "INSERT INTO lookup_cache (endpoint, query, entries, fetched_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (endpoint, query) DO UPDATE SET entries = excluded.entries,
                 fetched_at = excluded.fetched_at",
            params![endpoint, query, entries, fetched_at],
        )?;
        Ok(())
    })
}

/// The agreement kept: (version, title, text, text_sha256, record JSON).
pub struct StoredAgreement {
    pub version: String,
    pub title: String,
    pub text: String,
    pub text_sha256: String,
    pub record: Option<String>,
}

pub fn agreement(store: &MerchantStore) -> Result<Option<StoredAgreement>> {
    store.db().read(|c| {
        Ok(c.query_row(
            "SELECT version, title, text, text_sha256, record FROM agreement WHERE id = 1",
            [],
            |r| {
                Ok(StoredAgreement {
                    version: r.get(0)?,
                    title: r.get(1)?,
                    text: r.get(2)?,
                    text_sha256: r.get(3)?,
                    record: r.get(4)?,
                })
            },
        )
        .optional()?)
    })
}

/// Keeps the agreement text; a new version forgets the record of an old one.
pub fn put_agreement_text(store: &MerchantStore, a: &StoredAgreement) -> Result<()> {
    store.db().write(|tx| {
        tx.execute(
            "INSERT INTO agreement (id, version, title, text, text_sha256, record, fetched_at)
             VALUES (1, ?1, ?2, ?3, ?4, NULL, ?5)
             ON CONFLICT (id) DO UPDATE SET
                 record = CASE WHEN agreement.version = excluded.version
                               AND agreement.text_sha256 = excluded.text_sha256
                          THEN agreement.record ELSE NULL END,
                 version = excluded.version, title = excluded.title, text = excluded.text,
                 text_sha256 = excluded.text_sha256, fetched_at = excluded.fetched_at",
            params![a.version, a.title, a.text, a.text_sha256, now_ms()],
        )?;
        Ok(())
    })
}

pub fn put_agreement_record(store: &MerchantStore, record: &str) -> Result<()> {
    store.db().write(|tx| {
        let n = tx.execute("UPDATE agreement SET record = ?1 WHERE id = 1", [record])?;
        if n == 0 {
            return Err(corrupt("agreement record without its text"));
        }
        Ok(())
    })
}

/// The kind and account type chosen so far (for the photos a form needs).
pub fn kind_and_account(
    fields: &HashMap<ApplicationField, String>,
) -> (Option<MerchantKind>, Option<AccountType>) {
    (
        fields
            .get(&ApplicationField::Kind)
            .and_then(|k| MerchantKind::parse(k)),
        fields
            .get(&ApplicationField::AccountType)
            .and_then(|a| AccountType::parse(a)),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{FileSecretStore, SecretStore, open_merchant};

    fn open(dir: &std::path::Path) -> MerchantStore {
        let secrets: Arc<dyn SecretStore> =
            FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
        open_merchant(&dir.join("data"), "mch_test", &secrets).unwrap()
    }

    /// Every byte of the merchant's database files, WAL included.
    fn raw_bytes(dir: &std::path::Path) -> Vec<u8> {
        let mut out = Vec::new();
        let mdir = crate::store::merchant_dir(&dir.join("data"), "mch_test").unwrap();
        for entry in std::fs::read_dir(mdir).unwrap() {
            out.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        out
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[test]
    fn personal_fields_and_photos_are_sealed_at_rest_and_survive_a_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let id = "510107198503071234";
        set_field(&store, ApplicationField::IdNumber, Some(id)).unwrap();
        set_field(&store, ApplicationField::LegalName, Some("王小明")).unwrap();
        set_field(&store, ApplicationField::ShopName, Some("老王面馆")).unwrap();
        let photo = b"JPEG-BYTES-OF-AN-ID-CARD".to_vec();
        put_photo(
            &store,
            &NewPhoto {
                kind: PhotoKind::IdFront,
                sha256: &"a".repeat(64),
                content_type: "image/jpeg",
                bytes: &photo,
            },
        )
        .unwrap();
        drop(store);
        let raw = raw_bytes(tmp.path());
        assert!(!contains(&raw, id), "the ID number is sealed");
        assert!(!contains(&raw, "王小明"), "the name is sealed");
        assert!(
            !contains(&raw, "JPEG-BYTES-OF-AN-ID-CARD"),
            "the photo is sealed"
        );
        assert!(
            contains(&raw, "老王面馆"),
            "a shop name is not personal data"
        );

        let store = open(tmp.path());
        let fields = fields(&store).unwrap();
        assert_eq!(
            fields.get(&ApplicationField::IdNumber).map(String::as_str),
            Some(id)
        );
        assert_eq!(
            fields.get(&ApplicationField::LegalName).map(String::as_str),
            Some("王小明")
        );
        assert_eq!(
            photo_bytes(&store, PhotoKind::IdFront, &"a".repeat(64)).unwrap(),
            Some(photo)
        );
        set_field(&store, ApplicationField::IdNumber, None).unwrap();
        assert!(
            !super::fields(&store)
                .unwrap()
                .contains_key(&ApplicationField::IdNumber)
        );
    }

    #[test]
    fn an_edit_takes_a_rejected_application_back_to_draft_and_review_locks_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        update_state(&store, |s| {
            s.status = ApplicationStatus::Rejected;
            s.rejections = vec![ApplicationRejection {
                field: "shop.name".into(),
                form_field: Some(ApplicationField::ShopName),
                photo: None,
                code: "review.shop_name_refused".into(),
                message: "商户名称不合规".into(),
                message_en: "The shop name is not acceptable".into(),
            }];
            Ok(())
        })
        .unwrap();
        assert_eq!(state(&store).unwrap().rejections.len(), 1, "kept as JSON");
        set_field(&store, ApplicationField::ShopName, Some("老王面馆")).unwrap();
        let s = state(&store).unwrap();
        assert_eq!(s.status, ApplicationStatus::Draft);
        assert!(s.rejections.is_empty());

        update_state(&store, |s| {
            s.status = ApplicationStatus::UnderReview;
            Ok(())
        })
        .unwrap();
        let e = set_field(&store, ApplicationField::ShopName, Some("x")).unwrap_err();
        assert_eq!(e.code, "application.locked");
        assert_eq!(
            fields(&store)
                .unwrap()
                .get(&ApplicationField::ShopName)
                .map(String::as_str),
            Some("老王面馆"),
            "nothing changed"
        );
    }
}
