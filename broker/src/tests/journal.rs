//! A durable broker: what it journals, what it holds until stored, and a restart from
//! what was stored.

use std::sync::Arc;

use super::*;
use crate::journal::{MemoryStore as Store, Record};

fn durable() -> T {
    T::with_config(BrokerConfig {
        hash_cost: HashCost::Test,
        durable: true,
        ..BrokerConfig::default()
    })
}

/// Takes the journal's records into `store` and says they are stored.
fn store(t: &mut T, store: &mut Store) -> usize {
    let mut records = Vec::new();
    let upto = t.b.take_records(&mut records);
    let n = records.len();
    for r in records {
        store.apply(r);
    }
    t.b.handle_stored(t.now, upto);
    t.pump();
    n
}

/// A durable broker with a publisher on connection 1 and a subscriber to `a` on 2, all of
/// it stored.
fn publisher_and_subscriber() -> (T, Store) {
    let mut t = durable();
    let mut s = Store::default();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "a", false);
    store(&mut t, &mut s);
    (t, s)
}

#[test]
fn a_qos1_publish_is_acked_and_delivered_only_once_its_record_is_stored() {
    let (mut t, _) = publisher_and_subscriber();
    t.publish(1, 7, "a", b"hello");
    assert!(t.frames(1).is_empty(), "no PubAck before it is stored");
    assert!(t.frames(2).is_empty(), "no delivery before it is stored");
    let mut records = Vec::new();
    let upto = t.b.take_records(&mut records);
    let [Record::Message(m)] = &records[..] else {
        panic!("{records:?}")
    };
    assert_eq!(
        (m.session.as_str(), m.message_id, &*m.publisher),
        ("demo", 7, "pub")
    );
    assert_eq!(m.targets, vec![Arc::<str>::from("sub")]);
    assert_eq!(m.next_delivery, m.delivery + 1);
    assert!(m.frame.ends_with(b"hello"));
    assert_eq!(t.b.metrics().outputs_held, 2);
    t.b.handle_stored(t.now, upto);
    t.pump();
    assert!(matches!(&t.frames(1)[..], [Frame::PubAck(a)] if a.id == 7 && a.code.is_ok()));
    assert_eq!(
        deliveries(&t.frames(2)),
        vec![(m.delivery, 1, b"hello".to_vec())]
    );
    // The ack is lazy; the message it settles is a barrier: its receipt waits for the
    // `Done` record, so a restart never sends it twice.
    ack(&mut t, 2, m.delivery);
    assert!(receipts(&t.frames(1)).is_empty());
    let mut records = Vec::new();
    let upto = t.b.take_records(&mut records);
    assert!(
        matches!(
            &records[..],
            [
                Record::Settled {
                    delivered: true,
                    ..
                },
                Record::Done { .. }
            ]
        ),
        "{records:?}"
    );
    t.b.handle_stored(t.now, upto);
    t.pump();
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(7, ReceiptStatus::Delivered, 1, 0)]
    );
}

#[test]
fn a_resend_of_a_message_not_stored_yet_is_acked_after_it_is() {
    let (mut t, mut s) = publisher_and_subscriber();
    t.publish(1, 7, "a", b"x");
    t.publish(1, 7, "a", b"x");
    assert!(
        t.frames(1).is_empty(),
        "neither ack goes before the record is stored"
    );
    store(&mut t, &mut s);
    let acks = t
        .frames(1)
        .into_iter()
        .filter(|f| matches!(f, Frame::PubAck(a) if a.id == 7))
        .count();
    assert_eq!(acks, 2);
    assert_eq!(t.b.metrics().duplicates, 1);
    assert_eq!(deliveries(&t.frames(2)).len(), 1, "delivered once");
}

#[test]
fn while_writes_fail_qos1_is_refused_storage_unavailable_and_qos0_flows() {
    let (mut t, mut s) = publisher_and_subscriber();
    t.b.handle_store_failed(t.now);
    t.publish(1, 7, "a", b"x");
    assert!(
        matches!(&t.frames(1)[..], [Frame::PubAck(a)] if a.code == ErrorCode::STORAGE_UNAVAILABLE),
    );
    t.send(
        1,
        Frame::Publish(Publish {
            qos: Qos::AtMostOnce,
            message_id: 8,
            topic: "a".into(),
            payload: Bytes::from_static(b"q0"),
        }),
    );
    assert_eq!(deliveries(&t.frames(2)), vec![(0, 1, b"q0".to_vec())]);
    let m = t.b.metrics();
    assert_eq!((m.store_failures, m.publishes_refused_storage), (1, 1));
    // The next write that succeeds ends it: the resend is taken.
    store(&mut t, &mut s);
    t.publish(1, 7, "a", b"x");
    store(&mut t, &mut s);
    assert!(matches!(&t.frames(1)[..], [Frame::PubAck(a)] if a.code.is_ok()));
    assert_eq!(deliveries(&t.frames(2)).len(), 1);
}

