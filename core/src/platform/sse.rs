//! The live stream: Server-Sent Events from `GET /v1/events`
//! (docs/platform-api.md, "Events"), read under hard limits, each event's
//! signed envelope verified, kept open across drops with `Last-Event-ID`.
//!
//! - [`FrameReader`]: an SSE frame reader over the bytes as they come
//!   (lines end in `\n`, `\r\n` or `\r`; fields `id`, `event`, `data`,
//!   `retry`; `:` comments such as `: keepalive`). It holds at most one
//!   chunk, one line ([`Limits::line`]) and one frame ([`Limits::frame`]):
//!   a hostile stream cannot grow memory without bound. A line or frame over
//!   its limit, or bytes that are not UTF-8, are `stream.*` errors, and the
//!   connection is dropped.
//! - [`check_frame`]: a frame's `data` is a signed push payload, verified
//!   by the one push verification ([`EventSource::verify`], which is
//!   [`super::PlatformClient::verify_push`]): signature, ±300 s, nonce. Its
//!   `id:` and `event:` must agree with the signed event. A frame that fails
//!   is dropped with its code (`platform.push_*`, `stream.id_mismatch`,
//!   `stream.type_mismatch`) and logged without its content.
//! - [`spawn`]: the reconnecting loop. It asks the [`EventSink`] for the
//!   last event id it committed, opens the stream after it through the
//!   [`EventSource`], delivers each verified event in order, reconnects
//!   when the stream closes, fails or stays silent for
//!   [`StreamConfig::idle_timeout`] (2.5 keepalives), waiting a full-jitter
//!   backoff ([`Backoff`], base 1 s, cap 60 s, reset after a healthy
//!   connection) that [`LiveStream::network_available`] cuts short. An
//!   `Auth`, `Input` or `Internal` failure (the session is over, the config
//!   is wrong) ends the loop. [`LiveStream`] cancels it on `cancel()` or drop.
//!
//! This layer knows no capability and no session: the session implements
//! [`EventSource`] (the authenticated request), the consumer [`EventSink`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use merchant_contract::DeviceKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use tokio::sync::{Notify, watch};

use super::client::{Call, PlatformClient, read_signature, refusal};
use super::{Backoff, VerifiedPush, transport};
use crate::error::{Error, ErrorKind, Result};

crate::codes! {
    LINE_TOO_LONG = Platform, "stream.line_too_long", "实时推送中的一行数据超过上限，连接已断开并将重连", "A line of the live stream is over its limit; the connection was dropped and will be made again";
    FRAME_TOO_LARGE = Platform, "stream.frame_too_large", "实时推送中的一条消息超过上限，连接已断开并将重连", "A message of the live stream is over its limit; the connection was dropped and will be made again";
    NOT_UTF8 = Platform, "stream.not_utf8", "实时推送含有无法识别的字符，连接已断开并将重连", "The live stream holds bytes that are not UTF-8; the connection was dropped and will be made again";
    ID_MISMATCH = Integrity, "stream.id_mismatch", "实时推送消息的编号与签名内容不符，已丢弃", "A live stream message's id differs from its signed event; it was dropped";
    TYPE_MISMATCH = Integrity, "stream.type_mismatch", "实时推送消息的类型与签名内容不符，已丢弃", "A live stream message's type differs from its signed event; it was dropped";
    NOT_EVENT_STREAM = Platform, "stream.not_event_stream", "平台未返回实时推送流", "The platform did not answer with an event stream";
    IDLE = Network, "stream.idle", "实时推送长时间没有数据，正在重连", "The live stream went quiet for too long; reconnecting";
    CLOSED = Network, "stream.closed", "实时推送连接已断开，正在重连", "The live stream was closed; reconnecting";
}

/// The longest line read, without its line end: a push payload
/// ([`merchant_contract::envelope::MAX_PUSH_LEN`], 64 KiB) after `data: `.
pub const MAX_LINE: usize = merchant_contract::envelope::MAX_PUSH_LEN + 64;
/// The most bytes of field lines one frame may hold.
pub const MAX_FRAME: usize = 256 * 1024;
/// The longest a stream's request lives: the connection is renewed (with
/// `Last-Event-ID`, losing nothing) at least this often.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(24 * 3600);

/// The reader's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest line, in bytes, without its line end.
    pub line: usize,
    /// The most bytes of field lines (line ends not counted) in one frame.
    pub frame: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            line: MAX_LINE,
            frame: MAX_FRAME,
        }
    }
}

