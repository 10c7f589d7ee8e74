//! The app-facing library: re-exports merchant-core so its UniFFI scaffolding
//! lands in this cdylib / staticlib.
pub use merchant_core::*;
