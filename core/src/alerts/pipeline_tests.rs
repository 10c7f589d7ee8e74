//! The one event path on real stores: dedupe by event id and by trade and
//! state, persisted nonces and cursor, protection alerts, delivery once.

use std::sync::{Arc, Mutex};

use merchant_contract::domain;

use super::*;
use crate::alerts::AlertKind;
use crate::findings::{FindingSeverity, NewFinding};
use crate::store::{FileSecretStore, MerchantStore, SecretStore};

fn open_store(dir: &std::path::Path) -> Arc<MerchantStore> {
    let secrets: Arc<dyn SecretStore> =
        FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
    Arc::new(crate::store::open_merchant(&dir.join("data"), "m1", &secrets).unwrap())
}

/// A WeChat sale `n` of 850.00 yuan in `status` at `seq`.
fn sale(n: u64, status: domain::TradeStatus, seq: u64) -> domain::Trade {
    domain::Trade {
        trade_id: format!("T{n:020}"),
        kind: domain::TradeKind::Sale,
        original_trade_id: None,
        channel: "wechat".into(),
        amount: "850.00".into(),
        fee: "3.23".into(),
        rate: "0.38".into(),
        status,
        refunded_amount: "0.00".into(),
        terminal_sn: "LKLA800123455".into(),
        merchant_no: "822290058120001".into(),
        merchant_name: "老王便利店".into(),
        card: None,
        payer: Some(format!("p_{n:06}")),
        reference_no: format!("{:012}", n),
        batch_no: "000001".into(),
        voucher_no: format!("{:06}", n),
        log_no: format!("20250601{:06}", n),
        business_date: "2025-06-01".into(),
        created_at: just_now(),
        updated_at: just_now(),
        change_seq: seq,
    }
}

/// Now, as the platform writes times: the test trades are paid as they
/// are told, so their alerts speak.
fn just_now() -> String {
    chrono::Utc::now()
        .with_timezone(&crate::validate::CHINA)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn event(id: u64, event_type: &str, data: serde_json::Value) -> PushEvent {
    PushEvent {
        event_type: event_type.to_owned(),
        event_id: id,
        merchant_id: Some("m1".to_owned()),
        timestamp: 1_748_741_400,
        occurred_at: "2025-06-01T09:30:00+08:00".to_owned(),
        body_json: data.to_string(),
    }
}

fn trade_event(id: u64, event_type: &str, t: &domain::Trade) -> PushEvent {
    event(id, event_type, serde_json::to_value(t).unwrap())
}

/// `e` through the one path with the composition root's apply.
fn ingest(store: &MerchantStore, e: &PushEvent, source: Source) -> Result<Ingested> {
    ingest_with(store, e, source, None)
}

fn ingest_with(
    store: &MerchantStore,
    e: &PushEvent,
    source: Source,
    nonce: Option<&PushNonce>,
) -> Result<Ingested> {
    let data: serde_json::Value = serde_json::from_str(&e.body_json).unwrap();
    store.db().write(|tx| {
        ingest_in(tx, e, &data, source, nonce, now_ms(), |c| {
            crate::core::apply_in(c, &e.event_type, &data)
        })
    })
}

fn count(store: &MerchantStore, table: &str) -> i64 {
    store
        .db()
        .read(|c| Ok(c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?))
        .unwrap()
}

#[test]
fn the_same_event_twice_is_taken_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let e = trade_event(
        7,
        "trade.created",
        &sale(1, domain::TradeStatus::Success, 3),
    );
    let first = ingest(&store, &e, Source::Push).unwrap();
    assert!(first.fresh);
    assert_eq!(first.alerts.len(), 1);
    let a = &first.alerts[0];
    assert_eq!(a.kind, AlertKind::TradeReceived);
    assert_eq!(a.voice_text, "微信收款八百五十元");
    assert_eq!(a.clips.first().map(String::as_str), Some("wechat_received"));
    assert!(!a.delivered);
    let again = ingest(&store, &e, Source::Stream).unwrap();
    assert_eq!(
        again,
        Ingested {
            fresh: false,
            alerts: vec![]
        }
    );
    assert_eq!(count(&store, "alert"), 1);
}

