//! The platform contract, shared by the core's client and the sandbox.
//!
//! docs/platform-api.md is the human text of this contract; this crate is its
//! machine form. Nothing here does I/O.
