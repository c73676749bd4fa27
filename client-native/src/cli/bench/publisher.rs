//! A publisher's side of the bench: publishes numbered, timestamped payloads at a rate or
//! as fast as the window allows, with a bounded number of publishes in flight.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fastport_client::{Client, Error, Published, Receipt};
use fastport_client_core::codec::{Qos, ReceiptStatus};
use fastport_client_core::PublishOptions;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::sleep_until;

use super::live::{Clock, Live};
use super::payload::Header;

/// How long publishes still in flight at the end may take to settle before they count as
/// errors.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// One publisher's part of the run.
#[derive(Debug)]
pub struct Publisher {
    /// Its index, from 0: written in every payload.
    pub index: u32,
    /// Its connection.
    pub client: Client,
    /// The topics to spread messages over.
    pub topics: Arc<[String]>,
    /// Payload size.
    pub size: usize,
    /// QoS and sealing.
    pub options: PublishOptions,
    /// Time between its messages (`None`: as fast as it can).
    pub interval: Option<Duration>,
    /// Where in the interval its messages fall (0 to 1), so that the publishers are not
    /// all due at once.
    pub stagger: f64,
    /// Most of its publishes in flight at once.
    pub max_in_flight: usize,
    /// The shared clock.
    pub clock: Clock,
    /// Messages sent from then on are measured.
    pub measure_from: Duration,
    /// When to stop publishing.
    pub end: Duration,
}

/// What came of one publisher's measured messages.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Published successfully (QoS 1: acknowledged by the server; QoS 0: written).
    pub sent: u64,
    /// Publishes that failed, or did not settle in time at the end.
    pub errors: u64,
    /// What the first failure said.
    pub first_error: Option<Error>,
    /// QoS 1: the receipts of the measured messages.
    pub receipts: Receipts,
}

/// Receipts by status, and which messages were reported `dropped`.
#[derive(Debug, Default)]
pub struct Receipts {
    /// Receipts that said `delivered`.
    pub delivered: u64,
    /// Receipts that said `dropped`.
    pub dropped: u64,
    /// Receipts that said `expired`, `retries_exhausted` or `no_subscribers`.
    pub other: u64,
    /// Receipts that did not come in time at the end.
    pub missing: u64,
    /// `(publisher, seq)` of the first `MAX_DROPPED_KEPT` dropped messages, to check
    /// against what the subscribers received.
    pub dropped_messages: Vec<(u32, u64)>,
}

/// Dropped messages remembered per run for the check against the subscribers.
pub const MAX_DROPPED_KEPT: usize = 100_000;

impl Receipts {
    /// Adds another publisher's.
    pub fn add(&mut self, other: Receipts) {
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.other += other.other;
        self.missing += other.missing;
        let room = MAX_DROPPED_KEPT.saturating_sub(self.dropped_messages.len());
        let kept = other.dropped_messages.into_iter().take(room);
        self.dropped_messages.extend(kept);
    }
}

impl Publisher {
    /// Publishes until the end, then waits for its publishes in flight to settle.
    pub async fn run(self, live: Arc<Live>) -> PublisherStats {
        let mut stats = PublisherStats::default();
        let mut in_flight = FuturesUnordered::new();
        // Receipts come after the subscribers acked: waited for apart from the publishes,
        // so that they do not hold the window of publishes in flight.
        let mut receipts = FuturesUnordered::new();
        let end = self.clock.at(self.end);
        let give_up = end + SETTLE_LIMIT;
        let end_us = micros(self.end);
        let mut seq = 0u64;
        let mut stopping = false;
        loop {
            if stopping && in_flight.is_empty() && receipts.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                Some((seq, receipt)) = receipts.next() => {
                    self.count_receipt(&mut stats.receipts, seq, receipt);
                }
                Some((seq, sent_us, result)) = in_flight.next() => {
                    if let Some(published) = self.settle(&mut stats, &live, sent_us, result) {
                        receipts.push(async move { (seq, published.receipt().await) });
                    }
                }
                () = sleep_until(give_up), if stopping => {
                    stats.errors += in_flight.len() as u64;
                    stats.receipts.missing += receipts.len() as u64;
                    break;
                }
                () = sleep_until(end), if !stopping => stopping = true,
                () = self.ready(seq, &live), if !stopping && in_flight.len() < self.max_in_flight => {
                    let sent_us = self.clock.now_us();
                    if sent_us >= end_us {
                        stopping = true;
                        continue;
                    }
                    live.issued();
                    in_flight.push(self.publish(seq, sent_us));
                    seq += 1;
                }
            }
        }
        stats
    }

    /// Waits until message `seq` is due (with a rate) and fits in the window.
    async fn ready(&self, seq: u64, live: &Live) {
        if let Some(interval) = self.interval {
            let slot = seq as f64 + self.stagger;
            sleep_until(self.clock.at(interval.mul_f64(slot))).await;
        }
        live.window_open().await;
    }

    /// Publishes message `seq`, stamped `sent_us`, on the next topic in turn.
    fn publish(
        &self,
        seq: u64,
        sent_us: u64,
    ) -> impl Future<Output = (u64, u64, Result<Published, Error>)> + '_ {
        let topic = (u64::from(self.index) + seq) % self.topics.len() as u64;
        let topic = &self.topics[topic as usize];
        let header = Header {
            publisher: self.index,
            seq,
            sent_us,
        };
        let payload = header.payload(self.size);
        async move {
            let result = self
                .client
                .publish_with(topic, &payload, self.options)
                .await;
            (seq, sent_us, result)
        }
    }

    /// Counts a settled publish; returns it if its receipt is to be waited for (QoS 1,
    /// measured).
    fn settle(
        &self,
        stats: &mut PublisherStats,
        live: &Live,
        sent_us: u64,
        result: Result<Published, Error>,
    ) -> Option<Published> {
        let measured = sent_us >= micros(self.measure_from);
        match result {
            Ok(published) => {
                live.sent();
                stats.sent += u64::from(measured);
                let qos1 = self.options.qos == Qos::AtLeastOnce;
                (measured && qos1).then_some(published)
            }
            Err(e) => {
                live.failed();
                stats.errors += 1;
                stats.first_error.get_or_insert(e);
                None
            }
        }
    }

    fn count_receipt(&self, receipts: &mut Receipts, seq: u64, receipt: Option<Receipt>) {
        match receipt.map(|r| r.status) {
            Some(ReceiptStatus::Delivered) => receipts.delivered += 1,
            Some(ReceiptStatus::Dropped) => {
                receipts.dropped += 1;
                if receipts.dropped_messages.len() < MAX_DROPPED_KEPT {
                    receipts.dropped_messages.push((self.index, seq));
                }
            }
            Some(_) => receipts.other += 1,
            None => receipts.missing += 1,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