#[test]
fn one_trade_state_under_two_event_ids_is_one_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let t = sale(1, domain::TradeStatus::Success, 3);
    let by_push = ingest(&store, &trade_event(7, "trade.created", &t), Source::Push).unwrap();
    let by_stream = ingest(&store, &trade_event(8, "trade.updated", &t), Source::Stream).unwrap();
    assert_eq!(by_push.alerts.len(), 1);
    assert!(by_stream.fresh, "another event id");
    assert!(by_stream.alerts.is_empty(), "the same trade and state");
    assert_eq!(count(&store, "alert"), 1);
}

#[test]
fn a_trade_the_feed_synced_first_is_told_once_when_pushed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let t = sale(1, domain::TradeStatus::Success, 3);
    // The sync's own write path, no alerts.
    let records = crate::trades::feed::records(vec![t.clone()]).unwrap();
    store
        .db()
        .write(|tx| crate::trades::store::apply_records(tx, &records, |_, _, _| Ok(())))
        .unwrap();
    let pushed = ingest(&store, &trade_event(9, "trade.created", &t), Source::Push).unwrap();
    assert_eq!(pushed.alerts.len(), 1);
    assert_eq!(
        pushed.alerts[0].trade_id.as_deref(),
        Some(t.trade_id.as_str())
    );
    let streamed = ingest(
        &store,
        &trade_event(10, "trade.created", &t),
        Source::Stream,
    )
    .unwrap();
    assert!(streamed.alerts.is_empty());
}

#[test]
fn a_pending_sale_is_told_when_paid_and_its_refund_after() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let pending = sale(1, domain::TradeStatus::Pending, 1);
    let created = ingest(
        &store,
        &trade_event(1, "trade.created", &pending),
        Source::Stream,
    );
    assert!(created.unwrap().alerts.is_empty(), "nothing paid yet");
    let paid = sale(1, domain::TradeStatus::Success, 2);
    let p = ingest(
        &store,
        &trade_event(2, "trade.updated", &paid),
        Source::Stream,
    )
    .unwrap();
    assert_eq!(p.alerts.len(), 1);
    // A stale copy of the pending state tells nothing.
    let stale = ingest(
        &store,
        &trade_event(3, "trade.updated", &pending),
        Source::Push,
    )
    .unwrap();
    assert!(stale.alerts.is_empty());
    let refund = domain::Trade {
        trade_id: "R00000000000000000001".into(),
        kind: domain::TradeKind::Refund,
        original_trade_id: Some(paid.trade_id.clone()),
        amount: "30.00".into(),
        fee: "0.11".into(),
        change_seq: 4,
        ..paid.clone()
    };
    let sale_after = domain::Trade {
        status: domain::TradeStatus::PartiallyRefunded,
        refunded_amount: "30.00".into(),
        change_seq: 5,
        ..paid.clone()
    };
    let r = ingest(
        &store,
        &event(
            4,
            "trade.refunded",
            serde_json::json!({
                "trade": sale_after,
                "refund": {"refund_id": "R00000000000000000001", "trade_id": paid.trade_id,
                           "amount": "30.00", "fee_returned": "0.11", "reason": null,
                           "created_at": "2025-06-01T09:40:00+08:00"},
                "record": refund,
            }),
        ),
        Source::Stream,
    )
    .unwrap();
    assert_eq!(
        r.alerts.len(),
        1,
        "the refund's record, not the sale's status"
    );
    assert_eq!(r.alerts[0].kind, AlertKind::Refund);
    assert_eq!(r.alerts[0].voice_text, "退款三十元");
    assert!(
        r.alerts[0].id > p.alerts[0].id,
        "delivery order follows the trade"
    );
}

#[test]
fn the_stream_cursor_moves_with_stream_events_only() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let t = sale(1, domain::TradeStatus::Success, 3);
    ingest(&store, &trade_event(5, "trade.created", &t), Source::Push).unwrap();
    assert_eq!(store.db().read(last_event_id).unwrap(), None);
    ingest(
        &store,
        &trade_event(4, "device.registered", &t),
        Source::Stream,
    )
    .unwrap();
    assert_eq!(store.db().read(last_event_id).unwrap(), Some(4));
    // Already taken by push: the stream moves past it without a new alert.
    let again = ingest(&store, &trade_event(5, "trade.created", &t), Source::Stream).unwrap();
    assert!(!again.fresh);
    assert_eq!(store.db().read(last_event_id).unwrap(), Some(5));
    // Never backwards.
    pass_over_in(&store, 2);
    assert_eq!(store.db().read(last_event_id).unwrap(), Some(5));
}

