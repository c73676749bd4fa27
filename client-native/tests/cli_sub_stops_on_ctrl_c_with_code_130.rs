//! Ctrl-C (SIGINT) stops a running `fastport sub` quietly with exit code 130, after the
//! messages it already printed.

mod cli_support;

use cli_support::{member, run, Background};
use fastport_harness::Server;

#[tokio::test]
async fn sub_stops_on_ctrl_c_with_code_130() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let mut sub = Background::start(&member("sub", &url, &["--plaintext", "t"]));
    sub.stderr_with("subscribed to").await;
    let sent = run(&member("pub", &url, &["--plaintext", "t", "one"])).await;
    assert_eq!(sent.code, Some(0), "{sent:?}");
    assert_eq!(sub.line().await, "t one");

    sub.interrupt();
    assert_eq!(sub.exit_code().await, Some(130), "stderr: {}", sub.stderr());
    assert!(!sub.stderr().contains("error"), "{}", sub.stderr());
}
