//! Terminals end to end: the sandbox in-process, MerchantCore driven as an
//! app would: binding by back-QR text, by photo, by typed serial and over
//! Bluetooth LE (a simulated radio, and the real one that has no adapter
//! here), the refusals, the list with main and secondary terminals kept for
//! offline use, and terminal events applied through the one event path.

use std::sync::{Arc, Mutex};

use merchant_contract::domain::sandbox::{Inventory, InventoryTerminal};
use merchant_contract::wire::sandbox::OutboxItem;
use merchant_core::session::PushProvider;
use merchant_core::terminals::ble::{
    BleScanListener, BleScanner, BleTerminalSeen, SimulatedAdapter, SimulatedCentral,
    SimulatedTerminal,
};
use merchant_core::terminals::{BindOutcome, TerminalRole, TerminalStatus, TerminalUpdate};
use merchant_core::{CoreConfig, MerchantCore, MerchantError};
use merchant_sandbox::RunningSandbox;

mod common;
use common::*;

/// The sandbox's seeded active merchant.
const ACTIVE: &str = "13800000001";

/// Terminals bound to merchants other than `me`.
fn others(inv: &Inventory, me: &str) -> Vec<InventoryTerminal> {
    inv.terminals
        .iter()
        .filter(|t| t.state == "bound" && t.merchant_id.as_deref() != Some(me))
        .cloned()
        .collect()
}

/// "LKLA800123455" as a merchant might type it: lower case, dashes, spaces.
fn sloppy(sn: &str) -> String {
    let lower = sn.to_ascii_lowercase();
    format!(" {}-{} {} ", &lower[..3], &lower[3..8], &lower[8..])
}

#[tokio::test]
async fn binds_by_qr_and_serial_keeps_main_and_secondary_and_shows_the_list_offline() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    fresh_active_merchant(&core, &sb, "13900139001").await;
    let inv = inventory(&sb).await;
    let free = free(&inv);
    let (first, second, third) = (&free[0], &free[1], &free[2]);

    // The back QR, as the camera read it.
    let parsed = core.parse_terminal_qr(first.qr_text.clone()).unwrap();
    assert_eq!(parsed.sn, first.sn);
    assert!(parsed.sig.is_some());
    let bound = bounded(core.bind_terminal_by_qr(first.qr_text.clone()))
        .await
        .expect("bound by QR");
    assert_eq!(bound.outcome, BindOutcome::Bound);
    assert_eq!(bound.terminal.sn, first.sn);
    assert_eq!(
        bound.terminal.role,
        TerminalRole::Main,
        "the first terminal is the main"
    );
    assert_eq!(bound.terminal.status, TerminalStatus::Active);
    // The same QR again: already the merchant's, nothing changes.
    let again = bounded(core.bind_terminal_by_qr(first.qr_text.clone()))
        .await
        .unwrap();
    assert_eq!(again.outcome, BindOutcome::AlreadyYours);
    assert_eq!(again.terminal.bound_at_ms, bound.terminal.bound_at_ms);

    // A typed serial, sloppily: normalised before it leaves.
    let checked = bounded(core.check_terminal_serial(sloppy(&second.sn)))
        .await
        .unwrap();
    assert_eq!(checked.sn, second.sn);
    let by_sn = bounded(core.bind_terminal_by_serial(sloppy(&second.sn)))
        .await
        .expect("bound by serial");
    assert_eq!(by_sn.outcome, BindOutcome::Bound);
    assert_eq!(by_sn.terminal.role, TerminalRole::Secondary);
    assert_eq!(by_sn.terminal.main_sn.as_deref(), Some(first.sn.as_str()));
    bounded(core.bind_terminal_by_serial(third.sn.clone()))
        .await
        .unwrap();

    // Rename the main; make the third a main of its own.
    let renamed = bounded(core.update_terminal(
        first.sn.clone(),
        TerminalUpdate {
            alias: Some("  收银台1号 ".to_owned()),
            role: TerminalRole::Main,
            main_sn: None,
        },
    ))
    .await
    .expect("renamed");
    assert_eq!(renamed.alias.as_deref(), Some("收银台1号"));
    let promoted = bounded(core.update_terminal(
        third.sn.clone(),
        TerminalUpdate {
            alias: Some("二楼".to_owned()),
            role: TerminalRole::Main,
            main_sn: None,
        },
    ))
    .await
    .unwrap();
    assert_eq!(promoted.role, TerminalRole::Main);
    assert_eq!(promoted.main_sn, None);

    // A secondary must name a main of the merchant's: not itself.
    let e = bounded(core.update_terminal(
        second.sn.clone(),
        TerminalUpdate {
            alias: None,
            role: TerminalRole::Secondary,
            main_sn: Some(second.sn.clone()),
        },
    ))
    .await
    .unwrap_err();
    assert!(
        e.code() == "terminal.main_invalid"
            || e.problems()
                .iter()
                .any(|p| p.code == "terminal.main_invalid"),
        "{e:?}"
    );

    // A main with a secondary cannot be unbound until it is moved.
    let e = bounded(core.unbind_terminal(first.sn.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "terminal.main_has_secondaries");
    assert!(matches!(e, MerchantError::Conflict { .. }), "{e:?}");
    bounded(core.update_terminal(
        second.sn.clone(),
        TerminalUpdate {
            alias: None,
            role: TerminalRole::Secondary,
            main_sn: Some(third.sn.clone()),
        },
    ))
    .await
    .expect("moved under the other main");
    bounded(core.unbind_terminal(first.sn.clone()))
        .await
        .expect("unbound once it has no secondaries");

    let list = bounded(core.terminals()).await.unwrap();
    let sns: Vec<&str> = list.iter().map(|t| t.sn.as_str()).collect();
    assert_eq!(
        sns,
        vec![third.sn.as_str(), second.sn.as_str(), first.sn.as_str()],
        "the main, its secondary, then the one that left"
    );
    assert_eq!(list[2].status, TerminalStatus::Unbound);
    assert!(list[2].unbound_at_ms.is_some());
    assert_eq!(list[1].main_sn.as_deref(), Some(third.sn.as_str()));
    assert_eq!(bounded(core.refresh_terminals()).await.unwrap(), list);

    // The platform goes away and the app restarts: the list is still there.
    let offline_config = CoreConfig {
        platform_url: "https://127.0.0.1:9".to_owned(),
        ..dev.config(&sb)
    };
    sb.shutdown().await;
    drop(core);
    let offline = dev.core_with(offline_config);
    let kept = bounded(offline.terminals()).await.unwrap();
    assert_eq!(kept, list);
    assert_eq!(kept[0].alias.as_deref(), Some("二楼"));
}

