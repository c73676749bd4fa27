//! Budgets in bytes (`budget.rs`): a congested connection's deliveries wait or are shed,
//! drained connections get what was held, and full caches refuse publishes with
//! `queue_full` without remembering the message id.

use super::*;

fn publish_qos0(t: &mut T, conn: u64, topic: &str, payload: &'static [u8]) {
    t.send(
        conn,
        Frame::Publish(Publish {
            qos: Qos::AtMostOnce,
            message_id: 0,
            topic: topic.into(),
            payload: Bytes::from_static(payload),
        }),
    );
}

fn pub_acks(frames: &[Frame]) -> Vec<(u64, ErrorCode)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::PubAck(a) => Some((a.id, a.code)),
            _ => None,
        })
        .collect()
}

/// A publisher on 1 and a subscriber to `t` on 2.
fn pub_and_sub(t: &mut T) {
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
}

#[test]
fn qos1_deliveries_to_a_congested_connection_are_held_and_sent_in_order_once_it_drains() {
    let mut t = T::new();
    pub_and_sub(&mut t);
    t.b.handle_congested(ConnId(2));
    t.pump();
    assert_eq!(
        t.watches,
        vec![ConnId(2)],
        "the broker asks to hear of the drain"
    );
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    assert!(
        deliveries(&t.frames(2)).is_empty(),
        "nothing goes to a full queue"
    );
    assert_eq!(t.b.metrics().deliveries_held, 3);
    // Retries fall due while the queue is still full: they wait, and cost no attempt.
    t.advance(Duration::from_secs(5));
    assert!(deliveries(&t.frames(2)).is_empty());
    t.b.handle_drained(t.now, ConnId(2));
    t.pump();
    let sent = deliveries(&t.frames(2));
    let ids: Vec<(u64, u32)> = sent.iter().map(|&(d, a, _)| (d, a)).collect();
    let d0 = ids[0].0;
    assert_eq!(
        ids,
        vec![(d0, 1), (d0 + 1, 1), (d0 + 2, 1)],
        "oldest first, first attempts"
    );
    for (delivery, _, _) in sent {
        ack(&mut t, 2, delivery);
    }
    let mut got = receipts(&t.frames(1));
    got.sort_by_key(|r| r.0);
    assert_eq!(
        got,
        (1..=3)
            .map(|id| (id, ReceiptStatus::Delivered, 1, 0))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        t.b.metrics().cache_bytes,
        0,
        "settled messages leave the cache"
    );
}

#[test]
fn a_drain_sends_one_budget_of_held_deliveries_and_asks_again_for_the_rest() {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        max_outbound_bytes: 100,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    pub_and_sub(&mut t);
    t.b.handle_congested(ConnId(2));
    t.pump();
    for id in 1..=10 {
        t.publish(1, id, "t", &[7; 40]);
    }
    t.watches.clear();
    t.b.handle_drained(t.now, ConnId(2));
    t.pump();
    let first = deliveries(&t.frames(2));
    assert!(
        !first.is_empty() && first.len() < 10,
        "one budget's worth, not all: {}",
        first.len()
    );
    assert_eq!(t.watches, vec![ConnId(2)], "more is held: watch again");
    // New deliveries wait behind the held ones.
    t.publish(1, 11, "t", &[7; 40]);
    assert!(deliveries(&t.frames(2)).is_empty());
    let mut all: Vec<u64> = first.iter().map(|d| d.0).collect();
    while t.watches.pop().is_some() {
        t.b.handle_drained(t.now, ConnId(2));
        t.pump();
        all.extend(deliveries(&t.frames(2)).iter().map(|d| d.0));
    }
    assert_eq!(
        all,
        (all[0]..all[0] + 11).collect::<Vec<_>>(),
        "each once, in order"
    );
}

#[test]
fn qos0_deliveries_to_a_congested_connection_are_shed_and_counted_and_others_still_get_them() {
    let mut t = T::new();
    pub_and_sub(&mut t);
    t.connect(3, "fast");
    t.subscribe(3, "t", false);
    t.b.handle_congested(ConnId(2));
    t.pump();
    publish_qos0(&mut t, 1, "t", b"x");
    assert!(deliveries(&t.frames(2)).is_empty());
    assert_eq!(
        deliveries(&t.frames(3)).len(),
        1,
        "the other subscriber is not held up"
    );
    assert_eq!(t.b.metrics().deliveries_shed, 1);
    t.b.handle_drained(t.now, ConnId(2));
    t.pump();
    assert!(deliveries(&t.frames(2)).is_empty(), "QoS 0 is at most once");
    publish_qos0(&mut t, 1, "t", b"y");
    assert_eq!(deliveries(&t.frames(2)).len(), 1, "drained: sent again");
}

