//! `fastport pub --lines` publishes every line of stdin as its own message, in order and
//! without line endings; without `--lines`, stdin is one message, byte for byte.

mod cli_support;

use cli_support::{member, new_key, run_with_stdin, Background};
use fastport_harness::Server;

#[tokio::test]
async fn pub_lines_publishes_each_line_of_stdin_in_order() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let key = new_key();
    let args = member(
        "sub",
        &url,
        &["--key", &key, "--json", "--count", "5", "log/#"],
    );
    let mut sub = Background::start(&args);
    sub.stderr_with("subscribed to").await;

    let args = member("pub", &url, &["--key", &key, "--lines", "log/app"]);
    let lines = run_with_stdin(&args, b"one\ntwo\r\n\nthree\n").await;
    assert_eq!(lines.code, Some(0), "{lines:?}");
    let args = member("pub", &url, &["--key", &key, "log/app"]);
    let whole = run_with_stdin(&args, b"a\nb\n").await;
    assert_eq!(whole.code, Some(0), "{whole:?}");

    let mut payloads = Vec::new();
    for _ in 0..5 {
        let line: serde_json::Value = serde_json::from_str(&sub.line().await).expect("JSON");
        payloads.push(line["payload"].as_str().expect("text payload").to_owned());
    }
    assert_eq!(payloads, ["one", "two", "", "three", "a\nb\n"]);
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
