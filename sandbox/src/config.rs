//! How a sandbox runs: address, TLS, seed, keys, lifetimes and the rules of
//! the simulated SMS and event stream. Every default is documented in
//! docs/platform-api.md ("Sandbox-only").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The appid the sandbox knows unless told otherwise.
pub const DEFAULT_APP_ID: &str = "OP00000001";

/// The sandbox's platform key: RSA-2048, PKCS#8. A PUBLIC SANDBOX KEY, never
/// for production (sandbox/keys/README.md).
pub const SANDBOX_PLATFORM_KEY_PKCS8: &[u8] = include_bytes!("../keys/platform-sandbox.pk8");

/// The rules of the simulated SMS codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRules {
    /// Seconds a code stays valid (default 300).
    pub ttl_secs: i64,
    /// Seconds before another code may be sent to the same phone (default 60).
    pub resend_after_secs: i64,
    /// Codes a phone may get in one rolling hour (default 10).
    pub max_per_hour: u32,
    /// Wrong entries that burn a code (default 5).
    pub max_attempts: u32,
}

impl Default for SmsRules {
    fn default() -> Self {
        SmsRules {
            ttl_secs: 300,
            resend_after_secs: 60,
            max_per_hour: 10,
            max_attempts: 5,
        }
    }
}

/// Everything a sandbox is started with.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; `127.0.0.1:0` (any free port) by default.
    pub addr: SocketAddr,
    /// Serve HTTPS with a certificate made at start (for 127.0.0.1,
    /// localhost and the Android emulator's 10.0.2.2).
    pub tls: bool,
    /// Everything simulated is drawn from this seed.
    pub seed: u64,
    /// The appid requests must carry.
    pub app_id: String,
    /// The platform key (RSA PKCS#8, 2048 bits or more); `None` uses the
    /// committed sandbox key.
    pub platform_key_pkcs8: Option<Vec<u8>>,
    /// The SQLite file; `None` keeps the database in memory.
    pub db_path: Option<PathBuf>,
    /// Lifetime of an access token (default 2 h).
    pub access_ttl_secs: i64,
    /// Lifetime of a refresh token (default 30 days; each refresh renews it).
    pub refresh_ttl_secs: i64,
    pub sms: SmsRules,
    /// Interval of the `: keepalive` comment on the event stream (default 15 s).
    pub sse_keepalive: Duration,
    /// Close every event stream after it has sent this many events (an
    /// injected disconnect); `None` never.
    pub sse_drop_after: Option<u32>,
    /// Events kept per merchant for `Last-Event-ID` resume: the latest this
    /// many (default 100 000); older ones are dropped as new ones come, and
    /// a resume from before them is 410 `events.resume_expired`.
    pub event_retention: u64,
    /// The business clock starts at this unix time and runs from there;
    /// `None` starts at the real time. `POST /sandbox/clock` moves it on.
    pub clock_start: Option<i64>,
    /// Live nonces remembered (replay protection); when full of live ones,
    /// signed requests get 503 `server.busy` (default 100 000).
    pub nonce_capacity: usize,
    /// Live nonces one device (`serial_no`) may hold in the cache; beyond
    /// them its signed requests get 429 `auth.rate_limited` (default 600).
    pub nonces_per_device: usize,
    /// Time a connection has to send a request's whole head (request line
    /// and headers), idle keep-alive connections included; then it is
    /// closed (default 15 s).
    pub header_read_timeout: Duration,
    /// Seconds of the business clock between an application's submit and
    /// the review's decision (default 30; 0 decides at the next read or
    /// tick).
    pub review_delay_secs: i64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            seed: 1,
            app_id: DEFAULT_APP_ID.to_owned(),
            platform_key_pkcs8: None,
            db_path: None,
            access_ttl_secs: 2 * 3600,
            refresh_ttl_secs: 30 * 24 * 3600,
            sms: SmsRules::default(),
            sse_keepalive: Duration::from_secs(15),
            sse_drop_after: None,
            event_retention: 100_000,
            clock_start: None,
            nonce_capacity: 100_000,
            nonces_per_device: 600,
            header_read_timeout: Duration::from_secs(15),
            review_delay_secs: 30,
        }
    }
}
