//! Building the brokers from the configuration: hashing secrets, creating sessions.

use fastport_proto::codec::ErrorCode;

use super::{ServerError, DEMO_SESSION};
use crate::auth::{HashCost, SecretHash};
use crate::broker::{shard_of, Broker, BrokerConfig, Shard, Totals};
use crate::config::{Config, Secret};

/// One broker per router shard, with the configured sessions and, unless disabled, the
/// demo session, each on the shard its name is placed on. Slow (argon2 for every
/// plaintext secret): call it on a blocking thread.
pub(super) fn build_brokers(config: &Config) -> Result<Vec<Broker>, ServerError> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| ServerError::Secret {
        what: "verify cache key".into(),
        message: format!("random source failed: {e}"),
    })?;
    let admin_token = match &config.admin_token {
        Some(token) => Some(hash(token, "admin_token")?),
        None => None,
    };
    let broker_config = BrokerConfig {
        session_defaults: config.session_defaults,
        session_limits: config.session_limits,
        admin_token,
        open_session_creation: config.open_session_creation,
        keepalive_default: config.keepalive,
        keepalive_min: config.keepalive_min,
        keepalive_max: config.keepalive_max,
        hello_timeout: config.hello_timeout,
        max_sessions: config.max_sessions,
        max_connections: config.max_connections,
        // Shared out over the shards: the server as a whole queues no more than configured.
        max_pending_jobs: config.max_pending_jobs.div_ceil(config.shards()),
        verify_cache_key: key,
        max_outbound_bytes: config.max_outbound_bytes,
        max_memory: config.max_memory,
        presence_interval: config.presence_interval,
        totals: Totals::new(),
        // The Redis engine stores what the brokers journal (docs/CLUSTER.md).
        durable: config.redis.is_some(),
        ..BrokerConfig::default()
    };
    let count = config.shards();
    let mut brokers: Vec<Broker> = (0..count)
        .map(|index| {
            Broker::new(BrokerConfig {
                shard: Shard { index, count },
                ..broker_config.clone()
            })
        })
        .collect();
    for spec in &config.sessions {
        let password = hash(&spec.password, &format!("session `{}` password", spec.name))?;
        let secret = hash(&spec.secret, &format!("session `{}` secret", spec.name))?;
        brokers[shard_of(&spec.name, count)]
            .create_session(&spec.name, password, secret, spec.settings)
            .map_err(|e| session_error(&spec.name, e))?;
    }
    let (name, password, secret) = DEMO_SESSION;
    if config.demo_session && !config.sessions.iter().any(|s| s.name == name) {
        // The demo's secrets are published: cheap hashes cost nothing in secrecy and keep
        // its logins fast.
        let password = hash_plain(password, HashCost::Test, "demo password")?;
        let secret = hash_plain(secret, HashCost::Test, "demo secret")?;
        brokers[shard_of(name, count)]
            .create_session(name, password, secret, config.session_defaults)
            .map_err(|e| session_error(name, e))?;
    }
    Ok(brokers)
}

fn hash(secret: &Secret, what: &str) -> Result<SecretHash, ServerError> {
    match secret {
        Secret::Hashed(hash) => Ok(hash.clone()),
        Secret::Plain(plain) => hash_plain(plain, HashCost::Standard, what),
    }
}

fn hash_plain(plain: &str, cost: HashCost, what: &str) -> Result<SecretHash, ServerError> {
    SecretHash::new(plain, cost).map_err(|e| ServerError::Secret {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn session_error(name: &str, (code, message): (ErrorCode, String)) -> ServerError {
    ServerError::Session {
        name: name.to_owned(),
        code,
        message,
    }
}

/// With the Redis engine: joins the nodes sharing the Redis, claims every stored or
/// configured session that no live node serves, and gives the claimed ones back to their
/// brokers as Redis stores them (before anyone can connect). A configured session another
/// node serves is let go of here: its connections go there.
pub(super) async fn join_and_restore(
    redis: &crate::engine::RedisEngine,
    config: &Config,
    advertise: String,
    brokers: &mut [Broker],
) -> Result<std::sync::Arc<crate::cluster::Cluster>, ServerError> {
    use crate::engine::EngineError;
    let unreachable = |what: &str, e: &dyn std::fmt::Display| {
        ServerError::Engine(EngineError::Unreachable {
            redis: redis.redacted().to_owned(),
            cause: format!("{what}: {e}"),
        })
    };
    let configured: std::collections::HashSet<String> =
        brokers.iter().flat_map(Broker::session_names).collect();
    let cluster = crate::cluster::Cluster::join(
        redis.conn(),
        config.node_id.clone(),
        advertise,
        configured.clone(),
    )
    .await
    .map_err(|e| match e {
        crate::cluster::JoinError::Redis(e) => unreachable("joining the cluster", &e),
        id_in_use => ServerError::Cluster(id_in_use.to_string()),
    })?;
    let mut conn = redis.conn();
    let stored: Vec<String> = redis::cmd("SMEMBERS")
        .arg(crate::durable::SESSIONS)
        .query_async(&mut conn)
        .await
        .map_err(|e| unreachable("reading the stored sessions", &e))?;
    let stored: std::collections::BTreeSet<String> = stored.into_iter().collect();
    let mut names: Vec<&String> = stored.iter().chain(configured.iter()).collect();
    names.sort_unstable();
    names.dedup();
    let now = crate::durable::unix_ms();
    let mut restored = Vec::new();
    let mut elsewhere = 0usize;
    for name in names {
        let claimed = cluster
            .claim_at_start(name)
            .await
            .map_err(|e| unreachable("claiming the sessions", &e))?;
        if claimed {
            if stored.contains(name) {
                let session = crate::durable::load_session(&mut conn, name, now)
                    .await
                    .map_err(|e| unreachable("reading the stored sessions", &e))?;
                restored.push(session);
            }
        } else {
            elsewhere += 1;
            let shard = shard_of(name, brokers.len());
            brokers[shard].unload_session(fastport_proto::time::Instant::ZERO, name);
        }
    }
    let (sessions, clients, messages) = crate::durable::restore_into(brokers, restored);
    tracing::info!(sessions, clients, messages, "restored from Redis");
    tracing::info!(
        node = %config.node_id,
        url = cluster.advertise(),
        served_elsewhere = elsewhere,
        "joined the nodes sharing the Redis"
    );
    Ok(cluster)
}