#[test]
fn a_session_created_over_the_admin_api_is_answered_once_stored_and_restores() {
    let mut t = T::with_config(BrokerConfig {
        hash_cost: HashCost::Test,
        durable: true,
        open_session_creation: true,
        ..BrokerConfig::default()
    });
    let mut s = Store::default();
    t.b.admin(
        t.now,
        9,
        None,
        AdminRequest {
            request_id: 0,
            session: "fresh".into(),
            credential: String::new(),
            op: AdminOp::Create {
                password: "pw".into(),
                secret: "sk".into(),
                config: SessionConfig {
                    max_retries: Some(4),
                    ..SessionConfig::default()
                },
            },
        },
    );
    t.pump();
    assert!(t.admin.is_empty(), "answered only once stored");
    store(&mut t, &mut s);
    let answer = t.admin.pop().expect("answered");
    assert!(answer.reply.code.is_ok(), "{answer:?}");
    let stored = s.session("fresh").expect("stored");
    assert!(
        stored.password.starts_with("$argon2id$"),
        "a hash, not the password"
    );
    assert_ne!(stored.password, "pw");
    assert_eq!(stored.settings.max_retries, Some(4));

    let mut restarted = T::with_config(BrokerConfig {
        hash_cost: HashCost::Test,
        durable: true,
        ..BrokerConfig::default()
    });
    restarted
        .b
        .restore_session(restarted.now, s.restored("fresh"))
        .expect("restored");
    let frames = restarted.connect_as(1, "fresh", "a", false);
    let [Frame::Welcome(w)] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(w.config.max_retries, Some(4));
}

#[test]
fn after_a_restart_a_resuming_subscriber_gets_what_was_stored_and_the_publisher_its_receipt() {
    let mut t = durable();
    let mut s = Store::default();
    t.connect_as(1, "demo", "pub", true);
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "a/+", false);
    t.connect_as(3, "demo", "other", true);
    t.subscribe(3, "a/#", false);
    store(&mut t, &mut s);
    t.publish(1, 7, "a/b", b"one");
    t.publish(1, 8, "a/b", b"two");
    store(&mut t, &mut s);
    let first = deliveries(&t.frames(2));
    assert_eq!(first.len(), 2);
    // `other` acks the first; nobody acks the second; then the server stops.
    let d1 = first[0].0;
    let d2 = first[1].0;
    ack(&mut t, 3, d1);
    store(&mut t, &mut s);
    let tokens = t.tokens.clone();

    let mut r = durable();
    r.tokens = tokens;
    r.b.restore_session(r.now, s.restored("demo"))
        .expect("restored");
    let m = r.b.metrics();
    assert_eq!(m.cached_messages, 2);
    // The publisher resends its unacked publish: acked again, not delivered twice.
    let frames = r.connect_as(1, "demo", "pub", true);
    assert!(
        matches!(&frames[..], [Frame::Welcome(w)] if w.session_present),
        "{frames:?}"
    );
    r.publish(1, 8, "a/b", b"two");
    assert!(matches!(&r.frames(1)[..], [Frame::PubAck(a)] if a.id == 8));
    // The subscriber resumes: both deliveries again, same ids, next attempt.
    let frames = r.connect_as(2, "demo", "sub", true);
    assert!(
        matches!(&frames[0], Frame::Welcome(w) if w.session_present),
        "{frames:?}"
    );
    let again = deliveries(&frames[1..]);
    assert_eq!(
        again
            .iter()
            .map(|(d, _, p)| (*d, p.clone()))
            .collect::<Vec<_>>(),
        vec![(d1, b"one".to_vec()), (d2, b"two".to_vec())]
    );
    assert!(
        again.iter().all(|(_, attempt, _)| *attempt >= 2),
        "{again:?}"
    );
    ack(&mut r, 2, d1);
    store(&mut r, &mut s);
    assert_eq!(
        receipts(&r.frames(1)),
        vec![(7, ReceiptStatus::Delivered, 2, 0)]
    );
    // `other` resumes and acks the second: its receipt too.
    let frames = r.connect_as(3, "demo", "other", true);
    assert_eq!(
        deliveries(&frames[1..])
            .iter()
            .map(|d| d.0)
            .collect::<Vec<_>>(),
        vec![d2]
    );
    ack(&mut r, 2, d2);
    ack(&mut r, 3, d2);
    store(&mut r, &mut s);
    assert_eq!(
        receipts(&r.frames(1)),
        vec![(8, ReceiptStatus::Delivered, 2, 0)]
    );
    // New messages get ids the subscribers have not seen.
    r.publish(1, 9, "a/b", b"three");
    store(&mut r, &mut s);
    let next = deliveries(&r.frames(2));
    assert!(next.iter().all(|(d, _, _)| *d > d2), "{next:?} after {d2}");
}

