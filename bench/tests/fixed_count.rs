//! `fastport-bench --messages N --server ADDR` (the profiling load) against the real server:
//! every message is settled, at QoS 1 and QoS 0, and bad arguments are refused.

use std::process::Command;

use fastport_tests::ServerProcess;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fastport-bench"))
        .args(args)
        .output()
        .expect("fastport-bench runs")
}

#[test]
fn a_fixed_count_is_sent_and_settled_at_both_qos_levels() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    for (qos, payload) in [("1", "64"), ("0", "1024")] {
        let out = bench(&[
            "--messages",
            "1000",
            "--server",
            &addr,
            "--qos",
            qos,
            "--payload",
            payload,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // 1,000 rounded up to whole write batches of 64.
        let expected = format!("1024 messages (QoS {qos}, {payload} B, fan-in 4 -> 1) in ");
        assert!(stdout.starts_with(&expected), "{stdout}");
    }
}

#[test]
fn messages_needs_a_server_and_qos_is_0_or_1() {
    let out = bench(&["--messages", "10"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
    let out = bench(&["--messages", "10", "--server", "127.0.0.1:9", "--qos", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--qos"));
}
