//! `fastport sub` outlives a crash and restart of the server: it says so on stderr,
//! reconnects on its own, subscribes again and prints what is published afterwards.

mod cli_support;

use cli_support::{member, new_key, run, Background};
use fastport_harness::Server;

#[tokio::test]
async fn sub_keeps_running_across_a_server_restart() {
    let mut server = Server::start(&[]).await;
    let url = server.url();
    let key = new_key();
    let mut sub = Background::start(&member(
        "sub",
        &url,
        &["--key", &key, "--count", "2", "t/#"],
    ));
    sub.stderr_with("subscribed to").await;
    let before = run(&member("pub", &url, &["--key", &key, "t/1", "before"])).await;
    assert_eq!(before.code, Some(0), "{before:?}");
    assert_eq!(sub.line().await, "t/1 before");

    server.crash_and_restart().await;
    sub.stderr_with("disconnected").await;
    sub.stderr_with("reconnected").await;
    let after = run(&member("pub", &url, &["--key", &key, "t/2", "after"])).await;
    assert_eq!(after.code, Some(0), "{after:?}");
    assert_eq!(sub.line().await, "t/2 after");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
