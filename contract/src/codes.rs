//! The platform's stable error codes: each with its HTTP status and its
//! Chinese and English message.
//!
//! A refusal travels as a non-2xx response whose JSON body is an
//! [`ErrorBody`](crate::wire::ErrorBody) carrying one of these codes. Codes are
//! lowercase, dotted and stable: clients branch on the code, never on the
//! message. docs/platform-api.md lists them (a test keeps the two equal).
//!
//! The codes of the infrastructure (envelope, sessions, requests, routes,
//! idempotency) are declared here. The domain (onboarding, terminals, trades
//! ...) declares its own [`PlatformCode`] constants in the same form.

/// One stable platform error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlatformCode {
    /// The stable code, such as `auth.signature_invalid`.
    pub code: &'static str,
    /// The HTTP status the platform answers with.
    pub status: u16,
    /// The default Chinese message.
    pub zh: &'static str,
    /// The English message.
    pub en: &'static str,
}

impl PlatformCode {
    /// Declares a code (usable in `const` items).
    pub const fn new(code: &'static str, status: u16, zh: &'static str, en: &'static str) -> Self {
        PlatformCode {
            code,
            status,
            zh,
            en,
        }
    }
}

macro_rules! platform_codes {
    ($($name:ident = $status:literal, $code:literal, $zh:literal, $en:literal;)+) => {
        $(
            pub const $name: PlatformCode = PlatformCode::new($code, $status, $zh, $en);
        )+
        /// Every infrastructure code declared here.
        pub const ALL: &[PlatformCode] = &[$($name),+];
    };
}

platform_codes! {
    // The signing envelope.
    AUTH_SIGNATURE_MISSING = 401, "auth.signature_missing", "请求缺少签名", "The request carries no signature";
    AUTH_HEADER_MALFORMED = 401, "auth.header_malformed", "签名头格式错误", "The Authorization header is malformed";
    AUTH_SIGNATURE_INVALID = 401, "auth.signature_invalid", "签名校验失败", "The signature does not verify";
    AUTH_TIMESTAMP_STALE = 401, "auth.timestamp_stale", "请求时间戳超出允许范围，请校准手机时间", "The timestamp is outside the allowed window";
    AUTH_NONCE_REPLAYED = 401, "auth.nonce_replayed", "请求已被使用（重放）", "The nonce was already used";
    AUTH_APPID_UNKNOWN = 401, "auth.appid_unknown", "未知的应用", "The appid is not known";
    AUTH_DEVICE_UNKNOWN = 401, "auth.device_unknown", "未知的设备", "The device serial_no is not known";
    AUTH_RATE_LIMITED = 429, "auth.rate_limited", "请求过于频繁，请稍后再试", "This device sent too many signed requests; try later";
    AUTH_DEVICE_KEY_INVALID = 400, "auth.device_key_invalid", "设备公钥无效或与设备序列号不符", "The device public key is invalid or does not match serial_no";
    // Sessions.
    AUTH_SESSION_MISSING = 401, "auth.session_missing", "请先登录", "The request carries no session";
    AUTH_SESSION_INVALID = 401, "auth.session_invalid", "登录状态无效，请重新登录", "The session is not known for this device";
    AUTH_SESSION_EXPIRED = 401, "auth.session_expired", "登录已过期，请重新登录", "The session has expired";
    AUTH_SESSION_REVOKED = 401, "auth.session_revoked", "登录已失效，请重新登录", "The session was revoked";
    AUTH_DEVICE_NOT_REGISTERED = 403, "auth.device_not_registered", "设备尚未登记", "The device is not registered for this merchant";
    // SMS sign-in.
    AUTH_SMS_CODE_WRONG = 401, "auth.sms_code_wrong", "短信验证码错误", "The SMS code is wrong";
    AUTH_SMS_CODE_EXPIRED = 401, "auth.sms_code_expired", "短信验证码已过期，请重新获取", "The SMS code has expired";
    AUTH_SMS_ATTEMPTS_EXCEEDED = 429, "auth.sms_attempts_exceeded", "验证码错误次数过多，请重新获取", "Too many wrong SMS codes; ask for a new one";
    AUTH_SMS_RATE_LIMITED = 429, "auth.sms_rate_limited", "获取验证码过于频繁，请稍后再试", "SMS codes were asked for too often; try later";
    AUTH_PHONE_INVALID = 400, "auth.phone_invalid", "手机号格式不正确", "The phone number is not a mainland mobile number";
    // Requests.
    REQUEST_MALFORMED = 400, "request.malformed", "请求格式错误", "The request is malformed";
    REQUEST_BODY_TOO_LARGE = 413, "request.body_too_large", "请求内容过大", "The request body is too large";
    REQUEST_FIELD_INVALID = 400, "request.field_invalid", "请求字段不合规", "One or more fields are invalid";
    REQUEST_UNSUPPORTED_MEDIA_TYPE = 415, "request.unsupported_media_type", "请求内容类型不支持", "The request content type is not supported";
    // Routes.
    ROUTE_NOT_FOUND = 404, "route.not_found", "接口不存在", "No such endpoint";
    ROUTE_METHOD_NOT_ALLOWED = 405, "route.method_not_allowed", "接口不支持该请求方法", "The endpoint does not allow this method";
    // Idempotency.
    IDEMPOTENCY_KEY_MISSING = 400, "idempotency.key_missing", "缺少幂等键", "The write carries no Idempotency-Key";
    IDEMPOTENCY_KEY_INVALID = 400, "idempotency.key_invalid", "幂等键格式错误", "The Idempotency-Key is malformed";
    IDEMPOTENCY_KEY_REUSED = 409, "idempotency.key_reused", "幂等键已用于另一个请求", "The Idempotency-Key was used with another request";
    IDEMPOTENCY_IN_PROGRESS = 409, "idempotency.in_progress", "相同请求正在处理中", "A request with this Idempotency-Key is still being processed";
    // The event stream's resume point (Last-Event-ID).
    EVENTS_RESUME_EXPIRED = 410, "events.resume_expired", "事件续传位置过旧，平台已不保留其后的事件，请重新同步", "The Last-Event-ID is older than the events the platform keeps; resync, then reconnect without it";
    EVENTS_RESUME_AHEAD = 409, "events.resume_ahead", "事件续传位置超出平台最新事件", "The Last-Event-ID is beyond the platform's latest event; reconnect without it";
    // Resources.
    RESOURCE_NOT_FOUND = 404, "resource.not_found", "记录不存在", "No such record";
    // The server.
    SERVER_BUSY = 503, "server.busy", "服务繁忙，请稍后再试", "The platform is busy; try later";
    SERVER_INTERNAL = 500, "server.internal", "服务内部错误", "The platform failed internally";
}

/// The infrastructure code with this name, if any.
pub fn find(code: &str) -> Option<&'static PlatformCode> {
    ALL.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_lowercase_dotted_with_error_statuses() {
        let mut seen = HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.code), "duplicate code {}", c.code);
            assert!(c.code.contains('.'), "{} is not dotted", c.code);
            assert!(
                c.code
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '.' || ch == '_'),
                "{} is not lowercase",
                c.code
            );
            assert!((400..600).contains(&c.status), "{} status", c.code);
            assert!(!c.zh.is_empty() && !c.en.is_empty());
        }
        assert_eq!(find("auth.nonce_replayed"), Some(&AUTH_NONCE_REPLAYED));
        assert_eq!(find("no.such"), None);
    }
}
