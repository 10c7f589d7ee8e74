//! The LKLAPI signing envelope, both directions.
//!
//! **Requests** to `/v1/*` carry
//! `Authorization: LKLAPI-SHA256withECDSA appid="…",serial_no="…",timestamp="…",nonce_str="…",signature="…"`.
//! The signature is ECDSA P-256 SHA-256 (ASN.1 DER, base64) by the device key
//! over [`signed_message`]. The device's `serial_no` is [`fingerprint`] of its
//! public key (the 65-byte uncompressed point).
//!
//! **Responses and push payloads** are signed by the platform with RSA-2048
//! PKCS#1 v1.5 SHA-256 over the same message shape, carried in the
//! `Lklapi-*` headers ([`ResponseSignature`]) or in a [`SignedPush`].
//!
//! Freshness: a timestamp more than [`FRESHNESS_WINDOW_SECS`] away from "now"
//! is refused ([`check_freshness`]), and a nonce is single-use within the
//! window ([`NonceCache`](crate::nonce::NonceCache)).
//!
//! Parsing is strict and bounded: every field has an exact alphabet and a
//! maximum length, and nothing here panics on hostile input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};

use crate::codes::{self, PlatformCode};

/// The Authorization scheme of signed requests.
pub const AUTH_SCHEME: &str = "LKLAPI-SHA256withECDSA";
/// The request header carrying the signature.
pub const HEADER_AUTHORIZATION: &str = "authorization";
/// The request header carrying the access token.
pub const HEADER_SESSION: &str = "lklapi-session";
/// The request header carrying the idempotency key of a write.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response signature headers (lowercase, as HTTP/2 and `http` spell them).
pub const HEADER_APPID: &str = "lklapi-appid";
pub const HEADER_SERIAL: &str = "lklapi-serial";
pub const HEADER_TIMESTAMP: &str = "lklapi-timestamp";
pub const HEADER_NONCE: &str = "lklapi-nonce";
pub const HEADER_SIGNATURE: &str = "lklapi-signature";
/// The response header naming the request, also in every error body.
pub const HEADER_REQUEST_ID: &str = "lklapi-request-id";

/// Timestamps further than this from "now" are refused, both ways.
pub const FRESHNESS_WINDOW_SECS: i64 = 300;
/// The longest Authorization header accepted.
pub const MAX_AUTHORIZATION_LEN: usize = 1024;
/// Length of a nonce: 32 characters of `[A-Za-z0-9]`.
pub const NONCE_LEN: usize = 32;
/// Length of a serial_no: 32 lowercase hex digits.
pub const SERIAL_LEN: usize = 32;
/// Longest appid.
pub const MAX_APPID_LEN: usize = 64;
/// Longest timestamp text (digits).
pub const MAX_TIMESTAMP_LEN: usize = 12;
/// Longest base64 signature text (RSA-4096 fits).
pub const MAX_SIGNATURE_B64_LEN: usize = 700;
/// Length of an uncompressed P-256 point.
pub const DEVICE_PUBLIC_KEY_LEN: usize = 65;
/// Idempotency keys: 16..=64 characters of `[A-Za-z0-9-_]`.
pub const IDEMPOTENCY_KEY_MIN: usize = 16;
pub const IDEMPOTENCY_KEY_MAX: usize = 64;

/// Why an envelope was refused. Carries no request data, only which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// No signature at all.
    #[error("signature missing")]
    Missing,
    /// The header or one of its fields breaks the format; names the part.
    #[error("envelope malformed: {0}")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("signature invalid")]
    BadSignature,
    /// The timestamp is outside the freshness window.
    #[error("timestamp outside the freshness window")]
    Stale,
    /// The nonce was already used within the window.
    #[error("nonce replayed")]
    Replayed,
    /// The nonce cache is full of live entries; the request cannot be
    /// accepted safely now.
    #[error("nonce cache full")]
    Busy,
    /// The signer already holds its quota of live nonces.
    #[error("too many live nonces for this signer")]
    RateLimited,
    /// A key was rejected (wrong length, not a valid key, wrong format).
    #[error("key rejected: {0}")]
    BadKey(&'static str),
    /// The system random source or the signer failed.
    #[error("signing failed")]
    Crypto,
}

