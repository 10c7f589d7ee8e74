//! Merchant-protection alerts end to end against the sandbox (in-process,
//! TLS): each trade anomaly the sandbox can make (跳码, a fee above the
//! agreed rate, a double charge, a foreign terminal) is told to a live
//! listener once as a protection alert, even with voice broadcast off, is
//! acknowledged, and is not told again after a restart; the same detectors
//! at sync make the same alerts; and findings recorded outside any event (a
//! bind refused, a settlement short at reconciliation, a terminal taken
//! away) reach the listener at once.

use std::collections::{HashMap, HashSet};

use merchant_core::MerchantCore;
use merchant_core::alerts::{Alert, AlertKind, AlertSettings};
use merchant_core::findings::Finding;
use merchant_core::money::Amount;
use merchant_core::trades::ReconciliationStatus;
use merchant_sandbox::RunningSandbox;

mod common;
use common::live::*;
use common::*;

/// The anomalies of `POST /sandbox/trades` and the code each one raises.
const ANOMALIES: [(&str, &str); 4] = [
    ("merchant_code", "alert.merchant_code"),
    ("fee_above_rate", "alert.fee_above_rate"),
    ("double_charge", "alert.double_charge"),
    ("foreign_terminal", "alert.foreign_terminal"),
];

/// Every finding on the phone (open and acknowledged), by id.
async fn findings_by_id(core: &MerchantCore) -> HashMap<i64, Finding> {
    bounded(core.findings(true))
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.id, f))
        .collect()
}

/// Protection alerts told by `sub` until their findings cover `codes`:
/// the alerts, in the order told.
async fn told_until(sub: &mut Subscription, core: &MerchantCore, codes: &[&str]) -> Vec<Alert> {
    let mut told = Vec::new();
    loop {
        let a = sub.alert(|a| a.kind == AlertKind::Protection).await;
        told.push(a);
        let findings = findings_by_id(core).await;
        let seen: HashSet<&str> = told
            .iter()
            .filter_map(|a| findings.get(&a.finding_id?))
            .map(|f| f.code.as_str())
            .collect();
        if codes.iter().all(|c| seen.contains(c)) {
            return told;
        }
    }
}

/// Broadcast off and quiet all day: only protection alerts may speak.
async fn silence(core: &MerchantCore) {
    let settings = AlertSettings {
        broadcast: false,
        quiet_start_minute: Some(0),
        quiet_end_minute: Some(1439),
        ..bounded(core.alert_settings()).await.unwrap()
    };
    bounded(core.set_alert_settings(settings)).await.unwrap();
}

fn assert_protection(a: &Alert) {
    assert!(a.protection && a.kind == AlertKind::Protection, "{a:?}");
    assert!(a.finding_id.is_some(), "{a:?}");
    assert!(
        a.voice_text.contains("安全"),
        "a protection alert speaks whatever the rules: {a:?}"
    );
    assert!(a.highlight || a.title.contains("提醒"), "{a:?}");
}

async fn anomaly(sb: &RunningSandbox, merchant_id: &str, name: &str) -> Vec<String> {
    sandbox_trades(
        sb,
        merchant_id,
        1,
        serde_json::json!({"anomaly": name, "status": "success"}),
    )
    .await
}

