//! trades: the merchant's trades kept on the phone from the platform's
//! change feed; history pages and summaries offline at a million rows;
//! settlement reconciliation against the statement file; exports; voids and
//! refunds.
//!
//! - [`api`]: the platform calls and the wire-to-app mapping.
//! - [`model`]: the records the app sees.
//! - [`store`]: the tables (one migration) and the row reader.
//! - [`refund`]: refunds and voids, checked on the phone, sent once.
//! - [`settlement`]: a day's settlement, its statement, reconciliation.
//! - [`feed`]: the change feed's pages checked whole before anything is kept.
//! - [`sync`]: the feed pulled page by page, one sync at a time;
//!   [`apply`]: the one function applying a trade event.
//! - [`query`]: history pages (keyset, filters, one driving index each);
//!   [`summary`]: summaries from the hourly sums; [`export`]: CSV and XLSX.
//! - [`hook`]: the seam through which core.rs sees every applied record.

pub mod api;
pub mod apply;
pub mod export;
pub mod feed;
pub mod hook;
pub mod model;
pub mod query;
pub mod refund;
pub mod settlement;
pub mod store;
pub mod summary;
pub mod sync;
#[cfg(test)]
pub mod testing;

use crate::error::Code;

pub use model::{Trade, TradeKind, TradeStatus};

/// Every code of the trades capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    std::iter::empty()
        .chain(feed::CODES)
        .chain(sync::CODES)
        .chain(refund::CODES)
        .chain(settlement::CODES)
        .chain(query::CODES)
        .chain(summary::CODES)
        .chain(export::CODES)
}

// ---------------------------------------------------------------------------
// Refunds, voids, settlements and reconciliation
// ---------------------------------------------------------------------------

pub use refund::{PendingRefund, RefundKind, RefundOutcome, RefundState, VoidOutcome};
pub use settlement::{Reconciliation, ReconciliationItem, ReconciliationStatus, Settlement};

/// The exported calls of refunds, voids, settlements and reconciliation
/// (their own module, so their imports stay apart).
mod refunds_ffi {
    use super::refund::{self, PendingRefund, RefundOutcome, VoidOutcome};
    use super::settlement::{self, Reconciliation, Settlement};
    use crate::MerchantCore;
    use crate::error::MerchantError;
    use crate::money::Amount;

    #[uniffi::export]
    impl MerchantCore {
        /// Refunds `amount` of sale `trade_id` (退货), whole or in part, with an
        /// optional `reason` (at most 64 characters). Checked on the phone
        /// first, before any call: the trade must be on the phone
        /// (`refund.unknown_trade`), a paid sale (`refund.not_refundable`),
        /// `amount` above zero (`refund.zero`) and within what is left after
        /// refunds made and in flight (`refund.above_refundable`). Sent once: a
        /// double tap joins the first call, and a call whose answer was lost is
        /// sent again with the same idempotency key (here, or by
        /// `resume_pending_refunds` after a restart). The platform's own
        /// refusals come back as `Platform` errors (`refund.*`). Gives the
        /// sale, updated, and the refund's own record, both kept on the phone.
        pub async fn refund_trade(
            &self,
            trade_id: String,
            amount: Amount,
            reason: Option<String>,
        ) -> Result<RefundOutcome, MerchantError> {
            let state = self.session_state();
            self.run(async move { refund::refund(state, trade_id, amount, reason).await })
                .await
        }

        /// Voids card sale `trade_id` whole (撤销): a card sale of today's
        /// business day (China time), paid, nothing refunded (`void.card_only`,
        /// `void.not_today`, `void.not_allowed`, checked before any call; the
        /// platform's `void.*` as `Platform` errors). Sent once, as refunds are.
        pub async fn void_trade(
            &self,
            trade_id: String,
            reason: Option<String>,
        ) -> Result<VoidOutcome, MerchantError> {
            let state = self.session_state();
            self.run(async move { refund::void(state, trade_id, reason).await })
                .await
        }

