//! The merchant agreement's canonical forms, shared by both sides: its text
//! (with the merchant's own fee clauses), the envelope the device signs, the
//! record text the platform countersigns, and the offline check of a signed
//! record (docs/platform-api.md, "The agreement").
//!
//! Everything here is pure: no clock, no I/O. The sandbox renders the text
//! and verifies the device's signature with it; the core renders the same
//! envelope to sign and verifies records it fetches back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{self, UnparsedPublicKey};

use crate::domain::{AgreementRecord, ChannelRate};
use crate::envelope::{self, PlatformPublicKey};

/// The current agreement's version.
pub const AGREEMENT_VERSION: &str = "2025.06";
/// The agreement's title.
pub const AGREEMENT_TITLE: &str = "拉卡拉特约商户受理协议（沙箱版）";
/// The first line of the envelope and of the record text.
pub const AGREEMENT_ENVELOPE_TAG: &str = "merchant-agreement-signature/v1";

fn channel_name(channel: &str) -> &str {
    match channel {
        "wechat" => "微信支付",
        "alipay" => "支付宝",
        "unionpay_qr" => "银联二维码",
        "debit_card" => "借记卡刷卡",
        "credit_card" => "信用卡刷卡",
        other => other,
    }
}

const NUMERALS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// The fee clause of one channel, as the agreement words it.
fn fee_clause(r: &ChannelRate) -> String {
    let mut s = format!("{}：", channel_name(&r.channel));
    match (&r.threshold, &r.rate_above) {
        (Some(t), Some(above)) => {
            s.push_str(&format!(
                "单笔 {t} 元（含）以下按交易金额的 {}% 收取，超过 {t} 元按交易金额的 {above}% 收取",
                r.rate
            ));
        }
        _ => s.push_str(&format!("按交易金额的 {}% 收取", r.rate)),
    }
    if let Some(cap) = &r.cap {
        s.push_str(&format!("，单笔手续费封顶 {cap} 元"));
    }
    s.push('。');
    s
}

/// The agreement's text with the fee clauses of `rates` (one per channel, in
/// the order given). Lines end with `\n`; the SHA-256 of these UTF-8 bytes is
/// the `text_sha256` a signature binds.
pub fn agreement_text(rates: &[ChannelRate]) -> String {
    let mut t = String::new();
    t.push_str("本协议由特约商户（以下简称“商户”）与收单机构（以下简称“平台”）在平等自愿的基础上订立。本文本仅供沙箱环境演示，不构成真实协议。\n");
    t.push_str("第一条 商户应如实提供身份证件、营业执照（如有）、结算账户、经营场所照片等资料，并保证资料真实、合法、有效；资料变更时应及时更新。\n");
    t.push_str("第二条 商户的结算账户须为经营者本人名下的借记卡，或企业商户名下与营业执照名称一致的对公账户。平台于交易日次日（T+1）将前一日的交易款项扣除手续费及退款后结算至该账户。\n");
    t.push_str("第三条 手续费率（按单笔计算，四舍五入至分）：\n");
    for (i, r) in rates.iter().enumerate() {
        let n = NUMERALS.get(i).copied().unwrap_or("其他");
        t.push_str(&format!("（{n}）{}\n", fee_clause(r)));
    }
    t.push_str("第四条 退款：商户可对原交易全额或部分退款，累计退款不超过原交易金额；退款按比例退还该笔手续费，退款金额从当日收款中扣除。\n");
    t.push_str("第五条 终端：商户仅可使用已绑定于本商户的终端受理交易，不得转借、转让终端，不得以其他商户名义受理交易（“跳码”）。\n");
    t.push_str("第六条 商户不得进行虚假交易、套现、洗钱等违法违规活动；平台发现异常交易时有权暂停结算并调查。\n");
    t.push_str("第七条 平台依法保护商户及持卡人的个人信息，持卡人卡号仅以卡 BIN 与末四位展示。\n");
    t.push_str("第八条 本协议自商户电子签署之日起生效。商户以手写签名及本人设备的数字签名确认已阅读并同意本协议全部条款。\n");
    t
}

/// The exact text the device signs (UTF-8, each line ending with `\n`):
///
/// ```text
/// merchant-agreement-signature/v1
/// application_id=<id>
/// agreement_version=<version>
/// agreement_sha256=<hex>
/// signature_image_sha256=<hex>
/// signed_at=<unix seconds>
/// device_serial=<serial_no>
/// ```
pub fn agreement_envelope(
    application_id: &str,
    version: &str,
    agreement_sha256: &str,
    signature_image_sha256: &str,
    signed_at: i64,
    device_serial: &str,
) -> String {
    format!(
        "{AGREEMENT_ENVELOPE_TAG}\napplication_id={application_id}\nagreement_version={version}\nagreement_sha256={agreement_sha256}\nsignature_image_sha256={signature_image_sha256}\nsigned_at={signed_at}\ndevice_serial={device_serial}\n"
    )
}

