//! A subscriber's side of the bench: counts what arrives, spots duplicates and records
//! latencies.

use std::sync::Arc;

use fastport_client::Subscription;
use hdrhistogram::Histogram;
use tokio::sync::watch;

use super::live::{Clock, Live};
use super::payload::Header;

/// What one subscriber saw of the measured messages.
#[derive(Debug)]
pub struct Tracker {
    measure_from_us: u64,
    /// Per publisher, a bit per sequence number seen.
    seen: Vec<Vec<u64>>,
    /// Messages received for the first time.
    pub delivered: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Microseconds from the publisher's send to the receipt here, per delivered message.
    pub latency: Histogram<u64>,
}

impl Tracker {
    /// A tracker of messages from `publishers` publishers sent from `measure_from_us` on.
    pub fn new(publishers: usize, measure_from_us: u64) -> Tracker {
        Tracker {
            measure_from_us,
            seen: vec![Vec::new(); publishers],
            delivered: 0,
            bytes: 0,
            duplicates: 0,
            latency: new_histogram(),
        }
    }

    /// Whether message `seq` of `publisher` arrived (measured messages only).
    pub fn saw(&self, publisher: u32, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        self.seen
            .get(publisher as usize)
            .and_then(|seen| seen.get(word))
            .is_some_and(|w| w & bit != 0)
    }

    /// Takes note of a payload received at `received_us`; true if it is a measured message
    /// seen for the first time. Warmup messages and foreign payloads are not counted.
    pub fn record(&mut self, payload: &[u8], received_us: u64) -> bool {
        let Some(header) = Header::read(payload) else {
            return false;
        };
        if header.sent_us < self.measure_from_us {
            return false;
        }
        let Some(seen) = self.seen.get_mut(header.publisher as usize) else {
            return false;
        };
        let (word, bit) = ((header.seq / 64) as usize, 1u64 << (header.seq % 64));
        if word >= seen.len() {
            seen.resize(word + 1, 0);
        }
        if seen[word] & bit != 0 {
            self.duplicates += 1;
            return false;
        }
        seen[word] |= bit;
        self.delivered += 1;
        self.bytes += payload.len() as u64;
        let latency = received_us.saturating_sub(header.sent_us);
        // `record` grows the histogram (`saturating_record` would clamp to its size).
        if self.latency.record(latency).is_err() {
            self.latency.saturating_record(latency);
        }
        true
    }
}

/// An empty latency histogram: 3 significant digits, growing to any value recorded.
pub fn new_histogram() -> Histogram<u64> {
    // 3 significant digits are within the 0..=5 the crate supports.
    Histogram::new(3).expect("3 significant digits are supported")
}

/// Receives on `subscription` until `stop` says so or the client closes; subscriber
/// `index` in `live`.
pub async fn receive(
    mut subscription: Subscription,
    mut tracker: Tracker,
    index: usize,
    clock: Clock,
    live: Arc<Live>,
    mut stop: watch::Receiver<bool>,
) -> Tracker {
    loop {
        let message = tokio::select! {
            biased;
            _ = stop.changed() => break,
            message = subscription.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let received_us = clock.now_us();
        live.received(index);
        if tracker.record(&message.payload, received_us) {
            live.delivered(index);
        }
    }
    tracker
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(publisher: u32, seq: u64, sent_us: u64) -> Vec<u8> {
        Header {
            publisher,
            seq,
            sent_us,
        }
        .payload(32)
    }

    #[test]
    fn duplicates_are_counted_once_and_warmup_messages_not_at_all() {
        let mut tracker = Tracker::new(2, 1_000);
        assert!(!tracker.record(&payload(0, 0, 999), 2_000), "warmup");
        assert!(tracker.record(&payload(0, 1, 1_000), 1_500));
        assert!(tracker.record(&payload(1, 1, 1_000), 1_700));
        assert!(tracker.record(&payload(1, 200, 1_100), 1_400));
        assert!(!tracker.record(&payload(1, 1, 1_000), 1_800), "duplicate");
        assert!(
            !tracker.record(&payload(2, 0, 1_000), 1_800),
            "no such publisher"
        );
        assert!(!tracker.record(b"short", 1_800), "foreign");
        assert!(tracker.saw(1, 200) && tracker.saw(0, 1));
        assert!(!tracker.saw(0, 0) && !tracker.saw(1, 2) && !tracker.saw(5, 1));
        assert_eq!(
            (tracker.delivered, tracker.duplicates, tracker.bytes),
            (3, 1, 96)
        );
        assert_eq!(tracker.latency.max(), 700);
        tracker.record(&payload(0, 2, 1_000), 61_000_000);
        assert!(
            tracker.latency.max() >= 60_000_000,
            "grows: {}",
            tracker.latency.max()
        );
        assert_eq!(tracker.latency.min(), 300);
    }
}
