//! The simulated network and the event loop.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use fastport_client_core::time::Instant;
use fastport_client_core::{Client, ClientConfig, Event, TransportCommand};

use crate::broker::{Out, SimBroker};

/// One simulated WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// How the simulated network behaves. Frames on one connection keep their order (it is
/// TCP underneath); frames of different connections interleave in random order.
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    /// One-way latency.
    pub latency: Duration,
    /// Extra random latency, up to this much.
    pub jitter: Duration,
    /// Chance that a frame, instead of arriving, resets its connection (both ends see it
    /// close; everything in flight on it is lost).
    pub reset_probability: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            reset_probability: 0.0,
        }
    }
}

/// A client core in the simulation, with everything it reported.
#[derive(Debug)]
pub struct SimClient {
    /// The core under test.
    pub core: Client,
    /// Its current connection.
    pub conn: Option<ConnId>,
    /// Every event, with the virtual time it was polled.
    pub events: Vec<(Instant, Event)>,
    /// Times at which it asked to connect.
    pub connects: Vec<Instant>,
}

#[derive(Debug)]
enum Packet {
    Opened(ConnId),
    Refused(ConnId),
    ToBroker(ConnId, Bytes),
    ToClient(ConnId, Bytes),
    /// The broker closed the connection with this code.
    ClosedByBroker(ConnId, u16),
    /// The client closed the connection.
    ClosedByClient(ConnId),
}

#[derive(Debug)]
struct Link {
    client: usize,
    alive: bool,
    /// Latest arrival time scheduled in each direction, to keep per-link order.
    last_up: Instant,
    last_down: Instant,
}

/// The deterministic simulation: a virtual clock, a seeded network, clients and a broker.
#[derive(Debug)]
pub struct Sim {
    /// Virtual time.
    pub now: Instant,
    /// Network behaviour; may be changed between steps.
    pub net: NetConfig,
    /// The broker.
    pub broker: SimBroker,
    /// The clients, by index.
    pub clients: Vec<SimClient>,
    /// When false, connection attempts are refused (server process down).
    pub server_up: bool,
    /// When true, every frame and every close vanishes (a network partition): each end
    /// finds out only through its own keepalive.
    pub partitioned: bool,
    rng: u64,
    seq: u64,
    next_conn: u64,
    wire: BTreeMap<(Instant, u64), Packet>,
    links: HashMap<ConnId, Link>,
}

impl Sim {
    /// A simulation with the given seed and broker.
    pub fn new(seed: u64, broker: SimBroker) -> Sim {
        Sim {
            now: Instant::from_millis(1_000),
            net: NetConfig::default(),
            broker,
            clients: Vec::new(),
            server_up: true,
            partitioned: false,
            rng: seed,
            seq: 0,
            next_conn: 1,
            wire: BTreeMap::new(),
            links: HashMap::new(),
        }
    }

    /// Adds a client; its seed comes from the simulation's. Returns its index.
    pub fn add_client(&mut self, mut config: ClientConfig) -> usize {
        config.seed = self.random();
        let core = Client::new(config, self.now);
        self.clients.push(SimClient {
            core,
            conn: None,
            events: Vec::new(),
            connects: Vec::new(),
        });
        let index = self.clients.len() - 1;
        self.pump(index);
        index
    }

    /// Runs one client command at the current time, then pumps.
    pub fn with_client<R>(&mut self, index: usize, f: impl FnOnce(&mut Client, Instant) -> R) -> R {
        let result = f(&mut self.clients[index].core, self.now);
        self.pump(index);
        result
    }

