//! `fastport bench --qos 1` with two publishers and two subscribers against the real
//! server: every subscriber gets every message once, and the JSON summary says so, with
//! latency percentiles in order and a `delivered` receipt for every message.

mod cli_support;

use cli_support::{member, run};
use fastport_harness::Server;

#[tokio::test]
async fn bench_delivers_every_message_once_to_every_subscriber_at_qos_1() {
    let server = Server::start(&[]).await;
    let args = member(
        "bench",
        &server.url(),
        &[
            "--duration",
            "1s",
            "--json",
            "--qos",
            "1",
            "--publishers",
            "2",
            "--subscribers",
            "2",
        ],
    );
    let outcome = run(&args).await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let summary: serde_json::Value =
        serde_json::from_str(outcome.stdout.trim()).expect("one JSON object on stdout");
    let count = |field: &str| {
        summary[field]
            .as_u64()
            .unwrap_or_else(|| panic!("`{field}` is a count: {summary}"))
    };
    assert!(count("sent") > 0, "{summary}");
    assert_eq!(count("delivered"), 2 * count("sent"), "{summary}");
    assert_eq!(count("losses"), 0, "{summary}");
    assert_eq!(count("duplicates"), 0, "{summary}");
    assert_eq!(count("errors"), 0, "{summary}");
    let receipts = &summary["receipts"];
    assert_eq!(receipts["delivered"], summary["sent"], "{summary}");
    for status in ["dropped", "false_dropped", "other", "missing"] {
        assert_eq!(receipts[status], 0, "{summary}");
    }
    assert_eq!(
        summary["encrypted"], true,
        "encrypted by default: {summary}"
    );

    let latency = |point: &str| {
        summary["latency_us"][point]
            .as_u64()
            .unwrap_or_else(|| panic!("latency `{point}` is a number: {summary}"))
    };
    let (p50, p90, p99, p99_9, max) = (
        latency("p50"),
        latency("p90"),
        latency("p99"),
        latency("p99_9"),
        latency("max"),
    );
    assert!(
        p50 <= p90 && p90 <= p99 && p99 <= p99_9 && p99_9 <= max,
        "{summary}"
    );
    for rate in ["delivered_per_s", "mb_per_s"] {
        assert!(summary[rate].as_f64().is_some_and(|r| r > 0.0), "{summary}");
    }
    assert!(
        outcome.stderr.contains("bench"),
        "progress on stderr: {}",
        outcome.stderr
    );
}
