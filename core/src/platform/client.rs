//! The platform client: signs every request with the device key, sends it
//! over the pinned transport, verifies the platform's signature on every
//! answer (errors included), maps refusals to typed errors with the
//! platform's code, and retries idempotent calls with full-jitter backoff.
//!
//! What is retried: plain network failures (unreachable, timeout) and
//! `502/503/504` answers, for GETs and for writes that carry an idempotency
//! key, at most [`Backoff::max_retries`] times. What is never retried: pin or
//! TLS failures, bad or missing response signatures, auth refusals, any
//! other platform refusal, and writes without an idempotency key.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use merchant_contract::envelope::{self as env, ResponseSignature};
use merchant_contract::{DeviceKey, EnvelopeError, NonceCache, PlatformPublicKey};
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::transport::{self, Timeouts};
use super::{Backoff, Endpoint, SpkiPin};
use crate::error::{Code, Error, ErrorKind, Problem, Result, current_language};
use merchant_contract::wire::ErrorBody;

/// The longest response body the client reads.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// How many response nonces the client remembers (within the freshness window).
const RESPONSE_NONCES: usize = 16 * 1024;

/// What the client needs to know about the platform.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub endpoint: Endpoint,
    /// SPKI SHA-256 pins; required for `https://`.
    pub pins: Vec<SpkiPin>,
    /// The key that signs responses and push payloads.
    pub platform_key: PlatformPublicKey,
    /// `appid` of the envelope.
    pub app_id: String,
    pub timeouts: Timeouts,
    pub backoff: Backoff,
}

impl PlatformConfig {
    /// Checks the app's settings: URL (http only to loopback), pin (required
    /// for https), the platform public key (base64 PKCS#1 DER), the appid.
    pub fn new(url: &str, pin: Option<&str>, public_key: &str, app_id: &str) -> Result<Self> {
        let endpoint = Endpoint::parse(url)?;
        let pins = match pin.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => vec![SpkiPin::parse(p)?],
            None if endpoint.is_tls() => return Err(Error::new(&super::PIN_MISSING)),
            None => Vec::new(),
        };
        let platform_key = PlatformPublicKey::from_base64(public_key)
            .map_err(|e| Error::new(&super::PUBLIC_KEY_INVALID).detail(e.to_string()))?;
        if !env::is_appid(app_id) {
            return Err(Error::new(&super::APP_ID_INVALID));
        }
        Ok(PlatformConfig {
            endpoint,
            pins,
            platform_key,
            app_id: app_id.to_owned(),
            timeouts: Timeouts::default(),
            backoff: Backoff::default(),
        })
    }
}

/// Told how many body bytes of a call were handed to the connection:
/// `(sent, total)`, from `(0, total)` to `(total, total)` on each try.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// The size of the pieces a body with [`Progress`] is handed over in.
pub const PROGRESS_CHUNK: usize = 64 * 1024;

/// One call to the platform.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// The path and query under the base URL, such as `/v1/auth/sign-in`.
    pub path: String,
    /// The exact body bytes (JSON unless `content_type` says otherwise);
    /// empty for GET.
    pub body: Vec<u8>,
    /// The body's media type; `None` is `application/json`.
    pub content_type: Option<&'static str>,
    /// The access token (`Lklapi-Session`), when the call needs a session.
    pub session: Option<String>,
    /// The idempotency key of a write; a write with one may be retried.
    pub idempotency_key: Option<String>,
    /// Told as the body goes out, when set.
    pub progress: Option<Progress>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Self {
        Call {
            method: Method::GET,
            path: path.into(),
            body: Vec::new(),
            content_type: None,
            session: None,
            idempotency_key: None,
            progress: None,
        }
    }

    /// A write of raw `body` bytes of type `content_type` (a photo, say),
    /// with `method` (PUT or POST). The request signature covers these bytes.
    pub fn raw(
        method: Method,
        path: impl Into<String>,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Self {
        Call {
            method,
            path: path.into(),
            body,
            content_type: Some(content_type),
            session: None,
            idempotency_key: None,
            progress: None,
        }
    }

    /// Reports the body's progress to `progress` as it is handed over.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// A POST of `body` serialised as JSON.
    pub fn post_json<T: serde::Serialize + ?Sized>(
        path: impl Into<String>,
        body: &T,
    ) -> Result<Self> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
        Ok(Call {
            method: Method::POST,
            path: path.into(),
            body,
            content_type: None,
            session: None,
            idempotency_key: None,
            progress: None,
        })
    }

    /// A PUT of `body` serialised as JSON.
    pub fn put_json<T: serde::Serialize + ?Sized>(
        path: impl Into<String>,
        body: &T,
    ) -> Result<Self> {
        Ok(Call {
            method: Method::PUT,
            ..Call::post_json(path, body)?
        })
    }

    /// A DELETE without a body.
    pub fn delete(path: impl Into<String>) -> Self {
        Call {
            method: Method::DELETE,
            ..Call::get(path)
        }
    }

    pub fn with_session(mut self, token: impl Into<String>) -> Self {
        self.session = Some(token.into());
        self
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// GETs and keyed writes may be sent again without doing anything twice.
    pub fn is_idempotent(&self) -> bool {
        self.method == Method::GET || self.method == Method::HEAD || self.idempotency_key.is_some()
    }
}

