//! `merchant bench alerts --json` at a tiny size runs end to end against
//! its embedded sandbox: every figure is there, the live stream told each
//! trade exactly once through the drops, and the cold-push child ran. No
//! timing is asserted (speed goals live in the bench's own output).

mod common;

use common::merchant;

const KEYS: [&str; 23] = [
    "pushes",
    "handle_push_p50_ms",
    "handle_push_p99_ms",
    "verify_only_p99_ms",
    "core_call_p99_ms",
    "handle_push_checkpointed_p99_ms",
    "push_ratio",
    "cold_push_ms",
    "cold_process_ms",
    "live_p50_ms",
    "live_p99_ms",
    "live_checkpointed_p99_ms",
    "control_p50_ms",
    "control_p99_ms",
    "resume_p50_ms",
    "events",
    "drops",
    "delivered_once",
    "rows",
    "records",
    "ingest_with_detectors_rows_per_s",
    "ingest_without_detectors_rows_per_s",
    "detectors_ratio",
];

#[test]
fn bench_alerts_reports_every_figure_and_each_trade_told_once() {
    let r = merchant(&["bench", "alerts", "--rows", "20", "--runs", "1", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let figures: serde_json::Value =
        serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(figures["area"], "alerts");
    for key in KEYS {
        assert!(
            figures.get(key).is_some_and(|v| !v.is_null()),
            "{key} missing or not measured: {figures}"
        );
    }
    assert_eq!(figures["delivered_once"], true, "{figures}");
    assert_eq!(
        figures["events"], 40,
        "one event a live trade, plain and checkpointed: {figures}"
    );
    assert!(
        figures["drops"].as_u64().is_some_and(|d| d > 0),
        "{figures}"
    );
    assert_eq!(figures["pushes"], 20, "{figures}");
    assert_eq!(figures["rows"], 20);
    // The seeded sales, the live and injected trades, in the feed ingested.
    assert!(
        figures["records"].as_u64().is_some_and(|n| n > 40),
        "{figures}"
    );
}
