//! The sandbox's security over real loopback HTTP: every refusal gets its
//! documented status and code, and every response (refusals included) is
//! signed by the platform key (the helper verifies each one).

mod common;

use common::*;
use merchant_contract::envelope::{HEADER_AUTHORIZATION, HEADER_IDEMPOTENCY_KEY, HEADER_SESSION};
use merchant_contract::routes::BODY_LIMIT;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn unsigned_request_is_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    let body = br#"{"phone":"13912345678"}"#;
    app.raw(Method::POST, "/v1/auth/sms-code", Some(body), &[])
        .await
        .expect_error(401, "auth.signature_missing");
    // A session alone is not a signature either.
    app.raw(
        Method::GET,
        "/v1/devices",
        None,
        &[(HEADER_SESSION, "at_whatever".into())],
    )
    .await
    .expect_error(401, "auth.signature_missing");
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345601").await;
    let body = serde_json::to_vec(&json!({"provider": "fcm", "token": "tok-1"})).unwrap();
    // Signed over another body.
    let header = app.authorization(br#"{"provider":"fcm","token":"tok-2"}"#);
    app.raw(
        Method::POST,
        "/v1/push-tokens",
        Some(&body),
        &[
            (HEADER_AUTHORIZATION, header),
            (HEADER_SESSION, app.access_token.clone().unwrap()),
            (HEADER_IDEMPOTENCY_KEY, "key-0000000000000001".into()),
        ],
    )
    .await
    .expect_error(401, "auth.signature_invalid");
    // Signed by another key under this device's serial_no.
    let other = merchant_contract::DeviceKey::generate().unwrap().0;
    let mut forged = other.authorize(&app.app_id, now(), b"").unwrap();
    forged.serial_no = app.key.serial_no().to_owned();
    app.raw(
        Method::GET,
        "/v1/devices",
        None,
        &[
            (HEADER_AUTHORIZATION, forged.to_header_value()),
            (HEADER_SESSION, app.access_token.clone().unwrap()),
        ],
    )
    .await
    .expect_error(401, "auth.signature_invalid");
}

#[tokio::test]
async fn malformed_headers_unknown_appid_and_unknown_device_are_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345602").await;
    for bad in [
        "Bearer abc".to_owned(),
        "LKLAPI-SHA256withECDSA appid=\"OP00000001\"".to_owned(),
        format!("LKLAPI-SHA256withECDSA {}", "x".repeat(3000)),
    ] {
        app.raw(
            Method::GET,
            "/v1/devices",
            None,
            &[(HEADER_AUTHORIZATION, bad)],
        )
        .await
        .expect_error(401, "auth.header_malformed");
    }
    let other_app = app.key.authorize("OP99999999", now(), b"").unwrap();
    app.raw(
        Method::GET,
        "/v1/devices",
        None,
        &[(HEADER_AUTHORIZATION, other_app.to_header_value())],
    )
    .await
    .expect_error(401, "auth.appid_unknown");

    // A device never seen: refused on every route but sms-code/sign-in, and
    // there only with a matching device_public_key.
    let stranger = App::new(&sandbox);
    stranger
        .get("/v1/devices")
        .await
        .expect_error(401, "auth.device_unknown");
    stranger
        .post("/v1/auth/sms-code", json!({"phone": "13912345603"}))
        .await
        .expect_error(401, "auth.device_unknown");
    let wrong_key = merchant_contract::DeviceKey::generate().unwrap().0;
    let e = stranger
        .post(
            "/v1/auth/sms-code",
            json!({"phone": "13912345603", "device_public_key": wrong_key.public_key_base64()}),
        )
        .await
        .expect_error(400, "auth.device_key_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "device_public_key");
}

#[tokio::test]
async fn stale_timestamps_are_refused_both_ways() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345604").await;
    for ts in [now() - 301, now() + 400] {
        let auth = app.key.authorize(&app.app_id, ts, b"").unwrap();
        app.raw(
            Method::GET,
            "/v1/devices",
            None,
            &[
                (HEADER_AUTHORIZATION, auth.to_header_value()),
                (HEADER_SESSION, app.access_token.clone().unwrap()),
            ],
        )
        .await
        .expect_error(401, "auth.timestamp_stale");
    }
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345605").await;
    let header = app.authorization(b"");
    let headers = [
        (HEADER_AUTHORIZATION, header),
        (HEADER_SESSION, app.access_token.clone().unwrap()),
    ];
    let first = app.raw(Method::GET, "/v1/devices", None, &headers).await;
    assert_eq!(first.status, 200);
    app.raw(Method::GET, "/v1/devices", None, &headers)
        .await
        .expect_error(401, "auth.nonce_replayed");
}

