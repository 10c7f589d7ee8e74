//! What the merchant's alerts need from the platform: push tokens that can
//! be unregistered and rotated (the outbox proves where each push went),
//! the speaker role, and every domain event on both the stream and push.

mod common;
mod domain_common;

use std::collections::BTreeSet;

use common::*;
use domain_common::*;
use merchant_contract::SignedPush;
use merchant_contract::wire::sandbox::OutboxItem;
use merchant_contract::wire::{Event, Page, PushToken, Speaker, SpeakerChanged};
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::json;

/// The merchant's outbox items after `after` (an outbox id), every page.
async fn outbox_after(app: &App, after: u64) -> Vec<OutboxItem> {
    let m = app.merchant_id.clone().unwrap();
    let mut cursor = after.to_string();
    let mut out = Vec::new();
    loop {
        let page: Page<OutboxItem> = ok(app
            .open_get(&format!(
                "/sandbox/outbox?merchant_id={m}&cursor={cursor}&limit=200"
            ))
            .await)
        .parse();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = c,
            None => return out,
        }
    }
}

async fn outbox_head(app: &App) -> u64 {
    outbox_after(app, 0)
        .await
        .last()
        .map(|i| i.outbox_id)
        .unwrap_or(0)
}

/// The event inside an outbox item, its signature verified.
fn pushed_event(app: &App, item: &OutboxItem) -> Event {
    let push = SignedPush::parse(&item.payload).expect("payload parses");
    push.verify(&app.platform).expect("payload verifies");
    let e: Event = serde_json::from_str(&push.body).expect("event");
    assert_eq!(e.event_id, item.event_id);
    assert_eq!(e.event_type, item.event_type);
    e
}

async fn register_token(app: &App, token: &str) -> PushToken {
    let t: PushToken = ok(app
        .write(
            Method::POST,
            "/v1/push-tokens",
            Some(json!({"provider": "fcm", "token": token})),
        )
        .await)
    .parse();
    assert_eq!(t.token, token);
    assert!(t.token_id.starts_with("ptk_") && t.token_id.len() == 20);
    t
}

/// A second phone of the same merchant, signed in and registered.
async fn second_phone(sandbox: &merchant_sandbox::RunningSandbox, phone: &str) -> App {
    let mut b = App::new(sandbox);
    // The first phone's code was spent; a minute later another may be sent.
    ok(b.open_post("/sandbox/clock", json!({"advance_secs": 61}))
        .await);
    b.sign_in(phone).await;
    b.register_device().await;
    b
}

#[tokio::test]
async fn an_unregistered_token_gets_nothing_from_the_next_event_on() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345701").await;
    let one = register_token(&a, "fcm:token-one").await;
    let two = register_token(&a, "fcm:token-two").await;
    // Registering the same value again is the same registration.
    assert_eq!(
        register_token(&a, "fcm:token-one").await.token_id,
        one.token_id
    );
    let listed: Page<PushToken> = ok(a.get("/v1/push-tokens").await).parse();
    assert_eq!(listed.items.len(), 2);

    let head = outbox_head(&a).await;
    let first = a.inject(1).await;
    let items = outbox_after(&a, head).await;
    let to: BTreeSet<_> = items.iter().map(|i| i.token_id.clone()).collect();
    assert_eq!(
        to,
        BTreeSet::from([one.token_id.clone(), two.token_id.clone()])
    );
    assert!(items.iter().all(|i| i.event_id == first));

    ok(a.write(
        Method::DELETE,
        &format!("/v1/push-tokens/{}", one.token_id),
        None,
    )
    .await);
    let head = outbox_head(&a).await;
    let second = a.inject(2).await;
    let items = outbox_after(&a, head).await;
    assert_eq!(items.len(), 1, "only the token left receives");
    assert_eq!(items[0].token_id, two.token_id);
    assert_eq!(items[0].token, "fcm:token-two");
    assert_eq!(pushed_event(&a, &items[0]).event_id, second);

    // Gone: a second unregister with a new key is 404; a retry with the
    // first key replays the first answer.
    a.write(
        Method::DELETE,
        &format!("/v1/push-tokens/{}", one.token_id),
        None,
    )
    .await
    .expect_error(404, "resource.not_found");
    let key = "retry-key-0123456789".to_owned();
    let path = format!("/v1/push-tokens/{}", two.token_id);
    let first_answer = a
        .call(
            Method::DELETE,
            &path,
            None,
            &[("idempotency-key", key.clone())],
        )
        .await;
    assert_eq!(first_answer.status, 200);
    let replay = a
        .call(Method::DELETE, &path, None, &[("idempotency-key", key)])
        .await;
    assert_eq!(replay.status, 200);
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let head = outbox_head(&a).await;
    a.inject(3).await;
    assert!(outbox_after(&a, head).await.is_empty(), "no token: no push");
    let listed: Page<PushToken> = ok(a.get("/v1/push-tokens").await).parse();
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn another_devices_or_merchants_token_is_not_found() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345702").await;
    let other = App::ready(&sandbox, "13912345703").await;
    let t = register_token(&a, "apns-token-a").await;
    let b = second_phone(&sandbox, "13912345702").await;
    let path = format!("/v1/push-tokens/{}", t.token_id);
    for app in [&other, &b] {
        app.write(Method::DELETE, &path, None)
            .await
            .expect_error(404, "resource.not_found");
        app.write(
            Method::PUT,
            &path,
            Some(json!({"provider": "apns", "token": "stolen"})),
        )
        .await
        .expect_error(404, "resource.not_found");
    }
    a.write(Method::DELETE, "/v1/push-tokens/ptk_0000000000000000", None)
        .await
        .expect_error(404, "resource.not_found");
    // Still a's, still receiving.
    let head = outbox_head(&a).await;
    a.inject(1).await;
    let items = outbox_after(&a, head).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].token, "apns-token-a");
    // A bad new value is refused, the old one kept.
    let e = a
        .write(
            Method::PUT,
            &path,
            Some(json!({"provider": "apns", "token": "bad token!"})),
        )
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "token");
}