/// The exact text the platform countersigns: the record's envelope followed
/// by `device_signature=<b64>\nsignature_id=<id>\nplatform_signed_at=<unix>\n`.
pub fn agreement_record_text(record: &AgreementRecord) -> String {
    let mut t = agreement_envelope(
        &record.application_id,
        &record.version,
        &record.text_sha256,
        &record.signature_image_sha256,
        record.signed_at,
        &record.device_serial,
    );
    t.push_str(&format!(
        "device_signature={}\nsignature_id={}\nplatform_signed_at={}\n",
        record.device_signature, record.signature_id, record.platform_signed_at
    ));
    t
}

/// Why a signed agreement record does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AgreementRecordError {
    /// `device_public_key` is not base64 of a 65-byte uncompressed point.
    #[error("device public key malformed")]
    DeviceKeyMalformed,
    /// The device key does not hash to `device_serial`.
    #[error("device key is not the device serial's")]
    DeviceSerialMismatch,
    /// The device signature is not base64 or does not verify.
    #[error("device signature invalid")]
    DeviceSignatureInvalid,
    /// `platform_key_serial` is not the serial of the key checked against.
    #[error("platform key serial mismatch")]
    PlatformKeyMismatch,
    /// The platform signature is not base64 or does not verify.
    #[error("platform signature invalid")]
    PlatformSignatureInvalid,
}

fn decode_signature(b64: &str) -> Option<Vec<u8>> {
    if b64.is_empty() || b64.len() > envelope::MAX_SIGNATURE_B64_LEN {
        return None;
    }
    B64.decode(b64).ok()
}

/// Verifies an ECDSA P-256 SHA-256 (ASN.1 DER, base64) signature of
/// `message` by the device key point `public_key` (65 bytes).
pub fn verify_device_signature(
    public_key: &[u8],
    message: &[u8],
    signature_b64: &str,
) -> Result<(), AgreementRecordError> {
    let sig =
        decode_signature(signature_b64).ok_or(AgreementRecordError::DeviceSignatureInvalid)?;
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message, &sig)
        .map_err(|_| AgreementRecordError::DeviceSignatureInvalid)
}

