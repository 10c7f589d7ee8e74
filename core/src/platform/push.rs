//! Push payloads: the platform signs each event it pushes through FCM/APNs
//! (and each SSE `data`) as a [`SignedPush`] (docs/platform-api.md,
//! "Events"). The app hands the payload to the core, which checks it the way
//! it checks answers: the appid, the platform key's signature over the exact
//! body, the ±300 s freshness, and a nonce not seen before (the client's
//! cache, shared with answers), then reads the body as the contract's
//! [`Event`].

use merchant_contract::envelope::SignedPush;
use merchant_contract::wire::Event;

use super::PlatformClient;
use super::client::decode;
use crate::error::{Error, Result};

/// A push payload that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedPush {
    /// The event the body holds.
    pub event: Event,
    /// When the platform signed it (unix seconds).
    pub signed_at: i64,
}

impl PlatformClient {
    /// Verifies a signed push payload (its JSON text, as the platform sent it)
    /// and returns its event. Cheap CPU work: no I/O.
    ///
    /// Codes: `platform.push_malformed` (not a payload, or a body that is no
    /// event), `platform.push_signature_invalid` (another appid, another key,
    /// a changed body or signature), `platform.push_stale` (signed more than
    /// 300 s from now), `platform.push_replayed` (this payload was already
    /// accepted).
    pub fn verify_push(&self, payload: &str) -> Result<VerifiedPush> {
        let push = SignedPush::parse(payload)
            .map_err(|e| Error::new(&super::PUSH_MALFORMED).detail(e.to_string()))?;
        if push.appid != self.config().app_id {
            return Err(Error::new(&super::PUSH_SIGNATURE_INVALID).detail("appid differs"));
        }
        let signed_at = push
            .verify(&self.config().platform_key)
            .map_err(|e| Error::new(&super::PUSH_SIGNATURE_INVALID).detail(e.to_string()))?;
        self.fresh_and_unused(
            signed_at,
            &push.nonce_str,
            &super::PUSH_STALE,
            &super::PUSH_REPLAYED,
        )?;
        let event: Event = decode(push.body.as_bytes(), &super::PUSH_MALFORMED)?;
        Ok(VerifiedPush { event, signed_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::PlatformConfig;
    use crate::platform::client::unix_now;
    use merchant_contract::PlatformSigner;

    const APPID: &str = "OP00000001";

    fn signer() -> PlatformSigner {
        PlatformSigner::from_pkcs8(include_bytes!("../../../sandbox/keys/platform-sandbox.pk8"))
            .unwrap()
    }

    fn client() -> PlatformClient {
        let key = signer().public_key_base64();
        PlatformClient::new(PlatformConfig::new("http://127.0.0.1:1", None, &key, APPID).unwrap())
            .unwrap()
    }

    fn event_body() -> String {
        serde_json::to_string(&Event {
            event_id: 7,
            event_type: "trade.created".to_owned(),
            merchant_id: "M100".to_owned(),
            occurred_at: "2025-01-02T03:04:05+08:00".to_owned(),
            data: serde_json::json!({"trade_id": "T1", "amount": "12.30"}),
        })
        .unwrap()
    }

    fn signed(appid: &str, ts: i64, body: String) -> String {
        signer().sign_push(appid, ts, body).unwrap().to_json()
    }

    /// Runs without any tokio runtime, as a sync FFI call from an app thread does.
    #[test]
    fn a_fresh_payload_is_verified_once() {
        let c = client();
        let payload = signed(APPID, unix_now(), event_body());
        let v = c.verify_push(&payload).unwrap();
        assert_eq!(v.event.event_id, 7);
        assert_eq!(v.event.event_type, "trade.created");
        assert_eq!(v.event.merchant_id, "M100");
        assert_eq!(v.event.data["trade_id"], "T1");
        assert!((v.signed_at - unix_now()).abs() <= 5);
        let e = c.verify_push(&payload).unwrap_err();
        assert!(e.is(&super::super::PUSH_REPLAYED), "got {e}");
        // Another payload of the same event (a new nonce) is accepted.
        c.verify_push(&signed(APPID, unix_now(), event_body()))
            .unwrap();
    }

    #[test]
    fn bad_payloads_get_their_codes_and_never_panic() {
        let c = client();
        let now = unix_now();
        let check = |payload: &str, code: &crate::error::Code| {
            let e = c.verify_push(payload).unwrap_err();
            assert!(e.is(code), "{payload:.80}: got {e}");
            let m: crate::MerchantError = e.into();
            assert_eq!(m.code(), code.code);
        };

        // Changed body, same signature.
        let mut push = signer().sign_push(APPID, now, event_body()).unwrap();
        push.body = push.body.replace("12.30", "99.30");
        check(&push.to_json(), &super::super::PUSH_SIGNATURE_INVALID);
        // Another appid, and the signature of another key.
        check(
            &signed("OP99999999", now, event_body()),
            &super::super::PUSH_SIGNATURE_INVALID,
        );
        // A client that holds another platform key (one byte of the modulus
        // changed).
        let mut der = signer().public_key_der().to_vec();
        let i = der.len() - 10;
        der[i] ^= 0x01;
        let key = merchant_contract::PlatformPublicKey::from_der(&der).unwrap();
        let mut config = c.config().clone();
        config.platform_key = key;
        let e = PlatformClient::new(config)
            .unwrap()
            .verify_push(&signed(APPID, now, event_body()))
            .unwrap_err();
        assert!(e.is(&super::super::PUSH_SIGNATURE_INVALID), "got {e}");
        // Signed ten minutes ago, or ten minutes ahead.
        check(
            &signed(APPID, now - 600, event_body()),
            &super::super::PUSH_STALE,
        );
        check(
            &signed(APPID, now + 600, event_body()),
            &super::super::PUSH_STALE,
        );
        // Not a payload at all.
        for garbage in [
            "",
            "{}",
            "[1]",
            "null",
            "{\"appid\":1}",
            &"x".repeat(merchant_contract::envelope::MAX_PUSH_LEN + 1),
        ] {
            check(garbage, &super::super::PUSH_MALFORMED);
        }
        // Properly signed, but the body is no event: its value is not quoted.
        let e = c
            .verify_push(&signed(
                APPID,
                now,
                r#"{"event_id":"13800138000","type":"x"}"#.to_owned(),
            ))
            .unwrap_err();
        assert!(e.is(&super::super::PUSH_MALFORMED), "got {e}");
        assert!(!format!("{e} {e:?}").contains("13800138000"));
    }
}
