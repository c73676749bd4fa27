//! Several nodes on one Redis: which node serves which session.
//!
//! Every session is served by one node at a time, its **owner**, which runs the session's
//! broker exactly as a lone server does: so ordering, receipts, presence and client-id
//! takeover are the one-node logic, unchanged. A connection that reaches another node is
//! relayed to the owner (`server/relay.rs`): the node reads its `Hello`, finds the owner
//! here, and pipes the WebSocket messages both ways over a WebSocket of its own to the
//! owner's advertised URL. No message crosses Redis: Redis says who owns what, and stores
//! what the owner journals (`durable.rs`).
//!
//! - **Nodes** register `fastport:node:{id}` = `BOOT URL`, with a TTL of [`NODE_TTL`],
//!   renewed every [`RENEW_EVERY`]. `BOOT` is random per process, so a restarted node with
//!   the same id is a new owner.
//! - **Owners**: `fastport:{S}:owner` = `ID BOOT`, no TTL. A node *claims* a session when the
//!   key is missing (`SET NX`) or names a node whose registration is gone (compare and set):
//!   it then loads the session from Redis and serves it.
//! - **Fencing** is by lease time: a node writes its journal only while its registration,
//!   as last renewed, has more than [`LEASE_MARGIN`] left (`lease_ok`), and only the
//!   records of sessions it owns. A node whose registration lapsed (Redis was away, or it
//!   stalled) checks each session it serves when it renews, and lets go of those another
//!   node took meanwhile: their connections are closed with `session_moved`, and what was
//!   not stored yet was never acknowledged.
//! - A **sweep** every [`SWEEP_EVERY`] claims the stored sessions whose owner is gone, so a
//!   dead node's messages are retried and expired by another even before their clients
//!   come back.
//! - The nodes share a **secret** (`fastport:cluster:secret`, created by the first node)
//!   that a relayed connection presents to the owner, which then believes the client
//!   address the relay names and skips the checks the relay made already (origin, host).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::{RedisError, Script};

use crate::config::NodeId;
use crate::engine::RedisConn;
use crate::server::RouterHandle;

/// How long a node's registration lives without renewal.
pub const NODE_TTL: Duration = Duration::from_secs(3);
/// How often a node renews its registration.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A node stops writing this long before its registration would lapse.
pub const LEASE_MARGIN: Duration = Duration::from_secs(1);
/// How often a node looks for sessions whose owner is gone.
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Longest a Redis call of the cluster may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The header a relaying node sends its shared secret in.
pub const NODE_HEADER: &str = "x-fastport-node";
/// The header a relaying node names its client's address in.
pub const CLIENT_HEADER: &str = "x-fastport-client";

const SECRET_KEY: &str = "fastport:cluster:secret";

/// Renews a node's registration: 1 renewed, 2 set again after it had lapsed, 0 the key
/// holds another process's registration.
const RENEW: &str = r"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0";

/// Sets a key to ARGV[2] if it holds ARGV[1]; deletes it when ARGV[2] is empty.
const SWAP: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
  return 1
end
return 0";

fn node_key(node: &str) -> String {
    format!("fastport:node:{node}")
}

fn owner_key(session: &str) -> String {
    format!("fastport:{{{session}}}:owner")
}

/// Where a session is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Here (this node owns it, has just claimed it, or nobody stores a session of that
    /// name and the local broker answers).
    Local,
    /// By the node at this WebSocket URL.
    Remote {
        /// The owner's id.
        node: String,
        /// Its advertised URL.
        url: String,
    },
}

/// Why the owner of a session could not be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    /// Redis failed or did not answer.
    #[error("Redis: {0}")]
    Redis(String),
    /// The session changed hands under us too many times in a row.
    #[error("the session's owner keeps changing")]
    Contended,
}

impl From<RedisError> for ClusterError {
    fn from(e: RedisError) -> Self {
        ClusterError::Redis(e.to_string())
    }
}

