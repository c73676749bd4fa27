//! The lean fastPort client: the wire protocol directly over tokio-tungstenite (Hello/Welcome
//! in the demo session, frames encoded with `fastport_client_core::codec::Frame`,
//! TCP_NODELAY, `WRITE_BATCH` frames fed per flush). Payloads are opaque bytes: the server
//! never opens them, so no crypto runs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use fastport_client_core::codec::{batch, Frame, Hello, Publish, Qos, Subscribe};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::latency::{Probe, Ticks};
use crate::link::{ws_connect, Ws};
use crate::throughput::Counters;
use crate::{Result, WRITE_BATCH};

const DEMO_SESSION: &str = "demo";
const DEMO_PASSWORD: &str = "demo";
pub const TOPIC: &str = "bench/t";
const PUBACK: u8 = 0x09;
const RECEIPT: u8 = 0x0D;
const DELIVER: u8 = 0x0A;
const PING: u8 = 0x0F;

/// Whether clients ask for batch messages in their `Hello` (as fastPort's own clients do):
/// the server then packs frames queued together, and publishers and subscribers pack
/// theirs (`--batch`).
static BATCHING: AtomicBool = AtomicBool::new(true);

/// Sets what [`BATCHING`] says, before any client connects.
pub fn set_batching(on: bool) {
    BATCHING.store(on, Ordering::Relaxed);
}

fn batching() -> bool {
    BATCHING.load(Ordering::Relaxed)
}

/// The frames of one received message: itself, or the entries of a batch (a malformed
/// batch yields the entries before the fault).
pub fn frames_of(message: Bytes) -> impl Iterator<Item = Bytes> {
    batch::split(message).map_while(Result::ok)
}

/// Frames to write: one message each, or all in one batch message when batching.
fn packed(frames: &mut Vec<Bytes>) -> Vec<Bytes> {
    if !batching() || frames.len() < 2 {
        return std::mem::take(frames);
    }
    let mut b =
        batch::Builder::with_capacity(frames.iter().map(|f| batch::entry_len(f.len())).sum());
    for frame in frames.drain(..) {
        b.push(&frame);
    }
    vec![b.finish()]
}

/// Opens a WebSocket with TCP_NODELAY and completes Hello/Welcome in the demo session.
pub async fn connect(addr: SocketAddr) -> Result<Ws> {
    connect_to(addr, DEMO_SESSION, DEMO_PASSWORD).await
}

/// Opens a WebSocket with TCP_NODELAY and completes Hello/Welcome in `session`.
pub async fn connect_to(addr: SocketAddr, session: &str, password: &str) -> Result<Ws> {
    let mut ws = ws_connect(&format!("ws://{addr}/ws"), None).await?;
    let hello = Frame::Hello(Hello {
        batch: batching(),
        keepalive_ms: 60_000,
        session: session.into(),
        password: password.into(),
        ..Hello::default()
    });
    ws.send(Message::Binary(hello.encode())).await?;
    match next_frame(&mut ws).await? {
        Frame::Welcome(w) if w.batch == batching() => Ok(ws),
        Frame::Welcome(_) => Err("the server did not answer the batch flag as asked".into()),
        other => Err(format!("expected Welcome, got {other:?}").into()),
    }
}

async fn next_frame(ws: &mut Ws) -> Result<Frame> {
    loop {
        match ws.next().await.ok_or("connection closed")?? {
            Message::Binary(bytes) if batch::is_batch(&bytes) => {
                return Err("a batch where a single answer was expected".into())
            }
            Message::Binary(bytes) => return Ok(Frame::decode(bytes)?),
            Message::Close(close) => return Err(format!("closed: {close:?}").into()),
            _ => {}
        }
    }
}

/// Subscribes to `filter` and waits for a good `SubAck`.
pub async fn subscribe(mut ws: Ws, filter: &str) -> Result<Ws> {
    let subscribe = Frame::Subscribe(Subscribe {
        request_id: 1,
        presence: false,
        filter: filter.into(),
    });
    ws.send(Message::Binary(subscribe.encode())).await?;
    match next_frame(&mut ws).await? {
        Frame::SubAck(ack) if ack.code.is_ok() => Ok(ws),
        other => Err(format!("expected a good SubAck, got {other:?}").into()),
    }
}

/// Handles every frame already received without waiting (starting with `message`), calling
/// `on_deliver` with each `Deliver` and answering pings, then writes the answers (one
/// batch message when batching) and flushes once. With `qos1` each `Deliver` is decoded
/// and answered with `DeliverAck`. Returns the first attempts acked, or `None` once the
/// connection ended.
async fn handle_ready(
    ws: &mut Ws,
    mut message: Message,
    qos1: bool,
    on_deliver: &mut impl FnMut(&Bytes),
) -> Option<u64> {
    use futures_util::FutureExt;
    let mut acked = 0u64;
    let mut answers = Vec::new();
    loop {
        if let Message::Binary(bytes) = message {
            for bytes in frames_of(bytes) {
                match bytes.first() {
                    Some(&DELIVER) if !qos1 => on_deliver(&bytes),
                    Some(&DELIVER) => {
                        let Ok(Frame::Deliver(deliver)) = Frame::decode(bytes) else {
                            return None;
                        };
                        on_deliver(&deliver.payload);
                        let ack = Frame::DeliverAck {
                            delivery_id: deliver.delivery_id,
                        };
                        answers.push(ack.encode());
                        if deliver.attempt == 1 {
                            acked += 1;
                        }
                    }
                    Some(&PING) => {
                        if let Ok(Frame::Ping { nonce }) = Frame::decode(bytes) {
                            answers.push(Frame::Pong { nonce }.encode());
                        }
                    }
                    _ => {}
                }
            }
        }
        // Take what already arrived without waiting, then write and flush once.
        match ws.next().now_or_never() {
            Some(Some(Ok(next))) => message = next,
            Some(_) => return None,
            None => break,
        }
    }
    for answer in packed(&mut answers) {
        ws.feed(Message::Binary(answer)).await.ok()?;
    }
    ws.flush().await.ok()?;
    Some(acked)
}

