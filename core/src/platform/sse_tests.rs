//! Tests of the live stream's reader, frame check and reconnecting loop,
//! against crafted bytes and a scripted source (no network).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use merchant_contract::PlatformSigner;
use merchant_contract::wire::Event;
use proptest::prelude::*;
use tokio::sync::mpsc;

use super::client::unix_now;
use super::sse::*;
use super::{Backoff, PlatformClient, PlatformConfig, VerifiedPush};
use crate::error::{Code, Error, ErrorKind, Result};

const APPID: &str = "OP00000001";
/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("finished in time")
}

fn signer() -> PlatformSigner {
    PlatformSigner::from_pkcs8(include_bytes!("../../../sandbox/keys/platform-sandbox.pk8"))
        .unwrap()
}

fn client() -> PlatformClient {
    let key = signer().public_key_base64();
    PlatformClient::new(PlatformConfig::new("http://127.0.0.1:1", None, &key, APPID).unwrap())
        .unwrap()
}

fn event_json(id: u64, event_type: &str) -> String {
    serde_json::to_string(&Event {
        event_id: id,
        event_type: event_type.to_owned(),
        merchant_id: "M100".to_owned(),
        occurred_at: "2025-01-02T03:04:05+08:00".to_owned(),
        data: serde_json::json!({"trade_id": format!("T{id}"), "amount": "12.30"}),
    })
    .unwrap()
}

/// A signed payload of event `id`, signed `age` seconds ago.
fn payload(id: u64, age: i64) -> String {
    signer()
        .sign_push(APPID, unix_now() - age, event_json(id, "trade.created"))
        .unwrap()
        .to_json()
}

/// The SSE text of event `id`, as the platform sends it.
fn frame_text(id: u64) -> String {
    format!(
        "id: {id}\nevent: trade.created\ndata: {}\n\n",
        payload(id, 0)
    )
}

/// Every item of `bytes` fed in pieces of `step` bytes.
fn read_all(bytes: &[u8], step: usize, limits: Limits) -> Result<Vec<Item>> {
    let mut r = FrameReader::new(limits);
    let mut out = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        r.push(piece.to_vec());
        while let Some(item) = r.next_item()? {
            out.push(item);
        }
    }
    Ok(out)
}

fn frame(id: Option<&str>, event: Option<&str>, data: &str) -> Item {
    Item::Frame(Frame {
        id: id.map(str::to_owned),
        event: event.map(str::to_owned),
        data: data.to_owned(),
        retry_ms: None,
    })
}

fn code_of(r: Result<Vec<Item>>) -> String {
    r.expect_err("an error").code.into_owned()
}

#[test]
fn frames_and_comments_are_read_whatever_the_line_ends_and_chunking() {
    let text = "\u{feff}: keepalive\r\nid: 7\r\nevent: trade.created\r\ndata: {\"a\":1}\r\n\r\n\
                data: one\rdata:two\r\rretry: 2500\nevent: x\ndata\n\nid: 9\n\n: hi\n";
    let expected = vec![
        Item::Comment,
        frame(Some("7"), Some("trade.created"), "{\"a\":1}"),
        frame(None, None, "one\ntwo"),
        Item::Frame(Frame {
            id: None,
            event: Some("x".to_owned()),
            data: String::new(),
            retry_ms: Some(2500),
        }),
        // `id: 9` alone carries no data: not dispatched.
        Item::Comment,
    ];
    for step in 1..=text.len() {
        let got = read_all(text.as_bytes(), step, Limits::default()).unwrap();
        assert_eq!(got, expected, "in pieces of {step}");
    }
}

#[test]
fn a_frame_cut_off_by_the_end_of_the_stream_is_not_dispatched() {
    let got = read_all(b"id: 1\ndata: {\"x\":1}\n", 4, Limits::default()).unwrap();
    assert!(got.is_empty());
}

