//! Tests of the store across its parts: the file key store, wrapped secrets,
//! the database and the merchant store, on real files in a temporary directory.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::MerchantError;

fn file_store(dir: &Path) -> Arc<FileSecretStore> {
    FileSecretStore::new(dir.to_string_lossy().into_owned()).expect("file secret store")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// --- FileSecretStore -------------------------------------------------------

#[test]
fn file_secret_store_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = file_store(dir.path());
    let wrapped = s
        .wrap("data".into(), b"thirty-two bytes of key material".to_vec())
        .expect("wrap");
    assert!(
        !wrapped.windows(8).any(|w| w == b"thirty-t"),
        "wrapped bytes must not contain the secret"
    );
    assert_eq!(
        s.unwrap("data".into(), wrapped.clone()).expect("unwrap"),
        b"thirty-two bytes of key material"
    );
    // A second store over the same directory (the next app start) unwraps it.
    let again = file_store(dir.path());
    assert_eq!(
        again
            .unwrap("data".into(), wrapped)
            .expect("unwrap after reopen"),
        b"thirty-two bytes of key material"
    );
}

#[test]
fn file_secret_store_forget_makes_wrapped_bytes_useless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = file_store(dir.path());
    let wrapped = s.wrap("data".into(), b"secret".to_vec()).expect("wrap");
    s.forget("data".into()).expect("forget");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    let err = s
        .unwrap("data".into(), wrapped.clone())
        .expect_err("forgotten");
    assert_eq!(err.code(), KEY_LOST.code);
    assert!(matches!(err, MerchantError::Integrity { .. }), "{err:?}");
    // Wrapping again under the same name makes a new key: the old bytes stay dead.
    s.wrap("data".into(), b"other".to_vec()).expect("wrap anew");
    let err = s
        .unwrap("data".into(), wrapped)
        .expect_err("old bytes, new key");
    assert_eq!(err.code(), UNSEAL_FAILED.code);
    // Forgetting what is not there is fine.
    s.forget("never".into()).expect("forget unknown");
}

#[test]
fn file_secret_store_names_are_independent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = file_store(dir.path());
    let a = s.wrap("a".into(), b"for a".to_vec()).expect("wrap a");
    let b = s.wrap("b".into(), b"for b".to_vec()).expect("wrap b");
    assert_eq!(files_in(dir.path()).len(), 2);
    // Bytes wrapped under one name do not unwrap under another.
    assert_eq!(
        s.unwrap("b".into(), a.clone())
            .expect_err("a under b")
            .code(),
        UNSEAL_FAILED.code
    );
    // Forgetting one leaves the other.
    s.forget("a".into()).expect("forget a");
    assert_eq!(s.unwrap("b".into(), b).expect("b survives"), b"for b");
    assert_eq!(
        s.unwrap("a".into(), a).expect_err("a forgotten").code(),
        KEY_LOST.code
    );
}

#[test]
fn file_secret_store_hostile_names_stay_inside_its_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("keys");
    let s = file_store(&dir);
    let hostile = [
        "../escape",
        "../../escape",
        "/etc/passwd",
        "..",
        ".",
        "",
        "a/../../b",
        "C:\\windows\\x",
        "con",
        "CON",
        "nul\0byte",
        "名字/../x",
    ];
    for name in hostile {
        let w = s
            .wrap(name.into(), name.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("wrap {name:?}: {e}"));
        assert_eq!(
            s.unwrap(name.into(), w).expect("unwrap"),
            name.as_bytes(),
            "{name:?}"
        );
    }
    // Every name got its own file, all inside `keys/`, nothing beside it.
    assert_eq!(files_in(&dir).len(), hostile.len(), "{:?}", files_in(&dir));
    assert_eq!(files_in(root.path()), vec!["keys".to_owned()]);
    for name in hostile {
        s.forget(name.into()).expect("forget");
    }
    assert!(files_in(&dir).is_empty());
}

#[test]
fn file_secret_store_refuses_an_unusable_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let file = root.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let err = FileSecretStore::new(file.to_string_lossy().into_owned()).expect_err("a file");
    assert_eq!(err.code(), IO.code);
    let err = FileSecretStore::new(String::new()).expect_err("empty");
    assert_eq!(err.code(), IO.code);
}

