//! The router tasks: each owns one [`Broker`], the sessions placed on it by name
//! ([`shard_of`]).
//!
//! A router drains its inbox in batches, feeds each message to its broker, then pumps the
//! broker's outputs (frames into connection queues, closes, slow jobs onto blocking
//! threads, admin answers back to HTTP handlers) and re-arms its one timer from
//! [`Broker::poll_timeout`]. A connection is handed to the router of the session its
//! `Hello` names, and stays with it; so one session's traffic never waits behind another's
//! placed on a different router, and sessions spread over the cores.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::AdminRequest;
use fastport_proto::time::Instant;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::memory::Work;
use super::outbound::{Gauge, OutboundBudget};
use super::read_pause::ReadPause;
use crate::auth::{Job, JobResult};
use crate::broker::{
    shard_of, AdminAnswer, AdminReply, Broker, ConnId, Forwarded, IdMap, Metrics, Output,
};
use crate::durable::Store;
use fastport_proto::codec::Frame;

/// Messages handled per batch before the outputs are pumped.
const BATCH: usize = 256;

/// A message to the router. Every message is moved twice on its way through the inbox, so
/// the rare, large ones are boxed: the enum stays the size of [`RouterMsg::Message`].
#[derive(Debug)]
pub(crate) enum RouterMsg {
    /// A WebSocket connection was accepted.
    Open(Box<Opened>),
    /// One binary message (text messages arrive as an empty one, which the broker refuses).
    Message { conn: ConnId, message: Bytes },
    /// Several messages of one connection, in order: what it had received at once.
    Messages { conn: ConnId, messages: Vec<Bytes> },
    /// The peer closed the connection, or it failed.
    Closed { conn: ConnId },
    /// The connection's writes made no progress for the slow-consumer timeout.
    Stalled { conn: ConnId },
    /// The connection's outbound queue drained below half its budget while watched.
    Drained { conn: ConnId },
    /// An HTTP admin request.
    Admin(Box<AdminCall>),
    /// A snapshot of the metrics.
    Metrics { reply: oneshot::Sender<Metrics> },
    /// Answered at once: the router is alive and draining its inbox.
    Ping { reply: oneshot::Sender<()> },
    /// A slow job finished on a blocking thread.
    JobDone(Box<JobResult>),
    /// Graceful shutdown: close every connection, refuse new ones.
    Shutdown { done: oneshot::Sender<()> },
    /// The reply to an `Admin` frame that another router ran for one of this router's
    /// connections.
    Forwarded(Box<ForwardedReply>),
    /// The journal's records up to `upto` are stored (durable engine only).
    Stored { upto: u64 },
    /// A write of journal records failed; it is being tried again.
    StoreFailed,
    /// A session this node has just claimed, as Redis stores it (several nodes).
    Restore(Box<RestoreCall>),
    /// Let go of a session another node serves now (several nodes).
    Unload {
        session: String,
        done: oneshot::Sender<()>,
    },
}

/// A session to restore, and where the broker's answer goes.
#[derive(Debug)]
pub(crate) struct RestoreCall {
    session: fastport_broker::journal::RestoredSession,
    done: oneshot::Sender<Result<(), (fastport_proto::codec::ErrorCode, String)>>,
}

/// The reply to a forwarded `Admin` frame, on its way back to the connection's router.
#[derive(Debug)]
pub(crate) struct ForwardedReply {
    conn: ConnId,
    request_id: u64,
    reply: AdminReply,
}

/// A WebSocket connection was accepted.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) conn: ConnId,
    /// The peer's address.
    pub(crate) peer: Option<IpAddr>,
    /// When it must have sent its `Hello` (counted from the TCP accept).
    pub(crate) hello_deadline: tokio::time::Instant,
    /// Its outbound queue, bounded in bytes by `gauge` and the budget.
    pub(crate) outbound: mpsc::UnboundedSender<Outbound>,
    /// The bytes in `outbound`.
    pub(crate) gauge: Arc<Gauge>,
    /// Closes it at once, skipping what is queued (at twice its budget).
    pub(crate) abort: oneshot::Sender<CloseCmd>,
    /// Stops its reads for a while (its publishes are refused `queue_full`).
    pub(crate) pause: Arc<ReadPause>,
}

