//! `--url` takes several servers: `sub` skips one that cannot be reached, and when its
//! server dies it moves to the next URL, says which, subscribes there again and prints
//! what is published there. `pub` skips a dead URL the same way.

mod cli_support;

use cli_support::{member, new_key, run, Background};
use fastport_harness::{Server, Signal};

/// Nothing listens on port 1 of the loopback: connecting there is refused at once.
const DEAD: &str = "ws://127.0.0.1:1/ws";

#[tokio::test]
async fn sub_and_pub_fail_over_between_server_urls() {
    let mut a = Server::start(&[]).await;
    let b = Server::start(&[]).await;
    let (url_a, url_b) = (a.url(), b.url());
    let key = new_key();
    let all = format!("{DEAD},{url_a}");
    let mut sub = Background::start(&member(
        "sub",
        &all,
        &["--url", &url_b, "--key", &key, "--count", "2", "t/#"],
    ));
    sub.stderr_with("subscribed to").await;
    let before = run(&member("pub", &url_a, &["--key", &key, "t/1", "on A"])).await;
    assert_eq!(before.code, Some(0), "{before:?}");
    assert_eq!(sub.line().await, "t/1 on A");

    a.signal(Signal::KILL);
    let _ = a.exit_status().await;
    sub.stderr_with("disconnected").await;
    sub.stderr_with(&format!("reconnected to {url_b}")).await;
    let urls = format!("{DEAD},{url_b}");
    let after = run(&member("pub", &urls, &["--key", &key, "t/2", "on B"])).await;
    assert_eq!(after.code, Some(0), "{after:?}");
    assert_eq!(sub.line().await, "t/2 on B");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
