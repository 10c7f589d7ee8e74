//! Keys at rest: small secrets (a merchant's data key, the device's signing
//! key) kept in a file only as bytes the platform key store ([`SecretStore`])
//! wrapped.
//!
//! A key file is written once, atomically (temporary file, fsync, then an
//! atomic link that never replaces an existing file), readable by the owner
//! only, and framed so that a truncated or damaged file is told apart from a
//! key the platform key store no longer has:
//!
//! ```text
//! "MCKF" | version 0x01 | length (u32, big-endian) | payload | SHA-256 of everything before
//! ```
//!
//! | what went wrong                                   | code                |
//! |---------------------------------------------------|---------------------|
//! | the file is not there                             | `store.key_missing` |
//! | the file is truncated, extended or altered        | `store.key_corrupt` |
//! | the key store cannot unwrap it (key gone/changed) | `store.key_lost`    |
//! | the key store refuses to wrap a new secret        | `store.key_wrap_failed` |
//! | the key store refuses to forget a key             | `store.key_forget_failed` |

use std::fs;
use std::io::{ErrorKind as IoKind, Write};
use std::path::{Path, PathBuf};

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use super::{
    IO, KEY_CORRUPT, KEY_FORGET_FAILED, KEY_LOST, KEY_MISSING, KEY_WRAP_FAILED, SecretStore,
};
use crate::error::{Error, Result};

/// Secret bytes in memory, overwritten with zeros when dropped, never printed.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference to a u8.
            // A volatile write is not elided by the optimiser even though the
            // memory is freed right after.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// A small secret wrapped by the [`SecretStore`] and kept in a file.
///
/// ```text
/// let pkcs8 = WrappedSecret::load_or_create(&dir.join("device.key"), "device", &*secrets, || {
///     Ok(EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)?.as_ref().to_vec())
/// })?;
/// ```
///
/// The functions block on the file system and on the key store (which may be
/// a call into the app); call them off async worker threads when that matters.
pub enum WrappedSecret {}

impl WrappedSecret {
    /// Loads the secret kept at `path`, or, when there is no file there yet,
    /// makes one with `create`, wraps it under `key_name` and writes it.
    ///
    /// Two callers racing to create the same file both end up with the one
    /// that was written first. A file that exists but cannot be read back is
    /// an error, never silently replaced: what it protects would be lost.
    pub fn load_or_create(
        path: &Path,
        key_name: &str,
        secrets: &dyn SecretStore,
        create: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Secret> {
        if let Some(wrapped) = read_key_file(path)? {
            return unwrap(key_name, secrets, wrapped);
        }
        let secret = Secret::new(create()?);
        let wrapped = secrets
            .wrap(key_name.to_owned(), secret.as_bytes().to_vec())
            .map_err(|e| {
                Error::new(&KEY_WRAP_FAILED).detail(format!("key store wrap failed: {}", e.code()))
            })?;
        // A key store that cannot give back what it just wrapped would lose
        // everything sealed under this secret at the next start: find out now.
        let check = unwrap(key_name, secrets, Secret::new(wrapped.clone()))?;
        if check.as_bytes() != secret.as_bytes() {
            return Err(Error::new(&KEY_WRAP_FAILED)
                .detail("key store unwrap did not return what it wrapped"));
        }
        if write_key_file(path, &wrapped)? {
            Ok(secret)
        } else {
            // Another caller wrote the file first; theirs is the secret.
            WrappedSecret::load(path, key_name, secrets)
        }
    }

    /// Loads the secret kept at `path`: [`KEY_MISSING`] when there is no file.
    pub fn load(path: &Path, key_name: &str, secrets: &dyn SecretStore) -> Result<Secret> {
        match read_key_file(path)? {
            Some(wrapped) => unwrap(key_name, secrets, wrapped),
            None => Err(Error::new(&KEY_MISSING).detail("no wrapped key file")),
        }
    }

    /// Whether a key file is there (it may still fail to load).
    pub fn exists(path: &Path) -> Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == IoKind::NotFound => Ok(false),
            Err(e) => Err(io_error("stat key file", &e)),
        }
    }

    /// Destroys the secret: deletes the file and asks the key store to
    /// forget `key_name`. Both are attempted; the first failure is returned.
    /// Wiping what is not there succeeds.
    pub fn wipe(path: &Path, key_name: &str, secrets: &dyn SecretStore) -> Result<()> {
        let removed = remove_file_if_exists(path).map(|_| ());
        let forgotten = secrets.forget(key_name.to_owned()).map_err(|e| {
            Error::new(&KEY_FORGET_FAILED).detail(format!("key store forget failed: {}", e.code()))
        });
        removed.and(forgotten)
    }
}