fn pass_over_in(store: &MerchantStore, id: u64) {
    let e = event(id, "trade.created", serde_json::json!({}));
    store
        .db()
        .write(|tx| pass_over(tx, &e, Source::Stream, now_ms()))
        .unwrap();
}

#[test]
fn an_event_its_capability_refuses_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let bad = event(3, "trade.created", serde_json::json!({"n": 1}));
    let nonce = PushNonce {
        nonce: "n1".into(),
        expires_at_ms: now_ms() + 600_000,
    };
    assert!(ingest_with(&store, &bad, Source::Stream, Some(&nonce)).is_err());
    for table in ["seen_event", "alert", "push_nonce", "alert_cursor", "trade"] {
        assert_eq!(count(&store, table), 0, "{table}");
    }
    pass_over_in(&store, 3);
    assert_eq!(count(&store, "seen_event"), 1);
    assert_eq!(count(&store, "alert"), 0);
}

#[test]
fn push_nonces_are_kept_across_a_reopened_store_until_they_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let t = sale(1, domain::TradeStatus::Success, 3);
    let e = trade_event(7, "trade.created", &t);
    let nonce = PushNonce {
        nonce: "abc123".into(),
        expires_at_ms: now_ms() + 300_000,
    };
    {
        let store = open_store(tmp.path());
        ingest_with(&store, &e, Source::Push, Some(&nonce)).unwrap();
        store.db().close();
    }
    let store = open_store(tmp.path());
    let replay = ingest_with(&store, &e, Source::Push, Some(&nonce)).unwrap_err();
    assert!(replay.is(&crate::platform::PUSH_REPLAYED), "got {replay}");
    // An expired nonce is dropped by the next push.
    let old = PushNonce {
        nonce: "old".into(),
        expires_at_ms: now_ms() - 1,
    };
    store
        .db()
        .write(|tx| {
            tx.execute(
                "INSERT INTO push_nonce (nonce, expires_at) VALUES (?1, ?2)",
                params![old.nonce, old.expires_at_ms],
            )?;
            Ok(())
        })
        .unwrap();
    let other = PushNonce {
        nonce: "fresh".into(),
        expires_at_ms: now_ms() + 300_000,
    };
    let dup = ingest_with(&store, &e, Source::Push, Some(&other)).unwrap();
    assert!(!dup.fresh, "a new nonce of the same event is a duplicate");
    assert_eq!(
        count(&store, "push_nonce"),
        2,
        "abc123 and fresh; old pruned"
    );
}

#[test]
fn a_finding_recorded_with_the_event_is_a_protection_alert_that_speaks_despite_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    store
        .db()
        .write(|tx| {
            rules::save(
                tx,
                &rules::AlertSettings {
                    broadcast: false,
                    ..Default::default()
                },
                now_ms(),
            )
        })
        .unwrap();
    let t = sale(1, domain::TradeStatus::Success, 3);
    let e = trade_event(7, "trade.created", &t);
    let data = serde_json::to_value(&t).unwrap();
    let done = store
        .db()
        .write(|tx| {
            ingest_in(tx, &e, &data, Source::Push, None, now_ms(), |c| {
                let facts = crate::core::apply_in(c, &e.event_type, &data)?;
                crate::findings::record(
                    c,
                    &NewFinding {
                        code: "trade.fee_above_rate",
                        reason: "fee",
                        subject: "T00000000000000000001",
                        severity: FindingSeverity::Critical,
                        message_zh: "费率异常".into(),
                        message_en: "Fee above the rate".into(),
                    },
                )?;
                Ok(facts)
            })
        })
        .unwrap();
    assert_eq!(done.alerts.len(), 2);
    assert_eq!(done.alerts[0].kind, AlertKind::TradeReceived);
    assert!(done.alerts[0].voice_text.is_empty(), "broadcast is off");
    assert!(done.alerts[0].clips.is_empty());
    let p = &done.alerts[1];
    assert!(p.protection);
    assert_eq!(p.kind, AlertKind::Protection);
    assert!(p.finding_id.is_some());
    assert!(!p.voice_text.is_empty(), "rules never silence protection");
}

