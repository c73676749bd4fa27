//! The lean fastPort client: the wire protocol directly over tokio-tungstenite (Hello/Welcome
//! in the demo session, frames encoded with `fastport_client_core::codec::Frame`,
//! TCP_NODELAY, `WRITE_BATCH` frames fed per flush). Payloads are opaque bytes: the server
//! never opens them, so no crypto runs.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use fastport_client_core::codec::{Frame, Hello, Publish, Qos, Subscribe};
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

/// Opens a WebSocket with TCP_NODELAY and completes Hello/Welcome in the demo session.
pub async fn connect(addr: SocketAddr) -> Result<Ws> {
    connect_to(addr, DEMO_SESSION, DEMO_PASSWORD).await
}

/// Opens a WebSocket with TCP_NODELAY and completes Hello/Welcome in `session`.
pub async fn connect_to(addr: SocketAddr, session: &str, password: &str) -> Result<Ws> {
    let mut ws = ws_connect(&format!("ws://{addr}/ws"), None).await?;
    let hello = Frame::Hello(Hello {
        keepalive_ms: 60_000,
        session: session.into(),
        password: password.into(),
        ..Hello::default()
    });
    ws.send(Message::Binary(hello.encode())).await?;
    match next_frame(&mut ws).await? {
        Frame::Welcome(_) => Ok(ws),
        other => Err(format!("expected Welcome, got {other:?}").into()),
    }
}

async fn next_frame(ws: &mut Ws) -> Result<Frame> {
    loop {
        match ws.next().await.ok_or("connection closed")?? {
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
/// `on_deliver` with each `Deliver` and answering pings, then flushes once. With `qos1`
/// each `Deliver` is decoded and answered with `DeliverAck`. Returns the first attempts
/// acked, or `None` once the connection ended.
async fn handle_ready(
    ws: &mut Ws,
    mut message: Message,
    qos1: bool,
    on_deliver: &mut impl FnMut(&Bytes),
) -> Option<u64> {
    use futures_util::FutureExt;
    let mut acked = 0u64;
    loop {
        if let Message::Binary(bytes) = message {
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
                    ws.feed(Message::Binary(ack.encode())).await.ok()?;
                    if deliver.attempt == 1 {
                        acked += 1;
                    }
                }
                Some(&PING) => {
                    if let Ok(Frame::Ping { nonce }) = Frame::decode(bytes) {
                        let pong = Frame::Pong { nonce }.encode();
                        ws.feed(Message::Binary(pong)).await.ok()?;
                    }
                }
                _ => {}
            }
        }
        // Take what already arrived without waiting, then flush once.
        match ws.next().now_or_never() {
            Some(Some(Ok(next))) => message = next,
            Some(_) => return None,
            None => break,
        }
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
            let (Message::Binary(bytes), Some(counters)) = (message, &counters) else {
                continue;
            };
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

/// Publishes as fast as the window allows: `WRITE_BATCH` frames fed, then a flush.
/// QoS 0: encoded once. QoS 1: a new message id (1, 2, ...) per publish, and the broker's
/// `PubAck`s are counted.
pub async fn publisher(ws: Ws, payload: Bytes, counters: &Arc<Counters>, qos1: bool) {
    let mut publish = publish(payload, qos1);
    let frame = Frame::Publish(publish.clone()).encode();
    let (mut sink, stream) = ws.split();
    spawn_puback_reader(stream, Some(Arc::clone(counters)));
    loop {
        if !counters.acquire_batch().await {
            return;
        }
        for _ in 0..WRITE_BATCH {
            let message = if qos1 {
                publish.message_id += 1;
                Frame::Publish(publish.clone()).encode()
            } else {
                frame.clone()
            };
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