fn unwrap(key_name: &str, secrets: &dyn SecretStore, wrapped: Secret) -> Result<Secret> {
    secrets
        .unwrap(key_name.to_owned(), wrapped.as_bytes().to_vec())
        .map(Secret::new)
        .map_err(|e| Error::new(&KEY_LOST).detail(format!("key store unwrap failed: {}", e.code())))
}

// ---------------------------------------------------------------------------
// Key files: framing, atomic no-clobber writes, owner-only permissions.

const MAGIC: &[u8; 4] = b"MCKF";
const FRAME_VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 4;
const DIGEST_LEN: usize = 32;
/// Key files are tiny; anything bigger is not one of ours.
const MAX_KEY_FILE: u64 = 64 * 1024;

fn frame(payload: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::new(&KEY_WRAP_FAILED).detail("wrapped key too large"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + DIGEST_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FRAME_VERSION);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    let d = digest(&SHA256, &out);
    out.extend_from_slice(d.as_ref());
    Ok(out)
}

fn unframe(bytes: &[u8]) -> Result<&[u8]> {
    let corrupt = |what: &str| Error::new(&KEY_CORRUPT).detail(format!("key file: {what}"));
    if bytes.len() < HEADER_LEN + DIGEST_LEN {
        return Err(corrupt("shorter than any key file"));
    }
    if &bytes[..4] != MAGIC {
        return Err(corrupt("not a key file"));
    }
    if bytes[4] != FRAME_VERSION {
        return Err(corrupt("unknown version"));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&bytes[5..HEADER_LEN]);
    let len = u32::from_be_bytes(len) as usize;
    if bytes.len() != HEADER_LEN + len + DIGEST_LEN {
        return Err(corrupt("length does not match (truncated or extended)"));
    }
    let (body, sum) = bytes.split_at(HEADER_LEN + len);
    if digest(&SHA256, body).as_ref() != sum {
        return Err(corrupt("checksum does not match"));
    }
    Ok(&body[HEADER_LEN..])
}

/// Reads and unframes a key file; `None` when there is none.
pub(crate) fn read_key_file(path: &Path) -> Result<Option<Secret>> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(Error::new(&KEY_CORRUPT).detail("key path is not a regular file"));
        }
        Ok(m) if m.len() > MAX_KEY_FILE => {
            return Err(Error::new(&KEY_CORRUPT).detail("key file too large"));
        }
        Ok(_) => {}
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("stat key file", &e)),
    }
    let bytes = match fs::read(path) {
        Ok(b) => Secret::new(b),
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read key file", &e)),
    };
    let payload = unframe(bytes.as_bytes())?;
    Ok(Some(Secret::new(payload.to_vec())))
}

/// Frames `payload` and writes it to `path` atomically, never replacing an
/// existing file. `Ok(false)` when a file was already there.
pub(crate) fn write_key_file(path: &Path, payload: &[u8]) -> Result<bool> {
    let framed = Secret::new(frame(payload)?);
    write_new_file_atomically(path, framed.as_bytes())
}

/// Writes `contents` to a temporary file beside `path`, syncs it, then links
/// it into place only if nothing is at `path` yet. Readers never see a
/// half-written file, and of two racing writers exactly one wins.
pub(crate) fn write_new_file_atomically(path: &Path, contents: &[u8]) -> Result<bool> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(&IO).detail("key path has no file name"))?;
    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| Error::new(&IO).detail("system random generator failed"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(suffix)
    ));

    let written = (|| {
        let mut f = owner_only_options()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write temporary key file", &e));
    }

    let created = match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == IoKind::AlreadyExists => Ok(false),
        // Some file systems have no hard links: fall back to a rename, which
        // is atomic but would replace a file that appeared meanwhile.
        Err(_) => match fs::symlink_metadata(path) {
            Ok(_) => Ok(false),
            Err(_) => fs::rename(&tmp, path)
                .map(|()| true)
                .map_err(|e| io_error("move key file into place", &e)),
        },
    };
    let _ = fs::remove_file(&tmp);
    let created = created?;
    if created {
        sync_dir(dir);
    }
    Ok(created)
}

