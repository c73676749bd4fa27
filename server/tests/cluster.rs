//! Several nodes on one Redis form one service: real redis-server, three real server
//! processes on loopback.
//!
//! - a publish on one node reaches subscribers on every node, with its receipt, QoS 0 and 1;
//! - a client id is one across nodes: the newer connection takes over;
//! - killing the node that serves a session (SIGKILL) moves the session to another node:
//!   its clients reconnect there, and the acknowledged message and its receipt survive;
//! - a relayed connection with a wrong node secret is refused.

mod common;

use bytes::Bytes;
use common::{metric, within, Clients, WsClient};
use fastport_harness::{Launch, Redis, Server, Signal};
use fastport_proto::codec::{
    Ack, Deliver, ErrorCode, Frame, Hello, Publish, Qos, Receipt, ReceiptStatus, Welcome,
};

const TOKEN: &str = "admin-token-for-cluster-tests";

async fn node(redis: &Redis, id: &str) -> Server {
    Launch::new()
        .redis(redis, id)
        .args(&["--admin-token", TOKEN])
        .start()
        .await
}

/// Creates session `team` (password `pw`) through `server`'s admin API: that node serves it.
async fn create_team(server: &Server) {
    let body =
        r#"{"name":"team","password":"pw","secret":"sec","config":{"retry_interval_ms":60000}}"#;
    let auth = format!("Bearer {TOKEN}");
    let response = server
        .http("POST", "/admin/sessions", &[("Authorization", &auth)], body)
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
}

fn hello(id: &str, token: &str) -> Frame {
    Frame::Hello(Hello {
        resume: true,
        keepalive_ms: 30_000,
        session: "team".into(),
        password: "pw".into(),
        client_id: id.into(),
        resume_token: token.into(),
        ..Hello::default()
    })
}

/// Joins `team` as `id` through `server` (resumable, with `token`); the `Welcome`.
async fn join(server: &Server, id: &str, token: &str) -> (WsClient, Welcome) {
    let mut client = WsClient::connect(server.addr()).await;
    client.send(&hello(id, token)).await;
    match next(&mut client).await {
        Frame::Welcome(w) => (client, w),
        other => panic!("expected Welcome, got {other:?}"),
    }
}

fn publish(qos: Qos, message_id: u64, payload: &'static [u8]) -> Frame {
    Frame::Publish(Publish {
        qos,
        message_id,
        topic: "orders/new".into(),
        payload: Bytes::from_static(payload),
    })
}

/// The next frame that is not a presence or keepalive frame.
async fn next(client: &mut WsClient) -> Frame {
    loop {
        match client.frame().await {
            Frame::Pong { .. } | Frame::Presence(_) => {}
            other => return other,
        }
    }
}

async fn deliver(client: &mut WsClient) -> Deliver {
    match next(client).await {
        Frame::Deliver(d) => d,
        other => panic!("expected a Deliver, got {other:?}"),
    }
}

async fn pub_ack(client: &mut WsClient, id: u64) -> ErrorCode {
    loop {
        match next(client).await {
            Frame::PubAck(Ack { id: got, code }) if got == id => return code,
            Frame::PubAck(_) | Frame::Receipt(_) => {}
            other => panic!("expected the PubAck of {id}, got {other:?}"),
        }
    }
}

async fn receipt(client: &mut WsClient) -> Receipt {
    loop {
        match next(client).await {
            Frame::Receipt(r) => return r,
            Frame::PubAck(_) => {}
            other => panic!("expected a Receipt, got {other:?}"),
        }
    }
}

/// Subscribes `client` to `orders/#` and waits for the ack.
async fn subscribe(client: &mut WsClient) {
    client.subscribe("orders/#").await;
}