#[test]
fn a_receipt_for_an_offline_publisher_survives_a_restart() {
    let mut t = durable();
    let mut s = Store::default();
    t.connect_as(1, "demo", "pub", true);
    t.connect(2, "sub");
    t.subscribe(2, "a", false);
    t.publish(1, 7, "a", b"x");
    store(&mut t, &mut s);
    let d = deliveries(&t.frames(2))[0].0;
    t.b.handle_close(t.now, ConnId(1));
    ack(&mut t, 2, d);
    store(&mut t, &mut s);
    let tokens = t.tokens.clone();

    let mut r = durable();
    r.tokens = tokens;
    r.b.restore_session(r.now, s.restored("demo"))
        .expect("restored");
    let frames = r.connect_as(1, "demo", "pub", true);
    assert_eq!(receipts(&frames), vec![(7, ReceiptStatus::Delivered, 1, 0)]);
    // And a resend of the settled message is answered with it, not delivered again.
    r.connect(2, "sub");
    r.subscribe(2, "a", false);
    r.publish(1, 7, "a", b"x");
    store(&mut r, &mut s);
    let frames = r.frames(1);
    assert!(
        matches!(&frames[0], Frame::PubAck(a) if a.id == 7),
        "{frames:?}"
    );
    assert_eq!(receipts(&frames), vec![(7, ReceiptStatus::Delivered, 1, 0)]);
    assert!(deliveries(&r.frames(2)).is_empty());
}

#[test]
fn a_broker_that_does_not_journal_records_nothing() {
    let mut t = T::new();
    t.connect_as(1, "demo", "pub", true);
    t.connect(2, "sub");
    t.subscribe(2, "a", false);
    t.publish(1, 7, "a", b"x");
    assert!(matches!(&t.frames(1)[..], [Frame::PubAck(_)]));
    let mut records = Vec::new();
    t.b.take_records(&mut records);
    assert!(records.is_empty());
    assert!(!t.b.is_durable());
}

#[test]
fn a_resumable_client_is_stored_with_the_digest_of_its_resume_token_never_the_token() {
    let mut t = durable();
    let frames = t.connect_as(1, "demo", "sub", true);
    let [Frame::Welcome(w)] = &frames[..] else {
        panic!("{frames:?}")
    };
    let mut records = Vec::new();
    t.b.take_records(&mut records);
    let stored = records
        .iter()
        .find_map(|r| match r {
            Record::Client(c) => Some(c.token_sha256),
            _ => None,
        })
        .expect("the client is journaled");
    use sha2::Digest;
    let digest: [u8; 32] = sha2::Sha256::digest(w.resume_token.as_bytes()).into();
    assert_eq!(stored, digest);
    assert!(!format!("{records:?}").contains(&w.resume_token));
}

#[test]
fn no_retry_goes_out_before_the_message_is_stored() {
    let (mut t, mut s) = publisher_and_subscriber();
    t.publish(1, 7, "a", b"x");
    t.b.handle_store_failed(t.now);
    // Past the retry interval (1 s here) with the write still failing: nothing goes out,
    // or a crash now could lose a message the subscriber saw.
    t.advance(Duration::from_millis(2_500));
    assert!(deliveries(&t.frames(2)).is_empty());
    assert!(t.frames(1).is_empty(), "no PubAck either");
    store(&mut t, &mut s);
    let got = deliveries(&t.frames(2));
    assert!(
        !got.is_empty() && got.iter().all(|d| d.2 == b"x"),
        "{got:?}"
    );
}

#[test]
fn a_held_delivery_waiting_for_its_record_goes_out_as_soon_as_it_is_stored() {
    let mut t = durable();
    let mut s = Store::default();
    t.connect(1, "pub");
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "a", false);
    t.b.handle_close(t.now, ConnId(2));
    t.pump();
    store(&mut t, &mut s);
    // Published while the subscriber is offline; it resumes before the record is stored.
    t.publish(1, 7, "a", b"x");
    let frames = t.connect_as(3, "demo", "sub", true);
    assert!(
        deliveries(&frames).is_empty(),
        "not before it is stored: {frames:?}"
    );
    // Stored: it goes out at once, not at the next retry.
    store(&mut t, &mut s);
    let got = deliveries(&t.frames(3));
    assert_eq!(got.len(), 1, "{got:?}");
}
