//! platform: the client of the merchant platform (docs/platform-api.md).
//!
//! - [`endpoint`]: the base URL; plain `http://` only to loopback hosts.
//! - [`tls`]: rustls on ring with SPKI SHA-256 pinning.
//! - [`backoff`]: full-jitter exponential backoff for idempotent retries.
//!
//! Failures the client itself finds carry the `platform.*` codes below;
//! refusals by the platform carry the platform's own code.

pub mod backoff;
pub mod endpoint;
pub mod tls;
pub mod transport;

pub use backoff::Backoff;
pub use endpoint::Endpoint;
pub use tls::{SpkiPin, pinned_client_config};

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
}