/// An HTTP admin request and where its answer goes.
#[derive(Debug)]
pub(crate) struct AdminCall {
    request: AdminRequest,
    /// The HTTP client's address.
    peer: Option<IpAddr>,
    reply: oneshot::Sender<AdminReply>,
}

/// What a connection task is asked to write.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// One binary WebSocket message.
    Frame(Bytes),
    /// A close frame, after the frames queued before it.
    Close(CloseCmd),
}

/// A WebSocket close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseCmd {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// A cheap, cloneable handle to the router tasks.
#[derive(Debug, Clone)]
pub struct RouterHandle {
    /// One inbox per router, in shard order.
    shards: Arc<[mpsc::Sender<RouterMsg>]>,
    budget: OutboundBudget,
}

impl RouterHandle {
    /// How many routers there are.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The router a connection whose first message is `first` belongs to: the one of the
    /// session its `Hello` names. Anything else goes to the first router, which refuses
    /// it as any would.
    pub(crate) fn shard_for(&self, first: &Bytes) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        match Frame::decode_from_client(first.clone()) {
            Ok(Frame::Hello(hello)) => shard_of(&hello.session, self.shards.len()),
            _ => 0,
        }
    }

    /// Runs an admin request through the broker that owns its session (the same code path
    /// as the protocol's `Admin` frame). `None` if the router has stopped.
    pub async fn admin(&self, request: AdminRequest, peer: Option<IpAddr>) -> Option<AdminReply> {
        let shard = shard_of(&request.session, self.shards.len());
        let (reply, answer) = oneshot::channel();
        let call = AdminCall {
            request,
            peer,
            reply,
        };
        self.send(shard, RouterMsg::Admin(Box::new(call)))
            .await
            .ok()?;
        answer.await.ok()
    }

    /// The metrics of every broker, added up. `None` if a router has stopped.
    pub async fn metrics(&self) -> Option<Metrics> {
        let mut total: Option<Metrics> = None;
        for shard in 0..self.shards.len() {
            let (reply, answer) = oneshot::channel();
            self.send(shard, RouterMsg::Metrics { reply }).await.ok()?;
            let metrics = answer.await.ok()?;
            match &mut total {
                Some(total) => total.merge(metrics),
                None => total = Some(metrics),
            }
        }
        let mut total = total?;
        // Every broker reports the server's one figure.
        total.outbound_bytes = self.budget.total() as u64;
        total.per_session.sort_by(|a, b| a.name.cmp(&b.name));
        Some(total)
    }

    /// Restores a session this node has just claimed into the broker that serves it (see
    /// [`Broker::restore_session`]).
    pub(crate) async fn restore(
        &self,
        session: fastport_broker::journal::RestoredSession,
    ) -> Result<(), (fastport_proto::codec::ErrorCode, String)> {
        let shard = shard_of(&session.name, self.shards.len());
        let (done, answer) = oneshot::channel();
        let gone = || {
            let message = "the router has stopped".to_owned();
            (fastport_proto::codec::ErrorCode::INTERNAL_ERROR, message)
        };
        let call = RestoreCall { session, done };
        self.send(shard, RouterMsg::Restore(Box::new(call)))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Lets go of `session` (see [`Broker::unload_session`]) and waits until it is gone.
    pub(crate) async fn unload(&self, session: &str) {
        let shard = shard_of(session, self.shards.len());
        let (done, answer) = oneshot::channel();
        let msg = RouterMsg::Unload {
            session: session.to_owned(),
            done,
        };
        if self.send(shard, msg).await.is_ok() {
            let _ = answer.await;
        }
    }

    /// Waits until every router has drained the messages sent before this one. `None` if
    /// one has stopped.
    pub async fn ping(&self) -> Option<()> {
        for shard in 0..self.shards.len() {
            let (reply, answer) = oneshot::channel();
            self.send(shard, RouterMsg::Ping { reply }).await.ok()?;
            answer.await.ok()?;
        }
        Some(())
    }

    /// Starts a graceful shutdown of every broker and waits until they have queued the
    /// closes.
    pub async fn shutdown(&self) {
        let mut finished = Vec::with_capacity(self.shards.len());
        for shard in 0..self.shards.len() {
            let (done, waiting) = oneshot::channel();
            if self.send(shard, RouterMsg::Shutdown { done }).await.is_ok() {
                finished.push(waiting);
            }
        }
        for waiting in finished {
            let _ = waiting.await;
        }
    }

    /// Sends `msg` to router `shard`, waiting while its inbox is full. Fails once the
    /// router has stopped.
    pub(crate) async fn send(&self, shard: usize, msg: RouterMsg) -> Result<(), RouterGone> {
        self.shards[shard].send(msg).await.map_err(|_| RouterGone)
    }
}

