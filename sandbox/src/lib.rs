//! The platform simulator: an HTTP(S) server on loopback that serves
//! docs/platform-api.md, with its own SQLite, deterministic under a seed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), merchant_sandbox::StartError> {
//! use merchant_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig { tls: true, ..Default::default() }).await?;
//! println!("{} pin {:?} key {}", sandbox.base_url, sandbox.pin, sandbox.platform_public_key);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: [`config`], [`clock`], [`error`], `state` ([`AppState`]), `schema`,
//! `guard` (envelope, session, idempotency, extractors), `respond` (request
//! ids, error JSON, response signing), `auth`, `devices`, `events` (SSE),
//! `speaker` (which device speaks the voice broadcast), `control`
//! (`/sandbox/*`), `server` (start/stop), [`domain`] (onboarding,
//! terminals, trades ... plugged in through `domain::routes`).

pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod guard;
pub mod schema;

mod auth;
mod control;
mod devices;
mod events;
mod respond;
mod server;
mod speaker;
mod state;

pub use config::{DEFAULT_APP_ID, SANDBOX_PLATFORM_KEY_PKCS8, SandboxConfig, SmsRules};
pub use error::ApiError;
pub use respond::RequestId;
pub use server::{RunningSandbox, Sandbox, StartError};
pub use state::AppState;
