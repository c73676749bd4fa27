//! A server that exits before `listening on` fails the test at once, and the panic
//! carries the server's own words.

use fastport_harness::Server;

#[tokio::test]
#[should_panic(expected = "--no-such-flag")]
async fn a_server_that_cannot_start_fails_the_test_with_its_log() {
    Server::start(&["--no-such-flag"]).await;
}
