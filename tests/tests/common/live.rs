//! The live stream as an app holds it, for the tests that subscribe: a
//! listener handing what the core tells to channels, the subscription with
//! its waits, and the sandbox controls that make trades and drop streams.

use std::sync::Arc;
use std::time::Duration;

use merchant_contract::domain::sandbox::InjectedTrades;
use merchant_core::alerts::Alert;
use merchant_core::alerts::stream::{AlertListener, StreamHandle, StreamStatus};
use merchant_core::platform::Backoff;
use merchant_core::platform::sse::StreamConfig;
use merchant_core::session::PushEvent;
use merchant_core::{MerchantCore, MerchantError};
use merchant_sandbox::RunningSandbox;
use tokio::sync::mpsc;

use super::{bounded, sandbox_control};

/// Hands what the stream tells to the test.
pub struct Listener {
    pub events: mpsc::UnboundedSender<PushEvent>,
    pub alerts: mpsc::UnboundedSender<Alert>,
    pub statuses: mpsc::UnboundedSender<StreamStatus>,
}

impl AlertListener for Listener {
    fn on_event(&self, event: PushEvent) -> Result<(), MerchantError> {
        let _ = self.events.send(event);
        Ok(())
    }
    fn on_alert(&self, alert: Alert) -> Result<(), MerchantError> {
        let _ = self.alerts.send(alert);
        Ok(())
    }
    fn on_status(&self, status: StreamStatus) -> Result<(), MerchantError> {
        let _ = self.statuses.send(status);
        Ok(())
    }
}

/// A running subscription and what it told.
pub struct Subscription {
    pub handle: Arc<StreamHandle>,
    pub events: mpsc::UnboundedReceiver<PushEvent>,
    pub alerts: mpsc::UnboundedReceiver<Alert>,
    pub statuses: mpsc::UnboundedReceiver<StreamStatus>,
}

impl Subscription {
    pub fn start(core: &Arc<MerchantCore>, config: StreamConfig) -> Subscription {
        let (alerts_tx, alerts) = mpsc::unbounded_channel();
        let mut sub = Subscription::start_into(core, config, alerts_tx);
        sub.alerts = alerts;
        sub
    }

    /// Subscribes with the alerts told into `alerts` (one channel across
    /// several subscriptions, such as before and after a restart); the
    /// subscription's own `alerts` receiver then hears nothing.
    pub fn start_into(
        core: &Arc<MerchantCore>,
        config: StreamConfig,
        alerts: mpsc::UnboundedSender<Alert>,
    ) -> Subscription {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (statuses_tx, statuses) = mpsc::unbounded_channel();
        let listener = Arc::new(Listener {
            events: events_tx,
            alerts,
            statuses: statuses_tx,
        });
        let handle = core.subscribe_with(listener, config).expect("subscribed");
        Subscription {
            handle,
            events,
            alerts: mpsc::unbounded_channel().1,
            statuses,
        }
    }

    /// The trade ids of `trade.created` events until `n` of them came
    /// (other events pass by); every event's id is checked to increase.
    pub async fn trades_created(&mut self, n: usize, seen: &mut Vec<u64>) -> Vec<String> {
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
    pub async fn status<T>(&mut self, mut pick: impl FnMut(&StreamStatus) -> Option<T>) -> T {
        loop {
            let s = bounded(self.statuses.recv()).await.expect("a status");
            if let Some(t) = pick(&s) {
                return t;
            }
        }
    }

    /// Waits for the next status `pick` accepts.
    pub async fn until(&mut self, pick: impl Fn(&StreamStatus) -> bool) {
        self.status(|s| pick(s).then_some(())).await
    }

    pub async fn connected(&mut self) {
        self.until(|s| matches!(s, StreamStatus::Connected)).await
    }

    /// The next `Waiting`: its retry and the error's code.
    pub async fn waiting(&mut self) -> (u64, String) {
        self.status(|s| match s {
            StreamStatus::Waiting { retry_in_ms, error } => {
                Some((*retry_in_ms, error.code().to_owned()))
            }
            _ => None,
        })
        .await
    }

    /// The next alert `pick` accepts, skipping the others.
    pub async fn alert(&mut self, pick: impl Fn(&Alert) -> bool) -> Alert {
        loop {
            let a = bounded(self.alerts.recv()).await.expect("an alert");
            if pick(&a) {
                return a;
            }
        }
    }

    /// Cancels and waits until the subscription has ended.
    pub async fn stop(self) {
        self.handle.cancel();
        bounded(self.handle.wait()).await;
    }
}

/// Reconnects at once (a millisecond of jitter at most).
pub fn quick() -> StreamConfig {
    StreamConfig {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            max_retries: u32::MAX,
        },
        ..StreamConfig::default()
    }
}

/// Trades made now by the sandbox for `merchant_id` (`POST /sandbox/trades`
/// with `fields` added), each emitting `trade.created`: their ids.
pub async fn sandbox_trades(
    sb: &RunningSandbox,
    merchant_id: &str,
    count: u32,
    fields: serde_json::Value,
) -> Vec<String> {
    let mut body = serde_json::json!({"merchant_id": merchant_id, "count": count});
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        b.extend(f.clone());
    }
    let made: InjectedTrades =
        serde_json::from_value(sandbox_control(sb, "/sandbox/trades", Some(body)).await).unwrap();
    made.trades.into_iter().map(|t| t.trade_id).collect()
}

/// Drops the merchant's live streams: how many were open.
pub async fn disconnect(sb: &RunningSandbox, merchant_id: &str) -> u64 {
    sandbox_control(
        sb,
        "/sandbox/events/disconnect",
        Some(serde_json::json!({"merchant_id": merchant_id})),
    )
    .await["streams"]
        .as_u64()
        .unwrap()
}
