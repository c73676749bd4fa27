//! Session isolation under attack (fastPort only): how long another session's publishes
//! wait for their `PubAck` while one session is flooded, and what the flood costs the
//! server in memory.
//!
//! Each placement is a fresh fastport-server with `--router-shards 2`, `--max-memory` 512
//! MiB and two sessions from a config file:
//! - the *quiet* session: one publisher sending small QoS 1 messages at `--isolation-rate`
//!   per second, evenly spaced (the latency scenario's pacing), to one subscriber that
//!   reads and acks everything. Measured: publish -> `PubAck` (the time the router took to
//!   take the message) and publish -> `Deliver` of every message sent in the window;
//! - the *flood* session: four subscribers that subscribe and then never read their socket
//!   again (kept open), and two publishers sending 1 MiB QoS 1 publishes as fast as the
//!   server takes them: each keeps four in flight, sends a new one for each good `PubAck`
//!   and resends a publish answered `queue_full` after `--isolation-resend-pause` (20 ms).
//!
//! Placements: no flood (baseline), the flood session on the other shard than the quiet
//! one, on the same shard (one router serves both), and, as a control, against a second
//! server process (what the flood costs the quiet session through the shared machine
//! alone). The session names are chosen with the server's own placement,
//! [`fastport_broker::shard_of`]. The server runs with
//! `--slow-consumer-timeout 60s` so the four stay stuck for the whole run instead of being
//! closed after 10 s; its resident memory (VmRSS) is sampled every 20 ms and its VmHWM read
//! at the end; slow-consumer closes come from its `/metrics`. The flood's clients run on a
//! runtime of their own in this process (one thread): the quiet clients' tasks never wait
//! behind theirs, though all share the machine's cores with the server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fastport_client_core::codec::{Frame, Publish, Qos};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::brokers;
use crate::fastport;
use crate::latency::{quantile, Probe, Ticks, GRACE};
use crate::link::Ws;
use crate::report::micros;
use crate::{secs, Args, Result};

use flood::Flood;
use procfs::{load_average, proc_status_kib, sample_rss, CpuClock};

mod flood;
mod procfs;

/// The server's memory budget: `--max-memory`.
pub const MAX_MEMORY: u64 = 512 * 1024 * 1024;
/// Router shards the server runs with.
const SHARDS: usize = 2;
/// Quiet payload: the send time and padding.
const QUIET_PAYLOAD: usize = 64;
/// The quiet session's name; the flood session's is chosen to land on the wanted shard.
const QUIET: &str = "quiet";
const PASSWORD: &str = "isolation-bench-password";
const SECRET: &str = "isolation-bench-secret";
const TOPIC: &str = "bench/t";

/// Where the flood runs, relative to the quiet session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// No flood: the quiet session alone.
    Baseline,
    /// The flood session on the other router shard.
    OtherShard,
    /// The flood session on the quiet session's shard.
    SameShard,
    /// The flood against a second server process, the quiet session's server idle but
    /// for it: a control for what the flood costs through the machine alone (the flood's
    /// clients and server on the same cores) rather than through the quiet one's server.
    OtherServer,
}

impl Placement {
    fn label(self) -> &'static str {
        match self {
            Placement::Baseline => "no flood (baseline)",
            Placement::OtherShard => "flood on the other shard",
            Placement::SameShard => "flood on the same shard",
            Placement::OtherServer => "flood on another server (control)",
        }
    }
}

/// What one placement measured.
#[derive(Debug)]
pub struct Outcome {
    pub placement: Placement,
    /// Quiet publishes sent in the measured window.
    pub sent: u64,
    /// Their publish -> good `PubAck` times, sorted, in microseconds.
    pub acks: Vec<u64>,
    /// Their publish -> `Deliver` times, sorted, in microseconds.
    pub deliveries: Vec<u64>,
    /// Quiet publishes answered with an error code (e.g. `queue_full`).
    pub quiet_refused: u64,
    /// Flood publishes taken (good `PubAck`) and answered `queue_full`.
    pub flood_taken: u64,
    pub flood_refused: u64,
    /// The server's largest VmRSS sampled during the run, and its VmHWM at the end, in KiB.
    pub peak_rss_kib: u64,
    pub hwm_kib: u64,
    /// `fastport_slow_consumer_disconnects_total` at the end.
    pub slow_consumer_closes: u64,
    /// CPU time of the server and of this process over the measured window, in cores
    /// (1.0: one core busy all the time).
    pub server_cpu: f64,
    pub bench_cpu: f64,
    /// /proc/loadavg's 1-minute load when the placement started.
    pub load: String,
}

