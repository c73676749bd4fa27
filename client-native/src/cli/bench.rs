//! `fastport bench`: a load generator on the library's real client path. Publishers and
//! subscribers are clients of this process, one connection each; payloads carry their
//! publisher, sequence number and send time, so that subscribers measure latency and spot
//! losses and duplicates. Only driving and counting happens here: connecting, sealing,
//! acks and retries are the library's.

mod cpu;
mod live;
mod payload;
mod publisher;
mod report;
mod subscriber;

use std::sync::Arc;
use std::time::Duration;

use fastport_client::{Client, Key, Options, Qos, State, Subscription};
use fastport_client_core::PublishOptions;
use futures_util::future::{join_all, try_join_all};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::args::{BenchArgs, ConnectArgs, MemberArgs};
use super::connect::{self, note};
use super::error::{self, CliError, NOT_DELIVERED};
use live::{Clock, Live};
use payload::HEADER_LEN;
use publisher::{Publisher, PublisherStats, Receipts};
use report::{ReceiptCounts, Setup, Summary};
use subscriber::Tracker;

/// How long subscribers may take, after the last publish settled, to receive what is
/// still on its way.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// Most publishes one publisher has in flight.
const MAX_IN_FLIGHT: usize = 128;
/// Most payload bytes one publisher has in flight (its client's outbox holds 8 MiB).
const MAX_IN_FLIGHT_BYTES: usize = 4 * 1024 * 1024;

/// Runs `fastport bench`.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let setup = check(&args)?;
    let options = client_options(&args)?;
    let (clients, subscriptions) = Clients::connect(&setup, options, args.quiet).await?;
    if !args.quiet {
        note(&report::describe(&setup));
    }
    let run = Run {
        setup: &setup,
        clients: &clients,
        progress: !args.quiet,
    };
    let summary = run.measure(subscriptions).await;
    let closed = clients.closed_error();
    clients.close().await;
    let summary = summary?;
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    verdict(&summary, closed)
}

/// The setup the flags describe, or the usage mistake in them.
fn check(args: &BenchArgs) -> Result<Setup, CliError> {
    if args.size < HEADER_LEN {
        return Err(CliError::usage(format!(
            "--size must be at least {HEADER_LEN} bytes: each payload starts with its \
             publisher, sequence number and send time"
        )));
    }
    if args.duration.is_zero() {
        return Err(CliError::usage("--duration must be longer than 0s"));
    }
    let mut id = [0u8; 4];
    getrandom::getrandom(&mut id)
        .map_err(|e| CliError::runtime(format!("no random run id: {e}")))?;
    Ok(Setup {
        run_id: id.iter().map(|b| format!("{b:02x}")).collect(),
        publishers: args.publishers,
        subscribers: args.subscribers,
        topics: args.topics,
        size: args.size,
        qos: args.qos,
        encrypted: !args.no_encrypt,
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
    })
}

/// Every bench client's options: the session flags, and a fresh random key (unless
/// `--no-encrypt`), built the way `sub` and `pub` build theirs.
fn client_options(args: &BenchArgs) -> Result<Options, CliError> {
    let key = if args.no_encrypt {
        None
    } else {
        let key = Key::generate()
            .map_err(|e| CliError::runtime(format!("cannot make a random key: {e}")))?;
        Some(key.to_base64())
    };
    let member = ConnectArgs {
        member: MemberArgs {
            server: args.connect.server.clone(),
            session: args.connect.session.clone(),
            password: args.connect.password.clone(),
        },
        key,
        passphrase: None,
        client_id: None,
        state_dir: None,
        plaintext: args.no_encrypt,
    };
    connect::options(&member, false)
}

/// The exit status: an error for a client closed for good, for a run where every publish
/// failed, and for losses at QoS 1.
fn verdict(summary: &Summary, closed: Option<CliError>) -> Result<(), CliError> {
    if let Some(e) = closed {
        return Err(e);
    }
    if summary.sent == 0 && summary.errors > 0 {
        let message = summary.first_error.clone().unwrap_or_default();
        return Err(CliError::runtime(message));
    }
    if summary.setup.qos == 1 && summary.losses > 0 {
        return Err(CliError {
            code: NOT_DELIVERED,
            message: format!("{} messages lost at QoS 1", summary.losses),
        });
    }
    Ok(())
}