/// Verifies a signed record offline: the device key hashes to
/// `device_serial`, the device signed the envelope, and `platform` signed
/// the record text. Any changed byte of any field fails one of these.
pub fn verify_agreement_record(
    record: &AgreementRecord,
    platform: &PlatformPublicKey,
) -> Result<(), AgreementRecordError> {
    let key = envelope::decode_device_public_key(&record.device_public_key)
        .map_err(|_| AgreementRecordError::DeviceKeyMalformed)?;
    if envelope::fingerprint(&key) != record.device_serial {
        return Err(AgreementRecordError::DeviceSerialMismatch);
    }
    let env = agreement_envelope(
        &record.application_id,
        &record.version,
        &record.text_sha256,
        &record.signature_image_sha256,
        record.signed_at,
        &record.device_serial,
    );
    verify_device_signature(&key, env.as_bytes(), &record.device_signature)?;
    if record.platform_key_serial != platform.serial_no() {
        return Err(AgreementRecordError::PlatformKeyMismatch);
    }
    let sig = decode_signature(&record.platform_signature)
        .ok_or(AgreementRecordError::PlatformSignatureInvalid)?;
    platform
        .verify(agreement_record_text(record).as_bytes(), &sig)
        .map_err(|_| AgreementRecordError::PlatformSignatureInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{DeviceKey, PlatformSigner};

    fn standard_rates() -> Vec<ChannelRate> {
        let scan = |c: &str| ChannelRate {
            channel: c.into(),
            rate: "0.38".into(),
            threshold: Some("1000.00".into()),
            rate_above: Some("0.60".into()),
            cap: None,
        };
        let card = |c: &str, cap: Option<&str>| ChannelRate {
            channel: c.into(),
            rate: "0.60".into(),
            threshold: None,
            rate_above: None,
            cap: cap.map(Into::into),
        };
        vec![
            scan("wechat"),
            scan("alipay"),
            scan("unionpay_qr"),
            card("debit_card", Some("25.00")),
            card("credit_card", None),
        ]
    }

    #[test]
    fn the_text_names_each_channels_rate() {
        let t = agreement_text(&standard_rates());
        assert!(t.contains("（一）微信支付：单笔 1000.00 元（含）以下按交易金额的 0.38% 收取，超过 1000.00 元按交易金额的 0.60% 收取。\n"), "{t}");
        assert!(
            t.contains("（四）借记卡刷卡：按交易金额的 0.60% 收取，单笔手续费封顶 25.00 元。\n")
        );
        assert!(t.contains("（五）信用卡刷卡：按交易金额的 0.60% 收取。\n"));
        assert!(t.ends_with('\n'));
        let mut other = standard_rates();
        other[4].rate = "0.55".into();
        assert_ne!(agreement_text(&other), t);
    }

    #[test]
    fn the_envelope_is_exactly_the_documented_lines() {
        let e = agreement_envelope("app_1", "2025.06", "ab", "cd", 1718000000, "ef");
        assert_eq!(
            e,
            "merchant-agreement-signature/v1\napplication_id=app_1\nagreement_version=2025.06\nagreement_sha256=ab\nsignature_image_sha256=cd\nsigned_at=1718000000\ndevice_serial=ef\n"
        );
    }

    fn signed_record() -> (AgreementRecord, PlatformPublicKey) {
        let (device, _) = DeviceKey::generate().unwrap();
        let platform = PlatformSigner::from_pkcs8(crate::SANDBOX_PLATFORM_KEY_PKCS8).unwrap();
        let env = agreement_envelope(
            "app_1",
            AGREEMENT_VERSION,
            &"a".repeat(64),
            &"b".repeat(64),
            1718000000,
            device.serial_no(),
        );
        let mut r = AgreementRecord {
            signature_id: "sig_1".into(),
            application_id: "app_1".into(),
            version: AGREEMENT_VERSION.into(),
            text_sha256: "a".repeat(64),
            signature_image_sha256: "b".repeat(64),
            signed_at: 1718000000,
            device_serial: device.serial_no().into(),
            device_public_key: device.public_key_base64(),
            device_signature: B64.encode(device.sign(env.as_bytes()).unwrap()),
            platform_signed_at: 1718000003,
            platform_key_serial: platform.serial_no().into(),
            platform_signature: String::new(),
        };
        r.platform_signature =
            B64.encode(platform.sign(agreement_record_text(&r).as_bytes()).unwrap());
        let key = PlatformPublicKey::from_der(platform.public_key_der()).unwrap();
        (r, key)
    }

    #[test]
    fn the_record_text_is_the_envelope_and_three_lines() {
        let (r, _) = signed_record();
        let text = agreement_record_text(&r);
        let env = agreement_envelope(
            &r.application_id,
            &r.version,
            &r.text_sha256,
            &r.signature_image_sha256,
            r.signed_at,
            &r.device_serial,
        );
        assert_eq!(
            text,
            format!(
                "{env}device_signature={}\nsignature_id=sig_1\nplatform_signed_at=1718000003\n",
                r.device_signature
            )
        );
    }

    #[test]
    fn a_signed_record_verifies_and_any_changed_field_fails() {
        let (r, key) = signed_record();
        assert_eq!(verify_agreement_record(&r, &key), Ok(()));
        type Tamper = Box<dyn Fn(&mut AgreementRecord)>;
        let tampers: Vec<(&str, Tamper)> = vec![
            ("signature_id", Box::new(|r| r.signature_id.push('x'))),
            ("application_id", Box::new(|r| r.application_id.push('x'))),
            ("version", Box::new(|r| r.version.push('x'))),
            (
                "text_sha256",
                Box::new(|r| r.text_sha256.replace_range(0..1, "c")),
            ),
            (
                "signature_image_sha256",
                Box::new(|r| r.signature_image_sha256.replace_range(0..1, "c")),
            ),
            ("signed_at", Box::new(|r| r.signed_at += 1)),
            (
                "device_serial",
                Box::new(|r| r.device_serial.replace_range(0..1, "z")),
            ),
            (
                "device_public_key",
                Box::new(|r| {
                    let (other, _) = DeviceKey::generate().unwrap();
                    r.device_public_key = other.public_key_base64();
                }),
            ),
            (
                "device_signature",
                Box::new(|r| r.device_signature.insert(0, 'A')),
            ),
            (
                "platform_signed_at",
                Box::new(|r| r.platform_signed_at += 1),
            ),
            (
                "platform_key_serial",
                Box::new(|r| r.platform_key_serial.push('0')),
            ),
            (
                "platform_signature",
                Box::new(|r| {
                    let mut sig = B64.decode(&r.platform_signature).unwrap();
                    sig[10] ^= 1;
                    r.platform_signature = B64.encode(sig);
                }),
            ),
        ];
        for (name, tamper) in tampers {
            let mut t = r.clone();
            tamper(&mut t);
            assert!(verify_agreement_record(&t, &key).is_err(), "{name}");
        }
        let (_, other_platform) = signed_record();
        // The same key verifies another record; a record checked against a
        // key of another serial is refused by serial.
        let mut t = r.clone();
        t.platform_key_serial = "0".repeat(32);
        assert_eq!(
            verify_agreement_record(&t, &other_platform),
            Err(AgreementRecordError::PlatformKeyMismatch)
        );
    }
}