/// Runs each placement of `--isolation-placements` against its own server.
pub async fn run(args: &Args, server_bin: &Path) -> Result<Vec<Outcome>> {
    let password_hash = hash_secret(server_bin, PASSWORD).await?;
    let secret_hash = hash_secret(server_bin, SECRET).await?;
    let mut outcomes = Vec::new();
    for &placement in &args.isolation_placements {
        let flood = flood_session(placement);
        eprintln!(
            "isolation: {} (quiet on shard {}{}) / quiet {} msg/s ...",
            placement.label(),
            fastport_broker::shard_of(QUIET, SHARDS),
            flood.as_deref().map_or_else(String::new, |name| format!(
                ", {name} on shard {}",
                fastport_broker::shard_of(name, SHARDS)
            )),
            args.isolation_rate
        );
        let config = config_toml(
            flood.as_deref(),
            args.isolation_flood_cache,
            &password_hash,
            &secret_hash,
        );
        let outcome = measure(args, server_bin, placement, flood.as_deref(), &config)
            .await
            .map_err(|e| format!("isolation, {}: {e}", placement.label()))?;
        eprintln!(
            "  PubAck p50 {:?} us, p99 {:?} us, max {:?} us, {} of {} acked; flood {} taken, \
             {} queue_full; peak RSS {} MiB",
            quantile(&outcome.acks, 0.5),
            quantile(&outcome.acks, 0.99),
            outcome.acks.last(),
            outcome.acks.len(),
            outcome.sent,
            outcome.flood_taken,
            outcome.flood_refused,
            outcome.peak_rss_kib / 1024,
        );
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The flood session's name for `placement`: the first `flood-N` the server places where
/// wanted.
fn flood_session(placement: Placement) -> Option<String> {
    let quiet = fastport_broker::shard_of(QUIET, SHARDS);
    let same = match placement {
        Placement::Baseline => return None,
        Placement::OtherShard | Placement::OtherServer => false,
        Placement::SameShard => true,
    };
    (0..)
        .map(|i| format!("flood-{i}"))
        .find(|name| (fastport_broker::shard_of(name, SHARDS) == quiet) == same)
}

/// The server's config file: no demo session, the quiet session and the flood session (if
/// any), default session settings but the flood session's `max_cache_bytes` if given.
fn config_toml(
    flood: Option<&str>,
    flood_cache: Option<u64>,
    password_hash: &str,
    secret_hash: &str,
) -> String {
    let mut config = String::from("demo_session = false\n");
    for name in std::iter::once(QUIET).chain(flood) {
        config.push_str(&format!(
            "\n[[sessions]]\nname = \"{name}\"\npassword_hash = \"{password_hash}\"\n\
             secret_hash = \"{secret_hash}\"\n"
        ));
        if let (true, Some(bytes)) = (name != QUIET, flood_cache) {
            config.push_str(&format!("[sessions.settings]\nmax_cache_bytes = {bytes}\n"));
        }
    }
    config
}

/// `fastport-server hash-secret`: the config file takes hashes without a warning.
async fn hash_secret(server_bin: &Path, secret: &str) -> Result<String> {
    let mut child = Command::new(server_bin)
        .arg("hash-secret")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server_bin.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    stdin.write_all(format!("{secret}\n").as_bytes()).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(format!("fastport-server hash-secret failed: {}", output.status).into());
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

async fn measure(
    args: &Args,
    server_bin: &Path,
    placement: Placement,
    flood: Option<&str>,
    config: &str,
) -> Result<Outcome> {
    let load = load_average();
    let server = start_server(server_bin, config).await?;
    let addr = server.addr;
    let peak_rss = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    tasks.spawn(sample_rss(server.pid, Arc::clone(&peak_rss)));
    let sub = fastport::connect_to(addr, QUIET, PASSWORD).await?;
    let sub = fastport::subscribe(sub, TOPIC).await?;
    let publisher = fastport::connect_to(addr, QUIET, PASSWORD).await?;
    let pause = Duration::from_millis(args.isolation_resend_pause);
    // The control's flood goes to a second server of its own.
    let flood_server = match placement {
        Placement::OtherServer => Some(start_server(server_bin, config).await?),
        _ => None,
    };
    let flood_addr = flood_server.as_ref().map_or(addr, |s| s.addr);
    let flood = match flood {
        Some(name) => Some(Flood::start(flood_addr, name.to_owned(), pause).await?),
        None => None,
    };
    // The flood has been running since before the probe's epoch: the warm-up comes on top.
    let warmup = secs(args.warmup);
    let total = warmup + secs(args.isolation_duration);
    let probe = Arc::new(Probe::new(QUIET_PAYLOAD, warmup, total)?);
    let acks = Arc::new(AckTimes::default());
    let (ticks, pacer) = Ticks::start(args.isolation_rate, total, &probe);
    tasks.spawn(fastport::latency_subscriber(sub, Arc::clone(&probe), true));
    let quiet = quiet_publisher(publisher, Arc::clone(&probe), Arc::clone(&acks), ticks);
    tasks.spawn(quiet);
    tokio::time::sleep(warmup).await;
    let server_clock = CpuClock::start(server.pid);
    let bench_clock = CpuClock::start(std::process::id());
    pacer.await?;
    let (server_cpu, bench_cpu) = (server_clock.cores(), bench_clock.cores());
    tokio::time::sleep(GRACE).await;
    let slow_consumer_closes = metric(addr, "fastport_slow_consumer_disconnects_total").await?;
    let hwm_kib = proc_status_kib(server.pid, "VmHWM:").ok_or("no VmHWM")?;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let (flood_taken, flood_refused) = flood.map_or((0, 0), Flood::stop);
    drop((server, flood_server));
    let (sent, deliveries) = probe.finish()?;
    Ok(Outcome {
        placement,
        sent,
        acks: acks.finish()?,
        deliveries,
        quiet_refused: acks.refused.load(Ordering::Relaxed),
        flood_taken,
        flood_refused,
        peak_rss_kib: peak_rss.load(Ordering::Relaxed),
        hwm_kib,
        slow_consumer_closes,
        server_cpu,
        bench_cpu,
        load,
    })
}

/// Starts fastport-server with `config` and the flags of the scenario.
async fn start_server(server_bin: &Path, config: &str) -> Result<brokers::Server> {
    let max_memory = MAX_MEMORY.to_string();
    let shards = SHARDS.to_string();
    let flags = [
        "--router-shards",
        &shards,
        "--max-memory",
        &max_memory,
        "--slow-consumer-timeout",
        "60s",
        // Below the open-file limit, which the server would otherwise warn about.
        "--max-connections",
        "1000",
    ];
    brokers::start_fastport(server_bin, &flags, Some(config)).await
}

/// The `PubAck`s in `message` (a frame or a batch).
fn pub_acks(message: Message) -> Vec<fastport_client_core::codec::Ack> {
    let Message::Binary(bytes) = message else {
        return Vec::new();
    };
    fastport::frames_of(bytes)
        .filter_map(|frame| match Frame::decode(frame) {
            Ok(Frame::PubAck(ack)) => Some(ack),
            _ => None,
        })
        .collect()
}

/// The quiet publisher's send times and its `PubAck` times.
#[derive(Debug, Default)]
struct AckTimes {
    /// Send times (microseconds since the probe's epoch) of the publishes in the window
    /// not yet acknowledged, by message id.
    pending: Mutex<std::collections::HashMap<u64, u64>>,
    /// Publish -> good `PubAck`, in microseconds.
    samples: Mutex<Vec<u64>>,
    /// Publishes answered with an error code.
    refused: AtomicU64,
}

impl AckTimes {
    fn sent(&self, message_id: u64, at: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(message_id, at);
        }
    }

    fn acked(&self, ack: fastport_client_core::codec::Ack, at: u64) {
        let sent = self.pending.lock().ok().and_then(|mut p| p.remove(&ack.id));
        if !ack.code.is_ok() {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let (Some(sent), Ok(mut samples)) = (sent, self.samples.lock()) {
            samples.push(at.saturating_sub(sent));
        }
    }

    fn finish(&self) -> Result<Vec<u64>> {
        let mut samples = std::mem::take(&mut *self.samples.lock().map_err(|_| "poisoned")?);
        samples.sort_unstable();
        Ok(samples)
    }
}

/// One small QoS 1 publish per tick, stamped with its send time; the send times of those
/// in the window are kept until their `PubAck`.
async fn quiet_publisher(ws: Ws, probe: Arc<Probe>, acks: Arc<AckTimes>, mut ticks: Ticks) {
    let (mut sink, mut stream) = ws.split();
    let reader_probe = Arc::clone(&probe);
    let reader_acks = Arc::clone(&acks);
    let reader = async move {
        while let Some(Ok(message)) = stream.next().await {
            for ack in pub_acks(message) {
                reader_acks.acked(ack, reader_probe.now_us());
            }
        }
    };
    let writer = async move {
        let mut payload = vec![0u8; probe.payload];
        let mut message_id = 0;
        while ticks.next().await {
            message_id += 1;
            probe.stamp(&mut payload);
            let mut stamp = [0u8; 8];
            stamp.copy_from_slice(&payload[..8]);
            let at = u64::from_le_bytes(stamp);
            if probe.in_window(at) {
                acks.sent(message_id, at);
            }
            let publish = Frame::Publish(Publish {
                qos: Qos::AtLeastOnce,
                message_id,
                topic: TOPIC.into(),
                payload: Bytes::copy_from_slice(&payload),
            });
            if sink.send(Message::Binary(publish.encode())).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(reader, writer);
}

/// One sample of the server's `/metrics` (open: the bench sets no metrics token).
async fn metric(addr: SocketAddr, sample: &str) -> Result<u64> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .map_err(|_| "no answer from /metrics in 10 s")??;
    response
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| format!("no sample {sample} in the server's /metrics").into())
}

/// The results as a Markdown table.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| Placement | PubAck p50 | p99 | p99.9 | max | acked / sent | deliver p99 | \
         peak VmRSS | VmHWM | flood taken / queue_full | slow-consumer closes | \
         CPU server / bench | load |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let time = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), micros);
    for o in outcomes {
        let refused = if o.quiet_refused > 0 {
            format!(" ({} refused)", o.quiet_refused)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} / {}{refused} | {} | {} MiB | {} MiB | {} / {} | {} | {:.2} / {:.2} | {} |\n",
            o.placement.label(),
            time(quantile(&o.acks, 0.5)),
            time(quantile(&o.acks, 0.99)),
            time(quantile(&o.acks, 0.999)),
            time(o.acks.last().copied()),
            o.acks.len(),
            o.sent,
            time(quantile(&o.deliveries, 0.99)),
            o.peak_rss_kib / 1024,
            o.hwm_kib / 1024,
            o.flood_taken,
            o.flood_refused,
            o.slow_consumer_closes,
            o.server_cpu,
            o.bench_cpu,
            o.load,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flood_session_lands_on_the_shard_its_placement_names() {
        let quiet = fastport_broker::shard_of(QUIET, SHARDS);
        assert_eq!(flood_session(Placement::Baseline), None);
        let other = flood_session(Placement::OtherShard).expect("a name on the other shard");
        assert_ne!(fastport_broker::shard_of(&other, SHARDS), quiet, "{other}");
        let same = flood_session(Placement::SameShard).expect("a name on the same shard");
        assert_eq!(fastport_broker::shard_of(&same, SHARDS), quiet, "{same}");
    }

    #[test]
    fn only_the_flood_session_gets_the_cache_setting() {
        let config = config_toml(Some("flood-1"), Some(1 << 20), "P", "S");
        let (quiet, flood) = config
            .split_once("name = \"flood-1\"")
            .expect("the flood session");
        assert!(!quiet.contains("max_cache_bytes"), "{config}");
        assert!(flood.contains("max_cache_bytes = 1048576"), "{config}");
        assert!(config.starts_with("demo_session = false"), "{config}");
        assert!(!config_toml(None, None, "P", "S").contains("flood"));
    }
}
