//! The durable engine's data model in Redis: how the broker's journal records
//! ([`fastport_broker::journal`]) are written, and how a starting server reads its sessions
//! back. docs/CLUSTER.md describes the same keys for operators.
//!
//! Every key of a session carries its name as a hash tag (`fastport:{NAME}:...`), so in a
//! Redis Cluster a session's keys live in one slot. Session names are letters, digits,
//! `.`, `_` and `-`, so they cannot hold a brace. Client ids may hold `:`: in the waiting
//! hash's `DELIVERY:CLIENT` fields the delivery id (digits) ends at the first `:`.
//!
//! The keys, their types and lifetimes are the table in docs/CLUSTER.md ("The data
//! model"), kept there once.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fastport_broker::journal::{MessageRecord, Record, RestoredSession};
use redis::{Pipeline, RedisResult, RedisWrite, ToRedisArgs};

mod format;
mod load;

pub(crate) use load::load_session;

/// The set of stored session names.
pub(crate) const SESSIONS: &str = "fastport:sessions";

/// Settles subscribers that failed a delivery, once each: drops each from the waiting hash
/// and, if it was still there, counts a failure on its message (the field named by the
/// delivery id alone). Run at most once per session per write, for all its failures:
/// `KEYS[1]` the waiting hash, `ARGV` pairs of `DELIVERY:CLIENT` field and delivery id.
/// Counting only what it removed keeps a write that is tried again from counting twice.
const FAILED: &str = r"
for i = 1, #ARGV, 2 do
  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], ARGV[i + 1], 1)
  end
end
return 0";

fn key(session: &str, part: &str) -> String {
    format!("fastport:{{{session}}}:{part}")
}

/// A message's key: its value is the message, then its tombstone ([`format`]).
fn message_key(session: &str, delivery: u64) -> String {
    key(session, &format!("msg:{delivery}"))
}

/// The session's hash of subscribers that owe an ack: `DELIVERY:CLIENT` → attempts, and
/// `DELIVERY` → how many subscribers of that message failed it.
fn waiting_key(session: &str) -> String {
    key(session, "waiting")
}

fn waiting_field(delivery: u64, client: &str) -> String {
    format!("{delivery}:{client}")
}

/// A field of the waiting hash, written straight into its command.
#[derive(Clone, Copy)]
enum Field<'a> {
    /// `DELIVERY:CLIENT`: a subscriber that owes an ack, its value the attempts.
    Client(u64, &'a str),
    /// `DELIVERY`: how many subscribers failed the message.
    Failed(u64),
}

impl ToRedisArgs for Field<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // Writing to the command's own buffer cannot fail.
        let _ = match self {
            Field::Client(delivery, client) => write!(arg, "{delivery}:{client}"),
            Field::Failed(delivery) => write!(arg, "{delivery}"),
        };
    }
}

/// `fastport:{S}:msg:DELIVERY`, written straight into its command.
struct MessageKey<'a>(&'a str, u64);

impl ToRedisArgs for MessageKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        let _ = write!(arg, "fastport:{{{}}}:msg:{}", self.0, self.1);
    }
}

/// `SET key value PX ms`, its buffer sized once.
fn set_px(key: MessageKey<'_>, value: impl ToRedisArgs, len: usize, ttl_ms: u64) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(5, 48 + key.0.len() + len);
    cmd.arg("SET").arg(key).arg(value).arg("PX").arg(ttl_ms);
    cmd
}

fn receipts_key(session: &str, client: &str) -> String {
    key(session, &format!("r:{client}"))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ms(d: Duration) -> u64 {
    // Redis refuses a zero TTL; the shortest expiry is 10 ms anyway.
    (d.as_millis() as u64).max(1)
}

/// A client's state as stored in `fastport:{S}:clients`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredClient {
    /// The SHA-256 digest of its resume token, in hex: never the token.
    token_sha256: String,
    name: String,
    subs: Vec<(String, bool)>,
}