/// The router task has stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouterGone;

/// Starts one router task per broker, each with an inbox of `capacity` messages, counting
/// the frames they handle in `work`; their handles tell the server when one ends, which
/// it only does by a bug (a panic).
pub(crate) fn spawn(
    brokers: Vec<Broker>,
    capacity: usize,
    budget: OutboundBudget,
    work: Arc<Work>,
    store: Option<Store>,
) -> (RouterHandle, Vec<JoinHandle<()>>) {
    let (senders, inboxes): (Vec<_>, Vec<_>) =
        brokers.iter().map(|_| mpsc::channel(capacity)).unzip();
    // Weak, so that the routers stop once every handle is dropped.
    let peers: Arc<[mpsc::WeakSender<RouterMsg>]> =
        senders.iter().map(mpsc::Sender::downgrade).collect();
    let hashing = Arc::new(Semaphore::new(hashing_threads()));
    let tasks = brokers
        .into_iter()
        .zip(inboxes)
        .enumerate()
        .map(|(index, (broker, inbox))| {
            let router = Router {
                broker,
                budget: budget.clone(),
                start: tokio::time::Instant::now(),
                conns: IdMap::default(),
                admin_pending: HashMap::new(),
                next_admin: 1,
                index,
                peers: peers.clone(),
                hashing: hashing.clone(),
                work: work.clone(),
                frames: 0,
                store: store.clone(),
                writing: false,
            };
            tokio::spawn(router.run(inbox))
        })
        .collect();
    let handle = RouterHandle {
        shards: senders.into(),
        budget,
    };
    (handle, tasks)
}

struct Router {
    broker: Broker,
    budget: OutboundBudget,
    /// The broker's epoch: its `Instant`s are microseconds since this.
    start: tokio::time::Instant,
    /// Looked up for every message in and every frame out: keyed by the integer id the
    /// server assigns, with the broker's cheap id hash instead of SipHash.
    conns: IdMap<ConnId, ConnEntry>,
    admin_pending: HashMap<u64, oneshot::Sender<AdminReply>>,
    next_admin: u64,
    /// This router's place in `peers`.
    index: usize,
    /// Every router's inbox, this one's included (for finished jobs), weak so that the
    /// routers stop once every handle is dropped.
    peers: Arc<[mpsc::WeakSender<RouterMsg>]>,
    /// The hashing pool, shared by every router: one permit per thread that may run argon2
    /// at once.
    hashing: Arc<Semaphore>,
    /// The frames every router handled, for the trim after a load (`memory.rs`).
    work: Arc<Work>,
    /// Frames handled in the current inbox batch, added to `work` after it.
    frames: u64,
    /// Where the broker's journal goes (the Redis engine), if it journals.
    store: Option<Store>,
    /// Whether a write of journal records is in flight: one at a time, in order; what the
    /// broker journals meanwhile goes in the next one (a group commit).
    writing: bool,
}