#[test]
fn a_full_session_cache_answers_queue_full_and_the_resend_is_taken_once_there_is_room() {
    let mut t = T::new();
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            max_cache_bytes: Some(64 * 1024),
            ..SessionConfig::default()
        }),
    );
    pub_and_sub(&mut t);
    static BIG: [u8; 40 * 1024] = [1; 40 * 1024];
    t.publish(1, 1, "t", &BIG);
    t.publish(1, 2, "t", &BIG);
    let frames = t.frames(1);
    assert_eq!(
        pub_acks(&frames),
        vec![(1, ErrorCode::OK), (2, ErrorCode::QUEUE_FULL)]
    );
    assert_eq!(t.b.metrics().publishes_refused_full, 1);
    assert_eq!(t.b.metrics().cache_bytes, 40 * 1024);
    let sent = deliveries(&t.frames(2));
    assert_eq!(sent.len(), 1, "the refused message went nowhere");
    ack(&mut t, 2, sent[0].0);
    // The id was not remembered: the client's resend is a new publish, not a duplicate.
    t.publish(1, 2, "t", &BIG);
    let frames = t.frames(1);
    assert!(
        pub_acks(&frames).contains(&(2, ErrorCode::OK)),
        "{frames:?}"
    );
    assert_eq!(deliveries(&t.frames(2)).len(), 1);
    assert_eq!(t.b.metrics().duplicates, 0);
}

#[test]
fn a_message_larger_than_the_cache_is_taken_when_the_cache_is_empty() {
    let mut t = T::new();
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            max_cache_bytes: Some(64 * 1024),
            ..SessionConfig::default()
        }),
    );
    pub_and_sub(&mut t);
    static HUGE: [u8; 100 * 1024] = [1; 100 * 1024];
    t.publish(1, 1, "t", &HUGE);
    assert_eq!(pub_acks(&t.frames(1)), vec![(1, ErrorCode::OK)]);
}

#[test]
fn the_servers_memory_budget_refuses_publishes_of_both_qos_and_other_sessions_are_unaffected_below_it(
) {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        max_memory: 1024 * 1024,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    pub_and_sub(&mut t);
    t.b.set_outbound_bytes(1024 * 1024);
    t.publish(1, 1, "t", b"x");
    assert_eq!(pub_acks(&t.frames(1)), vec![(1, ErrorCode::QUEUE_FULL)]);
    publish_qos0(&mut t, 1, "t", b"x");
    let frames = t.frames(1);
    assert!(
        matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::QUEUE_FULL),
        "{frames:?}"
    );
    assert!(deliveries(&t.frames(2)).is_empty());
    t.b.set_outbound_bytes(0);
    t.publish(1, 1, "t", b"x");
    assert_eq!(pub_acks(&t.frames(1)), vec![(1, ErrorCode::OK)]);
    assert_eq!(deliveries(&t.frames(2)).len(), 1);
}

#[test]
fn a_resumed_client_with_a_long_backlog_gets_it_one_budget_at_a_time() {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        max_outbound_bytes: 200,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    t.connect(1, "pub");
    let frames = t.connect_as(2, "demo", "sub", true);
    assert!(matches!(frames[..], [Frame::Welcome(_)]));
    t.subscribe(2, "t", false);
    t.b.handle_close(t.now, ConnId(2));
    t.pump();
    for id in 1..=20 {
        t.publish(1, id, "t", &[3; 40]);
    }
    let frames = t.connect_as(3, "demo", "sub", true);
    let first = deliveries(&frames);
    assert!(
        !first.is_empty() && first.len() < 20,
        "a budget's worth: {}",
        first.len()
    );
    assert!(first.iter().all(|&(_, attempt, _)| attempt == 2), "resends");
    let mut all: Vec<u64> = first.iter().map(|d| d.0).collect();
    while t.watches.pop().is_some() {
        t.b.handle_drained(t.now, ConnId(3));
        t.pump();
        all.extend(deliveries(&t.frames(3)).iter().map(|d| d.0));
    }
    assert_eq!(
        all,
        (all[0]..all[0] + 20).collect::<Vec<_>>(),
        "each once, in order"
    );
}

