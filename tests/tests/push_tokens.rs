//! Push tokens end to end: rotation (FCM `onNewToken`, APNs
//! re-registration) and unregistration, seen in the sandbox's push outbox.

use merchant_contract::wire::sandbox::OutboxItem;
use merchant_core::MerchantError;
use merchant_core::session::PushProvider;
use merchant_sandbox::{RunningSandbox, SandboxConfig};

mod common;
use common::proxy::*;
use common::*;

const PHONE: &str = "13800138000";

/// Emits a trade event for the merchant; returns its id.
async fn emit(sb: &RunningSandbox, merchant_id: &str) -> u64 {
    let emitted = sandbox_control(
        sb,
        "/sandbox/events",
        Some(serde_json::json!({
            "merchant_id": merchant_id,
            "type": "trade.created",
            "data": {"trade_id": "T1", "amount": "1.00", "channel": "wechat"},
        })),
    )
    .await;
    emitted["event_id"].as_u64().expect("an event id")
}

/// The pushes of event `event_id`.
async fn pushes_of(sb: &RunningSandbox, merchant_id: &str, event_id: u64) -> Vec<OutboxItem> {
    outbox(sb, merchant_id)
        .await
        .into_iter()
        .filter(|i| i.event_id == event_id)
        .collect()
}

