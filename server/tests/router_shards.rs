//! Sessions spread over several router shards: each works as on one, admin frames reach
//! sessions on other shards, and server-wide limits and metrics span every shard.

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use common::{metric, Clients, Server, WsClient};
use fastport_proto::codec::{
    AdminOp, AdminRequest, ErrorCode, Frame, Hello, Publish, Qos, ReceiptStatus, SessionConfig,
};
use fastport_server::broker::shard_of;

const TOKEN: &str = "admin-token-for-tests";
const SHARDS: usize = 4;

/// Five session names that land on every one of the four shards.
fn names() -> Vec<String> {
    let mut names: Vec<String> = (0..SHARDS)
        .map(|shard| {
            (0..)
                .map(|i| format!("team-{i}"))
                .find(|name| shard_of(name, SHARDS) == shard)
                .expect("a name for every shard")
        })
        .collect();
    let extra = (0..)
        .map(|i| format!("crew-{i}"))
        .find(|name| shard_of(name, SHARDS) != shard_of("", SHARDS))
        .expect("a name away from the admin connection's shard");
    names.push(extra);
    names
}

fn admin(request_id: u64, session: &str, credential: &str, op: AdminOp) -> Frame {
    Frame::Admin(AdminRequest {
        request_id,
        session: session.into(),
        credential: credential.into(),
        op,
    })
}

/// Sends every request, then gathers the `AdminResult`s by request id.
async fn run_admin(client: &mut WsClient, requests: Vec<Frame>) -> HashMap<u64, ErrorCode> {
    let count = requests.len();
    for request in &requests {
        client.send(request).await;
    }
    let mut results = HashMap::new();
    while results.len() < count {
        match client.frame().await {
            Frame::AdminResult(result) => {
                assert!(
                    results.insert(result.request_id, result.code).is_none(),
                    "one answer per request"
                );
            }
            other => panic!("expected an AdminResult, got {other:?}"),
        }
    }
    results
}

/// A subscriber and a publisher in `session`: one QoS 1 message goes through, is acked,
/// and its receipt comes back.
async fn round_trip(server: &Server, session: &str) {
    let mut subscriber = server.connect().await;
    subscriber.join(session, "pw").await;
    subscriber.subscribe("room/#").await;
    let mut publisher = server.connect().await;
    publisher.join(session, "pw").await;
    let publish = Publish {
        qos: Qos::AtLeastOnce,
        message_id: 1,
        topic: "room/1".into(),
        payload: Bytes::copy_from_slice(session.as_bytes()),
    };
    publisher.send(&Frame::Publish(publish)).await;
    let delivery_id = match subscriber.frame().await {
        Frame::Deliver(d) => {
            assert_eq!(d.payload, session.as_bytes(), "only this session's message");
            d.delivery_id
        }
        other => panic!("expected a delivery in {session}, got {other:?}"),
    };
    subscriber.send(&Frame::DeliverAck { delivery_id }).await;
    assert!(matches!(publisher.frame().await, Frame::PubAck(ack) if ack.code.is_ok()));
    match publisher.frame().await {
        Frame::Receipt(r) => {
            assert_eq!(r.status, ReceiptStatus::Delivered, "{session}: {r:?}");
            assert_eq!(r.delivered, 1);
        }
        other => panic!("expected a receipt in {session}, got {other:?}"),
    }
}

#[tokio::test]
async fn sessions_on_every_shard_work_and_admin_frames_reach_them_from_any_connection() {
    let server = common::start(&[
        "--router-shards",
        "4",
        "--admin-token",
        TOKEN,
        "--max-sessions",
        "6",
    ])
    .await;
    let names = names();

    // One admin connection, on one shard, creates a session on each of the others.
    let mut operator = server.connect().await;
    let hello = Hello {
        admin_only: true,
        password: TOKEN.into(),
        ..Hello::default()
    };
    operator.send(&Frame::Hello(hello)).await;
    assert!(matches!(operator.frame().await, Frame::Welcome(_)));
    let create = || AdminOp::Create {
        password: "pw".into(),
        secret: "sec".into(),
        config: SessionConfig::default(),
    };
    let requests = (1..)
        .zip(&names)
        .map(|(id, name)| admin(id, name, TOKEN, create()))
        .collect();
    let results = run_admin(&mut operator, requests).await;
    assert_eq!(results.len(), names.len());
    assert!(
        results.values().all(|code| code.is_ok()),
        "every create succeeded: {results:?}"
    );

    // The demo session and five more: the limit spans the shards.
    assert_eq!(metric(server.addr(), "fastport_sessions").await, 6);
    let one_more = admin(9, "late-comer", TOKEN, create());
    let results = run_admin(&mut operator, vec![one_more]).await;
    assert_eq!(results[&9], ErrorCode::TOO_MANY_SESSIONS);

    for name in &names {
        round_trip(&server, name).await;
    }

    // Described and dropped through the admin connection, wherever they live.
    let requests = (20..)
        .zip(&names)
        .map(|(id, name)| admin(id, name, "sec", AdminOp::Describe))
        .collect();
    let results = run_admin(&mut operator, requests).await;
    assert!(results.values().all(|code| code.is_ok()), "{results:?}");
    let dropped = &names[names.len() - 1];
    let results = run_admin(
        &mut operator,
        vec![admin(30, dropped, "sec", AdminOp::Drop)],
    )
    .await;
    assert_eq!(results[&30], ErrorCode::OK);
    assert_eq!(metric(server.addr(), "fastport_sessions").await, 5);
    let mut latecomer = server.connect().await;
    latecomer.hello(dropped, "pw").await;
    common::assert_refused(&mut latecomer, "bad_credentials", 4004).await;
}