struct Told(Mutex<Vec<i64>>);

impl AlertListener for Told {
    fn on_event(&self, _: PushEvent) -> std::result::Result<(), crate::MerchantError> {
        Ok(())
    }
    fn on_alert(&self, a: Alert) -> std::result::Result<(), crate::MerchantError> {
        self.0.lock().unwrap().push(a.id);
        Ok(())
    }
    fn on_status(
        &self,
        _: crate::alerts::stream::StreamStatus,
    ) -> std::result::Result<(), crate::MerchantError> {
        Ok(())
    }
}

#[test]
fn undelivered_alerts_are_told_once_in_order_even_after_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let told = Told(Mutex::new(Vec::new()));
    {
        let store = open_store(tmp.path());
        for n in 1..=3 {
            let t = sale(n, domain::TradeStatus::Success, n);
            ingest(&store, &trade_event(n, "trade.created", &t), Source::Stream).unwrap();
        }
        store.db().close();
    }
    let store = open_store(tmp.path());
    assert_eq!(flush(&store, &told).unwrap(), 3);
    assert_eq!(flush(&store, &told).unwrap(), 0);
    let t = sale(4, domain::TradeStatus::Success, 4);
    ingest(&store, &trade_event(4, "trade.created", &t), Source::Stream).unwrap();
    flush(&store, &told).unwrap();
    let ids = told.0.lock().unwrap().clone();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    let listed = store.db().read(|c| inbox::list(c, 2, None)).unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), vec![4, 3]);
    assert!(listed.iter().all(|a| a.delivered));
    let older = store.db().read(|c| inbox::list(c, 10, Some(3))).unwrap();
    assert_eq!(older.iter().map(|a| a.id).collect::<Vec<_>>(), vec![2, 1]);
}

#[test]
fn a_pushed_alert_is_delivered_with_its_event_and_never_told_to_the_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let nonce = PushNonce {
        nonce: "n-push".into(),
        expires_at_ms: now_ms() + 300_000,
    };
    let t = sale(1, domain::TradeStatus::Success, 3);
    let pushed = ingest_with(
        &store,
        &trade_event(7, "trade.created", &t),
        Source::Push,
        Some(&nonce),
    )
    .unwrap();
    assert!(pushed.alerts[0].delivered, "the notification the OS shows");
    let t2 = sale(2, domain::TradeStatus::Success, 4);
    ingest(
        &store,
        &trade_event(8, "trade.created", &t2),
        Source::Stream,
    )
    .unwrap();
    let told = Told(Mutex::new(Vec::new()));
    assert_eq!(flush(&store, &told).unwrap(), 1);
    assert_eq!(*told.0.lock().unwrap(), vec![pushed.alerts[0].id + 1]);
}

#[test]
fn a_terminal_taken_away_is_a_status_and_a_protection_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let bound = serde_json::json!({
        "sn": "LKLA800123455", "model": "A8", "firmware": "A8_V2.4.0", "alias": null,
        "status": "active", "role": "main", "main_sn": null,
        "bound_at": "2025-06-01T09:00:00+08:00", "last_trade_at": null
    });
    let b = ingest(&store, &event(1, "terminal.bound", bound), Source::Stream).unwrap();
    assert_eq!(b.alerts.len(), 1);
    assert_eq!(b.alerts[0].kind, AlertKind::Terminal);
    assert!(b.alerts[0].voice_text.is_empty());
    let gone = serde_json::json!({
        "sn": "LKLA800123455", "unbound_at": "2025-06-01T10:00:00+08:00", "reason": "transferred"
    });
    let g = ingest(&store, &event(2, "terminal.unbound", gone), Source::Stream).unwrap();
    let kinds: Vec<_> = g.alerts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, vec![AlertKind::Terminal, AlertKind::Protection]);
    assert!(g.alerts[1].finding_id.is_some());
}