/// The bench's connections.
struct Clients {
    publishers: Vec<Client>,
    subscribers: Vec<Client>,
    _reporters: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Connects every client at once and subscribes the subscribers to the run's topics.
    /// The first failure ends the bench, with the message `sub` or `pub` would print.
    async fn connect(
        setup: &Setup,
        options: Options,
        quiet: bool,
    ) -> Result<(Clients, Vec<Subscription>), CliError> {
        let total = setup.publishers + setup.subscribers;
        let connecting = (0..total).map(|_| Client::connect(options.clone()));
        let mut subscribers = try_join_all(connecting).await?;
        let publishers = subscribers.split_off(setup.subscribers as usize);
        let filter = format!("bench/{}/+", setup.run_id);
        let subscribing = subscribers.iter().map(|c| c.subscribe(&filter));
        let subscriptions = try_join_all(subscribing).await?;
        // Publishers get no event reporter: at QoS 1 it would wake for every receipt.
        // Their disconnects show in the progress line.
        let reporters = subscribers
            .iter()
            .map(|c| connect::report_events(c, quiet, None))
            .collect();
        let clients = Clients {
            publishers,
            subscribers,
            _reporters: reporters,
        };
        Ok((clients, subscriptions))
    }

    fn all(&self) -> impl Iterator<Item = &Client> {
        self.publishers.iter().chain(&self.subscribers)
    }

    /// The error of a client the server closed for good, if one was.
    fn closed_error(&self) -> Option<CliError> {
        self.all().find_map(|c| match c.state() {
            State::Closed { reason } => Some(error::closed(&reason)),
            _ => None,
        })
    }

    async fn close(&self) {
        join_all(self.all().map(|c| c.close())).await;
    }
}

/// One measurement.
struct Run<'a> {
    setup: &'a Setup,
    clients: &'a Clients,
    progress: bool,
}

impl Run<'_> {
    /// Warms up, measures, drains, and sums up.
    async fn measure(&self, subscriptions: Vec<Subscription>) -> Result<Summary, CliError> {
        let setup = self.setup;
        let clock = Clock::start();
        let live = Arc::new(Live::new(subscriptions.len()));
        let (stop, stopped) = watch::channel(false);
        let receivers = self.spawn_subscribers(subscriptions, clock, &live, &stopped);
        let senders = self.spawn_publishers(clock, &live);
        let progress = self.progress.then(|| self.spawn_progress(clock, &live));

        tokio::time::sleep_until(clock.at(setup.warmup)).await;
        let cpu_start = cpu::process_time();
        let wall_start = clock.elapsed();
        let stats = sum_publishers(senders).await?;
        let drain_end = clock.elapsed() + DRAIN_LIMIT;
        while !live.all_delivered(stats.sent) && clock.elapsed() < drain_end {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cpu = cpu_start
            .zip(cpu::process_time())
            .map(|(start, end)| end.saturating_sub(start));
        let cpu_wall = clock.elapsed().saturating_sub(wall_start);
        let _ = stop.send(true);
        let trackers = try_join_all(receivers).await.map_err(task_failed)?;
        if let Some(progress) = progress {
            progress.abort();
        }
        let receipts = (setup.qos == 1).then(|| receipt_counts(&stats.receipts, &trackers));
        let mut summary = Summary {
            setup: setup.clone(),
            sent: stats.sent,
            delivered: 0,
            delivered_bytes: 0,
            losses: 0,
            duplicates: 0,
            errors: stats.errors,
            first_error: stats.first_error.map(|e| CliError::from(e).message),
            receipts,
            latency: subscriber::new_histogram(),
            cpu,
            cpu_wall,
        };
        for tracker in trackers {
            summary.add(tracker);
        }
        Ok(summary)
    }

    fn spawn_subscribers(
        &self,
        subscriptions: Vec<Subscription>,
        clock: Clock,
        live: &Arc<Live>,
        stopped: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<Tracker>> {
        let measure_from = micros(self.setup.warmup);
        let publishers = self.setup.publishers as usize;
        subscriptions
            .into_iter()
            .enumerate()
            .map(|(index, subscription)| {
                let tracker = Tracker::new(publishers, measure_from);
                let (live, stopped) = (Arc::clone(live), stopped.clone());
                tokio::spawn(subscriber::receive(
                    subscription,
                    tracker,
                    index,
                    clock,
                    live,
                    stopped,
                ))
            })
            .collect()
    }

    fn spawn_publishers(&self, clock: Clock, live: &Arc<Live>) -> Vec<JoinHandle<PublisherStats>> {
        let setup = self.setup;
        let topics: Arc<[String]> = (0..setup.topics)
            .map(|i| format!("bench/{}/{i}", setup.run_id))
            .collect();
        let count = setup.publishers;
        // Each publisher sends its share of the rate.
        let interval = setup
            .rate
            .map(|rate| Duration::from_secs_f64(f64::from(count) / rate as f64));
        let mut options = PublishOptions::default();
        options.qos = if setup.qos == 0 {
            Qos::AtMostOnce
        } else {
            Qos::AtLeastOnce
        };
        options.plaintext = !setup.encrypted;
        let max_in_flight = (MAX_IN_FLIGHT_BYTES / setup.size).clamp(1, MAX_IN_FLIGHT);
        let clients = self.clients.publishers.iter().cloned();
        (0..count)
            .zip(clients)
            .map(|(index, client)| {
                let publisher = Publisher {
                    index,
                    client,
                    topics: Arc::clone(&topics),
                    size: setup.size,
                    options,
                    interval,
                    stagger: f64::from(index) / f64::from(count),
                    max_in_flight,
                    clock,
                    measure_from: setup.warmup,
                    end: setup.warmup + setup.duration,
                };
                tokio::spawn(publisher.run(Arc::clone(live)))
            })
            .collect()
    }

    /// A line on stderr every second until aborted.
    fn spawn_progress(&self, clock: Clock, live: &Arc<Live>) -> JoinHandle<()> {
        let live = Arc::clone(live);
        let clients: Vec<Client> = self.clients.all().cloned().collect();
        let (warmup, end) = (self.setup.warmup, self.setup.warmup + self.setup.duration);
        tokio::spawn(async move {
            let second = Duration::from_secs(1);
            let mut ticks = tokio::time::interval_at(clock.at(second), second);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut last_at, mut last_count) = (Duration::ZERO, 0);
            loop {
                ticks.tick().await;
                let (at, count) = (clock.elapsed(), live.received_count());
                let rate = (count - last_count) as f64 / (at - last_at).as_secs_f64();
                // The phase of the second the rate covers.
                let phase = match last_at + (at - last_at) / 2 {
                    at if at < warmup => "warmup",
                    at if at < end => "run",
                    _ => "drain",
                };
                let mut line = report::progress(at, phase, live.sent_count(), count, rate);
                match disconnected(&clients) {
                    0 => {}
                    n => line += &format!("  ({n} clients disconnected)"),
                }
                note(&line);
                (last_at, last_count) = (at, count);
            }
        })
    }
}

