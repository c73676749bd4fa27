//! The Redis engine's work during a measured window (`fastport-redis` brokers): Redis's
//! command counters (`INFO stats` and `INFO commandstats`) and fastPort's journal writes
//! (`fastport_store_writes_total` on `/metrics`, one pipeline, so one round trip, each),
//! read before and after the window and divided by the messages published in it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Result;

/// Counters read at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Redis's `total_commands_processed`.
    commands: u64,
    /// Redis's calls per command (`cmdstat_NAME:calls=N`), by lower-case name.
    calls: BTreeMap<String, u64>,
    /// fastPort's `fastport_store_writes_total`: journal pipelines that succeeded.
    writes: u64,
    /// fastPort's `fastport_store_records_total`: journal records those stored.
    records: u64,
    /// fastPort's `fastport_store_write_seconds_total`: time those writes took.
    write_seconds: f64,
}

/// What the engine did for the messages published between two snapshots.
#[derive(Debug, Clone)]
pub struct Work {
    /// Messages published in the window (QoS 1: acknowledged by the server).
    pub published: u64,
    /// Redis commands processed (including this bench's own `INFO` calls: two).
    pub commands: u64,
    /// Journal writes, each one pipeline and one round trip.
    pub writes: u64,
    /// Journal records stored.
    pub records: u64,
    /// Seconds the journal writes took, all together (each from its start to Redis's
    /// answer).
    pub write_seconds: f64,
    /// Calls per command, the largest first.
    pub calls: Vec<(String, u64)>,
}

impl Work {
    /// The counters' growth from `before` to `after` for `published` messages.
    pub fn between(before: &Snapshot, after: &Snapshot, published: u64) -> Work {
        let mut calls: Vec<(String, u64)> = after
            .calls
            .iter()
            .map(|(name, &n)| {
                let was = before.calls.get(name).copied().unwrap_or(0);
                (name.clone(), n.saturating_sub(was))
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        calls.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Work {
            published,
            commands: after.commands.saturating_sub(before.commands),
            writes: after.writes.saturating_sub(before.writes),
            records: after.records.saturating_sub(before.records),
            write_seconds: (after.write_seconds - before.write_seconds).max(0.0),
            calls,
        }
    }

    /// One line: per published message, Redis commands, journal records and round trips,
    /// and messages per round trip; then the commands per message by name.
    pub fn summary(&self) -> String {
        let per = |n: u64| n as f64 / self.published.max(1) as f64;
        let mut out = format!(
            "{} published: {:.2} Redis commands/msg, {:.2} journal records/msg, {} writes \
             (round trips), {:.1} msgs per write, {:.2} ms per write",
            self.published,
            per(self.commands),
            per(self.records),
            self.writes,
            self.published as f64 / self.writes.max(1) as f64,
            self.write_seconds * 1e3 / self.writes.max(1) as f64,
        );
        if !self.calls.is_empty() {
            out.push_str("; per msg:");
            for (name, n) in &self.calls {
                let _ = write!(out, " {name} {:.2}", per(*n));
            }
        }
        out
    }
}

/// Reads Redis's counters at `redis` and fastPort's journal counters at `fastport`.
pub async fn snapshot(redis: SocketAddr, fastport: SocketAddr) -> Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    for section in ["stats", "commandstats"] {
        let info = redis_info(redis, section).await?;
        for line in info.lines() {
            if let Some(n) = line.strip_prefix("total_commands_processed:") {
                snapshot.commands = n.trim().parse()?;
            } else if let Some(rest) = line.strip_prefix("cmdstat_") {
                // cmdstat_hset:calls=12,usec=34,...
                let (name, stats) = rest.split_once(':').ok_or("bad cmdstat line")?;
                let calls = stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))
                    .ok_or("cmdstat line without calls")?;
                snapshot.calls.insert(name.to_owned(), calls.parse()?);
            }
        }
    }
    let metrics = http_get(fastport, "/metrics").await?;
    for line in metrics.lines() {
        if let Some(n) = line.strip_prefix("fastport_store_writes_total ") {
            snapshot.writes = n.trim().parse()?;
        } else if let Some(n) = line.strip_prefix("fastport_store_records_total ") {
            snapshot.records = n.trim().parse()?;
        } else if let Some(n) = line.strip_prefix("fastport_store_write_seconds_total ") {
            snapshot.write_seconds = n.trim().parse()?;
        }
    }
    Ok(snapshot)
}

/// `INFO section` over RESP: the bulk string Redis answers.
async fn redis_info(addr: SocketAddr, section: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let command = format!("*2\r\n$4\r\nINFO\r\n${}\r\n{section}\r\n", section.len());
    stream.write_all(command.as_bytes()).await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("Redis closed the connection before answering INFO".into());
        }
        reply.extend_from_slice(&buf[..n]);
        // `$LEN\r\n` then LEN bytes and `\r\n`.
        let Some(eol) = reply.windows(2).position(|w| w == b"\r\n") else {
            continue;
        };
        let header = std::str::from_utf8(&reply[..eol])?;
        let len: usize = header
            .strip_prefix('$')
            .ok_or_else(|| format!("unexpected INFO answer {header:?}"))?
            .parse()?;
        let start = eol + 2;
        if reply.len() >= start + len {
            return Ok(String::from_utf8_lossy(&reply[start..start + len]).into_owned());
        }
    }
}

/// The body of `GET path` over HTTP/1.1 (the connection closed by the server after it).
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("HTTP answer without a body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")).into());
    }
    Ok(body.to_owned())
}
