//! Memory of idle connections: the broker's resident set (VmRSS from /proc/PID/status)
//! before any client connects and after `--idle-connections` clients completed the
//! protocol's handshake and one subscription each (distinct topics), once settled.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::brokers::{self, Broker};
use crate::link::{Link, Ws};
use crate::{fastport, mqtt, nats, secs, Args, Result};

/// Handshakes in progress at once.
pub const CONCURRENCY: usize = 64;

#[derive(Debug)]
pub struct Outcome {
    pub broker: Broker,
    /// VmRSS in KiB before the first client connected.
    pub before_kib: u64,
    /// VmRSS in KiB with every connection open and settled.
    pub after_kib: u64,
    /// Connections that completed the handshake and subscription.
    pub connected: usize,
    /// The broker's soft open-file limit (from /proc/PID/limits).
    pub nofile: Option<u64>,
}

impl Outcome {
    /// (after - before) / connections, in KiB.
    pub fn per_connection_kib(&self) -> f64 {
        self.after_kib.saturating_sub(self.before_kib) as f64 / self.connected.max(1) as f64
    }
}

/// An open, idle connection, held until the measurement ends.
#[derive(Debug)]
#[allow(dead_code)] // held only to keep the connection open
enum Held {
    Ws(Box<Ws>),
    Link(Box<Link>),
}

/// VmRSS of process `pid` in KiB.
fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/PID/status")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS line")?
        .parse()?;
    Ok(kib)
}

/// The soft open-file limit of process `pid`.
fn nofile_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

pub async fn run(args: &Args, server_bin: &Path) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for &broker in &args.brokers {
        eprintln!(
            "idle memory: {} / {} connections ...",
            broker.label(),
            args.idle_connections
        );
        let outcome = measure(args, server_bin, broker)
            .await
            .map_err(|e| format!("idle memory {}: {e}", broker.label()))?;
        eprintln!(
            "  VmRSS {} KiB -> {} KiB with {} connections: {:.1} KiB each",
            outcome.before_kib,
            outcome.after_kib,
            outcome.connected,
            outcome.per_connection_kib()
        );
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn measure(args: &Args, server_bin: &Path, broker: Broker) -> Result<Outcome> {
    let server = brokers::start(broker, server_bin, true).await?;
    let nofile = nofile_of(server.pid);
    if let Some(limit) = nofile {
        if limit < args.idle_connections as u64 + 100 {
            return Err(format!(
                "the broker may open only {limit} files, too few for {} connections",
                args.idle_connections
            )
            .into());
        }
    }
    // Let the start-up (and the readiness probe's connection) settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_kib = vm_rss_kib(server.pid)?;
    let addr = server.addr;
    if broker.fastport() {
        // The first login checks the password (argon2); the others reuse the verified one.
        drop(fastport::connect(addr).await?);
    }
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for i in 0..args.idle_connections {
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            connect(broker, addr, i).await
        });
    }
    let mut held = Vec::with_capacity(args.idle_connections);
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(conn) => held.push(conn),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(format!(
            "{} of {} connections failed, the first with: {e}",
            args.idle_connections - held.len(),
            args.idle_connections
        )
        .into());
    }
    tokio::time::sleep(secs(args.idle_settle)).await;
    let after_kib = vm_rss_kib(server.pid)?;
    let connected = held.len();
    drop(held);
    drop(server);
    Ok(Outcome {
        broker,
        before_kib,
        after_kib,
        connected,
        nofile,
    })
}

/// One idle connection to `broker`, subscribed to its own topic.
async fn connect(broker: Broker, addr: SocketAddr, i: usize) -> Result<Held> {
    Ok(match broker {
        Broker::Fastport | Broker::FastportRedis | Broker::FastportRedisAof => {
            let ws = fastport::connect(addr).await?;
            Held::Ws(Box::new(
                fastport::subscribe(ws, &format!("idle/{i}")).await?,
            ))
        }
        Broker::Mosquitto | Broker::MosquittoWs => {
            let id = format!("idle-{i}");
            let link = mqtt::subscribe(broker, addr, &id, &format!("idle/{i}"), false).await?;
            Held::Link(Box::new(link))
        }
        Broker::Nats | Broker::NatsWs => {
            let link = nats::subscribe(broker, addr, &format!("idle.{i}")).await?;
            Held::Link(Box::new(link))
        }
        Broker::Redis => Held::Link(Box::new(redis_subscribe(addr, &format!("idle.{i}")).await?)),
    })
}

/// Redis: SUBSCRIBE `channel` over raw TCP and wait for the confirmation (`:1`, the count
/// of this connection's subscriptions, ends it).
async fn redis_subscribe(addr: SocketAddr, channel: &str) -> Result<Link> {
    let mut link = Link::tcp(addr).await?;
    let command = format!(
        "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
        channel.len()
    );
    link.write(command.as_bytes()).await?;
    let reply = link.reader.read_until(b":1\r\n").await?;
    if !reply.starts_with(b"*3\r\n$9\r\nsubscribe\r\n") {
        return Err(format!(
            "unexpected SUBSCRIBE reply {:?}",
            String::from_utf8_lossy(&reply)
        )
        .into());
    }
    Ok(link)
}
