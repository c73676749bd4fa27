//! Comparative benchmark: the same pub/sub scenarios against fastPort, Mosquitto (MQTT over
//! TCP and over WebSocket), NATS (TCP and WebSocket) and, for idle memory, Redis, side by
//! side in one run. Each broker is started here on a free port of 127.0.0.1. fastPort can
//! also run on its Redis engine (`fastport-redis`, `fastport-redis-aof`), each with a
//! redis-server of its own; the throughput rows then also report Redis's commands and the
//! journal's round trips per published message ([`store`]).
//!
//! Three kinds of measurement (`--scenarios`):
//! - throughput ([`throughput`]): fan-in and fan-out at QoS 0 and QoS 1, windowed
//!   publishers, messages received per second over a fixed window;
//! - latency ([`latency`]): 1 publisher -> 1 subscriber paced at a fixed rate, each message
//!   carrying its send time, percentiles of send-to-receive time;
//! - idle memory ([`idle`]): the broker's resident memory before and after 10,000 idle,
//!   subscribed connections;
//! - isolation ([`attack`], fastPort only, not in the default list): another session's
//!   publish-to-ack latency while one session is flooded with 1 MiB QoS 1 messages to
//!   subscribers that never read, the flood on the other router shard or on the same one,
//!   and the server's peak memory against its `--max-memory`;
//! - several nodes ([`nodes`], fastPort only, not in the default list): one, two and three
//!   nodes sharing one Redis, publisher on the node that serves the session, subscribers
//!   relayed through the others: fan-out throughput and paced latency, QoS 0 and 1.
//!
//! The load generators are "lean": they speak each wire protocol directly (frames encoded
//! once, TCP_NODELAY, batched writes), so they do no crypto and little work per message.
//! Payloads are opaque bytes: the fastPort server never opens them.
//!
//! `--write-docs` replaces the generated section at the end of docs/BENCHMARKS.md.
//! `--messages N --server ADDR` instead sends a fixed number of messages to a running
//! fastPort server, for profiling it.

mod attack;
mod brokers;
mod fastport;
mod idle;
mod latency;
mod link;
mod mqtt;
mod nats;
mod nodes;
mod report;
mod store;
mod throughput;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use brokers::Broker;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// Frames (or packets) a publisher writes at once.
const WRITE_BATCH: usize = 64;

#[derive(Debug, Parser)]
#[command(about = "fastPort vs Mosquitto, NATS and Redis: throughput, latency, idle memory")]
struct Args {
    /// What to measure, comma-separated: throughput, latency, idle, isolation, nodes
    /// (isolation and nodes are fastPort only and ignore `--brokers`).
    #[arg(long, value_delimiter = ',', default_value = "throughput,latency,idle")]
    scenarios: Vec<Kind>,
    /// Brokers to run, comma-separated: fastport, mosquitto, mosquitto-ws, nats, nats-ws,
    /// redis (redis takes part in the idle-memory measurement only), and, not in the
    /// default list, fastport-redis (fastport-server with `--redis` on a redis-server of its
    /// own, no persistence) and fastport-redis-aof (the same, Redis with `appendonly yes`,
    /// `appendfsync everysec`); for these two the throughput rows also print Redis's
    /// commands and the journal's round trips per published message.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fastport,mosquitto,mosquitto-ws,nats,nats-ws,redis"
    )]
    brokers: Vec<Broker>,
    /// Throughput, latency and isolation: seconds of load before the measured window starts.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Throughput: seconds in the measured window.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// The fastport-server binary (default: next to this binary, i.e. target/release).
    #[arg(long)]
    fastport_server: Option<PathBuf>,
    /// Throughput: most messages sent and not yet received by the slowest subscriber, all
    /// publishers together. Keeps every broker's queues short: fastPort holds back or sheds
    /// deliveries to a subscriber whose outbound queue is at its budget (8 MiB by default),
    /// the others drop or buffer.
    #[arg(long, default_value_t = 512)]
    window: u64,
    /// Throughput and nodes: rounds over every scenario and broker (nodes: topology); each
    /// cell reports the median and the range.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Throughput: payload sizes in bytes, comma-separated; every scenario runs with each.
    #[arg(long, value_delimiter = ',', default_value = "64,1024")]
    payload: Vec<usize>,
    /// Latency: messages per second the publisher sends, evenly spaced.
    #[arg(long, default_value_t = 2000)]
    latency_rate: u32,
    /// Latency: seconds in the measured window (after `--warmup`).
    #[arg(long, default_value_t = 10)]
    latency_duration: u64,
    /// Latency: payload size in bytes (at least 8: the send time).
    #[arg(long, default_value_t = 64)]
    latency_payload: usize,
    /// Idle memory: connections opened.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Idle memory: seconds to wait after the last connection before reading the memory.
    #[arg(long, default_value_t = 2)]
    idle_settle: u64,
    /// Isolation: placements to run, comma-separated, each against its own server:
    /// baseline (no flood), other-shard (the flood session on the other of 2 router
    /// shards), same-shard (the flood on the quiet session's shard), other-server (the
    /// flood against a second server: a control for what it costs through the machine).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baseline,other-shard,same-shard,other-server"
    )]
    isolation_placements: Vec<attack::Placement>,
    /// Isolation: QoS 1 messages per second the quiet session's publisher sends, evenly
    /// spaced.
    #[arg(long, default_value_t = 200)]
    isolation_rate: u32,
    /// Isolation: seconds in the measured window (after `--warmup`, with the flood running).
    #[arg(long, default_value_t = 10)]
    isolation_duration: u64,
    /// Isolation: the flood session's `max_cache_bytes` (default: the server's, 64 MiB).
    /// Up to 512 MiB, the server's whole `--max-memory` here, to see what a session allowed
    /// the whole budget does to the others.
    #[arg(long, value_parser = clap::value_parser!(u64).range(65_536..=536_870_912))]
    isolation_flood_cache: Option<u64>,
    /// Isolation: milliseconds a flood publisher waits before resending a publish answered
    /// `queue_full` (0: at once, the harshest flood).
    #[arg(long, default_value_t = 20)]
    isolation_resend_pause: u64,
    /// Replace the generated section at the end of this file with the results.
    #[arg(long, num_args = 0..=1, default_missing_value = "docs/BENCHMARKS.md")]
    write_docs: Option<PathBuf>,
    /// Instead of the comparison: send exactly this many messages in the fan-in scenario (4
    /// publishers -> 1 subscriber, `--qos`, the first `--payload`, `--window`) to the
    /// fastPort server already running at `--server`, print the wall time and exit. A fixed
    /// amount of work, for instruction counts of the server under callgrind, or for its
    /// memory after a load (scripts/bench-memory.sh).
    #[arg(long, requires = "server")]
    messages: Option<u64>,
    /// With `--messages`: the running fastPort server (HOST:PORT, demo session enabled).
    #[arg(long)]
    server: Option<SocketAddr>,
    /// With `--messages`: QoS 0 or 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
    /// With `--messages`: the fan-out scenario (1 publisher -> 16 subscribers) instead.
    #[arg(long, requires = "messages")]
    fan_out: bool,
    /// fastPort clients ask for batch messages in their `Hello`, as fastPort's own clients
    /// do: the server packs frames queued together into one WebSocket message, publishers
    /// put each write's frames in one, subscribers their acks. `--batch false` measures one
    /// frame per message.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    batch: bool,
}

