//! Wire records of the infrastructure endpoints: errors, paging, auth,
//! devices, push tokens and events (docs/platform-api.md). The domain's
//! records are in `domain`.
//!
//! Times: token expiries are unix seconds (`*_expires_at`, `expires_in`,
//! `resend_after` in seconds); other times are RFC 3339 with `+08:00`.

use serde::{Deserialize, Serialize};

/// The body of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The stable code, such as `auth.signature_invalid`.
    pub code: String,
    /// 中文 message.
    pub message: String,
    /// English message.
    pub message_en: String,
    /// The request's id (also in the `Lklapi-Request-Id` header).
    pub request_id: String,
    /// Field-level refusals, only for `request.field_invalid` and domain
    /// refusals of a form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

/// One field-level refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field, as named in the request JSON (`phone`, `form.id_number`).
    pub field: String,
    /// The stable code of the rule the field breaks.
    pub code: String,
}

impl FieldError {
    /// `field` breaks the rule `code`.
    pub fn new(field: &str, code: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
        }
    }
}

/// One page of a list: `?cursor=<opaque>&limit=<1..200>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The paging bounds.
pub const PAGE_LIMIT_MAX: u32 = 200;
pub const PAGE_LIMIT_DEFAULT: u32 = 50;

/// An empty JSON object (`{}`), the answer of sign-out and push tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

// ---------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------

/// `POST /v1/auth/sms-code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCodeRequest {
    pub phone: String,
    /// Base64 of the device's public key point, when the device is not
    /// registered yet (proof of possession).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_public_key: Option<String>,
}

/// The answer to `POST /v1/auth/sms-code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCodeSent {
    pub sent: bool,
    /// Seconds the code stays valid.
    pub expires_in: i64,
    /// Seconds before another code may be asked for.
    pub resend_after: i64,
}

/// `POST /v1/auth/sign-in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    pub phone: String,
    pub sms_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_public_key: Option<String>,
}

/// The merchant as sign-in shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantSummary {
    /// `new` (not onboarded yet) or `active`.
    pub status: String,
    /// The phone, first 3, stars, last 4.
    pub phone_masked: String,
}

/// The answer to `POST /v1/auth/sign-in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub merchant_id: String,
    pub access_token: String,
    /// Unix seconds.
    pub access_expires_at: i64,
    pub refresh_token: String,
    /// Unix seconds.
    pub refresh_expires_at: i64,
    /// Whether this device (serial_no) is registered for this merchant.
    pub device_registered: bool,
    pub merchant: MerchantSummary,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The answer to `POST /v1/auth/refresh`: a new pair; the refresh token
/// given is dead from now on (using it again revokes the session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub merchant_id: String,
    pub access_token: String,
    pub access_expires_at: i64,
    pub refresh_token: String,
    pub refresh_expires_at: i64,
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

/// `POST /v1/devices`: registers the signing device for the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterDevice {
    /// Base64 of the public key point; must be the key that signs this request.
    pub device_public_key: String,
    /// The device's name as the merchant sees it (1..=64 characters).
    pub name: String,
    /// `android`, `ios` or `other`.
    pub os: String,
    /// The phone model (1..=64 characters).
    pub model: String,
    /// The app version (1..=32 characters).
    pub app_version: String,
}

/// The answer to `POST /v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistered {
    pub device_id: String,
    pub serial_no: String,
    /// RFC 3339.
    pub registered_at: String,
}

/// One registered device, as `GET /v1/devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: String,
    pub serial_no: String,
    pub name: String,
    pub os: String,
    pub model: String,
    pub app_version: String,
    pub registered_at: String,
    /// Whether this is the device that asked.
    pub current: bool,
}

// ---------------------------------------------------------------------------
// Push tokens
// ---------------------------------------------------------------------------

/// Where push payloads go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushProvider {
    Fcm,
    Apns,
}

impl PushProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            PushProvider::Fcm => "fcm",
            PushProvider::Apns => "apns",
        }
    }
}

/// `POST /v1/push-tokens`: the push token of the signing device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterPushToken {
    pub provider: PushProvider,
    /// The FCM registration token or APNs device token (1..=4096 characters
    /// of `[A-Za-z0-9:_-]`).
    pub token: String,
}

