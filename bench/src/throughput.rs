//! Throughput: fan-in and fan-out, QoS 0 and QoS 1, windowed publishers; the result is the
//! number of messages the subscribers received per second during a fixed window.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinSet;

use crate::brokers::{self, Broker};
use crate::{fastport, mqtt, nats, secs, store, Args, Result, WRITE_BATCH};

/// Subscribers wake waiting publishers every this many messages.
const NOTIFY_EVERY: u64 = 32;

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub publishers: usize,
    pub subscribers: usize,
    /// QoS 1 (acked publishes and deliveries) instead of QoS 0.
    pub qos1: bool,
}

pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "fan-in, QoS 0",
        publishers: 4,
        subscribers: 1,
        qos1: false,
    },
    Scenario {
        name: "fan-out, QoS 0",
        publishers: 1,
        subscribers: 16,
        qos1: false,
    },
    Scenario {
        name: "fan-in, QoS 1",
        publishers: 4,
        subscribers: 1,
        qos1: true,
    },
    Scenario {
        name: "fan-out, QoS 1",
        publishers: 1,
        subscribers: 16,
        qos1: true,
    },
];

/// Whether the bench runs `scenario` on `broker`.
pub fn supports(broker: Broker, scenario: Scenario) -> bool {
    broker.pubsub_bench() && (broker.has_qos1() || !scenario.qos1)
}

#[derive(Debug)]
pub struct Outcome {
    pub broker: Broker,
    pub scenario: Scenario,
    /// Payload size in bytes.
    pub payload: usize,
    /// Deliveries per second, summed over the subscribers.
    pub delivered_per_sec: f64,
    /// Subscriber connections that ended before the measured window did.
    pub subscriber_losses: u64,
    /// fastPort QoS 1: receipts whose status was not `delivered`, over the whole run (within
    /// `max_pending` every subscriber gets and acks each message, so there should be none).
    pub receipts_not_delivered: u64,
    /// fastPort on the Redis engine: what Redis and the journal did in the measured window.
    pub store: Option<store::Work>,
}

/// Counters the client tasks share with the driver, and the publishers' window.
#[derive(Debug)]
pub struct Counters {
    /// Messages the publishers sent (taken from the window), all publishers together.
    sent: AtomicU64,
    /// Messages each subscriber received (QoS 1: received and acked).
    received: Vec<AtomicU64>,
    /// QoS 1: publishes the broker acknowledged, all publishers together.
    pubacked: AtomicU64,
    /// QoS 1: the window also counts publishes not yet acknowledged by the broker.
    qos1: bool,
    subscriber_losses: AtomicU64,
    /// fastPort QoS 1: receipts with another status than `delivered`.
    receipts_not_delivered: AtomicU64,
    /// Woken by subscribers as they receive, for publishers waiting on the window.
    progress: tokio::sync::Notify,
    window: u64,
    /// Most messages the publishers send in all (`u64::MAX`: until stopped).
    limit: u64,
}

impl Counters {
    pub fn new(subscribers: usize, window: u64, qos1: bool, limit: u64) -> Counters {
        Counters {
            sent: AtomicU64::new(0),
            received: (0..subscribers).map(|_| AtomicU64::new(0)).collect(),
            pubacked: AtomicU64::new(0),
            qos1,
            subscriber_losses: AtomicU64::new(0),
            receipts_not_delivered: AtomicU64::new(0),
            progress: tokio::sync::Notify::new(),
            window,
            limit,
        }
    }

    /// Messages received so far, all subscribers together.
    pub fn delivered(&self) -> u64 {
        self.received
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum()
    }

