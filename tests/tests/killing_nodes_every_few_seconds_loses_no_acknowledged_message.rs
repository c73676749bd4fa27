//! Chaos across nodes: three real `fastport-server` nodes share one real Redis; one
//! publisher and three subscribers of one session, all real Rust clients given the three
//! URLs in different orders (so they start on different nodes and most of them are relayed
//! to the session's owner), while a node is killed (`kill -9`) every few seconds and started
//! again on its port, in turn, so that two nodes at least are always up. The owner dies too:
//! the session moves to another node, restored from Redis.
//!
//! Throughout, the publisher sends paced QoS 1 messages, several in flight at once. In the
//! end: every publish was acknowledged and every receipt that came says `delivered` by all
//! three subscribers (a receipt on its way when the session's node died may be lost: at most
//! a handful per such kill); every acknowledged message reached every subscriber (all
//! subscribed before the first publish) exactly once — the client's dedupe holds across
//! resends and takeovers — and in the order it was published.

use std::pin::Pin;
use std::time::Duration;

use fastport_client::{Client, Key, Options, Published, Qos, Receipt, ReceiptStatus, State};
use fastport_client_core::client::{BackoffConfig, PublishRetryConfig};
use fastport_client_core::codec::{AdminOp, SessionConfig};
use fastport_harness::{Launch, Redis, Server};
use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};

const TOKEN: &str = "admin-token-for-the-chaos-test";
const SESSION: &str = "chaos";
const PASSWORD: &str = "chaos-pw";
const NODE_IDS: [&str; 3] = ["node-a", "node-b", "node-c"];
const SUBSCRIBERS: usize = 3;
/// QoS 1 messages published, one every [`PACE`].
const MESSAGES: u64 = 400;
const PACE: Duration = Duration::from_millis(100);
/// How long the three nodes run between a restart and the next kill. A killed node is back
/// (it could rejoin) once its registration lapsed, `NODE_TTL` = 3 s after the kill.
const UP_BETWEEN_KILLS: Duration = Duration::from_secs(2);
/// Fewest kills in a run (about 9 happen while the publisher runs).
const KILLS: usize = 6;
/// The bound on every wait: startups, a failover, the settling of what is in flight.
const LIMIT: Duration = Duration::from_secs(40);

async fn node(redis: &Redis, id: &str) -> Server {
    Launch::new()
        .redis(redis, id)
        .args(&["--admin-token", TOKEN, "--no-demo-session"])
        .start()
        .await
}

/// Creates the session through `server` (an `Admin` frame of the real client, as
/// `fastport session create` sends it), with a retry budget no failover exhausts: that
/// node claims the session and serves it.
async fn create_session(server: &Server) {
    let options = Options::admin_with(&server.url(), None, TOKEN).expect("valid options");
    let admin = Client::connect(options).await.expect("the admin connects");
    let config = SessionConfig {
        retry_interval_ms: Some(1_000),
        max_retries: Some(1_000),
        expiry_ms: Some(600_000),
        ..SessionConfig::default()
    };
    let op = AdminOp::Create {
        password: PASSWORD.into(),
        secret: "chaos-secret".into(),
        config,
    };
    admin.admin(SESSION, TOKEN, op).await.expect("created");
    admin.close().await;
}

/// A resumable client `id` trying `urls` in this order, reconnecting within a second and
/// resending its publishes for as long as it takes.
async fn client(id: &str, urls: &[String], key: &Key) -> Client {
    let backoff = BackoffConfig {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: 0.5,
        max_attempts: None,
    };
    let retry = PublishRetryConfig {
        ack_timeout: Duration::from_secs(5),
        max_attempts: u32::MAX,
        deadline: None,
    };
    let options = Options::new(&urls[0], SESSION, PASSWORD)
        .expect("valid options")
        .urls(urls)
        .expect("valid URLs")
        .client_id(id)
        .expect("valid client id")
        .resume(true)
        .key(key.clone())
        .backoff(backoff)
        .publish_retry(retry)
        .outbox(10_000, 8 << 20);
    Client::connect(options)
        .await
        .unwrap_or_else(|e| panic!("{id} connects to {}: {e}", urls[0]))
}

/// `urls` rotated left by `n`: where a client starts.
fn rotated(urls: &[String], n: usize) -> Vec<String> {
    let mut rotated = urls.to_vec();
    rotated.rotate_left(n % urls.len());
    rotated
}

type Pending = Pin<Box<dyn std::future::Future<Output = Published> + Send>>;

