//! The sandbox over TLS: a certificate made at start, its pin printed, and
//! sign-in working over it.

mod common;

use base64::Engine as _;
use common::*;
use merchant_sandbox::{Sandbox, SandboxConfig, StartError};

#[tokio::test]
async fn serves_https_with_a_pinned_certificate() {
    let sandbox = start(SandboxConfig {
        tls: true,
        ..Default::default()
    })
    .await;
    assert!(sandbox.base_url.starts_with("https://127.0.0.1:"));
    let pin = sandbox.pin.clone().expect("a TLS sandbox has a pin");
    let digest = base64::engine::general_purpose::STANDARD
        .decode(&pin)
        .unwrap();
    assert_eq!(digest.len(), 32);
    assert!(sandbox.certificate_der.is_some());

    let app = App::ready(&sandbox, "13912345640").await;
    assert_eq!(app.get("/v1/devices").await.status, 200);
    let info = app.open_get("/sandbox/info").await.json();
    assert_eq!(info["tls_pin"], pin);
    assert_eq!(info["platform_public_key"], sandbox.platform_public_key);
    assert_eq!(info["app_id"], sandbox.app_id);

    // Plain HTTP to the TLS port gets no answer a client could use.
    let plain = reqwest::Client::builder()
        .tls_backend_preconfigured(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let http_url = sandbox.base_url.replace("https://", "http://");
    let res = plain.get(format!("{http_url}/sandbox/info")).send().await;
    assert!(res.map(|r| !r.status().is_success()).unwrap_or(true));
    // And a client that does not trust the certificate is refused.
    assert!(
        plain
            .get(format!("{}/sandbox/info", sandbox.base_url))
            .send()
            .await
            .is_err()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn each_start_makes_a_new_certificate_but_keeps_the_platform_key() {
    let a = start(SandboxConfig {
        tls: true,
        ..Default::default()
    })
    .await;
    let b = start(SandboxConfig {
        tls: true,
        ..Default::default()
    })
    .await;
    assert_ne!(a.pin, b.pin);
    assert_eq!(a.platform_public_key, b.platform_public_key);
}

#[tokio::test]
async fn a_bad_platform_key_is_refused_at_start() {
    let err = Sandbox::start(SandboxConfig {
        platform_key_pkcs8: Some(b"not a key".to_vec()),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StartError::Key(_)));
}
