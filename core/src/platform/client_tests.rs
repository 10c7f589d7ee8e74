//! The client against a real HTTP server on loopback that checks the request
//! envelope and answers as scripted, signed with the sandbox platform key
//! (or deliberately not): retries, verification and refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use merchant_contract::envelope::{self as env, Authorization};
use merchant_contract::{DeviceKey, PlatformSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::client::unix_now;
use super::{Backoff, Call, PlatformClient, PlatformConfig};

const APPID: &str = "OP00000001";

fn signer() -> PlatformSigner {
    PlatformSigner::from_pkcs8(include_bytes!("../../../sandbox/keys/platform-sandbox.pk8"))
        .unwrap()
}

/// One scripted answer.
#[derive(Clone)]
enum Answer {
    /// Signed properly.
    Signed(u16, &'static str),
    /// Signed, then the body altered.
    Tampered(u16, &'static str),
    /// No signature headers.
    Unsigned(u16, &'static str),
    /// Signed with a timestamp ten minutes ago.
    Stale(u16, &'static str),
    /// The same signed bytes every time it is used.
    Frozen(u16, Vec<(String, String)>, &'static str),
}

/// What the server saw of each request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    signature_ok: bool,
    session: Option<String>,
    idempotency_key: Option<String>,
}

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Serves `script` in order (the last answer repeats). The device's public
/// key is known to the server so it can check the request signature.
async fn serve(device_public_key: Vec<u8>, script: Vec<Answer>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    let signer = Arc::new(signer());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let n = h.fetch_add(1, Ordering::SeqCst);
            let answer = script[n.min(script.len() - 1)].clone();
            let (s, key, signer) = (s.clone(), device_public_key.clone(), signer.clone());
            tokio::spawn(async move { handle(tcp, answer, key, &signer, s).await });
        }
    });
    Server { url, hits, seen }
}

async fn handle(
    mut tcp: TcpStream,
    answer: Answer,
    device_key: Vec<u8>,
    signer: &PlatformSigner,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = tcp.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let header = |name: &str| {
        head.split("\r\n").find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let Ok(n) = tcp.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_end..(head_end + len).min(buf.len())];
    let signature_ok = header("authorization")
        .and_then(|h| Authorization::parse(&h).ok())
        .is_some_and(|a| a.appid == APPID && a.verify(&device_key, body).is_ok());
    seen.lock().unwrap().push(Seen {
        method,
        path,
        signature_ok,
        session: header(env::HEADER_SESSION),
        idempotency_key: header(env::HEADER_IDEMPOTENCY_KEY),
    });

    let (status, headers, body): (u16, Vec<(String, String)>, &str) = match answer {
        Answer::Signed(st, b) => (st, sign(signer, unix_now(), b.as_bytes()), b),
        Answer::Stale(st, b) => (st, sign(signer, unix_now() - 600, b.as_bytes()), b),
        Answer::Tampered(st, b) => {
            let h = sign(signer, unix_now(), b"{\"other\":true}");
            (st, h, b)
        }
        Answer::Unsigned(st, b) => (st, Vec::new(), b),
        Answer::Frozen(st, h, b) => (st, h, b),
    };
    let mut resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(body);
    let _ = tcp.write_all(resp.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

fn sign(signer: &PlatformSigner, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    signer
        .sign_response(APPID, ts, body)
        .unwrap()
        .to_headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn client(url: &str) -> PlatformClient {
    let mut config = PlatformConfig::new(url, None, &signer().public_key_base64(), APPID).unwrap();
    config.backoff = Backoff {
        base: Duration::from_millis(2),
        cap: Duration::from_millis(10),
        max_retries: 3,
    };
    PlatformClient::new(config).unwrap()
}

fn device() -> DeviceKey {
    DeviceKey::generate().unwrap().0
}

const OK: &str = r#"{"ok":true}"#;
const BUSY: &str = r#"{"code":"server.busy","message":"忙","message_en":"busy","request_id":"r"}"#;

#[tokio::test]
async fn requests_are_signed_and_carry_session_and_key() {
    let dev = device();
    let server = serve(dev.public_key().to_vec(), vec![Answer::Signed(200, OK)]).await;
    let c = client(&server.url);
    let call = Call::post_json("/v1/things", &serde_json::json!({"a": 1}))
        .unwrap()
        .with_session("tok-123")
        .with_idempotency_key("k-0123456789abcdef");
    let reply = c.send(&dev, &call).await.unwrap();
    assert_eq!(reply.status, 200);
    let v: serde_json::Value = reply.json().unwrap();
    assert_eq!(v["ok"], true);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/things");
    assert!(
        seen[0].signature_ok,
        "the server could not verify the request signature"
    );
    assert_eq!(seen[0].session.as_deref(), Some("tok-123"));
    assert_eq!(
        seen[0].idempotency_key.as_deref(),
        Some("k-0123456789abcdef")
    );
}

#[tokio::test]
async fn a_get_is_retried_through_busy_answers() {
    let dev = device();
    let script = vec![
        Answer::Signed(503, BUSY),
        Answer::Signed(503, BUSY),
        Answer::Signed(200, OK),
    ];
    let server = serve(dev.public_key().to_vec(), script).await;
    let reply = client(&server.url)
        .send(&dev, &Call::get("/v1/x"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    // Each try is signed afresh (a new nonce), so the platform accepts it.
    assert!(server.seen.lock().unwrap().iter().all(|s| s.signature_ok));
}

#[tokio::test]
async fn a_keyed_write_is_retried_with_the_same_key_until_the_limit() {
    let dev = device();
    let server = serve(dev.public_key().to_vec(), vec![Answer::Signed(503, BUSY)]).await;
    let call = Call::post_json("/v1/x", &serde_json::json!({}))
        .unwrap()
        .with_idempotency_key("same-key-0123456789");
    let e = client(&server.url).send(&dev, &call).await.unwrap_err();
    assert_eq!(e.code, "server.busy");
    assert_eq!(e.http_status, 503);
    assert_eq!(server.hits.load(Ordering::SeqCst), 4, "1 try + 3 retries");
    let keys: Vec<_> = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.idempotency_key.clone())
        .collect();
    assert!(
        keys.iter()
            .all(|k| k.as_deref() == Some("same-key-0123456789"))
    );
}

#[tokio::test]
async fn a_write_without_a_key_is_never_retried() {
    let dev = device();
    let server = serve(dev.public_key().to_vec(), vec![Answer::Signed(503, BUSY)]).await;
    let call = Call::post_json("/v1/x", &serde_json::json!({})).unwrap();
    let e = client(&server.url).send(&dev, &call).await.unwrap_err();
    assert_eq!(e.code, "server.busy");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_tampered_answer_is_refused_and_not_retried() {
    let dev = device();
    let server = serve(dev.public_key().to_vec(), vec![Answer::Tampered(200, OK)]).await;
    let e = client(&server.url)
        .send(&dev, &Call::get("/v1/x"))
        .await
        .unwrap_err();
    assert!(e.is(&super::RESPONSE_SIGNATURE_INVALID), "got {e}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unsigned_answer_is_refused_even_for_errors() {
    let dev = device();
    let server = serve(dev.public_key().to_vec(), vec![Answer::Unsigned(503, BUSY)]).await;
    let e = client(&server.url)
        .send(&dev, &Call::get("/v1/x"))
        .await
        .unwrap_err();
    assert!(e.is(&super::RESPONSE_UNSIGNED), "got {e}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "never retried");
}

#[tokio::test]
async fn a_stale_answer_is_refused() {
    let dev = device();
    let server = serve(dev.public_key().to_vec(), vec![Answer::Stale(200, OK)]).await;
    let e = client(&server.url)
        .send(&dev, &Call::get("/v1/x"))
        .await
        .unwrap_err();
    assert!(e.is(&super::RESPONSE_STALE), "got {e}");
}

#[tokio::test]
async fn a_replayed_answer_is_refused() {
    let dev = device();
    let frozen = sign(&signer(), unix_now(), OK.as_bytes());
    let server = serve(
        dev.public_key().to_vec(),
        vec![Answer::Frozen(200, frozen, OK)],
    )
    .await;
    let c = client(&server.url);
    c.send(&dev, &Call::get("/v1/x")).await.unwrap();
    let e = c.send(&dev, &Call::get("/v1/x")).await.unwrap_err();
    assert!(e.is(&super::RESPONSE_REPLAYED), "got {e}");
}

#[tokio::test]
async fn a_signed_refusal_keeps_the_platform_code() {
    let dev = device();
    let body = r#"{"code":"auth.session_expired","message":"登录已过期","message_en":"expired","request_id":"r9"}"#;
    let server = serve(dev.public_key().to_vec(), vec![Answer::Signed(401, body)]).await;
    let e = client(&server.url)
        .send(&dev, &Call::get("/v1/x"))
        .await
        .unwrap_err();
    assert_eq!(e.code, "auth.session_expired");
    assert_eq!(e.http_status, 401);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    let m: crate::MerchantError = e.into();
    assert!(matches!(m, crate::MerchantError::Auth { .. }));
}

#[tokio::test]
async fn an_unreachable_platform_is_a_network_error_after_retries() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client(&format!("http://127.0.0.1:{port}"))
        .send(&device(), &Call::get("/v1/x"))
        .await
        .unwrap_err();
    assert!(e.is(&super::UNREACHABLE), "got {e}");
    let m: crate::MerchantError = e.into();
    assert!(matches!(m, crate::MerchantError::Network { .. }));
}

/// A mistyped answer is `platform.response_malformed` whose detail (logged,
/// and part of `Display`) names the field but never quotes the value, which
/// may be personal data.
#[test]
fn a_mistyped_answer_never_quotes_its_values() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Holder {
        merchant_id: String,
        id_number: u64,
    }
    for body in [
        &br#"{"merchant_id":"M1","id_number":"11010519491231002X"}"#[..],
        &br#"{"merchant_id":"M1","id_number":110105194912310021} trailing 11010519491231002X"#[..],
    ] {
        let reply = super::Reply {
            status: 200,
            body: body.to_vec(),
            request_id: None,
        };
        let e = reply.json::<Holder>().unwrap_err();
        assert!(e.is(&super::RESPONSE_MALFORMED), "{e}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("11010519491231002"), "{shown}");
    }
    let e = super::Reply {
        status: 200,
        body: br#"{"merchant_id":"M1","id_number":"11010519491231002X"}"#.to_vec(),
        request_id: None,
    }
    .json::<Holder>()
    .unwrap_err();
    assert!(format!("{e}").contains("id_number"), "{e}");
}

/// A client whose connect and request limits are `connect` and `request`.
fn client_with_timeouts(url: &str, connect: Duration, request: Duration) -> PlatformClient {
    let mut config = PlatformConfig::new(url, None, &signer().public_key_base64(), APPID).unwrap();
    config.timeouts = super::Timeouts { connect, request };
    config.backoff = Backoff {
        base: Duration::from_millis(2),
        cap: Duration::from_millis(10),
        max_retries: 3,
    };
    PlatformClient::new(config).unwrap()
}

/// Every call below ends well within this, or a time limit is missing.
const BOUND: Duration = Duration::from_secs(20);

/// A loopback server that never answers: the kernel completes each TCP
/// handshake into the listen queue and nobody reads or writes. Once the
/// client is done, [`Silent::requests`] accepts what is queued and reads the
/// request line of each connection (a closed one keeps its data).
struct Silent {
    url: String,
    listener: std::net::TcpListener,
}

impl Silent {
    fn start() -> Silent {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        Silent { url, listener }
    }

    /// The request lines (`GET /v1/x HTTP/1.1`) sent so far, one per connection.
    fn requests(&self) -> Vec<String> {
        use std::io::Read as _;
        let mut lines = Vec::new();
        loop {
            match self.listener.accept() {
                Ok((mut tcp, _)) => {
                    tcp.set_nonblocking(false).unwrap();
                    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(2).any(|w| w == b"\r\n") {
                        match tcp.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    lines.push(text.split("\r\n").next().unwrap_or("").to_owned());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return lines,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

#[tokio::test]
async fn a_silent_platform_times_out_and_only_idempotent_calls_are_tried_again() {
    let limit = Duration::from_millis(200);
    let server = Silent::start();
    let c = client_with_timeouts(&server.url, limit, limit);
    let dev = device();

    // A GET: 1 try + 3 retries, each ended by the request time limit.
    let e = tokio::time::timeout(BOUND, c.send(&dev, &Call::get("/v1/x")))
        .await
        .expect("the request time limit ends the call")
        .unwrap_err();
    assert!(e.is(&super::TIMEOUT), "got {e}");
    assert_eq!(e.code, "platform.timeout");
    let m: crate::MerchantError = e.into();
    assert!(matches!(m, crate::MerchantError::Network { .. }));
    assert_eq!(server.requests(), vec!["GET /v1/x HTTP/1.1"; 4]);

    // A keyed write is retried as often.
    let keyed = Call::post_json("/v1/keyed", &serde_json::json!({}))
        .unwrap()
        .with_idempotency_key("key-0123456789abcdef");
    let e = tokio::time::timeout(BOUND, c.send(&dev, &keyed))
        .await
        .expect("the request time limit ends the call")
        .unwrap_err();
    assert!(e.is(&super::TIMEOUT), "got {e}");
    assert_eq!(server.requests(), vec!["POST /v1/keyed HTTP/1.1"; 4]);

    // A write without a key may have been done: it is tried exactly once.
    let write = Call::post_json("/v1/write", &serde_json::json!({"a": 1})).unwrap();
    let e = tokio::time::timeout(BOUND, c.send(&dev, &write))
        .await
        .expect("the request time limit ends the call")
        .unwrap_err();
    assert!(e.is(&super::TIMEOUT), "got {e}");
    assert_eq!(server.requests(), vec!["POST /v1/write HTTP/1.1"]);
}

#[tokio::test]
async fn a_connection_that_is_never_accepted_times_out_at_connect() {
    // A listen queue of one, filled by two connections nobody accepts: the
    // kernel drops every further SYN, so the client's connect never
    // completes. The request limit is far beyond the bound, so only the
    // connect limit can end the call in time.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        fillers.push(TcpStream::connect(addr).await.unwrap());
    }
    let url = format!("http://{addr}");
    let c = client_with_timeouts(&url, Duration::from_millis(200), Duration::from_secs(600));
    let e = tokio::time::timeout(BOUND, c.send(&device(), &Call::get("/v1/x")))
        .await
        .expect("the connect time limit ends the call")
        .unwrap_err();
    assert!(e.is(&super::TIMEOUT), "got {e}");
    drop(fillers);
}

/// The detail of a failed call (logged, and part of `Display`) never holds
/// the URL's query, where a phone number may be.
#[tokio::test]
async fn a_failed_call_never_logs_the_query_of_its_url() {
    const PHONE: &str = "13800138000";
    let path = format!("/sandbox/sms?phone={PHONE}&purpose=sign_in");
    // Refused at connect.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client(&format!("http://127.0.0.1:{port}"))
        .send(&device(), &Call::get(path.clone()))
        .await
        .unwrap_err();
    assert!(e.is(&super::UNREACHABLE), "got {e}");
    let shown = format!("{e} {e:?}");
    assert!(e.detail.is_some(), "the cause is still logged");
    assert!(!shown.contains(PHONE), "{shown}");

    // Ended by the request time limit.
    let server = Silent::start();
    let limit = Duration::from_millis(200);
    let e = tokio::time::timeout(
        BOUND,
        client_with_timeouts(&server.url, limit, limit).send(&device(), &Call::get(path)),
    )
    .await
    .expect("the request time limit ends the call")
    .unwrap_err();
    assert!(e.is(&super::TIMEOUT), "got {e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(PHONE), "{shown}");
}
