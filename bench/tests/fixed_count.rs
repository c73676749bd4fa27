//! `fastport-bench --messages N --server ADDR` (the profiling load) against the real server:
//! every message is settled, at QoS 1 and QoS 0, fan-in and fan-out, and bad arguments are
//! refused.

use fastport_harness::{within, Server, LIMIT};
use tokio::process::Command;

/// Runs `fastport-bench` on the test's runtime, which also reads the server's output.
async fn bench(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_fastport-bench"))
        .args(args)
        .kill_on_drop(true)
        .output();
    within(LIMIT, "fastport-bench to finish", output)
        .await
        .expect("fastport-bench runs")
}

#[tokio::test]
async fn a_fixed_count_is_sent_and_settled_at_both_qos_levels() {
    let server = Server::start(&[]).await;
    let addr = server.addr().to_string();
    for (qos, payload, shape) in [
        ("1", "64", "fan-in 4 -> 1"),
        ("0", "1024", "fan-in 4 -> 1"),
        ("1", "1024", "fan-out 1 -> 16"),
        ("0", "64", "fan-out 1 -> 16"),
    ] {
        let mut args = vec![
            "--messages",
            "1000",
            "--server",
            &addr,
            "--qos",
            qos,
            "--payload",
            payload,
        ];
        if shape.starts_with("fan-out") {
            args.push("--fan-out");
        }
        let out = bench(&args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // 1,000 rounded up to whole write batches of 64.
        let expected = format!("1024 messages (QoS {qos}, {payload} B, {shape}) in ");
        assert!(stdout.starts_with(&expected), "{stdout}");
    }
}

#[tokio::test]
async fn messages_needs_a_server_and_qos_is_0_or_1() {
    let out = bench(&["--messages", "10"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
    let out = bench(&["--messages", "10", "--server", "127.0.0.1:9", "--qos", "2"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--qos"));
}
