//! trades: the merchant's trades kept on the phone from the platform's
//! change feed; history pages and summaries offline at a million rows;
//! settlement reconciliation against the statement file; exports; voids and
//! refunds.
//!
//! - [`api`]: the platform calls and the wire-to-app mapping.
//! - [`model`]: the records the app sees.
//! - [`store`]: the tables (one migration) and the row reader.
//! - [`feed`]: the change feed's pages checked whole before anything is kept.
//! - [`sync`]: the feed pulled page by page, one sync at a time;
//!   [`apply`]: the one function applying a trade event.

pub mod api;
pub mod apply;
pub mod feed;
pub mod model;
pub mod store;
pub mod sync;

use crate::error::Code;

pub use model::{Trade, TradeKind, TradeStatus};

/// Every code of the trades capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    std::iter::empty().chain(feed::CODES).chain(sync::CODES)
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
            self.run(async move {
                let store = state.merchant_store().await?;
                let feed = Arc::new(sync::PlatformFeed(state));
                sync::sync(store, feed, listener, sync::Budget::Full).await
            })
            .await
        }

        /// The push wake-up's quick catch-up: the same sync, stopping after a
        /// few pages or about two seconds (`has_more` then says a full
        /// `sync_trades` is worth running).
        pub async fn catch_up_trades(&self) -> Result<TradeSyncReport, MerchantError> {
            let state = self.session_state();
            self.run(async move {
                let store = state.merchant_store().await?;
                let feed = Arc::new(sync::PlatformFeed(state));
                sync::sync(store, feed, None, sync::Budget::CATCH_UP).await
            })
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
