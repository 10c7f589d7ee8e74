//! A loopback HTTP/1.1 proxy in front of the sandbox for the tests that need
//! to see or lose what travels: it records every exchange and can lose the
//! answers to one request (the platform did the write; the app never hears).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one HTTP/1.1 request (head and a `content-length` body).
pub async fn read_http_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(buf);
        }
    }
}

/// The request with `connection: close`, so the upstream answer ends at EOF.
pub fn force_close(request: &[u8]) -> Vec<u8> {
    let Some(end) = find(request, b"\r\n\r\n") else {
        return request.to_vec();
    };
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&request[end + 4..]);
    bytes
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request that went through a [`RecordingProxy`], and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `POST /v1/push-tokens`.
    pub request: String,
    pub idempotency_key: Option<String>,
    /// Whether the platform marked its answer as the replay of a first one.
    pub replayed: bool,
    /// Whether the proxy kept the answer from the core.
    pub dropped: bool,
}

/// A loopback proxy in front of the sandbox that records every exchange and,
/// while [`RecordingProxy::drop_answers_to`] names a request, lets that
/// request reach the platform but closes the connection instead of passing
/// the answer on (a lost answer).
pub struct RecordingProxy {
    pub url: String,
    log: Arc<std::sync::Mutex<Vec<Exchange>>>,
    drop: Arc<std::sync::Mutex<Option<String>>>,
}

impl RecordingProxy {
    pub async fn start(upstream: std::net::SocketAddr) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let drop = Arc::new(std::sync::Mutex::new(None::<String>));
        let (l, d) = (log.clone(), drop.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (l, d) = (l.clone(), d.clone());
                tokio::spawn(async move {
                    let _ = record_one(client, upstream, l, d).await;
                });
            }
        });
        RecordingProxy { url, log, drop }
    }

    /// Loses the answers to `request` (such as `POST /v1/push-tokens`), or
    /// none when `None`.
    pub fn drop_answers_to(&self, request: Option<&str>) {
        *self.drop.lock().unwrap() = request.map(str::to_owned);
    }

    /// The exchanges of `request`, in order.
    pub fn exchanges(&self, request: &str) -> Vec<Exchange> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.request == request)
            .cloned()
            .collect()
    }
}

/// The value of header `name` in an HTTP message's head.
pub fn header_of(message: &[u8], name: &str) -> Option<String> {
    let end = find(message, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&message[..end]).into_owned();
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

pub async fn record_one(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    log: Arc<std::sync::Mutex<Vec<Exchange>>>,
    drop: Arc<std::sync::Mutex<Option<String>>>,
) -> std::io::Result<()> {
    let request = read_http_message(&mut client).await?;
    let line = String::from_utf8_lossy(&request)
        .split("\r\n")
        .next()
        .unwrap_or("")
        .to_owned();
    let request_name = line
        .rsplit_once(' ')
        .map_or(line.clone(), |(r, _)| r.to_owned());
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&force_close(&request)).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    let dropped = drop.lock().unwrap().as_deref() == Some(request_name.as_str());
    log.lock().unwrap().push(Exchange {
        request: request_name,
        idempotency_key: header_of(&request, "idempotency-key"),
        replayed: header_of(&response, "idempotent-replayed").as_deref() == Some("true"),
        dropped,
    });
    if !dropped {
        client.write_all(&response).await?;
    }
    client.shutdown().await
}
