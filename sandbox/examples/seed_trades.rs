//! Seeds a merchant of an in-process sandbox with many trades and prints
//! how long it took: `cargo run --release -p merchant-sandbox --example
//! seed_trades -- [COUNT] [DAYS]` (default 1,000,000 over 365 days, for the
//! seeded merchant 13800000003). A figure, not a test.

use merchant_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: u32 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let days: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(365);
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    // The sandbox serves plain HTTP here; reqwest still wants a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let merchants: Value = http
        .get(format!("{}/sandbox/merchants", sandbox.base_url))
        .send()
        .await?
        .json()
        .await?;
    let merchant_id = merchants["items"]
        .as_array()
        .and_then(|items| items.iter().find(|m| m["phone"] == "13800000003"))
        .and_then(|m| m["merchant_id"].as_str())
        .ok_or("no seeded merchant 13800000003")?
        .to_owned();
    let started = std::time::Instant::now();
    let res = http
        .post(format!("{}/sandbox/trades/seed", sandbox.base_url))
        .json(&json!({"merchant_id": merchant_id, "count": count, "days": days}))
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await?;
    println!(
        "{status} seeded {count} over {days} days: {} (round trip {} ms)",
        body,
        started.elapsed().as_millis()
    );
    Ok(())
}