/// One dispatched SSE frame (a blank line ended it and it had `data`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    /// The `data` lines joined by `\n`.
    pub data: String,
    /// A `retry:` the server suggested, in milliseconds.
    pub retry_ms: Option<u64>,
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Frame(Frame),
    /// A comment line (`: keepalive`): proof the connection is alive.
    Comment,
}

/// An SSE frame reader: [`FrameReader::push`] a chunk, then take
/// [`FrameReader::next_item`] until it says `None`. After an error the reader
/// must be dropped with its connection.
#[derive(Debug)]
pub struct FrameReader {
    limits: Limits,
    chunk: Vec<u8>,
    pos: usize,
    line: Vec<u8>,
    /// The previous line ended in `\r`: a `\n` next is part of that end.
    after_cr: bool,
    /// No line finished yet (a UTF-8 byte order mark may start the stream).
    first_line: bool,
    frame: Frame,
    frame_bytes: usize,
    has_data: bool,
}

impl FrameReader {
    pub fn new(limits: Limits) -> Self {
        FrameReader {
            limits,
            chunk: Vec::new(),
            pos: 0,
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            frame: Frame::default(),
            frame_bytes: 0,
            has_data: false,
        }
    }

    /// Hands the reader the next chunk of the stream. What is left of the
    /// previous chunk (if [`FrameReader::next_item`] was not drained) is kept
    /// ahead of it.
    pub fn push(&mut self, chunk: Vec<u8>) {
        if self.pos >= self.chunk.len() {
            self.chunk = chunk;
        } else {
            self.chunk.drain(..self.pos);
            self.chunk.extend_from_slice(&chunk);
        }
        self.pos = 0;
    }

    /// The next frame or comment in what was pushed; `None` when more bytes
    /// are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        loop {
            let Some(rest) = self.chunk.get(self.pos..).filter(|r| !r.is_empty()) else {
                self.chunk.clear();
                self.pos = 0;
                return Ok(None);
            };
            if self.after_cr {
                self.after_cr = false;
                if rest.first() == Some(&b'\n') {
                    self.pos += 1;
                    continue;
                }
            }
            let end = rest.iter().position(|b| *b == b'\n' || *b == b'\r');
            let piece = end.map_or(rest, |i| &rest[..i]);
            if self.line.len() + piece.len() > self.limits.line {
                return Err(Error::new(&LINE_TOO_LONG)
                    .detail(format!("a line over {} bytes", self.limits.line)));
            }
            self.line.extend_from_slice(piece);
            let Some(i) = end else {
                self.pos = self.chunk.len();
                continue;
            };
            self.after_cr = rest[i] == b'\r';
            self.pos += i + 1;
            let line = std::mem::take(&mut self.line);
            if let Some(item) = self.line_done(&line)? {
                return Ok(Some(item));
            }
        }
    }

    /// The bytes the reader holds besides the chunk it was handed: the
    /// line under way and the frame under way, never more than
    /// `limits.line + limits.frame`.
    pub fn held(&self) -> usize {
        self.line.len()
            + self.frame.data.len()
            + self.frame.event.as_ref().map_or(0, String::len)
            + self.frame.id.as_ref().map_or(0, String::len)
    }

    fn line_done(&mut self, mut line: &[u8]) -> Result<Option<Item>> {
        if self.first_line {
            self.first_line = false;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            let frame = std::mem::take(&mut self.frame);
            let dispatch = self.has_data;
            self.has_data = false;
            self.frame_bytes = 0;
            return Ok(dispatch.then(|| {
                let mut frame = frame;
                if frame.data.ends_with('\n') {
                    frame.data.pop();
                }
                Item::Frame(frame)
            }));
        }
        if line.first() == Some(&b':') {
            return Ok(Some(Item::Comment));
        }
        self.frame_bytes += line.len();
        if self.frame_bytes > self.limits.frame {
            return Err(Error::new(&FRAME_TOO_LARGE)
                .detail(format!("a frame over {} bytes", self.limits.frame)));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| Error::new(&NOT_UTF8).detail("a line is not UTF-8"))?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.frame.data.push_str(value);
                self.frame.data.push('\n');
                self.has_data = true;
            }
            "event" => self.frame.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.frame.id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.frame.retry_ms = value.parse().ok();
            }
            _ => {}
        }
        Ok(None)
    }
}

/// The stream's bytes, chunk by chunk; a failure is a coded [`Error`].
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>;

