//! One merchant's session can never read or change another merchant's data.
//! (The domain extends this to terminals, trades, refunds and settlements.)

mod common;

use common::*;
use merchant_contract::envelope::{HEADER_AUTHORIZATION, HEADER_SESSION};
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn merchant_a_cannot_read_or_change_merchant_bs_devices_or_push_tokens() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = App::ready(&sandbox, "13912345630").await;
    let b = App::ready(&sandbox, "13912345631").await;
    for (app, token) in [(&a, "fcm:token-A"), (&b, "fcm:token-B")] {
        let r = app
            .write(
                Method::POST,
                "/v1/push-tokens",
                Some(json!({"provider": "fcm", "token": token})),
            )
            .await;
        assert_eq!(r.status, 200);
    }

    // Reading: each sees only its own.
    let a_devices = a.get("/v1/devices").await.json();
    let b_devices = b.get("/v1/devices").await.json();
    assert_eq!(a_devices["items"].as_array().unwrap().len(), 1);
    assert_eq!(a_devices["items"][0]["serial_no"], a.key.serial_no());
    assert_eq!(a_devices["items"][0]["current"], true);
    let b_device_id = b_devices["items"][0]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_tokens = a.get("/v1/push-tokens").await.json();
    assert_eq!(a_tokens["items"].as_array().unwrap().len(), 1);
    assert_eq!(a_tokens["items"][0]["token"], "fcm:token-A");

    // Changing: B's device is "not found" for A, exactly like a device that
    // never existed (no existence leak).
    let theirs = a
        .write(Method::DELETE, &format!("/v1/devices/{b_device_id}"), None)
        .await
        .expect_error(404, "resource.not_found");
    let nobody = a
        .write(Method::DELETE, "/v1/devices/dev_0000000000000000", None)
        .await
        .expect_error(404, "resource.not_found");
    assert_eq!(
        (theirs.message, theirs.message_en),
        (nobody.message, nobody.message_en)
    );
    let b_after = b.get("/v1/devices").await.json();
    assert_eq!(b_after["items"], b_devices["items"]);
    let b_tokens = b.get("/v1/push-tokens").await.json();
    assert_eq!(b_tokens["items"][0]["token"], "fcm:token-B");

    // A's session presented by B's device: refused.
    let header = b.authorization(b"");
    b.raw(
        Method::GET,
        "/v1/devices",
        None,
        &[
            (HEADER_AUTHORIZATION, header),
            (HEADER_SESSION, a.access_token.clone().unwrap()),
        ],
    )
    .await
    .expect_error(401, "auth.session_invalid");
    // A's refresh token from B's device: refused, and A's session survives.
    b.post(
        "/v1/auth/refresh",
        json!({"refresh_token": a.refresh_token.clone().unwrap()}),
    )
    .await
    .expect_error(401, "auth.session_invalid");
    assert_eq!(a.get("/v1/devices").await.status, 200);

    // A removing its own device works, and ends that device's session.
    let a_device_id = a_devices["items"][0]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a
        .write(Method::DELETE, &format!("/v1/devices/{a_device_id}"), None)
        .await;
    assert_eq!(r.status, 200);
    a.get("/v1/devices")
        .await
        .expect_error(401, "auth.session_revoked");
    assert_eq!(b.get("/v1/devices").await.status, 200);
}