/// Counters of the cluster, for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    /// Sessions this node claimed (at start, on a connection, by the sweep).
    pub(crate) claims: AtomicU64,
    /// Of those, sessions taken over from a node that was gone.
    pub(crate) takeovers: AtomicU64,
    /// Sessions this node let go of because another node owned them.
    pub(crate) moved: AtomicU64,
    /// Connections relayed to another node, now.
    pub(crate) relayed: AtomicU64,
    /// Connections relayed to another node, ever.
    pub(crate) relayed_total: AtomicU64,
    /// Relays that could not reach the owner.
    pub(crate) relay_failures: AtomicU64,
    /// Live nodes at the last sweep, this one included.
    pub(crate) nodes: AtomicU64,
    /// Sessions this node serves.
    pub(crate) owned: AtomicU64,
}

/// This node's place among the nodes sharing one Redis.
pub struct Cluster {
    node: NodeId,
    /// `ID BOOT`: the owner value of the sessions this process serves.
    me: String,
    /// `BOOT URL`: this node's registration.
    registration: String,
    advertise: String,
    secret: String,
    conn: RedisConn,
    /// The sessions this process serves.
    owned: Mutex<HashSet<String>>,
    /// Sessions of the configuration (they exist without being stored yet).
    configured: HashSet<String>,
    /// Until when this node may write (its registration's last renewal, less the margin).
    lease: Mutex<Option<Instant>>,
    /// One claim at a time.
    claims: tokio::sync::Mutex<()>,
    /// Set by [`Cluster::leave`]: nothing is claimed any more.
    leaving: std::sync::atomic::AtomicBool,
    router: OnceLock<RouterHandle>,
    /// The addresses of the live nodes (exempt from the per-address socket cap).
    peers: Mutex<HashSet<IpAddr>>,
    metrics: Arc<ClusterMetrics>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("advertise", &self.advertise)
            .finish_non_exhaustive()
    }
}

/// Why a node could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Redis failed.
    #[error("Redis: {0}")]
    Redis(String),
    /// A live node holds this id.
    #[error("node id `{0}` is in use by a live node (at {1}); give every node its own --node-id")]
    IdInUse(String, String),
}

impl Cluster {
    /// Registers this node (`advertise` is the WebSocket URL other nodes reach it at) and
    /// reads or creates the shared secret. Fails if a live node has the same id.
    pub(crate) async fn join(
        conn: RedisConn,
        node: NodeId,
        advertise: String,
        configured: HashSet<String>,
    ) -> Result<Arc<Cluster>, JoinError> {
        let redis = |e: RedisError| JoinError::Redis(e.to_string());
        let mut c = conn.clone();
        let boot = random_hex(8);
        let registration = format!("{boot} {advertise}");
        let sent = Instant::now();
        let set: Option<String> = redis::cmd("SET")
            .arg(node_key(node.as_str()))
            .arg(&registration)
            .arg("NX")
            .arg("PX")
            .arg(NODE_TTL.as_millis() as u64)
            .query_async(&mut c)
            .await
            .map_err(redis)?;
        if set.is_none() {
            let holder: Option<String> = redis::cmd("GET")
                .arg(node_key(node.as_str()))
                .query_async(&mut c)
                .await
                .map_err(redis)?;
            let url = holder
                .as_deref()
                .and_then(|h| h.split_once(' '))
                .map_or("?", |(_, url)| url)
                .to_owned();
            return Err(JoinError::IdInUse(node.to_string(), url));
        }
        let fresh = random_hex(32);
        let _: Option<String> = redis::cmd("SET")
            .arg(SECRET_KEY)
            .arg(&fresh)
            .arg("NX")
            .query_async(&mut c)
            .await
            .map_err(redis)?;
        let secret: String = redis::cmd("GET")
            .arg(SECRET_KEY)
            .query_async(&mut c)
            .await
            .map_err(redis)?;
        let cluster = Cluster {
            me: format!("{node} {boot}"),
            node,
            registration,
            advertise,
            secret,
            conn,
            owned: Mutex::default(),
            configured,
            lease: Mutex::new(Some(sent + NODE_TTL - LEASE_MARGIN)),
            claims: tokio::sync::Mutex::new(()),
            leaving: std::sync::atomic::AtomicBool::new(false),
            router: OnceLock::new(),
            peers: Mutex::default(),
            metrics: Arc::default(),
        };
        Ok(Arc::new(cluster))
    }

