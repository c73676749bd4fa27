//! Where the broker's state lives beyond one process: the storage engine the runtime drives.
//!
//! - [`Engine::Memory`]: everything in this process's memory (no `--redis`): the default,
//!   with nothing else to run.
//! - [`Engine::Redis`]: a Redis server or Redis Cluster ([`RedisEngine`]). This module is
//!   its plumbing: connecting at start (failing within [`CONNECT_LIMIT`] when Redis cannot
//!   be reached), a cheap connection to send pipelined batches through ([`RedisConn`]),
//!   and the engine's health ([`EngineHealth`]): a background task PINGs Redis every
//!   [`PING_INTERVAL`], and the runtime reports a failed write with
//!   [`EngineHealth::failed`]. `/healthz` answers 503 while the engine is down, and
//!   `/metrics` has its state and counts.
//!
//! The client is the `redis` crate (redis-rs) rather than `fred`: it is the most used and
//! maintained Rust client, async on tokio, with pipelines, Redis Cluster
//! (`cluster_async`), and a connection manager that reconnects with backoff, over rustls
//! with the `ring` provider this workspace already uses (no aws-lc-rs, no OpenSSL).
//! A `rediss://` URL connects over TLS, checking Redis's certificate against the public
//! roots, or against the private CA of [`crate::config::RedisTls`] (`[redis] ca`), which
//! also holds a client certificate for mutual TLS (`[redis] cert`, `key`); a handshake that
//! fails at start names the setting to look at.
//!
//! ```no_run
//! use fastport_server::config::{NodeId, RedisConfig, RedisUrl};
//! use fastport_server::engine::RedisEngine;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisConfig::Single(RedisUrl::parse("redis://127.0.0.1:6379/0")?);
//! let engine = RedisEngine::connect(&config, NodeId::new("web-1")?).await?;
//! let mut pipe = redis::pipe();
//! pipe.set("fastport:example", 1).ignore().get("fastport:example");
//! match pipe.query_async::<(i64,)>(&mut engine.conn()).await {
//!     Ok((value,)) => assert_eq!(value, 1),
//!     Err(e) => engine.health().failed(&e),
//! }
//! # Ok(())
//! # }
//! ```

mod health;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

pub use health::{EngineHealth, EngineMetrics};

use crate::config::{NodeId, RedisConfig};

/// How often the pinger asks Redis whether it is there.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long a ping may take before it counts as failed.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest [`RedisEngine::connect`] takes when Redis cannot be reached.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(5);
/// Each attempt to open a connection to Redis gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest any command or pipeline waits for its answer: a backstop against a Redis
/// that stopped answering without closing the connection. Generous, so that a large
/// pipeline under load is not failed for being slow; callers that need an answer sooner
/// bound it themselves (the pinger does, with [`PING_TIMEOUT`]).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts after the first of one reconnection (100 ms, then 200 ms later, with jitter):
/// few, so that a write while Redis is away fails within a second rather than waiting for
/// it; the pinger starts a new reconnection every [`PING_INTERVAL`] until Redis answers.
const RECONNECT_RETRIES: usize = 2;

/// The storage engine the server runs with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Engine {
    /// Everything in this process's memory (no `--redis`).
    Memory,
    /// Redis or Redis Cluster.
    Redis(RedisEngine),
}

impl Engine {
    /// Connects the engine `config` asks for: [`Engine::Memory`] without Redis.
    pub async fn connect(
        config: Option<&RedisConfig>,
        node: NodeId,
    ) -> Result<Engine, EngineError> {
        match config {
            None => Ok(Engine::Memory),
            Some(config) => RedisEngine::connect(config, node).await.map(Engine::Redis),
        }
    }

    /// `memory` or `redis`: the engine's name in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Memory => "memory",
            Engine::Redis(_) => "redis",
        }
    }

    /// The Redis engine; `None` for the memory engine.
    pub fn redis(&self) -> Option<&RedisEngine> {
        match self {
            Engine::Memory => None,
            Engine::Redis(redis) => Some(redis),
        }
    }

    /// The Redis engine's health; `None` for the memory engine, which is always up.
    pub fn health(&self) -> Option<&Arc<EngineHealth>> {
        match self {
            Engine::Memory => None,
            Engine::Redis(redis) => Some(redis.health()),
        }
    }
}

