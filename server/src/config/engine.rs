//! The engine's settings: the Redis server or cluster (`--redis`, `[redis]`), the files of
//! its TLS connections (`--redis-ca`, `--redis-cert`, `--redis-key`: [`RedisTls`]) and this
//! node's id (`--node-id`). Checked when the configuration is loaded, so a bad URL or an
//! unusable PEM file stops the server with one line naming the key (and the file), and a
//! password in a URL never reaches a log line: every message shows [`RedisUrl::redacted`].

mod tls;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::cli::Cli;
pub use tls::{RedisTls, MAX_PEM_BYTES};

/// Most bytes of a node id.
pub const MAX_NODE_ID_BYTES: usize = 64;

/// Where the Redis engine keeps its state. `None` in [`crate::config::Config::redis`] runs
/// the memory engine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisConfig {
    /// One Redis server (`--redis`, `[redis] url`).
    Single(RedisUrl),
    /// The seed nodes of a Redis Cluster (`[redis] cluster`), at least one.
    Cluster(Vec<RedisUrl>),
}

impl RedisConfig {
    /// The certificates of its TLS connections, if any were configured (every seed of a
    /// cluster has the same).
    pub fn tls(&self) -> Option<&RedisTls> {
        match self {
            RedisConfig::Single(url) => url.tls(),
            RedisConfig::Cluster(seeds) => seeds.first().and_then(RedisUrl::tls),
        }
    }

    /// The URLs with their passwords hidden, comma-separated: for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            RedisConfig::Single(url) => url.redacted().to_owned(),
            RedisConfig::Cluster(seeds) => seeds
                .iter()
                .map(RedisUrl::redacted)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// A checked Redis URL: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for
/// TLS, with the certificates its TLS connections use, if any ([`RedisUrl::with_tls`]).
/// Its `Debug` and [`RedisUrl::redacted`] hide the password; only
/// [`RedisUrl::as_secret_str`] gives the URL as written, for the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    url: String,
    redacted: String,
    db: i64,
    tls: Option<Arc<RedisTls>>,
}

impl RedisUrl {
    /// Checks `text`. The error never quotes the URL (it may hold a password): it names the
    /// scheme or the part that is wrong.
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        const FORM: &str = "redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://... (TLS)";
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("redis" | "rediss") => {}
            Some(other)
                if other.len() <= 16
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
            {
                return Err(format!(
                    "scheme `{other}` is not redis:// or rediss:// ({FORM})"
                ))
            }
            _ => return Err(format!("not a URL of the form {FORM}")),
        }
        let parsed =
            redis::parse_redis_url(text).ok_or_else(|| format!("not a URL of the form {FORM}"))?;
        if parsed.fragment().is_some() {
            // `#insecure` (no certificate check) needs a client feature this build leaves
            // out on purpose.
            return Err(format!("a fragment (`#...`) is not supported ({FORM})"));
        }
        let info = redis::IntoConnectionInfo::into_connection_info(parsed.as_str())
            .map_err(|e| format!("not a usable Redis URL ({FORM}): {e}"))?;
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            // Only URLs that cannot have a password refuse one; this one has one.
            let _ = shown.set_password(Some("***"));
        }
        Ok(RedisUrl {
            url: text.to_owned(),
            redacted: shown.to_string(),
            db: info.redis_settings().db(),
            tls: None,
        })
    }

    /// This URL with `tls` for its connections: a private CA to check Redis's certificate
    /// with, and a client certificate. Refused for a `redis://` URL: its connections are
    /// plain TCP, where certificates would be silently ignored.
    pub fn with_tls(self, tls: Arc<RedisTls>) -> Result<RedisUrl, String> {
        if !self.is_tls() {
            return Err(format!(
                "{} is plain TCP (redis://), where certificates mean nothing: use rediss:// \
                 for TLS, or leave out the CA and the client certificate",
                self.redacted
            ));
        }
        Ok(RedisUrl {
            tls: Some(tls),
            ..self
        })
    }

    /// Whether its connections use TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("rediss://")
    }

    /// The certificates of its TLS connections, if any were configured; without them a
    /// `rediss://` connection checks Redis's certificate against the public roots and
    /// presents no client certificate.
    pub fn tls(&self) -> Option<&RedisTls> {
        self.tls.as_deref()
    }

    /// The URL with its password replaced by `***`: what logs, errors and `/healthz` show.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The URL as configured, password included: for the Redis client only.
    pub fn as_secret_str(&self) -> &str {
        &self.url
    }

    /// The database number (`/DB`, 0 when absent).
    pub fn db(&self) -> i64 {
        self.db
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tls {
            None => write!(f, "RedisUrl({})", self.redacted),
            Some(tls) => write!(f, "RedisUrl({}, {tls:?})", self.redacted),
        }
    }
}

