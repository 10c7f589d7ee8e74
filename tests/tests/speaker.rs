//! The speaker role end to end: two phones of one merchant (two devices
//! signed in with the same phone number); the platform arbitrates, and the
//! `speaker.changed` event, pushed to the other phone and applied through
//! `apply_event`, makes it fall silent.

use std::sync::Arc;

use merchant_core::session::PushProvider;
use merchant_core::{MerchantCore, MerchantError};
use merchant_sandbox::RunningSandbox;

mod common;
use common::proxy::RecordingProxy;
use common::*;

const PHONE: &str = "13800138000";

struct Phone {
    _dev: Device,
    core: Arc<MerchantCore>,
    serial: String,
    token: String,
}

/// A phone of the merchant: signed in with [`PHONE`], its push token
/// registered. The sandbox's clock moves past the SMS resend wait first, so
/// a second phone may ask for its code.
async fn phone(sb: &RunningSandbox, token: &str) -> (Phone, String) {
    advance(sb, 61);
    let dev = Device::new();
    let core = dev.core(sb);
    let me = sign_in(&core, sb, PHONE).await;
    assert!(me.device_registered);
    bounded(core.register_push_token(PushProvider::Fcm, token.to_owned()))
        .await
        .expect("push token registered");
    let phone = Phone {
        _dev: dev,
        core,
        serial: me.device_id,
        token: token.to_owned(),
    };
    (phone, me.merchant_id)
}

/// Takes the latest `speaker.changed` the platform pushed to `phone`,
/// verifies it and applies it through the one event path; returns its data.
async fn hear_speaker_change(
    sb: &RunningSandbox,
    merchant_id: &str,
    phone: &Phone,
) -> serde_json::Value {
    let item = outbox(sb, merchant_id)
        .await
        .into_iter()
        .rev()
        .find(|i| i.token == phone.token && i.event_type == "speaker.changed")
        .expect("a speaker.changed was pushed to the phone");
    let event = phone.core.verify_push(item.payload).expect("verified");
    let data = serde_json::from_str(&event.body_json).unwrap();
    bounded(phone.core.apply_event(event))
        .await
        .expect("applied");
    data
}

async fn speaks(phone: &Phone) -> bool {
    bounded(phone.core.this_device_speaks())
        .await
        .expect("kept role read")
}

#[tokio::test]
async fn a_claim_on_one_phone_silences_the_other_through_its_event() {
    let sb = tls_sandbox().await;
    let (a, merchant) = phone(&sb, "fcm:phone-a").await;
    let (b, merchant_b) = phone(&sb, "fcm:phone-b").await;
    assert_eq!(merchant, merchant_b, "one merchant, two phones");
    assert_ne!(a.serial, b.serial);

    let claimed = bounded(a.core.claim_speaker()).await.expect("claimed");
    assert!(claimed.this_device);
    let a_id = claimed.device_id.clone().expect("a holder");
    assert!(claimed.claimed_at_ms.is_some());
    let data = hear_speaker_change(&sb, &merchant, &b).await;
    assert_eq!(data["device_id"], a_id.as_str());
    assert_eq!(data["reason"], "claimed");
    assert!(speaks(&a).await);
    assert!(!speaks(&b).await, "B heard that A speaks");

    // Claiming it again changes nothing.
    let again = bounded(a.core.claim_speaker())
        .await
        .expect("claimed again");
    assert_eq!(again, claimed);

    let taken = bounded(b.core.claim_speaker()).await.expect("claimed by B");
    assert!(taken.this_device);
    let b_id = taken.device_id.clone().expect("a holder");
    assert_ne!(b_id, a_id);
    assert!(speaks(&b).await);
    // Until A hears it, A still believes it speaks; the event stops it.
    assert!(speaks(&a).await);
    let data = hear_speaker_change(&sb, &merchant, &a).await;
    assert_eq!(data["device_id"], b_id.as_str());
    assert!(!speaks(&a).await, "A fell silent");
    // B hearing its own claim keeps it speaking.
    hear_speaker_change(&sb, &merchant, &b).await;
    assert!(speaks(&b).await);

    let seen_by_a = bounded(a.core.speaker()).await.expect("asked");
    assert_eq!(seen_by_a.device_id.as_deref(), Some(b_id.as_str()));
    assert!(!seen_by_a.this_device);
    assert_eq!(seen_by_a.claimed_at_ms, taken.claimed_at_ms);

    // Without the platform, the kept copy answers.
    sb.shutdown().await;
    let offline = bounded(b.core.speaker()).await.expect("kept copy");
    assert_eq!(offline, taken);
}