#[test]
fn an_oversize_line_is_refused_even_split_over_chunks() {
    let limits = Limits {
        line: 100,
        frame: 1000,
    };
    let ok = format!("data: {}\n\n", "x".repeat(94));
    assert_eq!(read_all(ok.as_bytes(), 7, limits).unwrap().len(), 1);
    let long = format!("data: {}\n\n", "x".repeat(95));
    for step in [1, 7, 64, 1000] {
        let e = code_of(read_all(long.as_bytes(), step, limits));
        assert_eq!(e, LINE_TOO_LONG.code);
    }
    // A line with no end at all stops at the limit, not at the end of memory.
    let mut r = FrameReader::new(limits);
    let mut e = None;
    for _ in 0..1000 {
        r.push(vec![b'a'; 10]);
        if let Err(err) = r.next_item() {
            e = Some(err);
            break;
        }
    }
    assert!(e.expect("refused").is(&LINE_TOO_LONG));
    // Comments are lines too.
    let e = code_of(read_all(
        format!(":{}\n", "k".repeat(200)).as_bytes(),
        3,
        limits,
    ));
    assert_eq!(e, LINE_TOO_LONG.code);
    // The default fits a whole push payload after `data: `.
    let max = "p".repeat(merchant_contract::envelope::MAX_PUSH_LEN);
    let got = read_all(
        format!("data: {max}\n\n").as_bytes(),
        4096,
        Limits::default(),
    )
    .unwrap();
    assert_eq!(got.len(), 1);
}

#[test]
fn an_oversize_frame_is_refused() {
    let limits = Limits {
        line: 100,
        frame: 500,
    };
    // Ten lines of 60 bytes: each under the line limit, together over the frame's.
    let text: String = (0..10)
        .map(|_| format!("data: {}\n", "y".repeat(54)))
        .collect();
    let e = code_of(read_all(text.as_bytes(), 13, limits));
    assert_eq!(e, FRAME_TOO_LARGE.code);
    // Ignored fields count as well: they cannot pad a frame for ever.
    let text: String = (0..10)
        .map(|_| format!("junk: {}\n", "y".repeat(54)))
        .collect();
    assert_eq!(
        code_of(read_all(text.as_bytes(), 13, limits)),
        FRAME_TOO_LARGE.code
    );
    // A blank line ends a frame and its count.
    let text: String = (0..10)
        .map(|_| format!("data: {}\n\n", "y".repeat(54)))
        .collect();
    assert_eq!(read_all(text.as_bytes(), 13, limits).unwrap().len(), 10);
}

#[test]
fn bytes_that_are_not_utf8_are_refused() {
    let e = code_of(read_all(b"data: \xff\xfe\n\n", 2, Limits::default()));
    assert_eq!(e, NOT_UTF8.code);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes in arbitrary pieces never panic, the reader never
    /// holds more than its limits, and how the bytes are cut changes
    /// nothing.
    #[test]
    fn arbitrary_bytes_never_panic_and_limits_hold(
        bytes in proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                2 => Just(b'\n'),
                1 => Just(b'\r'),
                1 => Just(b':'),
                2 => proptest::sample::select(b"dataeventidretry ".to_vec()),
            ],
            0..2000,
        ),
        step in 1usize..300,
    ) {
        let limits = Limits { line: 64, frame: 200 };
        let whole = read_all(&bytes, bytes.len().max(1), limits);
        let cut = read_all(&bytes, step, limits);
        match (&whole, &cut) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(&a.code, &b.code),
            _ => prop_assert!(false, "cutting changed the outcome"),
        }
        if let Ok(items) = cut {
            for item in items {
                if let Item::Frame(f) = item {
                    prop_assert!(f.data.len() <= limits.frame);
                }
            }
        }
        // Bytes held by the reader: never past one line and one frame.
        let mut r = FrameReader::new(limits);
        for piece in bytes.chunks(step) {
            r.push(piece.to_vec());
            loop {
                match r.next_item() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return Ok(()),
                }
                prop_assert!(r.held() <= limits.line + limits.frame);
            }
            prop_assert!(r.held() <= limits.line + limits.frame);
        }
    }
}

/// A source whose verification is the client's push check.
struct Verifier(PlatformClient);

impl EventSource for Verifier {
    async fn open(&self, _: Option<u64>) -> Result<ByteStream> {
        Err(Error::new(&crate::error::INTERNAL))
    }
    fn verify(&self, payload: &str) -> Result<VerifiedPush> {
        self.0.verify_push(payload)
    }
}

fn data_frame(id: Option<&str>, event: Option<&str>, data: String) -> Frame {
    Frame {
        id: id.map(str::to_owned),
        event: event.map(str::to_owned),
        data,
        retry_ms: None,
    }
}

