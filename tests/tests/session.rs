//! Sign-in end to end: the sandbox in-process on 127.0.0.1:0 (TLS unless a
//! test needs plain http), MerchantCore driven as an app would, with the
//! file-backed SecretStore.

use merchant_contract::envelope::SignedPush;
use merchant_core::platform::SpkiPin;
use merchant_core::session::PushProvider;
use merchant_core::store::{KEY_FILE, WrappedSecret, data_key_name, merchant_dir};
use merchant_core::{CoreConfig, MerchantError};
use merchant_sandbox::SandboxConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::proxy::*;
use common::*;

const PHONE: &str = "13800138000";

#[tokio::test]
async fn signs_in_over_tls_with_pinning_and_registers_the_device() {
    let sb = tls_sandbox().await;
    assert!(sb.base_url.starts_with("https://"));
    let dev = Device::new();
    let core = dev.core(&sb);
    assert_eq!(bounded(core.session()).await.unwrap(), None);

    let signed = sign_in(&core, &sb, "+86 138 0013 8000").await;
    let device_id = bounded(core.device_id()).await.unwrap();
    assert_eq!(signed.device_id, device_id);
    assert!(
        signed.device_registered,
        "the device is registered after sign-in"
    );
    assert_eq!(signed.phone_masked, "138****8000");
    assert_eq!(signed.merchant_status, "new");
    assert!(!signed.merchant_id.is_empty());

    let devices = bounded(core.devices()).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device_id, device_id);
    assert!(devices[0].this_device);
    assert_eq!(bounded(core.session()).await.unwrap(), Some(signed.clone()));

    // The app restarts: the session was kept, sealed, on this device.
    drop(core);
    let again = dev.core(&sb);
    assert_eq!(bounded(again.session()).await.unwrap(), Some(signed));
    assert_eq!(bounded(again.devices()).await.unwrap().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_call_near_access_expiry_refreshes_first_and_only_once_at_a_time() {
    // Access tokens live 30 s: always within the core's 60 s refresh margin.
    let sb = sandbox(SandboxConfig {
        tls: true,
        access_ttl_secs: 30,
        ..Default::default()
    })
    .await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let first = sign_in(&core, &sb, PHONE).await;

    // The platform's clock moves on 10 s: a refresh now yields a later expiry,
    // while the old access token would still be accepted (no refusal to react to).
    advance(&sb, 10);
    bounded(core.devices())
        .await
        .expect("a call after the token nears expiry");
    let after = bounded(core.session())
        .await
        .unwrap()
        .expect("still signed in");
    assert!(
        after.access_expires_at > first.access_expires_at,
        "the core refreshed before the call ({} -> {})",
        first.access_expires_at,
        after.access_expires_at
    );
    assert!(after.refresh_expires_at > first.refresh_expires_at);

    // Several calls at once: refresh tokens rotate and a reused one revokes
    // the session, so only single-flight refreshing keeps them all working.
    advance(&sb, 5);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let core = core.clone();
            tokio::spawn(async move { core.devices().await })
        })
        .collect();
    for call in calls {
        bounded(call).await.unwrap().expect("concurrent call");
    }
    bounded(core.devices()).await.expect("the session survived");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_call_refused_as_expired_is_refreshed_and_sent_again() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let first = sign_in(&core, &sb, PHONE).await;
    // The platform's clock passes the access token's expiry (2 h) while the
    // device's does not: the core learns it from the refusal.
    advance(&sb, 3 * 3600);
    let devices = bounded(core.devices())
        .await
        .expect("refreshed and retried");
    assert_eq!(devices.len(), 1);
    let after = bounded(core.session()).await.unwrap().unwrap();
    assert!(after.access_expires_at > first.access_expires_at);
    sb.shutdown().await;
}