#[tokio::test]
async fn expired_session_is_refused_and_refresh_rotates() {
    let sandbox = start(SandboxConfig {
        access_ttl_secs: 60,
        refresh_ttl_secs: 600,
        ..Default::default()
    })
    .await;
    let mut app = App::ready(&sandbox, "13912345606").await;
    assert_eq!(app.get("/v1/devices").await.status, 200);
    app.open_post("/sandbox/clock", json!({"advance_secs": 61}))
        .await;
    app.get("/v1/devices")
        .await
        .expect_error(401, "auth.session_expired");

    let old_refresh = app.refresh_token.clone().unwrap();
    let r = app
        .post("/v1/auth/refresh", json!({"refresh_token": old_refresh}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tokens: merchant_contract::wire::Tokens = r.parse();
    assert_ne!(tokens.refresh_token, old_refresh);
    app.access_token = Some(tokens.access_token.clone());
    assert_eq!(app.get("/v1/devices").await.status, 200);

    // The rotated refresh token is dead; presenting it revokes the session.
    app.post("/v1/auth/refresh", json!({"refresh_token": old_refresh}))
        .await
        .expect_error(401, "auth.session_revoked");
    app.get("/v1/devices")
        .await
        .expect_error(401, "auth.session_revoked");
    app.post(
        "/v1/auth/refresh",
        json!({"refresh_token": tokens.refresh_token}),
    )
    .await
    .expect_error(401, "auth.session_revoked");

    // A refresh token past its own lifetime.
    let mut late = App::ready(&sandbox, "13912345607").await;
    late.open_post("/sandbox/clock", json!({"advance_secs": 601}))
        .await;
    let rt = late.refresh_token.take().unwrap();
    late.post("/v1/auth/refresh", json!({"refresh_token": rt}))
        .await
        .expect_error(401, "auth.session_expired");
}

#[tokio::test]
async fn revoked_session_is_refused_after_sign_out() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345608").await;
    let r = app.post("/v1/auth/sign-out", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({}));
    app.get("/v1/devices")
        .await
        .expect_error(401, "auth.session_revoked");
    // No session at all, and an unknown one.
    let mut anon = App::ready(&sandbox, "13912345609").await;
    anon.access_token = None;
    anon.get("/v1/devices")
        .await
        .expect_error(401, "auth.session_missing");
    anon.access_token = Some("at_not-a-real-token".into());
    anon.get("/v1/devices")
        .await
        .expect_error(401, "auth.session_invalid");
}

#[tokio::test]
async fn unregistered_device_may_only_register_or_sign_out() {
    let sandbox = start(SandboxConfig::default()).await;
    let mut app = App::new(&sandbox);
    let signed = app.sign_in("13912345610").await;
    assert!(!signed.device_registered);
    assert_eq!(signed.merchant.status, "new");
    assert_eq!(signed.merchant.phone_masked, "139****5610");
    app.get("/v1/devices")
        .await
        .expect_error(403, "auth.device_not_registered");
    // Registering another key than the signing one is refused.
    let other = merchant_contract::DeviceKey::generate().unwrap().0;
    app.write(
        Method::POST,
        "/v1/devices",
        Some(json!({"device_public_key": other.public_key_base64(), "name": "x", "os": "ios", "model": "x", "app_version": "1"})),
    )
    .await
    .expect_error(400, "auth.device_key_invalid");
    app.register_device().await;
    assert_eq!(app.get("/v1/devices").await.status, 200);
    // Signing in again on the same device (after the resend interval): registered.
    app.open_post("/sandbox/clock", json!({"advance_secs": 61}))
        .await;
    let again = app.sign_in("13912345610").await;
    assert!(again.device_registered);
    assert_eq!(again.merchant_id, signed.merchant_id);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345611").await;
    let big = json!({"provider": "fcm", "token": "a".repeat(BODY_LIMIT)});
    app.write(Method::POST, "/v1/push-tokens", Some(big.clone()))
        .await
        .expect_error(413, "request.body_too_large");
    // Without a Content-Length (chunked), the limit holds as it streams.
    let bytes = serde_json::to_vec(&big).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .http
        .post(format!("{}/v1/auth/sms-code", app.base_url))
        .header("content-type", "application/json")
        .header(HEADER_AUTHORIZATION, app.authorization(&bytes))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap();
    verify_response(&app.platform, &app.nonces, &headers, &body);
    let e: merchant_contract::wire::ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(e.code, "request.body_too_large");
}

#[tokio::test]
async fn malformed_json_and_bad_fields_are_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345612").await;
    let bad = b"{\"provider\": \"fcm\", \"token\": ";
    app.raw(
        Method::POST,
        "/v1/push-tokens",
        Some(bad),
        &[
            (HEADER_AUTHORIZATION, app.authorization(bad)),
            (HEADER_SESSION, app.access_token.clone().unwrap()),
            (HEADER_IDEMPOTENCY_KEY, "key-0000000000000002".into()),
        ],
    )
    .await
    .expect_error(400, "request.malformed");
    let e = app
        .write(
            Method::POST,
            "/v1/push-tokens",
            Some(json!({"provider": "pigeon", "token": "t"})),
        )
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "provider");
    let e = app
        .write(
            Method::POST,
            "/v1/push-tokens",
            Some(json!({"provider": "fcm"})),
        )
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "token");
    let e = app
        .post("/v1/auth/sms-code", json!({"phone": "12345"}))
        .await
        .expect_error(400, "auth.phone_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "phone");
    // A JSON route without a JSON content type.
    let body = br#"{"phone":"13912345612"}"#;
    let res = app
        .http
        .post(format!("{}/v1/auth/sms-code", app.base_url))
        .header("content-type", "text/plain")
        .header(HEADER_AUTHORIZATION, app.authorization(body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    app.open_get("/v1/nothing-here")
        .await
        .expect_error(404, "route.not_found");
    app.open_get("/").await.expect_error(404, "route.not_found");
    app.raw(Method::PUT, "/v1/devices", Some(b"{}"), &[])
        .await
        .expect_error(405, "route.method_not_allowed");
    app.raw(Method::GET, "/v1/auth/sign-in", None, &[])
        .await
        .expect_error(405, "route.method_not_allowed");
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_reuse() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345613").await;
    let body = json!({"provider": "apns", "token": "apns-token-1"});
    app.call(Method::POST, "/v1/push-tokens", Some(body.clone()), &[])
        .await
        .expect_error(400, "idempotency.key_missing");
    app.call(
        Method::POST,
        "/v1/push-tokens",
        Some(body.clone()),
        &[(HEADER_IDEMPOTENCY_KEY, "short".into())],
    )
    .await
    .expect_error(400, "idempotency.key_invalid");
    let key = [(HEADER_IDEMPOTENCY_KEY, "key-0000000000000003".to_owned())];
    let first = app
        .call(Method::POST, "/v1/push-tokens", Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, 200);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = app
        .call(Method::POST, "/v1/push-tokens", Some(body.clone()), &key)
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    app.call(
        Method::POST,
        "/v1/push-tokens",
        Some(json!({"provider": "apns", "token": "apns-token-2"})),
        &key,
    )
    .await
    .expect_error(409, "idempotency.key_reused");
}

#[tokio::test]
async fn sms_rules_rate_limit_attempts_and_expiry() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    let pk = app.key.public_key_base64();
    let phone = "13912345614";
    let ask = || {
        app.post(
            "/v1/auth/sms-code",
            json!({"phone": phone, "device_public_key": pk}),
        )
    };
    let r = ask().await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"sent": true, "expires_in": 300, "resend_after": 60})
    );
    ask().await.expect_error(429, "auth.sms_rate_limited");

    let sign_in = |code: &str| {
        app.post(
            "/v1/auth/sign-in",
            json!({"phone": phone, "sms_code": code, "device_public_key": pk}),
        )
    };
    let code = sandbox.latest_sms_code(phone, "sign_in").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        sign_in(wrong)
            .await
            .expect_error(401, "auth.sms_code_wrong");
    }
    sign_in(wrong)
        .await
        .expect_error(429, "auth.sms_attempts_exceeded");
    // Burnt: even the right code no longer works.
    sign_in(&code)
        .await
        .expect_error(429, "auth.sms_attempts_exceeded");

    app.open_post("/sandbox/clock", json!({"advance_secs": 61}))
        .await;
    assert_eq!(ask().await.status, 200);
    let code = sandbox.latest_sms_code(phone, "sign_in").unwrap();
    app.open_post("/sandbox/clock", json!({"advance_secs": 301}))
        .await;
    sign_in(&code)
        .await
        .expect_error(401, "auth.sms_code_expired");
}

