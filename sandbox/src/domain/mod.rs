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
//!
//! **The domain's own layout.** Pure rules, no I/O: [`inventory`] (seeded
//! terminals and their back QR), [`generator`] (the seeded trade mix),
//! [`review`] (form checks and the simulated review), [`documents`] (photo
//! checks), [`agreement`] (the text to sign), [`lookups`] (regions, MCCs,
//! bank branches), [`ledger`] (refund and
//! settlement arithmetic in fen), [`paging`] (keyset cursors). Tables and
//! handlers: [`schema`], [`merchant`] (activation, profile, rates),
//! [`onboarding`], [`bins`], [`terminals`], [`trades`] (trade records of
//! every kind, the life of pending ones, the change feed, refunds and
//! voids), [`settlements`] (and the statement file), [`seeding`] (bulk
//! seeding), [`controls`] (the domain's `/sandbox/*` controls, the steady
//! trade stream and refunds on demand).

use axum::Router;
use axum::routing::{get, post, put};
use merchant_contract::domain::routes as r;
use rusqlite::Connection;

use crate::error::ApiError;
use crate::state::AppState;

pub mod agreement;
pub mod back_photo;
pub mod bins;
pub mod controls;
pub mod documents;
pub mod generator;
pub mod inventory;
pub mod ledger;
pub mod lookups;
pub mod merchant;
pub mod onboarding;
pub mod paging;
pub mod review;
pub mod schema;
pub mod seeding;
pub mod settlements;
pub mod terminals;
pub mod trades;

/// The domain's routes (merged before the guard is applied). Each is listed
/// in `merchant_contract::domain::routes` (and so in the contract's table).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(r::MERCHANT.path, get(merchant::get_profile))
        .route(r::CREATE_APPLICATION.path, post(onboarding::create))
        .route(r::CURRENT_APPLICATION.path, get(onboarding::current))
        .route(
            r::GET_APPLICATION.path,
            get(onboarding::get_one).put(onboarding::update),
        )
        .route(r::UPLOAD_DOCUMENT.path, put(onboarding::upload_document))
        .route(
            r::CURRENT_AGREEMENT.path,
            get(onboarding::current_agreement),
        )
        .route(
            r::SIGN_AGREEMENT.path,
            post(onboarding::sign_agreement).get(onboarding::get_agreement_record),
        )
        .route(r::SUBMIT_APPLICATION.path, post(onboarding::submit))
        .route(
            r::SEND_ACTIVATION_CODE.path,
            post(onboarding::send_activation_code),
        )
        .route(
            r::RECOVER_ACTIVATION_CODE.path,
            post(onboarding::recover_activation_code),
        )
        .route(r::ACTIVATE.path, post(onboarding::activate))
        .route(r::REGIONS.path, get(lookups::regions))
        .route(r::MCC.path, get(lookups::mcc))
        .route(r::BANK_BRANCHES.path, get(lookups::bank_branches))
        .route(r::CARD_BIN.path, get(bins::lookup))
        .route(
            r::TERMINALS.path,
            post(terminals::bind).get(terminals::list),
        )
        .route(
            r::UNBIND_TERMINAL.path,
            axum::routing::delete(terminals::unbind).put(terminals::update),
        )
        .route(r::TERMINAL_MODELS.path, get(terminals::models))
        .route(r::TRADES.path, get(trades::list))
        .route(r::TRADE_CHANGES.path, get(trades::changes))
        .route(r::TRADE.path, get(trades::get_one))
        .route(r::VOID.path, post(trades::void))
        .route(r::REFUND.path, post(trades::refund))
        .route(r::REFUNDS.path, get(trades::list_refunds))
        .route(r::SETTLEMENTS.path, get(settlements::list))
        .route(r::SETTLEMENT.path, get(settlements::get_one))
        .route(r::STATEMENT.path, get(settlements::statement_file))
        .route(r::SANDBOX_TERMINALS.path, get(controls::inventory))
        .route(
            r::SANDBOX_TERMINAL_BACK_PHOTO.path,
            get(back_photo::back_photo),
        )
        .route(
            r::SANDBOX_FREEZE_TERMINAL.path,
            post(controls::freeze_terminal),
        )
        .route(
            r::SANDBOX_TRANSFER_TERMINAL.path,
            post(controls::transfer_terminal),
        )
        .route(
            r::SANDBOX_ACTIVATE_MERCHANT.path,
            post(controls::activate_merchant),
        )
        .route(r::SANDBOX_TRADES.path, post(controls::inject_trades))
        .route(r::SANDBOX_TRADE_STREAM.path, post(controls::start_stream))
        .route(r::SANDBOX_SEED_TRADES.path, post(seeding::seed_trades))
        .route(
            r::SANDBOX_TRADE_STREAM_STOP.path,
            post(controls::stop_stream),
        )
        .route(r::SANDBOX_REFUNDS.path, post(controls::refund_trade))
        .route(r::SANDBOX_SETTLEMENTS.path, post(controls::run_settlement))
}

/// Creates the domain's tables on the fresh database.
pub fn migrate(conn: &Connection) -> Result<(), ApiError> {
    conn.execute_batch(schema::SCHEMA)?;
    Ok(())
}

/// Seeds the domain's data from `state.seed()`: the terminal inventory, and
/// the seeded merchants' state (see [`schema::seed`]).
pub fn seed(state: &AppState) -> Result<(), ApiError> {
    schema::seed(state)?;
    // The review decides on the business clock without waiting for a read.
    onboarding::spawn_reviewer(state);
    // Pending trades resolve on the business clock without waiting for a read.
    trades::spawn_life(state);
    Ok(())
}
