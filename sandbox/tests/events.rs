//! The live stream and the push outbox: resume after a disconnect delivers
//! every event exactly once, in order, each one signed.

mod common;

use std::time::Duration;

use common::*;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::json;

/// Reads events until `until` (inclusive); returns their ids in order.
async fn read_until(app: &App, stream: &mut SseReader, until: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    loop {
        let frame = stream.next_event().await.expect("stream still open");
        let event = app.open_event(&frame);
        assert_eq!(Some(&event.merchant_id), app.merchant_id.as_ref());
        ids.push(event.event_id);
        if event.event_id >= until {
            return ids;
        }
    }
}

#[tokio::test]
async fn resume_after_disconnect_delivers_every_event_exactly_once() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345620").await;
    // Event 1 is the device registration; then three trades.
    let mut last = 0;
    for n in 0..3 {
        last = app.inject(n).await;
    }
    assert_eq!(last, 4);
    let mut stream = app.events(None).await;
    let first = read_until(&app, &mut stream, last).await;
    assert_eq!(first, vec![1, 2, 3, 4]);

    // Injected disconnect: the server closes the stream.
    let r = app
        .open_post(
            "/sandbox/events/disconnect",
            json!({"merchant_id": app.merchant_id.clone().unwrap()}),
        )
        .await;
    assert_eq!(r.json()["streams"], 1);
    assert!(stream.next_event().await.is_none(), "stream closed");

    // Events while away, then resume from the last id seen.
    for n in 3..6 {
        last = app.inject(n).await;
    }
    let mut stream = app.events(Some(4)).await;
    let resumed = read_until(&app, &mut stream, last).await;
    assert_eq!(resumed, vec![5, 6, 7]);
    // And live events keep coming on the resumed stream.
    let live = app.inject(6).await;
    assert_eq!(read_until(&app, &mut stream, live).await, vec![8]);
}

#[tokio::test]
async fn drop_after_n_events_then_resume_loses_nothing() {
    let sandbox = start(SandboxConfig {
        sse_drop_after: Some(2),
        ..Default::default()
    })
    .await;
    let app = App::ready(&sandbox, "13912345621").await;
    let mut last = 0;
    for n in 0..6 {
        last = app.inject(n).await;
    }
    let mut seen = Vec::new();
    let mut resume = None;
    let mut streams = 0;
    'streams: loop {
        let mut stream = app.events(resume).await;
        streams += 1;
        let mut got = 0;
        while let Some(frame) = stream.next_event().await {
            let event = app.open_event(&frame);
            seen.push(event.event_id);
            got += 1;
            if event.event_id == last {
                break 'streams;
            }
        }
        assert_eq!(got, 2, "the server closes each stream after 2 events");
        resume = seen.last().copied();
    }
    assert_eq!(streams, (last as usize).div_ceil(2));
    assert_eq!(seen, (1..=last).collect::<Vec<_>>());
}

#[tokio::test]
async fn keepalive_comments_flow_on_an_idle_stream() {
    let sandbox = start(SandboxConfig {
        sse_keepalive: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let app = App::ready(&sandbox, "13912345622").await;
    let mut stream = app.events(Some(1)).await;
    let frame = stream.next().await.expect("open");
    assert_eq!(frame.comment.as_deref(), Some("keepalive"));
    assert!(frame.id.is_none());
}

#[tokio::test]
async fn a_stream_carries_only_its_own_merchants_events() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345623").await;
    let b = App::ready(&sandbox, "13912345624").await;
    let mut b_stream = b.events(Some(1)).await;
    a.inject(1).await;
    a.inject(2).await;
    let b_id = b.inject(3).await;
    let frame = b_stream.next_event().await.expect("b's event");
    let event = b.open_event(&frame);
    assert_eq!(event.event_id, b_id);
    assert_eq!(Some(&event.merchant_id), b.merchant_id.as_ref());
    assert_eq!(event.data, json!({"n": 3}));
    // Bad Last-Event-ID is refused.
    let res = b
        .http
        .get(format!("{}/v1/events", b.base_url))
        .header("authorization", b.authorization(b""))
        .header("lklapi-session", b.access_token.clone().unwrap())
        .header("last-event-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
}

#[tokio::test]
async fn outbox_holds_signed_payloads_for_registered_push_tokens() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345625").await;
    let b = App::ready(&sandbox, "13912345626").await;
    let r = a
        .write(
            Method::POST,
            "/v1/push-tokens",
            Some(json!({"provider": "fcm", "token": "fcm:token-A"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let id = a.inject(1).await;
    let outbox = |m: String| {
        let app = &a;
        async move {
            app.open_get(&format!("/sandbox/outbox?merchant_id={m}"))
                .await
        }
    };
    let page = outbox(a.merchant_id.clone().unwrap()).await.json();
    let items = page["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["token"], "fcm:token-A");
    assert_eq!(items[0]["provider"], "fcm");
    assert_eq!(items[0]["event_id"], id);
    let push = merchant_contract::SignedPush::parse(items[0]["payload"].as_str().unwrap()).unwrap();
    push.verify(&a.platform).unwrap();
    let event: merchant_contract::wire::Event = serde_json::from_str(&push.body).unwrap();
    assert_eq!(event.event_id, id);
    assert_eq!(event.event_type, "trade.created");
    // B has no push token: nothing in its outbox.
    b.inject(1).await;
    let page = outbox(b.merchant_id.clone().unwrap()).await.json();
    assert_eq!(page["items"], json!([]));
    // After sign-out the device's tokens are gone: no more pushes.
    assert_eq!(a.post("/v1/auth/sign-out", json!({})).await.status, 200);
    a.inject(2).await;
    let page = outbox(a.merchant_id.clone().unwrap()).await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}