    fn slowest(&self) -> u64 {
        self.received
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    /// A subscriber's connection ended.
    pub fn subscriber_lost(&self) {
        self.subscriber_losses.fetch_add(1, Ordering::Relaxed);
    }

    /// Subscriber connections lost and receipts not `delivered`, so far.
    pub fn faults(&self) -> u64 {
        self.subscriber_losses.load(Ordering::Relaxed)
            + self.receipts_not_delivered.load(Ordering::Relaxed)
    }

    /// Subscriber `i` received one message.
    pub fn received(&self, i: usize) {
        let n = self.received[i].fetch_add(1, Ordering::Relaxed) + 1;
        if n % NOTIFY_EVERY == 0 {
            self.progress.notify_waiters();
        }
    }

    /// A publisher got `n` acknowledgements of its QoS 1 publishes.
    /// A publisher read a receipt.
    pub fn receipt(&self, status: fastport_client_core::codec::ReceiptStatus) {
        if status != fastport_client_core::codec::ReceiptStatus::Delivered {
            self.receipts_not_delivered.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn pubacked(&self, n: u64) {
        let before = self.pubacked.fetch_add(n, Ordering::Relaxed);
        if (before + n) / NOTIFY_EVERY != before / NOTIFY_EVERY {
            self.progress.notify_waiters();
        }
    }

    /// Messages published: QoS 1, acknowledged by the broker; QoS 0, sent.
    fn published(&self) -> u64 {
        if self.qos1 {
            self.pubacked.load(Ordering::Relaxed)
        } else {
            self.sent.load(Ordering::Relaxed)
        }
    }

    /// Messages received by the slowest subscriber and, at QoS 1, acknowledged to the
    /// publishers.
    fn settled(&self) -> u64 {
        let received = self.slowest();
        if self.qos1 {
            received.min(self.pubacked.load(Ordering::Relaxed))
        } else {
            received
        }
    }

    /// Waits until `WRITE_BATCH` more messages fit in the window (at most `window` sent and
    /// not yet settled), then takes them; `false` once the publishers sent `limit`.
    pub async fn acquire_batch(&self) -> bool {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sent = self.sent.load(Ordering::Relaxed);
            if sent >= self.limit {
                return false;
            }
            let in_flight = sent.saturating_sub(self.settled());
            if in_flight + WRITE_BATCH as u64 <= self.window {
                self.sent.fetch_add(WRITE_BATCH as u64, Ordering::Relaxed);
                return true;
            }
            // A lost wake-up costs at most a millisecond.
            let _ = tokio::time::timeout(Duration::from_millis(1), notified).await;
        }
    }
}

/// Every round runs every scenario with every payload on every broker, a fresh server
/// each time.
pub async fn run(args: &Args, server_bin: &Path) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let rounds = (1..=args.runs).flat_map(|r| {
        args.payload
            .iter()
            .flat_map(move |&p| SCENARIOS.map(|s| (r, p, s)))
    });
    for (run, payload, scenario) in rounds {
        for &broker in &args.brokers {
            if !supports(broker, scenario) {
                continue;
            }
            eprintln!(
                "throughput, round {run}: {} / {} / {payload} B ...",
                broker.label(),
                scenario.name
            );
            let outcome = measure(args, server_bin, broker, scenario, payload)
                .await
                .map_err(|e| {
                    format!("{} / {} / {payload} B: {e}", broker.label(), scenario.name)
                })?;
            eprintln!(
                "  {:>12.0} delivered msgs/s{}{}",
                outcome.delivered_per_sec,
                if outcome.subscriber_losses > 0 {
                    format!(
                        " ({} subscriber connections lost)",
                        outcome.subscriber_losses
                    )
                } else {
                    String::new()
                },
                if outcome.receipts_not_delivered > 0 {
                    format!(
                        " ({} receipts not delivered)",
                        outcome.receipts_not_delivered
                    )
                } else {
                    String::new()
                }
            );
            if let Some(work) = &outcome.store {
                eprintln!("  Redis: {}", work.summary());
            }
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

async fn measure(
    args: &Args,
    server_bin: &Path,
    broker: Broker,
    scenario: Scenario,
    payload: usize,
) -> Result<Outcome> {
    let server = brokers::start(broker, server_bin, false).await?;
    let counters = Arc::new(Counters::new(
        scenario.subscribers,
        args.window,
        scenario.qos1,
        u64::MAX,
    ));
    let mut tasks = JoinSet::new();
    let started = start_clients(
        broker,
        server.addr,
        scenario,
        payload,
        &counters,
        &mut tasks,
    )
    .await;
    let outcome = match started {
        Ok(()) => {
            tokio::time::sleep(secs(args.warmup)).await;
            let losses_before = counters.subscriber_losses.load(Ordering::Relaxed);
            let store_before = match &server.redis {
                Some(redis) => Some(store::snapshot(redis.addr, server.addr).await?),
                None => None,
            };
            let published_before = counters.published();
            let before = counters.delivered();
            let t0 = Instant::now();
            tokio::time::sleep(secs(args.duration)).await;
            let after = counters.delivered();
            let elapsed = t0.elapsed().as_secs_f64();
            let published = counters.published() - published_before;
            let losses = counters.subscriber_losses.load(Ordering::Relaxed);
            let store = match (&server.redis, store_before) {
                (Some(redis), Some(before)) => {
                    let after = store::snapshot(redis.addr, server.addr).await?;
                    Some(store::Work::between(&before, &after, published))
                }
                _ => None,
            };
            Ok(Outcome {
                broker,
                scenario,
                payload,
                delivered_per_sec: (after - before) as f64 / elapsed,
                subscriber_losses: losses.max(losses_before),
                receipts_not_delivered: counters.receipts_not_delivered.load(Ordering::Relaxed),
                store,
            })
        }
        Err(e) => Err(e),
    };
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    drop(server);
    outcome
}

/// The scenario of [`fixed_count`]: fan-in or fan-out, QoS 0 or 1.
pub fn fixed_scenario(qos1: bool, fan_out: bool) -> Scenario {
    match (qos1, fan_out) {
        (false, false) => SCENARIOS[0],
        (false, true) => SCENARIOS[1],
        (true, false) => SCENARIOS[2],
        (true, true) => SCENARIOS[3],
    }
}

/// Sends exactly `messages` (rounded up to whole write batches) in `scenario` to the
/// fastPort server already running at `addr`, waits until all are settled and prints the
/// wall time: a fixed amount of work, for instruction counts of the whole server process
/// under callgrind (the time is noisy on a shared machine) or its memory after a load.
pub async fn fixed_count(
    addr: SocketAddr,
    scenario: Scenario,
    payload: usize,
    window: u64,
    messages: u64,
) -> Result<()> {
    let messages = messages.div_ceil(WRITE_BATCH as u64) * WRITE_BATCH as u64;
    let qos1 = scenario.qos1;
    let counters = Arc::new(Counters::new(scenario.subscribers, window, qos1, messages));
    let mut tasks = JoinSet::new();
    let started = start_clients(
        Broker::Fastport,
        addr,
        scenario,
        payload,
        &counters,
        &mut tasks,
    )
    .await;
    let start = Instant::now();
    let finished = async {
        started?;
        while counters.settled() < messages {
            if counters.subscriber_losses.load(Ordering::Relaxed) > 0 {
                return Err("the subscriber's connection ended".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok::<_, crate::Error>(start.elapsed())
    }
    .await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let elapsed = finished?.as_secs_f64();
    println!(
        "{messages} messages (QoS {}, {payload} B, {} {} -> {}) in {elapsed:.3} s: {:.0} msgs/s \
         delivered",
        u8::from(qos1),
        if scenario.subscribers > 1 {
            "fan-out"
        } else {
            "fan-in"
        },
        scenario.publishers,
        scenario.subscribers,
        (messages * scenario.subscribers as u64) as f64 / elapsed
    );
    Ok(())
}

/// Connects every subscriber (and waits for its subscription to be in place), then starts
/// the publishers.
async fn start_clients(
    broker: Broker,
    addr: SocketAddr,
    scenario: Scenario,
    payload_size: usize,
    counters: &Arc<Counters>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    let payload = Bytes::from(vec![0xA5u8; payload_size]);
    let qos1 = scenario.qos1;
    for i in 0..scenario.subscribers {
        let counters = Arc::clone(counters);
        match broker {
            Broker::Fastport | Broker::FastportRedis | Broker::FastportRedisAof => {
                let ws = fastport::connect(addr).await?;
                let ws = fastport::subscribe(ws, fastport::TOPIC).await?;
                tasks.spawn(async move {
                    fastport::subscriber(ws, &counters, i, qos1).await;
                    counters.subscriber_losses.fetch_add(1, Ordering::Relaxed);
                });
            }
            Broker::Mosquitto | Broker::MosquittoWs => {
                let id = format!("sub-{i}");
                let link = mqtt::subscribe(broker, addr, &id, mqtt::TOPIC, qos1).await?;
                tasks.spawn(async move {
                    mqtt::subscriber(link, &counters, i).await;
                    counters.subscriber_losses.fetch_add(1, Ordering::Relaxed);
                });
            }
            Broker::Nats | Broker::NatsWs => {
                let link = nats::subscribe(broker, addr, nats::SUBJECT).await?;
                tasks.spawn(async move {
                    nats::subscriber(link, &counters, i).await;
                    counters.subscriber_losses.fetch_add(1, Ordering::Relaxed);
                });
            }
            Broker::Redis => return Err("Redis takes part in idle memory only".into()),
        }
    }
    for i in 0..scenario.publishers {
        let payload = payload.clone();
        let counters = Arc::clone(counters);
        match broker {
            Broker::Fastport | Broker::FastportRedis | Broker::FastportRedisAof => {
                let ws = fastport::connect(addr).await?;
                tasks.spawn(async move { fastport::publisher(ws, payload, &counters, qos1).await });
            }
            Broker::Mosquitto | Broker::MosquittoWs => {
                let link = mqtt::connect(broker, addr, &format!("pub-{i}")).await?;
                tasks.spawn(async move { mqtt::publisher(link, &payload, &counters, qos1).await });
            }
            Broker::Nats | Broker::NatsWs => {
                let link = nats::connect(broker, addr).await?;
                tasks.spawn(async move { nats::publisher(link, &payload, &counters).await });
            }
            Broker::Redis => return Err("Redis takes part in idle memory only".into()),
        }
    }
    Ok(())
}