#[test]
fn file_secret_store_damaged_key_file_is_key_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = file_store(dir.path());
    let wrapped = s.wrap("data".into(), b"secret".to_vec()).expect("wrap");
    let path = keys::safe_path(dir.path(), "data", ".key");
    let bytes = std::fs::read(&path).expect("key file");
    std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("truncate");
    let err = s.unwrap("data".into(), wrapped).expect_err("truncated key");
    assert_eq!(err.code(), KEY_CORRUPT.code);
}

// --- WrappedSecret ---------------------------------------------------------

/// A key store that counts its calls and can be told to fail.
#[derive(Default)]
struct Counting {
    inner: Option<Arc<FileSecretStore>>,
    wraps: std::sync::atomic::AtomicUsize,
    forgets: std::sync::atomic::AtomicUsize,
    lie: bool,
}

impl SecretStore for Counting {
    fn wrap(&self, key_name: String, secret: Vec<u8>) -> Result<Vec<u8>, MerchantError> {
        self.wraps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match &self.inner {
            Some(s) => s.wrap(key_name, secret),
            None => Err(crate::error::Error::new(&crate::error::CALLBACK_FAILED).into()),
        }
    }
    fn unwrap(&self, key_name: String, wrapped: Vec<u8>) -> Result<Vec<u8>, MerchantError> {
        match &self.inner {
            Some(_) if self.lie => Ok(vec![0; 32]),
            Some(s) => s.unwrap(key_name, wrapped),
            None => Err(crate::error::Error::new(&crate::error::CALLBACK_FAILED).into()),
        }
    }
    fn forget(&self, key_name: String) -> Result<(), MerchantError> {
        self.forgets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match &self.inner {
            Some(s) => s.forget(key_name),
            None => Err(crate::error::Error::new(&crate::error::CALLBACK_FAILED).into()),
        }
    }
}

#[test]
fn wrapped_secret_is_created_once_then_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Counting {
        inner: Some(file_store(&dir.path().join("ks"))),
        ..Default::default()
    };
    let path = dir.path().join("device.key");
    assert!(!WrappedSecret::exists(&path).expect("exists"));
    let first = WrappedSecret::load_or_create(&path, "device", &store, || Ok(b"pkcs8".to_vec()))
        .expect("create");
    assert_eq!(first.as_bytes(), b"pkcs8");
    assert!(WrappedSecret::exists(&path).expect("exists"));
    // The file holds only wrapped bytes.
    let raw = std::fs::read(&path).expect("read");
    assert!(!raw.windows(5).any(|w| w == b"pkcs8"));
    // Next time it is loaded, not created.
    let second =
        WrappedSecret::load_or_create(&path, "device", &store, || panic!("must not create again"))
            .expect("load");
    assert_eq!(second.as_bytes(), b"pkcs8");
    assert_eq!(
        WrappedSecret::load(&path, "device", &store)
            .expect("load")
            .as_bytes(),
        b"pkcs8"
    );
    assert_eq!(store.wraps.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(format!("{second:?}"), "Secret(5 bytes)");
}

#[test]
fn wrapped_secret_errors_have_their_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = file_store(&dir.path().join("ks"));
    let path = dir.path().join("data.key");

    // Missing file.
    let err = WrappedSecret::load(&path, "data", &*ks).expect_err("missing");
    assert!(err.is(&KEY_MISSING), "{err}");

    WrappedSecret::load_or_create(&path, "data", &*ks, || Ok(vec![9; 32])).expect("create");

    // Another key store (another device, a reinstalled app): the key is lost.
    let other = file_store(&dir.path().join("other"));
    let err = WrappedSecret::load(&path, "data", &*other).expect_err("other store");
    assert!(err.is(&KEY_LOST), "{err}");
    // Also through load_or_create: an existing file is never replaced.
    let err = WrappedSecret::load_or_create(&path, "data", &*other, || Ok(vec![1; 32]))
        .expect_err("other store");
    assert!(err.is(&KEY_LOST), "{err}");

    // Truncated file.
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = WrappedSecret::load(&path, "data", &*ks).expect_err("truncated");
    assert!(err.is(&KEY_CORRUPT), "{err}");
    let err = WrappedSecret::load_or_create(&path, "data", &*ks, || Ok(vec![1; 32]))
        .expect_err("truncated, not replaced");
    assert!(err.is(&KEY_CORRUPT), "{err}");

    // A key store that refuses to wrap.
    let failing = Counting::default();
    let err =
        WrappedSecret::load_or_create(&dir.path().join("x.key"), "x", &failing, || Ok(vec![1; 32]))
            .expect_err("refused");
    assert!(err.is(&KEY_WRAP_FAILED), "{err}");
    assert!(!dir.path().join("x.key").exists());

    // A key store whose unwrap returns other bytes is caught at creation.
    let liar = Counting {
        inner: Some(ks.clone()),
        lie: true,
        ..Default::default()
    };
    let err =
        WrappedSecret::load_or_create(&dir.path().join("y.key"), "y", &liar, || Ok(vec![1; 32]))
            .expect_err("liar");
    assert!(err.is(&KEY_WRAP_FAILED), "{err}");
    assert!(!dir.path().join("y.key").exists());

    // The creator's own failure comes through unchanged.
    let err = WrappedSecret::load_or_create(&dir.path().join("z.key"), "z", &*ks, || {
        Err(crate::error::Error::new(&SEAL_FAILED))
    })
    .expect_err("create failed");
    assert!(err.is(&SEAL_FAILED), "{err}");
}

