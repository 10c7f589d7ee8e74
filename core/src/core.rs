//! `MerchantCore`: the one object apps hold; the composition root.

use std::sync::Arc;

use merchant_contract::wire::event_types;

use crate::MerchantError;
use crate::error::{Error, Lang, RUNTIME, Result};
use crate::store::SecretStore;

/// How the app configures the core.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CoreConfig {
    /// Where the core keeps its files (one SQLite file per signed-in merchant).
    pub data_dir: String,
    /// The platform's base URL, such as `https://127.0.0.1:8700`. `http://` is
    /// accepted for loopback hosts only.
    pub platform_url: String,
    /// SHA-256 of the platform certificate's SubjectPublicKeyInfo, base64.
    /// Required for `https://`.
    pub platform_pin: Option<String>,
    /// The platform's RSA-2048 public key (PKCS#1 RSAPublicKey DER, base64)
    /// that signs responses and push payloads.
    pub platform_public_key: String,
    /// The app's id on the platform (`appid` of the signing envelope).
    pub app_id: String,
    /// Language of messages for the merchant. It applies process-wide, as
    /// `set_language` does: the validators and money functions are plain
    /// functions without a core, and speak the same language.
    pub language: Lang,
    /// Hosts whose terminal back QRs (`https://HOST/activate?sn=…`) the core
    /// accepts, compared without case and without one trailing dot. Empty
    /// (the default) means [`DEFAULT_QR_HOSTS`]: the sandbox's QR host.
    #[uniffi(default)]
    pub trusted_qr_hosts: Vec<String>,
}

/// The QR hosts trusted when `CoreConfig::trusted_qr_hosts` is empty.
pub const DEFAULT_QR_HOSTS: &[&str] = &["qr.sandbox.lakala.example"];

impl CoreConfig {
    /// The hosts the terminal back QR may name: the configured ones, or the
    /// default list when none are configured.
    pub fn qr_hosts(&self) -> Vec<String> {
        if self.trusted_qr_hosts.is_empty() {
            DEFAULT_QR_HOSTS.iter().map(|h| (*h).to_owned()).collect()
        } else {
            self.trusted_qr_hosts.clone()
        }
    }
}

/// The one object an app holds.
#[derive(uniffi::Object)]
pub struct MerchantCore {
    /// Always `Some` until `Drop` takes it to shut it down in the background.
    runtime: Option<tokio::runtime::Runtime>,
    config: CoreConfig,
    session: Arc<crate::session::SessionState>,
    /// Bluetooth LE: the real radio (btleplug) unless a test gives another.
    ble: crate::terminals::ble::BleScanner,
    /// A background reconciliation of settled days is running
    /// ([`on_stream_open`], [`after_live_event`]): one at a time.
    reconciling: Arc<std::sync::atomic::AtomicBool>,
}

#[uniffi::export]
impl MerchantCore {
    /// Opens the core. Cheap: starts the runtime and checks the config; files
    /// are opened on first use.
    #[uniffi::constructor]
    pub fn new(
        config: CoreConfig,
        secret_store: Arc<dyn SecretStore>,
    ) -> Result<Arc<Self>, MerchantError> {
        Self::with_ble(
            config,
            secret_store,
            crate::terminals::ble::BleScanner::default(),
        )
    }

    pub fn data_dir(&self) -> String {
        self.config.data_dir.clone()
    }

    /// Applies an event the platform sent (one that `verify_push` verified,
    /// or one of the live stream) through the one path every event takes
    /// ([`ingest`]): deduplicated by its id, applied by the capability that
    /// owns it, and turned into the alerts it tells (stored, delivered once
    /// to a live listener). Terminal events update the terminal list (a
    /// terminal moved to another merchant is recorded as a protection
    /// finding); trade events update the trades kept on the phone by the
    /// sync's forward-only rule; `settlement.ready` keeps the day's
    /// settlement; `application.reviewed` and `merchant.activated` move the
    /// application's status (the same transition polling makes); other types
    /// are taken as seen.
    pub async fn apply_event(&self, event: crate::session::PushEvent) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move {
            ingest(&state, &event, crate::alerts::pipeline::Source::Push, None).await?;
            Ok(())
        })
        .await
    }
}

