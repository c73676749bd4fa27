//! `fastport-bench --brokers fastport-redis,fastport-redis-aof` against the real server and
//! real redis-servers the bench starts: every throughput scenario runs on both, and the
//! Redis work reported per window shows QoS 1 stored in batched writes (fewer round trips
//! than messages) and QoS 0 not stored at all.

use fastport_harness::{server_binary, within, LIMIT};
use tokio::process::Command;

/// Runs `fastport-bench` with `args`.
async fn bench(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_fastport-bench"))
        .args(args)
        .kill_on_drop(true)
        .output();
    within(LIMIT * 4, "fastport-bench to finish", output)
        .await
        .expect("fastport-bench runs")
}

/// The numbers of a Redis summary line: published, commands per message, writes.
fn work(line: &str) -> (u64, f64, u64) {
    let summary = line
        .split(" B: ")
        .nth(1)
        .expect("a summary after the payload");
    let published = summary.split(' ').next().expect("published");
    let commands = summary
        .split(" published: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("commands per message");
    let writes = summary
        .split(" journal records/msg, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("writes");
    (
        published.parse().expect("a number"),
        commands.parse().expect("a number"),
        writes.parse().expect("a number"),
    )
}

#[tokio::test]
async fn fastport_on_redis_runs_every_scenario_and_batches_its_writes() {
    let server = server_binary();
    let server = server.to_str().expect("a UTF-8 path");
    let out = bench(&[
        "--scenarios",
        "throughput",
        "--brokers",
        "fastport-redis,fastport-redis-aof",
        "--fastport-server",
        server,
        "--runs",
        "1",
        "--warmup",
        "1",
        "--duration",
        "1",
        "--payload",
        "64",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    for label in [
        "fastPort + Redis (WebSocket)",
        "fastPort + Redis AOF (WebSocket)",
    ] {
        assert!(stdout.contains(&format!(" {label} |")), "{stdout}");
        for scenario in [
            "fan-in, QoS 0",
            "fan-out, QoS 0",
            "fan-in, QoS 1",
            "fan-out, QoS 1",
        ] {
            let prefix = format!("- {label} / {scenario} / 64 B: ");
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no Redis line {prefix:?} in {stdout}"));
            let (published, commands, writes) = work(line);
            assert!(published > 0, "{line}");
            if scenario.contains("QoS 1") {
                // Stored before its PubAck, in group commits: some commands per message,
                // far fewer round trips than messages.
                assert!(commands >= 1.0, "{line}");
                assert!(writes > 0 && writes < published, "{line}");
            } else {
                // QoS 0 is never stored.
                assert_eq!(writes, 0, "{line}");
            }
        }
    }
}
