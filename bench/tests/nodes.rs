//! `fastport-bench --scenarios nodes` against real servers and a real redis-server the bench
//! starts: every topology (one node on memory, one on Redis, two and three nodes sharing a
//! Redis) runs at QoS 0 and QoS 1, the subscribers of the multi-node ones are relayed (the
//! bench checks `/metrics` and fails otherwise), messages arrive and nothing is lost.

use fastport_harness::{server_binary, within, LIMIT};
use tokio::process::Command;

#[tokio::test]
async fn every_topology_delivers_across_nodes_at_both_qos_levels() {
    let server = server_binary();
    let server = server.to_str().expect("a UTF-8 path");
    let output = Command::new(env!("CARGO_BIN_EXE_fastport-bench"))
        .args([
            "--scenarios",
            "nodes",
            "--fastport-server",
            server,
            "--runs",
            "1",
            "--warmup",
            "0",
            "--duration",
            "1",
            "--latency-duration",
            "1",
            "--latency-rate",
            "200",
        ])
        .kill_on_drop(true)
        .output();
    let out = within(LIMIT * 4, "fastport-bench to finish", output)
        .await
        .expect("fastport-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    for topology in [
        "1 node, memory engine",
        "1 node, Redis engine",
        "2 nodes, one Redis",
        "3 nodes, one Redis",
    ] {
        for qos in ["0", "1"] {
            let prefix = format!("| {topology} | {qos} | ");
            let row = stdout
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no row {prefix:?} in {stdout}"));
            let cells: Vec<&str> = row.split(" | ").collect();
            // Delivered at a non-zero rate, with no lost subscriber or undelivered receipt.
            assert!(!cells[2].starts_with("**0 k**"), "{row}");
            assert!(!cells[2].contains("faults"), "{row}");
            // Latencies were measured: some of the paced messages arrived in the window.
            assert!(
                cells[3].starts_with("**") && cells[4].starts_with("**"),
                "{row}"
            );
            let received = cells[5].trim_end_matches(" |");
            let (got, sent) = received.split_once(" of ").expect("`N of M`");
            let (got, sent): (u64, u64) = (
                got.parse().expect("a count"),
                sent.parse().expect("a count"),
            );
            assert!(got > 0 && got <= sent, "{row}");
        }
    }
}
