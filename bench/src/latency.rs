//! Latency at a fixed rate: 1 publisher -> 1 subscriber in this process, the publisher paced
//! at `--latency-rate` messages per second, evenly spaced (a pacing thread ticks every
//! 1/rate s on an absolute schedule; the publisher task writes one message per tick, no
//! bursts). Each payload starts with its send time, microseconds since an `Instant` the
//! publisher and the subscriber share, written just before the message goes to the socket;
//! the subscriber takes the difference as it reads the message. Messages sent during the
//! warm-up are not recorded. Percentiles are exact, from the sorted samples.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::brokers::{self, Broker};
use crate::{fastport, mqtt, nats, secs, Args, Result};

/// Time after the last send that late messages are still recorded.
pub const GRACE: Duration = Duration::from_millis(500);

/// What the publisher and the subscriber of one measurement share.
#[derive(Debug)]
pub struct Probe {
    epoch: Instant,
    /// Payload size in bytes.
    pub payload: usize,
    /// The measured window, in microseconds since `epoch`.
    window_us: (u64, u64),
    /// Messages stamped inside the window.
    sent: AtomicU64,
    /// Send-to-receive times of the messages stamped inside the window, in microseconds.
    samples: Mutex<Vec<u64>>,
}

impl Probe {
    /// A probe whose measured window runs from `warmup` to `total` after now, for payloads
    /// of `payload` bytes (at least 8).
    pub fn new(payload: usize, warmup: Duration, total: Duration) -> Result<Probe> {
        Ok(Probe {
            epoch: Instant::now(),
            payload: payload.max(8),
            window_us: (
                u64::try_from(warmup.as_micros())?,
                u64::try_from(total.as_micros())?,
            ),
            sent: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        })
    }

    /// Microseconds since the probe's epoch.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether `t` (microseconds since the epoch) is in the measured window.
    pub fn in_window(&self, t: u64) -> bool {
        (self.window_us.0..self.window_us.1).contains(&t)
    }