impl PlatformClient {
    /// Sends `call` (a signed GET of `/v1/events` with the session) with
    /// `Last-Event-ID` and returns the stream's bytes once the platform
    /// answered `text/event-stream` with a head signed over the empty body.
    /// A refusal is verified and typed as for any call (`auth.*`, ...).
    /// Never retried here: the stream loop reconnects.
    pub async fn open_event_stream(
        &self,
        device: &DeviceKey,
        call: &Call,
        last_event_id: Option<u64>,
    ) -> Result<ByteStream> {
        let mut request = self
            .request(device, call)?
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .timeout(MAX_CONNECTION_AGE);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", HeaderValue::from(id));
        }
        let mut response = request.send().await.map_err(transport::classify)?;
        let status = response.status().as_u16();
        let signature = read_signature(response.headers());
        if !(200..300).contains(&status) {
            // A refusal is small; read at most a push payload's worth.
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport::classify)? {
                if body.len() + chunk.len() > merchant_contract::envelope::MAX_PUSH_LEN {
                    return Err(Error::new(&super::RESPONSE_TOO_LARGE));
                }
                body.extend_from_slice(&chunk);
            }
            self.verify(signature, &body)?;
            return Err(refusal(status, &body));
        }
        self.verify(signature, b"")?;
        let is_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return Err(Error::new(&NOT_EVENT_STREAM).detail(format!("status {status}")));
        }
        Ok(Box::pin(response.bytes_stream().map(|chunk| {
            chunk.map(|b| b.to_vec()).map_err(transport::classify)
        })))
    }
}

/// Opens the stream and verifies its events: the session implements it.
pub trait EventSource: Send + Sync + 'static {
    /// Opens `GET /v1/events` resuming after `last_event_id`.
    fn open(&self, last_event_id: Option<u64>) -> impl Future<Output = Result<ByteStream>> + Send;
    /// Verifies one frame's data, a signed push payload (the push check).
    fn verify(&self, payload: &str) -> Result<VerifiedPush>;
}

/// The consumer of the stream's events: it keeps the last event id it
/// committed (with the event's effect, in one transaction), and the stream
/// resumes after it.
pub trait EventSink: Send + Sync + 'static {
    /// The id of the last event whose effect is committed; `None` for none.
    fn last_event_id(&self) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Applies one verified event (ids increase within a connection). `Err`
    /// drops the connection and the stream comes again from
    /// [`EventSink::last_event_id`] after a backoff; an `Auth` error ends it.
    fn deliver(&self, event: VerifiedPush) -> impl Future<Output = Result<()>> + Send;
    /// The platform refused to resume after the sink's last id
    /// ([`is_resume_refused`]: 410 `events.resume_expired`, the events after
    /// it are gone; 409 `events.resume_ahead`, the id is not from this
    /// platform). The sink catches up by other means and forgets its
    /// position; the stream then opens without `Last-Event-ID`. `Err` drops
    /// the try (a backoff, then the same again).
    fn resume_refused(&self, _error: &Error) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

/// Whether the platform refused a `Last-Event-ID` (see
/// [`EventSink::resume_refused`]).
pub fn is_resume_refused(e: &Error) -> bool {
    use merchant_contract::codes::{EVENTS_RESUME_AHEAD, EVENTS_RESUME_EXPIRED};
    e.code == EVENTS_RESUME_EXPIRED.code || e.code == EVENTS_RESUME_AHEAD.code
}

/// Where the stream is, for the app.
#[derive(Debug, Clone)]
pub enum StreamState {
    /// Opening the connection.
    Connecting,
    /// The platform answered with the stream.
    Connected,
    /// The connection failed or ended with `error`; the next try is in
    /// `retry_in` (cut short by [`LiveStream::network_available`]).
    Waiting { retry_in: Duration, error: Error },
    /// One frame was dropped (forged, stale, replayed, malformed); the
    /// connection goes on.
    Rejected { error: Error },
    /// The loop ended: cancelled (`None`) or by a failure it cannot mend.
    Stopped { error: Option<Error> },
}

/// How the stream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// The platform's keepalive interval (15 s); silence for 2.5 of them
    /// drops the connection.
    pub keepalive: Duration,
    /// Waits between tries: base 1 s, cap 60 s (`max_retries` is unused:
    /// the stream never gives up on network trouble).
    pub backoff: Backoff,
    /// How long opening a connection may take.
    pub open_timeout: Duration,
    pub limits: Limits,
    /// Seeds the jitter (tests); `None` draws from the system.
    pub seed: Option<u64>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            keepalive: Duration::from_secs(15),
            backoff: Backoff::LIVE_STREAM,
            open_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            seed: None,
        }
    }
}

