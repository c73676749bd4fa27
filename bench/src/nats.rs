//! A lean NATS client over raw TCP or WebSocket ([`Link`]), the text protocol written
//! directly: CONNECT `{"verbose":false,"pedantic":false}`, SUB, PUB, PING/PONG and MSG
//! parsing. Publishers write `WRITE_BATCH` PUBs at once (over WebSocket: one binary
//! message), subscribers count MSGs.
//!
//! Why not `async-nats`: over `ws://` (its `websockets` feature) it leaves Nagle's algorithm
//! on (it sets TCP_NODELAY only on plain TCP), which stalls a windowed publisher for
//! delayed ACKs; the lean client gives both NATS transports the same client as MQTT and
//! fastPort.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::brokers::Broker;
use crate::latency::{Probe, Ticks};
use crate::link::{Link, LinkReader, LinkWriter};
use crate::throughput::Counters;
use crate::{Result, WRITE_BATCH};

pub const SUBJECT: &str = "bench.t";

/// Connects: reads the server's INFO, sends CONNECT, `extra` (e.g. a SUB) and PING, and
/// waits for the PONG (so whatever `extra` asked for is in place).
async fn handshake(broker: Broker, addr: SocketAddr, extra: &str) -> Result<Link> {
    let mut link = if broker.websocket() {
        Link::ws(&format!("ws://{addr}"), None).await?
    } else {
        Link::tcp(addr).await?
    };
    let info = link.reader.read_until(b"\r\n").await?;
    if !info.starts_with(b"INFO ") {
        return Err(format!("expected INFO, got {:?}", String::from_utf8_lossy(&info)).into());
    }
    let hello = format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n{extra}PING\r\n");
    link.write(hello.as_bytes()).await?;
    let reply = link.reader.read_until(b"\r\n").await?;
    if &reply[..] != b"PONG\r\n" {
        return Err(format!("expected PONG, got {:?}", String::from_utf8_lossy(&reply)).into());
    }
    Ok(link)
}

/// A connection for publishing.
pub async fn connect(broker: Broker, addr: SocketAddr) -> Result<Link> {
    handshake(broker, addr, "").await
}

/// A connection subscribed to `subject` (sid 1), the subscription confirmed.
pub async fn subscribe(broker: Broker, addr: SocketAddr, subject: &str) -> Result<Link> {
    handshake(broker, addr, &format!("SUB {subject} 1\r\n")).await
}

/// Reads the server's messages until the connection ends, calling `on_msg` with the
/// payload of each MSG; PINGs are answered with PONG when there is a `writer` (the
/// server pings every 2 minutes, longer than any measurement here).
async fn read_messages<F>(
    reader: &mut LinkReader,
    mut writer: Option<&mut LinkWriter>,
    mut on_msg: F,
) where
    F: FnMut(&[u8]),
{
    let mut pongs = 0usize;
    loop {
        loop {
            let buf = &mut reader.buf;
            let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = &buf[..eol];
            if line.starts_with(b"MSG ") {
                // MSG <subject> <sid> [reply-to] <#bytes>
                let size: Option<usize> = line
                    .strip_suffix(b"\r")
                    .and_then(|l| l.rsplit(|&b| b == b' ').next())
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok());
                let Some(size) = size else {
                    return;
                };
                if buf.len() < eol + 1 + size + 2 {
                    break;
                }
                let message = buf.split_to(eol + 1 + size + 2);
                on_msg(&message[eol + 1..eol + 1 + size]);
            } else {
                if line.starts_with(b"PING") {
                    pongs += 1;
                } else if line.starts_with(b"-ERR") {
                    eprintln!("NATS: {}", String::from_utf8_lossy(line).trim_end());
                }
                let _ = buf.split_to(eol + 1);
            }
        }
        if pongs > 0 {
            if let Some(writer) = writer.as_deref_mut() {
                if writer.write(&b"PONG\r\n".repeat(pongs)).await.is_err() {
                    return;
                }
            }
            pongs = 0;
        }
        if reader.read_more().await.is_err() {
            return;
        }
    }
}

fn pub_command(payload: &[u8]) -> (Vec<u8>, usize) {
    let mut command = format!("PUB {SUBJECT} {}\r\n", payload.len()).into_bytes();
    let payload_at = command.len();
    command.extend_from_slice(payload);
    command.extend_from_slice(b"\r\n");
    (command, payload_at)
}

/// Drains what the server sends a publisher (nothing but an occasional PING).
fn spawn_drain(mut reader: LinkReader) {
    tokio::spawn(async move { read_messages(&mut reader, None, |_| {}).await });
}

/// Publishes `WRITE_BATCH` messages per write as the window allows (encoded once).
pub async fn publisher(link: Link, payload: &[u8], counters: &Counters) {
    let batch = pub_command(payload).0.repeat(WRITE_BATCH);
    let Link { reader, mut writer } = link;
    spawn_drain(reader);
    loop {
        if !counters.acquire_batch().await {
            return;
        }
        if writer.write(&batch).await.is_err() {
            return;
        }
    }
}

/// Counts MSGs until the connection ends.
pub async fn subscriber(link: Link, counters: &Counters, i: usize) {
    let Link {
        mut reader,
        mut writer,
    } = link;
    read_messages(&mut reader, Some(&mut writer), |_| counters.received(i)).await;
}

/// Latency: one PUB per tick, stamped with the send time.
pub async fn latency_publisher(link: Link, probe: Arc<Probe>, mut ticks: Ticks) {
    let (mut command, payload_at) = pub_command(&vec![0u8; probe.payload]);
    let Link { reader, mut writer } = link;
    spawn_drain(reader);
    while ticks.next().await {
        probe.stamp(&mut command[payload_at..]);
        if writer.write(&command).await.is_err() {
            return;
        }
    }
}

/// Latency: records every MSG's send-to-receive time.
pub async fn latency_subscriber(link: Link, probe: Arc<Probe>) {
    let Link {
        mut reader,
        mut writer,
    } = link;
    read_messages(&mut reader, Some(&mut writer), |payload| {
        probe.received(payload)
    })
    .await;
}
