mod common;

use common::*;
use merchant_sandbox::SandboxConfig;

#[tokio::test]
async fn sign_in_register_and_list_devices() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13912345678").await;
    let r = app.get("/v1/devices").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["items"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["items"][0]["serial_no"], app.key.serial_no());
    sandbox.shutdown().await;
}