/// The one event path (alerts/pipeline.rs): `event` deduplicated, applied
/// by its capability and turned into alerts in ONE write transaction of the
/// merchant's store, together with the push nonce (`nonce`) or the stream's
/// Last-Event-ID (`Source::Stream`).
///
/// Onboarding's application events are applied by Onboarding's own
/// transaction (it writes through the store, not a given connection), just
/// before the pipeline's, and only for an event id not seen yet; both
/// writes are idempotent (the same status transition), so a crash between
/// them applies it again and then takes it once.
pub(crate) async fn ingest(
    state: &crate::session::SessionState,
    event: &crate::session::PushEvent,
    source: crate::alerts::pipeline::Source,
    nonce: Option<crate::alerts::pipeline::PushNonce>,
) -> Result<crate::alerts::pipeline::Ingested> {
    use crate::alerts::pipeline;
    let data: serde_json::Value = serde_json::from_str(&event.body_json).map_err(|_| {
        Error::new(&crate::platform::PUSH_MALFORMED).detail("event data is not JSON")
    })?;
    let store = state.merchant_store().await?;
    let t = event.event_type.as_str();
    if matches!(
        t,
        event_types::APPLICATION_REVIEWED | event_types::MERCHANT_ACTIVATED
    ) && !store.db().read(|c| pipeline::is_seen(c, event.event_id))?
    {
        crate::onboarding::apply_application_event(state, t, event.body_json.as_bytes()).await?;
    }
    let now = pipeline::now_ms();
    store.db().write(|tx| {
        pipeline::ingest_in(tx, event, &data, source, nonce.as_ref(), now, |conn| {
            apply_in(conn, t, &data)
        })
    })
}

/// The live stream (re)opened: settled days kept on the phone but not
/// reconciled yet (a `settlement.ready` that came by push, with no network
/// to fetch the statement) are reconciled in the background.
pub(crate) fn on_stream_open(core: &Arc<MerchantCore>) {
    spawn_reconcile(core, None);
}

/// A fresh live event was applied: a `settlement.ready` has the day
/// reconciled in the background (Trades' reconciliation, whose findings
/// Alerts tells as protection alerts). The stream's delivery does not wait.
pub(crate) fn after_live_event(core: &Arc<MerchantCore>, event: &crate::session::PushEvent) {
    if event.event_type != event_types::SETTLEMENT_READY {
        return;
    }
    let date = serde_json::from_str::<serde_json::Value>(&event.body_json)
        .ok()
        .and_then(|v| v.get("date").and_then(|d| d.as_str()).map(str::to_owned));
    if let Some(date) = date {
        spawn_reconcile(core, Some(date));
    }
}

/// The live stream lost events (the platform no longer keeps those after
/// its position): what they brought is fetched instead: the trades (the
/// change feed, with the detectors), the terminal list, the application's
/// status. Settled days are reconciled when the stream opens.
pub(crate) async fn catch_up_after_gap(core: &Arc<MerchantCore>) -> Result<()> {
    use crate::trades::sync;
    let state = core.session_state();
    sync::from_platform(state.clone(), None, sync::Budget::Full, core.trade_hook()).await?;
    crate::terminals::refresh(&state).await?;
    crate::onboarding::sync::refresh(&state).await?;
    Ok(())
}

/// Reconciles `day`, or the settled days not reconciled yet (the newest
/// few), after bringing the phone's trades up to date, on the core's
/// runtime; one run at a time (a run asked for meanwhile is left to the
/// next stream opening, which finds the day still unreconciled).
fn spawn_reconcile(core: &Arc<MerchantCore>, day: Option<String>) {
    use std::sync::atomic::Ordering;
    const NEWEST_DAYS: u32 = 7;
    let Ok(runtime) = core.runtime_handle() else {
        return;
    };
    if core.reconciling.swap(true, Ordering::AcqRel) {
        return;
    }
    let busy = core.reconciling.clone();
    let state = core.session_state();
    let hook = core.trade_hook();
    runtime.spawn(async move {
        let run = async {
            use crate::trades::{settlement, sync};
            let store = state.merchant_store().await?;
            let days = match day {
                Some(d) => vec![d],
                None => store
                    .db()
                    .read(|c| settlement::unreconciled(c, NEWEST_DAYS))?,
            };
            if days.is_empty() {
                return Ok(());
            }
            sync::from_platform(state.clone(), None, sync::Budget::Full, hook).await?;
            for date in days {
                if let Err(e) = settlement::reconcile(state.clone(), date).await {
                    tracing::debug!(code = %e.code, "settled day not reconciled in the background");
                }
            }
            Ok::<(), Error>(())
        };
        if let Err(e) = run.await {
            tracing::debug!(code = %e.code, "background reconciliation stopped");
        }
        busy.store(false, Ordering::Release);
    });
}

