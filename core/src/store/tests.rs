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