/// The commands that store `records`, in order: one pipeline, or with `per_slot` (a Redis
/// Cluster, where a pipeline's keys must share a slot) one per session plus one for the
/// set of session names.
///
/// A message costs one command (`SET` of its key, with its TTL), its tombstone another;
/// everything else a session's records change in its waiting hash, its index and its
/// next delivery id is gathered into at most six commands per session per write
/// ([`Batch`]), whatever the number of messages. The gathered commands run in the order
/// sets, failures, deletions: the order in which a field's records come (a subscriber's
/// attempts before its settle, a failure count before the message's tombstone). No other
/// command of the write touches their fields, but a drop of the session, which is why a
/// drop writes the session's batch out first.
pub(crate) fn pipelines(records: &[Record], now_ms: u64, per_slot: bool) -> Vec<Pipeline> {
    let mut w = Write {
        groups: Groups {
            per_slot,
            order: Vec::new(),
        },
        batches: Vec::new(),
        now_ms,
        done: Set::default(),
        fleeting: Set::default(),
    };
    for record in records {
        if let Record::Done {
            session, delivery, ..
        } = record
        {
            w.done.0.push((*delivery, session.as_str()));
        }
    }
    w.done.0.sort_unstable();
    // A message settled in the write that stores it is never written: its tombstone is.
    for record in records {
        if let Record::Message(m) = record {
            if w.done.contains(&m.session, m.delivery) {
                w.fleeting.0.push((m.delivery, m.session.as_str()));
            }
        }
    }
    w.fleeting.0.sort_unstable();
    for record in records {
        w.add(record);
    }
    for (session, batch) in std::mem::take(&mut w.batches) {
        batch.flush(w.groups.of(session), session, now_ms);
    }
    w.groups.order.into_iter().map(|(_, p)| p).collect()
}

/// One write being built.
struct Write<'a> {
    groups: Groups,
    /// Per session, what is gathered into a few commands at the end.
    batches: Vec<(&'a str, Batch<'a>)>,
    now_ms: u64,
    /// Messages whose `Done` is in this write.
    done: Set<'a>,
    /// Messages stored and settled in this write.
    fleeting: Set<'a>,
}

/// A sorted set of messages by delivery and session: cheaper than hashing the session
/// name of every record.
#[derive(Default)]
struct Set<'a>(Vec<(u64, &'a str)>);

impl Set<'_> {
    fn contains(&self, session: &str, delivery: u64) -> bool {
        self.0.binary_search(&(delivery, session)).is_ok()
    }
}

/// What a write changes in a session's waiting hash, index and next delivery id, written
/// as one command each.
#[derive(Default)]
struct Batch<'a> {
    /// Waiting hash fields to set: new subscribers of a message (attempt 1), attempts.
    set: Vec<(Field<'a>, u32)>,
    /// Failed settles: waiting field and its delivery (the [`FAILED`] script's pairs).
    failed: Vec<(Field<'a>, u64)>,
    /// Waiting hash fields to delete: acked settles, failure counts of settled messages.
    deleted: Vec<Field<'a>>,
    /// Index entries: when it expires (Unix ms), delivery.
    index: Vec<(u64, u64)>,
    next_delivery: Option<u64>,
}

impl Batch<'_> {
    fn flush(self, p: &mut Pipeline, session: &str, now_ms: u64) {
        let waiting = waiting_key(session);
        if !self.set.is_empty() {
            p.hset_multiple(&waiting, &self.set);
        }
        if !self.failed.is_empty() {
            p.cmd("EVAL")
                .arg(FAILED)
                .arg(1)
                .arg(&waiting)
                .arg(&self.failed);
        }
        if !self.deleted.is_empty() {
            p.hdel(&waiting, &self.deleted);
        }
        if !self.index.is_empty() {
            let index = key(session, "index");
            p.zadd_multiple(&index, &self.index);
            // Entries whose message or tombstone expired leave the index.
            p.cmd("ZREMRANGEBYSCORE")
                .arg(&index)
                .arg("-inf")
                .arg(format!("({now_ms}"));
        }
        if let Some(next) = self.next_delivery {
            p.hset(key(session, "session"), "next_delivery", next);
        }
    }
}

/// Pipelines by slot group: a session's name, or `""` for the set of names.
struct Groups {
    per_slot: bool,
    order: Vec<(String, Pipeline)>,
}

