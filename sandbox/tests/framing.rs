//! Requests broken at the HTTP framing level are refused by the HTTP layer
//! itself (unsigned, no JSON code), a connection that never finishes its
//! request head is closed, and the body limit applies to known endpoints
//! only (docs/platform-api.md, "Conventions" and "Errors").

mod common;

use std::time::Duration;

use common::*;
use merchant_contract::envelope::HEADER_AUTHORIZATION;
use merchant_contract::routes::BODY_LIMIT;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Sends `request` on a fresh connection and reads until the server closes
/// it (bounded by a timeout); returns what came back.
async fn exchange(sandbox: &merchant_sandbox::RunningSandbox, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(sandbox.addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

fn is_signed(response: &str) -> bool {
    response
        .to_ascii_lowercase()
        .contains("\r\nlklapi-signature:")
}

#[tokio::test]
async fn broken_framing_is_refused_by_the_http_layer_unsigned() {
    let sandbox = start(SandboxConfig::default()).await;
    // A well-formed request on the same kind of connection is signed: the
    // helper below tells the two apart.
    let ok = exchange(
        &sandbox,
        b"GET /sandbox/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&ok), 200);
    assert!(is_signed(&ok));

    let mut many = String::from("GET /sandbox/info HTTP/1.1\r\nhost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let r = exchange(&sandbox, many.as_bytes()).await;
    assert_eq!(status_of(&r), 431, "{r}");
    assert!(!is_signed(&r));

    // A head larger than the limit, in few headers.
    let huge = format!(
        "GET /sandbox/info HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let r = exchange(&sandbox, huge.as_bytes()).await;
    assert_eq!(status_of(&r), 431, "{r}");
    assert!(!is_signed(&r));

    let r = exchange(
        &sandbox,
        b"POST /v1/auth/sms-code HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n{}",
    )
    .await;
    assert_eq!(status_of(&r), 400, "{r}");
    assert!(!is_signed(&r));

    let r = exchange(&sandbox, b"GET /sandbox/info HTTP/9.9\r\nhost: x\r\n\r\n").await;
    assert_eq!(status_of(&r), 400, "{r}");
    assert!(!is_signed(&r));
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_head_is_closed() {
    let sandbox = start(SandboxConfig {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // Half a request head, then silence: the server closes the connection
    // without answering the request.
    let r = exchange(&sandbox, b"GET /sandbox/info HTTP/1.1\r\nhost: x\r\n").await;
    assert!(!r.contains(" 200 "), "{r}");
    assert!(!is_signed(&r));
    // The sandbox still serves other connections.
    let ok = exchange(
        &sandbox,
        b"GET /sandbox/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&ok), 200);
}

#[tokio::test]
async fn the_body_limit_applies_to_known_endpoints_before_the_signature() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    let big = vec![b'a'; BODY_LIMIT + 1];
    // A known endpoint: 413 before the (missing) signature is looked at.
    app.raw(Method::POST, "/v1/auth/sms-code", Some(&big), &[])
        .await
        .expect_error(413, "request.body_too_large");
    // With a signature that does not even verify: still 413 first.
    app.raw(
        Method::POST,
        "/v1/devices",
        Some(&big),
        &[(HEADER_AUTHORIZATION, app.authorization(b"{}"))],
    )
    .await
    .expect_error(413, "request.body_too_large");
    // An unknown path is 404 and a known path with another method 405,
    // whatever the body's size.
    app.raw(Method::POST, "/v1/nothing-here", Some(&big), &[])
        .await
        .expect_error(404, "route.not_found");
    app.raw(Method::PUT, "/v1/devices", Some(&big), &[])
        .await
        .expect_error(405, "route.method_not_allowed");
}
