//! Routing throughput of the sans-IO broker core alone: no sockets, no tokio, no tungstenite.
//!
//! Each scenario connects clients to one session, then feeds pre-encoded frames through
//! `Broker::handle_message` and drains `Broker::poll_output`, as the router task does, and
//! reports deliveries (Deliver frames handed to subscribers) per second of wall time and
//! heap allocations per publish. QoS 1 subscribers ack every delivery right after it is
//! delivered, so what is measured is publish + fan-out + ack + receipt. The virtual clock
//! advances 1 ms every 64 publishes and `handle_timeout` runs, so retry timers of acked
//! deliveries come due and are popped as they would be in production. The two wildcard
//! scenarios add, to four subscribers (one exact filter, three wildcard ones), one client
//! holding wildcard filters that match nothing published (80,000 of a few levels, or
//! 10,000 of 64 levels): what matching a topic against many filters costs, and the heap
//! each filter keeps.
//!
//! Run: `cargo bench -p fastport-server --bench routing`, optionally followed by `-- N` (the
//! number of publishes in each of the 5 measured runs per scenario; the default is 100,000)
//! and a word that picks the scenarios whose name contains it (`-- 100000 qos1`), e.g. for a
//! profiler. The wildcard scenarios alone: `-- 2000 wildcards`.

use std::alloc::System;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{Frame, Hello, Publish, Qos, Subscribe};
use fastport_proto::time::Instant;
use fastport_server::auth::{HashCost, SecretHash};
use fastport_server::broker::{Broker, BrokerConfig, ConnId, Output, SessionSettings};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TOPIC: &str = "bench/room/1";
const PAYLOAD: [u8; 64] = [0x5a; 64];
/// Publishes per millisecond of virtual time.
const PUBLISHES_PER_MS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    publishers: u64,
    subscribers: u64,
    qos: Qos,
    /// Wildcard filters that match nothing published, held by one more client.
    idle_filters: u64,
    /// The `i`th of them.
    idle_filter: fn(u64) -> String,
}

/// Filters of the subscribers when the scenario has idle filters: an exact one and three
/// wildcard ones, so that matching, not the hash lookup, finds most of them.
const MATCHING: [&str; 4] = [TOPIC, "bench/+/1", "bench/#", "+/room/+"];

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "qos0 1->16",
        publishers: 1,
        subscribers: 16,
        qos: Qos::AtMostOnce,
        idle_filters: 0,
        idle_filter,
    },
    Scenario {
        name: "qos1 1->16",
        publishers: 1,
        subscribers: 16,
        qos: Qos::AtLeastOnce,
        idle_filters: 0,
        idle_filter,
    },
    Scenario {
        name: "qos0 4->1",
        publishers: 4,
        subscribers: 1,
        qos: Qos::AtMostOnce,
        idle_filters: 0,
        idle_filter,
    },
    Scenario {
        name: "qos1 4->1",
        publishers: 4,
        subscribers: 1,
        qos: Qos::AtLeastOnce,
        idle_filters: 0,
        idle_filter,
    },
    Scenario {
        name: "qos0 1->4 80k wildcards",
        publishers: 1,
        subscribers: 4,
        qos: Qos::AtMostOnce,
        idle_filters: 80_000,
        idle_filter,
    },
    Scenario {
        name: "qos0 1->4 10k deep wildcards",
        publishers: 1,
        subscribers: 4,
        qos: Qos::AtMostOnce,
        idle_filters: 10_000,
        idle_filter: deep_idle_filter,
    },
];

/// Measured runs per scenario; the best and the median are reported, because other work
/// on a shared machine only ever slows a run down.
const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let measured = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    // `cargo bench` passes `--bench`; any other word selects scenarios.
    let only = args
        .iter()
        .find(|a| !a.starts_with('-') && a.parse::<usize>().is_err());
    println!(
        "{:<12} {:>10} {:>16} {:>16} {:>12} {:>15}",
        "scenario", "publishes", "best deliv/s", "median deliv/s", "best ns/del", "allocs/publish"
    );
    for scenario in SCENARIOS {
        if only.is_some_and(|word| !scenario.name.contains(word.as_str())) {
            continue;
        }
        // Warm up past one retry interval (2 s at 64 publishes per ms) so the timer table is
        // in its steady state when measuring starts; with idle filters, matching dominates
        // and a tenth of a run warms the buffers up.
        let warmup = if scenario.idle_filters > 0 {
            measured / 10
        } else {
            2_500 * PUBLISHES_PER_MS
        };
        measure(scenario, warmup, measured);
    }
}