#[tokio::test]
async fn another_merchants_terminal_is_refused_loudly_and_recorded() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let me = sign_in(&core, &sb, ACTIVE).await;
    let inv = inventory(&sb).await;
    let theirs = &others(&inv, &me.merchant_id)[0];

    let e = bounded(core.bind_terminal_by_qr(theirs.qr_text.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "terminal.owned_by_other");
    assert!(matches!(e, MerchantError::Conflict { .. }), "{e:?}");
    assert!(
        e.to_string().contains("核实机主"),
        "advice to verify the owner: {e}"
    );
    // Typing its serial instead is refused the same way, one open finding.
    let e = bounded(core.bind_terminal_by_serial(theirs.sn.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "terminal.owned_by_other");
    let findings = bounded(core.findings(false)).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].code, "terminal.owned_by_other");
    assert_eq!(findings[0].subject, theirs.sn);
    assert!(findings[0].message.contains(&theirs.sn));
    bounded(core.acknowledge_finding(findings[0].id))
        .await
        .unwrap();
    assert!(bounded(core.findings(false)).await.unwrap().is_empty());
    assert_eq!(bounded(core.findings(true)).await.unwrap().len(), 1);
    assert!(
        bounded(core.terminals())
            .await
            .unwrap()
            .iter()
            .all(|t| t.sn != theirs.sn)
    );

    // An unknown serial, and a merchant that is not active yet.
    let e = bounded(core.bind_terminal_by_serial(inv.unknown_sns[0].clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "terminal.not_found");
    let newcomer = Device::new();
    let new_core = newcomer.core(&sb);
    sign_in(&new_core, &sb, "13800138000").await;
    let e = bounded(new_core.bind_terminal_by_qr(free(&inv)[0].qr_text.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "merchant.not_active");
    sb.shutdown().await;
}

#[tokio::test]
async fn phishing_qrs_and_bad_serials_are_refused_on_the_phone() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    sign_in(&core, &sb, ACTIVE).await;
    let inv = inventory(&sb).await;
    let sn = &free(&inv)[0].sn;
    for (text, code) in [
        (
            format!(
                "https://qr.sandbox.lakala.example.evil.com/activate?sn={sn}&sig=0011223344556677"
            ),
            "qr.untrusted_host",
        ),
        (
            format!("http://qr.sandbox.lakala.example/activate?sn={sn}&sig=0011223344556677"),
            "qr.insecure",
        ),
        ("今天天气不错".to_owned(), "qr.unrecognised"),
    ] {
        let e = bounded(core.bind_terminal_by_qr(text)).await.unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
    }
    let mut wrong = sn.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let e = bounded(core.bind_terminal_by_serial(wrong))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "serial.check_digit");

    // With the platform's model list on the phone, an unknown model is caught offline.
    let models = bounded(core.refresh_terminal_models()).await.unwrap();
    assert!(!models.is_empty());
    assert!(models.iter().any(|m| !m.has_bluetooth));
    let e = bounded(core.check_terminal_serial("LKLZZ00123455".to_owned()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "serial.model_unknown");
    assert!(
        bounded(core.terminals()).await.unwrap().is_empty(),
        "nothing was bound"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn binds_by_a_photo_of_the_back_qr() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    sign_in(&core, &sb, ACTIVE).await;
    let inv = inventory(&sb).await;
    let target = &free(&inv)[0];
    let photo = qr_photo(&target.qr_text, 1600);
    let read = bounded(core.scan_terminal_qr(photo.clone())).await.unwrap();
    assert_eq!(read.sn, target.sn);
    let bound = bounded(core.bind_terminal_by_qr_photo(photo))
        .await
        .unwrap();
    assert_eq!(bound.outcome, BindOutcome::Bound);
    assert_eq!(bound.terminal.sn, target.sn);

    // A back QR with other parameters, in another order: read on the phone,
    // and the platform reads it the same.
    let third = &free(&inv)[2];
    let (_, sig) = third.qr_text.split_once("&sig=").unwrap();
    let reordered = format!(
        "https://QR.Sandbox.Lakala.Example./activate?model=A8&sig={sig}&batch=7&sn={}",
        third.sn
    );
    let bound = bounded(core.bind_terminal_by_qr(reordered)).await.unwrap();
    assert_eq!(bound.terminal.sn, third.sn);

    // A sticker forged for another terminal (the platform's host, a made-up
    // sig): the photo is read, and the platform refuses its signature.
    let other = &free(&inv)[1];
    let forged = format!(
        "https://qr.sandbox.lakala.example/activate?sn={}&sig=0000000000000000",
        other.sn
    );
    let e = bounded(core.bind_terminal_by_qr_photo(qr_photo(&forged, 1600)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "terminal.qr_invalid", "{e:?}");

    let e = bounded(core.scan_terminal_qr(b"not an image".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "photo.not_image");
    // A camera-like photo with no code in it.
    let blank = merchant_core::media::sample::camera_photo(1600, 1200, 9, 1);
    let e = bounded(core.scan_terminal_qr(blank)).await.unwrap_err();
    assert_eq!(e.code(), "qr.not_found");
    sb.shutdown().await;
}

/// A photo (JPEG) of a back QR holding `text`, drawn as the sandbox draws
/// its terminals' back photos (`GET /sandbox/terminals/{sn}/back-photo`).
fn qr_photo(text: &str, width: u32) -> Vec<u8> {
    merchant_sandbox::domain::back_photo::draw(text, width, 8.0).expect("drawn")
}

/// Collects what a BLE scan reports.
#[derive(Default)]
struct Seen {
    terminals: Mutex<Vec<BleTerminalSeen>>,
    finished: Mutex<Vec<Option<MerchantError>>>,
    done: tokio::sync::Notify,
}

impl BleScanListener for Seen {
    fn on_terminal(&self, seen: BleTerminalSeen) -> Result<(), MerchantError> {
        self.terminals.lock().unwrap().push(seen);
        Ok(())
    }
    fn on_finished(&self, error: Option<MerchantError>) -> Result<(), MerchantError> {
        self.finished.lock().unwrap().push(error);
        self.done.notify_one();
        Ok(())
    }
}

#[tokio::test]
async fn binds_over_bluetooth_with_a_simulated_terminal() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let inv = inventory(&sb).await;
    let target = free(&inv)[0].clone();
    let central = SimulatedCentral::new(
        SimulatedAdapter::Ready,
        vec![SimulatedTerminal::new(
            "AA:BB:CC:00:00:01",
            &target.sn,
            &target.model,
            &target.firmware,
        )],
    );
    let core = MerchantCore::with_ble(
        dev.config(&sb),
        dev.secrets(),
        BleScanner::new(Arc::new(central)),
    )
    .unwrap();
    sign_in(&core, &sb, ACTIVE).await;

    let seen = Arc::new(Seen::default());
    let handle = core.scan_terminals_ble(5_000, seen.clone()).unwrap();
    bounded(seen.done.notified()).await;
    drop(handle);
    let found = seen.terminals.lock().unwrap().clone();
    assert_eq!(found.len(), 1);
    assert_eq!(seen.finished.lock().unwrap().len(), 1);
    let info = bounded(core.read_terminal_ble(found[0].device_id.clone()))
        .await
        .unwrap();
    assert_eq!(info.serial, target.sn);
    let bound = bounded(core.bind_terminal_by_ble(found[0].device_id.clone()))
        .await
        .expect("bound over BLE");
    assert_eq!(bound.outcome, BindOutcome::Bound);
    assert_eq!(bound.terminal.sn, target.sn);
    sb.shutdown().await;
}

#[tokio::test]
async fn the_real_radio_without_an_adapter_is_a_typed_bluetooth_error() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let seen = Arc::new(Seen::default());
    let _handle = core.scan_terminals_ble(3_000, seen.clone()).unwrap();
    bounded(seen.done.notified()).await;
    let finished = seen.finished.lock().unwrap().clone();
    let err = finished[0].clone().expect("the scan failed");
    assert!(matches!(err, MerchantError::Bluetooth { .. }), "{err:?}");
    assert!(err.code().starts_with("bluetooth."), "{err:?}");
    let e = bounded(core.read_terminal_ble("AA:BB".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(e, MerchantError::Bluetooth { .. }), "{e:?}");
    sb.shutdown().await;
}

/// The events the sandbox pushed to `merchant_id` after `after`.
async fn pushed(sb: &RunningSandbox, merchant_id: &str, after: u64) -> Vec<OutboxItem> {
    outbox(sb, merchant_id)
        .await
        .into_iter()
        .filter(|i| i.outbox_id > after)
        .collect()
}

#[tokio::test]
async fn terminal_events_update_the_list_and_a_terminal_taken_away_is_a_finding() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let me = sign_in(&core, &sb, ACTIVE).await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm-terminals".to_owned()))
        .await
        .unwrap();
    let inv = inventory(&sb).await;
    let (a, b) = (&free(&inv)[0], &free(&inv)[1]);
    bounded(core.bind_terminal_by_serial(a.sn.clone()))
        .await
        .unwrap();
    bounded(core.bind_terminal_by_serial(b.sn.clone()))
        .await
        .unwrap();
    let mark = pushed(&sb, &me.merchant_id, 0)
        .await
        .last()
        .map_or(0, |i| i.outbox_id);

    // The platform freezes A and moves B to another merchant.
    sandbox_control(
        &sb,
        "/sandbox/terminals/freeze",
        Some(serde_json::json!({"sn": a.sn, "frozen": true})),
    )
    .await;
    sandbox_control(
        &sb,
        "/sandbox/terminals/transfer",
        Some(serde_json::json!({"sn": b.sn, "to_phone": "13800000003"})),
    )
    .await;
    let items = pushed(&sb, &me.merchant_id, mark).await;
    let types: Vec<&str> = items.iter().map(|i| i.event_type.as_str()).collect();
    assert_eq!(types, vec!["terminal.frozen", "terminal.unbound"]);
    for item in &items {
        let event = core.verify_push(item.payload.clone()).unwrap();
        bounded(core.apply_event(event)).await.expect("applied");
    }
    let list = bounded(core.terminals()).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].sn, a.sn);
    assert_eq!(list[0].status, TerminalStatus::Frozen);
    assert_eq!(list[1].sn, b.sn);
    assert_eq!(list[1].status, TerminalStatus::Unbound, "kept as history");
    let findings = bounded(core.findings(false)).await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, "terminal.owned_by_other");
    assert_eq!(findings[0].reason, "transferred_away");
    assert_eq!(findings[0].subject, b.sn);

    // Unfrozen: the list follows.
    sandbox_control(
        &sb,
        "/sandbox/terminals/freeze",
        Some(serde_json::json!({"sn": a.sn, "frozen": false})),
    )
    .await;
    let mark = items.last().unwrap().outbox_id;
    for item in pushed(&sb, &me.merchant_id, mark).await {
        let event = core.verify_push(item.payload.clone()).unwrap();
        bounded(core.apply_event(event)).await.unwrap();
    }
    assert_eq!(
        bounded(core.terminals()).await.unwrap()[0].status,
        TerminalStatus::Active
    );
    sb.shutdown().await;
}
