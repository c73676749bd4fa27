//! Freed memory is given back to the system once a load is over (glibc's `malloc_trim`,
//! docs/SERVER.md "Memory after a load"): the server counts each trim in
//! `fastport_memory_trims_total`, and does none without a load.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

mod common;

use bytes::Bytes;
use common::{start, within, Clients, Server};
use fastport_proto::codec::{Frame, Publish, Qos};

/// More frames than the server handles between two trims at least (`MIN_WORK`).
const FRAMES: u64 = 12_000;

#[tokio::test]
async fn a_load_is_followed_by_a_trim_and_an_idle_server_trims_nothing() {
    let server = start(&[]).await;
    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;
    assert_eq!(
        trims(&server).await,
        0,
        "nothing to give back before a load"
    );

    for message_id in 1..=FRAMES {
        let publish = Publish {
            qos: Qos::AtMostOnce,
            message_id,
            topic: "load".into(),
            payload: Bytes::from(vec![7u8; 256]),
        };
        publisher.feed(&Frame::Publish(publish)).await;
        if message_id % 64 == 0 {
            publisher.flush().await;
        }
    }
    // Handled in order: once subscribed, every publish before has been through the router.
    publisher.subscribe("after/load").await;
    assert!(
        metric(&server, "fastport_messages_in_total").await >= FRAMES,
        "every publish was handled"
    );

    within("a trim once the load is over", async {
        while trims(&server).await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    assert!(
        metrics.contains("# TYPE fastport_memory_trimmed_bytes_total counter\n"),
        "{metrics}"
    );
    assert_eq!(trims(&server).await, 1, "one load, one trim");
}

async fn trims(server: &Server) -> u64 {
    metric(server, "fastport_memory_trims_total").await
}

async fn metric(server: &Server, name: &str) -> u64 {
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}