impl Summary {
    /// Adds what one subscriber saw, with its losses against the messages sent.
    fn add(&mut self, tracker: Tracker) {
        self.delivered += tracker.delivered;
        self.delivered_bytes += tracker.bytes;
        self.duplicates += tracker.duplicates;
        self.losses += self.sent.saturating_sub(tracker.delivered);
        // Both histograms grow as needed: adding cannot run out of range.
        let _ = self.latency.add(&tracker.latency);
    }
}

/// Waits for every publisher to finish and adds up what they did.
async fn sum_publishers(
    senders: Vec<JoinHandle<PublisherStats>>,
) -> Result<PublisherStats, CliError> {
    let mut total = PublisherStats::default();
    for sender in senders {
        let one = sender.await.map_err(task_failed)?;
        total.sent += one.sent;
        total.errors += one.errors;
        total.first_error = total.first_error.or(one.first_error);
        total.receipts.add(one.receipts);
    }
    Ok(total)
}

/// The receipts by status, with the `dropped` ones checked against what every subscriber
/// received (the first `MAX_DROPPED_KEPT` of them).
fn receipt_counts(receipts: &Receipts, trackers: &[Tracker]) -> ReceiptCounts {
    let received_by_all =
        |&&(publisher, seq): &&(u32, u64)| trackers.iter().all(|t| t.saw(publisher, seq));
    let false_dropped = if trackers.is_empty() {
        0
    } else {
        receipts
            .dropped_messages
            .iter()
            .filter(received_by_all)
            .count() as u64
    };
    ReceiptCounts {
        delivered: receipts.delivered,
        dropped: receipts.dropped,
        false_dropped,
        other: receipts.other,
        missing: receipts.missing,
    }
}

/// Clients not connected right now.
fn disconnected(clients: &[Client]) -> usize {
    clients
        .iter()
        .filter(|c| !matches!(c.state(), State::Connected { .. }))
        .count()
}

fn task_failed(e: tokio::task::JoinError) -> CliError {
    CliError::runtime(format!("a bench task failed: {e}"))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