    /// Advances to the next scheduled thing and handles everything due. Returns false
    /// when nothing at all is scheduled.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_deadline() else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some((&(at, seq), _)) = self.wire.first_key_value() {
            if at > self.now {
                break;
            }
            let packet = self.wire.remove(&(at, seq)).expect("key just seen");
            self.deliver(packet);
        }
        if self.broker.poll_timeout().is_some_and(|t| t <= self.now) {
            self.broker.on_timeout(self.now);
            self.pump_broker();
        }
        for i in 0..self.clients.len() {
            if self.clients[i]
                .core
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                self.clients[i].core.handle_timeout(self.now);
                self.pump(i);
            }
        }
        true
    }

    /// Steps until `until` (virtual time), or until nothing is scheduled.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.next_deadline().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Steps until `done` holds, for at most `limit` of virtual time. Returns whether it did.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            match self.next_deadline() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => return false,
            }
        }
        true
    }

    /// The server process crashes and restarts at once from what it stored (a durable
    /// broker, [`SimBroker::durable`]): every connection drops (clients see a reset), and
    /// what was not stored yet is gone.
    pub fn crash_server(&mut self) {
        self.broker.crash(self.now);
        // Frames in flight to or from the dead process are lost with it.
        self.wire.clear();
        let mut conns: Vec<ConnId> = self.links.keys().copied().collect();
        // In connection order, not hash order: the same seed replays the same run.
        conns.sort_unstable_by_key(|c| c.0);
        for conn in conns {
            self.kill(conn);
        }
    }

    /// Resets the client's connection as a network failure would: both ends see it close.
    pub fn reset_connection(&mut self, index: usize) {
        if let Some(conn) = self.clients[index].conn {
            self.kill(conn);
        }
    }

    /// Every event of client `index` matching `f`.
    pub fn events_of<'a, T>(
        &'a self,
        index: usize,
        f: impl FnMut(&'a Event) -> Option<T> + 'a,
    ) -> impl Iterator<Item = T> + 'a {
        self.clients[index]
            .events
            .iter()
            .map(|(_, e)| e)
            .filter_map(f)
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let wire = self.wire.keys().next().map(|(t, _)| *t);
        let broker = self.broker.poll_timeout();
        let clients = self
            .clients
            .iter_mut()
            .filter_map(|c| c.core.poll_timeout())
            .min();
        [wire, broker, clients].into_iter().flatten().min()
    }

    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.random() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.net.jitter.as_micros() as u64;
        let extra = if jitter == 0 {
            0
        } else {
            self.random() % (jitter + 1)
        };
        self.net.latency + Duration::from_micros(extra)
    }

    fn schedule(&mut self, at: Instant, packet: Packet) {
        self.seq += 1;
        self.wire.insert((at, self.seq), packet);
    }

    /// Schedules a frame on a link, after every earlier frame of the same direction.
    fn schedule_frame(&mut self, conn: ConnId, up: bool, bytes: Bytes) {
        if self.partitioned {
            return;
        }
        let at = self.now + self.delay();
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        let last = if up {
            &mut link.last_up
        } else {
            &mut link.last_down
        };
        let at = at.max(*last);
        *last = at;
        let packet = if up {
            Packet::ToBroker(conn, bytes)
        } else {
            Packet::ToClient(conn, bytes)
        };
        self.schedule(at, packet);
    }

    fn deliver(&mut self, packet: Packet) {
        let conn = match &packet {
            Packet::Opened(c)
            | Packet::Refused(c)
            | Packet::ToBroker(c, _)
            | Packet::ToClient(c, _)
            | Packet::ClosedByBroker(c, _)
            | Packet::ClosedByClient(c) => *c,
        };
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        let (client, alive) = (link.client, link.alive);
        match packet {
            Packet::ClosedByClient(c) => {
                self.links.remove(&c);
                self.broker.on_close(self.now, c);
                self.pump_broker();
            }
            _ if !alive => {}
            Packet::Opened(c) => {
                if self.clients[client].conn == Some(c) {
                    self.clients[client].core.handle_open(self.now);
                    self.pump(client);
                }
            }
            Packet::Refused(c) => {
                self.links.remove(&c);
                if self.clients[client].conn == Some(c) {
                    self.clients[client].conn = None;
                    self.clients[client]
                        .core
                        .handle_close(self.now, None, "connection refused");
                    self.pump(client);
                }
            }
            Packet::ToBroker(c, bytes) => {
                if self.chance(self.net.reset_probability) {
                    return self.kill(c);
                }
                self.broker.on_frame(self.now, c, bytes);
                self.pump_broker();
            }
            Packet::ToClient(c, bytes) => {
                if self.chance(self.net.reset_probability) {
                    return self.kill(c);
                }
                self.clients[client].core.handle_frame(self.now, bytes);
                self.pump(client);
            }
            Packet::ClosedByBroker(c, code) => {
                self.links.remove(&c);
                if self.clients[client].conn == Some(c) {
                    self.clients[client].conn = None;
                    self.clients[client].core.handle_close(
                        self.now,
                        Some(code),
                        "closed by server",
                    );
                    self.pump(client);
                }
            }
        }
    }

    /// A connection dies at once on both ends.
    fn kill(&mut self, conn: ConnId) {
        let Some(link) = self.links.remove(&conn) else {
            return;
        };
        self.broker.on_close(self.now, conn);
        self.pump_broker();
        let client = link.client;
        if self.clients[client].conn == Some(conn) {
            self.clients[client].conn = None;
            self.clients[client]
                .core
                .handle_close(self.now, Some(1006), "connection reset");
            self.pump(client);
        }
    }

    /// The driver's pump for client `index`: transport requests, transmits, events.
    fn pump(&mut self, index: usize) {
        loop {
            let mut progressed = false;
            while let Some(cmd) = self.clients[index].core.poll_transport() {
                progressed = true;
                self.transport(index, cmd);
            }
            while let Some(bytes) = self.clients[index].core.poll_transmit() {
                progressed = true;
                if let Some(conn) = self.clients[index].conn {
                    self.schedule_frame(conn, true, bytes);
                }
            }
            while let Some(event) = self.clients[index].core.poll_event() {
                progressed = true;
                self.clients[index].events.push((self.now, event));
            }
            if !progressed {
                break;
            }
        }
    }

    fn transport(&mut self, index: usize, cmd: TransportCommand) {
        match cmd {
            TransportCommand::Connect { .. } => {
                if let Some(old) = self.clients[index].conn.take() {
                    self.client_closed(old);
                }
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                self.clients[index].conn = Some(conn);
                self.clients[index].connects.push(self.now);
                let link = Link {
                    client: index,
                    alive: true,
                    last_up: self.now,
                    last_down: self.now,
                };
                self.links.insert(conn, link);
                let at = self.now + self.delay();
                if self.server_up && !self.partitioned {
                    self.broker.on_open(self.now, conn);
                    self.schedule(at, Packet::Opened(conn));
                } else if self.server_up {
                    // Partitioned: the attempt hangs until the client's connect timeout.
                } else {
                    self.schedule(at, Packet::Refused(conn));
                }
            }
            TransportCommand::Close { .. } => {
                if let Some(conn) = self.clients[index].conn.take() {
                    self.client_closed(conn);
                }
            }
        }
    }

    fn client_closed(&mut self, conn: ConnId) {
        if let Some(link) = self.links.get_mut(&conn) {
            link.alive = false;
            if !self.partitioned {
                let at = self.now + self.net.latency;
                self.schedule(at, Packet::ClosedByClient(conn));
            }
        }
    }

    fn pump_broker(&mut self) {
        for (conn, out) in self.broker.drain() {
            match out {
                Out::Frame(bytes) => self.schedule_frame(conn, false, bytes),
                Out::Close(_) if self.partitioned => {}
                Out::Close(code) => {
                    let at = self.now + self.net.latency;
                    let at = self.links.get(&conn).map_or(at, |l| at.max(l.last_down));
                    self.schedule(at, Packet::ClosedByBroker(conn, code));
                }
            }
        }
    }
}
