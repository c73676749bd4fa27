//! A lean MQTT 3.1.1 client over raw TCP or WebSocket ([`Link`]): packets encoded once,
//! `WRITE_BATCH` PUBLISH packets per write (over WebSocket: per binary message),
//! subscribers count PUBLISH packets by their fixed header.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::brokers::Broker;
use crate::latency::{Probe, Ticks};
use crate::link::{Link, LinkReader, LinkWriter};
use crate::throughput::Counters;
use crate::{Result, WRITE_BATCH};

pub const TOPIC: &str = "bench/t";

/// Opens an MQTT connection (clean session, keepalive 60 s) and waits for a good CONNACK.
pub async fn connect(broker: Broker, addr: SocketAddr, id: &str) -> Result<Link> {
    let mut link = if broker.websocket() {
        Link::ws(&format!("ws://{addr}/mqtt"), Some("mqtt")).await?
    } else {
        Link::tcp(addr).await?
    };
    let mut variable = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 60];
    variable.extend_from_slice(&u16::try_from(id.len())?.to_be_bytes());
    variable.extend_from_slice(id.as_bytes());
    let mut packet = vec![0x10, u8::try_from(variable.len())?];
    packet.extend_from_slice(&variable);
    link.write(&packet).await?;
    link.reader.fill(4).await?;
    let connack = link.reader.buf.split_to(4);
    if connack[0] != 0x20 || connack[3] != 0 {
        return Err(format!("MQTT CONNACK refused: {:02x?}", &connack[..]).into());
    }
    Ok(link)
}

/// Connects and subscribes to `topic` at QoS 0 or 1, waiting for the SUBACK.
pub async fn subscribe(
    broker: Broker,
    addr: SocketAddr,
    id: &str,
    topic: &str,
    qos1: bool,
) -> Result<Link> {
    let mut link = connect(broker, addr, id).await?;
    let qos = u8::from(qos1);
    // SUBSCRIBE, packet id 1, one filter.
    let topic_len = u8::try_from(topic.len())?;
    let mut packet = vec![0x82, 2 + 2 + topic_len + 1, 0x00, 0x01, 0x00, topic_len];
    packet.extend_from_slice(topic.as_bytes());
    packet.push(qos);
    link.write(&packet).await?;
    link.reader.fill(5).await?;
    let suback = link.reader.buf.split_to(5);
    if suback[0] != 0x90 || suback[4] != qos {
        return Err(format!("MQTT SUBACK refused: {:02x?}", &suback[..]).into());
    }
    Ok(link)
}

/// A PUBLISH packet to [`TOPIC`] with `payload`, and where its packet id goes (QoS 1: two
/// bytes, zero until filled in) and where its payload starts.
fn publish_packet(payload: &[u8], qos1: bool) -> (Vec<u8>, usize, usize) {
    let mut packet = vec![if qos1 { 0x32 } else { 0x30 }];
    // Remaining length: MQTT's varint, 7 bits a byte, least significant first.
    let mut remaining = 2 + TOPIC.len() + if qos1 { 2 } else { 0 } + payload.len();
    loop {
        let byte = (remaining % 128) as u8;
        remaining /= 128;
        if remaining == 0 {
            packet.push(byte);
            break;
        }
        packet.push(byte | 0x80);
    }
    packet.extend_from_slice(&[0x00, TOPIC.len() as u8]);
    packet.extend_from_slice(TOPIC.as_bytes());
    let id_at = packet.len();
    if qos1 {
        packet.extend_from_slice(&[0, 0]);
    }
    let payload_at = packet.len();
    packet.extend_from_slice(payload);
    (packet, id_at, payload_at)
}

/// Reads the broker's packets in the background, counting PUBACKs into `counters`.
fn spawn_puback_reader(mut reader: LinkReader, counters: Option<Arc<Counters>>) {
    tokio::spawn(async move {
        read_packets(&mut reader, None, |first, _| {
            if first >> 4 == 4 {
                if let Some(counters) = &counters {
                    counters.pubacked(1);
                }
            }
            Vec::new()
        })
        .await;
    });
}