/// This node's name among the nodes that share one Redis: printable ASCII without spaces,
/// 1 to [`MAX_NODE_ID_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Checks `id`.
    pub fn new(id: &str) -> Result<NodeId, String> {
        if id.is_empty() {
            return Err("must not be empty".into());
        }
        if id.len() > MAX_NODE_ID_BYTES {
            return Err(format!("must be at most {MAX_NODE_ID_BYTES} bytes"));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces".into());
        }
        Ok(NodeId(id.to_owned()))
    }

    /// A fresh id for a node that was not given one: the host name (its printable ASCII,
    /// when the system names the host) and 8 random hex digits, `web-3-5f0c9a1e`. Random
    /// rather than the host name alone so that several nodes on one host (tests, a three-node
    /// deployment on one machine) never share an id, and a node that restarts is a new node
    /// (nothing it left behind is mistaken for its own); the host name keeps it readable in
    /// logs and in Redis.
    pub fn generated() -> NodeId {
        let mut bytes = [0u8; 4];
        if getrandom::getrandom(&mut bytes).is_err() {
            // No random source: the process id and the clock still tell nodes apart.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            bytes = (nanos ^ std::process::id().rotate_left(16)).to_be_bytes();
        }
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let host: String = host_name()
            .chars()
            .filter(char::is_ascii_graphic)
            .take(MAX_NODE_ID_BYTES - suffix.len() - 1)
            .collect();
        if host.is_empty() {
            NodeId(suffix)
        } else {
            NodeId(format!("{host}-{suffix}"))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host name as the kernel has it (Linux), else `$HOSTNAME`, else empty.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// `[redis]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRedis {
    pub url: Option<String>,
    pub cluster: Option<Vec<String>>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// The key of `--redis` in errors.
pub(super) const REDIS_KEY: &str = "redis (--redis, FASTPORT_REDIS, [redis] url)";

/// The Redis configuration from the flags (or environment) and the file: `Ok(None)` for the
/// memory engine. The error is the key and the message.
pub(super) fn layer<'a>(
    cli: &'a Cli,
    file: Option<&'a FileRedis>,
) -> Result<Option<RedisConfig>, (String, String)> {
    let pick = |flag: &'a Option<PathBuf>, in_file: fn(&FileRedis) -> &Option<PathBuf>| {
        flag.as_deref()
            .or_else(|| file.and_then(|f| in_file(f).as_deref()))
    };
    let tls = RedisTls::load(
        pick(&cli.redis_ca, |f| &f.ca),
        pick(&cli.redis_cert, |f| &f.cert),
        pick(&cli.redis_key, |f| &f.key),
    )?;
    let Some(config) = servers(cli.redis.as_deref(), file)? else {
        return match tls {
            None => Ok(None),
            Some(tls) => Err((
                tls.first_key().to_owned(),
                "is for the Redis engine's TLS connections, and no Redis is configured \
                 (--redis, [redis] url or [redis] cluster)"
                    .to_owned(),
            )),
        };
    };
    let Some(tls) = tls.map(Arc::new) else {
        return Ok(Some(config));
    };
    let with_tls = |url: RedisUrl| {
        url.with_tls(tls.clone())
            .map_err(|m| (tls.first_key().to_owned(), m))
    };
    Ok(Some(match config {
        RedisConfig::Single(url) => RedisConfig::Single(with_tls(url)?),
        RedisConfig::Cluster(seeds) => {
            RedisConfig::Cluster(seeds.into_iter().map(with_tls).collect::<Result<_, _>>()?)
        }
    }))
}

