//! The durable engine's data model in Redis: how the broker's journal records
//! ([`fastport_broker::journal`]) are written, and how a starting server reads its sessions
//! back. docs/CLUSTER.md describes the same keys for operators.
//!
//! Every key of a session carries its name as a hash tag (`fastport:{NAME}:...`), so in a
//! Redis Cluster a session's keys live in one slot. Session names are letters, digits,
//! `.`, `_` and `-`, so they cannot hold a brace. Client ids may hold `:`; they are never
//! parsed back out of a key.
//!
//! The keys, their types and lifetimes are the table in docs/CLUSTER.md ("The data
//! model"), kept there once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fastport_broker::journal::{
    decode_receipt, ClientRecord, MessageRecord, Record, RestoredClient, RestoredMessage,
    RestoredSession, SessionRecord, Tombstone,
};
use fastport_proto::codec::SessionConfig;
use fastport_proto::settings::Setting;
use redis::aio::ConnectionLike;
use redis::{Pipeline, RedisResult, Value};

/// The set of stored session names.
pub(crate) const SESSIONS: &str = "fastport:sessions";

/// Settles a subscriber's delivery once: drops it from the waiting hash and counts it on
/// the message, creating neither key if it expired.
const SETTLE: &str = r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
return 0";

/// Records a subscriber's attempt if it still owes the delivery.
const ATTEMPT: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 0";

fn key(session: &str, part: &str) -> String {
    format!("fastport:{{{session}}}:{part}")
}

fn message_key(session: &str, delivery: u64) -> String {
    key(session, &format!("m:{delivery}"))
}

fn waiting_key(session: &str, delivery: u64) -> String {
    key(session, &format!("w:{delivery}"))
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
/// set of session names. A session's commands keep their order either way.
pub(crate) fn pipelines(records: &[Record], now_ms: u64, per_slot: bool) -> Vec<Pipeline> {
    let mut groups = Groups {
        per_slot,
        order: Vec::new(),
    };
    let mut indexes = BTreeSet::new();
    // A message settled in this same write: its tombstone replaces its waiting hash and
    // counts, so the acks and attempts before it need not be written one by one (in a
    // fan-out to 16, most of the commands per message).
    let done: HashSet<(&str, u64)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Done {
                session, delivery, ..
            } => Some((session.as_str(), *delivery)),
            _ => None,
        })
        .collect();
    // The next delivery id is written once per session per write: its last value.
    let mut next_delivery: Vec<(&str, u64)> = Vec::new();
    for record in records {
        match record {
            Record::Settled {
                session, delivery, ..
            }
            | Record::Attempt {
                session, delivery, ..
            } if done.contains(&(session.as_str(), *delivery)) => continue,
            Record::Message(m) => match next_delivery.iter_mut().find(|(s, _)| *s == m.session) {
                Some((_, next)) => *next = (*next).max(m.next_delivery),
                None => next_delivery.push((&m.session, m.next_delivery)),
            },
            _ => {}
        }
        add(&mut groups, record, now_ms, &mut indexes);
    }
    for (session, next) in next_delivery {
        groups
            .of(session)
            .hset(key(session, "session"), "next_delivery", next)
            .ignore();
    }
    // Entries whose message or tombstone expired leave the index.
    for (session, index) in indexes {
        groups
            .of(&session)
            .cmd("ZREMRANGEBYSCORE")
            .arg(index)
            .arg("-inf")
            .arg(format!("({now_ms}"))
            .ignore();
    }
    groups.order.into_iter().map(|(_, p)| p).collect()
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

