//! Test helpers: a sandbox on loopback and a device that signs its requests
//! by hand with the contract's helpers, verifying every response's signature.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use merchant_contract::envelope::{
    self, HEADER_AUTHORIZATION, HEADER_IDEMPOTENCY_KEY, HEADER_SESSION,
};
use merchant_contract::wire::{ErrorBody, RegisterDevice, SignedIn};
use merchant_contract::{DeviceKey, NonceCache, PlatformPublicKey, ResponseSignature};
use merchant_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use reqwest::Method;
use serde_json::Value;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

pub async fn start(config: SandboxConfig) -> RunningSandbox {
    Sandbox::start(config).await.expect("sandbox starts")
}

pub fn http_client(sandbox: &RunningSandbox) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(der) = &sandbox.certificate_der {
        roots
            .add(rustls_pki_types::CertificateDer::from(der.clone()))
            .expect("sandbox certificate");
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A response whose platform signature was verified.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).expect("body of the expected shape")
    }
    pub fn error(&self) -> ErrorBody {
        serde_json::from_slice(&self.body).expect("error body")
    }
    /// Asserts the status and error code.
    pub fn expect_error(&self, status: u16, code: &str) -> ErrorBody {
        assert_eq!(
            self.status,
            status,
            "status for {code}: body {}",
            String::from_utf8_lossy(&self.body)
        );
        let e = self.error();
        assert_eq!(e.code, code);
        assert!(!e.message.is_empty() && !e.message_en.is_empty());
        assert!(e.request_id.starts_with("req_"));
        assert_eq!(
            self.headers
                .get("lklapi-request-id")
                .and_then(|v| v.to_str().ok()),
            Some(e.request_id.as_str())
        );
        e
    }
}

/// Verifies a response's `Lklapi-*` signature over the exact body bytes,
/// its freshness and its nonce.
pub fn verify_response(
    key: &PlatformPublicKey,
    nonces: &std::sync::Mutex<NonceCache>,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let sig = ResponseSignature::from_headers(
        get(envelope::HEADER_APPID),
        get(envelope::HEADER_SERIAL),
        get(envelope::HEADER_TIMESTAMP),
        get(envelope::HEADER_NONCE),
        get(envelope::HEADER_SIGNATURE),
    )
    .expect("response carries a signature");
    sig.verify(key, body).expect("response signature verifies");
    envelope::check_freshness(sig.timestamp, now()).expect("fresh response");
    nonces
        .lock()
        .expect("nonce lock")
        .check_and_insert(&sig.nonce_str, sig.timestamp, now())
        .expect("response nonce not replayed");
}

/// One phone app: a device key, a session, a signing HTTP client.
pub struct App {
    pub base_url: String,
    pub app_id: String,
    pub http: reqwest::Client,
    pub key: DeviceKey,
    pub platform: PlatformPublicKey,
    pub nonces: std::sync::Mutex<NonceCache>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub merchant_id: Option<String>,
}

impl App {
    pub fn new(sandbox: &RunningSandbox) -> App {
        App {
            base_url: sandbox.base_url.clone(),
            app_id: sandbox.app_id.clone(),
            http: http_client(sandbox),
            key: DeviceKey::generate().expect("device key").0,
            platform: PlatformPublicKey::from_base64(&sandbox.platform_public_key)
                .expect("platform key"),
            nonces: std::sync::Mutex::new(NonceCache::new(10_000)),
            access_token: None,
            refresh_token: None,
            merchant_id: None,
        }
    }

    /// Sends a request; `sign` says whether to add the Authorization header.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_vec());
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await.expect("body read").to_vec();
        verify_response(&self.platform, &self.nonces, &headers, &body);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn authorization(&self, body: &[u8]) -> String {
        self.key
            .authorize(&self.app_id, now(), body)
            .expect("sign")
            .to_header_value()
    }

