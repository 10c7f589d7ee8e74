//! What the session capability shows the app.

use merchant_contract::wire;

/// The answer to `request_sms_code`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SmsCodeSent {
    /// Seconds the code stays valid.
    pub expires_in_secs: i64,
    /// Seconds before another code may be asked for.
    pub resend_after_secs: i64,
}

impl From<wire::SmsCodeSent> for SmsCodeSent {
    fn from(w: wire::SmsCodeSent) -> Self {
        SmsCodeSent {
            expires_in_secs: w.expires_in.max(0),
            resend_after_secs: w.resend_after.max(0),
        }
    }
}

/// A signed-in merchant on this device: what `sign_in` returns and
/// `session` shows. Holds no secret (the tokens stay sealed in the core).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignedIn {
    pub merchant_id: String,
    /// `new` (not onboarded yet) or `active`, as the platform said at sign-in.
    pub merchant_status: String,
    /// The phone, first 3, stars, last 4.
    pub phone_masked: String,
    /// This device's id (`device_id()`).
    pub device_id: String,
    /// Whether this device is registered for the merchant. The core
    /// registers it right after sign-in, and again before the next call if
    /// that failed.
    pub device_registered: bool,
    /// When the current access token expires (unix seconds); the core
    /// refreshes it by itself shortly before.
    pub access_expires_at: i64,
    /// When the session ends unless used (unix seconds): after that the
    /// merchant signs in again.
    pub refresh_expires_at: i64,
}

/// How the device describes itself when it registers (shown to the merchant
/// in the list of devices). Set it with `set_device_info` before `sign_in`;
/// the core uses a plain default otherwise.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// The phone's name as the merchant sees it, such as "老王的手机" (1..=64 characters).
    pub name: String,
    /// `android`, `ios` or `other`.
    pub os: String,
    /// The phone model (1..=64 characters).
    pub model: String,
    /// The app version (1..=32 characters).
    pub app_version: String,
}

impl Default for DeviceInfo {
    fn default() -> Self {
        DeviceInfo {
            name: "商户手机".to_owned(),
            os: match std::env::consts::OS {
                "android" => "android",
                "ios" => "ios",
                _ => "other",
            }
            .to_owned(),
            model: "unknown".to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl DeviceInfo {
    /// Keeps what the platform accepts: lengths cut to the limits (on
    /// character boundaries), control characters removed, empty fields and
    /// unknown OS names replaced by the defaults.
    pub fn normalised(self) -> DeviceInfo {
        let d = DeviceInfo::default();
        let clean = |s: String, max: usize, default: String| {
            let s: String = s.chars().filter(|c| !c.is_control()).collect();
            let s: String = s.trim().chars().take(max).collect();
            let s = s.trim_end().to_owned();
            if s.is_empty() { default } else { s }
        };
        let os = self.os.trim().to_ascii_lowercase();
        DeviceInfo {
            name: clean(self.name, 64, d.name),
            os: if matches!(os.as_str(), "android" | "ios" | "other") {
                os
            } else {
                "other".to_owned()
            },
            model: clean(self.model, 64, d.model),
            app_version: clean(self.app_version, 32, d.app_version),
        }
    }
}

/// One device registered for the merchant (`devices()`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegisteredDevice {
    /// Its device id (the `serial_no` of its key).
    pub device_id: String,
    pub name: String,
    pub os: String,
    pub model: String,
    pub app_version: String,
    /// RFC 3339.
    pub registered_at: String,
    /// Whether it is the device asking.
    pub this_device: bool,
}

impl From<wire::Device> for RegisteredDevice {
    fn from(d: wire::Device) -> Self {
        RegisteredDevice {
            device_id: d.serial_no,
            name: d.name,
            os: d.os,
            model: d.model,
            app_version: d.app_version,
            registered_at: d.registered_at,
            this_device: d.current,
        }
    }
}

/// Where the app's push token comes from (`register_push_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushProvider {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
}

impl From<PushProvider> for wire::PushProvider {
    fn from(p: PushProvider) -> Self {
        match p {
            PushProvider::Fcm => wire::PushProvider::Fcm,
            PushProvider::Apns => wire::PushProvider::Apns,
        }
    }
}

/// A push payload the core verified (`verify_push`): signed by the
/// platform key in the config, fresh, and not seen before.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushEvent {
    /// One of the documented event types, such as `trade.created`.
    pub event_type: String,
    /// Monotonic per merchant (the live stream's event id).
    pub event_id: u64,
    /// The merchant the event belongs to; `None` when the platform named none.
    pub merchant_id: Option<String>,
    /// When the platform signed the payload (unix seconds).
    pub timestamp: i64,
    /// When the event happened (RFC 3339).
    pub occurred_at: String,
    /// The event's record (a trade, a settlement, a terminal ...) as JSON text.
    pub body_json: String,
}

impl From<crate::platform::VerifiedPush> for PushEvent {
    fn from(v: crate::platform::VerifiedPush) -> Self {
        let e = v.event;
        PushEvent {
            event_type: e.event_type,
            event_id: e.event_id,
            merchant_id: Some(e.merchant_id).filter(|m| !m.is_empty()),
            timestamp: v.signed_at,
            occurred_at: e.occurred_at,
            // A `Value` always serialises.
            body_json: e.data.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_info_is_normalised_to_what_the_platform_accepts() {
        let n = DeviceInfo {
            name: format!("  {}\u{7}  ", "名".repeat(100)),
            os: "Android".to_owned(),
            model: "".to_owned(),
            app_version: "1.2.3".to_owned(),
        }
        .normalised();
        assert_eq!(n.name.chars().count(), 64);
        assert!(!n.name.contains('\u{7}'));
        assert_eq!(n.os, "android");
        assert_eq!(n.model, "unknown");
        assert_eq!(n.app_version, "1.2.3");
        let other = DeviceInfo {
            os: "windows".to_owned(),
            ..DeviceInfo::default()
        }
        .normalised();
        assert_eq!(other.os, "other");
    }
}