#[test]
fn a_session_admin_cannot_configure_past_the_servers_ceilings_and_nothing_changes() {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        session_limits: SessionConfig {
            max_cache_bytes: Some(1 << 20),
            max_pending: Some(5_000),
            ..SessionConfig::default()
        },
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    let configure = |cache: u32| {
        AdminOp::Configure(SessionConfig {
            max_retries: Some(9),
            max_cache_bytes: Some(cache),
            ..SessionConfig::default()
        })
    };
    let refused = t.admin("demo", "secret", configure(2 << 20));
    assert_eq!(refused.code, ErrorCode::INVALID_CONFIG);
    assert_eq!(
        refused.message,
        "max_cache_bytes = 2097152 is above this server's limit of 1048576"
    );
    let described = t.admin("demo", "secret", AdminOp::Describe);
    assert_eq!(described.config.max_retries, Some(2), "nothing changed");
    let taken = t.admin("demo", "secret", configure(1 << 20));
    assert_eq!(taken.code, ErrorCode::OK, "{}", taken.message);
    assert_eq!(taken.config.max_cache_bytes, Some(1 << 20));
    assert_eq!(taken.config.max_retries, Some(9));
}

#[test]
fn a_session_created_past_the_servers_ceilings_is_refused() {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        open_session_creation: true,
        session_limits: SessionConfig {
            max_message_size: Some(4096),
            ..SessionConfig::default()
        },
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    let reply = t.admin(
        "team",
        "",
        AdminOp::Create {
            password: "pw".into(),
            secret: "sec".into(),
            config: SessionConfig {
                max_message_size: Some(8192),
                ..SessionConfig::default()
            },
        },
    );
    assert_eq!(reply.code, ErrorCode::INVALID_CONFIG);
    assert!(
        reply.message.contains("max_message_size = 8192"),
        "{}",
        reply.message
    );
}

#[test]
fn a_refused_publisher_is_paused_longer_at_each_refusal_in_a_row_and_a_taken_publish_ends_the_streak(
) {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        max_memory: 1024 * 1024,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    pub_and_sub(&mut t);
    t.b.set_outbound_bytes(1024 * 1024);
    for id in 1..=8 {
        t.publish(1, id, "t", b"x");
    }
    publish_qos0(&mut t, 1, "t", b"x");
    let ms = Duration::from_millis;
    let expected: Vec<_> = [10, 20, 40, 80, 160, 320, 500, 500, 500]
        .into_iter()
        .map(|m| (ConnId(1), ms(m)))
        .collect();
    assert_eq!(t.pauses, expected, "QoS 1 and QoS 0 refusals alike");
    let refused = pub_acks(&t.frames(1));
    assert!(refused
        .iter()
        .all(|(_, code)| *code == ErrorCode::QUEUE_FULL));
    assert_eq!(t.b.metrics().publishers_paused, 9);
    t.b.set_outbound_bytes(0);
    t.publish(1, 9, "t", b"x");
    assert_eq!(pub_acks(&t.frames(1)), vec![(9, ErrorCode::OK)]);
    assert_eq!(t.pauses.len(), 9, "a taken publish pauses nobody");
    t.b.set_outbound_bytes(1024 * 1024);
    t.publish(1, 10, "t", b"x");
    assert_eq!(t.pauses.last(), Some(&(ConnId(1), ms(10))), "a new streak");
    assert_eq!(
        deliveries(&t.frames(2)).len(),
        1,
        "only the taken publish went out"
    );
}

#[test]
fn a_pause_is_never_longer_than_a_quarter_of_the_connection_s_keepalive() {
    let config = BrokerConfig {
        hash_cost: HashCost::Test,
        max_memory: 1024 * 1024,
        keepalive_max: Duration::from_secs(1),
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    pub_and_sub(&mut t);
    t.b.set_outbound_bytes(1024 * 1024);
    for id in 1..=8 {
        t.publish(1, id, "t", b"x");
    }
    let longest = t.pauses.iter().map(|(_, pause)| *pause).max();
    assert_eq!(longest, Some(Duration::from_millis(250)), "{:?}", t.pauses);
}