/// One push token, as `GET /v1/push-tokens` lists it and as
/// `POST /v1/push-tokens` and `PUT /v1/push-tokens/{token_id}` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushToken {
    /// `ptk_` + 16 hex digits: names the registration in
    /// `DELETE`/`PUT /v1/push-tokens/{token_id}`; it stays the same across
    /// rotations.
    pub token_id: String,
    pub provider: PushProvider,
    pub token: String,
    /// The device that registered it.
    pub serial_no: String,
    pub registered_at: String,
}

// ---------------------------------------------------------------------------
// The speaker role
// ---------------------------------------------------------------------------

/// `GET /v1/speaker` and the answer to `PUT`/`DELETE /v1/speaker`: which of
/// the merchant's devices speaks the voice broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Speaker {
    /// The device holding the role; `None` when no device holds it.
    pub device_id: Option<String>,
    /// When that device claimed it (RFC 3339); `None` with `device_id`.
    pub claimed_at: Option<String>,
    /// Whether the device that asked holds the role.
    pub current: bool,
}

/// The `data` of a `speaker.changed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeakerChanged {
    /// The device that speaks from now on; `None`: no device speaks.
    pub device_id: Option<String>,
    /// When it claimed the role; `None` with `device_id`.
    pub claimed_at: Option<String>,
    /// Why the role changed: one of [`speaker_reasons`].
    pub reason: String,
}

/// Why the speaker role changed (`SpeakerChanged::reason`).
pub mod speaker_reasons {
    /// A device claimed it (`PUT /v1/speaker`).
    pub const CLAIMED: &str = "claimed";
    /// The speaking device gave it up (`DELETE /v1/speaker`).
    pub const RELEASED: &str = "released";
    /// The speaking device was removed (`DELETE /v1/devices/{device_id}`).
    pub const DEVICE_REMOVED: &str = "device_removed";
    /// The speaking device signed out.
    pub const SIGNED_OUT: &str = "signed_out";
    pub const ALL: &[&str] = &[CLAIMED, RELEASED, DEVICE_REMOVED, SIGNED_OUT];
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// The JSON text inside a signed push payload's `body` (and SSE `data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Monotonic per merchant; the SSE `id:` and `Last-Event-ID`.
    pub event_id: u64,
    /// One of [`event_types`].
    #[serde(rename = "type")]
    pub event_type: String,
    pub merchant_id: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// The event's record (a trade, a settlement, a terminal ...).
    pub data: serde_json::Value,
}

/// The event types the stream and push carry.
pub mod event_types {
    pub const TRADE_CREATED: &str = "trade.created";
    pub const TRADE_REFUNDED: &str = "trade.refunded";
    /// A trade record changed status on its own (paid, failed, closed).
    pub const TRADE_UPDATED: &str = "trade.updated";
    pub const TRADE_VOIDED: &str = "trade.voided";
    pub const SETTLEMENT_READY: &str = "settlement.ready";
    pub const TERMINAL_BOUND: &str = "terminal.bound";
    pub const TERMINAL_UNBOUND: &str = "terminal.unbound";
    pub const TERMINAL_UPDATED: &str = "terminal.updated";
    pub const TERMINAL_FROZEN: &str = "terminal.frozen";
    pub const TERMINAL_UNFROZEN: &str = "terminal.unfrozen";
    pub const APPLICATION_REVIEWED: &str = "application.reviewed";
    pub const MERCHANT_ACTIVATED: &str = "merchant.activated";
    pub const DEVICE_REGISTERED: &str = "device.registered";
    /// The speaker role moved (data: [`SpeakerChanged`](super::SpeakerChanged)).
    pub const SPEAKER_CHANGED: &str = "speaker.changed";
    /// Every type documented.
    pub const ALL: &[&str] = &[
        TRADE_CREATED,
        TRADE_REFUNDED,
        TRADE_UPDATED,
        TRADE_VOIDED,
        SETTLEMENT_READY,
        TERMINAL_BOUND,
        TERMINAL_UNBOUND,
        TERMINAL_UPDATED,
        TERMINAL_FROZEN,
        TERMINAL_UNFROZEN,
        APPLICATION_REVIEWED,
        MERCHANT_ACTIVATED,
        DEVICE_REGISTERED,
        SPEAKER_CHANGED,
    ];
}

// ---------------------------------------------------------------------------
// Sandbox-only (the real platform has none of these)
// ---------------------------------------------------------------------------

/// Records of the sandbox-only controls under `/sandbox/*`.
pub mod sandbox {
    use serde::{Deserialize, Serialize};