/// A verified 2xx answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
}

impl Reply {
    /// The body as `T`; a body that does not fit is [`super::RESPONSE_MALFORMED`].
    ///
    /// The detail names only where and what kind of mismatch it was, never
    /// serde's message: that can quote the value, and a value may be an ID
    /// or card number.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        decode(&self.body, &super::RESPONSE_MALFORMED)
    }
}

/// `body` as `T`, or `code` whose detail names where and what kind of
/// mismatch it was, never serde's message (that can quote personal data).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], code: &Code) -> Result<T> {
    let malformed = |e: &serde_json::Error, path: &str| {
        Error::new(code).detail(format!(
            "{:?} mismatch at `{path}` (line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| malformed(e.inner(), &e.path().to_string()))?;
    de.end().map_err(|e| malformed(&e, "end"))?;
    Ok(value)
}

/// The client. Cheap to share (`Arc`); one per core.
pub struct PlatformClient {
    http: reqwest::Client,
    config: PlatformConfig,
    nonces: Mutex<NonceCache>,
    rng: Mutex<StdRng>,
}

impl std::fmt::Debug for PlatformClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformClient")
            .field("endpoint", &self.config.endpoint.base().as_str())
            .finish_non_exhaustive()
    }
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl PlatformClient {
    pub fn new(config: PlatformConfig) -> Result<Self> {
        let http = transport::http_client(&config.endpoint, config.pins.clone(), config.timeouts)?;
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
            .map_err(|_| Error::new(&crate::error::INTERNAL).detail("system random failed"))?;
        Ok(PlatformClient {
            http,
            config,
            nonces: Mutex::new(NonceCache::new(RESPONSE_NONCES)),
            rng: Mutex::new(StdRng::from_seed(seed)),
        })
    }

    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// Sends `call` signed by `device`, retrying idempotent calls on network
    /// trouble. `Ok` only for a verified 2xx answer; a verified refusal is
    /// the platform's code as an [`Error`].
    pub async fn send(&self, device: &DeviceKey, call: &Call) -> Result<Reply> {
        let backoff = self.config.backoff;
        let mut retry = 0u32;
        loop {
            let result = self.send_once(device, call).await;
            let again = match &result {
                Err(e) => call.is_idempotent() && retry < backoff.max_retries && is_retryable(e),
                Ok(_) => false,
            };
            if !again {
                return result;
            }
            let wait = {
                let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
                backoff.delay(retry, &mut *rng)
            };
            if let Err(e) = &result {
                tracing::debug!(code = %e.code, retry, wait_ms = wait.as_millis() as u64, "retrying platform call");
            }
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// [`PlatformClient::send`], then the body as `T`.
    pub async fn call<T: DeserializeOwned>(&self, device: &DeviceKey, call: &Call) -> Result<T> {
        self.send(device, call).await?.json()
    }

    async fn send_once(&self, device: &DeviceKey, call: &Call) -> Result<Reply> {
        let request = self.request(device, call)?;
        let response = request.send().await.map_err(transport::classify)?;
        self.read_reply(response).await
    }

    /// `call` as a signed request (device signature over the body, session,
    /// idempotency key, content type), ready to send.
    pub(crate) fn request(
        &self,
        device: &DeviceKey,
        call: &Call,
    ) -> Result<reqwest::RequestBuilder> {
        let url = self.config.endpoint.url(&call.path)?;
        let auth = device
            .authorize(&self.config.app_id, unix_now(), &call.body)
            .map_err(|e| Error::new(&super::SIGNING_FAILED).detail(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            env::HEADER_AUTHORIZATION,
            header_value(&auth.to_header_value())?,
        );
        if let Some(token) = &call.session {
            headers.insert(env::HEADER_SESSION, header_value(token)?);
        }
        if let Some(key) = &call.idempotency_key {
            headers.insert(env::HEADER_IDEMPOTENCY_KEY, header_value(key)?);
        }
        if !call.body.is_empty() {
            let media = call.content_type.unwrap_or("application/json");
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(media));
        }
        let request = self.http.request(call.method.clone(), url).headers(headers);
        Ok(match &call.progress {
            None => request.body(call.body.clone()),
            Some(progress) => headers_content_length(request, call.body.len())
                .body(progress_body(call.body.clone(), progress.clone())),
        })
    }

    /// Continues [`PlatformClient::send_once`] after the request was sent.
    async fn read_reply(&self, mut response: reqwest::Response) -> Result<Reply> {
        let status = response.status().as_u16();
        let signature = read_signature(response.headers());
        let request_id = response
            .headers()
            .get(env::HEADER_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 128)
            .map(str::to_owned);
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(Error::new(&super::RESPONSE_TOO_LARGE));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport::classify)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::new(&super::RESPONSE_TOO_LARGE));
            }
            body.extend_from_slice(&chunk);
        }
        self.verify(signature, &body)?;
        if (200..300).contains(&status) {
            Ok(Reply {
                status,
                body,
                request_id,
            })
        } else {
            Err(refusal(status, &body))
        }
    }

    /// Verifies the platform's signature over `body`, its freshness and that
    /// its nonce is new.
    pub(crate) fn verify(
        &self,
        signature: Result<ResponseSignature, EnvelopeError>,
        body: &[u8],
    ) -> Result<()> {
        let sig = match signature {
            Ok(s) => s,
            Err(EnvelopeError::Missing) => return Err(Error::new(&super::RESPONSE_UNSIGNED)),
            Err(e) => {
                return Err(Error::new(&super::RESPONSE_SIGNATURE_INVALID).detail(e.to_string()));
            }
        };
        if sig.appid != self.config.app_id {
            return Err(Error::new(&super::RESPONSE_SIGNATURE_INVALID).detail("appid differs"));
        }
        sig.verify(&self.config.platform_key, body)
            .map_err(|e| Error::new(&super::RESPONSE_SIGNATURE_INVALID).detail(e.to_string()))?;
        self.fresh_and_unused(
            sig.timestamp,
            &sig.nonce_str,
            &super::RESPONSE_STALE,
            &super::RESPONSE_REPLAYED,
        )
    }

    /// Checks that a verified `timestamp` is within the freshness window and
    /// that `nonce` was not seen in it (responses and push payloads share
    /// the cache), then remembers the nonce.
    pub(crate) fn fresh_and_unused(
        &self,
        timestamp: i64,
        nonce: &str,
        stale: &Code,
        replayed: &Code,
    ) -> Result<()> {
        let now = unix_now();
        env::check_freshness(timestamp, now).map_err(|_| Error::new(stale))?;
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        match nonces.check_and_insert(nonce, timestamp, now) {
            Ok(()) => Ok(()),
            Err(EnvelopeError::Stale) => Err(Error::new(stale)),
            Err(e) => Err(Error::new(replayed).detail(e.to_string())),
        }
    }
}