impl EnvelopeError {
    /// The platform code the server answers this refusal with.
    pub fn code(&self) -> &'static PlatformCode {
        match self {
            EnvelopeError::Missing => &codes::AUTH_SIGNATURE_MISSING,
            EnvelopeError::Malformed(_) => &codes::AUTH_HEADER_MALFORMED,
            EnvelopeError::BadSignature => &codes::AUTH_SIGNATURE_INVALID,
            EnvelopeError::Stale => &codes::AUTH_TIMESTAMP_STALE,
            EnvelopeError::Replayed => &codes::AUTH_NONCE_REPLAYED,
            EnvelopeError::Busy => &codes::SERVER_BUSY,
            EnvelopeError::RateLimited => &codes::AUTH_RATE_LIMITED,
            EnvelopeError::BadKey(_) => &codes::AUTH_DEVICE_KEY_INVALID,
            EnvelopeError::Crypto => &codes::SERVER_INTERNAL,
        }
    }
}

pub type Result<T> = std::result::Result<T, EnvelopeError>;

/// The exact bytes that are signed: `appid\nserial_no\ntimestamp\nnonce_str\nbody\n`.
pub fn signed_message(
    appid: &str,
    serial_no: &str,
    timestamp: i64,
    nonce_str: &str,
    body: &[u8],
) -> Vec<u8> {
    let ts = timestamp.to_string();
    let mut m = Vec::with_capacity(
        appid.len() + serial_no.len() + ts.len() + nonce_str.len() + body.len() + 5,
    );
    for part in [
        appid.as_bytes(),
        serial_no.as_bytes(),
        ts.as_bytes(),
        nonce_str.as_bytes(),
        body,
    ] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// Lowercase hex of the first 16 bytes of SHA-256 of `key`: the device
/// `serial_no` of a public key point, and the platform key serial of a
/// PKCS#1 RSAPublicKey DER.
pub fn fingerprint(key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    hex::encode(&digest.as_ref()[..16])
}

/// Decodes a device public key from base64 and checks its shape (65 bytes,
/// uncompressed point tag 0x04).
pub fn decode_device_public_key(b64: &str) -> Result<Vec<u8>> {
    if b64.len() > 128 {
        return Err(EnvelopeError::BadKey("device public key too long"));
    }
    let bytes = B64
        .decode(b64)
        .map_err(|_| EnvelopeError::BadKey("device public key is not base64"))?;
    if bytes.len() != DEVICE_PUBLIC_KEY_LEN || bytes[0] != 0x04 {
        return Err(EnvelopeError::BadKey(
            "device public key is not an uncompressed P-256 point",
        ));
    }
    Ok(bytes)
}

/// Checks that `timestamp` is within ±[`FRESHNESS_WINDOW_SECS`] of `now`
/// (both unix seconds).
pub fn check_freshness(timestamp: i64, now: i64) -> Result<()> {
    if timestamp.abs_diff(now) > FRESHNESS_WINDOW_SECS as u64 {
        Err(EnvelopeError::Stale)
    } else {
        Ok(())
    }
}

const NONCE_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh nonce: 32 characters of `[A-Za-z0-9]` from `rng`, uniformly
/// (rejection sampling).
pub fn generate_nonce_with(rng: &dyn SecureRandom) -> Result<String> {
    let mut out = String::with_capacity(NONCE_LEN);
    let mut buf = [0u8; 64];
    while out.len() < NONCE_LEN {
        rng.fill(&mut buf).map_err(|_| EnvelopeError::Crypto)?;
        for &b in &buf {
            // 248 = 4 * 62: reject the tail to stay uniform.
            if b < 248 && out.len() < NONCE_LEN {
                out.push(NONCE_ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// A fresh nonce from the system's secure random source.
pub fn generate_nonce() -> Result<String> {
    generate_nonce_with(&SystemRandom::new())
}

/// Is `s` a well-formed nonce (32 × `[A-Za-z0-9]`)?
pub fn is_nonce(s: &str) -> bool {
    s.len() == NONCE_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Is `s` a well-formed device serial (32 lowercase hex digits)?
pub fn is_serial(s: &str) -> bool {
    s.len() == SERIAL_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Is `s` a well-formed appid (1..=64 of `[A-Za-z0-9_.-]`)?
pub fn is_appid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_APPID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Is `s` a well-formed idempotency key (16..=64 of `[A-Za-z0-9-_]`)?
pub fn is_idempotency_key(s: &str) -> bool {
    (IDEMPOTENCY_KEY_MIN..=IDEMPOTENCY_KEY_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn parse_timestamp(s: &str) -> Result<i64> {
    if s.is_empty() || s.len() > MAX_TIMESTAMP_LEN || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EnvelopeError::Malformed("timestamp"));
    }
    s.parse::<i64>()
        .map_err(|_| EnvelopeError::Malformed("timestamp"))
}

fn parse_signature(s: &str) -> Result<Vec<u8>> {
    if s.is_empty() || s.len() > MAX_SIGNATURE_B64_LEN {
        return Err(EnvelopeError::Malformed("signature"));
    }
    B64.decode(s)
        .map_err(|_| EnvelopeError::Malformed("signature"))
}

/// Checks the five signed fields of a request or a response as they
/// travel; answers the timestamp and the signature bytes.
fn check_fields(
    appid: &str,
    serial_no: &str,
    timestamp: &str,
    nonce_str: &str,
    signature: &str,
) -> Result<(i64, Vec<u8>)> {
    if !is_appid(appid) {
        return Err(EnvelopeError::Malformed("appid"));
    }
    if !is_serial(serial_no) {
        return Err(EnvelopeError::Malformed("serial_no"));
    }
    if !is_nonce(nonce_str) {
        return Err(EnvelopeError::Malformed("nonce_str"));
    }
    Ok((parse_timestamp(timestamp)?, parse_signature(signature)?))
}

/// The parsed Authorization header of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub appid: String,
    pub serial_no: String,
    /// Unix seconds.
    pub timestamp: i64,
    pub nonce_str: String,
    /// The raw signature bytes (ASN.1 DER ECDSA).
    pub signature: Vec<u8>,
}

impl Authorization {
    /// Strictly parses a header value: the scheme (ASCII case-insensitive),
    /// spaces, then exactly the five fields `appid`, `serial_no`,
    /// `timestamp`, `nonce_str`, `signature`, each once, in any order, as
    /// `name="value"` separated by commas (optional spaces or tabs around the
    /// commas), values without escapes.
    pub fn parse(header: &str) -> Result<Authorization> {
        if header.trim().is_empty() {
            return Err(EnvelopeError::Missing);
        }
        if header.len() > MAX_AUTHORIZATION_LEN {
            return Err(EnvelopeError::Malformed("header too long"));
        }
        let scheme_len = AUTH_SCHEME.len();
        let scheme = header
            .get(..scheme_len)
            .ok_or(EnvelopeError::Malformed("scheme"))?;
        if !scheme.eq_ignore_ascii_case(AUTH_SCHEME) {
            return Err(EnvelopeError::Malformed("scheme"));
        }
        let rest = &header[scheme_len..];
        let params = rest.trim_start_matches(' ');
        if params.len() == rest.len() {
            return Err(EnvelopeError::Malformed("scheme"));
        }

        let mut appid = None;
        let mut serial_no = None;
        let mut timestamp = None;
        let mut nonce_str = None;
        let mut signature = None;
        for part in params.split(',') {
            let part = part.trim_matches(|c| c == ' ' || c == '\t');
            let (name, quoted) = part
                .split_once('=')
                .ok_or(EnvelopeError::Malformed("field"))?;
            let value = quoted
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or(EnvelopeError::Malformed("quoting"))?;
            if value.contains(['"', '\\']) {
                return Err(EnvelopeError::Malformed("quoting"));
            }
            let slot = match name {
                "appid" => &mut appid,
                "serial_no" => &mut serial_no,
                "timestamp" => &mut timestamp,
                "nonce_str" => &mut nonce_str,
                "signature" => &mut signature,
                _ => return Err(EnvelopeError::Malformed("unknown field")),
            };
            if slot.replace(value).is_some() {
                return Err(EnvelopeError::Malformed("duplicate field"));
            }
        }
        let appid = appid.ok_or(EnvelopeError::Malformed("appid missing"))?;
        let serial_no = serial_no.ok_or(EnvelopeError::Malformed("serial_no missing"))?;
        let timestamp = timestamp.ok_or(EnvelopeError::Malformed("timestamp missing"))?;
        let nonce_str = nonce_str.ok_or(EnvelopeError::Malformed("nonce_str missing"))?;
        let signature = signature.ok_or(EnvelopeError::Malformed("signature missing"))?;
        let (timestamp, signature) =
            check_fields(appid, serial_no, timestamp, nonce_str, signature)?;
        Ok(Authorization {
            appid: appid.to_owned(),
            serial_no: serial_no.to_owned(),
            timestamp,
            nonce_str: nonce_str.to_owned(),
            signature,
        })
    }

    /// The header value, in the canonical field order.
    pub fn to_header_value(&self) -> String {
        format!(
            "{AUTH_SCHEME} appid=\"{}\",serial_no=\"{}\",timestamp=\"{}\",nonce_str=\"{}\",signature=\"{}\"",
            self.appid,
            self.serial_no,
            self.timestamp,
            self.nonce_str,
            B64.encode(&self.signature)
        )
    }

    /// The message this header's signature covers, for `body`.
    pub fn message(&self, body: &[u8]) -> Vec<u8> {
        signed_message(
            &self.appid,
            &self.serial_no,
            self.timestamp,
            &self.nonce_str,
            body,
        )
    }

    /// Verifies the signature over `body` with the device public key point.
    /// Also checks that the key's fingerprint is this header's serial_no.
    pub fn verify(&self, device_public_key: &[u8], body: &[u8]) -> Result<()> {
        if fingerprint(device_public_key) != self.serial_no {
            return Err(EnvelopeError::BadSignature);
        }
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, device_public_key)
            .verify(&self.message(body), &self.signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }
}

/// The device's signing key: ECDSA P-256, SHA-256, ASN.1 DER signatures.
/// Its PKCS#8 bytes are what the app keeps sealed by its SecretStore.
pub struct DeviceKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    serial_no: String,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// A new key; returns it with its PKCS#8 document (to be sealed and kept).
    pub fn generate() -> Result<(DeviceKey, Vec<u8>)> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| EnvelopeError::Crypto)?;
        let key = DeviceKey::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// Loads a key from its PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<DeviceKey> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
                .map_err(|_| EnvelopeError::BadKey("device key is not a P-256 PKCS#8 key"))?;
        let serial_no = fingerprint(pair.public_key().as_ref());
        Ok(DeviceKey {
            pair,
            rng,
            serial_no,
        })
    }

    /// The public key point (65 bytes, uncompressed).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key as it travels: base64 of the point.
    pub fn public_key_base64(&self) -> String {
        B64.encode(self.public_key())
    }

    /// The device serial_no: [`fingerprint`] of the public key.
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// Signs `message` (ASN.1 DER signature bytes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| EnvelopeError::Crypto)
    }

    /// Signs a request body with a given timestamp and nonce.
    pub fn authorize_with(
        &self,
        appid: &str,
        timestamp: i64,
        nonce_str: &str,
        body: &[u8],
    ) -> Result<Authorization> {
        let signature = self.sign(&signed_message(
            appid,
            &self.serial_no,
            timestamp,
            nonce_str,
            body,
        ))?;
        Ok(Authorization {
            appid: appid.to_owned(),
            serial_no: self.serial_no.clone(),
            timestamp,
            nonce_str: nonce_str.to_owned(),
            signature,
        })
    }

    /// Signs a request body at `timestamp` with a fresh nonce.
    pub fn authorize(&self, appid: &str, timestamp: i64, body: &[u8]) -> Result<Authorization> {
        let nonce = generate_nonce_with(&self.rng)?;
        self.authorize_with(appid, timestamp, &nonce, body)
    }
}

/// The platform's signing key (RSA, PKCS#8), used by the platform (and the
/// sandbox) to sign responses and push payloads.
pub struct PlatformSigner {
    pair: RsaKeyPair,
    rng: SystemRandom,
    public_key_der: Vec<u8>,
    serial_no: String,
}

impl std::fmt::Debug for PlatformSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSigner")
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

impl PlatformSigner {
    /// Loads the key from a PKCS#8 document (RSA, 2048 bits or more).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<PlatformSigner> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8)
            .map_err(|_| EnvelopeError::BadKey("platform key is not an RSA PKCS#8 key"))?;
        if pair.public().modulus_len() < 256 {
            return Err(EnvelopeError::BadKey(
                "platform key is shorter than 2048 bits",
            ));
        }
        let public_key_der = pair.public_key().as_ref().to_vec();
        let serial_no = fingerprint(&public_key_der);
        Ok(PlatformSigner {
            pair,
            rng: SystemRandom::new(),
            public_key_der,
            serial_no,
        })
    }

    /// The public key: PKCS#1 RSAPublicKey DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// The public key as clients configure it: base64 of the PKCS#1 DER.
    pub fn public_key_base64(&self) -> String {
        B64.encode(&self.public_key_der)
    }

    /// The platform key serial ([`fingerprint`] of the PKCS#1 DER).
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// Signs `message` with RSA PKCS#1 v1.5 SHA-256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| EnvelopeError::Crypto)?;
        Ok(sig)
    }

    /// Signs a response body: the five `Lklapi-*` header values.
    pub fn sign_response(
        &self,
        appid: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<ResponseSignature> {
        let nonce_str = generate_nonce_with(&self.rng)?;
        let signature = self.sign(&signed_message(
            appid,
            &self.serial_no,
            timestamp,
            &nonce_str,
            body,
        ))?;
        Ok(ResponseSignature {
            appid: appid.to_owned(),
            serial_no: self.serial_no.clone(),
            timestamp,
            nonce_str,
            signature,
        })
    }

    /// Signs an event for push (FCM/APNs outbox) and SSE `data`: `body` is
    /// the JSON text of the event.
    pub fn sign_push(&self, appid: &str, timestamp: i64, body: String) -> Result<SignedPush> {
        let nonce_str = generate_nonce_with(&self.rng)?;
        let signature = self.sign(&signed_message(
            appid,
            &self.serial_no,
            timestamp,
            &nonce_str,
            body.as_bytes(),
        ))?;
        Ok(SignedPush {
            appid: appid.to_owned(),
            serial_no: self.serial_no.clone(),
            timestamp: timestamp.to_string(),
            nonce_str,
            body,
            signature: B64.encode(signature),
        })
    }
}

/// The platform's public key as the client holds it (from its config).
#[derive(Clone, PartialEq, Eq)]
pub struct PlatformPublicKey {
    der: Vec<u8>,
    serial_no: String,
}

impl std::fmt::Debug for PlatformPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformPublicKey")
            .field("serial_no", &self.serial_no)
            .finish()
    }
}

