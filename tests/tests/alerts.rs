//! Alerts end to end against the sandbox (in-process, TLS): push payloads
//! from the sandbox's outbox handed to `handle_push` give a notification
//! once and nothing for the repeat, even after a restart; bad payloads get
//! their codes and store nothing; a live subscription dropped at random
//! more than 50 times during 1,000 trades, with one core restart in the
//! middle, delivers every trade alert exactly once and in order; push and
//! stream bringing the same events make one alert each.

use std::collections::{HashMap, HashSet};

use merchant_contract::PlatformSigner;
use merchant_contract::wire::Event;
use merchant_core::MerchantCore;
use merchant_core::alerts::stream::StreamStatus;
use merchant_core::alerts::{Alert, AlertKind, AlertSettings};
use merchant_core::session::PushProvider;
use merchant_sandbox::RunningSandbox;
use tokio::sync::mpsc;

mod common;
use common::live::*;
use common::*;

/// A new active merchant with a bound terminal, signed in on `core`.
async fn shop(core: &MerchantCore, sb: &RunningSandbox, phone: &str) -> String {
    active_shop(core, sb, phone).await.0
}

/// `count` paid trades made now by the sandbox.
async fn paid_trades(sb: &RunningSandbox, merchant_id: &str, count: u32) -> Vec<String> {
    sandbox_trades(
        sb,
        merchant_id,
        count,
        serde_json::json!({"status": "success"}),
    )
    .await
}

/// The outbox payloads of `trade.created` events, by trade id.
async fn pushed_trades(sb: &RunningSandbox, merchant_id: &str) -> HashMap<String, String> {
    outbox(sb, merchant_id)
        .await
        .into_iter()
        .filter(|i| i.event_type == "trade.created")
        .map(|i| {
            let push: serde_json::Value = serde_json::from_str(&i.payload).unwrap();
            let body: serde_json::Value =
                serde_json::from_str(push["body"].as_str().unwrap()).unwrap();
            (
                body["data"]["trade_id"].as_str().unwrap().to_owned(),
                i.payload,
            )
        })
        .collect()
}

async fn trade_alerts(core: &MerchantCore) -> Vec<Alert> {
    bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AlertKind::TradeReceived)
        .collect()
}

fn signer() -> PlatformSigner {
    PlatformSigner::from_pkcs8(include_bytes!("../../sandbox/keys/platform-sandbox.pk8")).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_pushed_trade_is_notified_once_even_after_a_restart() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000901").await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm:alerts_1".to_owned()))
        .await
        .expect("push token registered");
    let made = paid_trades(&sb, &merchant_id, 3).await;
    let pushed = pushed_trades(&sb, &merchant_id).await;
    assert_eq!(pushed.len(), 3);

    let first = pushed[&made[0]].clone();
    let n = bounded(core.handle_push(first.clone().into_bytes()))
        .await
        .expect("handled")
        .expect("a notification");
    assert!(n.voice_text.ends_with('元'), "{}", n.voice_text);
    assert!(n.voice_text.contains("收款"));
    assert!(!n.clips.is_empty());
    assert!(!n.protection);
    let again = bounded(core.handle_push(first.clone().into_bytes()))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "platform.push_replayed");

    // The app dies; the OS starts it cold for the next push and the repeat.
    drop(core);
    let core = dev.core(&sb);
    let replay = bounded(core.handle_push(first.into_bytes()))
        .await
        .unwrap_err();
    assert_eq!(replay.code(), "platform.push_replayed", "kept in the store");
    let second = bounded(core.handle_push(pushed[&made[1]].clone().into_bytes()))
        .await
        .expect("handled");
    assert!(second.is_some());
    let alerts = trade_alerts(&core).await;
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| a.delivered), "shown by the OS");
    sb.shutdown().await;
}

