//! The live stream end to end: the sandbox in-process (TLS), MerchantCore
//! subscribed as an app would: trade events arrive in order, applied and
//! told once; a stream dropped by the platform (on demand, or after every
//! few events) resumes with `Last-Event-ID` and loses nothing; the network
//! hint cuts a long backoff; cancel stops deliveries; a position the
//! platform no longer keeps (410) is caught up through the change feed.

use std::collections::HashSet;
use std::time::Duration;

use merchant_core::alerts::stream::StreamStatus;
use merchant_core::platform::Backoff;
use merchant_core::platform::sse::StreamConfig;
use merchant_core::{MerchantCore, MerchantError};
use merchant_sandbox::{RunningSandbox, SandboxConfig};

mod common;
use common::live::*;
use common::*;

/// A new active merchant with a bound terminal, signed in on `core`.
async fn shop(core: &MerchantCore, sb: &RunningSandbox, phone: &str) -> String {
    active_shop(core, sb, phone).await.0
}

/// `count` trades made now by the sandbox, each emitting `trade.created`.
async fn trades(sb: &RunningSandbox, merchant_id: &str, count: u32) -> Vec<String> {
    sandbox_trades(sb, merchant_id, count, serde_json::json!({})).await
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

#[tokio::test]
async fn a_position_the_platform_no_longer_keeps_is_caught_up_and_the_stream_goes_on() {
    let sb = sandbox(SandboxConfig {
        tls: true,
        event_retention: 8,
        ..Default::default()
    })
    .await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000161").await;
    let paid = serde_json::json!({"status": "success"});
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    let mut seen = Vec::new();
    let first = sandbox_trades(&sb, &merchant_id, 2, paid.clone()).await;
    assert_eq!(sub.trades_created(2, &mut seen).await, first);
    sub.stop().await;

    // While the app is away, more events than the platform keeps: resuming
    // after the last one seen is 410 `events.resume_expired`.
    let missed = sandbox_trades(&sb, &merchant_id, 20, paid.clone()).await;
    let mut sub = Subscription::start(&core, quick());
    // The core catches up through the change feed before it opens again,
    // so every trade is on the phone once connected.
    let why = sub
        .status(|s| match s {
            StreamStatus::Connected => Some(None),
            StreamStatus::Waiting { error, .. } => Some(Some(error.code().to_owned())),
            _ => None,
        })
        .await;
    assert_eq!(why, None, "connected without a failed try");
    assert_eq!(
        kept_trades(&core).await,
        (first.len() + missed.len()) as u64
    );
    // The platform's kept events come again (their trades taken once), then
    // new ones.
    let after = sandbox_trades(&sb, &merchant_id, 1, paid).await;
    let mut seen = Vec::new();
    let mut got = Vec::new();
    while got.last() != Some(&after[0]) {
        got.extend(sub.trades_created(1, &mut seen).await);
    }
    assert!(
        got.len() <= 9,
        "only the kept events and the new one: {got:?}"
    );
    assert!(got[..got.len() - 1].iter().all(|t| missed.contains(t)));
    let alerts: Vec<String> = bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|a| a.trade_id)
        .collect();
    let once: std::collections::HashSet<&String> = alerts.iter().collect();
    assert_eq!(once.len(), alerts.len(), "each trade told once: {alerts:?}");
    sub.stop().await;
    sb.shutdown().await;
}