#[test]
fn wrapped_secret_wipe_deletes_and_forgets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Counting {
        inner: Some(file_store(&dir.path().join("ks"))),
        ..Default::default()
    };
    let path = dir.path().join("data.key");
    let wrapped_before = {
        WrappedSecret::load_or_create(&path, "data", &store, || Ok(vec![5; 32])).expect("create");
        std::fs::read(&path).expect("read")
    };
    WrappedSecret::wipe(&path, "data", &store).expect("wipe");
    assert!(!path.exists());
    assert_eq!(store.forgets.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A copy of the file taken before the wipe is useless now.
    std::fs::write(&path, wrapped_before).expect("restore copy");
    let err = WrappedSecret::load(&path, "data", &store).expect_err("forgotten");
    assert!(err.is(&KEY_LOST), "{err}");
    // Wiping twice is fine.
    std::fs::remove_file(&path).expect("rm");
    WrappedSecret::wipe(&path, "data", &store).expect("wipe again");
}

#[test]
fn wrapped_secret_wipe_removes_the_file_even_when_the_key_store_cannot_forget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = file_store(&dir.path().join("ks"));
    let path = dir.path().join("data.key");
    WrappedSecret::load_or_create(&path, "data", &*ks, || Ok(vec![5; 32])).expect("create");
    let failing = Counting::default();
    let err = WrappedSecret::wipe(&path, "data", &failing).expect_err("forget fails");
    assert!(err.is(&KEY_FORGET_FAILED), "{err}");
    assert!(!path.exists(), "the file is gone all the same");
}