    /// Writes the send time into the first 8 bytes of `payload`.
    pub fn stamp(&self, payload: &mut [u8]) {
        let now = self.now_us();
        payload[..8].copy_from_slice(&now.to_le_bytes());
        if self.in_window(now) {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The messages stamped in the window and the latencies recorded, sorted.
    pub fn finish(&self) -> Result<(u64, Vec<u64>)> {
        let mut samples = std::mem::take(&mut *self.samples.lock().map_err(|_| "poisoned")?);
        samples.sort_unstable();
        Ok((self.sent.load(Ordering::Relaxed), samples))
    }

    /// Records the latency of a received payload.
    pub fn received(&self, payload: &[u8]) {
        let now = self.now_us();
        let Some(stamp) = payload.get(..8) else {
            return;
        };
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(stamp);
        let sent = u64::from_le_bytes(bytes);
        if self.in_window(sent) {
            if let Ok(mut samples) = self.samples.lock() {
                samples.push(now.saturating_sub(sent));
            }
        }
    }
}

/// The pacing thread's ticks, one per message to send; ends after the last.
#[derive(Debug)]
pub struct Ticks(mpsc::UnboundedReceiver<()>);

impl Ticks {
    /// Ticks `rate` times per second, evenly spaced, from now until `total` after
    /// `probe`'s epoch, from a pacing thread; the handle ends after the last tick.
    pub fn start(rate: u32, total: Duration, probe: &Probe) -> (Ticks, JoinHandle<()>) {
        let (tick_tx, tick_rx) = mpsc::unbounded_channel();
        let left = total.saturating_sub(probe.epoch.elapsed());
        let pacer = tokio::task::spawn_blocking(move || pace(rate, left, tick_tx));
        (Ticks(tick_rx), pacer)
    }

    pub async fn next(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

/// Ticks `rate` times per second on an absolute schedule (sleeping to the next slot, so
/// a late wake-up does not shift the ones after it) until `total` has passed.
fn pace(rate: u32, total: Duration, ticks: mpsc::UnboundedSender<()>) {
    let interval = Duration::from_secs(1) / rate.max(1);
    let start = Instant::now();
    let mut next = start;
    while next - start < total {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        if ticks.send(()).is_err() {
            return;
        }
        next += interval;
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub broker: Broker,
    pub qos1: bool,
    /// Messages sent in the measured window.
    pub sent: u64,
    /// Latencies of those received, sorted, in microseconds.
    pub samples: Vec<u64>,
}

impl Outcome {
    /// The `q` quantile (nearest rank), in microseconds.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        quantile(&self.samples, q)
    }
}

/// The `q` quantile (nearest rank) of `sorted`.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

pub async fn run(args: &Args, server_bin: &Path) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for &broker in &args.brokers {
        if !broker.pubsub_bench() {
            continue;
        }
        for qos1 in [false, true] {
            if qos1 && !broker.has_qos1() {
                continue;
            }
            eprintln!(
                "latency: {} / QoS {} / {} msg/s ...",
                broker.label(),
                u8::from(qos1),
                args.latency_rate
            );
            let outcome = measure(args, server_bin, broker, qos1)
                .await
                .map_err(|e| format!("latency {} QoS {}: {e}", broker.label(), u8::from(qos1)))?;
            eprintln!(
                "  p50 {:?} us, p99 {:?} us, max {:?} us, {} of {} received",
                outcome.quantile(0.5),
                outcome.quantile(0.99),
                outcome.samples.last(),
                outcome.samples.len(),
                outcome.sent
            );
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

async fn measure(args: &Args, server_bin: &Path, broker: Broker, qos1: bool) -> Result<Outcome> {
    let server = brokers::start(broker, server_bin, false).await?;
    let addr = server.addr;
    let warmup = secs(args.warmup);
    let total = warmup + secs(args.latency_duration);
    let probe = Arc::new(Probe::new(args.latency_payload, warmup, total)?);
    let (tick_tx, tick_rx) = mpsc::unbounded_channel();
    let ticks = Ticks(tick_rx);
    let mut tasks = JoinSet::new();
    let (sub_probe, pub_probe) = (Arc::clone(&probe), Arc::clone(&probe));
    match broker {
        Broker::Fastport | Broker::FastportRedis | Broker::FastportRedisAof => {
            let sub = fastport::subscribe(fastport::connect(addr).await?, fastport::TOPIC).await?;
            tasks.spawn(fastport::latency_subscriber(sub, sub_probe, qos1));
            let publisher = fastport::connect(addr).await?;
            tasks.spawn(fastport::latency_publisher(
                publisher, pub_probe, ticks, qos1,
            ));
        }
        Broker::Mosquitto | Broker::MosquittoWs => {
            let sub = mqtt::subscribe(broker, addr, "lat-sub", mqtt::TOPIC, qos1).await?;
            tasks.spawn(mqtt::latency_subscriber(sub, sub_probe));
            let publisher = mqtt::connect(broker, addr, "lat-pub").await?;
            tasks.spawn(mqtt::latency_publisher(publisher, pub_probe, ticks, qos1));
        }
        Broker::Nats | Broker::NatsWs => {
            let sub = nats::subscribe(broker, addr, nats::SUBJECT).await?;
            tasks.spawn(nats::latency_subscriber(sub, sub_probe));
            let publisher = nats::connect(broker, addr).await?;
            tasks.spawn(nats::latency_publisher(publisher, pub_probe, ticks));
        }
        Broker::Redis => return Err("Redis takes part in idle memory only".into()),
    }
    // The schedule starts at the epoch: the pacing thread starts right away.
    let rate = args.latency_rate;
    let elapsed = probe.epoch.elapsed();
    tokio::task::spawn_blocking(move || pace(rate, total.saturating_sub(elapsed), tick_tx)).await?;
    tokio::time::sleep(GRACE).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    drop(server);
    let (sent, samples) = probe.finish()?;
    Ok(Outcome {
        broker,
        qos1,
        sent,
        samples,
    })
}