impl Groups {
    fn of(&mut self, group: &str) -> &mut Pipeline {
        let group = if self.per_slot { group } else { "" };
        let at = match self.order.iter().position(|(g, _)| g == group) {
            Some(at) => at,
            None => {
                self.order.push((group.to_owned(), redis::pipe()));
                self.order.len() - 1
            }
        };
        &mut self.order[at].1
    }
}

impl<'a> Write<'a> {
    fn batch(&mut self, session: &'a str) -> &mut Batch<'a> {
        let at = match self.batches.iter().position(|(s, _)| *s == session) {
            Some(at) => at,
            None => {
                self.batches.push((session, Batch::default()));
                self.batches.len() - 1
            }
        };
        &mut self.batches[at].1
    }

    fn add(&mut self, record: &'a Record) {
        let now_ms = self.now_ms;
        match record {
            Record::Session(s) => {
                self.groups.of("").sadd(SESSIONS, &s.name);
                let mut fields: Vec<(String, String)> = vec![
                    ("password".into(), s.password.clone()),
                    ("secret".into(), s.secret.clone()),
                    ("suspended".into(), u8::from(s.suspended).to_string()),
                ];
                for (setting, value) in s.settings.stated() {
                    fields.push((format!("setting:{}", setting.json()), value.to_string()));
                }
                let p = self.groups.of(&s.name);
                p.hset_multiple(key(&s.name, "session"), &fields);
            }
            Record::SessionDropped { session } => {
                self.groups.of("").srem(SESSIONS, session);
                if let Some(at) = self.batches.iter().position(|(s, _)| s == session) {
                    let (_, batch) = self.batches.remove(at);
                    batch.flush(self.groups.of(session), session, now_ms);
                }
                // Messages, tombstones and receipts go with their TTLs; without the index
                // and the clients nothing finds them meanwhile.
                let p = self.groups.of(session);
                for part in ["session", "clients", "offline", "index", "waiting"] {
                    p.del(key(session, part));
                }
            }
            Record::Client(c) => {
                let stored = StoredClient {
                    token_sha256: hex::encode(c.token_sha256),
                    name: c.display_name.clone(),
                    subs: c.subscriptions.clone(),
                };
                let json = serde_json::to_string(&stored).unwrap_or_default();
                let p = self.groups.of(&c.session);
                p.hset(key(&c.session, "clients"), &*c.client, json);
                p.hdel(key(&c.session, "offline"), &*c.client);
            }
            Record::ClientOffline {
                session,
                client,
                expiry,
            } => {
                let until = now_ms + ms(*expiry);
                let p = self.groups.of(session);
                p.hset(key(session, "offline"), &**client, until);
            }
            Record::ClientGone { session, client } => {
                let p = self.groups.of(session);
                p.hdel(key(session, "clients"), &**client);
                p.hdel(key(session, "offline"), &**client);
                p.del(receipts_key(session, client));
            }
            Record::Message(m) => self.message(m),
            Record::Attempt {
                session,
                delivery,
                client,
                attempt,
            } => {
                if !self.fleeting.contains(session, *delivery) {
                    let field = Field::Client(*delivery, client);
                    self.batch(session).set.push((field, *attempt));
                }
            }
            Record::Settled {
                session,
                delivery,
                client,
                delivered,
            } => {
                if self.fleeting.contains(session, *delivery) {
                    return;
                }
                // A failure is counted on the message unless its tombstone, in this same
                // write, makes the count moot.
                let counted = !delivered && !self.done.contains(session, *delivery);
                let field = Field::Client(*delivery, client);
                let batch = self.batch(session);
                if counted {
                    batch.failed.push((field, *delivery));
                } else {
                    batch.deleted.push(field);
                }
            }
            Record::Done {
                session,
                delivery,
                publisher,
                receipt,
                expiry,
            } => {
                let value = format::tombstone(publisher, receipt);
                let key = MessageKey(session, *delivery);
                let cmd = set_px(key, &value[..], value.len(), ms(*expiry));
                self.groups.of(session).add_command(cmd);
                let fleeting = self.fleeting.contains(session, *delivery);
                let batch = self.batch(session);
                if !fleeting {
                    batch.deleted.push(Field::Failed(*delivery));
                }
                batch.index.push((now_ms + ms(*expiry), *delivery));
            }
            Record::ReceiptQueued {
                session,
                client,
                receipt,
                expiry,
            } => {
                let rk = receipts_key(session, client);
                let p = self.groups.of(session);
                p.rpush(&rk, receipt.as_ref());
                p.pexpire(&rk, ms(*expiry) as i64);
            }
            Record::ReceiptsTaken { session, client } => {
                self.groups.of(session).del(receipts_key(session, client));
            }
        }
    }

    fn message(&mut self, m: &'a MessageRecord) {
        let now_ms = self.now_ms;
        let fleeting = self.fleeting.contains(&m.session, m.delivery);
        if !fleeting {
            let key = MessageKey(&m.session, m.delivery);
            let len = 32 + m.topic.len() + m.publisher.len() + m.frame.len();
            let cmd = set_px(key, format::MessageValue(m), len, ms(m.expiry));
            self.groups.of(&m.session).add_command(cmd);
        }
        let batch = self.batch(&m.session);
        // The next delivery id is written once per session per write: its last value.
        batch.next_delivery = Some(batch.next_delivery.unwrap_or(0).max(m.next_delivery));
        if fleeting {
            return;
        }
        for target in &m.targets {
            batch.set.push((Field::Client(m.delivery, target), 1));
        }
        batch.index.push((now_ms + ms(m.expiry), m.delivery));
    }
}

/// Stores `records` with one round trip (on a Redis Cluster, one per slot group, at once).
pub(crate) async fn write(conn: &mut StoreConn, records: &[Record]) -> RedisResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let per_slot = matches!(conn, StoreConn::Cluster(_));
    let pipes = pipelines(records, unix_ms(), per_slot);
    let writes = pipes.iter().map(|p| {
        let mut conn = conn.clone();
        async move { p.query_async::<()>(&mut conn).await }
    });
    for result in futures_util::future::join_all(writes).await {
        result?;
    }
    Ok(())
}

