//! The domain simulations: onboarding, card BIN, terminals, trades, refunds,
//! settlements. The infrastructure (sandbox/src/*.rs) gives them:
//!
//! **Routes.** [`routes`] returns the domain's `Router<AppState>`; it is
//! merged into the sandbox's router *before* the guard is layered on, so
//! every domain route gets the envelope check, the session check, the body
//! limit and idempotency for free. Each route MUST also be listed in
//! `merchant_contract::routes::DOMAIN` (contract/src/routes.rs) with its
//! access rule (`Session` for merchant endpoints, `Open` for `/sandbox/*`),
//! `.idempotent()` for writes, and `.body_limit(UPLOAD_BODY_LIMIT)` for
//! document uploads: the guard answers 500 for a route it cannot find there,
//! and the doc test compares that list with docs/platform-api.md.
//!
//! **Who is asking.** Extractors in `crate::guard`:
//! - [`Merchant`](crate::guard::Merchant)`(merchant_id)`: the authenticated
//!   merchant of a `Session` route. Scope EVERY query by it; another
//!   merchant's thing is `ApiError::not_found()` (404 `resource.not_found`,
//!   the same as a thing that does not exist).
//! - [`Auth`](crate::guard::Auth): merchant id, device serial and session id.
//! - [`JsonBody<T>`](crate::guard::JsonBody): the JSON body (415 without
//!   `application/json`, 400 `request.malformed` for bad JSON, 400
//!   `request.field_invalid` with `fields` for a missing/unknown/mistyped field).
//! - [`QueryParams<T>`](crate::guard::QueryParams): the query string, refused
//!   with `request.field_invalid`.
//!
//! **Errors.** Return `Result<_, ApiError>` (`crate::error::ApiError`):
//! `ApiError::new(&CODE)`, `.field("form.id_number", "id_card.checksum")`,
//! `ApiError::fields(vec![...])`, `ApiError::not_found()`. Declare the domain's
//! codes as `merchant_contract::PlatformCode::new(code, status, zh, en)`
//! constants (the doc lists them). The JSON body and the response signature
//! are added for you.
//!
//! **Tables.** [`migrate`] runs once on the fresh database after the
//! infrastructure's tables (`merchants(merchant_id, phone, status, ...)` and
//! others: see `crate::schema`). [`seed`] runs after the seeded merchants exist
//! (`crate::schema::SEEDED_PHONES`).
//!
//! **State.** [`AppState`]:
//! - `state.db(|conn| ...)`: the one SQLite connection (behind a mutex: keep
//!   the closure short; never call `db`/`emit`/`send_sms` inside it — use the
//!   `*_with(conn, ...)` forms);
//! - `state.emit(merchant_id, event_type, data_json)` /
//!   `state.emit_with(conn, ...)`: an event to the merchant's SSE stream and
//!   push outbox (types in `merchant_contract::wire::event_types`);
//! - `state.now_unix()`, `state.now_rfc3339()`, `state.clock()`: the business
//!   clock (moved forward by `POST /sandbox/clock`); never read the system
//!   time for business data;
//! - `state.rng(|rng| ...)`: the seeded ChaCha20 source; `state.seed()`;
//! - `state.send_sms_with(conn, phone, "activation", code, text, ttl)`,
//!   `state.merchant_phone(conn, id)`, `state.set_merchant_status(conn, id,
//!   "active")`, `state.merchant_exists(conn, id)`.

use axum::Router;
use rusqlite::Connection;

use crate::error::ApiError;
use crate::state::AppState;

/// The domain's routes (merged before the guard is applied).
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Creates the domain's tables on the fresh database.
pub fn migrate(_conn: &Connection) -> Result<(), ApiError> {
    Ok(())
}

/// Seeds the domain's data (terminal inventory, ...) from `state.seed()`.
pub fn seed(_state: &AppState) -> Result<(), ApiError> {
    Ok(())
}