fn headers_content_length(request: reqwest::RequestBuilder, len: usize) -> reqwest::RequestBuilder {
    request.header(reqwest::header::CONTENT_LENGTH, len)
}

/// `body` as a stream of [`PROGRESS_CHUNK`] pieces, telling `progress` as
/// each is handed to the connection (and `(0, total)` first).
fn progress_body(body: Vec<u8>, progress: Progress) -> reqwest::Body {
    let total = body.len() as u64;
    (progress.0)(0, total);
    let pieces: Vec<Vec<u8>> = body.chunks(PROGRESS_CHUNK).map(<[u8]>::to_vec).collect();
    let mut sent = 0u64;
    let stream = futures_util::stream::iter(pieces.into_iter().map(move |piece| {
        sent += piece.len() as u64;
        (progress.0)(sent, total);
        Ok::<_, std::io::Error>(piece)
    }));
    reqwest::Body::wrap_stream(stream)
}

fn header_value(text: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text)
        .map_err(|_| Error::new(&super::HEADER_INVALID).detail("value not allowed in a header"))
}

pub(crate) fn read_signature(headers: &HeaderMap) -> Result<ResponseSignature, EnvelopeError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    ResponseSignature::from_headers(
        get(env::HEADER_APPID),
        get(env::HEADER_SERIAL),
        get(env::HEADER_TIMESTAMP),
        get(env::HEADER_NONCE),
        get(env::HEADER_SIGNATURE),
    )
}