/// Longest a write of journal records may take before it counts as failed and is tried
/// again (its commands are idempotent but for a queued receipt, which a publisher may then
/// get twice and ignores).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// First and longest wait before a failed write is tried again.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The connection the journal is written through.
pub(crate) type StoreConn = crate::engine::RedisConn;

/// Where the routers write their brokers' journals: a Redis connection (shared: it
/// pipelines concurrent writes), the engine's health (a failed write marks it down at
/// once) and the counters `/metrics` shows.
#[derive(Clone)]
pub(crate) struct Store {
    conn: StoreConn,
    /// The engine's URL (or seeds), password hidden, for what the health says.
    redacted: Arc<str>,
    health: Arc<crate::engine::EngineHealth>,
    metrics: Arc<StoreMetrics>,
    /// This node's place among the nodes sharing the Redis: only the records of the
    /// sessions it owns are written, and only while its lease holds.
    fence: Option<Arc<crate::cluster::Cluster>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Counters of the journal's writes.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    /// Writes that succeeded.
    pub(crate) writes: AtomicU64,
    /// Records they stored.
    pub(crate) records: AtomicU64,
    /// Attempts that failed (each retry counts).
    pub(crate) failures: AtomicU64,
    /// Time the successful writes took, in microseconds.
    pub(crate) write_micros: AtomicU64,
}

impl Store {
    pub(crate) fn new(engine: &crate::engine::RedisEngine) -> Store {
        Store {
            conn: engine.conn(),
            redacted: Arc::from(engine.redacted()),
            health: engine.health().clone(),
            metrics: Arc::default(),
            fence: None,
        }
    }

    /// Writes only what `cluster` allows (see [`Store::fence`]).
    pub(crate) fn fenced(mut self, cluster: Arc<crate::cluster::Cluster>) -> Store {
        self.fence = Some(cluster);
        self
    }

    pub(crate) fn metrics(&self) -> Arc<StoreMetrics> {
        self.metrics.clone()
    }