#[tokio::test]
async fn bad_push_payloads_get_their_codes_and_store_nothing() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000902").await;
    let before = bounded(core.alerts(500, None)).await.unwrap().len();
    let trade = serde_json::json!({"trade_id": "T1"});
    let event = |event_type: &str, data: serde_json::Value| {
        serde_json::to_string(&Event {
            event_id: 900_000,
            event_type: event_type.to_owned(),
            merchant_id: merchant_id.clone(),
            occurred_at: "2025-06-01T09:30:00+08:00".to_owned(),
            data,
        })
        .unwrap()
    };
    let sign = |ts: i64, body: String| signer().sign_push(&sb.app_id, ts, body).unwrap();
    let good = sign(now(), event("trade.created", trade.clone())).to_json();

    let mut forged = sign(now(), event("trade.created", trade.clone()));
    forged.body = forged.body.replace("T1", "T2");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "forged",
            forged.to_json().into_bytes(),
            "platform.push_signature_invalid",
        ),
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            "platform.push_malformed",
        ),
        (
            "stale",
            sign(now() - 600, event("trade.created", trade.clone()))
                .to_json()
                .into_bytes(),
            "platform.push_stale",
        ),
        ("oversized", vec![b' '; 64 * 1024 + 1], "push.too_large"),
        ("not text", vec![0xff, 0xfe, 0x00], "push.not_text"),
        (
            "unknown type",
            sign(now(), event("trade.exploded", trade.clone()))
                .to_json()
                .into_bytes(),
            "push.event_unknown",
        ),
        (
            "another merchant's",
            signer()
                .sign_push(
                    &sb.app_id,
                    now(),
                    serde_json::to_string(&Event {
                        event_id: 900_001,
                        event_type: "device.registered".to_owned(),
                        merchant_id: "M_SOMEONE_ELSE".to_owned(),
                        occurred_at: "2025-06-01T09:30:00+08:00".to_owned(),
                        data: serde_json::json!({}),
                    })
                    .unwrap(),
                )
                .unwrap()
                .to_json()
                .into_bytes(),
            "push.other_merchant",
        ),
        (
            "a trade event without a trade",
            sign(now(), event("trade.created", trade.clone()))
                .to_json()
                .into_bytes(),
            "trades.page_malformed",
        ),
    ];
    for (what, payload, code) in cases {
        let e = bounded(core.handle_push(payload)).await.unwrap_err();
        assert_eq!(e.code(), code, "{what}");
    }
    // A payload refused for its content was not taken: the store holds
    // nothing of it, and a replay of an accepted one is refused.
    let replayed = sign(now(), event("device.registered", serde_json::json!({})))
        .to_json()
        .into_bytes();
    assert_eq!(
        bounded(core.handle_push(replayed.clone())).await.unwrap(),
        None
    );
    let e = bounded(core.handle_push(replayed)).await.unwrap_err();
    assert_eq!(e.code(), "platform.push_replayed");
    assert_eq!(bounded(core.alerts(500, None)).await.unwrap().len(), before);
    assert_eq!(bounded(core.trade_sync_state()).await.unwrap().trades, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn push_and_stream_bringing_the_same_trades_make_one_alert_each() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000903").await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm:alerts_3".to_owned()))
        .await
        .unwrap();
    let made = paid_trades(&sb, &merchant_id, 6).await;
    let pushed = pushed_trades(&sb, &merchant_id).await;
    // The first three come by push before the app subscribes.
    let mut notified = HashSet::new();
    for id in &made[..3] {
        let n = bounded(core.handle_push(pushed[id].clone().into_bytes()))
            .await
            .unwrap();
        assert!(n.is_some(), "{id}");
        notified.insert(id.clone());
    }
    let (alerts_tx, mut alerts) = mpsc::unbounded_channel();
    let mut sub = Subscription::start_into(&core, quick(), alerts_tx);
    sub.until(|s| matches!(s, StreamStatus::Connected)).await;
    let mut told = Vec::new();
    while told.len() < 3 {
        let a = bounded(alerts.recv()).await.unwrap();
        if a.kind == AlertKind::TradeReceived {
            told.push(a.trade_id.unwrap());
        }
    }
    assert_eq!(told, made[3..].to_vec(), "only those push did not bring");
    // Push now brings the last three again: nothing to show.
    for id in &made[3..] {
        let n = bounded(core.handle_push(pushed[id].clone().into_bytes()))
            .await
            .unwrap();
        assert_eq!(n, None, "{id}");
    }
    let kept = trade_alerts(&core).await;
    assert_eq!(kept.len(), 6);
    let ids: HashSet<_> = kept.iter().filter_map(|a| a.trade_id.clone()).collect();
    assert_eq!(ids, made.iter().cloned().collect::<HashSet<_>>());
    sub.stop().await;
    assert!(alerts.try_recv().is_err(), "nothing told twice");
    sb.shutdown().await;
}

