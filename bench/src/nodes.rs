//! Several nodes (`--scenarios nodes`, fastPort only): what a relay hop between nodes
//! costs. Every session is served by one node, its owner (server/src/cluster.rs); a client
//! that reaches another node is relayed to the owner over a WebSocket of that node's own.
//! So "cross-node" here is the path publisher -> owner -> relaying node -> subscriber.
//!
//! Topologies, each on fresh processes: one node on the memory engine and one node on the
//! Redis engine (references, nothing relayed), then two and three nodes sharing one
//! redis-server. The nodes start one after the other, so the first one claims the demo
//! session and serves it; the publisher connects to it, the subscribers to the other nodes
//! (spread evenly), so every delivery crosses a node. Each topology is measured at QoS 0
//! and QoS 1:
//! - throughput: fan-out, 1 publisher -> 16 subscribers, windowed as in
//!   [`throughput`](crate::throughput),
//!   delivered messages per second over `--duration`;
//! - latency: 1 publisher -> 1 subscriber (on the last node) paced at `--latency-rate`,
//!   percentiles over `--latency-duration`, as in
//!   [`latency`](crate::latency).
//!
//! `--runs` rounds; the table gives the median and the range of each cell. Each round
//! checks, on `/metrics`, that the subscribers were relayed as intended.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::task::JoinSet;

use crate::brokers::{self, Server};
use crate::latency::{self, Probe, Ticks};
use crate::throughput::Counters;
use crate::{fastport, report, secs, Args, Result};

/// Subscribers in the throughput measurement.
const SUBSCRIBERS: usize = 16;

/// Nodes, and the engine they run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    pub name: &'static str,
    pub nodes: usize,
    pub redis: bool,
}

pub const TOPOLOGIES: [Topology; 4] = [
    Topology {
        name: "1 node, memory engine",
        nodes: 1,
        redis: false,
    },
    Topology {
        name: "1 node, Redis engine",
        nodes: 1,
        redis: true,
    },
    Topology {
        name: "2 nodes, one Redis",
        nodes: 2,
        redis: true,
    },
    Topology {
        name: "3 nodes, one Redis",
        nodes: 3,
        redis: true,
    },
];

/// One round of one topology at one QoS.
#[derive(Debug)]
pub struct Outcome {
    pub topology: Topology,
    pub qos1: bool,
    /// Fan-out deliveries per second, all subscribers together.
    pub delivered_per_sec: f64,
    /// Subscriber connections that ended before the window did, and QoS 1 receipts that
    /// did not say `delivered` (both should be 0).
    pub faults: u64,
    /// Latency: messages sent in the window, and the latencies received (sorted, µs).
    pub sent: u64,
    pub samples: Vec<u64>,
}

/// The nodes of one measurement, the first serving the demo session; killed when dropped,
/// the nodes before their Redis.
struct Cluster {
    nodes: Vec<Server>,
    _redis: Option<Server>,
}

impl Cluster {
    async fn start(topology: Topology, bin: &Path) -> Result<Cluster> {
        let redis = match topology.redis {
            true => Some(brokers::start_redis(false).await?),
            false => None,
        };
        let mut nodes = Vec::new();
        for i in 0..topology.nodes {
            let node = match &redis {
                Some(redis) => {
                    let url = format!("redis://{}/0", redis.addr);
                    let id = format!("node-{}", i + 1);
                    brokers::start_fastport(bin, &["--redis", &url, "--node-id", &id], None).await?
                }
                None => brokers::start_fastport(bin, &[], None).await?,
            };
            nodes.push(node);
        }
        Ok(Cluster {
            nodes,
            _redis: redis,
        })
    }

    /// The node that serves the session: the publisher's.
    fn owner(&self) -> SocketAddr {
        self.nodes[0].addr
    }

    /// Where subscriber `i` connects: the nodes after the first in turn (the first when
    /// there is no other).
    fn subscriber(&self, i: usize) -> SocketAddr {
        match self.nodes.len() {
            1 => self.nodes[0].addr,
            n => self.nodes[1 + i % (n - 1)].addr,
        }
    }

    /// Fails unless the nodes other than the first relay `expected` connections in all.
    async fn check_relayed(&self, expected: u64) -> Result<()> {
        let mut relayed = 0;
        for node in &self.nodes[1..] {
            relayed += metric(node.addr, "fastport_cluster_relayed_connections").await?;
        }
        match relayed == expected {
            true => Ok(()),
            false => Err(format!("{relayed} connections relayed, expected {expected}").into()),
        }
    }
}

/// Every round runs every topology at QoS 0 and 1, fresh processes each time.
pub async fn run(args: &Args, bin: &Path) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for round in 1..=args.runs {
        for topology in TOPOLOGIES {
            for qos1 in [false, true] {
                eprintln!(
                    "nodes, round {round}: {} / QoS {} ...",
                    topology.name,
                    u8::from(qos1)
                );
                let outcome = measure(args, bin, topology, qos1)
                    .await
                    .map_err(|e| format!("{} / QoS {}: {e}", topology.name, u8::from(qos1)))?;
                eprintln!(
                    "  {:>10.0} delivered msgs/s; latency p50 {:?} us, p99 {:?} us, {} of {} \
                     received{}",
                    outcome.delivered_per_sec,
                    latency::quantile(&outcome.samples, 0.5),
                    latency::quantile(&outcome.samples, 0.99),
                    outcome.samples.len(),
                    outcome.sent,
                    match outcome.faults {
                        0 => String::new(),
                        n => format!(" ({n} lost subscribers or receipts not delivered)"),
                    }
                );
                outcomes.push(outcome);
            }
        }
    }
    Ok(outcomes)
}