#[test]
fn a_settlement_is_kept_by_trades_and_told() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let s = serde_json::json!({
        "date": "2025-06-01", "trade_count": 2, "refund_count": 0,
        "gross_amount": "200.00", "fee_amount": "0.76", "refund_amount": "0.00",
        "net_amount": "199.24", "settled_amount": "199.24", "account_masked": null,
        "settled_at": "2025-06-02T09:00:00+08:00"
    });
    let done = ingest(&store, &event(1, "settlement.ready", s), Source::Push).unwrap();
    assert_eq!(done.alerts.len(), 1);
    assert_eq!(done.alerts[0].kind, AlertKind::Settlement);
    let kept = store
        .db()
        .read(|c| crate::trades::settlement::stored_settlement(c, "2025-06-01"))
        .unwrap()
        .expect("kept");
    assert_eq!(kept.settled_amount.to_fen(), 19_924);
}

fn finding(conn: &Connection, subject: &str) -> i64 {
    crate::findings::record(
        conn,
        &NewFinding {
            code: "terminal.owned_by_other",
            reason: "bind_refused",
            subject,
            severity: FindingSeverity::Critical,
            message_zh: "终端属于其他商户".into(),
            message_en: "The terminal belongs to another merchant".into(),
        },
    )
    .unwrap()
}

#[test]
fn findings_outside_events_are_told_once_and_an_acknowledged_one_never() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let (a, b) = store
        .db()
        .write(|tx| Ok((finding(tx, "LKLA800123455"), finding(tx, "LKLA800123463"))))
        .unwrap();
    // The merchant saw `b` in the findings list before it was told.
    store
        .db()
        .write(|tx| crate::findings::acknowledge(tx, b))
        .unwrap();
    let ids = store
        .db()
        .write(|tx| tell_findings(tx, 0, now_ms()))
        .unwrap();
    assert_eq!(ids.len(), 1);
    let told = store.db().read(|c| inbox::by_ids(c, &ids)).unwrap();
    assert_eq!(told[0].finding_id, Some(a));
    assert_eq!(told[0].event_id, 0);
    assert!(told[0].protection && !told[0].delivered);
    // Told again: nothing new; the same open finding recorded again is
    // touched, not a new alert.
    store
        .db()
        .write(|tx| Ok(finding(tx, "LKLA800123455")))
        .unwrap();
    let again = store
        .db()
        .write(|tx| tell_findings(tx, 0, now_ms()))
        .unwrap();
    assert!(again.is_empty());
    // `tell` delivers it once to a listener, then nothing.
    let listener = Told(Mutex::new(Vec::new()));
    assert_eq!(tell(&store, &listener).unwrap(), 1);
    assert_eq!(tell(&store, &listener).unwrap(), 0);
    assert_eq!(*listener.0.lock().unwrap(), ids);
}

#[test]
fn seen_event_ids_are_forgotten_after_a_week_but_the_newest_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let now = now_ms();
    let old = now - SEEN_KEPT_MS - 1;
    store
        .db()
        .write(|tx| {
            for (id, at) in [(1, old), (2, old), (3, now)] {
                mark_seen(
                    tx,
                    &event(id, "trade.created", serde_json::json!({})),
                    Source::Stream,
                    at,
                )?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(store.db().write(|tx| prune_seen(tx, now)).unwrap(), 2);
    assert!(!store.db().read(|c| is_seen(c, 1)).unwrap());
    assert!(store.db().read(|c| is_seen(c, 3)).unwrap());
    // Only old ones: the newest is kept anyway.
    let later = now + SEEN_KEPT_MS + 1;
    assert_eq!(store.db().write(|tx| prune_seen(tx, later)).unwrap(), 0);
}

#[test]
fn a_refused_resume_forgets_the_position_and_a_new_platform_the_seen_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    store
        .db()
        .write(|tx| {
            advance_cursor(tx, 41)?;
            mark_seen(
                tx,
                &event(41, "trade.created", serde_json::json!({})),
                Source::Stream,
                now_ms(),
            )
        })
        .unwrap();
    store.db().write(|tx| forget_position(tx, false)).unwrap();
    assert_eq!(store.db().read(last_event_id).unwrap(), None);
    assert!(
        store.db().read(|c| is_seen(c, 41)).unwrap(),
        "the same platform: ids stay"
    );
    store.db().write(|tx| forget_position(tx, true)).unwrap();
    assert!(!store.db().read(|c| is_seen(c, 41)).unwrap());
}