    /// Writes `records` (one pipeline), trying again with backoff until it succeeds, then
    /// tells the router they are stored up to `upto`; says once that it failed meanwhile.
    pub(crate) async fn write(
        mut self,
        mut records: Vec<Record>,
        upto: u64,
        router: tokio::sync::mpsc::Sender<crate::server::RouterMsg>,
    ) {
        use crate::server::RouterMsg;
        let mut wait = RETRY_FIRST;
        let mut said = false;
        loop {
            let started = std::time::Instant::now();
            let mut leased = true;
            if let Some(cluster) = &self.fence {
                // A session created here that nobody owns yet (through the protocol's
                // `Admin` frame) is claimed now. Records of a session another node serves
                // are its to write: never acknowledged here (barriers wait for their
                // write), so nothing is lost.
                let mut unowned: Vec<&str> = records
                    .iter()
                    .map(Record::session)
                    .filter(|s| !cluster.owns(s))
                    .collect();
                unowned.sort_unstable();
                unowned.dedup();
                for session in unowned {
                    cluster.claim_unowned(session).await;
                }
                records.retain(|r| cluster.owns(r.session()));
                leased = cluster.lease_ok();
            }
            let attempt = async {
                if leased {
                    tokio::time::timeout(WRITE_TIMEOUT, write(&mut self.conn, &records)).await
                } else {
                    Ok(Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "this node's registration in Redis lapsed",
                    ))))
                }
            };
            let error = match attempt.await {
                Ok(Ok(())) => {
                    if let Some(cluster) = &self.fence {
                        for record in &records {
                            if let Record::SessionDropped { session } = record {
                                cluster.dropped(session).await;
                            }
                        }
                    }
                    let m = &self.metrics;
                    m.writes.fetch_add(1, Ordering::Relaxed);
                    m.records.fetch_add(records.len() as u64, Ordering::Relaxed);
                    let micros = started.elapsed().as_micros() as u64;
                    m.write_micros.fetch_add(micros, Ordering::Relaxed);
                    if said {
                        tracing::info!("journal writes to Redis succeed again");
                    }
                    let _ = router.send(RouterMsg::Stored { upto }).await;
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {WRITE_TIMEOUT:?}"),
            };
            self.metrics.failures.fetch_add(1, Ordering::Relaxed);
            let redacted = &self.redacted;
            self.health.failed(&format!(
                "Redis at {redacted}: journal write failed: {error}"
            ));
            if !said {
                said = true;
                tracing::warn!(
                    records = records.len(),
                    "journal write to Redis failed, retrying: {error}; QoS 1 publishes are \
                     refused storage_unavailable meanwhile"
                );
                let _ = router.send(RouterMsg::StoreFailed).await;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }
}

