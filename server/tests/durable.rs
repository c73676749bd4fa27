//! The Redis engine keeps what was acknowledged: a real redis-server, the real server
//! binary killed with SIGKILL and started again on the same Redis.
//!
//! - a QoS 1 message acknowledged to its publisher reaches its (offline, resumable)
//!   subscriber after the crash, with the same delivery id, and its publisher gets the
//!   `delivered` receipt;
//! - a session created through the admin API is there after the crash;
//! - a resend of a publish the server took before the crash is acknowledged, not delivered
//!   again;
//! - the same on a Redis that speaks TLS only, with a private CA (`[redis] ca`);
//! - with Redis stopped, QoS 1 publishes are refused `storage_unavailable` and QoS 0 still
//!   flows; once Redis is back, QoS 1 is taken again.

mod common;

use bytes::Bytes;
use common::{metric, within, Clients, WsClient};
use fastport_harness::{ClientAuth, Launch, Pki, Redis, RedisCluster, Server};
use fastport_proto::codec::{
    Ack, Deliver, ErrorCode, Frame, Hello, Publish, Qos, Receipt, ReceiptStatus, Welcome,
};

const TOKEN: &str = "admin-token-for-durable-tests";

async fn start(redis: &Redis) -> Server {
    Launch::new()
        .args(&["--redis", &redis.url(), "--admin-token", TOKEN])
        .start()
        .await
}

/// Creates session `team` (password `pw`, secret `sec`) through the admin API.
async fn create_team(server: &Server) {
    let body =
        r#"{"name":"team","password":"pw","secret":"sec","config":{"retry_interval_ms":60000}}"#;
    let auth = format!("Bearer {TOKEN}");
    let response = server
        .http("POST", "/admin/sessions", &[("Authorization", &auth)], body)
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
}

