//! platform: the client of the merchant platform (docs/platform-api.md).
//!
//! - [`endpoint`]: the base URL; plain `http://` only to loopback hosts.
//! - [`tls`]: rustls on ring with SPKI SHA-256 pinning.
//! - [`backoff`]: full-jitter exponential backoff for idempotent retries.
//!
//! - [`client`]: signing, verification, retries, error mapping.
//! - [`pending`]: idempotency keys of writes kept until their final answer.
//! - [`push`]: verification of the platform's signed push payloads.
//! - [`sse`]: the live event stream: a bounded SSE reader, each event's
//!   envelope verified as a push payload, reconnection with `Last-Event-ID`.
//!
//! Failures the client itself finds carry the `platform.*` codes below;
//! refusals by the platform carry the platform's own code. [`CODES`] holds
//! both: the client's, then every code of the contract (merchant-contract's
//! `codes::ALL` and the domain's lists), so the catalogue and docs/errors.md
//! know them all.

pub mod backoff;
pub mod client;
#[cfg(test)]
mod client_tests;
pub mod endpoint;
pub mod pending;
pub mod push;
pub mod sse;
#[cfg(test)]
mod sse_tests;
pub mod tls;
pub mod transport;

pub use backoff::Backoff;
pub use client::{Call, PlatformClient, PlatformConfig, Reply};
pub use endpoint::Endpoint;
pub use push::VerifiedPush;
pub use tls::{SpkiPin, pinned_client_config};
pub use transport::Timeouts;

use crate::error::{Code, ErrorKind};
use merchant_contract::PlatformCode;

mod client_codes {
    crate::codes! {
        URL_INVALID = Input, "platform.url_invalid", "平台地址无效", "The platform URL is not valid";
        INSECURE_URL = Input, "platform.insecure_url", "非本机地址必须使用 https", "Plain http is allowed only to this device (loopback)";
        PIN_MISSING = Input, "platform.pin_missing", "https 地址需要配置证书指纹", "An https platform URL needs a certificate pin";
        PIN_INVALID = Input, "platform.pin_invalid", "证书指纹格式无效", "The certificate pin is not base64 of a SHA-256 digest";
        PUBLIC_KEY_INVALID = Input, "platform.public_key_invalid", "平台公钥格式无效", "The platform public key is not a base64 RSA public key";
        PIN_MISMATCH = Auth, "platform.pin_mismatch", "服务器证书与指纹不符，连接已拒绝", "The server's certificate does not match the pin; connection refused";
        TLS_FAILED = Network, "platform.tls", "安全连接建立失败", "The secure connection could not be set up";
        UNREACHABLE = Network, "platform.unreachable", "无法连接平台，请检查网络", "The platform cannot be reached; check the network";
        TIMEOUT = Network, "platform.timeout", "平台响应超时", "The platform did not answer in time";
        RESPONSE_UNSIGNED = Integrity, "platform.response_unsigned", "平台响应缺少签名", "The platform's response is not signed";
        RESPONSE_SIGNATURE_INVALID = Integrity, "platform.response_signature_invalid", "平台响应签名无效", "The platform's response signature is not valid";
        RESPONSE_STALE = Integrity, "platform.response_stale", "平台响应时间戳超出允许范围", "The platform's response timestamp is outside the allowed window";
        RESPONSE_REPLAYED = Integrity, "platform.response_replayed", "平台响应被重放", "The platform's response was replayed";
        RESPONSE_MALFORMED = Platform, "platform.response_malformed", "平台响应格式无法识别", "The platform's response could not be understood";
        RESPONSE_TOO_LARGE = Platform, "platform.response_too_large", "平台响应过大", "The platform's response is too large";
        UNEXPECTED_STATUS = Platform, "platform.unexpected_status", "平台返回了意外的状态", "The platform answered with an unexpected status";
        APP_ID_INVALID = Input, "platform.app_id_invalid", "应用编号格式无效", "The app id is not valid";
        SIGNING_FAILED = Internal, "platform.signing_failed", "请求签名失败", "Signing the request failed";
        HEADER_INVALID = Internal, "platform.header_invalid", "请求头含有不允许的字符", "A request header holds characters that are not allowed";
        PUSH_MALFORMED = Platform, "platform.push_malformed", "推送消息格式无法识别", "The push payload could not be understood";
        PUSH_SIGNATURE_INVALID = Integrity, "platform.push_signature_invalid", "推送消息签名无效", "The push payload's signature is not valid";
        PUSH_STALE = Integrity, "platform.push_stale", "推送消息时间戳超出允许范围", "The push payload's timestamp is outside the allowed window";
        PUSH_REPLAYED = Integrity, "platform.push_replayed", "推送消息被重放", "The push payload was already received";
    }
}
pub use client_codes::*;

/// The kind of a platform code: `auth.*` is Auth, 404 NotFound, 409
/// Conflict, anything else Platform (field-level refusals become Input where
/// the answer lists fields).
pub const fn kind_of(code: &str, status: u16) -> ErrorKind {
    let c = code.as_bytes();
    let p = b"auth.";
    let mut auth = c.len() >= p.len();
    let mut i = 0;
    while auth && i < p.len() {
        auth = c[i] == p[i];
        i += 1;
    }
    if auth {
        ErrorKind::Auth
    } else if status == 404 {
        ErrorKind::NotFound
    } else if status == 409 {
        ErrorKind::Conflict
    } else {
        ErrorKind::Platform
    }
}

const fn from_contract(c: &PlatformCode) -> Code {
    Code {
        code: c.code,
        kind: kind_of(c.code, c.status),
        zh: c.zh,
        en: c.en,
    }
}

/// Every code list of the contract: the infrastructure's, then the domain's
/// refusals, field-level codes and review outcomes.
const CONTRACT: [&[PlatformCode]; 4] = [
    merchant_contract::codes::ALL,
    merchant_contract::domain::CODES,
    merchant_contract::domain::FIELD_CODES,
    merchant_contract::domain::REVIEW_CODES,
];

const fn contract_len() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < CONTRACT.len() {
        n += CONTRACT[i].len();
        i += 1;
    }
    n
}

const ALL_LEN: usize = client_codes::CODES.len() + contract_len();
const ALL: [Code; ALL_LEN] = {
    let own = client_codes::CODES;
    let mut out = [own[0]; ALL_LEN];
    let mut n = 0;
    while n < own.len() {
        out[n] = own[n];
        n += 1;
    }
    let mut l = 0;
    while l < CONTRACT.len() {
        let list = CONTRACT[l];
        let mut j = 0;
        while j < list.len() {
            out[n] = from_contract(&list[j]);
            n += 1;
            j += 1;
        }
        l += 1;
    }
    out
};

/// The client's codes, then the contract's (the platform's own codes).
pub const CODES: &[Code] = &ALL;