#[tokio::test]
async fn a_rotation_moves_delivery_from_the_old_value_to_the_new_at_once() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345704").await;
    let t = register_token(&a, "fcm:old-value").await;
    let before = a.inject(1).await;
    let head = outbox_head(&a).await;

    let path = format!("/v1/push-tokens/{}", t.token_id);
    let body = json!({"provider": "fcm", "token": "fcm:new-value"});
    let key = "rotate-key-0123456789".to_owned();
    let r = a
        .call(
            Method::PUT,
            &path,
            Some(body.clone()),
            &[("idempotency-key", key.clone())],
        )
        .await;
    let rotated: PushToken = ok(r).parse();
    assert_eq!(
        rotated.token_id, t.token_id,
        "the registration keeps its id"
    );
    assert_eq!(rotated.token, "fcm:new-value");
    assert_eq!(rotated.registered_at, t.registered_at);
    // The retry of the same rotation replays it.
    let again = a
        .call(Method::PUT, &path, Some(body), &[("idempotency-key", key)])
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.parse::<PushToken>(), rotated);

    let after: Vec<u64> = vec![a.inject(2).await, a.inject(3).await];
    let items = outbox_after(&a, head).await;
    assert_eq!(items.len(), 2, "one push per event, to one value");
    for (item, id) in items.iter().zip(&after) {
        assert_eq!(item.token, "fcm:new-value");
        assert_eq!(item.token_id, t.token_id);
        assert_eq!(pushed_event(&a, item).event_id, *id);
    }
    // The old value got the event before the rotation and nothing after.
    let old: Vec<u64> = outbox_after(&a, 0)
        .await
        .iter()
        .filter(|i| i.token == "fcm:old-value")
        .map(|i| i.event_id)
        .collect();
    assert_eq!(old, vec![before]);

    // Rotating onto a value registered elsewhere folds it in: one push.
    let other = register_token(&a, "fcm:third").await;
    let r: PushToken = ok(a
        .write(
            Method::PUT,
            &path,
            Some(json!({"provider": "fcm", "token": "fcm:third"})),
        )
        .await)
    .parse();
    assert_eq!(r.token_id, t.token_id);
    let listed: Page<PushToken> = ok(a.get("/v1/push-tokens").await).parse();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].token, "fcm:third");
    assert_ne!(listed.items[0].token_id, other.token_id);
    let head = outbox_head(&a).await;
    a.inject(4).await;
    assert_eq!(outbox_after(&a, head).await.len(), 1);
}

fn speaker_event(app: &App, item: &OutboxItem) -> SpeakerChanged {
    let e = pushed_event(app, item);
    assert_eq!(e.event_type, "speaker.changed");
    serde_json::from_value(e.data).expect("speaker.changed data")
}

