//! Under attack, memory stays bounded: subscribers that never read and never ack, fed
//! megabyte QoS 1 messages, cost the server its session cache and their outbound budgets,
//! not what was published; beyond the cache publishes are answered `queue_full`, and
//! another session keeps working meanwhile.

mod common;

use bytes::Bytes;
use common::{metric, start, Clients};
use fastport_proto::codec::{ErrorCode, Frame, Publish, Qos};

/// 1 MiB messages published: 300 MiB, several times what the server may hold.
const MESSAGES: u64 = 300;
/// Connections they are published from, each taking its turn after each answer.
const ATTACKERS: usize = 30;

fn publish(message_id: u64, topic: &str, payload: Bytes) -> Frame {
    Frame::Publish(Publish {
        qos: Qos::AtLeastOnce,
        message_id,
        topic: topic.into(),
        payload,
    })
}

/// VmRSS of the process in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib / 1024
}

#[tokio::test]
async fn four_subscribers_that_never_read_cannot_make_the_server_hold_what_was_published() {
    let token = "admin-token-for-tests";
    let server = start(&["--max-memory", "268435456", "--admin-token", token]).await;
    let addr = server.addr();
    let create = r#"{"name":"other","password":"other-pw","secret":"other-secret"}"#;
    let auth = format!("Bearer {token}");
    let created = server
        .http(
            "POST",
            "/admin/sessions",
            &[("Authorization", &auth)],
            create,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);

    let mut stuck = Vec::new();
    for _ in 0..4 {
        let mut s = server.connect().await;
        s.join("demo", "demo").await;
        s.subscribe("attack").await;
        stuck.push(s);
    }
    // Refused publishers are paused (longer at each refusal in a row, up to 500 ms), so
    // the 300 MiB come from many connections at once, each publishing a few in turn.
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let mut attacker = server.connect().await;
        attacker.join("demo", "demo").await;
        attackers.push(attacker);
    }
    let payload = Bytes::from(vec![0xa5; 1024 * 1024]);
    let pid = server.pid();
    let runs = attackers
        .into_iter()
        .enumerate()
        .map(|(index, mut attacker)| {
            let payload = payload.clone();
            async move {
                let (mut taken, mut refused, mut peak) = (0, 0, rss_mib(pid));
                let first = index as u64 * MESSAGES;
                for message_id in first + 1..=first + MESSAGES / ATTACKERS as u64 {
                    attacker
                        .send(&publish(message_id, "attack", payload.clone()))
                        .await;
                    loop {
                        match attacker.frame().await {
                            Frame::PubAck(ack) if ack.code == ErrorCode::OK => taken += 1,
                            Frame::PubAck(ack) if ack.code == ErrorCode::QUEUE_FULL => refused += 1,
                            // What became of a message taken earlier.
                            Frame::Receipt(_) => continue,
                            other => panic!("unexpected {other:?}"),
                        }
                        break;
                    }
                    peak = peak.max(rss_mib(pid));
                }
                (taken, refused, peak, attacker)
            }
        });
    let (mut taken, mut refused, mut peak) = (0, 0, 0);
    let mut attackers = Vec::new();
    for (t, r, p, attacker) in futures_util::future::join_all(runs).await {
        taken += t;
        refused += r;
        peak = peak.max(p);
        attackers.push(attacker);
    }
    eprintln!("{taken} taken, {refused} refused, peak {peak} MiB resident");
    assert!(
        refused > 0,
        "the session's 64 MiB cache filled: {taken} taken"
    );
    assert!(taken >= 64, "the cache holds 64 of them: {taken} taken");
    assert_eq!(
        metric(addr, "fastport_publishes_refused_full_total").await,
        refused
    );
    // The cache (64 MiB), one encoded copy of what is queued for the subscribers (their
    // 8 MiB budgets), buffers and the allocator's slack: far below the 300 MiB published.
    assert!(
        peak < 250,
        "{peak} MiB resident after {MESSAGES} MiB published"
    );

    // Another session is not held up by any of it.
    let mut sub = server.connect().await;
    sub.join("other", "other-pw").await;
    sub.subscribe("t").await;
    let mut publisher = server.connect().await;
    publisher.join("other", "other-pw").await;
    publisher
        .send(&publish(1, "t", Bytes::from_static(b"hello")))
        .await;
    assert!(matches!(publisher.frame().await, Frame::PubAck(a) if a.code.is_ok()));
    assert!(matches!(sub.frame().await, Frame::Deliver(d) if &d.payload[..] == b"hello"));
    drop((stuck, attackers));
}