/// Applies event `t` through the capability that owns it, inside the
/// pipeline's transaction: the trade records it carried, for alerts.
pub(crate) fn apply_in(
    conn: &rusqlite::Connection,
    t: &str,
    data: &serde_json::Value,
) -> Result<Vec<crate::alerts::notify::TradeFact>> {
    let mut facts = Vec::new();
    if crate::terminals::events::owns(t) {
        crate::terminals::events::apply(conn, t, data)?;
    } else if crate::trades::apply::owns(t) {
        apply_trade_event(conn, t, data, |trade, outcome| {
            facts.push(trade_fact(trade, outcome));
        })?;
    } else if t == event_types::SPEAKER_CHANGED {
        crate::alerts::speaker::apply_event(conn, data)?;
    } else if t == event_types::SETTLEMENT_READY {
        let wire: merchant_contract::domain::Settlement = serde_json::from_value(data.clone())
            .map_err(|_| {
                Error::new(&crate::platform::PUSH_MALFORMED).detail("settlement data not readable")
            })?;
        let date = wire.date.clone();
        let settlement = crate::trades::settlement::settlement_from_wire(wire, &date)?;
        crate::trades::settlement::put_settlement(conn, &settlement)?;
    }
    Ok(facts)
}

/// A trade record as alerts sees it.
fn trade_fact(
    t: &crate::trades::model::Trade,
    outcome: crate::trades::store::RecordOutcome,
) -> crate::alerts::notify::TradeFact {
    use crate::alerts::notify::{TradeFact, TradeFactKind};
    use crate::trades::model::TradeKind;
    use crate::trades::store::{Ignored, RecordOutcome};
    TradeFact {
        trade_id: t.trade_id.clone(),
        kind: match t.kind {
            TradeKind::Sale => TradeFactKind::Sale,
            TradeKind::Refund => TradeFactKind::Refund,
            TradeKind::Void => TradeFactKind::Void,
        },
        status: t.status.as_str().to_owned(),
        channel: t.channel,
        amount: t.amount,
        terminal_sn: t.terminal_sn.clone(),
        stale: matches!(
            outcome,
            RecordOutcome::Ignored(Ignored::StatusBackwards { .. } | Ignored::KindChanged { .. })
        ),
        changed_at_ms: t.updated_at_ms,
    }
}

impl MerchantCore {
    /// [`MerchantCore::new`] with another Bluetooth LE central (the simulated
    /// one in tests and demos).
    pub fn with_ble(
        config: CoreConfig,
        secret_store: Arc<dyn SecretStore>,
        ble: crate::terminals::ble::BleScanner,
    ) -> Result<Arc<Self>, MerchantError> {
        crate::error::set_language(config.language);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("merchant-core")
            .build()
            .map_err(|e| Error::new(&RUNTIME).detail(e.to_string()))?;
        let session = Arc::new(crate::session::SessionState::new(&config, secret_store));
        Ok(Arc::new(MerchantCore {
            runtime: Some(runtime),
            config,
            session,
            ble,
            reconciling: Arc::default(),
        }))
    }

    pub(crate) fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub(crate) fn ble(&self) -> &crate::terminals::ble::BleScanner {
        &self.ble
    }

    /// The core's runtime, for work that outlives the call (a BLE scan).
    pub(crate) fn runtime_handle(&self) -> Result<tokio::runtime::Handle> {
        self.runtime
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or_else(|| Error::new(&RUNTIME).detail("runtime shut down"))
    }

    pub(crate) fn session_state(&self) -> Arc<crate::session::SessionState> {
        self.session.clone()
    }

    /// Runs `fut` on the core's runtime and awaits it from any executor, so no
    /// foreign thread needs a tokio context.
    pub(crate) async fn run<T, F>(&self, fut: F) -> Result<T, MerchantError>
    where
        F: std::future::Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(runtime) = self.runtime.as_ref() else {
            return Err(Error::new(&RUNTIME).detail("runtime shut down").into());
        };
        match runtime.spawn(fut).await {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(Error::new(&RUNTIME).detail(e.to_string()).into()),
        }
    }
}