#[tokio::test]
async fn same_seed_same_codes_and_merchants() {
    let run = || async {
        let sandbox = start(SandboxConfig {
            seed: 42,
            ..Default::default()
        })
        .await;
        let app = App::new(&sandbox);
        let merchants = app.open_get("/sandbox/merchants").await.json();
        app.post(
            "/v1/auth/sms-code",
            json!({"phone": "13800000001", "device_public_key": app.key.public_key_base64()}),
        )
        .await;
        let code = sandbox.latest_sms_code("13800000001", "sign_in").unwrap();
        (merchants, code)
    };
    let (m1, c1) = run().await;
    let (m2, c2) = run().await;
    assert_eq!(m1, m2);
    assert_eq!(c1, c2);
    assert_eq!(m1["items"].as_array().map(|a| a.len()), Some(3));
    // A seeded merchant signs in as itself.
    let sandbox = start(SandboxConfig {
        seed: 42,
        ..Default::default()
    })
    .await;
    let mut app = App::new(&sandbox);
    let signed = app.sign_in("13800000001").await;
    assert_eq!(signed.merchant_id, m1["items"][0]["merchant_id"]);
}

#[tokio::test]
async fn non_ascii_header_bytes_are_refused_not_crashed() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    let res = app
        .http
        .get(format!("{}/v1/devices", app.base_url))
        .header(
            HEADER_AUTHORIZATION,
            reqwest::header::HeaderValue::from_bytes(b"LKLAPI-SHA256withECDSA appid=\"\xff\xfe\"")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap();
    verify_response(&app.platform, &app.nonces, &headers, &body);
    let e: merchant_contract::wire::ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(e.code, "auth.header_malformed");
}