#[tokio::test]
async fn a_released_role_leaves_every_phone_silent_until_one_claims() {
    let sb = tls_sandbox().await;
    let (a, merchant) = phone(&sb, "fcm:phone-a").await;
    let (b, _) = phone(&sb, "fcm:phone-b").await;
    bounded(a.core.claim_speaker()).await.expect("claimed");
    hear_speaker_change(&sb, &merchant, &b).await;

    let released = bounded(a.core.release_speaker()).await.expect("released");
    assert_eq!(released.device_id, None);
    assert!(!released.this_device);
    assert!(!speaks(&a).await);
    let data = hear_speaker_change(&sb, &merchant, &b).await;
    assert_eq!(data["reason"], "released");
    assert!(data["device_id"].is_null());
    assert!(!speaks(&b).await);
    // Asking again does not make anyone speak.
    assert_eq!(bounded(b.core.speaker()).await.unwrap().device_id, None);
    assert!(!speaks(&b).await);

    bounded(b.core.claim_speaker()).await.expect("claimed by B");
    assert!(speaks(&b).await);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_removed_device_loses_the_role() {
    let sb = tls_sandbox().await;
    let (a, merchant) = phone(&sb, "fcm:phone-a").await;
    let (b, _) = phone(&sb, "fcm:phone-b").await;
    bounded(b.core.claim_speaker()).await.expect("claimed by B");
    hear_speaker_change(&sb, &merchant, &a).await;
    assert!(!speaks(&a).await);

    bounded(a.core.remove_device(b.serial.clone()))
        .await
        .expect("B removed");
    let data = hear_speaker_change(&sb, &merchant, &a).await;
    assert_eq!(data["reason"], "device_removed");
    assert!(data["device_id"].is_null());
    assert!(!speaks(&a).await, "no device speaks until one claims");
    let now = bounded(a.core.speaker()).await.expect("asked");
    assert_eq!(now.device_id, None);

    // B's session is over; it hears nothing more.
    let err = bounded(b.core.speaker()).await.unwrap_err();
    assert!(matches!(err, MerchantError::Auth { .. }), "{err:?}");
    let emitted = sandbox_control(
        &sb,
        "/sandbox/events",
        Some(serde_json::json!({
            "merchant_id": merchant,
            "type": "trade.created",
            "data": {"trade_id": "T1", "amount": "1.00", "channel": "wechat"},
        })),
    )
    .await;
    let later = emitted["event_id"].as_u64().expect("an event id");
    let pushed: Vec<String> = outbox(&sb, &merchant)
        .await
        .into_iter()
        .filter(|i| i.event_id == later)
        .map(|i| i.token)
        .collect();
    assert_eq!(pushed, vec![a.token.clone()], "nothing more reaches B");

    // An unknown device is refused.
    let err = bounded(a.core.remove_device(b.serial.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "resource.not_found");

    assert!(bounded(a.core.claim_speaker()).await.unwrap().this_device);
    assert!(speaks(&a).await);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_lost_claim_is_retried_with_its_key_unless_a_release_overtook_it() {
    let sb = sandbox(merchant_sandbox::SandboxConfig::default()).await;
    let proxy = RecordingProxy::start(sb.addr).await;
    let dev = Device::new();
    let config = merchant_core::CoreConfig {
        platform_url: proxy.url.clone(),
        platform_pin: None,
        ..dev.config(&sb)
    };
    let core = dev.core_with(config);
    sign_in(&core, &sb, PHONE).await;
    const CLAIM: &str = "PUT /v1/speaker";

    proxy.drop_answers_to(Some(CLAIM));
    let err = bounded(core.claim_speaker()).await.unwrap_err();
    assert!(matches!(err, MerchantError::Network { .. }), "{err:?}");
    proxy.drop_answers_to(None);
    let claimed = bounded(core.claim_speaker()).await.expect("claimed");
    assert!(claimed.this_device);
    let tries = proxy.exchanges(CLAIM);
    let key = tries[0].idempotency_key.clone().expect("a keyed write");
    assert!(
        tries
            .iter()
            .all(|t| t.idempotency_key.as_deref() == Some(key.as_str()))
    );
    assert!(tries.last().unwrap().replayed);

    // A claim lost again, then a release: the next claim is a new write,
    // so the platform really holds the role for this device afterwards.
    bounded(core.release_speaker()).await.expect("released");
    proxy.drop_answers_to(Some(CLAIM));
    bounded(core.claim_speaker()).await.unwrap_err();
    proxy.drop_answers_to(None);
    let lost_key = proxy
        .exchanges(CLAIM)
        .last()
        .unwrap()
        .idempotency_key
        .clone();
    let released = bounded(core.release_speaker()).await.expect("released");
    assert_eq!(released.device_id, None);
    let again = bounded(core.claim_speaker()).await.expect("claimed");
    let last = proxy.exchanges(CLAIM).last().unwrap().clone();
    assert_ne!(last.idempotency_key, lost_key);
    assert!(!last.replayed);
    assert!(again.this_device);
    let asked = bounded(core.speaker()).await.expect("asked");
    assert_eq!(asked.device_id, again.device_id);
    assert!(asked.this_device);
    assert!(speaks_core(&core).await);
    sb.shutdown().await;
}

async fn speaks_core(core: &MerchantCore) -> bool {
    bounded(core.this_device_speaks())
        .await
        .expect("kept role read")
}