/// Joins `team` as `client`, resumable, with `token` (empty the first time); the `Welcome`.
async fn join(client: &mut WsClient, id: &str, token: &str) -> Welcome {
    let hello = Hello {
        resume: true,
        keepalive_ms: 30_000,
        session: "team".into(),
        password: "pw".into(),
        client_id: id.into(),
        resume_token: token.into(),
        ..Hello::default()
    };
    client.send(&Frame::Hello(hello)).await;
    match client.frame().await {
        Frame::Welcome(w) => w,
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

/// The code of the `PubAck` of `id`, skipping receipts and the acks of other publishes.
async fn pub_ack(client: &mut WsClient, id: u64) -> ErrorCode {
    loop {
        match next(client).await {
            Frame::PubAck(Ack { id: got, code }) if got == id => return code,
            Frame::PubAck(_) | Frame::Receipt(_) => {}
            other => panic!("expected the PubAck of {id}, got {other:?}"),
        }
    }
}

/// The next `PubAck`, as its message id and code, skipping receipts.
async fn any_pub_ack(client: &mut WsClient) -> (u64, ErrorCode) {
    loop {
        match next(client).await {
            Frame::PubAck(Ack { id, code }) => return (id, code),
            Frame::Receipt(_) => {}
            other => panic!("expected a PubAck, got {other:?}"),
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

/// Waits until every record the server journaled so far is stored, and at least `more`
/// records were stored since it said `before`; returns the records stored by then.
async fn stored(server: &Server, before: u64, more: u64) -> u64 {
    within("the journal stored", async {
        loop {
            let total = metric(server.addr(), "fastport_store_records_total").await;
            let unstored = metric(server.addr(), "fastport_journal_records_unstored").await;
            if total >= before + more && unstored == 0 {
                return total;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn an_acknowledged_message_and_an_admin_session_survive_a_crash_of_the_server() {
    let redis = Redis::start().await;
    let server = start(&redis).await;
    let token = survive_a_crash(server).await;
    // What Redis holds afterwards: the settled message as a tombstone (its publisher and
    // receipt, format 1's first byte 2), no payload; nobody waits for it any more.
    let keys = redis.cli(&["KEYS", "fastport:{team}:msg:*"]).await;
    let key = keys
        .lines()
        .next()
        .expect("one message key")
        .trim()
        .to_owned();
    let value = redis.cli(&["GET", &key]).await;
    assert!(value.starts_with('\u{2}'), "{value:?}");
    assert!(
        value.contains("pub") && !value.contains("sealed-41"),
        "{value:?}"
    );
    let waiting = redis.cli(&["HLEN", "fastport:{team}:waiting"]).await;
    assert_eq!(waiting, "0");
    // Resume tokens are kept as digests: what Redis holds cannot take over a client id.
    let client = redis.cli(&["HGET", "fastport:{team}:clients", "sub"]).await;
    assert!(client.contains("token_sha256"), "{client}");
    assert!(
        !client.contains(&token),
        "the resume token itself is stored: {client}"
    );
}

#[tokio::test]
async fn on_a_redis_cluster_too() {
    let cluster = RedisCluster::start(3).await;
    let toml = format!("[redis]\ncluster = [\"{}\"]\n", cluster.urls()[0]);
    let server = Launch::new()
        .config(&toml)
        .args(&["--admin-token", TOKEN])
        .start()
        .await;
    survive_a_crash(server).await;
}

#[tokio::test]
async fn on_redis_over_tls_with_a_private_ca_too() {
    let pki = Pki::new();
    let redis = Redis::start_tls(&pki, ClientAuth::Off).await;
    let ca = pki.ca_file();
    let toml = format!(
        "[redis]\nurl = \"{}\"\nca = \"{}\"\n",
        redis.url(),
        ca.to_str().expect("a UTF-8 temp path")
    );
    let server = Launch::new()
        .config(&toml)
        .args(&["--admin-token", TOKEN])
        .start()
        .await;
    survive_a_crash(server).await;
    let keys = redis.cli(&["KEYS", "fastport:{team}:msg:*"]).await;
    assert_eq!(
        keys.lines().count(),
        1,
        "the message, stored over TLS: {keys}"
    );
}

/// A resumable subscriber offline, a message acknowledged to its publisher, a crash: after
/// the restart the session, the message and the receipt are all there. Returns the
/// subscriber's resume token.
async fn survive_a_crash(mut server: Server) -> String {
    create_team(&server).await;

    // The subscriber subscribes, then goes offline; its state stays for it to resume.
    let mut sub = WsClient::connect(server.addr()).await;
    let welcome = join(&mut sub, "sub", "").await;
    let sub_token = welcome.resume_token;
    sub.subscribe("orders/#").await;
    let before = stored(&server, 0, 0).await;
    drop(sub);
    // Its offline state is written lazily: it must be stored before the crash.
    stored(&server, before, 1).await;
    // The publisher's message is acknowledged: stored first, without waiting here.
    let mut publisher = WsClient::connect(server.addr()).await;
    let pub_token = join(&mut publisher, "pub", "").await.resume_token;
    publisher
        .send(&publish(Qos::AtLeastOnce, 41, b"sealed-41"))
        .await;
    assert_eq!(pub_ack(&mut publisher, 41).await, ErrorCode::OK);
    drop(publisher);

    server.crash_and_restart().await;
    server.stderr_with("restored from Redis").await;

    // The session is back with its settings; the subscriber resumes and gets the message.
    let mut sub = WsClient::connect(server.addr()).await;
    let welcome = join(&mut sub, "sub", &sub_token).await;
    assert!(welcome.session_present, "the subscriber's state came back");
    assert_eq!(welcome.config.retry_interval_ms, Some(60_000));
    let d = deliver(&mut sub).await;
    assert_eq!(&d.payload[..], b"sealed-41");
    assert_eq!(d.publisher, "pub");
    assert!(d.attempt >= 2, "a resend: attempt {}", d.attempt);
    // The publisher resumes and resends its publish, as a client whose ack was lost does:
    // acknowledged, not delivered again.
    let mut publisher = WsClient::connect(server.addr()).await;
    let welcome = join(&mut publisher, "pub", &pub_token).await;
    assert!(welcome.session_present);
    publisher
        .send(&publish(Qos::AtLeastOnce, 41, b"sealed-41"))
        .await;
    assert_eq!(pub_ack(&mut publisher, 41).await, ErrorCode::OK);
    sub.send(&Frame::DeliverAck {
        delivery_id: d.delivery_id,
    })
    .await;
    let r = receipt(&mut publisher).await;
    assert_eq!(
        (r.message_id, r.status, r.delivered, r.failed),
        (41, ReceiptStatus::Delivered, 1, 0)
    );
    // Nothing more reaches the subscriber: a ping comes back before any second delivery.
    sub.send(&Frame::Ping { nonce: 7 }).await;
    match sub.frame().await {
        Frame::Pong { nonce: 7 } => {}
        other => panic!("expected only the Pong, got {other:?}"),
    }
    sub_token
}

#[tokio::test]
async fn with_redis_stopped_qos1_is_refused_storage_unavailable_and_qos0_flows() {
    let mut redis = Redis::start().await;
    let server = start(&redis).await;
    create_team(&server).await;
    let mut sub = WsClient::connect(server.addr()).await;
    join(&mut sub, "sub", "").await;
    sub.subscribe("orders/#").await;
    let mut publisher = WsClient::connect(server.addr()).await;
    join(&mut publisher, "pub", "").await;
    publisher.send(&publish(Qos::AtLeastOnce, 1, b"one")).await;
    assert_eq!(pub_ack(&mut publisher, 1).await, ErrorCode::OK);
    let d = deliver(&mut sub).await;
    sub.send(&Frame::DeliverAck {
        delivery_id: d.delivery_id,
    })
    .await;

    redis.stop().await;
    // Until a write fails the server cannot know. The publish whose write fails waits for
    // Redis (its ack is held, never given for a message not stored); the next ones are
    // refused.
    let mut id = 2;
    let refused = within("a QoS 1 publish refused storage_unavailable", async {
        loop {
            publisher.send(&publish(Qos::AtLeastOnce, id, b"two")).await;
            id += 1;
            let wait = std::time::Duration::from_millis(200);
            if let Ok((acked, code)) = tokio::time::timeout(wait, any_pub_ack(&mut publisher)).await
            {
                if code == ErrorCode::STORAGE_UNAVAILABLE {
                    return acked;
                }
                assert_eq!(code, ErrorCode::OK, "before the outage is seen");
            }
        }
    })
    .await;
    assert!(metric(server.addr(), "fastport_publishes_refused_storage_total").await >= 1);
    // QoS 0 still reaches the subscriber.
    publisher
        .send(&publish(Qos::AtMostOnce, 900, b"live"))
        .await;
    within("the QoS 0 delivery", async {
        loop {
            let d = deliver(&mut sub).await;
            if &d.payload[..] == b"live" {
                return;
            }
        }
    })
    .await;

    redis.restart().await;
    // Resent after Redis is back, the refused publish is taken.
    within("QoS 1 taken again after Redis is back", async {
        loop {
            publisher
                .send(&publish(Qos::AtLeastOnce, refused, b"two"))
                .await;
            if pub_ack(&mut publisher, refused).await == ErrorCode::OK {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(metric(server.addr(), "fastport_store_outages_total").await >= 1);
}