#[test]
fn wrapped_secret_racing_creators_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = file_store(&dir.path().join("ks"));
    let path = dir.path().join("race.key");
    let results: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let ks = ks.clone();
                let path = path.clone();
                scope.spawn(move || {
                    WrappedSecret::load_or_create(&path, "race", &*ks, || Ok(vec![i; 32]))
                        .expect("load_or_create")
                        .as_bytes()
                        .to_vec()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    assert_eq!(
        WrappedSecret::load(&path, "race", &*ks)
            .expect("load")
            .as_bytes(),
        results[0].as_slice()
    );
}

// --- MerchantStore ----------------------------------------------------------

/// A valid-format resident ID number (GB 11643 check character included).
const ID_NUMBER: &str = "11010519491231002X";
/// Another one, written unsealed by the control.
const CONTROL_ID: &str = "440304199003074510";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Setup {
    _root: tempfile::TempDir,
    data: std::path::PathBuf,
    secrets: Arc<dyn SecretStore>,
}

fn setup() -> Setup {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let secrets: Arc<dyn SecretStore> = file_store(&root.path().join("keystore"));
    Setup {
        _root: root,
        data,
        secrets,
    }
}

#[test]
fn an_id_number_written_through_the_store_is_nowhere_in_the_database_or_its_wal() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    store
        .vault_put("onboarding.id_number", ID_NUMBER.as_bytes())
        .expect("put");
    // Control: the same search does find a value written unsealed.
    store
        .db()
        .write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('control', ?1)",
                [CONTROL_ID],
            )?;
            Ok(())
        })
        .expect("control");
    assert_eq!(
        store
            .vault_get("onboarding.id_number")
            .expect("get")
            .expect("present")
            .as_bytes(),
        ID_NUMBER.as_bytes()
    );

    let db_path = store.dir().join(DB_FILE);
    let wal_path = store.dir().join(format!("{DB_FILE}-wal"));
    let db_bytes = std::fs::read(&db_path).expect("db file");
    let wal_bytes = std::fs::read(&wal_path).expect("wal file");
    assert!(!wal_bytes.is_empty(), "the writes are in the WAL");
    // We are looking in the right place: the sealed bytes are in the WAL...
    let sealed: Vec<u8> = store
        .db()
        .read(|c| {
            Ok(c.query_row(
                "SELECT sealed FROM vault WHERE name = 'onboarding.id_number'",
                [],
                |r| r.get(0),
            )?)
        })
        .expect("sealed");
    assert!(contains(&wal_bytes, &sealed), "sealed value is in the WAL");
    // ...and so is the control, in clear...
    assert!(contains(&wal_bytes, CONTROL_ID.as_bytes()), "control found");
    // ...but the ID number is in neither file.
    assert!(!contains(&wal_bytes, ID_NUMBER.as_bytes()), "ID in WAL");
    assert!(!contains(&db_bytes, ID_NUMBER.as_bytes()), "ID in db");

    // After the checkpoint on close everything is in the main file: same result.
    drop(store);
    assert!(!wal_path.exists() || std::fs::metadata(&wal_path).expect("wal").len() == 0);
    let db_bytes = std::fs::read(&db_path).expect("db file");
    assert!(contains(&db_bytes, CONTROL_ID.as_bytes()), "control found");
    assert!(contains(&db_bytes, &sealed), "sealed value checkpointed");
    assert!(!contains(&db_bytes, ID_NUMBER.as_bytes()), "ID in db");
    // Nor is it in the key file.
    let key_bytes = std::fs::read(
        merchant_dir(&s.data, "M100001")
            .expect("dir")
            .join(KEY_FILE),
    )
    .expect("key file");
    assert!(!contains(&key_bytes, ID_NUMBER.as_bytes()));
}

#[test]
fn vault_values_survive_a_reopen_and_can_be_replaced_and_deleted() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    assert!(store.vault_get("session.access").expect("get").is_none());
    store.vault_put("session.access", b"token-1").expect("put");
    store
        .vault_put("session.access", b"token-2")
        .expect("replace");
    store.vault_put("session.refresh", b"r-1").expect("put");
    drop(store);

    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("reopen");
    assert_eq!(
        store.vault_get_string("session.access").expect("get"),
        Some("token-2".to_owned())
    );
    assert!(store.vault_delete("session.access").expect("delete"));
    assert!(!store.vault_delete("session.access").expect("delete again"));
    assert!(store.vault_get("session.access").expect("get").is_none());
    assert_eq!(
        store
            .vault_get("session.refresh")
            .expect("get")
            .expect("kept")
            .as_bytes(),
        b"r-1"
    );
    // Inside the caller's transaction, rolled back with it.
    let err = store
        .db()
        .write(|tx| {
            store.vault_put_in(tx, "session.refresh", b"r-2")?;
            assert_eq!(
                store
                    .vault_get_in(tx, "session.refresh")?
                    .expect("seen")
                    .as_bytes(),
                b"r-2"
            );
            Err::<(), _>(crate::error::Error::new(&IO))
        })
        .expect_err("rolled back");
    assert!(err.is(&IO));
    assert_eq!(
        store
            .vault_get("session.refresh")
            .expect("get")
            .expect("kept")
            .as_bytes(),
        b"r-1"
    );
}

#[test]
fn a_sealed_value_cannot_be_moved_or_altered() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    store.vault_put("a", b"value of a").expect("put");
    store.vault_put("b", b"value of b").expect("put");
    // Copy a's sealed bytes into b's row.
    store
        .db()
        .write(|tx| {
            tx.execute(
                "UPDATE vault SET sealed = (SELECT sealed FROM vault WHERE name = 'a') WHERE name = 'b'",
                [],
            )?;
            Ok(())
        })
        .expect("swap");
    let err = store.vault_get("b").expect_err("moved value");
    assert!(err.is(&UNSEAL_FAILED), "{err}");
    // Flip one bit of a.
    store
        .db()
        .write(|tx| {
            let mut sealed: Vec<u8> =
                tx.query_row("SELECT sealed FROM vault WHERE name = 'a'", [], |r| {
                    r.get(0)
                })?;
            let last = sealed.len() - 1;
            sealed[last] ^= 1;
            tx.execute("UPDATE vault SET sealed = ?1 WHERE name = 'a'", [sealed])?;
            Ok(())
        })
        .expect("tamper");
    let err = store.vault_get("a").expect_err("tampered");
    assert!(err.is(&UNSEAL_FAILED), "{err}");
    let public: MerchantError = err.into();
    assert!(
        matches!(public, MerchantError::Integrity { .. }),
        "{public:?}"
    );
}