/// Sends PUBLISH packets to [`TOPIC`], `WRITE_BATCH` per write, as fast as the window
/// allows. QoS 0: encoded once. QoS 1: each with the next packet id (1 to 65,535, then
/// around again; the window keeps far fewer in flight), and the broker's PUBACKs counted.
pub async fn publisher(link: Link, payload: &[u8], counters: &Arc<Counters>, qos1: bool) {
    let (packet, id_at, _) = publish_packet(payload, qos1);
    let mut batch = packet.repeat(WRITE_BATCH);
    let Link { reader, mut writer } = link;
    spawn_puback_reader(reader, Some(Arc::clone(counters)));
    let mut next_id: u16 = 0;
    loop {
        if !counters.acquire_batch().await {
            return;
        }
        if qos1 {
            for k in 0..WRITE_BATCH {
                next_id = next_id % u16::MAX + 1;
                let at = k * packet.len() + id_at;
                batch[at..at + 2].copy_from_slice(&next_id.to_be_bytes());
            }
        }
        if writer.write(&batch).await.is_err() {
            return;
        }
    }
}

/// Reads MQTT packets until the connection ends, calling `on_packet` with each packet's
/// first byte and body; whatever bytes it returns are written to `writer` (once per read).
pub async fn read_packets<F>(
    reader: &mut LinkReader,
    mut writer: Option<&mut LinkWriter>,
    mut on_packet: F,
) where
    F: FnMut(u8, &[u8]) -> Vec<u8>,
{
    let mut replies = Vec::new();
    loop {
        // Parse every complete packet in the buffer.
        loop {
            let buf = &mut reader.buf;
            let mut length = 0usize;
            let mut header = 1;
            let mut complete = false;
            while header < buf.len() && header <= 4 {
                let byte = buf[header];
                length |= usize::from(byte & 0x7f) << (7 * (header - 1));
                header += 1;
                if byte & 0x80 == 0 {
                    complete = true;
                    break;
                }
            }
            if !complete || buf.len() < header + length {
                break;
            }
            let packet = buf.split_to(header + length);
            replies.extend(on_packet(packet[0], &packet[header..]));
        }
        if !replies.is_empty() {
            if let Some(writer) = writer.as_deref_mut() {
                if writer.write(&replies).await.is_err() {
                    return;
                }
            }
            replies.clear();
        }
        if reader.read_more().await.is_err() {
            return;
        }
    }
}

/// A PUBLISH's payload and, for QoS 1, the PUBACK that answers it (else empty).
fn parse_publish(first: u8, body: &[u8]) -> (&[u8], Vec<u8>) {
    let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    if (first >> 1) & 0x03 == 0 {
        return (&body[2 + topic_len..], Vec::new());
    }
    let id = &body[2 + topic_len..4 + topic_len];
    (&body[4 + topic_len..], vec![0x40, 0x02, id[0], id[1]])
}

/// Counts PUBLISH packets by their fixed header; a QoS 1 PUBLISH is answered with a PUBACK
/// (the PUBACKs of one read written together) and counted as its PUBACK is queued.
pub async fn subscriber(link: Link, counters: &Counters, i: usize) {
    let Link {
        mut reader,
        mut writer,
    } = link;
    read_packets(&mut reader, Some(&mut writer), |first, body| {
        if first >> 4 != 3 {
            return Vec::new();
        }
        counters.received(i);
        parse_publish(first, body).1
    })
    .await;
}

/// Latency: sends one PUBLISH per tick of `probe`, stamped with the send time.
pub async fn latency_publisher(link: Link, probe: Arc<Probe>, mut ticks: Ticks, qos1: bool) {
    let (mut packet, id_at, payload_at) = publish_packet(&vec![0; probe.payload], qos1);
    let Link { reader, mut writer } = link;
    spawn_puback_reader(reader, None);
    let mut next_id: u16 = 0;
    while ticks.next().await {
        if qos1 {
            next_id = next_id % u16::MAX + 1;
            packet[id_at..id_at + 2].copy_from_slice(&next_id.to_be_bytes());
        }
        probe.stamp(&mut packet[payload_at..]);
        if writer.write(&packet).await.is_err() {
            return;
        }
    }
}

/// Latency: records every PUBLISH's send-to-receive time (before any PUBACK is written).
pub async fn latency_subscriber(link: Link, probe: Arc<Probe>) {
    let Link {
        mut reader,
        mut writer,
    } = link;
    read_packets(&mut reader, Some(&mut writer), |first, body| {
        if first >> 4 != 3 {
            return Vec::new();
        }
        let (payload, reply) = parse_publish(first, body);
        probe.received(payload);
        reply
    })
    .await;
}