    /// A signed request with the session (if any) and extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, String)],
    ) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
        let signed = bytes.as_deref().unwrap_or(b"");
        let mut headers = vec![(HEADER_AUTHORIZATION, self.authorization(signed))];
        if let Some(t) = &self.access_token {
            headers.push((HEADER_SESSION, t.clone()));
        }
        headers.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
        self.raw(method, path, bytes.as_deref(), &headers).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// A write with a fresh idempotency key.
    pub async fn write(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let key = format!("test-{}", envelope::generate_nonce().expect("nonce"));
        self.call(method, path, body, &[(HEADER_IDEMPOTENCY_KEY, key)])
            .await
    }

    /// An unsigned request (sandbox-only controls).
    pub async fn open_get(&self, path: &str) -> Reply {
        self.raw(Method::GET, path, None, &[]).await
    }

    pub async fn open_post(&self, path: &str, body: Value) -> Reply {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.raw(Method::POST, path, Some(&bytes), &[]).await
    }

    /// Asks for a code, reads it from the sandbox, signs in.
    pub async fn sign_in(&mut self, phone: &str) -> SignedIn {
        let pk = self.key.public_key_base64();
        let r = self
            .post(
                "/v1/auth/sms-code",
                serde_json::json!({"phone": phone, "device_public_key": pk}),
            )
            .await;
        assert_eq!(
            r.status,
            200,
            "sms-code: {}",
            String::from_utf8_lossy(&r.body)
        );
        let sms = self.open_get(&format!("/sandbox/sms?phone={phone}")).await;
        assert_eq!(sms.status, 200);
        let code = sms.json()["code"].as_str().expect("code").to_owned();
        let r = self
            .post(
                "/v1/auth/sign-in",
                serde_json::json!({"phone": phone, "sms_code": code, "device_public_key": pk}),
            )
            .await;
        assert_eq!(
            r.status,
            200,
            "sign-in: {}",
            String::from_utf8_lossy(&r.body)
        );
        let signed: SignedIn = r.parse();
        self.access_token = Some(signed.access_token.clone());
        self.refresh_token = Some(signed.refresh_token.clone());
        self.merchant_id = Some(signed.merchant_id.clone());
        signed
    }

    /// Registers this device for the signed-in merchant.
    pub async fn register_device(&self) -> Reply {
        let body = RegisterDevice {
            device_public_key: self.key.public_key_base64(),
            name: "收银台手机".into(),
            os: "android".into(),
            model: "Pixel 8".into(),
            app_version: "1.0.0".into(),
        };
        let r = self
            .write(
                Method::POST,
                "/v1/devices",
                Some(serde_json::to_value(body).expect("json")),
            )
            .await;
        assert_eq!(
            r.status,
            200,
            "register: {}",
            String::from_utf8_lossy(&r.body)
        );
        r
    }

    /// Signed in with a registered device.
    pub async fn ready(sandbox: &RunningSandbox, phone: &str) -> App {
        let mut app = App::new(sandbox);
        app.sign_in(phone).await;
        app.register_device().await;
        app
    }
}

/// One frame of an event stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
}

/// Reads an event stream frame by frame.
pub struct SseReader {
    stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buf: String,
}

impl SseReader {
    /// The next frame, `None` when the server closed the stream. Fails the
    /// test if nothing comes within 10 s.
    pub async fn next(&mut self) -> Option<Frame> {
        use futures_util::StreamExt as _;
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut f = Frame::default();
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        f.comment = Some(c.trim().to_owned());
                    } else if let Some((k, v)) = line.split_once(':') {
                        let v = v.strip_prefix(' ').unwrap_or(v);
                        match k {
                            "id" => f.id = Some(v.to_owned()),
                            "event" => f.event = Some(v.to_owned()),
                            "data" => f.data.push_str(v),
                            _ => {}
                        }
                    }
                }
                return Some(f);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("the stream said something within 10 s");
            match chunk {
                Some(Ok(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next frame that is an event (keepalive comments skipped).
    pub async fn next_event(&mut self) -> Option<Frame> {
        loop {
            let f = self.next().await?;
            if f.id.is_some() {
                return Some(f);
            }
        }
    }
}

impl App {
    /// Opens `GET /v1/events`, resuming after `last_event_id`.
    pub async fn events(&self, last_event_id: Option<u64>) -> SseReader {
        let mut req = self
            .http
            .get(format!("{}/v1/events", self.base_url))
            .header(HEADER_AUTHORIZATION, self.authorization(b""))
            .header(
                HEADER_SESSION,
                self.access_token.clone().expect("signed in"),
            );
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = req.send().await.expect("stream opened");
        assert_eq!(res.status().as_u16(), 200);
        assert!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"))
        );
        // The stream's response is signed over an empty body.
        verify_response(&self.platform, &self.nonces, res.headers(), b"");
        SseReader {
            stream: Box::pin(res.bytes_stream()),
            buf: String::new(),
        }
    }

    /// Verifies a stream frame's signed payload; returns the event inside.
    pub fn open_event(&self, frame: &Frame) -> merchant_contract::wire::Event {
        let push = merchant_contract::SignedPush::parse(&frame.data).expect("signed payload");
        let ts = push
            .verify(&self.platform)
            .expect("payload signature verifies");
        envelope::check_freshness(ts, now()).expect("fresh payload");
        let event: merchant_contract::wire::Event =
            serde_json::from_str(&push.body).expect("event JSON");
        assert_eq!(
            frame.id.as_deref(),
            Some(event.event_id.to_string().as_str())
        );
        assert_eq!(frame.event.as_deref(), Some(event.event_type.as_str()));
        event
    }

    /// Emits an event for this app's merchant through the sandbox control.
    pub async fn inject(&self, n: u64) -> u64 {
        let r = self
            .open_post(
                "/sandbox/events",
                serde_json::json!({
                    "merchant_id": self.merchant_id.clone().expect("signed in"),
                    "type": "trade.created",
                    "data": {"n": n},
                }),
            )
            .await;
        assert_eq!(r.status, 200);
        r.json()["event_id"].as_u64().expect("event id")
    }
}