/// Counts `Deliver` frames by their type byte; answers pings. With `qos1` it decodes each
/// `Deliver`, answers it with `DeliverAck`, and counts it once the ack is written (acks of
/// every frame already received are fed, then flushed together).
pub async fn subscriber(mut ws: Ws, counters: &Counters, i: usize, qos1: bool) {
    while let Some(Ok(message)) = ws.next().await {
        let mut count = |_: &Bytes| {
            if !qos1 {
                counters.received(i);
            }
        };
        let Some(acked) = handle_ready(&mut ws, message, qos1, &mut count).await else {
            return;
        };
        for _ in 0..acked {
            counters.received(i);
        }
    }
}

/// Latency: records each `Deliver`'s send-to-receive time as it is read (QoS 1: before its
/// `DeliverAck` is written).
pub async fn latency_subscriber(mut ws: Ws, probe: Arc<Probe>, qos1: bool) {
    while let Some(Ok(message)) = ws.next().await {
        let mut record = |payload: &Bytes| {
            if qos1 {
                probe.received(payload);
            } else if let Ok(Frame::Deliver(deliver)) = Frame::decode(payload.clone()) {
                probe.received(&deliver.payload);
            }
        };
        if handle_ready(&mut ws, message, qos1, &mut record)
            .await
            .is_none()
        {
            return;
        }
    }
}

/// Reads the server's frames in the background, counting good `PubAck`s and the QoS 1
/// receipts by status into `counters`; everything else is drained so the socket never
/// backs up.
fn spawn_puback_reader(
    mut stream: futures_util::stream::SplitStream<Ws>,
    counters: Option<Arc<Counters>>,
) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let (Message::Binary(message), Some(counters)) = (message, &counters) else {
                continue;
            };
            for bytes in frames_of(message) {
                match bytes.first() {
                    Some(&PUBACK) => {
                        if let Ok(Frame::PubAck(ack)) = Frame::decode(bytes) {
                            if ack.code.is_ok() {
                                counters.pubacked(1);
                            }
                        }
                    }
                    Some(&RECEIPT) => {
                        if let Ok(Frame::Receipt(receipt)) = Frame::decode(bytes) {
                            counters.receipt(receipt.status);
                        }
                    }
                    _ => {}
                }
            }
        }
    });
}

fn publish(payload: Bytes, qos1: bool) -> Publish {
    Publish {
        qos: if qos1 {
            Qos::AtLeastOnce
        } else {
            Qos::AtMostOnce
        },
        message_id: 0,
        topic: TOPIC.into(),
        payload,
    }
}

/// Publishes as fast as the window allows: `WRITE_BATCH` frames fed (when batching: in one
/// batch message), then a flush. QoS 0: encoded once. QoS 1: a new message id (1, 2, ...)
/// per publish, and the broker's `PubAck`s are counted.
pub async fn publisher(ws: Ws, payload: Bytes, counters: &Arc<Counters>, qos1: bool) {
    let mut publish = publish(payload, qos1);
    let frame = Frame::Publish(publish.clone()).encode();
    let (mut sink, stream) = ws.split();
    spawn_puback_reader(stream, Some(Arc::clone(counters)));
    let mut frames = Vec::with_capacity(WRITE_BATCH);
    loop {
        if !counters.acquire_batch().await {
            return;
        }
        for _ in 0..WRITE_BATCH {
            frames.push(if qos1 {
                publish.message_id += 1;
                Frame::Publish(publish.clone()).encode()
            } else {
                frame.clone()
            });
        }
        for message in packed(&mut frames) {
            if sink.feed(Message::Binary(message)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Latency: one `Publish` per tick, stamped with the send time, written and flushed.
pub async fn latency_publisher(ws: Ws, probe: Arc<Probe>, mut ticks: Ticks, qos1: bool) {
    let mut publish = publish(Bytes::new(), qos1);
    let (mut sink, stream) = ws.split();
    spawn_puback_reader(stream, None);
    let mut payload = vec![0u8; probe.payload];
    while ticks.next().await {
        if qos1 {
            publish.message_id += 1;
        }
        probe.stamp(&mut payload);
        publish.payload = Bytes::copy_from_slice(&payload);
        let frame = Frame::Publish(publish.clone()).encode();
        if sink.send(Message::Binary(frame)).await.is_err() {
            return;
        }
    }
}
