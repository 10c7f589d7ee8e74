//! The platform contract, shared by the core's client and the sandbox.
//!
//! docs/platform-api.md is the human text of this contract; this crate is its
//! machine form. Nothing here does I/O.
//!
//! - [`envelope`]: the LKLAPI signing envelope (request Authorization header,
//!   response `Lklapi-*` headers, signed push payloads), device and platform
//!   keys, nonces, freshness.
//! - [`nonce`]: the bounded, window-expiring nonce cache.
//! - [`codes`]: the platform's stable error codes with HTTP status and messages.
//! - [`wire`]: the records of errors, paging, auth, devices, push tokens, events.
//! - [`routes`]: every route with its access rule, idempotency and body limit.
//! - [`domain`]: the records and codes of onboarding, card BIN, terminals,
//!   trades, refunds and settlements.
//! - [`statement`]: the day's statement file (对账单): its lines, writer and
//!   streaming reader.
//! - [`agreement`]: the merchant agreement's canonical text, signing
//!   envelope and record, and the offline check of a signed record.

pub mod agreement;
pub mod codes;
pub mod domain;
pub mod envelope;
pub mod nonce;
pub mod routes;
pub mod statement;
pub mod wire;

pub use codes::PlatformCode;
pub use envelope::{
    Authorization, DeviceKey, EnvelopeError, PlatformPublicKey, PlatformSigner, ResponseSignature,
    SignedPush,
};
pub use nonce::NonceCache;

/// The sandbox's platform key (RSA-2048 PKCS#8), for the contract's own tests.
/// PUBLIC SANDBOX KEY: never for production (see sandbox/keys/README.md).
#[cfg(test)]
pub(crate) const SANDBOX_PLATFORM_KEY_PKCS8: &[u8] =
    include_bytes!("../../sandbox/keys/platform-sandbox.pk8");
