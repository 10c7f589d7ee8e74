//! Sealing: AES-256-GCM (ring) with a fresh random 96-bit nonce per value and
//! associated data that binds each sealed value to its place.
//!
//! Byte format of a sealed value (version 1):
//!
//! ```text
//! +---------+----------------+---------------------------+
//! | 0x01    | nonce (12 B)   | ciphertext ‖ tag (16 B)   |
//! +---------+----------------+---------------------------+
//! ```
//!
//! The associated data is the version byte followed by each part of the
//! [`Place`] (table, column, row key), each prefixed by its length as a
//! big-endian u32, so no two places share an encoding. A value sealed for one
//! row therefore cannot be copied into another row, another column or another
//! table: opening it there fails with [`UNSEAL_FAILED`], exactly as a wrong key
//! or a flipped bit does. Opening never returns garbage.
//!
//! Random 96-bit nonces are safe for about 2^32 seals under one key; a
//! merchant's database is many orders of magnitude below that.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::keys::Secret;
use super::{KEY_CORRUPT, SEAL_FAILED, UNSEAL_FAILED};
use crate::error::{Error, Result};

/// The current (and so far only) version of the sealed byte format.
pub const SEAL_VERSION: u8 = 1;
/// Length of a data key in bytes (AES-256).
pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// The smallest possible sealed value: version, nonce and tag of an empty plaintext.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Where a sealed value lives: table, column and the row's key. Sealing and
/// opening must name the same place.
///
/// The row key must be known before the value is written, so seal columns of
/// rows whose key the code chooses (a name, a uuid, the platform's id), not an
/// `AUTOINCREMENT` rowid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
}

impl<'a> Place<'a> {
    pub const fn new(table: &'a str, column: &'a str, row: &'a str) -> Self {
        Place { table, column, row }
    }

