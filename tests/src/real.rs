//! The real server's sans-IO broker core, driven by the simulation.

use bytes::Bytes;
use fastport_broker::auth::{HashCost, SecretHash};
use fastport_broker::{self as broker, Broker, BrokerConfig, Output, SessionSettings};
use fastport_client_core::time::Instant;

use crate::broker::{Out, SimBroker};
use crate::sim::ConnId;
use crate::{PASSWORD, SESSION};

/// `fastport-server`'s broker with the scenarios' session. Password checks (jobs) run
/// inline, so runs stay deterministic.
#[derive(Debug)]
pub struct RealBroker {
    /// The broker core.
    pub broker: Broker,
    out: Vec<(ConnId, Out)>,
}

impl RealBroker {
    /// A broker with the scenarios' session and these settings.
    pub fn new(settings: SessionSettings) -> Self {
        let config = BrokerConfig {
            hash_cost: HashCost::Test,
            ..BrokerConfig::default()
        };
        let mut broker = Broker::new(config);
        let hash = |s: &str| SecretHash::new(s, HashCost::Test).expect("hashing works");
        broker
            .create_session(SESSION, hash(PASSWORD), hash("secret"), settings)
            .expect("a fresh broker accepts the session");
        RealBroker {
            broker,
            out: Vec::new(),
        }
    }

    fn pump(&mut self, now: Instant) {
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Send { conn, frame } | Output::Receipt { conn, frame } => {
                    self.out.push((ConnId(conn.0), Out::Frame(frame)));
                }
                Output::Close { conn, code, .. } => {
                    self.out.push((ConnId(conn.0), Out::Close(code)))
                }
                Output::Run(job) => self.broker.handle_job_done(now, job.run()),
                _ => {}
            }
        }
    }
}

impl SimBroker for RealBroker {
    fn on_open(&mut self, now: Instant, conn: ConnId) {
        self.broker.handle_open(now, broker::ConnId(conn.0), None);
        self.pump(now);
    }

    fn on_frame(&mut self, now: Instant, conn: ConnId, bytes: Bytes) {
        self.broker
            .handle_message(now, broker::ConnId(conn.0), bytes);
        self.pump(now);
    }

    fn on_close(&mut self, now: Instant, conn: ConnId) {
        self.broker.handle_close(now, broker::ConnId(conn.0));
        self.pump(now);
    }

    fn drain(&mut self) -> Vec<(ConnId, Out)> {
        std::mem::take(&mut self.out)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.broker.poll_timeout()
    }

    fn on_timeout(&mut self, now: Instant) {
        self.broker.handle_timeout(now);
        self.pump(now);
    }
}