/// Dropping a tokio runtime from inside async context panics (and the last
/// `Arc` of the core may well be dropped there, even on one of its own
/// workers): shut it down in the background instead.
impl Drop for MerchantCore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------------------
// Merchant-protection detectors (alerts/detect.rs) on every trade record the
// trades capability applies, at sync and from events, through its seam
// (trades/hook.rs): trades does not know alerts; they meet here.

impl MerchantCore {
    /// The hook the trades capability runs on every applied record.
    pub(crate) fn trade_hook(&self) -> Option<Arc<dyn crate::trades::hook::TradeHook>> {
        Some(protection_hook())
    }
}

/// The detectors as the phone runs them on every applied trade record, at
/// sync and from events, for the tools that measure what they cost:
/// `merchant bench alerts` ingests the same signed pages through
/// `trades::sync::ingest_page_with` with this hook and without.
pub fn protection_hook() -> Arc<dyn crate::trades::hook::TradeHook> {
    Arc::new(ProtectionHook)
}

/// Applies trade event `event_type` in `conn` with the protection
/// detectors on each of its records, in the same transaction; `seen` hears
/// each record after the detectors.
pub(crate) fn apply_trade_event(
    conn: &rusqlite::Connection,
    event_type: &str,
    data: &serde_json::Value,
    mut seen: impl FnMut(&crate::trades::model::Trade, crate::trades::store::RecordOutcome),
) -> Result<Vec<crate::trades::store::RecordOutcome>> {
    crate::trades::hook::with_hook(conn, Some(&ProtectionHook), |each| {
        crate::trades::apply::apply_with(conn, event_type, data, |c, trade, outcome| {
            each(c, trade, outcome)?;
            seen(trade, outcome);
            Ok(())
        })
    })
}

/// Builds the alerts' detectors once per transaction from the merchant's
/// profile (onboarding) and terminal list (terminals).
pub(crate) struct ProtectionHook;

impl crate::trades::hook::TradeHook for ProtectionHook {
    fn begin(
        &self,
        conn: &rusqlite::Connection,
    ) -> Result<Box<dyn crate::trades::hook::RecordHook>> {
        let setup = protection_setup(conn, chrono::Utc::now().timestamp_millis())?;
        Ok(Box::new(ProtectionRecords(
            crate::alerts::detect::Detectors::new(setup),
        )))
    }
}

/// What the detectors compare each record with, read in `conn`.
pub(crate) fn protection_setup(
    conn: &rusqlite::Connection,
    now_ms: i64,
) -> Result<crate::alerts::detect::Setup> {
    use crate::alerts::detect::{KnownTerminal, Setup};
    use crate::onboarding::model::{ApplicationStatus, MerchantProfile};
    let state = crate::onboarding::store::state_in(conn)?;
    // As onboarding's `activation::profile`, read inside this transaction;
    // a profile that does not parse turns the checks that need it off
    // rather than stopping the trades from being kept.
    let profile: Option<MerchantProfile> = match (state.status, state.profile) {
        (ApplicationStatus::Activated, Some(json)) => serde_json::from_str(&json)
            .inspect_err(|_| tracing::warn!("merchant profile unreadable; 跳码 and fee alerts off"))
            .ok(),
        _ => None,
    };
    let terminals = crate::terminals::store::list(conn)?
        .into_iter()
        .map(|t| KnownTerminal {
            unbound_at_ms: match t.status {
                crate::terminals::model::TerminalStatus::Unbound => {
                    Some(t.unbound_at_ms.unwrap_or(i64::MIN))
                }
                _ => None,
            },
            sn: t.sn,
        })
        .collect();
    Ok(Setup {
        merchant_no: profile.as_ref().and_then(|p| p.merchant_no.clone()),
        rates: profile.as_ref().and_then(|p| agreed_rates(&p.rates)),
        terminals,
        now_ms,
    })
}

