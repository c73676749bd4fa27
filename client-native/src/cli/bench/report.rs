//! The bench's output: the progress line and the summary, for people or as JSON.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// What was run.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The run's id, in its topics `bench/RUN/N`.
    pub run_id: String,
    /// Publishing clients.
    pub publishers: u32,
    /// Subscribing clients.
    pub subscribers: u32,
    /// Topics.
    pub topics: u32,
    /// Payload bytes before sealing.
    pub size: usize,
    /// 0 or 1.
    pub qos: u8,
    /// Payloads sealed and opened.
    pub encrypted: bool,
    /// Messages per second over all publishers; `None`: flat out.
    pub rate: Option<u64>,
    /// The measured time.
    pub duration: Duration,
    /// The time before it.
    pub warmup: Duration,
}

/// What came of it: counts cover the messages sent after the warmup.
#[derive(Debug)]
pub struct Summary {
    /// What was run.
    pub setup: Setup,
    /// Publishes that succeeded.
    pub sent: u64,
    /// First receipts of a message by a subscriber, over all subscribers.
    pub delivered: u64,
    /// Their payload bytes.
    pub delivered_bytes: u64,
    /// Messages sent that a subscriber never received, over all subscribers.
    pub losses: u64,
    /// Messages a subscriber received more than once (each extra copy).
    pub duplicates: u64,
    /// Failed publishes, the warmup's included.
    pub errors: u64,
    /// What the first failure said.
    pub first_error: Option<String>,
    /// QoS 1: the receipts of the measured messages.
    pub receipts: Option<ReceiptCounts>,
    /// Send-to-receive times in microseconds.
    pub latency: Histogram<u64>,
    /// The process's CPU time from the end of the warmup to the end of the drain.
    pub cpu: Option<Duration>,
    /// The wall-clock time of the same span.
    pub cpu_wall: Duration,
}

/// The receipts of the measured messages, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiptCounts {
    /// `delivered`.
    pub delivered: u64,
    /// `dropped`.
    pub dropped: u64,
    /// `dropped` for a message every subscriber received: a receipt that was wrong.
    pub false_dropped: u64,
    /// `expired`, `retries_exhausted` or `no_subscribers`.
    pub other: u64,
    /// None came before the publisher gave up waiting.
    pub missing: u64,
}

impl ReceiptCounts {
    fn json(&self) -> Value {
        json!({
            "delivered": self.delivered,
            "dropped": self.dropped,
            "false_dropped": self.false_dropped,
            "other": self.other,
            "missing": self.missing,
        })
    }

    fn text(&self) -> String {
        format!(
            "{} delivered  {} dropped ({} of them received by every subscriber)  {} other  \
             {} missing",
            self.delivered, self.dropped, self.false_dropped, self.other, self.missing
        )
    }
}

impl Summary {
    fn per_second(&self, count: u64) -> f64 {
        count as f64 / self.setup.duration.as_secs_f64()
    }

    /// Messages sent and delivered per CPU-second of this process: what one core of the
    /// client stack handles.
    fn per_core(&self) -> Option<f64> {
        let cpu = self.cpu?.as_secs_f64();
        (cpu > 0.0).then(|| (self.sent + self.delivered) as f64 / cpu)
    }

    fn cores(&self) -> Option<f64> {
        let wall = self.cpu_wall.as_secs_f64();
        let cpu = self.cpu?.as_secs_f64();
        (wall > 0.0).then(|| cpu / wall)
    }

    fn percentile(&self, quantile: f64) -> Option<u64> {
        (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(quantile))
    }

    /// The summary as one JSON object.
    pub fn json(&self) -> Value {
        let s = &self.setup;
        let latency = if self.latency.is_empty() {
            Value::Null
        } else {
            json!(self.latency.mean().round())
        };
        json!({
            "run_id": s.run_id,
            "publishers": s.publishers,
            "subscribers": s.subscribers,
            "topics": s.topics,
            "size": s.size,
            "qos": s.qos,
            "encrypted": s.encrypted,
            "rate": s.rate,
            "duration_s": s.duration.as_secs_f64(),
            "warmup_s": s.warmup.as_secs_f64(),
            "sent": self.sent,
            "sent_per_s": self.per_second(self.sent),
            "delivered": self.delivered,
            "delivered_per_s": self.per_second(self.delivered),
            "mb_per_s": self.per_second(self.delivered_bytes) / 1e6,
            "latency_us": {
                "p50": self.percentile(0.5),
                "p90": self.percentile(0.9),
                "p99": self.percentile(0.99),
                "p99_9": self.percentile(0.999),
                "max": self.percentile(1.0),
                "mean": latency,
            },
            "losses": self.losses,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "first_error": self.first_error,
            "receipts": self.receipts.map(|r| r.json()),
            "cpu_s": self.cpu.map(|c| c.as_secs_f64()),
            "cpu_cores": self.cores(),
            "msgs_per_s_per_core": self.per_core(),
        })
    }

