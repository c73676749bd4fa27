//! The command line (and, through clap's `env`, the `FASTPORT_*` environment variables).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::FalseyValueParser;
use clap::{ArgAction, Parser, Subcommand};

use fastport_proto::duration::parse_duration;
use fastport_proto::settings::{ServerFlags, SettingFlags};

const AFTER_HELP: &str = "\
Configuration sources, lowest to highest precedence:
  built-in defaults < TOML file (--config) < FASTPORT_* environment variables < flags

Durations are written with a unit: 500ms, 2s, 1m, 1h.

By default a session `demo` (password `demo`, secret key `demo-secret`) exists for
development. Listening beyond loopback needs an admin token and --no-demo-session (or
--insecure, for a trusted network only).

With --tls-cert and --tls-key the listener speaks TLS only (https://, wss://); SIGHUP
re-reads both files for new connections.

Endpoints: GET /ws (WebSocket), GET /healthz, GET /metrics (Prometheus), the admin API
under /admin/sessions, and static files from --static-dir. See docs/SERVER.md.";

/// The command-line flags. Every field is optional so that a flag (or its environment
/// variable) left out lets the config file or the default decide.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "fastport-server",
    version,
    about = "The fastPort broker: end-to-end-encrypted publish/subscribe over WebSocket",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// A utility instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TOML configuration file (keys as in docs/SERVER.md).
    #[arg(long, env = "FASTPORT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port. [default: 127.0.0.1:8080]
    #[arg(long, env = "FASTPORT_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Token required to create sessions, hashed with argon2 at startup. Without one,
    /// anyone who can reach the server may create sessions. Prefer the environment
    /// variable or --admin-token-file: other local users can read a process's arguments.
    #[arg(
        long,
        env = "FASTPORT_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// File whose first line is the admin token (instead of --admin-token).
    #[arg(long, env = "FASTPORT_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Start even when listening beyond loopback without an admin token or with the demo
    /// session, which is refused otherwise. For a trusted network only; logged as a warning.
    #[arg(
        long,
        env = "FASTPORT_INSECURE",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub insecure: bool,

    /// Directory of static files served for other GET requests; an empty value serves
    /// none. [default: web-demo/dist if it exists]
    #[arg(long, env = "FASTPORT_STATIC_DIR", value_name = "DIR", value_parser = any_path)]
    pub static_dir: Option<PathBuf>,

    /// Log filter for stderr, in tracing's env-filter syntax (e.g. `info`,
    /// `fastport_server=debug`). [default: info]
    #[arg(long, env = "FASTPORT_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Do not create the development session `demo`.
    #[arg(
        long,
        env = "FASTPORT_NO_DEMO_SESSION",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub no_demo_session: bool,

    /// Most connections open at once, HTTP and WebSocket, counted from the TCP accept;
    /// beyond it, new connections are closed at once. [default: 100000]
    #[arg(long, env = "FASTPORT_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Most connections open at once from one client address (IPv6: one /64), counted
    /// from the TCP accept; beyond it, new ones from that address are closed at once. 0: no
    /// cap. Raise it (or set 0) behind a reverse proxy, whose connections all come from
    /// its address. [default: 256]
    #[arg(long, env = "FASTPORT_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    pub max_connections_per_address: Option<usize>,

    /// Most sessions. [default: 10000]
    #[arg(long, env = "FASTPORT_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<usize>,

    /// Bytes queued for writing per connection. At this budget, QoS 1 deliveries to it
    /// wait in the server's cache and QoS 0 deliveries are shed (counted); nothing more is
    /// read from it while half is queued; at twice the budget it is closed as a slow
    /// consumer. [default: 8388608 (8 MiB)]
    #[arg(long, env = "FASTPORT_MAX_OUTBOUND_BYTES", value_name = "BYTES")]
    pub max_outbound_bytes: Option<usize>,

    /// The server's memory budget in bytes: cached QoS 1 payloads of every session plus
    /// the bytes queued for writing. A publish beyond it is answered queue_full (at least
    /// twice --max-outbound-bytes). [default: 1073741824 (1 GiB)]
    #[arg(long, env = "FASTPORT_MAX_MEMORY", value_name = "BYTES")]
    pub max_memory: Option<usize>,

    /// How long a connection's writes may make no progress (it stopped reading) before it
    /// is closed as a slow consumer. [default: 10s]
    #[arg(long, env = "FASTPORT_SLOW_CONSUMER_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub slow_consumer_timeout: Option<Duration>,

    /// Router tasks the sessions are spread over, each owning the sessions placed on it by
    /// name, so that sessions on different ones are routed in parallel. 0: one per core; at
    /// most 256. [default: 0]
    #[arg(long, env = "FASTPORT_ROUTER_SHARDS", value_name = "N")]
    pub router_shards: Option<usize>,

    /// Largest WebSocket message accepted, in bytes. [default: 1052672 (1 MiB + 4 KiB)]
    #[arg(long, env = "FASTPORT_MAX_FRAME_BYTES", value_name = "BYTES")]
    pub max_frame_bytes: Option<usize>,

    /// How long a graceful shutdown waits for connections to flush. [default: 5s]
    #[arg(long, env = "FASTPORT_SHUTDOWN_GRACE", value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,

    /// Keepalive for clients that ask for 0. [default: 10s]
    #[arg(long, env = "FASTPORT_KEEPALIVE", value_name = "DURATION", value_parser = parse_duration)]
    pub keepalive: Option<Duration>,

    /// Time a new connection has to send its Hello. [default: 10s]
    #[arg(long, env = "FASTPORT_HELLO_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub hello_timeout: Option<Duration>,

    /// How often at most each filter's presence changes go out: the first change of a
    /// quiet filter at once, later ones gathered until the interval ends and sent as one
    /// join and one leave frame per watcher. Above 0. [default: 100ms]
    #[arg(long, env = "FASTPORT_PRESENCE_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub presence_interval: Option<Duration>,

    /// Web origins, besides the server's own and loopback, whose pages may open WebSockets
    /// and call the admin API from a browser: comma-separated `scheme://host[:port]`, or
    /// `*` for any. Requests without an Origin header (non-browser clients) are not
    /// affected.
    #[arg(
        long,
        env = "FASTPORT_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Option<Vec<String>>,

    /// The host names this server answers for, comma-separated (e.g. chat.example.com):
    /// requests for any other name get 421, which defeats DNS rebinding. Its IP
    /// addresses and localhost are always served. [default: any name]
    #[arg(
        long,
        env = "FASTPORT_SERVER_NAMES",
        value_name = "NAMES",
        value_delimiter = ','
    )]
    pub server_names: Option<Vec<String>>,

    /// Token that `GET /metrics` requires as `Authorization: Bearer <token>` (at least 16
    /// characters). Without one, the metrics are open to whoever reaches the server.
    #[arg(
        long,
        env = "FASTPORT_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// Add per-session gauges to /metrics, labelled with each session's name (off by
    /// default: they name every session to whoever can read the metrics).
    #[arg(
        long,
        env = "FASTPORT_METRICS_PER_SESSION",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub metrics_per_session: bool,

    /// Let anyone who reaches the server create sessions without the admin token (for
    /// development on one machine). Off by default: without an admin token, no session
    /// can be created at run time.
    #[arg(
        long,
        env = "FASTPORT_OPEN_SESSION_CREATION",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub open_session_creation: bool,

    /// A reverse proxy's address range (`10.0.0.0/8`, `192.0.2.1`; repeatable, or
    /// comma-separated in the environment): for connections from it, the client's address
    /// (login limits, logs) is read from `Forwarded: for=` or `X-Forwarded-For`, right-most
    /// untrusted hop first. From other peers those headers are ignored.
    #[arg(
        long,
        env = "FASTPORT_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ',',
        action = ArgAction::Append
    )]
    pub trusted_proxy: Option<Vec<String>>,

    /// Certificate chain (PEM, the server's certificate first) to serve https:// and
    /// wss:// on the listener; needs --tls-key. Re-read on SIGHUP.
    #[arg(long, env = "FASTPORT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of --tls-cert. Re-read on SIGHUP.
    #[arg(long, env = "FASTPORT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Time a new connection has to complete the TLS handshake, and never past the hello
    /// timeout (which counts from the TCP accept). [default: 10s]
    #[arg(long, env = "FASTPORT_TLS_HANDSHAKE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub tls_handshake_timeout: Option<Duration>,

    /// The Redis engine: `redis://[USER:PASSWORD@]HOST:PORT/DB`, or `rediss://` for TLS.
    /// Without it, everything lives in this process's memory. Prefer the environment
    /// variable or the config file when the URL has a password: other local users can read a
    /// process's arguments. [default: none, the memory engine]
    #[arg(
        long,
        env = "FASTPORT_REDIS",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis: Option<String>,

    /// CA certificates (PEM) that Redis's certificate must chain to, instead of the public
    /// roots: for a `rediss://` Redis with a private or self-signed CA.
    #[arg(long, env = "FASTPORT_REDIS_CA", value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,

    /// Client certificate (PEM, its own certificate first) presented to a `rediss://` Redis
    /// that asks for one (mutual TLS, `tls-auth-clients yes`); needs --redis-key.
    #[arg(long, env = "FASTPORT_REDIS_CERT", value_name = "FILE")]
    pub redis_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of --redis-cert.
    #[arg(long, env = "FASTPORT_REDIS_KEY", value_name = "FILE")]
    pub redis_key: Option<PathBuf>,

    /// This node's name among the nodes that share one Redis: printable ASCII without
    /// spaces, at most 64 bytes. [default: the host name and 8 random hex digits, new at
    /// every start]
    #[arg(long, env = "FASTPORT_NODE_ID", value_name = "ID")]
    pub node_id: Option<String>,

    /// With the Redis engine: the WebSocket URL other nodes reach this one at, to relay
    /// the connections of the sessions it serves (`ws://10.0.0.5:8080/ws`; plain
    /// WebSocket, on a private network). [default:
    /// `ws://` the listen address `/ws`, with the host name for 0.0.0.0 or ::]
    #[arg(long, env = "FASTPORT_ADVERTISE_URL", value_name = "URL")]
    pub advertise_url: Option<String>,

    /// The defaults of every session's settings.
    #[command(flatten)]
    pub session_defaults: SettingFlags<ServerFlags>,
}

/// Utilities run instead of the server.
#[derive(Debug, Clone, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Read a secret from standard input (one line) and print its argon2id hash, for the
    /// `password_hash`, `secret_hash` and `admin_token_hash` keys of the config file.
    HashSecret,
}

/// Any path, the empty one included (clap's own parser refuses it; here it means "none").
fn any_path(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(text))
}
