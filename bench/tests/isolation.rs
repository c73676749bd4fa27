//! `fastport-bench --scenarios isolation` against the real server: every placement runs,
//! the quiet session's publishes are acknowledged, the flood fills its session's cache and
//! is answered `queue_full`, the flood session lands where its placement says, and bad
//! arguments are refused.

use fastport_harness::{server_binary, within, LIMIT};
use tokio::process::Command;

/// Runs `fastport-bench` with `args`.
async fn bench(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_fastport-bench"))
        .args(args)
        .kill_on_drop(true)
        .output();
    within(LIMIT * 3, "fastport-bench to finish", output)
        .await
        .expect("fastport-bench runs")
}

/// The cells of the table row whose first cell is `label`.
fn row<'a>(stdout: &'a str, label: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row {label:?} in {stdout}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

/// The quiet and the flood session's shards from the progress line of `placement`, e.g.
/// "flood on the same shard (quiet on shard 1, flood-1 on shard 1) / quiet 50 msg/s ...".
fn shards(stderr: &str, placement: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("isolation: {placement} (")))
        .unwrap_or_else(|| panic!("no progress line for {placement:?} in {stderr}"));
    let numbers: Vec<u64> = line
        .split("on shard ")
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("a shard number")
        })
        .collect();
    match numbers[..] {
        [quiet, flood] => (quiet, flood),
        _ => panic!("two shards expected in {line:?}"),
    }
}

/// `"A / B"` as two numbers (anything after B, e.g. "(3 refused)", is ignored).
fn pair(cell: &str) -> (u64, u64) {
    let (a, b) = cell.split_once(" / ").expect("A / B");
    let b = b.split_whitespace().next().expect("B");
    (a.parse().expect("a number"), b.parse().expect("a number"))
}

#[tokio::test]
async fn every_placement_runs_and_the_flood_is_refused_once_its_session_cache_is_full() {
    let server = server_binary();
    let server = server.to_str().expect("a UTF-8 path");
    // A 1 MiB cache: the flood's second publish already meets it.
    let out = bench(&[
        "--scenarios",
        "isolation",
        "--fastport-server",
        server,
        "--warmup",
        "0",
        "--isolation-duration",
        "1",
        "--isolation-rate",
        "50",
        "--isolation-flood-cache",
        "1048576",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    for label in [
        "no flood (baseline)",
        "flood on the other shard",
        "flood on the same shard",
        "flood on another server (control)",
    ] {
        let cells = row(&stdout, label);
        let (acked, sent) = pair(cells[5]);
        assert!(sent > 0 && acked > 0 && acked <= sent, "{label}: {stdout}");
        let (taken, refused) = pair(cells[9]);
        if label.starts_with("no flood") {
            assert_eq!((taken, refused), (0, 0), "{stdout}");
        } else {
            assert!(taken >= 1 && refused >= 1, "{label}: {stdout}");
        }
        // The stuck subscribers stay connected for the whole run.
        assert_eq!(cells[10], "0", "{label}: {stdout}");
    }
    // The flood session is placed as the placement says.
    let (quiet, flood) = shards(&stderr, "flood on the other shard");
    assert_ne!(quiet, flood, "{stderr}");
    let (quiet, flood) = shards(&stderr, "flood on the same shard");
    assert_eq!(quiet, flood, "{stderr}");
}

#[tokio::test]
async fn isolation_flags_out_of_range_are_refused() {
    let out = bench(&[
        "--scenarios",
        "isolation",
        "--isolation-flood-cache",
        "1024",
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--isolation-flood-cache"));
    let out = bench(&["--isolation-placements", "elsewhere"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--isolation-placements"));
}
