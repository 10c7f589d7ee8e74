//! The merchant agreement (特约商户受理协议) the merchant e-signs during
//! onboarding: the contract's canonical text with the merchant's own fee
//! clauses (`merchant_contract::domain::agreement_text`), its SHA-256 binding
//! a signature to the exact text that was shown.

use merchant_contract::domain::{
    AGREEMENT_TITLE, AGREEMENT_VERSION, Agreement, ChannelRate, agreement_text,
};
use ring::digest;

/// Lowercase hex SHA-256 of `text` as UTF-8.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, text.as_bytes()))
}

/// The agreement for a merchant with `rates`, as `GET /v1/agreements/current`
/// gives it.
pub fn current(rates: Vec<ChannelRate>) -> Agreement {
    let text = agreement_text(&rates);
    Agreement {
        version: AGREEMENT_VERSION.to_owned(),
        title: AGREEMENT_TITLE.to_owned(),
        text_sha256: sha256_hex(&text),
        text,
        rates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use merchant_core::money::RateTable;

    #[test]
    fn digest_binds_the_text_with_the_merchants_rates() {
        let a = current(super::super::merchant::rates_wire(&RateTable::standard()));
        assert_eq!(a.text_sha256.len(), 64);
        assert_eq!(a.text_sha256, sha256_hex(&a.text));
        assert!(a.text.contains("0.38%"), "{}", a.text);
        assert!(a.text.contains("1000.00"));
        assert_eq!(a.rates.len(), 5);
    }
}