    /// The URL other nodes relay connections to.
    pub fn advertise(&self) -> &str {
        &self.advertise
    }

    /// The counters for `/metrics`.
    pub fn metrics(&self) -> Arc<ClusterMetrics> {
        self.metrics.clone()
    }

    /// The secret relayed connections present.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether `presented` is the shared secret (in constant time).
    pub(crate) fn admits(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        presented.ct_eq(self.secret.as_bytes()).into()
    }

    /// Whether `ip` is a live node's address.
    pub(crate) fn is_peer(&self, ip: IpAddr) -> bool {
        lock(&self.peers).contains(&ip)
    }

    /// Whether this node serves `session`.
    pub(crate) fn owns(&self, session: &str) -> bool {
        lock(&self.owned).contains(session)
    }

    /// Whether this node may write its journal now (see the module docs).
    pub(crate) fn lease_ok(&self) -> bool {
        lock(&self.lease).is_some_and(|until| Instant::now() < until)
    }

    /// Hands the cluster the routers, once they run (claims restore into them).
    pub(crate) fn set_router(&self, router: RouterHandle) {
        let _ = self.router.set(router);
    }

    fn mark_owned(&self, session: &str) {
        let mut owned = lock(&self.owned);
        owned.insert(session.to_owned());
        self.metrics
            .owned
            .store(owned.len() as u64, Ordering::Relaxed);
    }

    fn unmark(&self, session: &str) -> bool {
        let mut owned = lock(&self.owned);
        let had = owned.remove(session);
        self.metrics
            .owned
            .store(owned.len() as u64, Ordering::Relaxed);
        had
    }

    /// Claims `session` at start if nobody live owns it: `true` if this node serves it now.
    pub(crate) async fn claim_at_start(&self, session: &str) -> Result<bool, ClusterError> {
        match self.try_claim(session).await? {
            Claim::Claimed => {
                self.mark_owned(session);
                Ok(true)
            }
            Claim::Held { .. } => Ok(false),
        }
    }

    /// Claims `session` if nobody owns it (a session created here without a claim, by
    /// the protocol's `Admin` frame): `true` if this node serves it now.
    pub(crate) async fn claim_unowned(&self, session: &str) -> bool {
        if self.leaving.load(Ordering::Acquire) {
            return false;
        }
        let mut c = self.conn.clone();
        let set: Result<Option<String>, _> = timed(
            redis::cmd("SET")
                .arg(owner_key(session))
                .arg(&self.me)
                .arg("NX")
                .query_async(&mut c),
        )
        .await;
        let claimed = matches!(set, Ok(Some(_)));
        if claimed {
            self.metrics.claims.fetch_add(1, Ordering::Relaxed);
            self.mark_owned(session);
        }
        claimed
    }

    /// Where `session` is served, claiming it if its owner is gone. `create` claims a
    /// session nobody stores (an admin creating it); without it such a session is
    /// [`Route::Local`] unclaimed, and the local broker refuses it as unknown.
    pub(crate) async fn route(&self, session: &str, create: bool) -> Result<Route, ClusterError> {
        if self.owns(session) {
            return Ok(Route::Local);
        }
        let _claiming = self.claims.lock().await;
        if self.owns(session) {
            return Ok(Route::Local);
        }
        if !create && !self.configured.contains(session) && !self.stored(session).await? {
            return Ok(Route::Local);
        }
        match self.try_claim(session).await? {
            Claim::Held { node, url } => Ok(Route::Remote { node, url }),
            Claim::Claimed => {
                self.serve(session).await?;
                Ok(Route::Local)
            }
        }
    }