impl StreamConfig {
    /// Silence longer than this (2.5 keepalives) drops the connection.
    pub fn idle_timeout(&self) -> Duration {
        self.keepalive.saturating_mul(5) / 2
    }
}

/// Whether a failure ends the loop rather than being waited out: the
/// session is over or refused (`Auth`), the config or a request is wrong
/// (`Input`), or a bug (`Internal`).
pub fn ends_stream(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::Auth | ErrorKind::Input | ErrorKind::Internal
    )
}

/// Checks one frame: its data verified as a signed push payload, its `id:`
/// and `event:` (when present) equal to the signed event's.
pub fn check_frame<S: EventSource + ?Sized>(source: &S, frame: &Frame) -> Result<VerifiedPush> {
    let verified = source.verify(&frame.data)?;
    if let Some(id) = &frame.id
        && id.trim().parse::<u64>().ok() != Some(verified.event.event_id)
    {
        return Err(Error::new(&ID_MISMATCH).detail("id field differs from event_id"));
    }
    if let Some(t) = &frame.event
        && *t != verified.event.event_type
    {
        return Err(Error::new(&TYPE_MISMATCH).detail("event field differs from type"));
    }
    Ok(verified)
}

/// The controls a [`LiveStream`] shares with its loop.
#[derive(Debug)]
struct Control {
    cancel: watch::Sender<bool>,
    network: Notify,
    /// Set when the loop has ended, before `Stopped` is told: a listener
    /// told `Stopped` (a foreign one has no `wait`) sees `is_stopped`.
    ended: AtomicBool,
}

/// A running stream loop. `cancel()` or dropping it stops the loop: no
/// delivery starts after the loop saw the cancel, and the one under way (if
/// any) completes; [`LiveStream::wait`] returns when the loop has ended.
#[derive(Debug)]
pub struct LiveStream {
    control: Arc<Control>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LiveStream {
    pub fn cancel(&self) {
        self.control.cancel.send_replace(true);
    }

    /// The network is back: a wait before the next try ends now (and the
    /// backoff starts again from its base).
    pub fn network_available(&self) {
        self.control.network.notify_waiters();
    }

    /// Whether the loop has ended (true from before `Stopped` is told).
    pub fn is_stopped(&self) -> bool {
        if self.control.ended.load(Ordering::Acquire) {
            return true;
        }
        match self.task.lock() {
            Ok(t) => t.as_ref().is_none_or(|t| t.is_finished()),
            Err(_) => true,
        }
    }

    /// Completes once the loop was cancelled or has ended by itself; owns
    /// what it needs, so a companion task can await it.
    pub fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut cancelled = self.control.cancel.subscribe();
        async move {
            let _ = cancelled.wait_for(|c| *c).await;
        }
    }

    /// Waits until the loop has ended (after `cancel()`, or by itself).
    pub async fn wait(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.control.cancel.send_replace(true);
    }
}

/// Told each [`StreamState`] change, from the loop's task.
pub type StateListener = Arc<dyn Fn(StreamState) + Send + Sync>;

/// Starts the loop on `runtime`.
pub fn spawn<Src: EventSource, Snk: EventSink>(
    runtime: &tokio::runtime::Handle,
    source: Arc<Src>,
    sink: Arc<Snk>,
    config: StreamConfig,
    on_state: StateListener,
) -> LiveStream {
    let (cancel, cancelled) = watch::channel(false);
    let control = Arc::new(Control {
        cancel,
        network: Notify::new(),
        ended: AtomicBool::new(false),
    });
    let task = runtime.spawn(run(
        source,
        sink,
        config,
        control.clone(),
        cancelled,
        on_state,
    ));
    LiveStream {
        control,
        task: Mutex::new(Some(task)),
    }
}

/// How one connection ended.
enum Ended {
    Cancelled,
    /// With `error`; `healthy` when it carried a frame or a keepalive.
    Failed {
        healthy: bool,
        error: Error,
    },
}

async fn until_cancelled(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await;
}

fn is_cancelled(cancel: &watch::Receiver<bool>) -> bool {
    *cancel.borrow() || cancel.has_changed().is_err()
}