#[test]
fn sealed_columns_bind_to_their_place() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    let place = Place::new("application", "id_number", "app-1");
    let sealed = store.seal(&place, ID_NUMBER.as_bytes()).expect("seal");
    assert!(!contains(&sealed, ID_NUMBER.as_bytes()));
    assert_eq!(
        store.unseal(&place, &sealed).expect("unseal").as_bytes(),
        ID_NUMBER.as_bytes()
    );
    let other_row = Place::new("application", "id_number", "app-2");
    assert!(
        store
            .unseal(&other_row, &sealed)
            .expect_err("other row")
            .is(&UNSEAL_FAILED)
    );
}

#[test]
fn a_key_store_that_lost_the_key_is_key_lost() {
    let s = setup();
    open_merchant(&s.data, "M100001", &s.secrets)
        .expect("open")
        .vault_put("x", b"y")
        .expect("put");
    // The key store forgot the wrapping key (app data cleared, key invalidated).
    s.secrets.forget(data_key_name("M100001")).expect("forget");
    let err = open_merchant(&s.data, "M100001", &s.secrets).expect_err("lost");
    assert!(err.is(&KEY_LOST), "{err}");
    // Another key store altogether (the files copied to another device).
    let other_root = tempfile::tempdir().expect("tempdir");
    let other: Arc<dyn SecretStore> = file_store(other_root.path());
    let err = open_merchant(&s.data, "M100001", &other).expect_err("other store");
    assert!(err.is(&KEY_LOST), "{err}");
    let public: MerchantError = err.into();
    assert!(
        matches!(public, MerchantError::Integrity { .. }),
        "{public:?}"
    );
}

#[test]
fn a_missing_or_damaged_key_file_has_its_code() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    store.vault_put("x", b"y").expect("put");
    let key_path = store.dir().join(KEY_FILE);
    drop(store);
    let key_bytes = std::fs::read(&key_path).expect("key");

    std::fs::write(&key_path, &key_bytes[..key_bytes.len() - 3]).expect("truncate");
    let err = open_merchant(&s.data, "M100001", &s.secrets).expect_err("truncated");
    assert!(err.is(&KEY_CORRUPT), "{err}");

    std::fs::write(&key_path, b"").expect("empty");
    let err = open_merchant(&s.data, "M100001", &s.secrets).expect_err("empty");
    assert!(err.is(&KEY_CORRUPT), "{err}");

    std::fs::remove_file(&key_path).expect("rm");
    let err = open_merchant(&s.data, "M100001", &s.secrets).expect_err("missing");
    assert!(err.is(&KEY_MISSING), "{err}");
    // It is not silently replaced by a new key.
    assert!(!key_path.exists());

    // The original file put back: everything is readable again.
    std::fs::write(&key_path, &key_bytes).expect("restore");
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("restored");
    assert_eq!(
        store.vault_get("x").expect("get").expect("x").as_bytes(),
        b"y"
    );
}

#[test]
fn a_key_that_is_not_the_databases_own_is_key_wrong() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    store.vault_put("x", b"y").expect("put");
    let key_path = store.dir().join(KEY_FILE);
    drop(store);
    // A different data key, properly wrapped under the right name (a key
    // file from another backup, say).
    std::fs::remove_file(&key_path).expect("rm");
    WrappedSecret::load_or_create(&key_path, &data_key_name("M100001"), &*s.secrets, || {
        Ok(Sealer::generate_key()?.as_bytes().to_vec())
    })
    .expect("other key");
    let err = open_merchant(&s.data, "M100001", &s.secrets).expect_err("wrong key");
    assert!(err.is(&KEY_WRONG), "{err}");
}