    /// `GET /sandbox/sms?phone=`: the latest SMS sent to a phone.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Sms {
        pub phone: String,
        /// `sign_in` or `activation`.
        pub purpose: String,
        /// The text a phone would show.
        pub text: String,
        /// The code in it.
        pub code: String,
        pub sent_at: String,
        pub expires_at: String,
    }

    /// One entry of `GET /sandbox/outbox`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OutboxItem {
        pub outbox_id: u64,
        pub merchant_id: String,
        pub provider: super::PushProvider,
        /// The registration the push went to (`PushToken::token_id`).
        pub token_id: String,
        /// The token value it went to (after a rotation, the new value).
        pub token: String,
        pub event_id: u64,
        pub event_type: String,
        /// The signed push payload JSON as it would have been sent.
        pub payload: String,
    }

    /// `POST /sandbox/events/disconnect`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Disconnect {
        /// Only this merchant's streams; all streams when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub merchant_id: Option<String>,
    }

    /// The answer to `POST /sandbox/events/disconnect`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Disconnected {
        /// Live streams that were open when the disconnect was sent.
        pub streams: u64,
    }

    /// `POST /sandbox/events/raw`: bytes written as they are to a merchant's
    /// open event streams (a hostile or broken frame for a client's tests).
    /// Exactly one of `frame` and `frame_base64`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawFrame {
        pub merchant_id: String,
        /// The text to write (UTF-8), newlines and all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub frame: Option<String>,
        /// The bytes to write, base64 (any bytes, invalid UTF-8 included).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub frame_base64: Option<String>,
        /// Write the bytes this many times back to back, in one write
        /// (1..=[`RAW_FRAME_MAX_REPEAT`], default 1): an oversized frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub repeat: Option<u32>,
        /// Close the streams right after the bytes (a truncated frame at
        /// the end of a stream).
        #[serde(default)]
        pub close: bool,
    }

    /// The most times `RawFrame::repeat` may repeat the bytes.
    pub const RAW_FRAME_MAX_REPEAT: u32 = 1024;

    /// The answer to `POST /sandbox/events/raw`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RawFrameWritten {
        /// The open streams the bytes were handed to.
        pub streams: u64,
    }

    /// `POST /sandbox/events`: emit an event of any documented type.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct EmitEvent {
        pub merchant_id: String,
        #[serde(rename = "type")]
        pub event_type: String,
        #[serde(default)]
        pub data: serde_json::Value,
    }

    /// The answer to `POST /sandbox/events`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Emitted {
        pub event_id: u64,
    }

    /// `GET /sandbox/clock` and the answer to `POST /sandbox/clock`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Clock {
        /// The sandbox's business time, RFC 3339 `+08:00`.
        pub now: String,
        pub unix: i64,
    }

    /// `POST /sandbox/clock`: move the business clock forward.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct AdvanceClock {
        /// Seconds to move forward (1..=366 days).
        pub advance_secs: i64,
    }

    /// One merchant, as `GET /sandbox/merchants` lists them.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SandboxMerchant {
        pub merchant_id: String,
        pub phone: String,
        pub status: String,
        pub seeded: bool,
    }

    /// `GET /sandbox/info`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Info {
        pub app_id: String,
        /// Base64 of the PKCS#1 DER: what a client configures.
        pub platform_public_key: String,
        pub platform_key_serial: String,
        pub seed: u64,
        /// base64(SHA-256(SPKI DER)) of the TLS certificate, when serving TLS.
        pub tls_pin: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_use_the_documented_names() {
        let e = Event {
            event_id: 7,
            event_type: event_types::TRADE_CREATED.into(),
            merchant_id: "m".into(),
            occurred_at: "2025-01-01T08:00:00+08:00".into(),
            data: serde_json::json!({"amount": "850.00"}),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "trade.created");
        assert_eq!(v["event_id"], 7);
        assert_eq!(
            serde_json::to_string(&PushProvider::Apns).unwrap(),
            "\"apns\""
        );
        let err = ErrorBody {
            code: "route.not_found".into(),
            message: "接口不存在".into(),
            message_en: "No such endpoint".into(),
            request_id: "r".into(),
            fields: None,
        };
        assert!(serde_json::to_value(&err).unwrap().get("fields").is_none());
        let page: Page<u32> = serde_json::from_str(r#"{"items":[1],"next_cursor":null}"#).unwrap();
        assert_eq!(page.next_cursor, None);
    }
}