/// Threads of the hashing pool: the machine's cores, so hashing cannot take more memory
/// than 19 MiB per core, nor more threads than there are cores.
fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

struct ConnEntry {
    outbound: mpsc::UnboundedSender<Outbound>,
    gauge: Arc<Gauge>,
    abort: Option<oneshot::Sender<CloseCmd>>,
    pause: Arc<ReadPause>,
}

impl Router {
    async fn run(mut self, mut inbox: mpsc::Receiver<RouterMsg>) {
        let mut batch = Vec::with_capacity(BATCH);
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed = false;
        loop {
            tokio::select! {
                received = inbox.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    let now = self.now();
                    self.broker.set_outbound_bytes(self.budget.total());
                    for msg in batch.drain(..) {
                        self.handle(now, msg);
                        // At once, not after the batch: a connection at its budget must
                        // say so before the broker routes the next message to it.
                        self.pump();
                    }
                    self.work.add(std::mem::take(&mut self.frames));
                }
                () = &mut timer, if armed => {
                    let now = self.now();
                    self.broker.handle_timeout(now);
                }
            }
            self.pump();
            self.store_records();
            armed = match self.broker.poll_timeout().and_then(|t| self.deadline(t)) {
                Some(deadline) => {
                    timer.as_mut().reset(deadline);
                    true
                }
                None => false,
            };
        }
        tracing::debug!("router stopped");
    }

    fn now(&self) -> Instant {
        self.instant(tokio::time::Instant::now())
    }

    /// The broker instant of a tokio instant (the epoch if before it).
    fn instant(&self, at: tokio::time::Instant) -> Instant {
        let micros = at.saturating_duration_since(self.start).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The tokio instant of a broker instant (`None` if too far to represent).
    fn deadline(&self, at: Instant) -> Option<tokio::time::Instant> {
        self.start
            .checked_add(Duration::from_micros(at.as_micros()))
    }

    fn handle(&mut self, now: Instant, msg: RouterMsg) {
        match msg {
            RouterMsg::Open(opened) => {
                let Opened {
                    conn,
                    peer,
                    hello_deadline,
                    outbound,
                    gauge,
                    abort,
                    pause,
                } = *opened;
                let entry = ConnEntry {
                    outbound,
                    gauge,
                    abort: Some(abort),
                    pause,
                };
                self.conns.insert(conn, entry);
                let hello_deadline = self.instant(hello_deadline);
                self.broker.handle_open_by(now, conn, peer, hello_deadline);
            }
            RouterMsg::Message { conn, message } => {
                self.receive(now, conn, message.len(), [message]);
            }
            RouterMsg::Messages { conn, messages } => {
                let bytes = messages.iter().map(Bytes::len).sum();
                self.receive(now, conn, bytes, messages);
            }
            RouterMsg::Closed { conn } => {
                // A connection the broker closed itself is already forgotten.
                if let Some(entry) = self.conns.remove(&conn) {
                    entry.gauge.release();
                    self.broker.handle_close(now, conn);
                }
            }
            RouterMsg::Stalled { conn } => {
                if let Some(entry) = self.conns.remove(&conn) {
                    entry.gauge.release();
                    tracing::warn!(
                        conn = conn.0,
                        timeout = ?self.budget.stall,
                        "writes stalled: slow consumer closed"
                    );
                    self.broker.handle_slow_connection(now, conn);
                }
            }
            RouterMsg::Drained { conn } => {
                if self.conns.contains_key(&conn) {
                    self.broker.handle_drained(now, conn);
                }
            }
            RouterMsg::Admin(call) => {
                let AdminCall {
                    mut request,
                    peer,
                    reply,
                } = *call;
                let id = self.next_admin;
                self.next_admin += 1;
                request.request_id = id;
                self.admin_pending.insert(id, reply);
                self.broker.admin(now, id, peer, request);
            }
            RouterMsg::Metrics { reply } => {
                let _ = reply.send(self.broker.metrics());
            }
            RouterMsg::Ping { reply } => {
                let _ = reply.send(());
            }
            RouterMsg::JobDone(result) => self.broker.handle_job_done(now, *result),
            RouterMsg::Shutdown { done } => {
                self.broker.shutdown(now);
                let _ = done.send(());
            }
            RouterMsg::Forwarded(forwarded) => {
                let ForwardedReply {
                    conn,
                    request_id,
                    reply,
                } = *forwarded;
                self.broker.admin_forwarded(conn, request_id, reply);
            }
            RouterMsg::Stored { upto } => {
                self.writing = false;
                self.broker.handle_stored(now, upto);
            }
            RouterMsg::StoreFailed => self.broker.handle_store_failed(now),
            RouterMsg::Restore(call) => {
                let RestoreCall { session, done } = *call;
                let _ = done.send(self.broker.restore_session(now, session));
            }
            RouterMsg::Unload { session, done } => {
                self.broker.unload_session(now, &session);
                let _ = done.send(());
            }
        }
    }

    /// Starts a write of what the broker journaled, unless one is in flight. The write is
    /// tried again until it succeeds: records are stored in order, none skipped.
    fn store_records(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        if self.writing {
            return;
        }
        let mut records = Vec::new();
        let upto = self.broker.take_records(&mut records);
        if records.is_empty() {
            return;
        }
        let Some(back) = self.peers[self.index].upgrade() else {
            return;
        };
        self.writing = true;
        tokio::spawn(store.clone().write(records, upto, back));
    }

    /// Received messages of `conn` (`bytes` in all): gives their inbox permits back and
    /// hands them to the broker in order, carrying out each one's outputs before the next.
    fn receive(
        &mut self,
        now: Instant,
        conn: ConnId,
        bytes: usize,
        messages: impl IntoIterator<Item = Bytes>,
    ) {
        let permits = self.budget.inbound_permits(bytes);
        self.budget.inbound.add_permits(permits as usize);
        for message in messages {
            self.frames += 1;
            // The broker may have closed the connection at the one before.
            if !self.conns.contains_key(&conn) {
                break;
            }
            self.broker.handle_message(now, conn, message);
            self.pump();
        }
    }

    /// Carries out every output of the broker.
    fn pump(&mut self) {
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Send { conn, frame } => self.send(conn, frame),
                // In order with the rest: a receipt never overtakes its `PubAck`. Receipts
                // are a few bytes each, one per cached message: far from any budget.
                Output::Receipt { conn, frame } => self.send(conn, frame),
                Output::Close { conn, code, reason } => self.close(conn, CloseCmd { code, reason }),
                Output::Watch { conn } => self.watch(conn),
                Output::PauseReading { conn, pause } => {
                    if let Some(entry) = self.conns.get(&conn) {
                        entry.pause.pause_for(pause);
                    }
                }
                Output::Run(job) => self.run_job(job),
                Output::Admin(answer) => self.answer(*answer),
                Output::Forward(forwarded) => self.forward(*forwarded),
            }
        }
    }

    /// Queues a frame. A connection at its budget gets no deliveries from the broker, so
    /// what still comes is replies to its own requests, which stop once half its budget
    /// is queued (its task stops reading); a queue at twice its budget means it stopped
    /// reading altogether: it is closed as a slow consumer, dropping what is queued.
    fn send(&mut self, conn: ConnId, frame: Bytes) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let len = frame.len();
        let queued = entry.gauge.queued();
        let budget = self.budget.per_connection;
        if queued > 0 && queued + len > 2 * budget {
            tracing::warn!(
                conn = conn.0,
                queued,
                budget,
                "outbound queue at twice its budget: slow consumer closed"
            );
            let reason = format!("{queued} bytes queued, twice the budget");
            let cmd = CloseCmd {
                code: fastport_proto::codec::ErrorCode::SLOW_CONSUMER.close_code(),
                reason,
            };
            if let Some(entry) = self.conns.remove(&conn) {
                entry.gauge.release();
                if let Some(abort) = entry.abort {
                    let _ = abort.send(cmd);
                }
            }
            let now = self.now();
            self.broker.handle_slow_connection(now, conn);
            return;
        }
        // Counted before it is sent: the connection task, on another thread, may take it
        // off the queue at once, and a count added after that would stay for good (the
        // task's subtraction stops at zero).
        let queued = entry.gauge.add(len);
        // Fails only once the task has ended; its `Closed` is on the way.
        if entry.outbound.send(Outbound::Frame(frame)).is_err() {
            entry.gauge.take(len, 0);
            return;
        }
        // Said at every frame over the budget, not only the one that crosses it: the broker
        // may have sent what it held since (it ignores the repeats).
        if queued >= budget {
            self.broker.handle_congested(conn);
        }
    }

    /// The broker waits for `conn`'s queue to drain: tell it now if it has, else the
    /// connection task will.
    fn watch(&mut self, conn: ConnId) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        if entry.gauge.watch(self.budget.half()) {
            let now = self.now();
            self.broker.handle_drained(now, conn);
        }
    }

    fn close(&mut self, conn: ConnId, cmd: CloseCmd) {
        let Some(entry) = self.conns.remove(&conn) else {
            return;
        };
        entry.gauge.release();
        // Fails only once the task has ended.
        let _ = entry.outbound.send(Outbound::Close(cmd));
    }

    /// Runs `job` on a blocking thread once one of the hashing pool's threads is free:
    /// the broker bounds how many wait, the pool how many run (argon2 takes 19 MiB each).
    fn run_job(&self, job: Job) {
        let Some(tx) = self.peers[self.index].upgrade() else {
            return;
        };
        let pool = self.hashing.clone();
        tokio::spawn(async move {
            let Ok(permit) = pool.acquire_owned().await else {
                return;
            };
            let _ = tokio::task::spawn_blocking(move || {
                let result = job.run();
                drop(permit);
                let _ = tx.blocking_send(RouterMsg::JobDone(Box::new(result)));
            })
            .await;
        });
    }

    /// Runs an `Admin` frame on the router of its session, and brings the reply back to
    /// this one, which sends it to the connection.
    fn forward(&self, forwarded: Forwarded) {
        let Forwarded {
            conn,
            peer,
            request,
        } = forwarded;
        let target = shard_of(&request.session, self.peers.len());
        let (Some(there), Some(back)) = (
            self.peers[target].upgrade(),
            self.peers[self.index].upgrade(),
        ) else {
            return;
        };
        let request_id = request.request_id;
        tokio::spawn(async move {
            let (reply, answer) = oneshot::channel();
            let call = AdminCall {
                request,
                peer,
                reply,
            };
            if there.send(RouterMsg::Admin(Box::new(call))).await.is_err() {
                return;
            }
            drop(there);
            let Ok(reply) = answer.await else {
                return;
            };
            let forwarded = ForwardedReply {
                conn,
                request_id,
                reply,
            };
            let _ = back.send(RouterMsg::Forwarded(Box::new(forwarded))).await;
        });
    }

    fn answer(&mut self, answer: AdminAnswer) {
        if let Some(reply) = self.admin_pending.remove(&answer.request) {
            let _ = reply.send(answer.reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_message_is_no_larger_than_a_binary_message_and_its_tag() {
        let message = std::mem::size_of::<ConnId>() + std::mem::size_of::<Bytes>();
        assert!(
            std::mem::size_of::<RouterMsg>() <= message + 8,
            "RouterMsg is {} bytes: box the large variant",
            std::mem::size_of::<RouterMsg>()
        );
    }
}