#[tokio::test]
async fn each_trade_anomaly_is_told_live_once_acknowledged_and_not_told_again() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, _) = active_shop(&core, &sb, "13800000201").await;
    silence(&core).await;
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;

    let mut anomalous = Vec::new();
    for (name, _) in ANOMALIES {
        anomalous.extend(anomaly(&sb, &merchant_id, name).await);
    }
    let codes: Vec<&str> = ANOMALIES.iter().map(|(_, c)| *c).collect();
    let told = told_until(&mut sub, &core, &codes).await;
    let findings = findings_by_id(&core).await;
    let mut once = HashSet::new();
    for a in &told {
        assert_protection(a);
        let id = a.finding_id.unwrap();
        assert!(once.insert(id), "finding {id} told twice");
        let f = &findings[&id];
        assert!(codes.contains(&f.code.as_str()), "{f:?}");
        assert!(
            anomalous
                .iter()
                .any(|t| f.subject.contains(t.as_str()) || f.message.contains(t.as_str())),
            "a trade anomaly names its trade: {f:?}"
        );
        assert!(!f.message.is_empty());
    }
    // The listing shows the same alerts, each once.
    let listed: Vec<Alert> = bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.protection)
        .collect();
    let listed_findings: HashSet<i64> = listed.iter().filter_map(|a| a.finding_id).collect();
    assert_eq!(listed.len(), listed_findings.len(), "one alert per finding");
    assert_eq!(listed_findings, once);
    // Broadcast off: the trades' own alerts stay silent.
    let trade_alerts: Vec<Alert> = bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AlertKind::TradeReceived)
        .collect();
    assert!(!trade_alerts.is_empty());
    assert!(
        trade_alerts.iter().all(|a| a.voice_text.is_empty()),
        "{trade_alerts:?}"
    );

    // The merchant acknowledges each one.
    for id in &once {
        bounded(core.acknowledge_finding(*id)).await.unwrap();
    }
    assert!(bounded(core.findings(false)).await.unwrap().is_empty());

    // A restart: nothing is told again; a new plain trade is the next alert.
    sub.stop().await;
    drop(core);
    let core = dev.core(&sb);
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    let plain = sandbox_trades(
        &sb,
        &merchant_id,
        1,
        serde_json::json!({"status": "success"}),
    )
    .await;
    let next = sub.alert(|_| true).await;
    assert_eq!(
        next.trade_id.as_deref(),
        Some(plain[0].as_str()),
        "{next:?}"
    );
    // Each was marked delivered after its callback: none waits to be told.
    let protection: Vec<Alert> = bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.protection)
        .collect();
    assert_eq!(protection.len(), once.len());
    assert!(protection.iter().all(|a| a.delivered), "{protection:?}");
    sub.stop().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn the_detectors_at_sync_make_the_same_alerts_told_once_at_the_next_subscribe() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, _) = active_shop(&core, &sb, "13800000202").await;
    // The phone learns the registered merchant number and rates, as an app
    // does at launch (no stream here to bring `merchant.activated`).
    bounded(core.refresh_application_status()).await.unwrap();
    for (name, _) in ANOMALIES {
        anomaly(&sb, &merchant_id, name).await;
    }
    // No stream: the sync applies the trades and the detectors find them.
    bounded(core.sync_trades(None)).await.unwrap();
    let findings = findings_by_id(&core).await;
    let codes: HashSet<&str> = findings.values().map(|f| f.code.as_str()).collect();
    for (_, code) in ANOMALIES {
        assert!(codes.contains(code), "{code} missing from {codes:?}");
    }
    let listed: Vec<Alert> = bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.protection)
        .collect();
    assert_eq!(listed.len(), findings.len(), "{listed:?}");
    assert!(listed.iter().all(|a| !a.delivered && a.event_id == 0));

    // The next subscription tells each once, though the stream brings the
    // same trades' events again.
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;
    let told = told_until(
        &mut sub,
        &core,
        &ANOMALIES.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
    )
    .await;
    let told_ids: HashSet<i64> = told.iter().filter_map(|a| a.finding_id).collect();
    assert_eq!(told.len(), told_ids.len());
    assert_eq!(told_ids, findings.keys().copied().collect::<HashSet<_>>());
    let plain = sandbox_trades(
        &sb,
        &merchant_id,
        1,
        serde_json::json!({"status": "success"}),
    )
    .await;
    let next = sub
        .alert(|a| a.protection || a.trade_id.as_deref() == Some(plain[0].as_str()))
        .await;
    assert!(!next.protection, "a finding told again: {next:?}");
    assert_eq!(findings_by_id(&core).await.len(), findings.len());
    sub.stop().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn findings_recorded_outside_events_reach_the_live_listener_at_once() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let (merchant_id, my_sn) = active_shop(&core, &sb, "13800000203").await;
    let mut sub = Subscription::start(&core, quick());
    sub.connected().await;

    // 1. A terminal of another merchant, refused at binding.
    let inv = inventory(&sb).await;
    let theirs = inv
        .terminals
        .iter()
        .find(|t| t.state == "bound" && t.merchant_id.as_deref() != Some(merchant_id.as_str()))
        .expect("another merchant's terminal")
        .clone();
    let e = bounded(core.bind_terminal_by_serial(theirs.sn.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "terminal.owned_by_other");
    let a = sub.alert(|a| a.protection).await;
    assert_protection(&a);
    let f = &findings_by_id(&core).await[&a.finding_id.unwrap()];
    assert_eq!(
        (f.code.as_str(), f.reason.as_str()),
        ("terminal.owned_by_other", "bind_refused")
    );
    assert_eq!(f.subject, theirs.sn);
    // Refused again: the finding is still open, nothing new is told.
    bounded(core.bind_terminal_by_serial(theirs.sn.clone()))
        .await
        .unwrap_err();

    // 2. A day settled short: the settlement's event has the day reconciled
    // in the background, and its finding is told.
    sandbox_control(
        &sb,
        "/sandbox/trades/seed",
        Some(serde_json::json!({"merchant_id": merchant_id, "count": 200, "days": 2, "settle": false})),
    )
    .await;
    let yesterday = sandbox_day_before(&sb, 1).await;
    sandbox_control(
        &sb,
        "/sandbox/settlements",
        Some(serde_json::json!({"merchant_id": merchant_id, "date": yesterday, "shortfall": "12.34"})),
    )
    .await;
    let a = sub.alert(|a| a.protection).await;
    assert_protection(&a);
    let f = &findings_by_id(&core).await[&a.finding_id.unwrap()];
    assert_eq!(f.code, "settlement.shortfall", "{f:?}");
    assert_eq!(f.subject, yesterday);
    let kept = bounded(core.reconciliation(yesterday.clone()))
        .await
        .unwrap()
        .expect("reconciled in the background");
    assert_eq!(kept.status, ReconciliationStatus::Discrepancy);
    assert_eq!(kept.shortfall, Amount::parse("12.34").unwrap());

    // 3. The merchant's own terminal moved to another merchant (an event).
    sandbox_control(
        &sb,
        "/sandbox/terminals/transfer",
        Some(serde_json::json!({"sn": my_sn, "to_phone": "13800000003"})),
    )
    .await;
    let a = sub.alert(|a| a.protection).await;
    assert_protection(&a);
    let f = &findings_by_id(&core).await[&a.finding_id.unwrap()];
    assert_eq!(
        (f.code.as_str(), f.reason.as_str()),
        ("terminal.owned_by_other", "transferred_away")
    );
    assert_eq!(f.subject, my_sn);

    // Each finding has exactly one alert.
    let listed: Vec<i64> = bounded(core.alerts(500, None))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|a| a.finding_id)
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), 3);
    sub.stop().await;
    sb.shutdown().await;
}