    fn aad(&self) -> Vec<u8> {
        let parts = [self.table, self.column, self.row];
        let mut out = Vec::with_capacity(1 + parts.iter().map(|p| 4 + p.len()).sum::<usize>());
        out.push(SEAL_VERSION);
        for part in parts {
            // A place part longer than 4 GiB cannot exist in memory here;
            // saturating keeps the encoding total without a panic path.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Seals and opens values under one 256-bit key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(AES-256-GCM)")
    }
}

impl Sealer {
    /// A sealer over a 32-byte key. Any other length is [`KEY_CORRUPT`]: keys
    /// come from files, and a key of the wrong size is a damaged one.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != KEY_LEN {
            return Err(Error::new(&KEY_CORRUPT).detail(format!(
                "data key is {} bytes, expected {KEY_LEN}",
                key.len()
            )));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| Error::new(&KEY_CORRUPT).detail("AES-256-GCM refused the key"))?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// A fresh random 256-bit key from the system's CSPRNG.
    pub fn generate_key() -> Result<Secret> {
        let mut key = Secret::new(vec![0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(key.as_mut_bytes())
            .map_err(|_| Error::new(&SEAL_FAILED).detail("system random generator failed"))?;
        Ok(key)
    }

    /// Seals `plaintext` for `place` with a fresh random nonce.
    pub fn seal(&self, place: &Place<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::new(&SEAL_FAILED).detail("system random generator failed"))?;
        // Encrypted in place: `body` holds the plaintext only until the call returns.
        let mut body = Vec::with_capacity(plaintext.len() + TAG_LEN);
        body.extend_from_slice(plaintext);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.aad()),
                &mut body,
            )
            .map_err(|_| Error::new(&SEAL_FAILED).detail("AES-256-GCM seal failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] returned for the same `place`. A wrong
    /// key, another place, a truncated or altered value, or an unknown format
    /// version is [`UNSEAL_FAILED`].
    pub fn open(&self, place: &Place<'_>, sealed: &[u8]) -> Result<Vec<u8>> {
        let Some((&version, rest)) = sealed.split_first() else {
            return Err(Error::new(&UNSEAL_FAILED).detail("sealed value is empty"));
        };
        if version != SEAL_VERSION {
            return Err(Error::new(&UNSEAL_FAILED)
                .detail(format!("unknown sealed format version {version}")));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::new(&UNSEAL_FAILED).detail(format!(
                "sealed value is {} bytes, shorter than the {SEALED_OVERHEAD} of any sealed value",
                sealed.len()
            )));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let mut buf = body.to_vec();
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(place.aad()),
                &mut buf,
            )
            .map_err(|_| {
                Error::new(&UNSEAL_FAILED)
                    .detail("authentication failed: wrong key, wrong place or altered bytes")
            })?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: Place<'static> = Place::new("vault", "value", "session.token");

    fn sealer() -> Sealer {
        let key = Sealer::generate_key().expect("key");
        Sealer::new(key.as_bytes()).expect("sealer")
    }

    #[test]
    fn round_trip_keeps_the_bytes_and_hides_them() {
        let s = sealer();
        let plain = b"110101199003074258 and more";
        let sealed = s.seal(&PLACE, plain).expect("seal");
        assert_eq!(sealed[0], SEAL_VERSION);
        assert_eq!(sealed.len(), SEALED_OVERHEAD + plain.len());
        assert!(!sealed.windows(plain.len()).any(|w| w == plain));
        assert_eq!(s.open(&PLACE, &sealed).expect("open"), plain);
        // The empty value is sealable too.
        let empty = s.seal(&PLACE, b"").expect("seal empty");
        assert_eq!(s.open(&PLACE, &empty).expect("open empty"), b"");
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let s = sealer();
        let a = s.seal(&PLACE, b"same").expect("seal");
        let b = s.seal(&PLACE, b"same").expect("seal");
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_is_unseal_failed() {
        let sealed = sealer().seal(&PLACE, b"secret").expect("seal");
        let err = sealer()
            .open(&PLACE, &sealed)
            .expect_err("other key must fail");
        assert!(err.is(&UNSEAL_FAILED), "{err}");
    }

    #[test]
    fn a_value_cannot_move_to_another_place() {
        let s = sealer();
        let sealed = s.seal(&PLACE, b"secret").expect("seal");
        for other in [
            Place::new("vault", "value", "session.refresh"),
            Place::new("vault", "other", "session.token"),
            Place::new("other", "value", "session.token"),
            // Same concatenation, different split: the length prefixes tell them apart.
            Place::new("vaultv", "alue", "session.token"),
        ] {
            let err = s.open(&other, &sealed).expect_err("moved value must fail");
            assert!(err.is(&UNSEAL_FAILED), "{other:?}: {err}");
        }
    }

    #[test]
    fn every_single_bit_flip_and_every_truncation_is_refused() {
        let s = sealer();
        let sealed = s.seal(&PLACE, b"0123456789").expect("seal");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut t = sealed.clone();
                t[i] ^= 1 << bit;
                let err = s.open(&PLACE, &t).expect_err("tampered value must fail");
                assert!(err.is(&UNSEAL_FAILED), "byte {i} bit {bit}: {err}");
            }
        }
        for len in 0..sealed.len() {
            let err = s
                .open(&PLACE, &sealed[..len])
                .expect_err("truncated value must fail");
            assert!(err.is(&UNSEAL_FAILED), "length {len}: {err}");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(
            s.open(&PLACE, &longer)
                .expect_err("extended")
                .is(&UNSEAL_FAILED)
        );
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused() {
        for len in [0, 16, 31, 33, 64] {
            let err = Sealer::new(&vec![7u8; len]).expect_err("wrong length");
            assert!(err.is(&KEY_CORRUPT), "length {len}: {err}");
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = Sealer::generate_key().expect("key");
        let b = Sealer::generate_key().expect("key");
        assert_eq!(a.as_bytes().len(), KEY_LEN);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }
}