/// Hands publish `n` to the client now (its first poll queues it, so publishes keep their
/// order however many are in flight) and returns the rest: waiting for the ack.
fn publish(client: &Client, n: u64) -> Pending {
    let client = client.clone();
    let mut pending: Pending = Box::pin(async move {
        let payload = n.to_be_bytes();
        client
            .publish("chaos/orders", &payload, Qos::AtLeastOnce)
            .await
            .expect("the publish is acknowledged")
    });
    // The command channel has room for 1,024 commands: queuing never waits.
    assert!(
        (&mut pending).now_or_never().is_none(),
        "publish {n} settled at once (refused by the client)"
    );
    pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_nodes_every_few_seconds_loses_no_acknowledged_message() {
    let redis = Redis::start().await;
    let mut nodes = Vec::new();
    for id in NODE_IDS {
        nodes.push(node(&redis, id).await);
    }
    create_session(&nodes[0]).await;
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let key = Key::generate().expect("random key");

    // Subscriber i starts on node i; every one subscribes before the first publish. What
    // its application gets: the sequence numbers, in order (u64::MAX: not ours).
    let mut subscribers = Vec::new();
    let mut received = Vec::new();
    for i in 0..SUBSCRIBERS {
        let sub = client(&format!("sub-{i}"), &rotated(&urls, i), &key).await;
        let mut messages = sub.subscribe("chaos/#").await.expect("subscribed");
        let (log, seen) = watch::channel(Vec::<u64>::new());
        tokio::spawn(async move {
            while let Some(m) = messages.next().await {
                let seq = match <[u8; 8]>::try_from(&m.payload[..]) {
                    Ok(seq) if m.publisher == "pub" => u64::from_be_bytes(seq),
                    _ => u64::MAX,
                };
                log.send_modify(|l| l.push(seq));
            }
        });
        subscribers.push(sub);
        received.push(seen);
    }
    let publisher = client("pub", &rotated(&urls, 1), &key).await;

    // Publish on a pace; kill a node, in turn, start it again at once (it rejoins once its
    // old registration has lapsed), let the three run for a while, and again.
    let acks = tokio::spawn({
        let publisher = publisher.clone();
        async move {
            let mut pending = Vec::new();
            for n in 0..MESSAGES {
                pending.push(tokio::spawn(publish(&publisher, n)));
                sleep(PACE).await;
            }
            pending
        }
    });
    let started = Instant::now();
    let (mut kills, mut owners_killed) = (0, 0);
    // At least KILLS, whatever the machine's speed: the session's node, killed first,
    // is killed again within every three kills after.
    while kills < KILLS || !acks.is_finished() {
        sleep(UP_BETWEEN_KILLS).await;
        let victim = kills % nodes.len();
        let owner = redis.cli(&["GET", "fastport:{chaos}:owner"]).await;
        if owner.starts_with(&format!("{} ", NODE_IDS[victim])) {
            owners_killed += 1;
        }
        nodes[victim].crash_and_restart().await;
        kills += 1;
    }
    assert!(
        owners_killed >= 2,
        "the session's node was killed {owners_killed} times"
    );
    let publishing = started.elapsed();

    // Every publish is acknowledged, then settles with a receipt from every subscriber. A
    // receipt the session's node had sent (or queued, not yet stored, for a publisher that
    // was away) when it was killed is not sent again (docs/CLUSTER.md, "Failures"): the
    // publisher holds its PubAck and does not resend. So a few may be missing, at most a
    // handful per kill of that node; the messages themselves must all arrive (below).
    let pending = acks.await.expect("the publishing task ran");
    let mut published = Vec::new();
    for (n, acked) in pending.into_iter().enumerate() {
        let p = timeout(LIMIT, acked)
            .await
            .unwrap_or_else(|_| panic!("publish {n} not acknowledged within {LIMIT:?}"))
            .expect("the publish task ran");
        published.push(p);
    }
    let deadline = Instant::now() + LIMIT;
    let mut receipts: Vec<Option<Receipt>> = Vec::new();
    for (n, p) in published.into_iter().enumerate() {
        match tokio::time::timeout_at(deadline, p.receipt()).await {
            Ok(Some(receipt)) => receipts.push(Some(receipt)),
            Ok(None) => panic!("the client closed before the receipt of {n}"),
            Err(_) => receipts.push(None),
        }
    }
    let settled = started.elapsed();
    let missing: Vec<usize> = (0..receipts.len())
        .filter(|n| receipts[*n].is_none())
        .collect();
    assert!(
        missing.len() <= 5 * owners_killed,
        "{} receipts missing ({missing:?}) for {owners_killed} kills of the session's node",
        missing.len()
    );
    for (n, r) in receipts.iter().enumerate() {
        let Some(r) = r else { continue };
        assert_eq!(
            (r.status, r.delivered, r.failed),
            (ReceiptStatus::Delivered, SUBSCRIBERS as u32, 0),
            "the receipt of publish {n}"
        );
    }

    // A `delivered` receipt means every subscriber acked, so its client has handed the
    // message to the application: each one has all of them, once, in the order published.
    let expected: Vec<u64> = (0..MESSAGES).collect();
    for (i, seen) in received.iter_mut().enumerate() {
        let all = seen.wait_for(|l| l.len() >= expected.len());
        timeout(LIMIT, all)
            .await
            .unwrap_or_else(|_| panic!("subscriber {i}'s application is missing messages"))
            .expect("the reader runs");
        let got = seen.borrow().clone();
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            got.len(),
            "subscriber {i} got duplicates: {got:?}"
        );
        assert_eq!(unique, expected, "subscriber {i} misses messages");
        assert_eq!(got, expected, "subscriber {i} got them out of order");
    }
    for c in subscribers.iter().chain([&publisher]) {
        let up = c
            .wait_for_state(LIMIT, |s| matches!(s, State::Connected { .. }))
            .await;
        assert!(up, "{} is connected at the end", c.client_id());
        c.close().await;
    }
    eprintln!(
        "{kills} nodes killed ({owners_killed} serving the session) in {publishing:?}; \
         {MESSAGES} QoS 1 messages to {SUBSCRIBERS} subscribers, settled after {settled:?}, \
         {} receipts lost",
        missing.len()
    );
}