#[tokio::test]
async fn a_full_nonce_cache_refuses_rather_than_forgets() {
    // sms-code, sign-in and one call fill a cache of three live nonces.
    let sandbox = start(SandboxConfig {
        nonce_capacity: 3,
        ..Default::default()
    })
    .await;
    let mut app = App::new(&sandbox);
    app.sign_in("13912345650").await;
    let r = app.get("/v1/devices").await;
    r.expect_error(403, "auth.device_not_registered");
    app.get("/v1/devices")
        .await
        .expect_error(503, "server.busy");
}

#[tokio::test]
async fn one_device_cannot_fill_the_nonce_cache() {
    // sms-code, sign-in and one call use a device's three nonces.
    let sandbox = start(SandboxConfig {
        nonces_per_device: 3,
        ..Default::default()
    })
    .await;
    let mut greedy = App::new(&sandbox);
    greedy.sign_in("13912345651").await;
    greedy
        .get("/v1/devices")
        .await
        .expect_error(403, "auth.device_not_registered");
    for _ in 0..3 {
        greedy
            .get("/v1/devices")
            .await
            .expect_error(429, "auth.rate_limited");
    }
    // A fresh key is limited the same way on the pre-registration routes.
    let fresh = App::new(&sandbox);
    let proof = json!({"phone": "13912345652", "device_public_key": fresh.key.public_key_base64()});
    for _ in 0..3 {
        fresh.post("/v1/auth/sms-code", proof.clone()).await;
    }
    fresh
        .post("/v1/auth/sms-code", proof)
        .await
        .expect_error(429, "auth.rate_limited");
    // Everyone else is still served.
    let mut other = App::new(&sandbox);
    other.sign_in("13912345653").await;
    other
        .get("/v1/devices")
        .await
        .expect_error(403, "auth.device_not_registered");
    assert_eq!(
        sandbox.state().nonces_held(),
        9,
        "refused requests spend no nonce slot"
    );
}

#[tokio::test]
async fn unknown_and_repeated_query_parameters_are_named() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345654").await;
    for (path, field) in [
        ("/v1/trades?foo=1", "foo"),
        ("/v1/trades?limit=1&limit=2", "limit"),
        ("/v1/refunds?cursor=a&cursor=b", "cursor"),
    ] {
        let e = app
            .get(path)
            .await
            .expect_error(400, "request.field_invalid");
        let fields = e.fields.unwrap_or_default();
        assert_eq!(fields.len(), 1, "{path}");
        assert_eq!(fields[0].field, field, "{path}");
        assert_eq!(fields[0].code, "request.field_invalid", "{path}");
    }
    // The open controls name theirs too.
    let e = app
        .open_get("/sandbox/sms?phone=13912345654&phone=13912345655")
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap_or_default()[0].field, "phone");
}