fn measure(scenario: Scenario, warmup: usize, measured: usize) {
    let mut bench = Bench::new(scenario, warmup + RUNS * measured);
    bench.run(0..warmup);
    let mut rates = Vec::new();
    let mut allocs = 0;
    for run in 0..RUNS {
        let start_at = warmup + run * measured;
        let region = Region::new(GLOBAL);
        let start = std::time::Instant::now();
        let delivered = bench.run(start_at..start_at + measured);
        let elapsed = start.elapsed();
        let change = region.change();
        allocs += change.allocations + change.reallocations;
        let expected = measured as u64 * scenario.subscribers;
        assert_eq!(
            delivered, expected,
            "{}: every delivery was sent",
            scenario.name
        );
        rates.push(delivered as f64 / elapsed.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let best = rates[RUNS - 1];
    println!(
        "{:<12} {:>10} {:>16.0} {:>16.0} {:>12.1} {:>15.2}",
        scenario.name,
        measured,
        best,
        rates[RUNS / 2],
        1e9 / best,
        allocs as f64 / (RUNS * measured) as f64,
    );
    if scenario.idle_filters > 0 {
        println!(
            "    heap kept per idle filter: {} B",
            bench.bytes_per_idle_filter
        );
    }
}

/// A broker with `publishers` and `subscribers` connected to one session, and every frame
/// the run will feed it encoded in advance.
struct Bench {
    b: Broker,
    now: Instant,
    scenario: Scenario,
    publishes: Vec<Bytes>,
    acks: Vec<Bytes>,
    /// Deliveries sent to subscribers.
    delivered: u64,
    /// Heap bytes the broker kept per idle filter (its subscription and the index entry).
    bytes_per_idle_filter: i64,
}

impl Bench {
    fn new(scenario: Scenario, publishes: usize) -> Bench {
        let config = BrokerConfig {
            hash_cost: HashCost::Test,
            ..BrokerConfig::default()
        };
        let mut b = Broker::new(config);
        let hash = |s: &str| SecretHash::new(s, HashCost::Test).expect("test-cost hashing works");
        let mut settings = SessionSettings::default();
        settings.max_subscriptions = 100_000;
        b.create_session("bench", hash("pw"), hash("secret"), settings)
            .expect("a fresh broker has room for one session");
        let mut bench = Bench {
            b,
            now: Instant::from_millis(1_000),
            scenario,
            publishes: Vec::new(),
            acks: Vec::new(),
            delivered: 0,
            bytes_per_idle_filter: 0,
        };
        for s in 0..scenario.subscribers {
            let conn = bench.subscriber(s);
            bench.connect(conn, &format!("sub{s}"));
            let filter = match scenario.idle_filters {
                0 => TOPIC,
                _ => MATCHING[s as usize % MATCHING.len()],
            };
            bench.subscribe(conn, filter);
        }
        if scenario.idle_filters > 0 {
            bench.connect(IDLE, "idle");
            let frames: Vec<Bytes> = (0..scenario.idle_filters)
                .map(|i| subscribe(&(scenario.idle_filter)(i)))
                .collect();
            let region = Region::new(GLOBAL);
            for frame in frames {
                bench.b.handle_message(bench.now, IDLE, frame);
                bench.drain();
            }
            let change = region.change();
            // The frames were allocated before the region: their bytes are added back.
            let frame_bytes: usize = (0..scenario.idle_filters)
                .map(|i| subscribe(&(scenario.idle_filter)(i)).len())
                .sum();
            // Growing and shrinking reallocations count in these two already.
            let kept = change.bytes_allocated as i64 - change.bytes_deallocated as i64
                + frame_bytes as i64;
            bench.bytes_per_idle_filter = kept / scenario.idle_filters as i64;
        }
        for p in 0..scenario.publishers {
            bench.connect(ConnId(p), &format!("pub{p}"));
        }
        bench.delivered = 0;
        bench.publishes = (0..publishes)
            // Publisher `k % publishers` sends publish `k`; each numbers its own from 1, as
            // clients do.
            .map(|k| shared(publish(scenario.qos, k / scenario.publishers as usize + 1)))
            .collect();
        if scenario.qos == Qos::AtLeastOnce {
            // Delivery ids are numbered in sequence per session, one per routed publish.
            let first = bench.next_delivery_id();
            bench.acks = (first..first + publishes as u64)
                .map(|delivery_id| shared(Frame::DeliverAck { delivery_id }.encode()))
                .collect();
        }
        bench
    }

    /// The delivery id the session gives next. Delivery ids start at an unpredictable
    /// point per session: one QoS 1 message from a client of its own finds it, and is acked.
    fn next_delivery_id(&mut self) -> u64 {
        self.connect(PROBE, "probe");
        self.b
            .handle_message(self.now, PROBE, publish(Qos::AtLeastOnce, 1));
        let mut delivery_id = None;
        while let Some(out) = self.b.poll_output() {
            if let Output::Send { conn, frame } = out {
                if let (true, Ok(Frame::Deliver(d))) =
                    (conn == self.subscriber(0), Frame::decode_from_server(frame))
                {
                    delivery_id = Some(d.delivery_id);
                }
            }
        }
        // The subscribers are subscribed to the topic: the first of them got it.
        let delivery_id = delivery_id.expect("the probe reached the first subscriber");
        let ack = Frame::DeliverAck { delivery_id }.encode();
        for s in 0..self.scenario.subscribers {
            self.b
                .handle_message(self.now, self.subscriber(s), ack.clone());
            self.drain();
        }
        delivery_id + 1
    }

    fn subscriber(&self, s: u64) -> ConnId {
        ConnId(1_000 + s)
    }

    fn subscribe(&mut self, conn: ConnId, filter: &str) {
        self.b.handle_message(self.now, conn, subscribe(filter));
        self.drain();
    }

    fn connect(&mut self, conn: ConnId, client: &str) {
        self.b.handle_open(self.now, conn, None);
        let hello = Hello {
            keepalive_ms: 300_000,
            session: "bench".into(),
            password: "pw".into(),
            client_id: client.into(),
            ..Hello::default()
        };
        self.feed(conn, Frame::Hello(hello));
    }

    fn feed(&mut self, conn: ConnId, frame: Frame) {
        self.b.handle_message(self.now, conn, frame.encode());
        self.drain();
    }

    /// Publishes `range` (indexes into the pre-encoded frames), round-robin over the
    /// publishers; returns the deliveries sent meanwhile.
    fn run(&mut self, range: std::ops::Range<usize>) -> u64 {
        let before = self.delivered;
        for k in range {
            let publisher = ConnId(k as u64 % self.scenario.publishers);
            self.b
                .handle_message(self.now, publisher, self.publishes[k].clone());
            self.drain();
            if let Some(ack) = self.acks.get(k).cloned() {
                for s in 0..self.scenario.subscribers {
                    self.b
                        .handle_message(self.now, self.subscriber(s), ack.clone());
                }
                self.drain();
            }
            if k % PUBLISHES_PER_MS == 0 {
                self.now += Duration::from_millis(1);
                self.b.handle_timeout(self.now);
                self.drain();
            }
        }
        self.delivered - before
    }

    fn drain(&mut self) {
        while let Some(out) = self.b.poll_output() {
            match out {
                Output::Send { conn, .. } if conn.0 >= 1_000 => self.delivered += 1,
                Output::Receipt { .. } => {}
                Output::Run(job) => {
                    let result = job.run();
                    self.b.handle_job_done(self.now, result);
                }
                Output::Close { conn, reason, .. } => panic!("{conn:?} closed: {reason}"),
                _ => {}
            }
        }
    }
}

/// The client holding the idle filters; below the subscribers' ids, so what it is sent
/// (nothing but its `SubAck`s) does not count as deliveries.
const IDLE: ConnId = ConnId(999);

/// The client whose message finds the first delivery id (below the subscribers' ids too).
const PROBE: ConnId = ConnId(998);

/// The `i`th filter that matches no published topic: some share the topic's first levels,
/// some start with a wildcard, some end in one.
fn idle_filter(i: u64) -> String {
    match i % 4 {
        0 => format!("bench/room{i}/+"),
        1 => format!("+/room/x{i}"),
        2 => format!("sensors/{i}/#"),
        _ => format!("bench/room/1/{i}/#"),
    }
}

/// The `i`th 64-level filter that matches no published topic: what a filter costs when it
/// shares nothing but its depth with the others.
fn deep_idle_filter(i: u64) -> String {
    format!("x{i}{}/+", "/a".repeat(62))
}

/// `Bytes` made from a `Vec` allocate their shared header on the first clone; that happens
/// here, so the measured loop counts only the broker's allocations.
fn shared(frame: Bytes) -> Bytes {
    drop(frame.clone());
    frame
}

fn subscribe(filter: &str) -> Bytes {
    Frame::Subscribe(Subscribe {
        request_id: 1,
        presence: false,
        filter: filter.into(),
    })
    .encode()
}

fn publish(qos: Qos, message_id: usize) -> Bytes {
    Frame::Publish(Publish {
        qos,
        message_id: message_id as u64,
        topic: TOPIC.into(),
        payload: Bytes::from_static(&PAYLOAD),
    })
    .encode()
}