/// Removes a file; `Ok(false)` when it was not there.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            Ok(true)
        }
        Err(e) if e.kind() == IoKind::NotFound => Ok(false),
        Err(e) => Err(io_error("remove file", &e)),
    }
}

/// Creates `dir` and its parents, owner-only on unix.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| io_error("create directory", &e))
}

fn owner_only_options() -> fs::OpenOptions {
    #[allow(unused_mut)]
    let mut o = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Makes a rename or link durable. Best effort: not every platform can open a
/// directory for syncing, and the file itself is already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

pub(crate) fn io_error(what: &str, e: &std::io::Error) -> Error {
    // io::Error's text names the failure, not the path or the contents.
    Error::new(&IO).detail(format!("{what}: {e}"))
}

/// A file-name stem for `name` that is safe in any directory on any
/// platform: the readable part keeps `[A-Za-z0-9._-]` (others become `_`, at
/// most 40 characters, no leading dot), and a suffix of 16 hex digits of
/// SHA-256 of the exact name keeps names apart that differ only in case or in
/// characters that were replaced. No name can produce `..`, a separator or a
/// reserved device name.
pub(crate) fn safe_file_stem(name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let readable = readable.trim_start_matches('.');
    let hash = digest(&SHA256, name.as_bytes());
    format!("{readable}-{}", hex::encode(&hash.as_ref()[..8]))
}

/// `dir/<safe stem of name><ext>`.
pub(crate) fn safe_path(dir: &Path, name: &str, ext: &str) -> PathBuf {
    dir.join(format!("{}{ext}", safe_file_stem(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_detects_damage() {
        let framed = frame(b"wrapped bytes").expect("frame");
        assert_eq!(unframe(&framed).expect("unframe"), b"wrapped bytes");
        for len in 0..framed.len() {
            let err = unframe(&framed[..len]).expect_err("truncated");
            assert!(err.is(&KEY_CORRUPT), "{len}: {err}");
        }
        for i in 0..framed.len() {
            let mut t = framed.clone();
            t[i] ^= 0x20;
            assert!(
                unframe(&t).expect_err("altered").is(&KEY_CORRUPT),
                "byte {i}"
            );
        }
        let mut longer = framed.clone();
        longer.push(0);
        assert!(unframe(&longer).expect_err("extended").is(&KEY_CORRUPT));
    }

    #[test]
    fn safe_stems_stay_inside_and_apart() {
        let names = [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "a/b",
            "a_b",
            "a\\b",
            "A_B",
            "CON",
            "con",
            "nul.txt",
            "merchant.M100001.data",
            "\0",
            "名字",
            &"x".repeat(500),
        ];
        let mut seen = std::collections::HashSet::new();
        for n in names {
            let s = safe_file_stem(n);
            assert!(!s.is_empty() && s.len() <= 40 + 17, "{n:?} -> {s}");
            assert!(!s.starts_with('.'), "{n:?} -> {s}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{n:?} -> {s}"
            );
            // Lower-cased, as a case-insensitive file system sees it.
            assert!(seen.insert(s.to_ascii_lowercase()), "{n:?} collides");
            let p = safe_path(Path::new("/base"), n, ".key");
            assert_eq!(p.parent(), Some(Path::new("/base")), "{n:?} -> {p:?}");
        }
        assert!(safe_file_stem("merchant.M100001.data").starts_with("merchant.M100001.data-"));
    }

    #[test]
    fn atomic_write_never_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k");
        assert!(write_key_file(&p, b"first").expect("write"));
        assert!(!write_key_file(&p, b"second").expect("write"));
        assert_eq!(
            read_key_file(&p)
                .expect("read")
                .expect("present")
                .as_bytes(),
            b"first"
        );
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("k")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(remove_file_if_exists(&p).expect("rm"));
        assert!(!remove_file_if_exists(&p).expect("rm again"));
        assert!(read_key_file(&p).expect("read").is_none());
    }

    #[test]
    fn a_directory_where_a_key_file_should_be_is_corrupt_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read_key_file(dir.path()).expect_err("dir");
        assert!(err.is(&KEY_CORRUPT), "{err}");
    }
}
