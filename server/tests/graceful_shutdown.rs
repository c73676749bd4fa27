//! SIGTERM: connected clients are told `server_shutting_down` (close 4011) and the
//! process exits 0.

mod common;

use common::{assert_refused, start, Clients};

#[tokio::test]
async fn sigterm_closes_connected_clients_with_4011_and_exits_0() {
    let mut server = start(&[]).await;
    let mut first = server.connect().await;
    first.join("demo", "demo").await;
    let mut second = server.connect().await;
    second.join("demo", "demo").await;

    server.terminate();
    assert_refused(&mut first, "server_shutting_down", 4011).await;
    assert_refused(&mut second, "server_shutting_down", 4011).await;
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "stderr: {}", server.stderr());
}

#[tokio::test]
async fn sigterm_without_clients_exits_0_at_once() {
    let mut server = start(&["--shutdown-grace", "1m"]).await;
    server.terminate();
    // Nothing to flush: the exit does not wait for the grace period (the bounded wait in
    // `exit_status` would fail long before it ends).
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "stderr: {}", server.stderr());
}
