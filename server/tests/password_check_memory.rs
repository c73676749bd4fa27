//! Password checks hand their argon2 memory (19 MiB per check) back to the system: after
//! sixteen checks, four at a time on the blocking threads, the server is not even one
//! check's memory larger than before (it used to keep 19 MiB per thread that ever hashed).
//! Measured by the real server's resident set, with a bound far from both outcomes.

#![cfg(target_os = "linux")]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{assert_refused, metric, start, WsClient, WAIT};
use futures_util::future::join_all;

const MISMATCH: &str = "fastport_password_checks_total{outcome=\"mismatch\"}";
/// argon2id's working memory at the server's cost (m=19456 KiB).
const ARGON2_KIB: u64 = 19_456;

/// VmRSS of process `pid`, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in KiB")
}

/// A login to a session that does not exist: checked against a stand-in hash at full cost,
/// refused as a wrong password.
async fn guess(addr: SocketAddr, from: u8, session: String) {
    let mut client = WsClient::connect_from(addr, IpAddr::from([127, 0, 0, from]), &[]).await;
    client.hello(&session, "guess").await;
    assert_refused(&mut client, "bad_credentials", 4004).await;
}

#[tokio::test]
async fn sixteen_password_checks_leave_less_than_one_checks_memory_resident() {
    let server = start(&[]).await;
    let addr = server.addr();
    let before = resident_kib(server.pid());
    for round in 0..4u8 {
        // One address per guess, so that no login limit holds a check back.
        join_all((0..4u8).map(|i| guess(addr, 10 + 4 * round + i, format!("nosuch-{round}-{i}"))))
            .await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(addr, MISMATCH).await < 16 {
        assert!(tokio::time::Instant::now() < deadline, "16 checks ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = resident_kib(server.pid());
    assert!(
        after < before + ARGON2_KIB,
        "resident {before} KiB before 16 password checks, {after} KiB after"
    );
}