/// The Redis server or the cluster's seeds, without TLS files: `Ok(None)` for the memory
/// engine.
fn servers(
    flag: Option<&str>,
    file: Option<&FileRedis>,
) -> Result<Option<RedisConfig>, (String, String)> {
    let url = flag.or(file.and_then(|f| f.url.as_deref()));
    let cluster = file.and_then(|f| f.cluster.as_ref());
    match (url, cluster) {
        (Some(_), Some(_)) => Err((
            REDIS_KEY.to_owned(),
            "give one Redis server (a URL) or the seeds of a cluster ([redis] cluster), not both"
                .to_owned(),
        )),
        (Some(url), None) => RedisUrl::parse(url)
            .map(|url| Some(RedisConfig::Single(url)))
            .map_err(|m| (REDIS_KEY.to_owned(), m)),
        (None, Some(seeds)) => {
            if seeds.is_empty() {
                let message = "needs at least one seed node (redis://HOST:PORT)".to_owned();
                return Err(("[redis] cluster".to_owned(), message));
            }
            let mut urls = Vec::with_capacity(seeds.len());
            for (i, seed) in seeds.iter().enumerate() {
                let key = format!("[redis] cluster[{i}]");
                let url = RedisUrl::parse(seed).map_err(|m| (key.clone(), m))?;
                if url.db() != 0 {
                    let message = "a Redis Cluster has database 0 only".to_owned();
                    return Err((key, message));
                }
                urls.push(url);
            }
            Ok(Some(RedisConfig::Cluster(urls)))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_its_form_and_hides_its_password() {
        let url = RedisUrl::parse("redis://app:hunter2@127.0.0.1:6380/3").expect("valid");
        assert_eq!(url.redacted(), "redis://app:***@127.0.0.1:6380/3");
        assert_eq!(url.as_secret_str(), "redis://app:hunter2@127.0.0.1:6380/3");
        assert_eq!(url.db(), 3);
        assert!(!format!("{url:?}").contains("hunter2"));
        let plain = RedisUrl::parse("rediss://cache.example:6380").expect("valid");
        assert_eq!(plain.redacted(), "rediss://cache.example:6380");
        assert_eq!(plain.db(), 0);
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        for bad in [
            "http://user:hunter2@host:6379",
            "hunter2",
            "redis://:hunter2@host:6379/notanumber",
            "redis://:hunter2@host:99999/0",
            "redis://:hunter2@/0",
            "redis+unix:///tmp/hunter2.sock",
            "rediss://:hunter2@host:6380/0#insecure",
        ] {
            let message = RedisUrl::parse(bad).expect_err(bad);
            assert!(!message.contains("hunter2"), "{bad}: {message}");
        }
        let message = RedisUrl::parse("http://h:1").expect_err("scheme");
        assert!(message.contains("scheme `http`"), "{message}");
    }

    #[test]
    fn node_ids_are_printable_ascii_without_spaces_up_to_64_bytes() {
        assert!(NodeId::new("web-1.eu").is_ok());
        assert!(NodeId::new(&"n".repeat(64)).is_ok());
        for bad in ["", "a b", "tab\there", "é", &"n".repeat(65)] {
            assert!(NodeId::new(bad).is_err(), "{bad:?}");
        }
        let a = NodeId::generated();
        let b = NodeId::generated();
        assert_ne!(a, b);
        assert!(NodeId::new(a.as_str()).is_ok(), "{a}");
        let suffix = a.as_str().rsplit('-').next().expect("a suffix");
        assert_eq!(suffix.len(), 8, "{a}");
        assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
    }
}