#[tokio::test]
async fn a_rotated_token_receives_every_later_push_and_the_old_one_none() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let me = sign_in(&core, &sb, PHONE).await;

    // Nothing registered yet: rotating registers.
    bounded(core.rotate_push_token(PushProvider::Fcm, "fcm:first".to_owned()))
        .await
        .expect("registered by rotation");
    let before = emit(&sb, &me.merchant_id).await;
    let first = pushes_of(&sb, &me.merchant_id, before).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].token, "fcm:first");
    let token_id = first[0].token_id.clone();

    bounded(core.rotate_push_token(PushProvider::Fcm, " fcm:second ".to_owned()))
        .await
        .expect("rotated");
    for _ in 0..2 {
        let after = emit(&sb, &me.merchant_id).await;
        let pushed = pushes_of(&sb, &me.merchant_id, after).await;
        assert_eq!(pushed.len(), 1, "one push per event: {pushed:?}");
        assert_eq!(pushed[0].token, "fcm:second");
        assert_eq!(pushed[0].token_id, token_id, "the same registration");
    }
    // Only events before the rotation ever went to the old value.
    let old: Vec<u64> = outbox(&sb, &me.merchant_id)
        .await
        .into_iter()
        .filter(|i| i.token == "fcm:first")
        .map(|i| i.event_id)
        .collect();
    assert!(old.iter().all(|&e| e <= before), "{old:?}");

    // Rotating to the value it has changes nothing.
    bounded(core.rotate_push_token(PushProvider::Fcm, "fcm:second".to_owned()))
        .await
        .expect("the same value again");
    let again = emit(&sb, &me.merchant_id).await;
    let pushed = pushes_of(&sb, &me.merchant_id, again).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        (pushed[0].token.as_str(), pushed[0].token_id.as_str()),
        ("fcm:second", token_id.as_str())
    );

    // A token the platform would refuse never leaves the device.
    let err = bounded(core.rotate_push_token(PushProvider::Fcm, "bad token".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(err, MerchantError::Input { .. }), "{err:?}");
    assert_eq!(err.problems()[0].field, "token");
    let still = emit(&sb, &me.merchant_id).await;
    assert_eq!(
        pushes_of(&sb, &me.merchant_id, still).await[0].token,
        "fcm:second"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn an_unregistered_token_receives_nothing_and_unregistering_again_is_done() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let me = sign_in(&core, &sb, PHONE).await;

    // Nothing registered: nothing to do.
    bounded(core.unregister_push_token())
        .await
        .expect("nothing to unregister");

    bounded(core.register_push_token(PushProvider::Apns, "a1b2c3".to_owned()))
        .await
        .expect("registered");
    let e = emit(&sb, &me.merchant_id).await;
    assert_eq!(pushes_of(&sb, &me.merchant_id, e).await.len(), 1);

    bounded(core.unregister_push_token())
        .await
        .expect("unregistered");
    let e = emit(&sb, &me.merchant_id).await;
    assert!(pushes_of(&sb, &me.merchant_id, e).await.is_empty());
    bounded(core.unregister_push_token())
        .await
        .expect("unregistering again is done already");

    // A new token later registers anew, and pushes resume.
    bounded(core.rotate_push_token(PushProvider::Apns, "d4e5f6".to_owned()))
        .await
        .expect("registered again");
    let e = emit(&sb, &me.merchant_id).await;
    let pushed = pushes_of(&sb, &me.merchant_id, e).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].token, "d4e5f6");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_rotation_whose_answers_are_lost_is_retried_with_the_same_key() {
    let sb = sandbox(SandboxConfig::default()).await;
    let proxy = RecordingProxy::start(sb.addr).await;
    let dev = Device::new();
    let config = merchant_core::CoreConfig {
        platform_url: proxy.url.clone(),
        platform_pin: None,
        ..dev.config(&sb)
    };
    let core = dev.core_with(config.clone());
    let me = sign_in(&core, &sb, PHONE).await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm:old".to_owned()))
        .await
        .expect("registered");
    let e = emit(&sb, &me.merchant_id).await;
    let token_id = pushes_of(&sb, &me.merchant_id, e).await[0].token_id.clone();
    let rotate = format!("PUT /v1/push-tokens/{token_id}");

    proxy.drop_answers_to(Some(&rotate));
    let err = bounded(core.rotate_push_token(PushProvider::Fcm, "fcm:new".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(err, MerchantError::Network { .. }), "{err:?}");
    // The platform did rotate: later pushes already go to the new value.
    let e = emit(&sb, &me.merchant_id).await;
    assert_eq!(pushes_of(&sb, &me.merchant_id, e).await[0].token, "fcm:new");

    // After a restart, the same rotation again carries the same key and is
    // answered with the replay of the first.
    drop(core);
    proxy.drop_answers_to(None);
    let core = dev.core_with(config);
    bounded(core.rotate_push_token(PushProvider::Fcm, "fcm:new".to_owned()))
        .await
        .expect("rotated");
    let all = proxy.exchanges(&rotate);
    assert!(all.len() >= 2, "{all:?}");
    let key = all[0].idempotency_key.clone().expect("a keyed write");
    assert!(
        all.iter()
            .all(|x| x.idempotency_key.as_deref() == Some(key.as_str())),
        "{all:?}"
    );
    let last = all.last().unwrap();
    assert!(!last.dropped && last.replayed, "{last:?}");
    let e = emit(&sb, &me.merchant_id).await;
    let pushed = pushes_of(&sb, &me.merchant_id, e).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        (pushed[0].token.as_str(), pushed[0].token_id.as_str()),
        ("fcm:new", token_id.as_str())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn after_sign_out_the_device_receives_no_pushes() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let me = sign_in(&core, &sb, PHONE).await;
    bounded(core.register_push_token(PushProvider::Fcm, "fcm:leaving".to_owned()))
        .await
        .expect("registered");
    let e = emit(&sb, &me.merchant_id).await;
    assert_eq!(pushes_of(&sb, &me.merchant_id, e).await.len(), 1);

    bounded(core.sign_out()).await.expect("signed out");
    let e = emit(&sb, &me.merchant_id).await;
    assert!(pushes_of(&sb, &me.merchant_id, e).await.is_empty());
    // Signed out, there is nothing to unregister with.
    let err = bounded(core.unregister_push_token()).await.unwrap_err();
    assert_eq!(err.code(), "auth.session_missing");
    sb.shutdown().await;
}