/// The profile's agreed rates as a [`crate::money::RateTable`]; `None` when
/// one does not parse.
fn agreed_rates(rates: &[crate::onboarding::model::AgreedRate]) -> Option<crate::money::RateTable> {
    use crate::money::{Amount, Channel, ChannelRate, Rate, RateTable};
    let one = |r: &crate::onboarding::model::AgreedRate| -> Result<ChannelRate> {
        Ok(ChannelRate {
            channel: Channel::parse(&r.channel)?,
            rate: Rate::parse(&r.rate)?,
            threshold: r.threshold.as_deref().map(Amount::parse).transpose()?,
            rate_above: r.rate_above.as_deref().map(Rate::parse).transpose()?,
            cap: r.cap.as_deref().map(Amount::parse).transpose()?,
        })
    };
    match rates.iter().map(one).collect::<Result<Vec<_>>>() {
        Ok(rates) => Some(RateTable { rates }),
        Err(e) => {
            tracing::warn!(code = %e.code, "agreed rates unreadable; fee alerts off");
            None
        }
    }
}

/// The detectors of one transaction, fed each applied record.
struct ProtectionRecords(crate::alerts::detect::Detectors);

impl crate::trades::hook::RecordHook for ProtectionRecords {
    fn applied(
        &mut self,
        conn: &rusqlite::Connection,
        t: &crate::trades::Trade,
        outcome: crate::trades::store::RecordOutcome,
    ) -> Result<()> {
        use crate::alerts::detect::{RecordKind, TradeFacts};
        use crate::trades::store::RecordOutcome;
        use crate::trades::{TradeKind, TradeStatus};
        // Money moved: checked once, when a record first stands so.
        let moved = |s: TradeStatus| {
            matches!(
                s,
                TradeStatus::Success
                    | TradeStatus::PartiallyRefunded
                    | TradeStatus::Refunded
                    | TradeStatus::Voided
            )
        };
        let fresh = match outcome {
            RecordOutcome::Inserted => moved(t.status),
            RecordOutcome::Updated { previous } => moved(t.status) && !moved(previous),
            RecordOutcome::Ignored(_) => false,
        };
        if !fresh {
            return Ok(());
        }
        let kind = match (t.kind, t.status) {
            (TradeKind::Sale, TradeStatus::Success | TradeStatus::PartiallyRefunded) => {
                RecordKind::PaidSale
            }
            (TradeKind::Sale, _) => RecordKind::ReversedSale,
            (TradeKind::Void | TradeKind::Refund, _) => RecordKind::Reversal,
        };
        let facts = TradeFacts {
            trade_id: &t.trade_id,
            kind,
            channel: t.channel,
            amount: t.amount,
            fee: t.fee,
            rate: &t.rate,
            terminal_sn: &t.terminal_sn,
            merchant_no: &t.merchant_no,
            card_bin: t.card_bin.as_deref(),
            card_last4: t.card_last4.as_deref(),
            payer: t.payer.as_deref(),
            created_at_ms: t.created_at_ms,
        };
        self.0.check(conn, &facts, &TradeTable)?;
        Ok(())
    }
}

/// The double charge's lookup, in the trades capability's table.
struct TradeTable;

impl crate::alerts::detect::NearSales for TradeTable {
    fn near(
        &self,
        conn: &rusqlite::Connection,
        t: &crate::alerts::detect::TradeFacts<'_>,
        window: (i64, i64),
        limit: u32,
    ) -> Result<Vec<crate::alerts::detect::NearSale>> {
        use crate::trades::hook::{SamePayer, paid_sales_near};
        let mut who = Vec::with_capacity(2);
        if let (Some(bin), Some(last4)) = (t.card_bin, t.card_last4) {
            who.push(SamePayer::Card { bin, last4 });
        }
        if let Some(p) = t.payer {
            who.push(SamePayer::Payer(p));
        }
        let mut near = Vec::new();
        for w in who {
            let amount = t.amount.to_fen();
            near.extend(paid_sales_near(
                conn,
                w,
                t.terminal_sn,
                amount,
                window,
                t.trade_id,
                limit,
            )?);
        }
        near.sort_by(|a, b| a.trade_id.cmp(&b.trade_id));
        near.dedup_by(|a, b| a.trade_id == b.trade_id);
        near.truncate(limit as usize);
        Ok(near
            .into_iter()
            .map(|n| crate::alerts::detect::NearSale {
                trade_id: n.trade_id,
                card_bin: n.card_bin,
                card_last4: n.card_last4,
                payer: n.payer,
                created_at_ms: n.created_at_ms,
            })
            .collect())
    }
}