/// May this failure be tried again (for an idempotent call)?
pub fn is_retryable(e: &Error) -> bool {
    transport::is_transient(e)
        || (e.kind == ErrorKind::Platform && matches!(e.http_status, 502..=504))
}

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'[' | b']'))
}

/// A message from the platform fit to show: bounded, no control characters.
fn clean_message(m: String) -> Option<String> {
    let m: String = m.chars().filter(|c| !c.is_control()).take(200).collect();
    let m = m.trim().to_owned();
    (!m.is_empty()).then_some(m)
}

/// The typed error of a verified non-2xx answer: its body is the contract's
/// `ErrorBody` (docs/platform-api.md, "Errors"); anything else is
/// [`super::UNEXPECTED_STATUS`].
pub fn refusal(status: u16, body: &[u8]) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let Some(parsed) = parsed.filter(|b| is_code(&b.code)) else {
        let mut e = Error::new(&super::UNEXPECTED_STATUS).detail(format!("status {status}"));
        e.http_status = status;
        return e;
    };
    let problems: Vec<Problem> = parsed
        .fields
        .iter()
        .flatten()
        .filter(|f| is_code(&f.code) && is_field_name(&f.field))
        .take(64)
        .map(|f| Problem {
            code: f.code.clone(),
            field: f.field.clone(),
            message: crate::error::find(&f.code)
                .map(|c| c.message(current_language()).to_owned())
                .unwrap_or_else(|| f.code.clone()),
        })
        .collect();
    let message = match current_language() {
        crate::error::Lang::Zh => clean_message(parsed.message),
        crate::error::Lang::En => clean_message(parsed.message_en),
    };
    let kind = if problems.is_empty() {
        super::kind_of(&parsed.code, status)
    } else {
        ErrorKind::Input
    };
    let mut e =
        Error::platform(kind, parsed.code, message, status).detail(format!("status {status}"));
    e.problems = problems;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use merchant_contract::wire::FieldError;

    /// A refusal body as the platform writes it.
    fn body(code: &str, fields: &[(&str, &str)]) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody {
            code: code.to_owned(),
            message: format!("{code} 中文"),
            message_en: format!("{code} English"),
            request_id: "req-1".to_owned(),
            fields: (!fields.is_empty()).then(|| {
                fields
                    .iter()
                    .map(|(f, c)| FieldError {
                        field: (*f).to_owned(),
                        code: (*c).to_owned(),
                    })
                    .collect()
            }),
        })
        .unwrap()
    }

    #[test]
    fn refusals_keep_the_platform_code_and_pick_the_kind() {
        let e = refusal(401, &body("auth.session_expired", &[]));
        assert_eq!(e.code, "auth.session_expired");
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_eq!(e.http_status, 401);
        // The platform's own message, in the current language (a global
        // another test could switch: either is right).
        let shown = ["auth.session_expired 中文", "auth.session_expired English"];
        assert!(shown.contains(&e.message.as_deref().unwrap_or("")));
        let m: crate::MerchantError = e.into();
        assert!(
            matches!(m, crate::MerchantError::Auth { ref code, ref detail } if code == "auth.session_expired" && shown.contains(&detail.as_str()))
        );

        let e = refusal(404, &body("resource.not_found", &[]));
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = refusal(409, &body("terminal.owned_by_other", &[]));
        assert_eq!(e.kind, ErrorKind::Conflict);
        let e = refusal(503, &body("server.busy", &[]));
        assert_eq!(e.kind, ErrorKind::Platform);
        assert!(is_retryable(&e));
        let e = refusal(500, &body("server.internal", &[]));
        assert!(!is_retryable(&e));
        let m: crate::MerchantError = refusal(429, &body("auth.sms_rate_limited", &[])).into();
        assert_eq!(m.code(), "auth.sms_rate_limited");
    }

    #[test]
    fn field_refusals_list_every_field() {
        let e = refusal(
            400,
            &body(
                "request.field_invalid",
                &[
                    ("phone", "auth.phone_invalid"),
                    ("name", "name.empty"),
                    ("bad field", "x"),
                ],
            ),
        );
        assert_eq!(e.kind, ErrorKind::Input);
        assert_eq!(e.problems.len(), 2);
        assert_eq!(e.problems[0].field, "phone");
        assert_eq!(e.problems[0].code, "auth.phone_invalid");
    }

    #[test]
    fn garbage_refusals_are_unexpected_status_and_never_panic() {
        for body in [
            &b""[..],
            b"<html>",
            br#"{"code":"server.busy"}"#,
            &body("Not A Code", &[]),
            &body("", &[]),
            br#"{"message":"no code","message_en":"","request_id":""}"#,
            br#"[1,2]"#,
            &[0xff, 0xfe, 0x00],
        ] {
            let e = refusal(502, body);
            assert!(e.is(&super::super::UNEXPECTED_STATUS), "{body:?}");
            assert_eq!(e.http_status, 502);
            assert!(is_retryable(&e));
        }
        let long = body(&"a".repeat(100), &[]);
        assert!(refusal(400, &long).is(&super::super::UNEXPECTED_STATUS));
    }

    #[test]
    fn platform_messages_are_cleaned_and_bounded() {
        let text = serde_json::to_vec(&ErrorBody {
            code: "auth.sms_code_wrong".to_owned(),
            message: format!("错\u{7}误{}", "长".repeat(500)),
            message_en: String::new(),
            request_id: String::new(),
            fields: None,
        })
        .unwrap();
        let e = refusal(401, &text);
        let msg = e.message.unwrap();
        assert!(msg.starts_with("错误"));
        assert_eq!(msg.chars().count(), 200);
    }

    #[test]
    fn only_idempotent_calls_are_marked_so() {
        assert!(Call::get("/v1/x").is_idempotent());
        let post = Call::post_json("/v1/x", &serde_json::json!({})).unwrap();
        assert!(!post.is_idempotent());
        assert!(post.with_idempotency_key("k".repeat(20)).is_idempotent());
    }

    #[test]
    fn config_is_checked() {
        let key = merchant_contract::PlatformSigner::from_pkcs8(include_bytes!(
            "../../../sandbox/keys/platform-sandbox.pk8"
        ))
        .unwrap()
        .public_key_base64();
        let pin = SpkiPin::of_spki(b"x").to_base64();
        assert!(PlatformConfig::new("https://127.0.0.1:1", Some(&pin), &key, "OP1").is_ok());
        assert!(PlatformConfig::new("http://127.0.0.1:1", None, &key, "OP1").is_ok());
        let e = PlatformConfig::new("https://127.0.0.1:1", None, &key, "OP1").unwrap_err();
        assert!(e.is(&super::super::PIN_MISSING));
        let e = PlatformConfig::new("http://127.0.0.1:1", None, "AAAA", "OP1").unwrap_err();
        assert!(e.is(&super::super::PUBLIC_KEY_INVALID));
        let e = PlatformConfig::new("http://127.0.0.1:1", None, &key, "bad app id").unwrap_err();
        assert!(e.is(&super::super::APP_ID_INVALID));
        let e = PlatformConfig::new("http://example.com", None, &key, "OP1").unwrap_err();
        assert!(e.is(&super::super::INSECURE_URL));
    }
}