#[tokio::test]
async fn one_device_speaks_and_the_others_hear_when_it_changes() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345705").await;
    let b = second_phone(&sandbox, "13912345705").await;
    let devices: Page<merchant_contract::wire::Device> = ok(a.get("/v1/devices").await).parse();
    let id_of = |serial: &str| {
        devices
            .items
            .iter()
            .find(|d| d.serial_no == serial)
            .map(|d| d.device_id.clone())
            .expect("device listed")
    };
    let (a_id, b_id) = (id_of(a.key.serial_no()), id_of(b.key.serial_no()));
    register_token(&b, "fcm:phone-b").await;

    let nobody: Speaker = ok(a.get("/v1/speaker").await).parse();
    assert_eq!(
        nobody,
        Speaker {
            device_id: None,
            claimed_at: None,
            current: false
        }
    );

    // A claims: the stream and B's push both say so.
    let mut b_stream = b.events(None).await;
    let head = outbox_head(&a).await;
    let claimed: Speaker = ok(a.write(Method::PUT, "/v1/speaker", Some(json!({}))).await).parse();
    assert_eq!(claimed.device_id.as_deref(), Some(a_id.as_str()));
    assert!(claimed.current && claimed.claimed_at.is_some());
    let seen_by_b: Speaker = ok(b.get("/v1/speaker").await).parse();
    assert_eq!(seen_by_b.device_id, claimed.device_id);
    assert!(!seen_by_b.current);
    let pushes = outbox_after(&a, head).await;
    assert_eq!(pushes.len(), 1);
    let change = speaker_event(&b, &pushes[0]);
    assert_eq!(change.device_id.as_deref(), Some(a_id.as_str()));
    assert_eq!(change.claimed_at, claimed.claimed_at);
    assert_eq!(change.reason, "claimed");
    let streamed = loop {
        let f = b_stream.next_event().await.expect("stream open");
        let e = b.open_event(&f);
        if e.event_type == "speaker.changed" {
            break e;
        }
    };
    assert_eq!(streamed.event_id, pushes[0].event_id);

    // Claiming again changes nothing and emits nothing.
    let head = outbox_head(&a).await;
    let again: Speaker = ok(a.write(Method::PUT, "/v1/speaker", Some(json!({}))).await).parse();
    assert_eq!(again, claimed);
    assert!(outbox_after(&a, head).await.is_empty());

    // B takes it over.
    let taken: Speaker = ok(b.write(Method::PUT, "/v1/speaker", Some(json!({}))).await).parse();
    assert_eq!(taken.device_id.as_deref(), Some(b_id.as_str()));
    let pushes = outbox_after(&a, head).await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        speaker_event(&b, &pushes[0]).device_id.as_deref(),
        Some(b_id.as_str())
    );
    let seen_by_a: Speaker = ok(a.get("/v1/speaker").await).parse();
    assert!(!seen_by_a.current);

    // A releasing a role it does not hold changes nothing.
    let head = outbox_head(&a).await;
    let r: Speaker = ok(a.write(Method::DELETE, "/v1/speaker", None).await).parse();
    assert_eq!(r.device_id.as_deref(), Some(b_id.as_str()));
    assert!(outbox_after(&a, head).await.is_empty());

    // B releases: nobody speaks, and the event says so.
    let r: Speaker = ok(b.write(Method::DELETE, "/v1/speaker", None).await).parse();
    assert_eq!(r.device_id, None);
    let pushes = outbox_after(&a, head).await;
    let change = speaker_event(&b, &pushes[0]);
    assert_eq!(
        (change.device_id, change.claimed_at, change.reason.as_str()),
        (None, None, "released")
    );
}

#[tokio::test]
async fn a_removed_or_signed_out_speaker_loses_the_role() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345706").await;
    let b = second_phone(&sandbox, "13912345706").await;
    register_token(&a, "fcm:phone-a").await;
    let claimed: Speaker = ok(b.write(Method::PUT, "/v1/speaker", Some(json!({}))).await).parse();
    let b_id = claimed.device_id.clone().unwrap();
    let head = outbox_head(&a).await;
    ok(
        a.write(Method::DELETE, &format!("/v1/devices/{b_id}"), None)
            .await,
    );
    let pushes = outbox_after(&a, head).await;
    assert_eq!(pushes.len(), 1);
    let change = speaker_event(&a, &pushes[0]);
    assert_eq!(change.device_id, None);
    assert_eq!(change.reason, "device_removed");
    let now: Speaker = ok(a.get("/v1/speaker").await).parse();
    assert_eq!(now.device_id, None);

    // A claims, then signs out: the role goes with it.
    ok(a.write(Method::PUT, "/v1/speaker", Some(json!({}))).await);
    let c = second_phone(&sandbox, "13912345706").await;
    register_token(&c, "fcm:phone-c").await;
    let head = outbox_head(&a).await;
    ok(a.post("/v1/auth/sign-out", json!({})).await);
    let pushes = outbox_after(&c, head).await;
    assert_eq!(pushes.len(), 1, "only c's token is left");
    let change = speaker_event(&c, &pushes[0]);
    assert_eq!(
        (change.device_id, change.reason.as_str()),
        (None, "signed_out")
    );
    let now: Speaker = ok(c.get("/v1/speaker").await).parse();
    assert_eq!(now.device_id, None);
}