impl PlatformPublicKey {
    /// From PKCS#1 RSAPublicKey DER bytes.
    pub fn from_der(der: &[u8]) -> Result<PlatformPublicKey> {
        // A DER SEQUENCE of a 2048..8192-bit modulus and an exponent.
        if der.len() < 140 || der.len() > 1100 || der[0] != 0x30 {
            return Err(EnvelopeError::BadKey(
                "platform key is not PKCS#1 RSAPublicKey DER",
            ));
        }
        Ok(PlatformPublicKey {
            der: der.to_vec(),
            serial_no: fingerprint(der),
        })
    }

    /// From base64 of the PKCS#1 DER (the config form).
    pub fn from_base64(b64: &str) -> Result<PlatformPublicKey> {
        if b64.len() > 1500 {
            return Err(EnvelopeError::BadKey("platform key too long"));
        }
        let der = B64
            .decode(b64.trim())
            .map_err(|_| EnvelopeError::BadKey("platform key is not base64"))?;
        PlatformPublicKey::from_der(&der)
    }

    /// The key serial the platform puts in `Lklapi-Serial`.
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// The PKCS#1 DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Verifies an RSA PKCS#1 v1.5 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.der)
            .verify(message, signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }
}

/// The platform's signature of one response, as the five `Lklapi-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSignature {
    pub appid: String,
    pub serial_no: String,
    /// Unix seconds.
    pub timestamp: i64,
    pub nonce_str: String,
    /// Raw RSA signature bytes.
    pub signature: Vec<u8>,
}

