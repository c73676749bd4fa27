//! Waiting for a log line ends when the server's log closes: a server that has exited
//! fails the wait at once instead of after the whole bound.

use std::time::{Duration, Instant};

use fastport_harness::Launch;

#[tokio::test]
async fn a_log_line_that_never_comes_fails_when_the_server_exits() {
    let limit = Duration::from_secs(60);
    let mut server = Launch::new().limit(limit).start().await;
    server.terminate();
    assert!(server.exit_status().await.success());
    let started = Instant::now();
    let waited = tokio::spawn(async move {
        server.stderr_with("a line no server writes").await;
    })
    .await;
    let panic = waited.expect_err("the wait fails").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("closed its stderr"), "{message}");
    assert!(started.elapsed() < limit, "the wait ran out its bound");
}
