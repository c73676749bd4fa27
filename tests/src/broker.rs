//! The real broker core as the simulation runs it: password checks inline, every frame
//! it takes in and sends out recorded, and the fault layer at its edge.

use std::collections::BTreeMap;

use bytes::Bytes;
use std::time::Duration;

use fastport_broker::auth::{HashCost, SecretHash};
use fastport_broker::journal::{MemoryStore, Record};
use fastport_broker::{self as broker, Broker, BrokerConfig, Output, SessionSettings};
use fastport_client_core::codec::Frame;
use fastport_client_core::time::Instant;

use crate::fault::{Direction, Fate, Faults};
use crate::sim::ConnId;
use crate::{PASSWORD, SESSION};

/// What the broker side wants the network to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// A binary message.
    Frame(Bytes),
    /// Close the connection with this code.
    Close(u16),
}

/// `fastport-broker`'s [`Broker`] with the scenarios' session, wrapped in the fault layer.
/// Password checks (jobs) run inline, so runs stay deterministic.
#[derive(Debug)]
pub struct SimBroker {
    /// The broker core.
    pub core: Broker,
    /// Misbehaviour at its edge; none until a scenario adds some.
    pub faults: Faults,
    received: Vec<Frame>,
    sent: Vec<Frame>,
    /// Frames the fault layer holds back, by release time and arrival order.
    held: BTreeMap<(Instant, u64), (Direction, ConnId, Frame)>,
    held_seq: u64,
    out: Vec<(ConnId, Out)>,
    /// With a journal (`SimBroker::durable`): what is stored, and the writes in flight.
    storage: Option<Storage>,
}

/// A durable broker's storage: records become stored `latency` after the broker gives
/// them out, one write at a time, as the server's router writes them to Redis.
#[derive(Debug)]
struct Storage {
    store: MemoryStore,
    latency: Duration,
    /// The write in flight: when it completes, its records, and the number to confirm.
    writing: Option<(Instant, Vec<Record>, u64)>,
    settings: SessionSettings,
    /// While true, writes fail (storage unreachable) and are tried again.
    down: bool,
}

impl SimBroker {
    /// A broker with the scenarios' session and these settings.
    pub fn new(settings: SessionSettings) -> Self {
        SimBroker::build(settings, false)
    }

    /// A durable broker (its journal stored after `latency`), which [`SimBroker::crash`]
    /// can restart from what it stored.
    pub fn durable(settings: SessionSettings, latency: Duration) -> Self {
        let mut b = SimBroker::build(settings, true);
        b.storage = Some(Storage {
            store: MemoryStore::default(),
            latency,
            writing: None,
            settings,
            down: false,
        });
        b
    }

    /// Makes the storage unreachable (`true`: every write fails and is tried again after
    /// its latency) or reachable again.
    ///
    /// # Panics
    /// If the broker is not durable.
    pub fn set_storage_down(&mut self, down: bool) {
        self.storage
            .as_mut()
            .expect("only a durable broker has storage")
            .down = down;
    }

    fn build(settings: SessionSettings, durable: bool) -> Self {
        let mut core = Broker::new(SimBroker::config(durable));
        let hash = |s: &str| SecretHash::new(s, HashCost::Test).expect("hashing works");
        core.create_session(SESSION, hash(PASSWORD), hash("secret"), settings)
            .expect("a fresh broker accepts the session");
        SimBroker {
            core,
            faults: Faults::default(),
            received: Vec::new(),
            sent: Vec::new(),
            held: BTreeMap::new(),
            held_seq: 0,
            out: Vec::new(),
            storage: None,
        }
    }

    fn config(durable: bool) -> BrokerConfig {
        BrokerConfig {
            hash_cost: HashCost::Test,
            durable,
            ..BrokerConfig::default()
        }
    }

    /// The server process dies (nothing more is sent or stored: the write in flight is
    /// lost) and a new one starts from what was stored. The caller ends the connections.
    ///
    /// # Panics
    /// If the broker is not durable.
    pub fn crash(&mut self, now: Instant) {
        let storage = self
            .storage
            .as_mut()
            .expect("only a durable broker restarts");
        storage.writing = None;
        let mut core = Broker::new(SimBroker::config(true));
        let restored = storage.store.restored(SESSION);
        if restored.session.is_none() {
            // Not stored yet: the configuration creates it, as a server's config file does.
            let hash = |s: &str| SecretHash::new(s, HashCost::Test).expect("hashing works");
            core.create_session(SESSION, hash(PASSWORD), hash("secret"), storage.settings)
                .expect("a fresh broker accepts the session");
        }
        core.restore_session(now, restored)
            .expect("what was stored restores");
        self.core = core;
        self.held.clear();
        self.out.clear();
    }

    /// Hands the records the core journaled to storage, one write at a time.
    fn store(&mut self, now: Instant) {
        let Some(storage) = self.storage.as_mut() else {
            return;
        };
        if storage.writing.is_some() {
            return;
        }
        let mut records = Vec::new();
        let upto = self.core.take_records(&mut records);
        if !records.is_empty() {
            storage.writing = Some((now + storage.latency, records, upto));
        }
    }

