//! The event stream as a client's exactly-once tests meet it: the exact
//! framing, `Last-Event-ID` at and beyond the kept events, disconnects at
//! random, and raw (hostile) frames written by the sandbox control.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use futures_util::StreamExt as _;
use merchant_contract::envelope::{HEADER_AUTHORIZATION, HEADER_SESSION};
use merchant_sandbox::SandboxConfig;
use rand::Rng as _;
use reqwest::Method;
use serde_json::json;

/// A stream read as raw bytes.
struct RawStream {
    body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buf: Vec<u8>,
}

impl RawStream {
    /// Reads until `n` bytes are buffered; `false` if the stream ended first.
    async fn fill(&mut self, n: usize) -> bool {
        while self.buf.len() < n {
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("the stream said something within 10 s");
            match chunk {
                Some(Ok(b)) => self.buf.extend_from_slice(&b),
                _ => return false,
            }
        }
        true
    }

    /// Takes the next `n` bytes.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        assert!(self.fill(n).await, "stream ended early");
        self.buf.drain(..n).collect()
    }

    /// Reads up to and including the next blank line.
    async fn frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\n\n") {
                return Some(self.buf.drain(..at + 2).collect());
            }
            let n = self.buf.len() + 1;
            if !self.fill(n).await {
                return None;
            }
        }
    }

    /// Whether the server ends the stream with nothing more in it.
    async fn ends(&mut self) -> bool {
        let n = self.buf.len() + 1;
        !self.fill(n).await && self.buf.is_empty()
    }
}

async fn raw_stream(app: &App, last_event_id: Option<&str>) -> RawStream {
    let mut req = app
        .http
        .get(format!("{}/v1/events", app.base_url))
        .header(HEADER_AUTHORIZATION, app.authorization(b""))
        .header(HEADER_SESSION, app.access_token.clone().unwrap());
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let res = req.send().await.expect("stream opened");
    assert_eq!(res.status().as_u16(), 200);
    RawStream {
        body: Box::pin(res.bytes_stream()),
        buf: Vec::new(),
    }
}

/// Opening the stream with these `Last-Event-ID` values, expecting a refusal.
async fn refused(app: &App, values: &[&str], status: u16, code: &str) {
    let mut headers = vec![(HEADER_AUTHORIZATION, app.authorization(b""))];
    headers.push((HEADER_SESSION, app.access_token.clone().unwrap()));
    for v in values {
        headers.push(("last-event-id", (*v).to_owned()));
    }
    let r = app.raw(Method::GET, "/v1/events", None, &headers).await;
    let e = r.expect_error(status, code);
    if code == "request.field_invalid" {
        assert_eq!(e.fields.unwrap()[0].field, "Last-Event-ID");
    }
}