async fn measure(args: &Args, bin: &Path, topology: Topology, qos1: bool) -> Result<Outcome> {
    let (delivered_per_sec, faults) = {
        let cluster = Cluster::start(topology, bin).await?;
        fan_out(args, &cluster, qos1).await?
    };
    let cluster = Cluster::start(topology, bin).await?;
    let (sent, samples) = paced(args, &cluster, qos1).await?;
    Ok(Outcome {
        topology,
        qos1,
        delivered_per_sec,
        faults,
        sent,
        samples,
    })
}

/// Fan-out throughput: deliveries per second, and the faults seen.
async fn fan_out(args: &Args, cluster: &Cluster, qos1: bool) -> Result<(f64, u64)> {
    let counters = Arc::new(Counters::new(SUBSCRIBERS, args.window, qos1, u64::MAX));
    let mut tasks = JoinSet::new();
    for i in 0..SUBSCRIBERS {
        let ws = fastport::connect(cluster.subscriber(i)).await?;
        let ws = fastport::subscribe(ws, fastport::TOPIC).await?;
        let counters = Arc::clone(&counters);
        tasks.spawn(async move {
            fastport::subscriber(ws, &counters, i, qos1).await;
            counters.subscriber_lost();
        });
    }
    let ws = fastport::connect(cluster.owner()).await?;
    let payload = Bytes::from(vec![0xA5u8; args.payload.first().copied().unwrap_or(64)]);
    {
        let counters = Arc::clone(&counters);
        tasks.spawn(async move { fastport::publisher(ws, payload, &counters, qos1).await });
    }
    let relayed = if cluster.nodes.len() > 1 {
        SUBSCRIBERS
    } else {
        0
    };
    cluster.check_relayed(relayed as u64).await?;
    tokio::time::sleep(secs(args.warmup)).await;
    let before = counters.delivered();
    let t0 = Instant::now();
    tokio::time::sleep(secs(args.duration)).await;
    let delivered = counters.delivered() - before;
    let elapsed = t0.elapsed().as_secs_f64();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok((delivered as f64 / elapsed, counters.faults()))
}

/// Latency of one publisher on the owner to one subscriber on the last node, paced.
async fn paced(args: &Args, cluster: &Cluster, qos1: bool) -> Result<(u64, Vec<u64>)> {
    let last = cluster.nodes.last().ok_or("no node")?.addr;
    let sub = fastport::subscribe(fastport::connect(last).await?, fastport::TOPIC).await?;
    let publisher = fastport::connect(cluster.owner()).await?;
    let relayed = u64::from(cluster.nodes.len() > 1);
    cluster.check_relayed(relayed).await?;
    let warmup = secs(args.warmup);
    let total = warmup + secs(args.latency_duration);
    let probe = Arc::new(Probe::new(args.latency_payload, warmup, total)?);
    let mut tasks = JoinSet::new();
    tasks.spawn(fastport::latency_subscriber(sub, Arc::clone(&probe), qos1));
    let (ticks, pacer) = Ticks::start(args.latency_rate, total, &probe);
    tasks.spawn(fastport::latency_publisher(
        publisher,
        Arc::clone(&probe),
        ticks,
        qos1,
    ));
    pacer.await?;
    tokio::time::sleep(latency::GRACE).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    probe.finish()
}

/// The value of the unlabelled `name` on `addr`'s `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> Result<u64> {
    let text = crate::store::http_get(addr, "/metrics").await?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| format!("no `{name}` on {addr}/metrics").into())
}

/// The table: per topology and QoS, the median fan-out rate and latency percentiles of the
/// rounds, with their ranges.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| Nodes | QoS | fan-out 1 -> 16, delivered msgs/s | latency p50 | latency p99 | \
         received in window |\n|---|---|---|---|---|---|",
    );
    for qos1 in [false, true] {
        for topology in TOPOLOGIES {
            let cell: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| o.topology == topology && o.qos1 == qos1)
                .collect();
            if cell.is_empty() {
                continue;
            }
            let rates = cell.iter().map(|o| o.delivered_per_sec).collect();
            let p50 = cell
                .iter()
                .filter_map(|o| latency::quantile(&o.samples, 0.5));
            let p99 = cell
                .iter()
                .filter_map(|o| latency::quantile(&o.samples, 0.99));
            let received: usize = cell.iter().map(|o| o.samples.len()).sum();
            let sent: u64 = cell.iter().map(|o| o.sent).sum();
            let faults: u64 = cell.iter().map(|o| o.faults).sum();
            let _ = write!(
                out,
                "\n| {} | {} | {}{} | {} | {} | {received} of {sent} |",
                topology.name,
                u8::from(qos1),
                spread(rates, report::rate),
                match faults {
                    0 => String::new(),
                    n => format!(", {n} faults"),
                },
                spread(p50.map(|us| us as f64).collect(), |us| report::micros(
                    us as u64
                )),
                spread(p99.map(|us| us as f64).collect(), |us| report::micros(
                    us as u64
                )),
            );
        }
    }
    out.push('\n');
    out
}

/// The median in bold, and the range when there are several values.
fn spread(mut values: Vec<f64>, show: impl Fn(f64) -> String) -> String {
    values.sort_by(f64::total_cmp);
    match values.as_slice() {
        [] => "-".to_owned(),
        [one] => format!("**{}**", show(*one)),
        [low, .., high] => format!(
            "**{}** ({} to {})",
            show(values[values.len() / 2]),
            show(*low),
            show(*high)
        ),
    }
}
