//! The live stream end to end: the sandbox in-process (TLS), MerchantCore
//! subscribed as an app would: trade events arrive in order, applied and
//! told once; a stream dropped by the platform (on demand, or after every
//! few events) resumes with `Last-Event-ID` and loses nothing; the network
//! hint cuts a long backoff; cancel stops deliveries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use merchant_contract::domain::sandbox::InjectedTrades;
use merchant_core::alerts::stream::{AlertListener, StreamHandle, StreamStatus};
use merchant_core::platform::Backoff;
use merchant_core::platform::sse::StreamConfig;
use merchant_core::session::PushEvent;
use merchant_core::{MerchantCore, MerchantError};
use merchant_sandbox::{RunningSandbox, SandboxConfig};
use tokio::sync::mpsc;

mod common;
use common::*;

/// Hands what the stream tells to the test.
struct Listener {
    events: mpsc::UnboundedSender<PushEvent>,
    statuses: mpsc::UnboundedSender<StreamStatus>,
}

impl AlertListener for Listener {
    fn on_event(&self, event: PushEvent) -> Result<(), MerchantError> {
        let _ = self.events.send(event);
        Ok(())
    }
    fn on_alert(&self, _alert: merchant_core::alerts::Alert) -> Result<(), MerchantError> {
        Ok(())
    }
    fn on_status(&self, status: StreamStatus) -> Result<(), MerchantError> {
        let _ = self.statuses.send(status);
        Ok(())
    }
}

struct Subscription {
    handle: Arc<StreamHandle>,
    events: mpsc::UnboundedReceiver<PushEvent>,
    statuses: mpsc::UnboundedReceiver<StreamStatus>,
}

impl Subscription {
    fn start(core: &Arc<MerchantCore>, config: StreamConfig) -> Subscription {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (statuses_tx, statuses) = mpsc::unbounded_channel();
        let listener = Arc::new(Listener {
            events: events_tx,
            statuses: statuses_tx,
        });
        let handle = core.subscribe_with(listener, config).expect("subscribed");
        Subscription {
            handle,
            events,
            statuses,
        }
    }

    /// The trade ids of `trade.created` events until `n` of them came
    /// (other events pass by); every event's id is checked to increase.
    async fn trades_created(&mut self, n: usize, seen: &mut Vec<u64>) -> Vec<String> {
        let mut trades = Vec::new();
        while trades.len() < n {
            let e = bounded(self.events.recv()).await.expect("an event");
            assert!(
                seen.last().is_none_or(|last| e.event_id > *last),
                "event {} after {:?}: out of order or twice",
                e.event_id,
                seen.last()
            );
            seen.push(e.event_id);
            if e.event_type == "trade.created" {
                let body: serde_json::Value = serde_json::from_str(&e.body_json).unwrap();
                trades.push(body["trade_id"].as_str().unwrap().to_owned());
            }
        }
        trades
    }

    /// The next status `pick` accepts, skipping the others.
    async fn status<T>(&mut self, mut pick: impl FnMut(&StreamStatus) -> Option<T>) -> T {
        loop {
            let s = bounded(self.statuses.recv()).await.expect("a status");
            if let Some(t) = pick(&s) {
                return t;
            }
        }
    }

    async fn connected(&mut self) {
        self.status(|s| matches!(s, StreamStatus::Connected).then_some(()))
            .await
    }

    /// The next `Waiting`: its retry and the error's code.
    async fn waiting(&mut self) -> (u64, String) {
        self.status(|s| match s {
            StreamStatus::Waiting { retry_in_ms, error } => {
                Some((*retry_in_ms, error.code().to_owned()))
            }
            _ => None,
        })
        .await
    }
}

/// Reconnects at once (a millisecond of jitter at most).
fn quick() -> StreamConfig {
    StreamConfig {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            max_retries: u32::MAX,
        },
        ..StreamConfig::default()
    }
}

/// A new active merchant with a bound terminal, signed in on `core`.
async fn shop(core: &MerchantCore, sb: &RunningSandbox, phone: &str) -> String {
    active_shop(core, sb, phone).await.0
}

/// `count` trades made now by the sandbox, each emitting `trade.created`.
async fn trades(sb: &RunningSandbox, merchant_id: &str, count: u32) -> Vec<String> {
    let made: InjectedTrades = serde_json::from_value(
        sandbox_control(
            sb,
            "/sandbox/trades",
            Some(serde_json::json!({"merchant_id": merchant_id, "count": count})),
        )
        .await,
    )
    .unwrap();
    made.trades.into_iter().map(|t| t.trade_id).collect()
}

async fn disconnect(sb: &RunningSandbox, merchant_id: &str) -> u64 {
    sandbox_control(
        sb,
        "/sandbox/events/disconnect",
        Some(serde_json::json!({"merchant_id": merchant_id})),
    )
    .await["streams"]
        .as_u64()
        .unwrap()
}

async fn kept_trades(core: &MerchantCore) -> u64 {
    bounded(core.trade_sync_state()).await.unwrap().trades
}