#[tokio::test]
async fn sign_out_wipes_the_session_and_the_merchants_data_key() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let signed = sign_in(&core, &sb, PHONE).await;

    let dir = merchant_dir(&dev.data, &signed.merchant_id).unwrap();
    let key_file = dir.join(KEY_FILE);
    let key_name = data_key_name(&signed.merchant_id);
    let secrets = dev.secrets();
    assert!(WrappedSecret::load(&key_file, &key_name, &*secrets).is_ok());
    let kept_copy = dev.data.join("data.key.copy");
    std::fs::copy(&key_file, &kept_copy).unwrap();

    bounded(core.sign_out()).await.expect("signed out");
    assert_eq!(bounded(core.session()).await.unwrap(), None);
    assert!(!key_file.exists(), "the wrapped data key file is gone");
    assert!(!dir.exists(), "the merchant's local data is gone");
    // Even a copy of the wrapped key can no longer be opened: the key store
    // forgot the key that wrapped it.
    let e = WrappedSecret::load(&kept_copy, &key_name, &*secrets).unwrap_err();
    assert_eq!(e.code, "store.key_lost");

    let err = bounded(core.devices()).await.unwrap_err();
    assert_eq!(err.code(), "auth.session_missing");
    assert!(matches!(err, MerchantError::Auth { .. }));
    // A restarted app is signed out too; the device keeps its identity.
    let again = dev.core(&sb);
    assert_eq!(bounded(again.session()).await.unwrap(), None);
    assert_eq!(bounded(again.device_id()).await.unwrap(), signed.device_id);
    sb.shutdown().await;
}