#[tokio::test]
async fn frames_are_id_event_data_and_keepalives_fill_silences() {
    let sandbox = start(SandboxConfig {
        sse_keepalive: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let app = App::ready(&sandbox, "13912345801").await;
    let id = app.inject(7).await;
    let mut s = raw_stream(&app, Some(&(id - 1).to_string())).await;
    let f = String::from_utf8(s.frame().await.unwrap()).unwrap();
    let lines: Vec<&str> = f.split('\n').collect();
    assert_eq!(lines.len(), 5, "{f:?}");
    assert_eq!(lines[0], format!("id: {id}"));
    assert_eq!(lines[1], "event: trade.created");
    assert!(lines[2].starts_with("data: {"));
    assert_eq!((lines[3], lines[4]), ("", ""));
    let frame = Frame {
        id: Some(id.to_string()),
        event: Some("trade.created".into()),
        data: lines[2]["data: ".len()..].to_owned(),
        comment: None,
    };
    assert_eq!(app.open_event(&frame).data, json!({"n": 7}));
    // Then, idle, the keepalive comment, a frame of its own.
    assert_eq!(s.frame().await.unwrap(), b": keepalive\n\n");
}

#[tokio::test]
async fn last_event_id_inside_and_outside_the_kept_events() {
    let sandbox = start(SandboxConfig {
        event_retention: 5,
        ..Default::default()
    })
    .await;
    let app = App::ready(&sandbox, "13912345802").await;
    // Event 1 is the device registration; 2..=12 trades. Kept: 8..=12.
    let mut last = 0;
    for n in 0..11 {
        last = app.inject(n).await;
    }
    assert_eq!(last, 12);
    refused(&app, &["6"], 410, "events.resume_expired").await;
    refused(&app, &["1"], 410, "events.resume_expired").await;
    refused(&app, &["13"], 409, "events.resume_ahead").await;
    refused(&app, &["99999"], 409, "events.resume_ahead").await;
    for garbage in ["abc", "-1", "+3", "1e3", "", "12345678901234567890"] {
        refused(&app, &[garbage], 400, "request.field_invalid").await;
    }
    refused(&app, &["8", "9"], 400, "request.field_invalid").await;

    // The one just before the oldest kept resumes, as does the latest.
    let mut s = app.events(Some(7)).await;
    for want in 8..=12 {
        assert_eq!(
            app.open_event(&s.next_event().await.unwrap()).event_id,
            want
        );
    }
    let mut s = app.events(Some(12)).await;
    let next = app.inject(99).await;
    assert_eq!(
        app.open_event(&s.next_event().await.unwrap()).event_id,
        next
    );
    // No header, or 0: from the oldest kept (now 9).
    for start in [None, Some(0)] {
        let mut s = app.events(start).await;
        assert_eq!(app.open_event(&s.next_event().await.unwrap()).event_id, 9);
    }
}

#[tokio::test]
async fn a_disconnect_closes_every_stream_of_the_merchant_and_only_those() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345803").await;
    let b = App::ready(&sandbox, "13912345804").await;
    let mut a1 = raw_stream(&a, Some("1")).await;
    let mut a2 = raw_stream(&a, Some("1")).await;
    let mut b1 = b.events(Some(1)).await;
    let r = a
        .open_post(
            "/sandbox/events/disconnect",
            json!({"merchant_id": a.merchant_id}),
        )
        .await;
    assert_eq!(r.json()["streams"], 2);
    assert!(a1.ends().await && a2.ends().await);
    // B's stream is untouched.
    let id = b.inject(1).await;
    assert_eq!(b.open_event(&b1.next_event().await.unwrap()).event_id, id);
    // Nothing open for A any more; an unknown merchant has none either.
    let r = a
        .open_post(
            "/sandbox/events/disconnect",
            json!({"merchant_id": a.merchant_id}),
        )
        .await;
    assert_eq!(r.json()["streams"], 0);
    let r = a
        .open_post(
            "/sandbox/events/disconnect",
            json!({"merchant_id": "mch_nobody"}),
        )
        .await;
    assert_eq!(r.json()["streams"], 0);
    // An empty body closes every merchant's.
    let r = a
        .raw(Method::POST, "/sandbox/events/disconnect", Some(b""), &[])
        .await;
    assert_eq!(r.json()["streams"], 1);
    assert!(b1.next_event().await.is_none());
}

#[tokio::test]
async fn disconnects_at_random_lose_and_repeat_nothing() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345805").await;
    let mid = app.merchant_id.clone().unwrap();
    // A new draw each run; the seed is printed to replay a failure.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    println!("disconnect schedule seed {seed}");
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(seed);
    let mut seen: Vec<u64> = Vec::new();
    let mut last = 0;
    let mut drops = 0;
    for round in 0..40u64 {
        let resume = seen.last().copied();
        let mut s = app.events(resume).await;
        for n in 0..rng.random_range(0..4) {
            last = app.inject(round * 10 + n).await;
        }
        // Read some (maybe none) of what is owed, then drop the stream.
        let owed = last.saturating_sub(seen.last().copied().unwrap_or(0));
        for _ in 0..rng.random_range(0..=owed) {
            seen.push(app.open_event(&s.next_event().await.unwrap()).event_id);
        }
        let r = app
            .open_post("/sandbox/events/disconnect", json!({"merchant_id": mid}))
            .await;
        assert_eq!(r.json()["streams"], 1);
        drops += 1;
        // Frames written before the drop may still arrive whole; then the end.
        while let Some(f) = s.next_event().await {
            seen.push(app.open_event(&f).event_id);
        }
    }
    let mut s = app.events(seen.last().copied()).await;
    while seen.last().copied() != Some(last) {
        seen.push(app.open_event(&s.next_event().await.unwrap()).event_id);
    }
    assert_eq!(drops, 40);
    assert_eq!(
        seen,
        (1..=last).collect::<Vec<_>>(),
        "each event once, in order"
    );
}