#[test]
fn wipe_destroys_the_key_and_the_data() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    store.vault_put("session.access", b"token").expect("put");
    let dir = store.dir().to_path_buf();
    // A copy of the files taken before the wipe (a backup, a thief).
    let backup = tempfile::tempdir().expect("backup");
    store.db().close();
    for name in [DB_FILE, KEY_FILE] {
        std::fs::copy(dir.join(name), backup.path().join(name)).expect("copy");
    }
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("reopen");

    store.wipe().expect("wipe");
    assert!(!dir.exists(), "merchant directory removed");
    assert!(
        store
            .vault_get("session.access")
            .expect_err("closed")
            .is(&CLOSED)
    );

    // The copy is useless: the key store has forgotten the wrapping key.
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in [DB_FILE, KEY_FILE] {
        std::fs::copy(backup.path().join(name), dir.join(name)).expect("restore");
    }
    let err = open_merchant(&s.data, "M100001", &s.secrets).expect_err("wiped");
    assert!(err.is(&KEY_LOST), "{err}");

    // Signing in again after a wipe starts from a clean store.
    wipe_merchant(&s.data, "M100001", &*s.secrets).expect("wipe files");
    let fresh = open_merchant(&s.data, "M100001", &s.secrets).expect("fresh");
    assert!(fresh.vault_get("session.access").expect("get").is_none());
}

#[test]
fn wipe_merchant_clears_a_store_that_cannot_open() {
    let s = setup();
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("open");
    let key_path = store.dir().join(KEY_FILE);
    store.vault_put("x", b"y").expect("put");
    drop(store);
    std::fs::remove_file(&key_path).expect("lose the key file");
    assert!(
        open_merchant(&s.data, "M100001", &s.secrets)
            .expect_err("missing")
            .is(&KEY_MISSING)
    );
    wipe_merchant(&s.data, "M100001", &*s.secrets).expect("wipe");
    let store = open_merchant(&s.data, "M100001", &s.secrets).expect("fresh");
    assert!(store.vault_get("x").expect("get").is_none());
    // Wiping a merchant that never was is fine.
    wipe_merchant(&s.data, "M999999", &*s.secrets).expect("wipe nothing");
}

#[test]
fn merchants_are_kept_apart_and_hostile_ids_stay_inside() {
    let s = setup();
    let a = open_merchant(&s.data, "M100001", &s.secrets).expect("a");
    let b = open_merchant(&s.data, "m100001", &s.secrets).expect("b, differs in case");
    a.vault_put("session.access", b"for a").expect("put a");
    assert!(b.vault_get("session.access").expect("get b").is_none());
    assert_ne!(a.dir(), b.dir());
    assert_ne!(
        a.dir().to_string_lossy().to_lowercase(),
        b.dir().to_string_lossy().to_lowercase()
    );

    for id in [
        "../../escape",
        "..",
        ".",
        "/abs",
        "a/b",
        "C:\\x",
        "名字",
        "nul",
    ] {
        let store =
            open_merchant(&s.data, id, &s.secrets).unwrap_or_else(|e| panic!("open {id:?}: {e}"));
        assert_eq!(
            store.dir().parent(),
            Some(s.data.join("merchants").as_path()),
            "{id:?}"
        );
    }
    assert_eq!(files_in(&s.data), vec!["merchants".to_owned()]);

    for id in ["", &"x".repeat(129)] {
        let err = open_merchant(&s.data, id, &s.secrets).expect_err("invalid id");
        assert!(err.is(&MERCHANT_ID_INVALID), "{err}");
    }
}

#[test]
fn concurrent_opens_of_a_new_merchant_share_one_key() {
    let s = setup();
    let stores: Vec<MerchantStore> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| open_merchant(&s.data, "M100001", &s.secrets)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("thread").expect("open"))
            .collect()
    });
    stores[0].vault_put("x", b"shared").expect("put");
    for st in &stores {
        assert_eq!(
            st.vault_get("x").expect("get").expect("x").as_bytes(),
            b"shared"
        );
    }
}

#[tokio::test]
async fn the_async_helpers_open_and_wipe_off_the_async_threads() {
    let s = setup();
    let store = open_merchant_async(s.data.clone(), "M100001".into(), s.secrets.clone())
        .await
        .expect("open");
    store.vault_put("x", b"y").expect("put");
    let dir = store.dir().to_path_buf();
    drop(store);
    wipe_merchant_async(s.data.clone(), "M100001".into(), s.secrets.clone())
        .await
        .expect("wipe");
    assert!(!dir.exists());
}