#[tokio::test]
async fn trade_events_arrive_in_order_applied_and_told_once() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000301").await;
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    let made = trades(&sb, &merchant_id, 5).await;
    let mut seen = Vec::new();
    assert_eq!(sub.trades_created(5, &mut seen).await, made);
    // Each was applied through the one event path before it was told.
    assert_eq!(kept_trades(&core).await, 5);
    sub.handle.cancel();
    bounded(sub.handle.wait()).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn a_dropped_stream_comes_back_and_loses_nothing() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000302").await;
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    let mut made = trades(&sb, &merchant_id, 3).await;
    let mut seen = Vec::new();
    let mut told = sub.trades_created(3, &mut seen).await;

    assert_eq!(disconnect(&sb, &merchant_id).await, 1);
    assert_eq!(sub.waiting().await.1, "stream.closed");
    // Made while the stream is down or coming back.
    made.extend(trades(&sb, &merchant_id, 3).await);
    sub.connected().await;
    made.extend(trades(&sb, &merchant_id, 2).await);
    told.extend(sub.trades_created(5, &mut seen).await);

    assert_eq!(told, made, "every trade once, in order");
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    assert_eq!(kept_trades(&core).await, 8);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_platform_that_drops_every_stream_after_two_events_loses_nothing() {
    // Resuming from anything but the last delivered id would either repeat
    // events (refused above) or, as every stream ends after two events,
    // never get past the first two.
    let sb = sandbox(SandboxConfig {
        tls: true,
        sse_drop_after: Some(2),
        ..Default::default()
    })
    .await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000303").await;
    let made = trades(&sb, &merchant_id, 9).await;
    let mut sub = Subscription::start(&core, quick());
    let mut seen = Vec::new();
    assert_eq!(sub.trades_created(9, &mut seen).await, made);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
    assert_eq!(
        seen,
        (1..=*seen.last().unwrap()).collect::<Vec<_>>(),
        "every event from the first, once"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn the_network_hint_cuts_a_long_backoff() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000304").await;
    let day = Duration::from_secs(24 * 3600);
    let mut sub = Subscription::start(
        &core,
        StreamConfig {
            backoff: Backoff {
                base: day,
                cap: day,
                max_retries: u32::MAX,
            },
            // A seed whose first draw is hours long.
            seed: Some(3),
            ..StreamConfig::default()
        },
    );
    sub.connected().await;
    let mut seen = Vec::new();
    assert_eq!(disconnect(&sb, &merchant_id).await, 1);
    let (retry_in_ms, code) = sub.waiting().await;
    assert_eq!(code, "stream.closed");
    assert!(retry_in_ms > 3_600_000, "waits hours: {retry_in_ms} ms");
    let made = trades(&sb, &merchant_id, 1).await;
    sub.handle.network_available();
    // Back at once: connecting, connected, then the trade made while away.
    let next = sub
        .status(|s| (!matches!(s, StreamStatus::Rejected { .. })).then(|| s.clone()))
        .await;
    assert_eq!(next, StreamStatus::Connecting);
    sub.connected().await;
    let told = sub.trades_created(1, &mut seen).await;
    assert_eq!(told, made);
    sb.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_deliveries() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000305").await;
    let mut first = Subscription::start(&core, quick());
    first.connected().await;
    let made = trades(&sb, &merchant_id, 1).await;
    let mut seen = Vec::new();
    assert_eq!(first.trades_created(1, &mut seen).await, made);
    first.handle.cancel();
    let stopped = first
        .status(|s| match s {
            StreamStatus::Stopped { error } => Some(error.clone()),
            _ => None,
        })
        .await;
    assert_eq!(stopped, None, "cancelled, not failed");
    bounded(first.handle.wait()).await;
    assert!(first.handle.is_stopped());
    // What was delivered before the loop ended is not the question.
    while first.events.try_recv().is_ok() {}

    // A trade after the cancel reaches a second subscription, never the first.
    let later = trades(&sb, &merchant_id, 1).await;
    let mut second = Subscription::start(&core, quick());
    let mut seen2 = Vec::new();
    // The stored Last-Event-ID resumes after what the first one took.
    let told = second.trades_created(1, &mut seen2).await;
    assert_eq!(told, later);
    assert!(
        first.events.try_recv().is_err(),
        "nothing delivered after cancel"
    );
    // Dropping the handle ends a subscription too.
    let Subscription {
        handle,
        mut statuses,
        ..
    } = second;
    drop(handle);
    loop {
        if let StreamStatus::Stopped { error } = bounded(statuses.recv()).await.expect("a status") {
            assert_eq!(error, None);
            break;
        }
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn an_access_token_the_platform_calls_expired_is_refreshed_and_the_stream_goes_on() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000306").await;
    let before = bounded(core.session()).await.unwrap().unwrap();
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    // Past the access token's 2 h on the platform's clock (not the phone's):
    // the reconnect is refused as expired, refreshed, and sent again.
    advance(&sb, 3 * 3600);
    assert_eq!(disconnect(&sb, &merchant_id).await, 1);
    assert_eq!(sub.waiting().await.1, "stream.closed");
    sub.connected().await;
    let made = trades(&sb, &merchant_id, 1).await;
    let mut seen = Vec::new();
    assert_eq!(sub.trades_created(1, &mut seen).await, made);
    let after = bounded(core.session()).await.unwrap().unwrap();
    assert!(
        after.access_expires_at > before.access_expires_at,
        "refreshed"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn an_event_its_capability_refuses_is_passed_over_and_the_stream_goes_on() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000307").await;
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    // Signed by the platform, but no trade record: Trades refuses it.
    sandbox_control(
        &sb,
        "/sandbox/events",
        Some(serde_json::json!({"merchant_id": merchant_id, "type": "trade.created", "data": {"n": 1}})),
    )
    .await;
    let made = trades(&sb, &merchant_id, 1).await;
    let mut seen = Vec::new();
    // The refused event is never told (its body has no trade id to read).
    assert_eq!(sub.trades_created(1, &mut seen).await, made);
    assert_eq!(kept_trades(&core).await, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_signed_out_core_stops_the_stream_with_the_session_error() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let mut sub = Subscription::start(&core, quick());
    let stopped = sub
        .status(|s| match s {
            StreamStatus::Stopped { error } => Some(error.clone()),
            _ => None,
        })
        .await
        .expect("an error");
    assert_eq!(stopped.code(), "auth.session_missing");
    assert!(matches!(stopped, MerchantError::Auth { .. }));
    sb.shutdown().await;
}