/// A small deterministic generator (no crate needed for a test's dice).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn a_thousand_trades_through_fifty_drops_and_a_restart_are_each_told_once_in_order() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let mut core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000904").await;
    let (alerts_tx, mut alerts) = mpsc::unbounded_channel();
    let mut sub = Subscription::start_into(&core, quick(), alerts_tx.clone());
    sub.until(|s| matches!(s, StreamStatus::Connected)).await;

    let mut dice = Dice(0x5eed_a1e7);
    let mut made = Vec::new();
    let mut drops = 0u64;
    let mut restarted = false;
    while made.len() < 1000 {
        let n = (1 + dice.below(30)).min(1000 - made.len() as u64) as u32;
        made.extend(paid_trades(&sb, &merchant_id, n).await);
        if dice.below(4) != 0 {
            let dropped = disconnect(&sb, &merchant_id).await;
            if dropped > 0 {
                drops += dropped;
                sub.until(|s| matches!(s, StreamStatus::Waiting { .. }))
                    .await;
                sub.until(|s| matches!(s, StreamStatus::Connected)).await;
            }
        }
        if !restarted && made.len() >= 500 {
            restarted = true;
            sub.stop().await;
            drop(core);
            core = dev.core(&sb);
            sub = Subscription::start_into(&core, quick(), alerts_tx.clone());
        }
    }
    assert!(drops >= 50, "{drops} drops");

    let expected: HashSet<&String> = made.iter().collect();
    let mut told: Vec<Alert> = Vec::new();
    let mut seen = HashSet::new();
    while seen.len() < made.len() {
        let a = bounded(alerts.recv()).await.expect("an alert");
        if a.kind == AlertKind::TradeReceived {
            let id = a.trade_id.clone().unwrap();
            assert!(expected.contains(&id), "an alert of a trade not made");
            assert!(seen.insert(id), "a trade told twice");
        }
        told.push(a);
    }
    assert!(
        told.windows(2).all(|w| w[0].id < w[1].id),
        "told in the order stored"
    );
    // Per trade in the order made (the sandbox's events are in order).
    let order: Vec<String> = told
        .iter()
        .filter(|a| a.kind == AlertKind::TradeReceived)
        .filter_map(|a| a.trade_id.clone())
        .collect();
    assert_eq!(order, made);
    sub.stop().await;
    assert!(alerts.try_recv().is_err(), "nothing told twice");
    sb.shutdown().await;
}

#[tokio::test]
async fn rules_silence_a_pushed_trade_but_still_show_it() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let merchant_id = shop(&core, &sb, "13800000905").await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm:alerts_5".to_owned()))
        .await
        .unwrap();
    let defaults = bounded(core.alert_settings()).await.unwrap();
    assert!(defaults.broadcast && defaults.speaker);
    let bad = AlertSettings {
        quiet_start_minute: Some(22 * 60),
        quiet_end_minute: None,
        ..defaults.clone()
    };
    let e = bounded(core.set_alert_settings(bad)).await.unwrap_err();
    assert_eq!(e.code(), "alert_rules.quiet_hours_invalid");
    let off = AlertSettings {
        broadcast: false,
        ..defaults
    };
    bounded(core.set_alert_settings(off.clone())).await.unwrap();
    assert_eq!(bounded(core.alert_settings()).await.unwrap(), off);

    let made = paid_trades(&sb, &merchant_id, 1).await;
    let pushed = pushed_trades(&sb, &merchant_id).await;
    let n = bounded(core.handle_push(pushed[&made[0]].clone().into_bytes()))
        .await
        .unwrap()
        .expect("still shown");
    assert_eq!(n.voice_text, "");
    assert!(n.clips.is_empty());
    assert!(n.body.contains("收款"));
    sb.shutdown().await;
}