/// A kind of measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Throughput,
    Latency,
    Idle,
    Isolation,
    Nodes,
}

/// Everything one run measured.
#[derive(Debug, Default)]
struct Results {
    throughput: Vec<throughput::Outcome>,
    latency: Vec<latency::Outcome>,
    idle: Vec<idle::Outcome>,
    isolation: Vec<attack::Outcome>,
    nodes: Vec<nodes::Outcome>,
    /// The open-file limit (soft) the bench and the brokers it starts run with.
    nofile: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let nofile = raise_nofile();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, nofile))
}

/// Raises the soft open-file limit to the hard one (the brokers started here inherit it)
/// and returns the soft limit in effect.
fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        eprintln!("cannot raise the open-file limit: {e}");
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

async fn run(args: Args, nofile: u64) -> Result<()> {
    fastport::set_batching(args.batch);
    if let (Some(messages), Some(addr)) = (args.messages, args.server) {
        let payload = args.payload.first().copied().unwrap_or(64);
        let scenario = throughput::fixed_scenario(args.qos == 1, args.fan_out);
        return throughput::fixed_count(addr, scenario, payload, args.window, messages).await;
    }
    let server_bin = match &args.fastport_server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("current_exe has no parent")?
            .join("fastport-server"),
    };
    let mut results = Results {
        nofile,
        ..Results::default()
    };
    if args.scenarios.contains(&Kind::Throughput) {
        results.throughput = throughput::run(&args, &server_bin).await?;
    }
    if args.scenarios.contains(&Kind::Latency) {
        results.latency = latency::run(&args, &server_bin).await?;
    }
    if args.scenarios.contains(&Kind::Idle) {
        results.idle = idle::run(&args, &server_bin).await?;
    }
    if args.scenarios.contains(&Kind::Isolation) {
        results.isolation = attack::run(&args, &server_bin).await?;
    }
    if args.scenarios.contains(&Kind::Nodes) {
        results.nodes = nodes::run(&args, &server_bin).await?;
    }
    let tables = report::Tables::new(&results, &args);
    println!("{}", tables.stdout());
    let store: Vec<String> = results
        .throughput
        .iter()
        .filter_map(|o| {
            let work = o.store.as_ref()?;
            Some(format!(
                "- {} / {} / {} B: {}",
                o.broker.label(),
                o.scenario.name,
                o.payload,
                work.summary()
            ))
        })
        .collect();
    if !store.is_empty() {
        println!(
            "Redis engine, in each measured window:\n{}\n",
            store.join("\n")
        );
    }
    if !results.isolation.is_empty() {
        println!("{}", attack::render(&results.isolation));
    }
    if !results.nodes.is_empty() {
        println!("{}", nodes::render(&results.nodes));
    }
    if let Some(path) = &args.write_docs {
        report::write_docs(path, &tables, &results, &args).await?;
        eprintln!("wrote the results into {}", path.display());
    }
    Ok(())
}

/// Seconds as a `Duration`.
fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
