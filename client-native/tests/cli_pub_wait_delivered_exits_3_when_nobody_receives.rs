//! `fastport pub --wait-delivered` exits 3 with the receipt's status when the message
//! reached nobody, and 0 without the flag (the server took it).

mod cli_support;

use cli_support::{member, new_key, run};
use fastport_harness::Server;

#[tokio::test]
async fn pub_wait_delivered_exits_3_when_nobody_receives() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let key = new_key();

    let acked = run(&member(
        "pub",
        &url,
        &["--key", &key, "empty/room", "hello?"],
    ))
    .await;
    assert_eq!(acked.code, Some(0), "{acked:?}");

    let args = ["--key", &key, "--wait-delivered", "empty/room", "hello?"];
    let undelivered = run(&member("pub", &url, &args)).await;
    assert_eq!(undelivered.code, Some(3), "{undelivered:?}");
    assert!(
        undelivered.stderr.contains("no_subscribers"),
        "{}",
        undelivered.stderr
    );

    let args = [
        "--key",
        &key,
        "--wait-delivered",
        "--qos",
        "0",
        "empty/room",
        "x",
    ];
    let no_receipt = run(&member("pub", &url, &args)).await;
    assert_eq!(no_receipt.code, Some(2), "{no_receipt:?}");
    assert!(
        no_receipt.stderr.contains("--qos 1"),
        "{}",
        no_receipt.stderr
    );
}