#[test]
fn hostile_frames_get_their_codes() {
    let source = Verifier(client());
    let check = |f: Frame, code: &Code| {
        let e = check_frame(&source, &f).unwrap_err();
        assert!(e.is(code), "expected {}, got {e}", code.code);
        // Never the content in the error.
        assert!(!format!("{e:?}").contains("T7"), "{e:?}");
    };
    let good = payload(7, 0);
    let v = check_frame(
        &source,
        &data_frame(Some("7"), Some("trade.created"), good.clone()),
    )
    .unwrap();
    assert_eq!(v.event.event_id, 7);
    // The same payload again: replayed.
    check(
        data_frame(Some("7"), Some("trade.created"), good),
        &super::PUSH_REPLAYED,
    );
    // Forged: the body changed under its signature.
    let mut forged = signer()
        .sign_push(APPID, unix_now(), event_json(7, "trade.created"))
        .unwrap();
    forged.body = forged.body.replace("12.30", "99.30");
    check(
        data_frame(Some("7"), None, forged.to_json()),
        &super::PUSH_SIGNATURE_INVALID,
    );
    // Stale: signed ten minutes ago.
    check(
        data_frame(Some("7"), None, payload(7, 600)),
        &super::PUSH_STALE,
    );
    // Garbage and truncation.
    check(
        data_frame(None, None, "garbage".to_owned()),
        &super::PUSH_MALFORMED,
    );
    let cut = payload(7, 0);
    check(
        data_frame(None, None, cut[..cut.len() / 2].to_owned()),
        &super::PUSH_MALFORMED,
    );
    // Signed, but the `id:` or `event:` of the frame says otherwise.
    check(data_frame(Some("8"), None, payload(7, 0)), &ID_MISMATCH);
    check(data_frame(Some("x"), None, payload(7, 0)), &ID_MISMATCH);
    check(
        data_frame(Some("7"), Some("trade.refunded"), payload(7, 0)),
        &TYPE_MISMATCH,
    );
    // Without `id:` and `event:` the signed event alone speaks.
    assert!(check_frame(&source, &data_frame(None, None, payload(7, 0))).is_ok());
}

// ----------------------------------------------------------------------
// The loop, against a scripted source.

/// What one `open` does.
enum Script {
    /// Answers these chunks, then closes (or stays open and silent).
    Chunks {
        chunks: Vec<Vec<u8>>,
        then_close: bool,
    },
    /// Refuses with this error.
    Refuse(Error),
}

struct Scripted {
    client: PlatformClient,
    scripts: Mutex<VecDeque<Script>>,
    /// The `Last-Event-ID` of every open, in order.
    opens: mpsc::UnboundedSender<Option<u64>>,
}

impl EventSource for Scripted {
    async fn open(&self, last: Option<u64>) -> Result<ByteStream> {
        let _ = self.opens.send(last);
        let next = self.scripts.lock().unwrap().pop_front();
        match next {
            Some(Script::Chunks { chunks, then_close }) => {
                let body = futures_util::stream::iter(chunks.into_iter().map(Ok));
                if then_close {
                    Ok(Box::pin(body))
                } else {
                    Ok(Box::pin(body.chain(futures_util::stream::pending())))
                }
            }
            Some(Script::Refuse(e)) => Err(e),
            // Out of script: the platform never answers.
            None => std::future::pending().await,
        }
    }

    fn verify(&self, payload: &str) -> Result<VerifiedPush> {
        self.client.verify_push(payload)
    }
}

