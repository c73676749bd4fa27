//! Out of file descriptors, `accept()` fails: the server pauses between attempts instead of
//! spinning, logs it at most once per interval, and serves again once sockets close.

mod common;

use std::time::{Duration, Instant};

use common::{start, Clients};
use rustix::process::{getrlimit, prlimit, Pid, Resource, Rlimit};
use tokio::net::TcpStream;

/// Pause after a failed accept, and interval between two warnings (docs/SERVER.md).
const BACKOFF: Duration = Duration::from_millis(100);
const WARN_EVERY: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_server_out_of_file_descriptors_backs_off_logs_once_and_recovers() {
    let server = start(&[
        "--max-connections-per-address",
        "0",
        "--hello-timeout",
        "1h",
    ])
    .await;
    let addr = server.addr();
    assert_eq!(server.http("GET", "/healthz", &[], "").await.status, 200);

    // Room for a few more descriptors only: new ones take the lowest free numbers, and
    // the limit is the first number that may not be used.
    let pid = server.pid();
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's descriptors")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let limit = (0..)
        .filter(|n| !open.contains(n))
        .nth(4)
        .expect("numbers are endless");
    let pid = Pid::from_raw(i32::try_from(pid).expect("a pid fits")).expect("positive");
    let low = Rlimit {
        current: Some(limit),
        maximum: getrlimit(Resource::Nofile).maximum,
    };
    let started = Instant::now();
    prlimit(Some(pid), Resource::Nofile, low).expect("lower the server's limit");

    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(
            TcpStream::connect(addr)
                .await
                .expect("the kernel completes the handshake"),
        );
    }
    server.stderr_with("accept failed").await;
    drop(held);

    // The held sockets close, their descriptors come back, and the queued ones are served.
    let healthz = server.http("GET", "/healthz", &[], "").await;
    assert_eq!(healthz.status, 200, "{}", healthz.body);
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    let elapsed = started.elapsed();
    let errors = value(&metrics, "fastport_accept_errors_total");
    let most = elapsed.as_millis() / BACKOFF.as_millis() + 2;
    assert!(
        (1..=most as u64).contains(&errors),
        "{errors} failed accepts in {elapsed:?}: at most one per {BACKOFF:?} (no spinning)"
    );
    let log = server.stderr();
    let warnings = log.matches("accept failed").count() as u128;
    assert!(
        warnings <= elapsed.as_millis() / WARN_EVERY.as_millis() + 1,
        "{warnings} warnings in {elapsed:?}: at most one per {WARN_EVERY:?}\n{log}"
    );
    assert!(log.contains("out of file descriptors"), "{log}");
}

fn value(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}