#[tokio::test]
async fn a_publish_on_one_node_reaches_subscribers_on_every_node() {
    let redis = Redis::start().await;
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let c = node(&redis, "node-c").await;
    create_team(&a).await;

    let (mut on_a, welcome) = join(&a, "sub-a", "").await;
    let token_a = welcome.resume_token;
    let (mut on_b, _) = join(&b, "sub-b", "").await;
    let (mut on_c, _) = join(&c, "sub-c", "").await;
    for sub in [&mut on_a, &mut on_b, &mut on_c] {
        subscribe(sub).await;
    }
    // The publisher is on a node that does not serve the session.
    let (mut publisher, _) = join(&c, "pub", "").await;
    publisher.send(&publish(Qos::AtMostOnce, 0, b"zero")).await;
    publisher.send(&publish(Qos::AtLeastOnce, 7, b"one")).await;
    assert_eq!(pub_ack(&mut publisher, 7).await, ErrorCode::OK);
    for sub in [&mut on_a, &mut on_b, &mut on_c] {
        let d0 = deliver(sub).await;
        assert_eq!(
            (&d0.payload[..], d0.publisher.as_str()),
            (&b"zero"[..], "pub")
        );
        let d1 = deliver(sub).await;
        assert_eq!(&d1.payload[..], b"one");
        sub.send(&Frame::DeliverAck {
            delivery_id: d1.delivery_id,
        })
        .await;
    }
    // The receipt crosses nodes: every subscriber, wherever it is, acked.
    let r = receipt(&mut publisher).await;
    assert_eq!(
        (r.message_id, r.status, r.delivered, r.failed),
        (7, ReceiptStatus::Delivered, 3, 0)
    );
    // Node A serves the session (and the demo session: it started first); B and C relay
    // their clients to it.
    let owner = redis.cli(&["GET", "fastport:{team}:owner"]).await;
    assert!(owner.starts_with("node-a "), "{owner}");
    assert_eq!(metric(a.addr(), "fastport_cluster_sessions_owned").await, 2);
    // Claiming a session being created reads nothing back, and says nothing about it.
    assert!(!a.stderr().contains("not restored"), "{}", a.stderr());
    assert_eq!(metric(b.addr(), "fastport_cluster_sessions_owned").await, 0);
    assert_eq!(
        metric(b.addr(), "fastport_cluster_relayed_connections").await,
        1
    );
    assert_eq!(
        metric(c.addr(), "fastport_cluster_relayed_connections").await,
        2
    );

    // Fan-in: publishers on every node, one subscriber; each publisher's messages in order.
    let mut publishers = Vec::new();
    for (server, id) in [(&a, "in-a"), (&b, "in-b"), (&c, "in-c")] {
        publishers.push((join(server, id, "").await.0, id));
    }
    for round in 1..=3u64 {
        for (p, _) in &mut publishers {
            p.send(&publish(Qos::AtLeastOnce, round, b"fan-in")).await;
        }
    }
    for (p, _) in &mut publishers {
        for round in 1..=3u64 {
            assert_eq!(pub_ack(p, round).await, ErrorCode::OK);
        }
    }
    let mut seen: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for _ in 0..9 {
        let d = deliver(&mut on_b).await;
        seen.entry(d.publisher.clone())
            .or_default()
            .push(d.delivery_id);
        on_b.send(&Frame::DeliverAck {
            delivery_id: d.delivery_id,
        })
        .await;
    }
    for (_, id) in &publishers {
        let ids = &seen[*id];
        assert_eq!(ids.len(), 3, "{id}: {seen:?}");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{id} in order: {ids:?}"
        );
    }

    // A client id is one across the nodes: the newer connection, on another node, wins.
    let (_newer, welcome) = join(&b, "sub-a", &token_a).await;
    assert!(welcome.session_present);
    let (_, code) = within("the older connection closed", on_a.until_closed()).await;
    assert_eq!(code, ErrorCode::CLIENT_ID_TAKEN_OVER.close_code());
}