        /// The refunds and voids asked for from this phone: those still sending
        /// first, then the newest (at most 500). Offline.
        pub async fn pending_refunds(&self) -> Result<Vec<PendingRefund>, MerchantError> {
            let state = self.session_state();
            self.run(async move {
                let store = state.merchant_store().await?;
                store.db().read(refund::list)
            })
            .await
        }

        /// Sends again every refund or void still sending (its answer was lost
        /// or the app stopped), each with its first idempotency key, so nothing
        /// is refunded twice. Call it after sign-in or when the network is back.
        pub async fn resume_pending_refunds(&self) -> Result<Vec<PendingRefund>, MerchantError> {
            let state = self.session_state();
            self.run(async move { refund::resume(state).await }).await
        }

        /// The platform's settlement of business day `date` (`YYYY-MM-DD`,
        /// China time), fetched and kept.
        pub async fn settlement(&self, date: String) -> Result<Settlement, MerchantError> {
            let state = self.session_state();
            self.run(async move { settlement::fetch(state, date).await })
                .await
        }

        /// Reconciles business day `date`: fetches its settlement and statement
        /// file, compares them with the trades on the phone, keeps the result
        /// (replacing an earlier one) and records a protection finding on a
        /// discrepancy (`settlement.shortfall`, `settlement.mismatch`). A
        /// malformed statement is refused whole (`statement.malformed`).
        pub async fn reconcile_day(&self, date: String) -> Result<Reconciliation, MerchantError> {
            let state = self.session_state();
            self.run(async move { settlement::reconcile(state, date).await })
                .await
        }

        /// The kept reconciliation of `date`, if the day was reconciled. Offline.
        pub async fn reconciliation(
            &self,
            date: String,
        ) -> Result<Option<Reconciliation>, MerchantError> {
            let state = self.session_state();
            self.run(async move { settlement::read(state, date).await })
                .await
        }
    }
}

// ---------------------------------------------------------------------------
// Sync
// ---------------------------------------------------------------------------

pub use sync::{TradeSyncListener, TradeSyncProgress, TradeSyncReport, TradeSyncState};

#[cfg(test)]
mod sync_tests;

/// The sync's exports (a module of their own, so that this file's sections
/// never clash over a `use`).
mod sync_exports {
    use std::sync::Arc;

    use super::sync::{self, TradeSyncListener, TradeSyncReport, TradeSyncState};
    use crate::{MerchantCore, MerchantError};

    #[uniffi::export]
    impl MerchantCore {
        /// Pulls the platform's change feed onto the phone from where the last
        /// sync stopped, page by page (each page and its cursor in one
        /// transaction), until nothing more is waiting. `listener` hears each
        /// committed page. One sync runs at a time: a second call while one runs
        /// joins it and returns its report (`joined`), its listener hearing the
        /// pages that follow. A page the checks refuse (`trades.page_*`,
        /// `trades.record_*`) or a network failure ends the sync with that error;
        /// the pages committed before it stay.
        pub async fn sync_trades(
            &self,
            listener: Option<Arc<dyn TradeSyncListener>>,
        ) -> Result<TradeSyncReport, MerchantError> {
            let state = self.session_state();
            // The composition root's detectors run on every page (hook.rs).
            let hook = self.trade_hook();
            self.run(sync::from_platform(
                state,
                listener,
                sync::Budget::Full,
                hook,
            ))
            .await
        }

        /// The push wake-up's quick catch-up: the same sync, stopping after a
        /// few pages or about two seconds (`has_more` then says a full
        /// `sync_trades` is worth running).
        pub async fn catch_up_trades(&self) -> Result<TradeSyncReport, MerchantError> {
            let state = self.session_state();
            let hook = self.trade_hook();
            self.run(sync::from_platform(
                state,
                None,
                sync::Budget::CATCH_UP,
                hook,
            ))
            .await
        }