    /// The summary for people, one line per figure.
    pub fn text(&self) -> String {
        let s = &self.setup;
        let mut out = format!("fastport {}\n", describe(s));
        let sent = self.per_second(self.sent);
        out += &format!(
            "  sent        {:>12} msgs  {sent:>12.0} msgs/s\n",
            self.sent
        );
        let delivered = self.per_second(self.delivered);
        let mb = self.per_second(self.delivered_bytes) / 1e6;
        out += &format!(
            "  delivered   {:>12} msgs  {delivered:>12.0} msgs/s  {mb:.2} MB/s\n",
            self.delivered
        );
        out += &format!("  latency     {}\n", self.latency_line());
        out += &format!("  losses      {:>12}\n", self.losses);
        out += &format!("  duplicates  {:>12}\n", self.duplicates);
        out += &format!("  errors      {:>12}", self.errors);
        if let Some(e) = &self.first_error {
            out += &format!("  (first: {e})");
        }
        out += "\n";
        if let Some(receipts) = &self.receipts {
            out += &format!("  receipts    {}\n", receipts.text());
        }
        out += &format!("  cpu         {}\n", self.cpu_line());
        out
    }

    fn latency_line(&self) -> String {
        if self.latency.is_empty() {
            return "n/a (nothing delivered)".to_owned();
        }
        let points = [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p99", 0.99),
            ("p99.9", 0.999),
            ("max", 1.0),
        ];
        points
            .iter()
            .map(|(name, q)| format!("{name} {}", micros(self.latency.value_at_quantile(*q))))
            .collect::<Vec<_>>()
            .join("  ")
    }

    fn cpu_line(&self) -> String {
        let (Some(cpu), Some(per_core)) = (self.cpu, self.per_core()) else {
            return "n/a (no /proc/self/stat)".to_owned();
        };
        let cores = self.cores().unwrap_or(0.0);
        format!(
            "{:.2} s ({cores:.2} cores)  {per_core:.0} msgs/s per core (sent + delivered, \
             this process only)",
            cpu.as_secs_f64()
        )
    }
}

/// One line saying what runs: for the start and the summary.
pub fn describe(s: &Setup) -> String {
    let plural = |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let rate = match s.rate {
        Some(rate) => format!("{rate} msgs/s"),
        None => "flat out".to_owned(),
    };
    format!(
        "bench {}: {} -> {} over {}, {} B payloads, QoS {}, {}, {rate}, {} after {} \
         warmup",
        s.run_id,
        plural(s.publishers, "publisher"),
        plural(s.subscribers, "subscriber"),
        plural(s.topics, "topic"),
        s.size,
        s.qos,
        if s.encrypted {
            "encrypted"
        } else {
            "plaintext"
        },
        fastport_client_core::duration::format_duration(s.duration),
        fastport_client_core::duration::format_duration(s.warmup),
    )
}

/// The progress line: elapsed time, phase, counts so far and the rate of the last second.
pub fn progress(elapsed: Duration, phase: &str, sent: u64, delivered: u64, rate: f64) -> String {
    format!(
        "bench {:>5.1}s {phase:<6} sent {sent:>10}  delivered {delivered:>10}  {rate:>10.0} msgs/s",
        elapsed.as_secs_f64()
    )
}

/// Microseconds for people: `850us`, `1.25ms`, `2.1s`.
fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}us"),
        1_000..1_000_000 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let mut latency = super::super::subscriber::new_histogram();
        for us in [100, 200, 300, 400, 1_500] {
            latency.record(us).expect("the histogram grows");
        }
        Summary {
            setup: Setup {
                run_id: "r".into(),
                publishers: 2,
                subscribers: 1,
                topics: 1,
                size: 100,
                qos: 1,
                encrypted: true,
                rate: None,
                duration: Duration::from_secs(2),
                warmup: Duration::from_secs(1),
            },
            sent: 10,
            delivered: 10,
            delivered_bytes: 1_000,
            losses: 0,
            duplicates: 0,
            errors: 0,
            first_error: None,
            receipts: Some(ReceiptCounts {
                delivered: 9,
                dropped: 1,
                false_dropped: 1,
                other: 0,
                missing: 0,
            }),
            latency,
            cpu: Some(Duration::from_secs(4)),
            cpu_wall: Duration::from_secs(2),
        }
    }

    #[test]
    fn rates_are_per_measured_second_and_per_core_per_cpu_second() {
        let json = summary().json();
        assert_eq!(json["delivered_per_s"], 5.0);
        assert_eq!(json["mb_per_s"], 0.0005);
        assert_eq!(json["msgs_per_s_per_core"], 5.0);
        assert_eq!(json["cpu_cores"], 2.0);
        assert_eq!(json["latency_us"]["p50"], 300);
        assert_eq!(json["latency_us"]["max"], 1_500);
        let text = summary().text();
        assert!(text.contains("p50 300us"), "{text}");
        assert!(text.contains("max 1.50ms"), "{text}");
        assert_eq!(json["receipts"]["false_dropped"], 1);
        assert!(
            text.contains("9 delivered  1 dropped (1 of them received by every subscriber)"),
            "{text}"
        );
    }

    #[test]
    fn without_deliveries_the_latencies_are_null() {
        let mut empty = summary();
        empty.latency = super::super::subscriber::new_histogram();
        assert_eq!(empty.json()["latency_us"]["p99"], Value::Null);
        assert!(empty.text().contains("n/a"));
    }
}