#[tokio::test]
async fn another_merchant_signing_in_wipes_the_previous_ones_data() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let first = sign_in(&core, &sb, PHONE).await;
    let first_dir = merchant_dir(&dev.data, &first.merchant_id).unwrap();
    assert!(first_dir.exists());
    let second = sign_in(&core, &sb, "13900139000").await;
    assert_ne!(first.merchant_id, second.merchant_id);
    assert!(!first_dir.exists(), "the previous merchant's data is wiped");
    assert_eq!(
        bounded(core.session()).await.unwrap().unwrap().merchant_id,
        second.merchant_id
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_pin_mismatch_is_refused() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let other_pin = SpkiPin::of_spki(b"some other key").to_base64();
    let core = dev.core_with(CoreConfig {
        platform_pin: Some(other_pin),
        ..dev.config(&sb)
    });
    let err = bounded(core.request_sms_code(PHONE.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "platform.pin_mismatch");
    assert!(matches!(err, MerchantError::Auth { .. }));
    // Nothing reached the platform: no code was texted.
    assert_eq!(sb.latest_sms_code(PHONE, "sign_in"), None);
    sb.shutdown().await;
}

#[tokio::test]
async fn plain_http_to_a_non_loopback_host_is_refused() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core_with(CoreConfig {
        platform_url: "http://10.0.2.2:8700".to_owned(),
        platform_pin: None,
        ..dev.config(&sb)
    });
    let err = bounded(core.request_sms_code(PHONE.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "platform.insecure_url");
    assert!(matches!(err, MerchantError::Input { .. }));
    sb.shutdown().await;
}

#[tokio::test]
async fn platform_refusals_arrive_typed_with_the_platforms_code() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    bounded(core.request_sms_code(PHONE.to_owned()))
        .await
        .unwrap();
    let right = sms_code(&sb, PHONE).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let err = bounded(core.sign_in(PHONE.to_owned(), wrong.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth.sms_code_wrong");
    assert!(
        matches!(
            err,
            MerchantError::Auth { .. } | MerchantError::Input { .. }
        ),
        "{err:?}"
    );

    // Asking again at once is rate limited by the platform.
    let err = bounded(core.request_sms_code(PHONE.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth.sms_rate_limited");
    assert!(matches!(err, MerchantError::Auth { .. }), "{err:?}");

    // A number the validator refuses never leaves the device.
    let err = bounded(core.request_sms_code("12345".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(err, MerchantError::Input { .. }));
    assert!(!err.problems().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn answers_signed_by_another_key_are_refused() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    // The configured platform key differs from the one that signs (one byte
    // of the modulus changed).
    let mut der = base64_decode(&sb.platform_public_key);
    let last = der.len() - 10;
    der[last] ^= 0x01;
    let core = dev.core_with(CoreConfig {
        platform_public_key: base64_encode(&der),
        ..dev.config(&sb)
    });
    let err = bounded(core.request_sms_code(PHONE.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "platform.response_signature_invalid");
    assert!(matches!(err, MerchantError::Integrity { .. }));
    sb.shutdown().await;
}

#[tokio::test]
async fn a_tampered_answer_is_refused() {
    // Plain http on loopback, with a proxy that changes one byte of every
    // answer's body on its way back.
    let sb = sandbox(SandboxConfig::default()).await;
    let proxy = tampering_proxy(sb.addr).await;
    let dev = Device::new();
    let core = dev.core_with(CoreConfig {
        platform_url: proxy,
        platform_pin: None,
        ..dev.config(&sb)
    });
    let err = bounded(core.request_sms_code(PHONE.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "platform.response_signature_invalid");
    assert!(matches!(err, MerchantError::Integrity { .. }));
    // The request itself went through untouched: the code was texted.
    assert!(sb.latest_sms_code(PHONE, "sign_in").is_some());
    sb.shutdown().await;
}

/// A loopback proxy: forwards each request to `upstream` (one request per
/// connection) and changes the first digit of each answer's body, so the
/// JSON stays valid but is no longer what the platform signed.
async fn tampering_proxy(upstream: std::net::SocketAddr) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = proxy_one(client, upstream).await;
            });
        }
    });
    url
}

async fn proxy_one(mut client: TcpStream, upstream: std::net::SocketAddr) -> std::io::Result<()> {
    let request = read_http_message(&mut client).await?;
    let request = force_close(&request);
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&request).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    if let Some(head_end) = find(&response, b"\r\n\r\n") {
        let body = head_end + 4;
        if let Some(i) = response[body..].iter().position(u8::is_ascii_digit) {
            let d = &mut response[body + i];
            *d = if *d == b'9' { b'8' } else { *d + 1 };
        }
    }
    client.write_all(&response).await?;
    client.shutdown().await
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

const PUSH_TOKENS: &str = "POST /v1/push-tokens";

/// A keyed write whose answers are lost is kept pending with its key; the
/// app restarts; trying again sends the same Idempotency-Key and the
/// platform answers with its replay of the first write instead of doing it
/// again.
#[tokio::test]
async fn a_keyed_write_retried_after_a_restart_reuses_its_key_and_is_replayed() {
    let sb = sandbox(SandboxConfig::default()).await;
    let proxy = RecordingProxy::start(sb.addr).await;
    let dev = Device::new();
    let config = CoreConfig {
        platform_url: proxy.url.clone(),
        platform_pin: None,
        ..dev.config(&sb)
    };
    let core = dev.core_with(config.clone());
    sign_in(&core, &sb, PHONE).await;

    // Every answer to the registration is lost: the core retries it (the
    // same key each time) and gives up with a network error.
    proxy.drop_answers_to(Some(PUSH_TOKENS));
    let err = bounded(core.register_push_token(PushProvider::Fcm, "fcm-token-1".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(err, MerchantError::Network { .. }), "{err:?}");
    let lost = proxy.exchanges(PUSH_TOKENS);
    assert_eq!(lost.len(), 4, "1 try + 3 retries: {lost:?}");
    assert!(lost.iter().all(|e| e.dropped));
    let key = lost[0].idempotency_key.clone().expect("a keyed write");
    assert!(
        lost.iter()
            .all(|e| e.idempotency_key.as_deref() == Some(&key))
    );
    assert!(!lost[0].replayed, "the first try did the write");
    assert!(lost[1..].iter().all(|e| e.replayed), "{lost:?}");

    // The app restarts over the same data dir; the network is back.
    drop(core);
    proxy.drop_answers_to(None);
    let core = dev.core_with(config);
    bounded(core.register_push_token(PushProvider::Fcm, "fcm-token-1".to_owned()))
        .await
        .expect("registered");
    let all = proxy.exchanges(PUSH_TOKENS);
    assert_eq!(all.len(), 5, "{all:?}");
    let retry = &all[4];
    assert!(!retry.dropped);
    assert_eq!(retry.idempotency_key.as_deref(), Some(key.as_str()));
    assert!(retry.replayed, "the platform replayed the first answer");

    // Settled: the same registration later is a new write with a new key.
    bounded(core.register_push_token(PushProvider::Fcm, "fcm-token-1".to_owned()))
        .await
        .expect("registered again");
    let again = &proxy.exchanges(PUSH_TOKENS)[5];
    assert_ne!(again.idempotency_key.as_deref(), Some(key.as_str()));
    assert!(!again.replayed);
    sb.shutdown().await;
}

#[tokio::test]
async fn push_payloads_are_verified_once_and_tampering_is_refused() {
    let sb = tls_sandbox().await;
    let dev = Device::new();
    let core = dev.core(&sb);
    let signed = sign_in(&core, &sb, PHONE).await;
    bounded(core.register_push_token(PushProvider::Fcm, " fcm:token_1-a.b ".to_owned()))
        .await
        .expect("push token registered");

    let data = serde_json::json!({"trade_id": "T100", "amount": "12.30", "channel": "wechat"});
    let emitted = sandbox_control(
        &sb,
        "/sandbox/events",
        Some(serde_json::json!({
            "merchant_id": signed.merchant_id,
            "type": "trade.created",
            "data": data,
        })),
    )
    .await;
    let event_id = emitted["event_id"].as_u64().expect("an event id");
    let items = outbox(&sb, &signed.merchant_id).await;
    let item = items
        .iter()
        .find(|i| i.event_id == event_id)
        .expect("the event went to the push token");
    assert_eq!(item.token, "fcm:token_1-a.b");

    let event = core.verify_push(item.payload.clone()).expect("verified");
    assert_eq!(event.event_type, "trade.created");
    assert_eq!(event.event_id, event_id);
    assert_eq!(
        event.merchant_id.as_deref(),
        Some(signed.merchant_id.as_str())
    );
    let body: serde_json::Value = serde_json::from_str(&event.body_json).unwrap();
    assert_eq!(body, data);
    assert!(!event.occurred_at.is_empty());
    assert!(event.timestamp > 0);

    // The same payload again is a replay.
    let err = core.verify_push(item.payload.clone()).unwrap_err();
    assert_eq!(err.code(), "platform.push_replayed");
    assert!(matches!(err, MerchantError::Integrity { .. }), "{err:?}");

    // A changed body no longer matches its signature.
    let mut tampered = SignedPush::parse(&item.payload).unwrap();
    tampered.body = tampered.body.replace("12.30", "1230.00");
    assert_ne!(
        tampered.body,
        SignedPush::parse(&item.payload).unwrap().body
    );
    let err = core.verify_push(tampered.to_json()).unwrap_err();
    assert_eq!(err.code(), "platform.push_signature_invalid");
    assert!(matches!(err, MerchantError::Integrity { .. }), "{err:?}");

    // Not a payload at all.
    let err = core.verify_push("{\"hello\":1}".to_owned()).unwrap_err();
    assert_eq!(err.code(), "platform.push_malformed");

    // A token the platform would refuse never leaves the device.
    let err = bounded(core.register_push_token(PushProvider::Apns, "bad token".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(err, MerchantError::Input { .. }), "{err:?}");
    assert_eq!(err.problems()[0].field, "token");
    sb.shutdown().await;
}