/// Every event type the alerts use reaches the stream and push alike, each
/// event once on each, from the domain's own paths.
#[tokio::test]
async fn domain_events_reach_both_the_stream_and_push() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345707").await;
    let mid = app.merchant_id.clone().unwrap();
    register_token(&app, "fcm:counter-phone").await;
    let mut stream = app.events(None).await;

    // merchant.activated
    ok(app
        .open_post("/sandbox/merchants/activate", json!({"merchant_id": mid}))
        .await);
    // terminal.bound, terminal.updated
    let terminals = bind_free(&app, 2).await;
    ok(app
        .write(
            Method::PUT,
            &format!("/v1/terminals/{}", terminals[1].sn),
            Some(json!({"alias": "收银台二号", "role": "secondary", "main_sn": terminals[0].sn})),
        )
        .await);
    // terminal.frozen, terminal.unfrozen
    for frozen in [true, false] {
        ok(app
            .open_post(
                "/sandbox/terminals/freeze",
                json!({"sn": terminals[1].sn, "frozen": frozen}),
            )
            .await);
    }
    // trade.created, trade.refunded
    let sale = inject(&app, json!({"channel": "wechat", "amount": "120.00"})).await;
    ok(app
        .open_post(
            "/sandbox/refunds",
            json!({"merchant_id": mid, "trade_id": sale.trades[0].trade_id, "amount": "20.00"}),
        )
        .await);
    // trade.voided (a card sale of today)
    let card = inject(&app, json!({"channel": "debit_card", "amount": "300.00"})).await;
    ok(app
        .write(
            Method::POST,
            &format!("/v1/trades/{}/void", card.trades[0].trade_id),
            Some(json!({})),
        )
        .await);
    // trade.updated (a pending scan code resolves as the clock moves)
    inject(&app, json!({"channel": "alipay", "status": "pending"})).await;
    advance_clock(&app, 61).await;
    // terminal.unbound (moved to another merchant)
    ok(app
        .open_post(
            "/sandbox/terminals/transfer",
            json!({"sn": terminals[1].sn, "to_phone": "13800000003"}),
        )
        .await);
    // settlement.ready: a finished day with a trade, settled by the control.
    let yesterday = chrono::DateTime::from_timestamp(sandbox_now(&app).await - 86_400, 0)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    let at = yesterday.format("%Y-%m-%dT12:00:00+08:00").to_string();
    inject(&app, json!({"at": at})).await;
    ok(app
        .open_post(
            "/sandbox/settlements",
            json!({"merchant_id": mid, "date": yesterday.format("%Y-%m-%d").to_string()}),
        )
        .await);
    let last = app.inject(0).await;

    let mut streamed = Vec::new();
    loop {
        let f = stream.next_event().await.expect("stream open");
        let e = app.open_event(&f);
        streamed.push((e.event_id, e.event_type));
        if e.event_id == last {
            break;
        }
    }
    let pushed: Vec<(u64, String)> = outbox_after(&app, 0)
        .await
        .iter()
        .map(|i| (pushed_event(&app, i).event_id, i.event_type.clone()))
        .collect();
    // Push starts at the token's registration; from there the two agree,
    // event by event.
    let from = pushed.first().map(|p| p.0).unwrap();
    let streamed_since: Vec<_> = streamed.iter().filter(|s| s.0 >= from).cloned().collect();
    assert_eq!(streamed_since, pushed);
    let types: BTreeSet<&str> = pushed.iter().map(|p| p.1.as_str()).collect();
    for t in [
        "merchant.activated",
        "terminal.bound",
        "terminal.updated",
        "terminal.frozen",
        "terminal.unfrozen",
        "terminal.unbound",
        "trade.created",
        "trade.refunded",
        "trade.voided",
        "trade.updated",
        "settlement.ready",
    ] {
        assert!(types.contains(t), "{t} was not pushed: {types:?}");
    }
}