        /// Where the phone's copy of the feed stands: the cursor, when the last
        /// page was committed, and how many trade records the phone keeps.
        pub async fn trade_sync_state(&self) -> Result<TradeSyncState, MerchantError> {
            let state = self.session_state();
            self.run(async move { sync::state(state.merchant_store().await?).await })
                .await
        }
    }
}

/// Rust-only calls for tools (the bench fetches the platform's pages with it).
impl crate::MerchantCore {
    /// One page of the platform's change feed through this core's signed-in
    /// session, as the platform gave it (checked by the transport's
    /// signature verification, not yet by the feed's rules), without
    /// touching the phone's copy.
    pub async fn fetch_trade_changes(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<merchant_contract::domain::TradeChanges, crate::MerchantError> {
        let state = self.session_state();
        self.run(async move { api::changes(&state, after, limit).await })
            .await
    }
}

// --- History: pages, summaries and exports (query.rs, summary.rs, export.rs).

mod history_exports {
    use std::sync::Arc;

    use super::{Trade, export, query, summary};
    use crate::MerchantCore;
    use crate::error::{Error, MerchantError};

    /// The China-time (+08:00) day `YYYY-MM-DD` as a time range for
    /// `TradeFilter::from_ms`/`to_ms` (`trades.date_invalid` for anything else).
    #[uniffi::export]
    pub fn china_day_range(date: String) -> Result<query::TimeRange, MerchantError> {
        Ok(query::china_day_range(&date)?)
    }

    #[uniffi::export]
    impl MerchantCore {
        /// One page of the trades on the phone, newest first, filtered (see
        /// `TradeFilter`); `cursor` is the previous page's `next_cursor` (none
        /// for the first page); `limit` 1 to 200. Works offline.
        pub async fn trade_page(
            &self,
            filter: query::TradeFilter,
            cursor: Option<String>,
            limit: u32,
        ) -> Result<query::TradePage, MerchantError> {
            let req = query::check_page(&filter, cursor.as_deref(), limit)?;
            let state = self.session_state();
            self.run(async move {
                let store = state.merchant_store().await?;
                let (trades, next) = store.db().read(|c| query::page_rows(c, &req))?;
                Ok(query::TradePage {
                    trades,
                    next_cursor: next.map(query::Cursor::encode),
                })
            })
            .await
        }

        /// One trade on the phone by its order number (`None` when it is not
        /// there).
        pub async fn trade(&self, trade_id: String) -> Result<Option<Trade>, MerchantError> {
            let state = self.session_state();
            self.run(async move {
                let store = state.merchant_store().await?;
                store.db().read(|c| query::trade_by_id(c, &trade_id))
            })
            .await
        }

        /// The summary of a day, a week, a month or a range (China time) from
        /// the trades on the phone; see `summary` for what counts.
        pub async fn trade_summary(
            &self,
            range: summary::SummaryRange,
        ) -> Result<summary::TradeSummary, MerchantError> {
            summary::range_bounds(&range)?;
            let state = self.session_state();
            self.run(async move {
                let store = state.merchant_store().await?;
                store.db().read(|c| summary::summary_on(c, &range))
            })
            .await
        }

        /// Writes every trade of `filter` to `path` as CSV or XLSX, with totals,
        /// progress to `listener`; nothing is left at `path` when it fails
        /// (`trades.export_failed`).
        pub async fn export_trades(
            &self,
            filter: query::TradeFilter,
            format: export::ExportFormat,
            path: String,
            listener: Option<Arc<dyn export::TradeExportListener>>,
        ) -> Result<export::TradeExportReport, MerchantError> {
            query::check(&filter)?;
            let state = self.session_state();
            self.run(async move {
                let store = state.merchant_store().await?;
                tokio::task::spawn_blocking(move || {
                    export::export(store.db(), &filter, format, &path, listener)
                })
                .await
                .map_err(|e| Error::new(&crate::error::RUNTIME).detail(e.to_string()))?
            })
            .await
        }
    }
}

// --- End of history.