/// Why the Redis engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Redis did not answer, or refused the connection, a command or the credentials.
    #[error("cannot reach Redis at {redis}: {cause}")]
    Unreachable {
        /// The URL (or the cluster's seeds), password hidden.
        redis: String,
        /// Why (the client's error, or a timeout).
        cause: String,
    },
}

/// The Redis engine: a connection to Redis (or a Redis Cluster) kept up by reconnecting,
/// this node's id, and the engine's health, watched by a pinger task that ends when the
/// engine is dropped.
#[derive(Debug)]
pub struct RedisEngine {
    conn: RedisConn,
    health: Arc<EngineHealth>,
    node: NodeId,
    redacted: String,
    pinger: tokio::task::JoinHandle<()>,
}

impl RedisEngine {
    /// Connects to Redis and checks it answers a PING, within [`CONNECT_LIMIT`]; then starts
    /// the pinger. The error names the URL (password hidden) and the cause.
    pub async fn connect(config: &RedisConfig, node: NodeId) -> Result<RedisEngine, EngineError> {
        let redacted = config.redacted();
        let unreachable = |cause: String| EngineError::Unreachable {
            redis: redacted.clone(),
            cause,
        };
        let connecting = async {
            let mut conn = RedisConn::open(config).await?;
            let round_trip = ping(&mut conn).await?;
            Ok::<_, redis::RedisError>((conn, round_trip))
        };
        let (conn, round_trip) = match tokio::time::timeout(CONNECT_LIMIT, connecting).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => return Err(unreachable(with_tls_hint(describe(&e), config))),
            Err(_) => return Err(unreachable(format!("no answer within {CONNECT_LIMIT:?}"))),
        };
        let health = Arc::new(EngineHealth::new_up(round_trip));
        let pinger = tokio::spawn(watch(conn.clone(), health.clone(), redacted.clone()));
        Ok(RedisEngine {
            conn,
            health,
            node,
            redacted,
            pinger,
        })
    }

    /// A connection to send commands and pipelines through (`query_async(&mut conn)`).
    /// Cheap: every clone shares the same multiplexed connection(s), and reconnects on its
    /// own when Redis comes back; a command sent while Redis is away fails (report it with
    /// [`EngineHealth::failed`]).
    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// The engine's health, shared with the pinger.
    pub fn health(&self) -> &Arc<EngineHealth> {
        &self.health
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The URL or the cluster's seeds, passwords hidden: for logs.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl Drop for RedisEngine {
    fn drop(&mut self) {
        self.pinger.abort();
    }
}

/// A connection to Redis or to a Redis Cluster, cheap to clone: a
/// [`redis::aio::ConnectionLike`], so commands and pipelines run on it alike
/// (`pipe.query_async(&mut conn)`). An answer is waited for at most [`RESPONSE_TIMEOUT`];
/// wrap a call in `tokio::time::timeout` to give up sooner.
///
/// - One server: redis-rs's [`ConnectionManager`], one multiplexed connection that
///   reconnects when it breaks: a few attempts with exponential backoff (100 ms, 200 ms,
///   with jitter), then again at the next ping or write, so at most about one attempt per
///   second while Redis is away.
/// - A cluster: redis-rs's [`ClusterConnection`], which routes each command to the node of
///   its key's slot (a pipeline's keys must share one slot: use a hash tag, `{session}`)
///   and follows the cluster's changes.
#[derive(Clone)]
#[non_exhaustive]
pub enum RedisConn {
    /// One Redis server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisConn::Single(_) => f.write_str("RedisConn::Single(..)"),
            RedisConn::Cluster(_) => f.write_str("RedisConn::Cluster(..)"),
        }
    }
}