async fn run<Src: EventSource, Snk: EventSink>(
    source: Arc<Src>,
    sink: Arc<Snk>,
    config: StreamConfig,
    control: Arc<Control>,
    mut cancelled: watch::Receiver<bool>,
    on_state: StateListener,
) {
    let mut rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => {
            let mut seed = [0u8; 32];
            // Without the system's randomness the jitter is still a spread.
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed);
            StdRng::from_seed(seed)
        }
    };
    let mut attempt = 0u32;
    let stopped = loop {
        if is_cancelled(&cancelled) {
            break None;
        }
        on_state(StreamState::Connecting);
        let ended = connection(&*source, &*sink, &config, &mut cancelled, &on_state).await;
        let (healthy, error) = match ended {
            Ended::Cancelled => break None,
            Ended::Failed { healthy, error } => (healthy, error),
        };
        if ends_stream(&error) {
            break Some(error);
        }
        if healthy {
            attempt = 0;
        }
        let retry_in = config.backoff.delay(attempt, &mut rng);
        attempt = attempt.saturating_add(1);
        tracing::info!(code = %error.code, retry_in_ms = retry_in.as_millis() as u64, "live stream waiting to reconnect");
        // Registered before the state is told, so a hint given as soon as
        // the app sees `Waiting` is not missed.
        let hint = control.network.notified();
        tokio::pin!(hint);
        hint.as_mut().enable();
        on_state(StreamState::Waiting { retry_in, error });
        tokio::select! {
            biased;
            _ = until_cancelled(&mut cancelled) => break None,
            _ = &mut hint => attempt = 0,
            _ = tokio::time::sleep(retry_in) => {}
        }
    };
    control.ended.store(true, Ordering::Release);
    // Ended by itself too: whoever awaits `ended()` stops with it.
    control.cancel.send_replace(true);
    on_state(StreamState::Stopped { error: stopped });
}

/// One connection: opened after the sink's last id, read until it fails,
/// closes, goes quiet or the loop is cancelled.
async fn connection<Src: EventSource, Snk: EventSink>(
    source: &Src,
    sink: &Snk,
    config: &StreamConfig,
    cancelled: &mut watch::Receiver<bool>,
    on_state: &StateListener,
) -> Ended {
    let failed = |healthy, error| Ended::Failed { healthy, error };
    let opened = tokio::select! {
        biased;
        _ = until_cancelled(cancelled) => return Ended::Cancelled,
        r = tokio::time::timeout(config.open_timeout, async {
            let last = sink.last_event_id().await?;
            match source.open(last).await {
                Err(e) if last.is_some() && is_resume_refused(&e) => {
                    tracing::info!(code = %e.code, "live stream cannot resume; catching up");
                    sink.resume_refused(&e).await?;
                    Ok::<_, Error>((None, source.open(None).await?))
                }
                opened => Ok((last, opened?)),
            }
        }) => r,
    };
    let (mut last, mut bytes) = match opened {
        Err(_) => {
            return failed(
                false,
                Error::new(&super::TIMEOUT).detail("opening the stream"),
            );
        }
        Ok(Err(e)) => return failed(false, e),
        Ok(Ok(opened)) => opened,
    };
    on_state(StreamState::Connected);
    let idle = config.idle_timeout();
    let mut reader = FrameReader::new(config.limits);
    let mut healthy = false;
    let mut quiet_until = tokio::time::Instant::now() + idle;
    loop {
        loop {
            let frame = match reader.next_item() {
                Err(e) => return failed(healthy, e),
                Ok(None) => break,
                Ok(Some(Item::Comment)) => {
                    healthy = true;
                    quiet_until = tokio::time::Instant::now() + idle;
                    continue;
                }
                Ok(Some(Item::Frame(frame))) => frame,
            };
            healthy = true;
            quiet_until = tokio::time::Instant::now() + idle;
            let event = match check_frame(source, &frame) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(code = %error.code, "live stream frame dropped");
                    on_state(StreamState::Rejected { error });
                    continue;
                }
            };
            let id = event.event.event_id;
            if last.is_some_and(|l| id <= l) {
                tracing::debug!(
                    event_id = id,
                    "live stream event already delivered; skipped"
                );
                continue;
            }
            if is_cancelled(cancelled) {
                return Ended::Cancelled;
            }
            if let Err(e) = sink.deliver(event).await {
                return failed(healthy, e);
            }
            last = Some(id);
        }
        // Bytes already there win over the idle timer (a slow delivery is
        // not the platform's silence).
        let chunk = tokio::select! {
            biased;
            _ = until_cancelled(cancelled) => return Ended::Cancelled,
            chunk = bytes.next() => chunk,
            _ = tokio::time::sleep_until(quiet_until) => {
                return failed(healthy, Error::new(&IDLE).detail(format!("silent for {idle:?}")));
            }
        };
        match chunk {
            None => return failed(healthy, Error::new(&CLOSED)),
            Some(Err(e)) => return failed(healthy, e),
            Some(Ok(chunk)) => reader.push(chunk),
        }
    }
}