#[tokio::test]
async fn killing_the_node_that_serves_a_session_moves_it_and_keeps_what_was_acknowledged() {
    let redis = Redis::start().await;
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    create_team(&a).await;

    // Both clients reach the session through node B; node A serves it.
    let (mut sub, welcome) = join(&b, "sub", "").await;
    let sub_token = welcome.resume_token;
    subscribe(&mut sub).await;
    let (mut publisher, welcome) = join(&b, "pub", "").await;
    let pub_token = welcome.resume_token;
    publisher
        .send(&publish(Qos::AtLeastOnce, 41, b"sealed-41"))
        .await;
    assert_eq!(pub_ack(&mut publisher, 41).await, ErrorCode::OK);
    let first = deliver(&mut sub).await;
    assert_eq!(&first.payload[..], b"sealed-41");

    // Node A dies before the subscriber acks.
    a.signal(Signal::KILL);
    for client in [&mut sub, &mut publisher] {
        let (_, code) = within("the relayed connection closed", client.until_closed()).await;
        assert_eq!(code, ErrorCode::SESSION_MOVED.close_code());
    }

    // Node B takes the session over once A's registration lapses, by itself (its sweep),
    // with no client asking, so that retries and expiry go on.
    within("the sweep took the session over", async {
        while metric(b.addr(), "fastport_cluster_takeovers_total").await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    // It serves the resumed clients itself: the message comes again, the receipt follows
    // the ack.
    let (mut sub, welcome) = within("the session served again", async {
        loop {
            let mut client = WsClient::connect(b.addr()).await;
            client.send(&hello("sub", &sub_token)).await;
            match next(&mut client).await {
                Frame::Welcome(w) => return (client, w),
                Frame::Error(e) if e.code == ErrorCode::SESSION_MOVED => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                other => panic!("expected Welcome, got {other:?}"),
            }
        }
    })
    .await;
    assert!(welcome.session_present, "the subscriber's state came back");
    let again = deliver(&mut sub).await;
    assert_eq!(
        (&again.payload[..], again.delivery_id),
        (&b"sealed-41"[..], first.delivery_id)
    );
    let (mut publisher, welcome) = join(&b, "pub", &pub_token).await;
    assert!(welcome.session_present);
    sub.send(&Frame::DeliverAck {
        delivery_id: again.delivery_id,
    })
    .await;
    let r = receipt(&mut publisher).await;
    assert_eq!(
        (r.message_id, r.status, r.delivered),
        (41, ReceiptStatus::Delivered, 1)
    );
    // `team` and the demo session, which node A served as the first node.
    assert_eq!(
        metric(b.addr(), "fastport_cluster_takeovers_total").await,
        2
    );
    assert_eq!(
        metric(b.addr(), "fastport_cluster_relayed_connections").await,
        0
    );
}

#[tokio::test]
async fn a_relayed_connection_needs_the_nodes_secret() {
    let redis = Redis::start().await;
    let a = node(&redis, "node-a").await;
    let response = a
        .http("GET", "/ws", &[("x-fastport-node", "not-the-secret")], "")
        .await;
    assert_eq!(response.status, 403, "{}", response.body);
    // A second node may not take a live node's id.
    let mut twin = Launch::new().command();
    twin.args([
        "--redis",
        &redis.url(),
        "--node-id",
        "node-a",
        "--listen",
        "127.0.0.1:0",
    ]);
    let out = within("the twin exits", twin.output())
        .await
        .expect("the server runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("node id `node-a` is in use"), "{stderr}");
}

#[tokio::test]
async fn presence_and_admin_operations_reach_every_node() {
    let redis = Redis::start().await;
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let c = node(&redis, "node-c").await;
    create_team(&a).await;

    // A presence watcher on node A sees a member join through node B.
    let (mut watcher, _) = join(&a, "watcher", "").await;
    watcher
        .send(&Frame::Subscribe(fastport_proto::codec::Subscribe {
            request_id: 1,
            presence: true,
            filter: "orders/#".into(),
        }))
        .await;
    let (mut member, _) = join(&b, "member", "").await;
    subscribe(&mut member).await;
    within("the join seen on node A", async {
        loop {
            if let Frame::Presence(p) = watcher.frame().await {
                let joined = p.members.iter().any(|m| m.client_id == "member");
                if p.kind == fastport_proto::codec::PresenceKind::Join && joined {
                    return;
                }
            }
        }
    })
    .await;

    // An admin request on node C runs on node A, and closes the members on every node.
    let auth = "Bearer sec";
    let suspended = c
        .http(
            "POST",
            "/admin/sessions/team/suspend",
            &[("Authorization", auth)],
            "",
        )
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    for client in [&mut watcher, &mut member] {
        let (_, code) = within("the member closed", client.until_closed()).await;
        assert_eq!(code, ErrorCode::SESSION_SUSPENDED.close_code());
    }
    // A newcomer through node B is refused while the session is suspended.
    let mut late = WsClient::connect(b.addr()).await;
    late.send(&hello("late", "")).await;
    match next(&mut late).await {
        Frame::Error(e) => assert_eq!(e.code, ErrorCode::SESSION_SUSPENDED),
        other => panic!("expected session_suspended, got {other:?}"),
    }
}

#[tokio::test]
async fn a_node_that_stops_gracefully_hands_its_sessions_over_at_once() {
    let redis = Redis::start().await;
    let mut a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    create_team(&a).await;
    let (mut sub, welcome) = join(&b, "sub", "").await;
    let token = welcome.resume_token;
    subscribe(&mut sub).await;

    a.terminate();
    let (_, code) = within("the relayed connection closed", sub.until_closed()).await;
    assert_eq!(code, ErrorCode::SERVER_SHUTTING_DOWN.close_code());
    assert!(a.exit_status().await.success());
    // Its registration and its claims are gone with it, not left to expire.
    let registration = redis.cli(&["EXISTS", "fastport:node:node-a"]).await;
    assert_eq!(registration.trim(), "0");
    let owner = redis.cli(&["GET", "fastport:{team}:owner"]).await;
    assert!(!owner.contains("node-a"), "{owner}");

    let (_sub, welcome) = join(&b, "sub", &token).await;
    assert!(welcome.session_present, "the subscriber's state came back");
}