/// Gives every stored session back to the broker that owns it (at start, before the
/// routers run). A session that cannot be restored (refused by the broker: over
/// `max_sessions`, a stored hash this version cannot read) is logged and skipped, and
/// stays stored. Returns how many sessions, clients and messages came back.
pub(crate) fn restore_into(
    brokers: &mut [fastport_broker::Broker],
    sessions: Vec<RestoredSession>,
) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    let now = fastport_proto::time::Instant::ZERO;
    for session in sessions {
        let name = session.name.clone();
        let (clients, messages) = (session.clients.len(), session.messages.len());
        let shard = fastport_broker::shard_of(&name, brokers.len());
        match brokers[shard].restore_session(now, session) {
            Ok(()) => {
                counts.0 += 1;
                counts.1 += clients;
                counts.2 += messages;
            }
            Err((code, message)) => {
                tracing::error!(session = %name, code = code.name(), "not restored: {message}");
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use fastport_proto::codec::{Frame, Receipt, ReceiptStatus};

    use super::*;

    /// The command names of the pipelines, in order.
    fn names(pipes: &[Pipeline]) -> Vec<String> {
        pipes
            .iter()
            .flat_map(|p| p.cmd_iter())
            .filter_map(|c| match c.args_iter().next() {
                Some(redis::Arg::Simple(name)) => Some(String::from_utf8_lossy(name).into()),
                _ => None,
            })
            .collect()
    }

    fn count(names: &[String], name: &str) -> usize {
        names.iter().filter(|n| *n == name).count()
    }

    fn message(session: &str, delivery: u64) -> Record {
        message_to(session, delivery, &["a", "b:1"])
    }

    fn message_to(session: &str, delivery: u64, targets: &[&str]) -> Record {
        Record::Message(Box::new(MessageRecord {
            session: session.into(),
            delivery,
            publisher: Arc::from("pub"),
            message_id: delivery,
            topic: "t".into(),
            frame: Bytes::from_static(b"frame"),
            payload_len: 1,
            targets: targets.iter().map(|&t| Arc::from(t)).collect(),
            expiry: Duration::from_secs(60),
            next_delivery: delivery + 1,
        }))
    }

    fn settled(session: &str, delivery: u64, client: &str, delivered: bool) -> Record {
        Record::Settled {
            session: session.into(),
            delivery,
            client: Arc::from(client),
            delivered,
        }
    }

    fn done(session: &str, delivery: u64) -> Record {
        let receipt = Receipt {
            message_id: delivery,
            status: ReceiptStatus::Delivered,
            delivered: 2,
            failed: 0,
        };
        Record::Done {
            session: session.into(),
            delivery,
            publisher: Arc::from("pub"),
            receipt: Frame::Receipt(receipt).encode(),
            expiry: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_write_of_messages_costs_one_command_per_message_and_four_per_session() {
        let records: Vec<Record> = (1..=100).map(|d| message("s", d)).collect();
        let all = names(&pipelines(&records, 1_000, false));
        assert_eq!(count(&all, "SET"), 100, "{all:?}");
        // The waiting hash (both subscribers of every message), the index and its trim,
        // the next delivery id.
        assert_eq!(all.len(), 104, "{all:?}");
        assert_eq!(count(&all, "HMSET") + count(&all, "HSET"), 2, "{all:?}");
    }

    #[test]
    fn acks_and_tombstones_cost_one_command_per_message_and_three_per_session() {
        let mut records = Vec::new();
        for d in 1..=100 {
            records.push(settled("s", d, "a", true));
            records.push(settled("s", d, "b:1", false));
            records.push(done("s", d));
        }
        let all = names(&pipelines(&records, 1_000, false));
        assert_eq!(count(&all, "SET"), 100, "{all:?}");
        // One HDEL for every ack and failure count, the index and its trim; a failure of
        // a message settled in the same write is not counted (its receipt holds it).
        assert_eq!(all.len(), 103, "{all:?}");
        assert_eq!(count(&all, "EVAL"), 0, "{all:?}");
    }

    #[test]
    fn failures_of_messages_still_waiting_are_one_script_call_per_session() {
        let records: Vec<Record> = (1..=50)
            .map(|d| settled("s", d, "a", false))
            .chain((1..=50).map(|d| settled("s", d, "b:1", true)))
            .collect();
        let all = names(&pipelines(&records, 1_000, false));
        assert_eq!(all, ["EVAL", "HDEL"]);
    }

    #[test]
    fn a_message_settled_in_the_write_that_stores_it_is_only_its_tombstone() {
        let records = [
            message("s", 1),
            settled("s", 1, "a", true),
            settled("s", 1, "b:1", false),
            done("s", 1),
        ];
        let pipes = pipelines(&records, 1_000, false);
        let all = names(&pipes);
        // The tombstone, the index and its trim, the next delivery id.
        assert_eq!(all, ["SET", "ZADD", "ZREMRANGEBYSCORE", "HSET"]);
        let packed = String::from_utf8_lossy(&pipes[0].get_packed_pipeline()).into_owned();
        assert!(!packed.contains("frame"), "{packed}");
    }

    #[test]
    fn a_dropped_session_gets_its_batch_before_its_keys_are_deleted() {
        let dropped = Record::SessionDropped {
            session: "s".into(),
        };
        let all = names(&pipelines(&[message("s", 1), dropped], 1_000, false));
        let set = all.iter().position(|n| n == "HMSET").expect("waiting set");
        let del = all.iter().position(|n| n == "DEL").expect("deleted");
        assert!(set < del, "{all:?}");
    }

    #[test]
    fn the_next_delivery_id_is_written_once_per_session_per_write_with_its_last_value() {
        let records = [message("s", 1), message("s", 2), message("t", 7)];
        let pipes = pipelines(&records, 1_000, true);
        let packed: Vec<String> = pipes
            .iter()
            .map(|p| String::from_utf8_lossy(&p.get_packed_pipeline()).into_owned())
            .collect();
        let all = packed.concat();
        assert_eq!(all.matches("next_delivery").count(), 2, "{all}");
        assert!(all.contains("next_delivery\r\n$1\r\n3\r\n"), "{all}");
        // On a cluster: one pipeline per session, each holding only its session's keys.
        assert_eq!(pipes.len(), 2);
        assert!(packed[0].contains("fastport:{s}:") && !packed[0].contains("fastport:{t}:"));
        assert!(packed[1].contains("fastport:{t}:") && !packed[1].contains("fastport:{s}:"));
    }

    /// What the writes store, a real Redis gives back: waiting subscribers with their
    /// attempts, acks and failures as counts, tombstones; and a write tried again after it
    /// was stored counts nothing twice.
    #[tokio::test]
    async fn a_restart_reads_back_what_the_writes_stored() {
        let redis = fastport_harness::Redis::start().await;
        let client = redis::Client::open(redis.url()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let client_record = |id: &str| {
            Record::Client(Box::new(fastport_broker::journal::ClientRecord {
                session: "s".into(),
                client: Arc::from(id),
                token_sha256: [7; 32],
                display_name: id.into(),
                subscriptions: vec![("t".into(), false)],
            }))
        };
        let now = unix_ms();
        let first = [
            client_record("a"),
            client_record("b:1"),
            message("s", 1),
            // A subscriber that does not come back (its state is gone): failed at the
            // restart.
            message_to("s", 2, &["a", "b:1", "gone"]),
            message("s", 3),
        ];
        let second = [
            Record::Attempt {
                session: "s".into(),
                delivery: 1,
                client: Arc::from("b:1"),
                attempt: 3,
            },
            settled("s", 1, "a", false),
            settled("s", 2, "a", true),
            settled("s", 3, "a", true),
            settled("s", 3, "b:1", true),
            done("s", 3),
        ];
        for records in [&first[..], &second[..], &second[..]] {
            for p in pipelines(records, now, false) {
                p.query_async::<()>(&mut conn).await.expect("write");
            }
        }
        // What a crash leaves behind: the fields of a message that expired meanwhile
        // (0: older than the next delivery id, 4). And fields of a message another node
        // is storing right now (9: past it), which stay.
        let _: () = redis::cmd("HSET")
            .arg(waiting_key("s"))
            .arg(&["0:a", "1", "0", "1", "9:a", "1"])
            .query_async(&mut conn)
            .await
            .expect("hset");
        let restored = load::load_session(&mut conn, "s", unix_ms())
            .await
            .expect("load");
        assert_eq!(restored.next_delivery, 4);
        assert_eq!(restored.clients.len(), 2);
        let mut messages = restored.messages;
        messages.sort_by_key(|m| m.record.delivery);
        let summary: Vec<_> = messages
            .iter()
            .map(|m| (m.record.delivery, m.waiting.clone(), m.delivered, m.failed))
            .collect();
        assert_eq!(
            summary,
            [
                (1, vec![(Arc::from("b:1"), 3)], 0, 1),
                (2, vec![(Arc::from("b:1"), 1)], 1, 1),
            ]
        );
        assert_eq!(messages[0].record.frame, Bytes::from_static(b"frame"));
        assert_eq!(messages[0].record.topic, "t");
        let tombstones: Vec<_> = restored
            .tombstones
            .iter()
            .map(|t| (t.publisher.clone(), t.message_id, t.receipt.is_some()))
            .collect();
        assert_eq!(tombstones, [(Arc::from("pub"), 3, true)]);
        // The settled message left nothing in the waiting hash, nor did the one that
        // expired; the subscriber that did not come back was settled there too.
        let fields: Vec<String> = redis::cmd("HKEYS")
            .arg(waiting_key("s"))
            .query_async(&mut conn)
            .await
            .expect("hkeys");
        let mut fields = fields;
        fields.sort();
        assert_eq!(fields, ["1", "1:b:1", "2", "2:b:1", "9:a"]);
    }
}
