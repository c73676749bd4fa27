//! `fastport bench --rate 200 --duration 2s` sends about 400 measured messages, whatever
//! the number of publishers sharing the rate, without encryption too.

mod cli_support;

use cli_support::{member, run};
use fastport_harness::Server;

#[tokio::test]
async fn bench_rate_paces_the_publishers() {
    let server = Server::start(&[]).await;
    let args = member(
        "bench",
        &server.url(),
        &[
            "--rate",
            "200",
            "--duration",
            "2s",
            "--publishers",
            "2",
            "--topics",
            "3",
            "--no-encrypt",
            "--json",
            "--quiet",
        ],
    );
    let outcome = run(&args).await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let summary: serde_json::Value =
        serde_json::from_str(outcome.stdout.trim()).expect("one JSON object on stdout");
    let sent = summary["sent"].as_u64().expect("a count");
    assert!((200..=600).contains(&sent), "about 400: {summary}");
    assert_eq!(summary["rate"], 200, "{summary}");
    assert_eq!(summary["encrypted"], false, "{summary}");
    assert!(outcome.stderr.is_empty(), "--quiet: {}", outcome.stderr);
}
