//! When nothing listens at `--url`, the command fails at once with exit code 1 and a
//! message naming the URL; a URL that is not `ws://` is a usage error (exit 2).

mod cli_support;

use cli_support::run;

#[tokio::test]
async fn unreachable_server_is_named_with_its_url() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let publish = [
        "pub",
        "--url",
        &url,
        "--session",
        "demo",
        "--password",
        "demo",
    ];
    let args = [&publish[..], &["--plaintext", "news", "hello"]].concat();
    let refused = run(&args).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains(&format!("cannot connect to {url}")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--url"), "{}", refused.stderr);

    let admin = run(&[
        "session", "describe", "demo", "--secret", "s", "--url", &url,
    ])
    .await;
    assert_eq!(admin.code, Some(1), "{admin:?}");
    assert!(admin.stderr.contains(&url), "{}", admin.stderr);

    let args = ["pub", "--url", "http://127.0.0.1/ws", "--session", "demo"];
    let not_ws = run(&[&args[..], &["--password", "demo", "--plaintext", "t", "x"]].concat()).await;
    assert_eq!(not_ws.code, Some(2), "{not_ws:?}");
    assert!(not_ws.stderr.contains("ws://"), "{}", not_ws.stderr);
}
