//! `fastport sub` with two wildcard filters prints, as JSON lines, exactly the messages
//! `fastport pub` sends to matching topics, then exits after `--count`.

mod cli_support;

use cli_support::{member, new_key, run, run_with_stdin, Background};
use fastport_harness::Server;
use serde_json::Value;

#[tokio::test]
async fn sub_prints_what_pub_publishes_on_matching_wildcard_filters() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let key = new_key();
    let filters = ["sensors/+/room1", "alarms/#"];
    let mut sub_args = member("sub", &url, &["--key", &key, "--json", "--count", "2"]);
    sub_args.extend(filters.map(String::from));
    let mut sub = Background::start(&sub_args);
    sub.stderr_with("subscribed to").await;

    // Matches neither filter: never printed.
    let outcome = run(&member(
        "pub",
        &url,
        &["--key", &key, "sensors/temperature/kitchen", "19.0"],
    ))
    .await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    // Matches `sensors/+/room1`; the subscriber acks it, so the receipt says delivered.
    let outcome = run(&member(
        "pub",
        &url,
        &[
            "--key",
            &key,
            "--client-id",
            "thermometer-1",
            "--wait-delivered",
            "sensors/temperature/room1",
            "21.5",
        ],
    ))
    .await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    // Matches `alarms/#`: bytes that are not UTF-8, from stdin.
    let args = member("pub", &url, &["--key", &key, "alarms/door/front"]);
    let outcome = run_with_stdin(&args, &[0xff, 0x00, 0x01]).await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");

    let first: Value = serde_json::from_str(&sub.line().await).expect("a JSON line");
    assert_eq!(first["topic"], "sensors/temperature/room1");
    assert_eq!(first["payload"], "21.5");
    assert_eq!(first["publisher"], "thermometer-1");
    let second: Value = serde_json::from_str(&sub.line().await).expect("a JSON line");
    assert_eq!(second["topic"], "alarms/door/front");
    assert_eq!(second["payload_base64"], "/wAB");
    assert!(second.get("payload").is_none(), "{second}");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