    async fn stored(&self, session: &str) -> Result<bool, ClusterError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("SISMEMBER");
        cmd.arg(crate::durable::SESSIONS).arg(session);
        timed(cmd.query_async::<bool>(&mut c)).await
    }

    /// Takes `session` if its owner key is free or names a dead node.
    async fn try_claim(&self, session: &str) -> Result<Claim, ClusterError> {
        let mut c = self.conn.clone();
        for _ in 0..4 {
            let set: Option<String> = timed(
                redis::cmd("SET")
                    .arg(owner_key(session))
                    .arg(&self.me)
                    .arg("NX")
                    .query_async(&mut c),
            )
            .await?;
            if set.is_some() {
                self.metrics.claims.fetch_add(1, Ordering::Relaxed);
                return Ok(Claim::Claimed);
            }
            let Some(owner): Option<String> = timed(
                redis::cmd("GET")
                    .arg(owner_key(session))
                    .query_async(&mut c),
            )
            .await?
            else {
                continue;
            };
            if owner == self.me {
                return Ok(Claim::Claimed);
            }
            if let Some(url) = self.live_url(&owner).await? {
                return Ok(Claim::Held {
                    node: owner.split(' ').next().unwrap_or_default().to_owned(),
                    url,
                });
            }
            let swapped: i64 = timed(
                Script::new(SWAP)
                    .key(owner_key(session))
                    .arg(&owner)
                    .arg(&self.me)
                    .invoke_async(&mut c),
            )
            .await?;
            if swapped == 1 {
                tracing::info!(session, from = %owner, "took over the session of a node that is gone");
                self.metrics.claims.fetch_add(1, Ordering::Relaxed);
                self.metrics.takeovers.fetch_add(1, Ordering::Relaxed);
                return Ok(Claim::Claimed);
            }
        }
        Err(ClusterError::Contended)
    }

    /// The URL of the node `owner` (`ID BOOT`) names, if that node is alive and is not
    /// this node's own address (a node restarted at the same address is the old one gone).
    async fn live_url(&self, owner: &str) -> Result<Option<String>, ClusterError> {
        let Some((node, boot)) = owner.split_once(' ') else {
            return Ok(None);
        };
        let mut c = self.conn.clone();
        let registered: Option<String> =
            timed(redis::cmd("GET").arg(node_key(node)).query_async(&mut c)).await?;
        Ok(registered.and_then(|r| {
            let (b, url) = r.split_once(' ')?;
            (b == boot && url != self.advertise).then(|| url.to_owned())
        }))
    }

    /// Loads a session just claimed from Redis into its router, and serves it.
    async fn serve(&self, session: &str) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let now = crate::durable::unix_ms();
        let restored = timed(crate::durable::load_session(&mut c, session, now)).await?;
        if let Some(router) = self.router.get() {
            if let Err((code, message)) = router.restore(restored).await {
                tracing::error!(session, code = code.name(), "not restored: {message}");
            }
        }
        self.mark_owned(session);
        Ok(())
    }

    /// Lets go of a session another node owns: closes its connections here.
    async fn let_go(&self, session: &str) {
        if self.unmark(session) {
            self.metrics.moved.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(session, "another node serves the session now: let go of it");
            if let Some(router) = self.router.get() {
                router.unload(session).await;
            }
        }
    }

    /// A session was dropped (its drop is stored): nobody owns it any more.
    pub(crate) async fn dropped(&self, session: &str) {
        self.unmark(session);
        let mut c = self.conn.clone();
        let _ = timed(
            Script::new(SWAP)
                .key(owner_key(session))
                .arg(&self.me)
                .arg("")
                .invoke_async::<i64>(&mut c),
        )
        .await;
    }

    /// Renews the registration, sweeps for sessions whose owner is gone, until the task is
    /// aborted. Runs on its own task.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut renew = tokio::time::interval(RENEW_EVERY);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = renew.tick() => self.renew().await,
                _ = sweep.tick() => {
                    if let Err(e) = self.sweep().await {
                        tracing::debug!("cluster sweep failed: {e}");
                    }
                }
            }
        }
    }

    async fn renew(&self) {
        let mut c = self.conn.clone();
        let sent = Instant::now();
        let renewed = timed(
            Script::new(RENEW)
                .key(node_key(self.node.as_str()))
                .arg(&self.registration)
                .arg(NODE_TTL.as_millis() as u64)
                .invoke_async::<i64>(&mut c),
        )
        .await;
        match renewed {
            Ok(1) => *lock(&self.lease) = Some(sent + NODE_TTL - LEASE_MARGIN),
            Ok(2) => {
                // It had lapsed: other nodes may have taken sessions meanwhile. No writes
                // until each one is checked.
                *lock(&self.lease) = None;
                tracing::warn!(
                    "this node's registration in Redis had lapsed: checking its sessions"
                );
                if self.check_owned().await.is_ok() {
                    *lock(&self.lease) = Some(sent + NODE_TTL - LEASE_MARGIN);
                }
            }
            Ok(_) => {
                *lock(&self.lease) = None;
                tracing::error!(
                    node = %self.node,
                    "another process registered this node id: letting go of every session"
                );
                let owned: Vec<String> = lock(&self.owned).iter().cloned().collect();
                for session in owned {
                    self.let_go(&session).await;
                }
            }
            Err(e) => tracing::debug!("cluster: renewing the registration failed: {e}"),
        }
    }

    /// Lets go of the sessions whose owner key names another process now. A missing key
    /// (a Redis that restarted without its data) is claimed again: nobody else took it.
    async fn check_owned(&self) -> Result<(), ClusterError> {
        let owned: Vec<String> = lock(&self.owned).iter().cloned().collect();
        let mut c = self.conn.clone();
        for session in owned {
            // `SET NX GET`: the value the key held (then not set), or nothing (set: ours).
            let held: Option<String> = timed(
                redis::cmd("SET")
                    .arg(owner_key(&session))
                    .arg(&self.me)
                    .arg("NX")
                    .arg("GET")
                    .query_async(&mut c),
            )
            .await?;
            if held.is_some_and(|owner| owner != self.me) {
                self.let_go(&session).await;
            }
        }
        Ok(())
    }

    /// Claims the stored sessions nobody live owns, and refreshes the live nodes' addresses.
    async fn sweep(&self) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let names: Vec<String> = timed(
            redis::cmd("SMEMBERS")
                .arg(crate::durable::SESSIONS)
                .query_async(&mut c),
        )
        .await?;
        let names: Vec<String> = names.into_iter().filter(|n| !self.owns(n)).collect();
        let owners = self.owners(&names).await?;
        let mut alive: HashMap<String, Option<String>> = HashMap::new();
        for (session, owner) in names.into_iter().zip(owners) {
            let live = match &owner {
                None => None,
                Some(owner) => match alive.get(owner) {
                    Some(url) => url.clone(),
                    None => {
                        let url = self.live_url(owner).await?;
                        alive.insert(owner.clone(), url.clone());
                        url
                    }
                },
            };
            if live.is_none() {
                let _ = self.route(&session, false).await;
            }
        }
        let nodes: Vec<String> = self.scan_nodes().await?;
        let mut peers = HashSet::new();
        for url in &nodes {
            if let Some(ip) = url_ip(url) {
                peers.insert(ip);
            }
        }
        self.metrics
            .nodes
            .store(nodes.len() as u64, Ordering::Relaxed);
        *lock(&self.peers) = peers;
        Ok(())
    }

    /// The owner of each session: one round trip per 1,000 sessions on one Redis (a
    /// pipeline), one per session on a Redis Cluster (their keys are in different slots).
    async fn owners(&self, sessions: &[String]) -> Result<Vec<Option<String>>, ClusterError> {
        let mut c = self.conn.clone();
        let mut owners = Vec::with_capacity(sessions.len());
        if matches!(c, RedisConn::Single(_)) {
            for chunk in sessions.chunks(1000) {
                let mut pipe = redis::pipe();
                for session in chunk {
                    pipe.get(owner_key(session));
                }
                let got: Vec<Option<String>> = timed(pipe.query_async(&mut c)).await?;
                owners.extend(got);
            }
        } else {
            for session in sessions {
                let mut get = redis::cmd("GET");
                get.arg(owner_key(session));
                owners.push(timed(get.query_async(&mut c)).await?);
            }
        }
        Ok(owners)
    }

    /// The URLs of every registered node.
    async fn scan_nodes(&self) -> Result<Vec<String>, ClusterError> {
        let mut c = self.conn.clone();
        let keys: Vec<String> = match &mut c {
            RedisConn::Single(_) => {
                let mut keys = Vec::new();
                let mut cursor = 0u64;
                loop {
                    let (next, batch): (u64, Vec<String>) = timed(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg("fastport:node:*")
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut c),
                    )
                    .await?;
                    keys.extend(batch);
                    if next == 0 || keys.len() > 10_000 {
                        break;
                    }
                    cursor = next;
                }
                keys
            }
            // A scan of every master of a cluster is not one call: only this node's own
            // address is known there (the per-address exemption needs the others).
            RedisConn::Cluster(_) => vec![node_key(self.node.as_str())],
        };
        let mut urls = Vec::with_capacity(keys.len());
        for key in keys {
            let value: Option<String> =
                timed(redis::cmd("GET").arg(&key).query_async(&mut c)).await?;
            if let Some((_, url)) = value.as_deref().and_then(|v| v.split_once(' ')) {
                urls.push(url.to_owned());
            }
        }
        Ok(urls)
    }

    /// Leaves the cluster at a graceful shutdown: gives up every session and the
    /// registration, so that other nodes take them over at once rather than after
    /// [`NODE_TTL`].
    pub(crate) async fn leave(&self) {
        self.leaving.store(true, Ordering::Release);
        let owned: Vec<String> = std::mem::take(&mut *lock(&self.owned))
            .into_iter()
            .collect();
        *lock(&self.lease) = None;
        let mut c = self.conn.clone();
        for session in owned {
            let _ = timed(
                Script::new(SWAP)
                    .key(owner_key(&session))
                    .arg(&self.me)
                    .arg("")
                    .invoke_async::<i64>(&mut c),
            )
            .await;
        }
        let _ = timed(
            Script::new(SWAP)
                .key(node_key(self.node.as_str()))
                .arg(&self.registration)
                .arg("")
                .invoke_async::<i64>(&mut c),
        )
        .await;
    }
}

