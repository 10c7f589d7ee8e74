//! The merchant agreement (特约商户受理协议) the merchant e-signs during
//! onboarding. The text is the sandbox's own, written for the simulation; its
//! SHA-256 binds a signature to the exact text that was shown.

use merchant_contract::domain::Agreement;
use ring::digest;

/// The current version.
pub const VERSION: &str = "2025.05";
pub const TITLE: &str = "拉卡拉特约商户受理协议（沙箱版）";

/// The text, paragraph per line.
pub const TEXT: &str = "\
本协议由特约商户（以下简称“商户”）与收单机构（以下简称“平台”）在平等自愿的基础上订立。本文本仅供沙箱环境演示，不构成真实协议。
第一条 商户应如实提供身份证件、营业执照（如有）、结算银行卡等资料，并保证资料真实、合法、有效；资料变更时应及时更新。
第二条 商户的结算账户须为经营者本人名下的借记卡。平台于交易日次日（T+1）将前一日的交易款项扣除手续费及退款后结算至该账户。
第三条 手续费率：扫码交易（微信、支付宝、银联二维码）单笔 1000 元（含）以下 0.38%，超过 1000 元 0.60%；刷卡交易（借记卡、信用卡）0.60%。手续费按单笔计算，四舍五入至分。
第四条 退款：商户可对原交易全额或部分退款，累计退款不超过原交易金额；退款按比例退还该笔手续费，退款金额从当日收款中扣除。
第五条 终端：商户仅可使用已绑定于本商户的终端受理交易，不得转借、转让终端，不得以其他商户名义受理交易（“跳码”）。
第六条 商户不得进行虚假交易、套现、洗钱等违法违规活动；平台发现异常交易时有权暂停结算并调查。
第七条 平台依法保护商户及持卡人的个人信息，持卡人卡号仅以卡 BIN 与末四位展示。
第八条 本协议自商户电子签署之日起生效。商户以手写签名确认已阅读并同意本协议全部条款。
";

/// Lowercase hex SHA-256 of [`TEXT`].
pub fn text_sha256() -> String {
    hex::encode(digest::digest(&digest::SHA256, TEXT.as_bytes()))
}

/// The agreement as `GET /v1/agreements/current` gives it.
pub fn current() -> Agreement {
    Agreement {
        version: VERSION.to_owned(),
        title: TITLE.to_owned(),
        text: TEXT.to_owned(),
        text_sha256: text_sha256(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_binds_the_text() {
        let a = current();
        assert_eq!(a.text_sha256.len(), 64);
        assert_eq!(
            a.text_sha256,
            hex::encode(digest::digest(&digest::SHA256, a.text.as_bytes()))
        );
        assert!(a.text.contains("0.38%"));
    }
}