fn add(
    groups: &mut Groups,
    record: &Record,
    now_ms: u64,
    indexes: &mut BTreeSet<(String, String)>,
) {
    if let Record::Session(s) = record {
        groups.of("").sadd(SESSIONS, &s.name).ignore();
    }
    if let Record::SessionDropped { session } = record {
        groups.of("").srem(SESSIONS, session).ignore();
    }
    let p = groups.of(record.session());
    match record {
        Record::Session(s) => {
            let mut fields: Vec<(String, String)> = vec![
                ("password".into(), s.password.clone()),
                ("secret".into(), s.secret.clone()),
                ("suspended".into(), u8::from(s.suspended).to_string()),
            ];
            for (setting, value) in s.settings.stated() {
                fields.push((format!("setting:{}", setting.json()), value.to_string()));
            }
            p.hset_multiple(key(&s.name, "session"), &fields).ignore();
        }
        Record::SessionDropped { session } => {
            // Messages, waiting sets and receipts go with their TTLs; without the index
            // and the clients nothing finds them meanwhile.
            for part in ["session", "clients", "offline", "index"] {
                p.del(key(session, part)).ignore();
            }
        }
        Record::Client(c) => {
            let stored = StoredClient {
                token_sha256: hex::encode(c.token_sha256),
                name: c.display_name.clone(),
                subs: c.subscriptions.clone(),
            };
            let json = serde_json::to_string(&stored).unwrap_or_default();
            p.hset(key(&c.session, "clients"), &*c.client, json)
                .ignore();
            p.hdel(key(&c.session, "offline"), &*c.client).ignore();
        }
        Record::ClientOffline {
            session,
            client,
            expiry,
        } => {
            let until = now_ms + ms(*expiry);
            p.hset(key(session, "offline"), &**client, until).ignore();
        }
        Record::ClientGone { session, client } => {
            p.hdel(key(session, "clients"), &**client).ignore();
            p.hdel(key(session, "offline"), &**client).ignore();
            p.del(receipts_key(session, client)).ignore();
        }
        Record::Message(m) => {
            let mk = message_key(&m.session, m.delivery);
            // The frame goes as the slice it is: no copy of the payload per message.
            let (mid, plen) = (m.message_id.to_string(), m.payload_len.to_string());
            let fields: [(&str, &[u8]); 7] = [
                ("frame", &m.frame),
                ("topic", m.topic.as_bytes()),
                ("publisher", m.publisher.as_bytes()),
                ("mid", mid.as_bytes()),
                ("plen", plen.as_bytes()),
                ("delivered", b"0"),
                ("failed", b"0"),
            ];
            p.hset_multiple(&mk, &fields).ignore();
            p.pexpire(&mk, ms(m.expiry) as i64).ignore();
            let wk = waiting_key(&m.session, m.delivery);
            let targets: Vec<(&str, u32)> = m.targets.iter().map(|t| (&**t, 1)).collect();
            if !targets.is_empty() {
                p.hset_multiple(&wk, &targets).ignore();
                p.pexpire(&wk, ms(m.expiry) as i64).ignore();
            }
            let index = key(&m.session, "index");
            p.zadd(&index, m.delivery, now_ms + ms(m.expiry)).ignore();
            indexes.insert((m.session.clone(), index));
        }
        Record::Attempt {
            session,
            delivery,
            client,
            attempt,
        } => {
            p.cmd("EVAL")
                .arg(ATTEMPT)
                .arg(1)
                .arg(waiting_key(session, *delivery))
                .arg(&**client)
                .arg(*attempt)
                .ignore();
        }
        Record::Settled {
            session,
            delivery,
            client,
            delivered,
        } => {
            let field = if *delivered { "delivered" } else { "failed" };
            p.cmd("EVAL")
                .arg(SETTLE)
                .arg(2)
                .arg(waiting_key(session, *delivery))
                .arg(message_key(session, *delivery))
                .arg(&**client)
                .arg(field)
                .ignore();
        }
        Record::Done {
            session,
            delivery,
            receipt,
            expiry,
        } => {
            let mk = message_key(session, *delivery);
            p.hdel(&mk, &["frame", "topic", "plen", "delivered", "failed"])
                .ignore();
            p.hset(&mk, "receipt", receipt.as_ref()).ignore();
            p.pexpire(&mk, ms(*expiry) as i64).ignore();
            p.del(waiting_key(session, *delivery)).ignore();
            let index = key(session, "index");
            p.zadd(&index, *delivery, now_ms + ms(*expiry)).ignore();
            indexes.insert((session.clone(), index));
        }
        Record::ReceiptQueued {
            session,
            client,
            receipt,
            expiry,
        } => {
            let rk = receipts_key(session, client);
            p.rpush(&rk, receipt.as_ref()).ignore();
            p.pexpire(&rk, ms(*expiry) as i64).ignore();
        }
        Record::ReceiptsTaken { session, client } => {
            p.del(receipts_key(session, client)).ignore();
        }
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

/// A hash's fields by name, as bytes.
type Fields = HashMap<String, Vec<u8>>;

fn text(fields: &Fields, name: &str) -> Option<String> {
    fields
        .get(name)
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

fn number(fields: &Fields, name: &str) -> Option<u64> {
    text(fields, name).and_then(|t| t.parse().ok())
}

/// Loads the clients and messages of `name` too when only the configuration names it.
pub(crate) async fn load_session<C: ConnectionLike>(
    conn: &mut C,
    name: &str,
    now: u64,
) -> RedisResult<RestoredSession> {
    let (session, clients, offline, deliveries): (Fields, Fields, Fields, Vec<u64>) = redis::pipe()
        .hgetall(key(name, "session"))
        .hgetall(key(name, "clients"))
        .hgetall(key(name, "offline"))
        .cmd("ZRANGEBYSCORE")
        .arg(key(name, "index"))
        .arg(now)
        .arg("+inf")
        .query_async(conn)
        .await?;
    let record = session_record(name, &session);
    let next_delivery = number(&session, "next_delivery").unwrap_or(0);
    let mut restored_clients = Vec::new();
    let mut ids = Vec::new();
    for (client, json) in &clients {
        let expired = number(&offline, client).is_some_and(|until| until <= now);
        let Ok(stored) = serde_json::from_slice::<StoredClient>(json) else {
            continue;
        };
        let Some(token_sha256) = hex::decode(&stored.token_sha256)
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
        else {
            continue;
        };
        if expired {
            continue;
        }
        ids.push(client.clone());
        restored_clients.push(RestoredClient {
            record: ClientRecord {
                session: name.to_owned(),
                client: Arc::from(client.as_str()),
                token_sha256,
                display_name: stored.name,
                subscriptions: stored.subs,
            },
            receipts: Vec::new(),
        });
    }
    if !ids.is_empty() {
        let mut p = redis::pipe();
        for id in &ids {
            p.lrange(receipts_key(name, id), 0, -1);
        }
        let receipts: Vec<Vec<Vec<u8>>> = p.query_async(conn).await?;
        for (client, frames) in restored_clients.iter_mut().zip(receipts) {
            client.receipts = frames.into_iter().map(Bytes::from).collect();
        }
    }
    let mut messages = Vec::new();
    let mut tombstones = Vec::new();
    if !deliveries.is_empty() {
        let mut p = redis::pipe();
        for &d in &deliveries {
            p.hgetall(message_key(name, d))
                .hgetall(waiting_key(name, d))
                .pttl(message_key(name, d));
        }
        let values: Vec<Value> = p.query_async(conn).await?;
        let mut values = values.into_iter();
        for &delivery in &deliveries {
            let (Some(m), Some(w), Some(ttl)) = (values.next(), values.next(), values.next())
            else {
                break;
            };
            let m: Fields = redis::from_redis_value(m).unwrap_or_default();
            let w: HashMap<String, u32> = redis::from_redis_value(w).unwrap_or_default();
            let ttl: i64 = redis::from_redis_value(ttl).unwrap_or(-2);
            if ttl <= 0 {
                continue;
            }
            let Some(publisher) = text(&m, "publisher") else {
                continue;
            };
            let Some(message_id) = number(&m, "mid") else {
                continue;
            };
            if let Some(receipt) = m.get("receipt") {
                tombstones.push(Tombstone {
                    publisher: Arc::from(publisher.as_str()),
                    message_id,
                    receipt: decode_receipt(&Bytes::from(receipt.clone())),
                });
                continue;
            }
            let (Some(frame), Some(topic), Some(payload_len)) =
                (m.get("frame"), text(&m, "topic"), number(&m, "plen"))
            else {
                continue;
            };
            let waiting: Vec<(Arc<str>, u32)> = w
                .into_iter()
                .map(|(c, a)| (Arc::from(c.as_str()), a))
                .collect();
            messages.push(RestoredMessage {
                record: MessageRecord {
                    session: name.to_owned(),
                    delivery,
                    publisher: Arc::from(publisher.as_str()),
                    message_id,
                    topic,
                    frame: Bytes::from(frame.clone()),
                    payload_len: payload_len as usize,
                    targets: waiting.iter().map(|(c, _)| c.clone()).collect(),
                    expiry: Duration::from_millis(ttl as u64),
                    next_delivery: delivery + 1,
                },
                remaining: Duration::from_millis(ttl as u64),
                waiting,
                delivered: number(&m, "delivered").unwrap_or(0) as u32,
                failed: number(&m, "failed").unwrap_or(0) as u32,
            });
        }
    }
    Ok(RestoredSession {
        name: name.to_owned(),
        session: record,
        next_delivery,
        clients: restored_clients,
        messages,
        tombstones,
    })
}

/// The stored session, if its hash holds both hashes.
fn session_record(name: &str, fields: &Fields) -> Option<SessionRecord> {
    let password = text(fields, "password")?;
    let secret = text(fields, "secret")?;
    let mut settings = SessionConfig::default();
    for &setting in Setting::ALL {
        if let Some(value) = number(fields, &format!("setting:{}", setting.json())) {
            // A value this version cannot hold is left at its default.
            let _ = settings.set(setting, value);
        }
    }
    Some(SessionRecord {
        name: name.to_owned(),
        password,
        secret,
        settings,
        suspended: number(fields, "suspended") == Some(1),
    })
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
    use super::*;

    /// The command names of a pipeline, in order.
    fn names(p: &Pipeline) -> Vec<String> {
        p.cmd_iter()
            .filter_map(|c| match c.args_iter().next() {
                Some(redis::Arg::Simple(name)) => Some(String::from_utf8_lossy(name).into()),
                _ => None,
            })
            .collect()
    }

    fn message(session: &str, delivery: u64) -> Record {
        Record::Message(Box::new(MessageRecord {
            session: session.into(),
            delivery,
            publisher: Arc::from("pub"),
            message_id: delivery,
            topic: "t".into(),
            frame: Bytes::from_static(b"frame"),
            payload_len: 1,
            targets: vec![Arc::from("a"), Arc::from("b")],
            expiry: Duration::from_secs(60),
            next_delivery: delivery + 1,
        }))
    }

    fn settled(session: &str, delivery: u64, client: &str) -> Record {
        Record::Settled {
            session: session.into(),
            delivery,
            client: Arc::from(client),
            delivered: true,
        }
    }

    #[test]
    fn acks_of_a_message_settled_in_the_same_write_are_not_written_one_by_one() {
        let done = Record::Done {
            session: "s".into(),
            delivery: 1,
            receipt: Bytes::from_static(b"receipt"),
            expiry: Duration::from_secs(60),
        };
        let records = [
            settled("s", 1, "a"),
            settled("s", 1, "b"),
            done,
            settled("s", 2, "a"),
        ];
        let p = &pipelines(&records, 1_000, false)[0];
        let evals = names(p).iter().filter(|n| *n == "EVAL").count();
        assert_eq!(
            evals,
            1,
            "only the ack of message 2, still waiting: {:?}",
            names(p)
        );
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
        // On a cluster: one pipeline per session, each holding only its session's keys.
        assert_eq!(pipes.len(), 2);
        assert!(packed[0].contains("fastport:{s}:") && !packed[0].contains("fastport:{t}:"));
        assert!(packed[1].contains("fastport:{t}:") && !packed[1].contains("fastport:{s}:"));
    }
}