/// Commits every event it is given; fails the ids in `fail_once` once;
/// forgets its position when the platform refuses to resume, noting the
/// code in `refused`.
struct Sink {
    last: Mutex<Option<u64>>,
    delivered: mpsc::UnboundedSender<u64>,
    fail_once: Mutex<Vec<u64>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl EventSink for Sink {
    async fn last_event_id(&self) -> Result<Option<u64>> {
        Ok(*self.last.lock().unwrap())
    }
    async fn deliver(&self, event: VerifiedPush) -> Result<()> {
        let id = event.event.event_id;
        {
            let mut fail = self.fail_once.lock().unwrap();
            if let Some(i) = fail.iter().position(|f| *f == id) {
                fail.remove(i);
                return Err(Error::new(&crate::store::IO).detail("disk full"));
            }
        }
        *self.last.lock().unwrap() = Some(id);
        let _ = self.delivered.send(id);
        Ok(())
    }
    async fn resume_refused(&self, error: &Error) -> Result<()> {
        self.refused.lock().unwrap().push(error.code.to_string());
        *self.last.lock().unwrap() = None;
        Ok(())
    }
}

struct Harness {
    live: LiveStream,
    refused: Arc<Mutex<Vec<String>>>,
    opens: mpsc::UnboundedReceiver<Option<u64>>,
    delivered: mpsc::UnboundedReceiver<u64>,
    states: mpsc::UnboundedReceiver<StreamState>,
}

impl Harness {
    fn start(scripts: Vec<Script>, config: StreamConfig, fail_once: Vec<u64>) -> Harness {
        let (opens_tx, opens) = mpsc::unbounded_channel();
        let (delivered_tx, delivered) = mpsc::unbounded_channel();
        let (states_tx, states) = mpsc::unbounded_channel();
        let source = Arc::new(Scripted {
            client: client(),
            scripts: Mutex::new(scripts.into()),
            opens: opens_tx,
        });
        let refused = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::new(Sink {
            last: Mutex::new(None),
            delivered: delivered_tx,
            fail_once: Mutex::new(fail_once),
            refused: refused.clone(),
        });
        let live = spawn(
            &tokio::runtime::Handle::current(),
            source,
            sink,
            config,
            Arc::new(move |s| {
                let _ = states_tx.send(s);
            }),
        );
        Harness {
            live,
            refused,
            opens,
            delivered,
            states,
        }
    }

    async fn delivered(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(bounded(self.delivered.recv()).await.expect("a delivery"));
        }
        out
    }

    async fn open(&mut self) -> Option<u64> {
        bounded(self.opens.recv()).await.expect("an open")
    }

    /// The next state that `pick` accepts, skipping the others.
    async fn state<T>(&mut self, mut pick: impl FnMut(&StreamState) -> Option<T>) -> T {
        loop {
            let s = bounded(self.states.recv()).await.expect("a state");
            if let Some(t) = pick(&s) {
                return t;
            }
        }
    }

    async fn waiting_code(&mut self) -> String {
        self.state(|s| match s {
            StreamState::Waiting { error, .. } => Some(error.code.to_string()),
            _ => None,
        })
        .await
    }
}

fn quick() -> StreamConfig {
    StreamConfig {
        keepalive: Duration::from_secs(15),
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_retries: u32::MAX,
        },
        seed: Some(1),
        ..StreamConfig::default()
    }
}

fn chunks(frames: &[u64]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .map(|id| frame_text(*id).into_bytes())
        .collect()
}

#[tokio::test]
async fn events_are_delivered_in_order_and_a_closed_stream_resumes_after_the_last_commit() {
    let mut h = Harness::start(
        vec![
            Script::Chunks {
                chunks: chunks(&[1, 2, 3]),
                then_close: true,
            },
            Script::Chunks {
                chunks: chunks(&[4, 5]),
                then_close: false,
            },
        ],
        quick(),
        vec![],
    );
    assert_eq!(h.open().await, None);
    assert_eq!(h.delivered(3).await, vec![1, 2, 3]);
    assert_eq!(h.waiting_code().await, CLOSED.code);
    assert_eq!(h.open().await, Some(3), "resumed after the last commit");
    assert_eq!(h.delivered(2).await, vec![4, 5]);
    h.live.cancel();
    bounded(h.live.wait()).await;
    assert!(h.live.is_stopped());
}

/// The platform's refusal of a `Last-Event-ID` (`code`), as the client
/// reads it.
fn resume_refusal(status: u16, code: &str) -> Error {
    let body = serde_json::to_vec(&merchant_contract::wire::ErrorBody {
        code: code.to_owned(),
        message: "续传被拒".to_owned(),
        message_en: "resume refused".to_owned(),
        request_id: "req-1".to_owned(),
        fields: None,
    })
    .unwrap();
    crate::platform::client::refusal(status, &body)
}