#[tokio::test]
async fn raw_frames_reach_open_streams_as_they_are_and_are_no_events() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345806").await;
    let mid = app.merchant_id.clone().unwrap();
    let mut s = raw_stream(&app, Some("1")).await;

    // A forged frame: well shaped, signature garbage.
    let forged = "id: 999\nevent: trade.created\ndata: {\"appid\":\"OP00000001\",\"signature\":\"AAAA\"}\n\n";
    let r = app
        .open_post(
            "/sandbox/events/raw",
            json!({"merchant_id": mid, "frame": forged}),
        )
        .await;
    assert_eq!(r.json()["streams"], 1);
    assert_eq!(s.frame().await.unwrap(), forged.as_bytes());

    // Invalid UTF-8, as bytes.
    let bytes = b"data: \xff\xfe\x00\n\n";
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    ok_streams(
        app.open_post(
            "/sandbox/events/raw",
            json!({"merchant_id": mid, "frame_base64": b64}),
        )
        .await,
    );
    assert_eq!(s.take(bytes.len()).await, bytes);

    // An oversized line from a small request: 32 KiB × 64 of `a`.
    let chunk = "a".repeat(32 * 1024);
    ok_streams(
        app.open_post(
            "/sandbox/events/raw",
            json!({"merchant_id": mid, "frame": chunk, "repeat": 64}),
        )
        .await,
    );
    let big = s.take(32 * 1024 * 64).await;
    assert!(big.iter().all(|b| *b == b'a'));

    // Real events still flow, with their own ids: raw frames took none.
    let id = app.inject(1).await;
    assert_eq!(id, 2);
    let f = String::from_utf8(s.frame().await.unwrap()).unwrap();
    assert!(f.starts_with("id: 2\nevent: trade.created\ndata: "), "{f}");

    // A truncated frame, then the end of the stream.
    ok_streams(
        app.open_post(
            "/sandbox/events/raw",
            json!({"merchant_id": mid, "frame": "id: 3\nevent: trade.cre", "close": true}),
        )
        .await,
    );
    assert_eq!(s.take(22).await, b"id: 3\nevent: trade.cre");
    assert!(s.ends().await);

    // Not stored: a resume from the start sees only real events.
    let mut again = app.events(None).await;
    let ids: Vec<u64> = vec![
        app.open_event(&again.next_event().await.unwrap()).event_id,
        app.open_event(&again.next_event().await.unwrap()).event_id,
    ];
    assert_eq!(ids, vec![1, 2]);

    // Refusals.
    for body in [
        json!({"merchant_id": mid}),
        json!({"merchant_id": mid, "frame": "x", "frame_base64": "eA=="}),
        json!({"merchant_id": mid, "frame": ""}),
    ] {
        let e = app
            .open_post("/sandbox/events/raw", body)
            .await
            .expect_error(400, "request.field_invalid");
        assert_eq!(e.fields.unwrap()[0].field, "frame");
    }
    for (body, field) in [
        (
            json!({"merchant_id": mid, "frame_base64": "not base64!"}),
            "frame_base64",
        ),
        (
            json!({"merchant_id": mid, "frame": "x", "repeat": 0}),
            "repeat",
        ),
        (
            json!({"merchant_id": mid, "frame": "x", "repeat": 1025}),
            "repeat",
        ),
    ] {
        let e = app
            .open_post("/sandbox/events/raw", body)
            .await
            .expect_error(400, "request.field_invalid");
        assert_eq!(e.fields.unwrap()[0].field, field);
    }
    app.open_post(
        "/sandbox/events/raw",
        json!({"merchant_id": "mch_nobody", "frame": "x"}),
    )
    .await
    .expect_error(404, "resource.not_found");
}

fn ok_streams(r: Reply) {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["streams"], 1);
}
