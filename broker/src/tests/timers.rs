//! The timer table holds about what is live: acked deliveries, superseded retries and gone
//! connections do not keep entries until their deadlines.

use super::*;
use crate::timers::KEEP_STALE;

/// The most entries a table with `live` live ones holds: stale ones are dropped once they
/// are half the table and more than `KEEP_STALE`.
fn bound(live: usize) -> usize {
    (live + KEEP_STALE).max(2 * live)
}

/// The delivery ids of the `Deliver` frames `conn` was sent.
fn delivered(t: &mut T, conn: u64) -> Vec<u64> {
    deliveries(&t.frames(conn))
        .into_iter()
        .map(|(delivery, _, _)| delivery)
        .collect()
}

#[test]
fn acked_deliveries_leave_timer_entries_for_the_unacked_ones_only() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "a");
    t.connect(3, "b");
    t.subscribe(2, "t", false);
    t.subscribe(3, "t", false);
    let n = 2_000;
    let mut unacked = Vec::new();
    for id in 1..=n {
        t.publish(1, id, "t", b"x");
        for delivery in delivered(&mut t, 2) {
            ack(&mut t, 2, delivery);
        }
        for delivery in delivered(&mut t, 3) {
            // `b` leaves the last 10 unacked.
            if id + 10 > n {
                unacked.push(delivery);
            } else {
                ack(&mut t, 3, delivery);
            }
        }
    }
    assert_eq!(unacked.len(), 10);
    // Live: 10 retries, 3 keepalives, the session's sweep of publisher ids and its expiry.
    let live = 10 + 3 + 2;
    let entries = t.b.timers.len();
    assert!(
        (live..=bound(live)).contains(&entries),
        "{entries} timer entries after {n} messages to 2 subscribers"
    );
    assert_eq!(t.b.metrics().timers, entries as u64);
    // What is live still fires: the unacked deliveries are resent, once each.
    t.frames(1);
    t.advance(Duration::from_secs(1));
    let resent: Vec<(u64, u32)> = deliveries(&t.frames(3))
        .into_iter()
        .map(|(delivery, attempt, _)| (delivery, attempt))
        .collect();
    let want: Vec<(u64, u32)> = unacked.iter().map(|&d| (d, 2)).collect();
    assert_eq!(resent, want);
    assert!(t.frames(2).is_empty(), "a acked everything");
}

#[test]
fn a_subscriber_resuming_again_and_again_does_not_pile_up_retry_timers() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "t", false);
    for id in 1..=20 {
        t.publish(1, id, "t", b"x");
    }
    let mut conn = 2;
    for _ in 0..1_000 {
        t.b.handle_close(t.now, ConnId(conn));
        conn += 1;
        let frames = t.connect_as(conn, "demo", "sub", true);
        assert_eq!(deliveries(&frames).len(), 20, "every resume resends all");
    }
    // Live: 20 retries, 2 keepalives, the sweep and the expiry.
    let entries = t.b.timers.len();
    assert!(entries <= bound(20 + 2 + 2), "{entries} timer entries");
    // The live retries still fire: each resume counted as an attempt, so they give up.
    t.frames(1);
    t.advance(Duration::from_secs(1));
    let got = receipts(&t.frames(1));
    assert_eq!(got.len(), 20, "{got:?}");
    assert!(got
        .iter()
        .all(|r| (r.1, r.2, r.3) == (ReceiptStatus::RetriesExhausted, 0, 1)));
}

#[test]
fn closed_connections_do_not_keep_their_keepalive_entries() {
    let mut t = T::new();
    for conn in 1..=3_000 {
        t.connect(conn, &format!("c{conn}"));
        t.b.handle_close(t.now, ConnId(conn));
    }
    t.connect(5_000, "last");
    let entries = t.b.timers.len();
    // Live: the last connection's hello (until it fires) and keepalive timers.
    assert!(
        entries <= bound(2),
        "{entries} timer entries for one connection"
    );
}

#[test]
fn a_dropped_session_does_not_keep_the_retry_timers_of_its_offline_clients() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "t", false);
    let n = 2 * KEEP_STALE as u64;
    for id in 1..=n {
        t.publish(1, id, "t", b"x");
    }
    assert!(
        t.b.timers.len() > n as usize,
        "a retry timer per unacked delivery"
    );
    assert_eq!(t.admin("demo", "secret", AdminOp::Drop).code, ErrorCode::OK);
    // Nothing is live: no session, no connection.
    let entries = t.b.timers.len();
    assert!(entries <= bound(0), "{entries} timer entries");
}

#[test]
fn a_drop_oldest_subscriber_that_never_acks_keeps_timers_for_what_it_still_owes() {
    let mut t = T::new();
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            max_pending: Some(4),
            slow_consumer_policy: Some(SlowConsumerPolicy::DropOldest),
            ..SessionConfig::default()
        }),
    );
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    for id in 1..=3 * KEEP_STALE as u64 {
        t.publish(1, id, "t", b"x");
    }
    // Live: 4 pending and 4 evicted retries, 2 keepalives, the sweep and the expiry.
    let entries = t.b.timers.len();
    assert!(entries <= bound(4 + 4 + 2 + 2), "{entries} timer entries");
}