#[tokio::test]
async fn a_refused_resume_has_the_sink_catch_up_and_the_stream_opens_from_the_start() {
    for (status, code) in [(410, "events.resume_expired"), (409, "events.resume_ahead")] {
        let mut h = Harness::start(
            vec![
                Script::Chunks {
                    chunks: chunks(&[1, 2]),
                    then_close: true,
                },
                Script::Refuse(resume_refusal(status, code)),
                Script::Chunks {
                    chunks: chunks(&[7, 8]),
                    then_close: false,
                },
            ],
            quick(),
            vec![],
        );
        assert_eq!(h.open().await, None);
        assert_eq!(h.delivered(2).await, vec![1, 2]);
        assert_eq!(h.open().await, Some(2));
        assert_eq!(h.open().await, None, "{code}: opened again without an id");
        assert_eq!(h.delivered(2).await, vec![7, 8]);
        assert_eq!(*h.refused.lock().unwrap(), vec![code.to_owned()]);
        h.live.cancel();
        bounded(h.live.wait()).await;
    }
}

#[tokio::test]
async fn a_failed_delivery_drops_the_connection_and_the_event_comes_again() {
    let mut h = Harness::start(
        vec![
            Script::Chunks {
                chunks: chunks(&[1, 2, 3]),
                then_close: false,
            },
            Script::Chunks {
                chunks: chunks(&[2, 3]),
                then_close: false,
            },
        ],
        quick(),
        vec![2],
    );
    assert_eq!(h.open().await, None);
    assert_eq!(h.delivered(1).await, vec![1]);
    assert_eq!(h.waiting_code().await, crate::store::IO.code);
    assert_eq!(h.open().await, Some(1));
    assert_eq!(h.delivered(2).await, vec![2, 3]);
}

#[tokio::test]
async fn an_oversize_line_drops_the_connection_and_delivers_nothing_of_it() {
    let mut config = quick();
    config.limits = Limits {
        line: 64 * 1024 + 64,
        frame: 256 * 1024,
    };
    let mut hostile = chunks(&[1]);
    hostile.push(format!("data: {}", "z".repeat(70 * 1024)).into_bytes());
    hostile.push(b"\n\n".to_vec());
    let mut h = Harness::start(
        vec![
            Script::Chunks {
                chunks: hostile,
                then_close: false,
            },
            Script::Chunks {
                chunks: chunks(&[2]),
                then_close: false,
            },
        ],
        config,
        vec![],
    );
    assert_eq!(h.open().await, None);
    assert_eq!(h.delivered(1).await, vec![1]);
    assert_eq!(h.waiting_code().await, LINE_TOO_LONG.code);
    assert_eq!(h.open().await, Some(1));
    assert_eq!(h.delivered(1).await, vec![2]);
}

#[tokio::test]
async fn a_forged_frame_is_rejected_and_the_stream_goes_on() {
    let mut forged = signer()
        .sign_push(APPID, unix_now(), event_json(2, "trade.created"))
        .unwrap();
    forged.body = forged.body.replace("12.30", "99.30");
    let mut bytes = chunks(&[1]);
    bytes.push(format!("id: 2\ndata: {}\n\n", forged.to_json()).into_bytes());
    bytes.push(b"data: not a payload\n\n".to_vec());
    bytes.extend(chunks(&[3]));
    let mut h = Harness::start(
        vec![Script::Chunks {
            chunks: bytes,
            then_close: false,
        }],
        quick(),
        vec![],
    );
    let rejected = |s: &StreamState| match s {
        StreamState::Rejected { error } => Some(error.code.to_string()),
        _ => None,
    };
    assert_eq!(h.state(rejected).await, super::PUSH_SIGNATURE_INVALID.code);
    assert_eq!(h.state(rejected).await, super::PUSH_MALFORMED.code);
    assert_eq!(h.delivered(2).await, vec![1, 3]);
}

