//! trades: the merchant's trades kept on the phone from the platform's
//! change feed; history pages and summaries offline at a million rows;
//! settlement reconciliation against the statement file; exports; voids and
//! refunds.
//!
//! - [`api`]: the platform calls and the wire-to-app mapping.
//! - [`model`]: the records the app sees.
//! - [`store`]: the tables (one migration) and the row reader.

pub mod api;
pub mod export;
pub mod model;
pub mod query;
pub mod store;
pub mod summary;
#[cfg(test)]
pub mod testing;

use std::sync::Arc;

use crate::MerchantCore;
use crate::error::{Code, Error, MerchantError};

pub use model::{Trade, TradeKind, TradeStatus};

/// Every code of the trades capability, for the catalogue.
pub fn codes() -> impl Iterator<Item = &'static Code> {
    std::iter::empty()
        .chain(query::CODES)
        .chain(summary::CODES)
        .chain(export::CODES)
}

// --- History: pages, summaries and exports (query.rs, summary.rs, export.rs).

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

// --- End of history.