impl RedisConn {
    async fn open(config: &RedisConfig) -> redis::RedisResult<RedisConn> {
        match config {
            RedisConfig::Single(url) => {
                let client = match url.tls() {
                    None => redis::Client::open(url.as_secret_str())?,
                    Some(tls) => {
                        redis::Client::build_with_tls(url.as_secret_str(), tls.certificates())?
                    }
                };
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(RECONNECT_RETRIES);
                let conn = ConnectionManager::new_with_config(client, manager).await?;
                Ok(RedisConn::Single(conn))
            }
            RedisConfig::Cluster(seeds) => {
                let mut builder = ClusterClient::builder(seeds.iter().map(|s| s.as_secret_str()))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT);
                // Every seed has the same files (`[redis] ca`, `cert`, `key`); the client
                // uses them for the nodes it discovers too.
                if let Some(tls) = config.tls() {
                    builder = builder.certs(tls.certificates());
                }
                let client = builder.build()?;
                Ok(RedisConn::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_command(cmd),
            RedisConn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(conn) => conn.get_db(),
            RedisConn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// One health check, bounded by [`PING_TIMEOUT`]: its round trip.
///
/// One server: `PING`. A cluster: `CLUSTER INFO` from one node, which must say
/// `cluster_state:ok`. (A `PING` to every master would not do: the cluster client leaves
/// out the masters it cannot reach.) A master lost without a replica to take over makes
/// the state `fail` once the cluster's `cluster-node-timeout` has passed; writes to its
/// slots fail before that, and [`EngineHealth::failed`] reports them at once.
async fn ping(conn: &mut RedisConn) -> redis::RedisResult<Duration> {
    let started = Instant::now();
    let check = async {
        if matches!(conn, RedisConn::Single(_)) {
            return redis::cmd("PING")
                .query_async::<String>(conn)
                .await
                .map(drop);
        }
        let info = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async::<String>(conn)
            .await?;
        if info.lines().any(|l| l.trim() == "cluster_state:ok") {
            return Ok(());
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
            "the cluster's state is not ok",
            "a master is unreachable, or slots are not covered".to_owned(),
        )))
    };
    match tokio::time::timeout(PING_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "no answer to PING",
            format!("within {PING_TIMEOUT:?}"),
        ))),
    }
}

/// The pinger: a PING every [`PING_INTERVAL`] keeps `health` current (and makes the
/// connection manager notice a lost connection and reconnect while no write is going on).
async fn watch(mut conn: RedisConn, health: Arc<EngineHealth>, redacted: String) {
    let mut interval = tokio::time::interval(PING_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        match ping(&mut conn).await {
            Ok(round_trip) => {
                if health.answered(round_trip) {
                    tracing::info!(redis = redacted.as_str(), "redis engine up again");
                }
            }
            Err(e) => health.failed(&format!("Redis at {redacted}: {}", describe(&e))),
        }
    }
}

/// `cause` with, when it is a TLS handshake that failed over certificates, the setting to
/// look at. The client's error is rustls's, in its words: `invalid peer certificate: ...`
/// when Redis's certificate is not trusted (an expired one, or one for another name, says
/// so itself), `received fatal alert: ...` when Redis refused the handshake (for a missing
/// or untrusted client certificate, with `tls-auth-clients yes`).
fn with_tls_hint(cause: String, config: &RedisConfig) -> String {
    const UNTRUSTED: [&str; 2] = ["UnknownIssuer", "BadSignature"];
    // DecryptError: OpenSSL's answer to a client certificate whose signature does not
    // verify (a CA of the same name, but another key).
    const REFUSED: [&str; 6] = [
        "CertificateRequired",
        "BadCertificate",
        "UnknownCA",
        "CertificateUnknown",
        "AccessDenied",
        "DecryptError",
    ];
    let tls = config.tls();
    let hint = if let Some(why) = cause.split("invalid peer certificate: ").nth(1) {
        if !UNTRUSTED.iter().any(|u| why.starts_with(u)) {
            return cause;
        }
        match tls.and_then(|t| t.ca_file()) {
            Some(_) => "Redis's certificate is not signed by the CA of --redis-ca ([redis] ca)",
            None => {
                "Redis's certificate does not chain to a public root: give its CA with \
                 --redis-ca ([redis] ca)"
            }
        }
    } else if let Some(alert) = cause.split("received fatal alert: ").nth(1) {
        if !REFUSED.iter().any(|r| alert.starts_with(r)) {
            return cause;
        }
        match tls.and_then(|t| t.client_files()) {
            Some(_) => "Redis refused the client certificate of --redis-cert ([redis] cert)",
            None => {
                "Redis asks for a client certificate (tls-auth-clients): give one with \
                 --redis-cert and --redis-key ([redis] cert, key)"
            }
        }
    } else {
        return cause;
    };
    format!("{cause} ({hint})")
}

/// The client's error in one line (it never holds the URL or a password).
fn describe(error: &redis::RedisError) -> String {
    error.to_string().replace('\n', " ")
}