    /// Completes the write in flight if it is due.
    fn stored(&mut self, now: Instant) {
        let Some(storage) = self.storage.as_mut() else {
            return;
        };
        let due = storage.writing.as_ref().is_some_and(|(at, ..)| *at <= now);
        if !due {
            return;
        }
        let Some((_, records, upto)) = storage.writing.take() else {
            return;
        };
        if storage.down {
            // Tried again, the same records in the same order, as the router does.
            storage.writing = Some((now + storage.latency, records, upto));
            self.core.handle_store_failed(now);
            return;
        }
        for record in records {
            storage.store.apply(record);
        }
        self.core.handle_stored(now, upto);
    }

    /// How many frames the core took in that `kind` picks (after the fault layer: a
    /// dropped frame is not counted, a duplicated one twice). Undecodable input is not
    /// counted.
    pub fn received(&self, kind: impl Fn(&Frame) -> bool) -> usize {
        self.received.iter().filter(|f| kind(f)).count()
    }

    /// How many frames the core sent that `kind` picks (before the fault layer: resends
    /// included, whatever then became of them).
    pub fn sent(&self, kind: impl Fn(&Frame) -> bool) -> usize {
        self.sent.iter().filter(|f| kind(f)).count()
    }

    pub(crate) fn on_open(&mut self, now: Instant, conn: ConnId) {
        self.core.handle_open(now, broker::ConnId(conn.0), None);
        self.pump(now);
    }

    pub(crate) fn on_frame(&mut self, now: Instant, conn: ConnId, bytes: Bytes) {
        // Garbage is the core's to refuse; the fault layer only sees frames.
        let Ok(frame) = Frame::decode(bytes.clone()) else {
            self.core.handle_message(now, broker::ConnId(conn.0), bytes);
            return self.pump(now);
        };
        match self.faults.fate(Direction::ToBroker, frame) {
            Fate::Pass(frames) => {
                for frame in frames {
                    self.take_in(now, conn, frame);
                }
            }
            Fate::Delay(d, frame) => self.hold(now + d, Direction::ToBroker, conn, frame),
            Fate::Close(code) => self.close(now, conn, code),
        }
        self.pump(now);
    }

    pub(crate) fn on_close(&mut self, now: Instant, conn: ConnId) {
        self.core.handle_close(now, broker::ConnId(conn.0));
        self.pump(now);
    }

    pub(crate) fn drain(&mut self) -> Vec<(ConnId, Out)> {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let held = self.held.keys().next().map(|(at, _)| *at);
        let write = self
            .storage
            .as_ref()
            .and_then(|s| s.writing.as_ref().map(|(at, ..)| *at));
        [self.core.poll_timeout(), held, write]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (direction, conn, frame) = entry.remove();
            match direction {
                Direction::ToBroker => self.take_in(now, conn, frame),
                Direction::ToClient => self.out.push((conn, Out::Frame(frame.encode()))),
            }
        }
        self.stored(now);
        self.core.handle_timeout(now);
        self.pump(now);
    }

    fn take_in(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let bytes = frame.encode();
        self.received.push(frame);
        self.core.handle_message(now, broker::ConnId(conn.0), bytes);
    }

    fn hold(&mut self, at: Instant, direction: Direction, conn: ConnId, frame: Frame) {
        self.held_seq += 1;
        self.held
            .insert((at, self.held_seq), (direction, conn, frame));
    }

    /// Ends a connection as the server does when it closes one: the client is told, the
    /// core forgets it.
    fn close(&mut self, now: Instant, conn: ConnId, code: u16) {
        self.out.push((conn, Out::Close(code)));
        self.core.handle_close(now, broker::ConnId(conn.0));
    }

    fn pump(&mut self, now: Instant) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Send { conn, frame } | Output::Receipt { conn, frame } => {
                    self.send_out(now, ConnId(conn.0), frame)
                }
                Output::Close { conn, code, .. } => {
                    self.out.push((ConnId(conn.0), Out::Close(code)))
                }
                Output::Run(job) => self.core.handle_job_done(now, job.run()),
                // The simulated connections never report a full queue.
                Output::Watch { conn } => self.core.handle_drained(now, conn),
                // The simulated connections deliver what they are sent at once: read
                // pauses only shape a real socket's traffic.
                Output::PauseReading { .. } => {}
                // Only answers `Broker::admin`, which the simulation never calls.
                Output::Admin(_) => {}
                // The simulation runs one broker, which owns every session.
                Output::Forward(forwarded) => panic!("forwarded by the only broker: {forwarded:?}"),
            }
        }
        self.store(now);
    }

    fn send_out(&mut self, now: Instant, conn: ConnId, bytes: Bytes) {
        let frame = Frame::decode(bytes).expect("the broker core sends only valid frames");
        self.sent.push(frame.clone());
        match self.faults.fate(Direction::ToClient, frame) {
            Fate::Pass(frames) => {
                let frames = frames.into_iter().map(|f| (conn, Out::Frame(f.encode())));
                self.out.extend(frames);
            }
            Fate::Delay(d, frame) => self.hold(now + d, Direction::ToClient, conn, frame),
            Fate::Close(code) => self.close(now, conn, code),
        }
    }
}