#[tokio::test]
async fn events_at_or_before_the_last_commit_are_not_delivered_again() {
    let mut h = Harness::start(
        vec![Script::Chunks {
            chunks: chunks(&[1, 2, 2, 1, 3]),
            then_close: false,
        }],
        quick(),
        vec![],
    );
    assert_eq!(h.delivered(3).await, vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_silent_stream_is_dropped_after_two_and_a_half_keepalives_and_comments_keep_it() {
    let mut config = quick();
    config.keepalive = Duration::from_secs(10);
    assert_eq!(config.idle_timeout(), Duration::from_secs(25));
    let mut h = Harness::start(
        vec![
            Script::Chunks {
                chunks: chunks(&[1]),
                then_close: false,
            },
            Script::Chunks {
                chunks: vec![b": keepalive\n".to_vec()],
                then_close: false,
            },
        ],
        config,
        vec![],
    );
    assert_eq!(h.delivered(1).await, vec![1]);
    assert_eq!(h.waiting_code().await, IDLE.code);
    assert_eq!(h.open().await, None);
    assert_eq!(h.open().await, Some(1));
    // The second connection carried a keepalive: healthy, the backoff restarts.
    assert_eq!(h.waiting_code().await, IDLE.code);
}

#[tokio::test]
async fn an_auth_refusal_stops_the_stream_with_its_error() {
    let expired = Error::platform(
        ErrorKind::Auth,
        "auth.session_revoked".to_owned(),
        None,
        401,
    );
    let mut h = Harness::start(
        vec![
            Script::Refuse(Error::new(&super::UNREACHABLE)),
            Script::Refuse(expired),
        ],
        quick(),
        vec![],
    );
    assert_eq!(h.waiting_code().await, super::UNREACHABLE.code);
    let stopped = h
        .state(|s| match s {
            StreamState::Stopped { error } => Some(error.clone()),
            _ => None,
        })
        .await;
    assert_eq!(stopped.expect("an error").code, "auth.session_revoked");
    bounded(h.live.wait()).await;
    assert!(h.live.is_stopped());
}

#[tokio::test]
async fn the_network_hint_cuts_a_long_wait() {
    let mut config = quick();
    config.backoff = Backoff {
        base: Duration::from_secs(24 * 3600),
        cap: Duration::from_secs(24 * 3600),
        max_retries: u32::MAX,
    };
    let mut h = Harness::start(
        vec![
            Script::Refuse(Error::new(&super::UNREACHABLE)),
            Script::Chunks {
                chunks: chunks(&[1]),
                then_close: false,
            },
        ],
        config,
        vec![],
    );
    assert_eq!(h.open().await, None);
    let retry_in = h
        .state(|s| match s {
            StreamState::Waiting { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .await;
    assert!(
        retry_in > Duration::from_secs(3600),
        "the seeded draw waits hours: {retry_in:?}"
    );
    h.live.network_available();
    assert_eq!(h.open().await, None, "opened again at the hint");
    assert_eq!(h.delivered(1).await, vec![1]);
}

#[tokio::test]
async fn cancel_stops_the_loop_and_nothing_is_delivered_after() {
    let mut h = Harness::start(
        vec![Script::Chunks {
            chunks: chunks(&[1]),
            then_close: false,
        }],
        quick(),
        vec![],
    );
    assert_eq!(h.delivered(1).await, vec![1]);
    h.live.cancel();
    let stopped = h
        .state(|s| match s {
            StreamState::Stopped { error } => Some(error.is_none()),
            _ => None,
        })
        .await;
    assert!(stopped, "cancelled without an error");
    bounded(h.live.wait()).await;
    assert!(h.delivered.try_recv().is_err());
    // Dropping a handle cancels as well.
    let mut h = Harness::start(vec![], quick(), vec![]);
    assert_eq!(h.open().await, None);
    let Harness {
        live, mut states, ..
    } = h;
    drop(live);
    loop {
        match bounded(states.recv()).await.expect("a state") {
            StreamState::Stopped { error } => {
                assert!(error.is_none());
                break;
            }
            _ => continue,
        }
    }
}

// ----------------------------------------------------------------------
// Opening the stream over HTTP, against a one-answer loopback server.

/// A server on loopback answering one request with `head` (status line and
/// headers, without the blank line) and `body`; returns the base URL and
/// the request it read.
async fn one_answer(head: String, body: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let mut answer = format!(
            "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        tcp.write_all(&answer).await.unwrap();
        let _ = tcp.shutdown().await;
        String::from_utf8_lossy(&request).to_ascii_lowercase()
    });
    (url, task)
}

/// The signature headers over `body`, as response header lines.
fn signed_head(status: &str, content_type: &str, body: &[u8]) -> String {
    let sig = signer().sign_response(APPID, unix_now(), body).unwrap();
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}");
    for (name, value) in sig.to_headers() {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    head
}

async fn open_at(url: &str, last: Option<u64>) -> Result<ByteStream> {
    let key = signer().public_key_base64();
    let client = PlatformClient::new(PlatformConfig::new(url, None, &key, APPID).unwrap()).unwrap();
    let device = merchant_contract::DeviceKey::generate().unwrap().0;
    let call = super::Call::get("/v1/events").with_session("token-1");
    client.open_event_stream(&device, &call, last).await
}

#[tokio::test]
async fn an_event_stream_head_signed_over_the_empty_body_is_read_with_last_event_id() {
    let body = frame_text(42).into_bytes();
    let (url, server) = one_answer(signed_head("200 OK", "text/event-stream", b""), body).await;
    let mut bytes = bounded(open_at(&url, Some(41))).await.unwrap();
    let mut reader = FrameReader::new(Limits::default());
    let mut frames = Vec::new();
    while let Some(chunk) = bounded(bytes.next()).await {
        reader.push(chunk.unwrap());
        while let Some(item) = reader.next_item().unwrap() {
            frames.push(item);
        }
    }
    assert_eq!(frames.len(), 1);
    let request = server.await.unwrap();
    assert!(request.starts_with("get /v1/events "), "{request}");
    assert!(request.contains("\r\nlast-event-id: 41\r\n"), "{request}");
    assert!(request.contains("\r\naccept: text/event-stream\r\n"));
    assert!(request.contains("\r\nlklapi-session: token-1\r\n"));
}

#[tokio::test]
async fn an_unsigned_or_wrong_answer_is_not_a_stream() {
    // No signature at all.
    let (url, _s) = one_answer(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream".to_owned(),
        Vec::new(),
    )
    .await;
    let e = bounded(open_at(&url, None)).await.err().expect("refused");
    assert!(e.is(&super::RESPONSE_UNSIGNED), "got {e}");
    // Signed, but JSON rather than a stream.
    let (url, _s) = one_answer(signed_head("200 OK", "application/json", b""), Vec::new()).await;
    let e = bounded(open_at(&url, None)).await.err().expect("refused");
    assert!(e.is(&NOT_EVENT_STREAM), "got {e}");
    // Signed over another body than the one sent.
    let (url, _s) = one_answer(signed_head("200 OK", "text/event-stream", b"x"), Vec::new()).await;
    let e = bounded(open_at(&url, None)).await.err().expect("refused");
    assert!(e.is(&super::RESPONSE_SIGNATURE_INVALID), "got {e}");
    // A signed refusal keeps the platform's code and kind.
    let refusal =
        br#"{"code":"auth.session_expired","message":"x","message_en":"x","request_id":"r"}"#;
    let (url, _s) = one_answer(
        signed_head("401 Unauthorized", "application/json", refusal),
        refusal.to_vec(),
    )
    .await;
    let e = bounded(open_at(&url, None)).await.err().expect("refused");
    assert_eq!(e.code, "auth.session_expired");
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(ends_stream(&e));
}

#[tokio::test]
async fn a_listener_told_stopped_sees_the_stream_stopped() {
    // A foreign listener (Kotlin, Swift) has no `wait`: told `Stopped`, it
    // asks `is_stopped`, from inside the call that told it.
    let live_cell: Arc<std::sync::OnceLock<Arc<LiveStream>>> = Arc::new(Default::default());
    let (opens_tx, _opens) = mpsc::unbounded_channel();
    let (delivered_tx, mut delivered) = mpsc::unbounded_channel();
    let (told_tx, mut told) = mpsc::unbounded_channel();
    let source = Arc::new(Scripted {
        client: client(),
        scripts: Mutex::new(
            vec![Script::Chunks {
                chunks: chunks(&[1]),
                then_close: false,
            }]
            .into(),
        ),
        opens: opens_tx,
    });
    let sink = Arc::new(Sink {
        last: Mutex::new(None),
        delivered: delivered_tx,
        fail_once: Mutex::new(Vec::new()),
        refused: Arc::default(),
    });
    let cell = live_cell.clone();
    let live = Arc::new(spawn(
        &tokio::runtime::Handle::current(),
        source,
        sink,
        quick(),
        Arc::new(move |s| {
            if let StreamState::Stopped { .. } = s {
                let _ = told_tx.send(cell.get().map(|l| l.is_stopped()));
            }
        }),
    ));
    assert!(live_cell.set(live.clone()).is_ok());
    assert_eq!(bounded(delivered.recv()).await, Some(1));
    assert!(!live.is_stopped());
    live.cancel();
    assert_eq!(bounded(told.recv()).await, Some(Some(true)));
}