impl ResponseSignature {
    /// Strictly parses the five header values (`None` for an absent header).
    pub fn from_headers(
        appid: Option<&str>,
        serial_no: Option<&str>,
        timestamp: Option<&str>,
        nonce_str: Option<&str>,
        signature: Option<&str>,
    ) -> Result<ResponseSignature> {
        let (Some(appid), Some(serial_no), Some(timestamp), Some(nonce_str), Some(signature)) =
            (appid, serial_no, timestamp, nonce_str, signature)
        else {
            return Err(EnvelopeError::Missing);
        };
        let (timestamp, signature) =
            check_fields(appid, serial_no, timestamp, nonce_str, signature)?;
        Ok(ResponseSignature {
            appid: appid.to_owned(),
            serial_no: serial_no.to_owned(),
            timestamp,
            nonce_str: nonce_str.to_owned(),
            signature,
        })
    }

    /// The header (name, value) pairs to set on a response.
    pub fn to_headers(&self) -> [(&'static str, String); 5] {
        [
            (HEADER_APPID, self.appid.clone()),
            (HEADER_SERIAL, self.serial_no.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce_str.clone()),
            (HEADER_SIGNATURE, B64.encode(&self.signature)),
        ]
    }

    /// Verifies the signature over the exact response `body` bytes with the
    /// platform key; also checks the key serial matches. Freshness and nonce
    /// replay are the caller's next checks ([`check_freshness`],
    /// [`NonceCache`](crate::nonce::NonceCache)).
    pub fn verify(&self, key: &PlatformPublicKey, body: &[u8]) -> Result<()> {
        if self.serial_no != key.serial_no() {
            return Err(EnvelopeError::BadSignature);
        }
        key.verify(
            &signed_message(
                &self.appid,
                &self.serial_no,
                self.timestamp,
                &self.nonce_str,
                body,
            ),
            &self.signature,
        )
    }
}

/// A signed push payload (FCM/APNs data and SSE `data:`): `body` is the JSON
/// text of the event, the other fields sign it like a response. `timestamp`
/// is unix seconds as a decimal string, exactly as signed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedPush {
    pub appid: String,
    pub serial_no: String,
    pub timestamp: String,
    pub nonce_str: String,
    pub body: String,
    pub signature: String,
}

