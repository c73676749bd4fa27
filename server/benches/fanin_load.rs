//! A fixed amount of fan-in load against a running server, for instruction counts of the
//! whole server process (router task, connection tasks, tungstenite, tokio) per message.
//!
//! 4 publishers -> 1 subscriber on one topic of the demo session, the same exchange as
//! `fastport-bench`'s fan-in rows: 64 publishes fed per flush, at most 512 messages sent
//! and not yet settled (received by the subscriber and, at QoS 1, `PubAck`ed); the QoS 1
//! subscriber answers every `Deliver` with `DeliverAck`. It stops after exactly `count`
//! messages and prints the wall time (noisy on a shared machine: use it for instruction
//! counts, e.g. with the server under callgrind).
//!
//! Run against a server on ADDR:
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/fastport-server --listen 127.0.0.1:9100 --log warn &
//! cargo bench -p fastport-server --bench fanin_load -- 127.0.0.1:9100 qos1 64 5000   # warm-up
//! callgrind_control -z          # zero the counters
//! cargo bench -p fastport-server --bench fanin_load -- 127.0.0.1:9100 qos1 64 50000
//! callgrind_control -d          # dump: Ir / 50000 = instructions per message
//! ```
//!
//! Arguments: address, `qos0` or `qos1`, payload bytes, messages (defaults: 127.0.0.1:8080
//! qos1 64 100000). Under `cargo bench` (no arguments but `--bench`) it does nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastport_client_core::codec::{Frame, Hello, Publish, Qos, Subscribe};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;
type Error = Box<dyn std::error::Error + Send + Sync>;

const TOPIC: &str = "bench/t";
const PUBLISHERS: usize = 4;
const BATCH: u64 = 64;
const WINDOW: u64 = 512;
const PUBACK: u8 = 0x09;
const DELIVER: u8 = 0x0A;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.is_empty() && std::env::args().any(|a| a == "--bench") {
        return Ok(()); // `cargo bench` runs every bench target: this one needs a server
    }
    let addr = args
        .first()
        .map_or("127.0.0.1:8080", String::as_str)
        .to_owned();
    let qos1 = args.get(1).is_none_or(|q| q == "qos1");
    let payload: usize = args.get(2).map_or(Ok(64), |p| p.parse())?;
    let count: u64 = args.get(3).map_or(Ok(100_000), |n| n.parse())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(addr, qos1, payload, count))
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    pubacked: AtomicU64,
    progress: tokio::sync::Notify,
}

impl Counters {
    fn settled(&self, qos1: bool) -> u64 {
        let received = self.received.load(Ordering::Relaxed);
        if qos1 {
            received.min(self.pubacked.load(Ordering::Relaxed))
        } else {
            received
        }
    }

    /// Takes a batch from the window; `false` once `count` messages were taken.
    async fn acquire(&self, qos1: bool, count: u64) -> bool {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sent = self.sent.load(Ordering::Relaxed);
            if sent >= count {
                return false;
            }
            if sent + BATCH <= self.settled(qos1) + WINDOW {
                self.sent.fetch_add(BATCH, Ordering::Relaxed);
                return true;
            }
            let _ = tokio::time::timeout(Duration::from_millis(1), notified).await;
        }
    }
}

async fn run(addr: String, qos1: bool, payload: usize, count: u64) -> Result<(), Error> {
    let count = count.div_ceil(BATCH) * BATCH;
    let counters = Arc::new(Counters::default());
    let sub = subscribe(connect(&addr).await?).await?;
    let subscriber = tokio::spawn(subscriber(sub, Arc::clone(&counters), qos1, count));
    let mut publishers = Vec::new();
    for _ in 0..PUBLISHERS {
        let ws = connect(&addr).await?;
        let counters = Arc::clone(&counters);
        publishers.push(tokio::spawn(publisher(ws, counters, qos1, payload, count)));
    }
    let start = Instant::now();
    subscriber.await?;
    let elapsed = start.elapsed();
    while qos1 && counters.pubacked.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for publisher in publishers {
        publisher.abort();
    }
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{count} messages ({}, {payload} B) in {:.3} s: {:.0} msgs/s",
        if qos1 { "qos1" } else { "qos0" },
        elapsed.as_secs_f64(),
        rate
    );
    Ok(())
}

async fn connect(addr: &str) -> Result<Ws, Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp).await?;
    let hello = Frame::Hello(Hello {
        keepalive_ms: 60_000,
        session: "demo".into(),
        password: "demo".into(),
        ..Hello::default()
    });
    ws.send(Message::Binary(hello.encode())).await?;
    match next_frame(&mut ws).await? {
        Frame::Welcome(_) => Ok(ws),
        other => Err(format!("expected Welcome, got {other:?}").into()),
    }
}

async fn next_frame(ws: &mut Ws) -> Result<Frame, Error> {
    loop {
        match ws.next().await.ok_or("connection closed")?? {
            Message::Binary(bytes) => return Ok(Frame::decode(bytes)?),
            Message::Close(close) => return Err(format!("closed: {close:?}").into()),
            _ => {}
        }
    }
}

async fn subscribe(mut ws: Ws) -> Result<Ws, Error> {
    let subscribe = Frame::Subscribe(Subscribe {
        request_id: 1,
        presence: false,
        filter: TOPIC.into(),
    });
    ws.send(Message::Binary(subscribe.encode())).await?;
    match next_frame(&mut ws).await? {
        Frame::SubAck(ack) if ack.code.is_ok() => Ok(ws),
        other => Err(format!("expected a good SubAck, got {other:?}").into()),
    }
}

/// Receives (and at QoS 1 acks) until `count` messages arrived.
async fn subscriber(mut ws: Ws, counters: Arc<Counters>, qos1: bool, count: u64) {
    let mut received = 0;
    while let Some(Ok(mut message)) = ws.next().await {
        loop {
            if let Message::Binary(bytes) = message {
                if bytes.first() == Some(&DELIVER) {
                    received += 1;
                    if qos1 {
                        let Ok(Frame::Deliver(deliver)) = Frame::decode(bytes) else {
                            return;
                        };
                        let ack = Frame::DeliverAck {
                            delivery_id: deliver.delivery_id,
                        };
                        if ws.feed(Message::Binary(ack.encode())).await.is_err() {
                            return;
                        }
                    }
                }
            }
            match ws.next().now_or_never() {
                Some(Some(Ok(next))) => message = next,
                Some(_) => return,
                None => break,
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
        counters.received.store(received, Ordering::Relaxed);
        counters.progress.notify_waiters();
        if received >= count {
            return;
        }
    }
}

async fn publisher(ws: Ws, counters: Arc<Counters>, qos1: bool, payload: usize, count: u64) {
    let (mut sink, mut stream) = ws.split();
    let acks = Arc::clone(&counters);
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Binary(bytes) = message {
                if bytes.first() == Some(&PUBACK) {
                    acks.pubacked.fetch_add(1, Ordering::Relaxed);
                    acks.progress.notify_waiters();
                }
            }
        }
    });
    let mut publish = Publish {
        qos: if qos1 {
            Qos::AtLeastOnce
        } else {
            Qos::AtMostOnce
        },
        message_id: 0,
        topic: TOPIC.into(),
        payload: Bytes::from(vec![0x5a; payload]),
    };
    while counters.acquire(qos1, count).await {
        for _ in 0..BATCH {
            if qos1 {
                publish.message_id += 1;
            }
            let frame = Frame::Publish(publish.clone()).encode();
            if sink.feed(Message::Binary(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
