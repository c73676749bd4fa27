//! `fastport pub` with neither a key nor `--plaintext` fails before sending anything, with
//! a message naming both ways out; with `--plaintext` the same message goes through to a
//! subscriber that accepts plaintext.

mod cli_support;

use cli_support::{member, run, Background};
use fastport_harness::Server;

#[tokio::test]
async fn pub_without_a_key_needs_plaintext_explicitly() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let mut sub = Background::start(&member(
        "sub",
        &url,
        &["--plaintext", "--count", "1", "news"],
    ));
    sub.stderr_with("subscribed to").await;

    let refused = run(&member("pub", &url, &["news", "unsealed"])).await;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("no encryption key"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--key"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--plaintext"), "{}", refused.stderr);

    let sent = run(&member(
        "pub",
        &url,
        &["--plaintext", "news", "in the clear"],
    ))
    .await;
    assert_eq!(sent.code, Some(0), "{sent:?}");
    // The refused publish never reached the server: the first line is the second one.
    assert_eq!(sub.line().await, "news in the clear");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