/// The longest push payload JSON accepted by [`SignedPush::parse`].
pub const MAX_PUSH_LEN: usize = 64 * 1024;

impl SignedPush {
    /// Parses a payload's JSON text, bounded in size.
    pub fn parse(json: &str) -> Result<SignedPush> {
        if json.len() > MAX_PUSH_LEN {
            return Err(EnvelopeError::Malformed("push payload too large"));
        }
        serde_json::from_str(json).map_err(|_| EnvelopeError::Malformed("push payload"))
    }

    /// The payload as JSON text.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Verifies the signature with the platform key and returns the
    /// timestamp (unix seconds) for the caller's freshness check when it
    /// wants one (a stored push may legitimately be older than the window).
    pub fn verify(&self, key: &PlatformPublicKey) -> Result<i64> {
        let sig = ResponseSignature::from_headers(
            Some(&self.appid),
            Some(&self.serial_no),
            Some(&self.timestamp),
            Some(&self.nonce_str),
            Some(&self.signature),
        )?;
        sig.verify(key, self.body.as_bytes())?;
        Ok(sig.timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPID: &str = "OP00000001";

    fn platform_key() -> PlatformSigner {
        PlatformSigner::from_pkcs8(crate::SANDBOX_PLATFORM_KEY_PKCS8).expect("sandbox key loads")
    }

    #[test]
    fn message_is_five_lines() {
        assert_eq!(
            signed_message("a", "s", 17, "n", b"{}"),
            b"a\ns\n17\nn\n{}\n".to_vec()
        );
        assert_eq!(
            signed_message("a", "s", 17, "n", b""),
            b"a\ns\n17\nn\n\n".to_vec()
        );
    }

    #[test]
    fn serial_is_fingerprint_of_the_point() {
        let (key, pkcs8) = DeviceKey::generate().unwrap();
        assert_eq!(key.public_key().len(), 65);
        assert_eq!(key.public_key()[0], 4);
        assert!(is_serial(key.serial_no()));
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key());
        assert_eq!(key.serial_no(), hex::encode(&digest.as_ref()[..16]));
        let again = DeviceKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(again.serial_no(), key.serial_no());
        assert_eq!(
            decode_device_public_key(&key.public_key_base64()).unwrap(),
            key.public_key()
        );
    }

    #[test]
    fn request_round_trip_and_tamper() {
        let (key, _) = DeviceKey::generate().unwrap();
        let body = br#"{"phone":"13800000000"}"#;
        let auth = key.authorize(APPID, 1_700_000_000, body).unwrap();
        let header = auth.to_header_value();
        let parsed = Authorization::parse(&header).unwrap();
        assert_eq!(parsed, auth);
        parsed.verify(key.public_key(), body).unwrap();
        // Another body, another key, another field: all refused.
        assert_eq!(
            parsed.verify(key.public_key(), b"{}"),
            Err(EnvelopeError::BadSignature)
        );
        let (other, _) = DeviceKey::generate().unwrap();
        assert_eq!(
            parsed.verify(other.public_key(), body),
            Err(EnvelopeError::BadSignature)
        );
        let mut shifted = parsed.clone();
        shifted.timestamp += 1;
        assert_eq!(
            shifted.verify(key.public_key(), body),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn parse_accepts_any_order_and_spaces_after_commas() {
        let (key, _) = DeviceKey::generate().unwrap();
        let auth = key.authorize(APPID, 1_700_000_000, b"").unwrap();
        let sig = B64.encode(&auth.signature);
        let header = format!(
            "lklapi-sha256withecdsa   signature=\"{sig}\", nonce_str=\"{}\",\ttimestamp=\"1700000000\" , serial_no=\"{}\",appid=\"{APPID}\"",
            auth.nonce_str, auth.serial_no
        );
        assert_eq!(Authorization::parse(&header).unwrap(), auth);
    }

    fn good_fields() -> Vec<(&'static str, String)> {
        vec![
            ("appid", APPID.to_owned()),
            ("serial_no", "0123456789abcdef0123456789abcdef".to_owned()),
            ("timestamp", "1700000000".to_owned()),
            ("nonce_str", "A".repeat(32)),
            ("signature", B64.encode([1u8; 70])),
        ]
    }

    fn header_of(fields: &[(&str, String)]) -> String {
        let params: Vec<String> = fields.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{AUTH_SCHEME} {}", params.join(","))
    }

    #[test]
    fn parse_refuses_hostile_headers() {
        assert!(Authorization::parse(&header_of(&good_fields())).is_ok());
        let malformed = |h: &str| {
            matches!(
                Authorization::parse(h),
                Err(EnvelopeError::Malformed(_)) | Err(EnvelopeError::Missing)
            )
        };
        assert_eq!(Authorization::parse(""), Err(EnvelopeError::Missing));
        assert_eq!(Authorization::parse("   "), Err(EnvelopeError::Missing));
        let mut cases: Vec<String> = vec![
            "Bearer abc".into(),
            AUTH_SCHEME.into(),
            format!("{AUTH_SCHEME}"),
            format!("{AUTH_SCHEME} "),
            format!("{AUTH_SCHEME}appid=\"x\""),
            format!("{AUTH_SCHEME} ,,,,"),
            format!("{AUTH_SCHEME} {}", "a".repeat(5000)),
            "LKLAPI-SHA256withECDS\u{00e9} x".into(),
            "é".repeat(40),
            format!("{}\u{0}", header_of(&good_fields())),
        ];
        // Each field missing, duplicated, unquoted, or with a bad value.
        for i in 0..5 {
            let mut f = good_fields();
            f.remove(i);
            cases.push(header_of(&f));
            let mut f = good_fields();
            f.push(f[i].clone());
            cases.push(header_of(&f));
            let f = good_fields();
            let params: Vec<String> = f
                .iter()
                .enumerate()
                .map(|(j, (k, v))| {
                    if i == j {
                        format!("{k}={v}")
                    } else {
                        format!("{k}=\"{v}\"")
                    }
                })
                .collect();
            cases.push(format!("{AUTH_SCHEME} {}", params.join(",")));
        }
        let bad_values: &[(usize, &str)] = &[
            (0, ""),
            (0, "has space"),
            (0, &"a".repeat(65)),
            (0, "中文"),
            (1, "0123456789ABCDEF0123456789ABCDEF"),
            (1, "0123456789abcdef"),
            (1, "0123456789abcdef0123456789abcdeg"),
            (2, ""),
            (2, "-1700000000"),
            (2, "+1700000000"),
            (2, "1700000000.5"),
            (2, "9999999999999"),
            (2, "17e8"),
            (3, &"A".repeat(31)),
            (3, &"A".repeat(33)),
            (3, &format!("{}-", "A".repeat(31))),
            (4, ""),
            (4, "not base64!"),
            (4, &"A".repeat(800)),
            (4, "a\\\"b"),
        ];
        for (i, v) in bad_values {
            let mut f = good_fields();
            f[*i].1 = (*v).to_owned();
            cases.push(header_of(&f));
        }
        let mut f = good_fields();
        f.push(("extra", "1".into()));
        cases.push(header_of(&f));
        cases.push(header_of(&good_fields()).replace("appid=", "appid ="));
        cases.push(header_of(&good_fields()).replace(",", ",,"));
        cases.push(header_of(&good_fields()).replace("\"1700000000\"", "\"1700000000\"x"));
        cases.push(header_of(&good_fields()).replace("\"1700000000\"", "\"17000\"00000\""));
        for case in &cases {
            assert!(malformed(case), "accepted hostile header {case:?}");
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: slices, byte flips and truncations of a
        // good header, including at non-character boundaries.
        let good = header_of(&good_fields());
        let bytes = good.as_bytes();
        for cut in 0..bytes.len() {
            let _ = Authorization::parse(&String::from_utf8_lossy(&bytes[..cut]));
            let _ = Authorization::parse(&String::from_utf8_lossy(&bytes[cut..]));
            for flip in [0x01u8, 0x20, 0x80, 0xff] {
                let mut b = bytes.to_vec();
                b[cut] ^= flip;
                let _ = Authorization::parse(&String::from_utf8_lossy(&b));
            }
        }
    }

    #[test]
    fn freshness_window_both_ways() {
        let now = 1_700_000_000;
        assert!(check_freshness(now, now).is_ok());
        assert!(check_freshness(now - 300, now).is_ok());
        assert!(check_freshness(now + 300, now).is_ok());
        assert_eq!(check_freshness(now - 301, now), Err(EnvelopeError::Stale));
        assert_eq!(check_freshness(now + 301, now), Err(EnvelopeError::Stale));
        assert_eq!(
            check_freshness(i64::MIN, i64::MAX),
            Err(EnvelopeError::Stale)
        );
    }

    #[test]
    fn nonces_are_well_formed_and_distinct() {
        let a = generate_nonce().unwrap();
        let b = generate_nonce().unwrap();
        assert!(is_nonce(&a) && is_nonce(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn response_signature_round_trip_and_tamper() {
        let signer = platform_key();
        let key = PlatformPublicKey::from_base64(&signer.public_key_base64()).unwrap();
        assert_eq!(key.serial_no(), signer.serial_no());
        let body = br#"{"code":"route.not_found"}"#;
        let sig = signer.sign_response(APPID, 1_700_000_000, body).unwrap();
        let headers = sig.to_headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        let parsed = ResponseSignature::from_headers(
            get(HEADER_APPID),
            get(HEADER_SERIAL),
            get(HEADER_TIMESTAMP),
            get(HEADER_NONCE),
            get(HEADER_SIGNATURE),
        )
        .unwrap();
        assert_eq!(parsed, sig);
        parsed.verify(&key, body).unwrap();
        assert_eq!(parsed.verify(&key, b"{}"), Err(EnvelopeError::BadSignature));
        let mut other_appid = parsed.clone();
        other_appid.appid = "OP00000002".into();
        assert_eq!(
            other_appid.verify(&key, body),
            Err(EnvelopeError::BadSignature)
        );
        assert_eq!(
            ResponseSignature::from_headers(None, get(HEADER_SERIAL), None, None, None),
            Err(EnvelopeError::Missing)
        );
    }

    #[test]
    fn push_payload_round_trip_and_tamper() {
        let signer = platform_key();
        let key = PlatformPublicKey::from_der(signer.public_key_der()).unwrap();
        let push = signer
            .sign_push(APPID, 1_700_000_000, r#"{"type":"trade.created"}"#.into())
            .unwrap();
        let parsed = SignedPush::parse(&push.to_json()).unwrap();
        assert_eq!(parsed.verify(&key), Ok(1_700_000_000));
        let mut tampered = parsed.clone();
        tampered.body = r#"{"type":"trade.refunded"}"#.into();
        assert_eq!(tampered.verify(&key), Err(EnvelopeError::BadSignature));
        assert!(SignedPush::parse("{").is_err());
        assert!(SignedPush::parse(&" ".repeat(MAX_PUSH_LEN + 1)).is_err());
    }

    #[test]
    fn bad_keys_are_refused_not_panicked() {
        assert!(DeviceKey::from_pkcs8(b"junk").is_err());
        assert!(PlatformSigner::from_pkcs8(b"junk").is_err());
        assert!(PlatformPublicKey::from_base64("not base64").is_err());
        assert!(PlatformPublicKey::from_der(&[0x30; 10]).is_err());
        assert!(decode_device_public_key("").is_err());
        assert!(decode_device_public_key(&B64.encode([4u8; 64])).is_err());
        assert!(decode_device_public_key(&B64.encode([3u8; 65])).is_err());
        // A well-shaped but bogus point: decodes, then never verifies.
        let mut bogus = vec![4u8];
        bogus.extend([7u8; 64]);
        let auth = Authorization::parse(&header_of(&good_fields())).unwrap();
        assert_eq!(auth.verify(&bogus, b""), Err(EnvelopeError::BadSignature));
    }

    #[test]
    fn idempotency_key_shape() {
        assert!(is_idempotency_key("0b7c1f0e-5a2d-4c43-9e37-3a4f6b1d2c3e"));
        assert!(!is_idempotency_key("short"));
        assert!(!is_idempotency_key(&"a".repeat(65)));
        assert!(!is_idempotency_key("0b7c1f0e 5a2d 4c43 9e37"));
    }
}