/// What a claim found.
enum Claim {
    Claimed,
    Held { node: String, url: String },
}

/// Runs a Redis call with [`CALL_TIMEOUT`].
async fn timed<T>(
    call: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ClusterError::Redis(format!(
            "no answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::getrandom(&mut buf).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8 ^ (std::process::id() >> (i % 4)) as u8;
        }
    }
    hex::encode(buf)
}

/// The address of a `ws://IP:PORT/...` URL whose host is an IP address.
fn url_ip(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://")?.1;
    let host_port = rest.split('/').next()?;
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    host.parse().ok()
}

/// The URL other nodes reach a node listening on `local` at: `advertise` if configured,
/// else `ws://ADDRESS:PORT/ws` of the listener, with the host's name for an unspecified
/// address (`0.0.0.0`, `::`).
pub fn advertise_url(advertise: Option<&str>, local: std::net::SocketAddr) -> String {
    if let Some(url) = advertise {
        return url.to_owned();
    }
    if local.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("ws://{host}:{}/ws", local.port())
    } else {
        format!("ws://{local}/ws")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_of_a_node_url_is_read_for_ip_hosts_only() {
        assert_eq!(url_ip("ws://127.0.0.1:8080/ws"), "127.0.0.1".parse().ok());
        assert_eq!(url_ip("ws://[::1]:8080/ws"), "::1".parse().ok());
        assert_eq!(url_ip("ws://node-2:8080/ws"), None);
        assert_eq!(url_ip("garbage"), None);
    }

    #[test]
    fn a_node_advertises_its_listener_or_its_host_name() {
        let local: std::net::SocketAddr =
            "127.0.0.1:4000".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(advertise_url(None, local), "ws://127.0.0.1:4000/ws");
        assert_eq!(advertise_url(Some("ws://a:1/ws"), local), "ws://a:1/ws");
        let any: std::net::SocketAddr = "0.0.0.0:4000".parse().unwrap_or_else(|_| unreachable!());
        let url = advertise_url(None, any);
        assert!(
            url.starts_with("ws://") && url.ends_with(":4000/ws"),
            "{url}"
        );
        assert!(!url.contains("0.0.0.0"), "{url}");
    }
}
