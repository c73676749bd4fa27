//! The server's configuration: built-in defaults, then a TOML file, then `FASTPORT_*`
//! environment variables, then command-line flags, each overriding the one before.
//!
//! [`Cli`] is the command line (clap reads the environment variables as the flags'
//! fallbacks); [`Config::load`] layers it over the file and the defaults and checks every
//! value, so that a mistake stops the server at startup with one line naming the key.
//!
//! ```
//! use clap::Parser;
//! use fastport_server::config::{Cli, Config};
//!
//! let cli = Cli::parse_from(["fastport-server", "--listen", "127.0.0.1:0", "--max-retries", "3"]);
//! let config = Config::load(cli).expect("valid configuration");
//! assert_eq!(config.listen, "127.0.0.1:0");
//! assert_eq!(config.session_defaults.max_retries, 3);
//! ```

mod cli;
mod engine;
mod file;
mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fastport_proto::names::SessionName;

use crate::auth::SecretHash;
use crate::broker::SessionSettings;
pub use cli::{Cli, Command};
pub use engine::{NodeId, RedisConfig, RedisTls, RedisUrl, MAX_NODE_ID_BYTES, MAX_PEM_BYTES};
pub use fastport_proto::duration::{format_duration, parse_duration};
use file::{FileConfig, FileSession};
pub(crate) use settings::JsonSettings;

/// The static directory used when none is configured, if it exists.
pub const DEFAULT_STATIC_DIR: &str = "web-demo/dist";

/// The default of [`Config::max_connections_per_address`]: room for a household or an
/// office behind one NAT address (a browser tab holds one WebSocket, a page load a few
/// short HTTP connections), while one address can hold no more than this many of the
/// server's file descriptors.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

/// Most router shards (`router_shards`).
pub const MAX_ROUTER_SHARDS: usize = 256;

/// The complete, checked configuration of a server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// The admin token needed to create sessions.
    pub admin_token: Option<Secret>,
    /// Whether anyone may create sessions without the admin token (development).
    pub open_session_creation: bool,
    /// Address ranges of reverse proxies whose `Forwarded` / `X-Forwarded-For` headers
    /// name the client; see [`crate::http::TrustedProxies`].
    pub trusted_proxies: Vec<String>,
    /// Directory of static files, if any.
    pub static_dir: Option<PathBuf>,
    /// tracing env-filter directive for the log on stderr.
    pub log: String,
    /// Whether to create the development session `demo`.
    pub demo_session: bool,
    /// Most sockets open at once (HTTP and WebSocket, counted from accept).
    pub max_connections: usize,
    /// Most sockets open at once from one address (IPv6: one /64); 0 means no cap.
    pub max_connections_per_address: usize,
    /// Most sessions.
    pub max_sessions: usize,
    /// Most password checks running at once.
    pub max_pending_jobs: usize,
    /// Bytes queued for writing per connection before deliveries to it wait (QoS 1) or
    /// are shed (QoS 0); twice this closes it as a slow consumer.
    pub max_outbound_bytes: usize,
    /// The memory budget: cached QoS 1 payloads plus queued outbound bytes, over the
    /// whole server; publishes beyond it are answered `queue_full`.
    pub max_memory: usize,
    /// How long a connection's writes may make no progress before it is closed as a slow
    /// consumer.
    pub slow_consumer_timeout: Duration,
    /// Router tasks sessions are spread over (each owns its sessions); 0 means one per
    /// core.
    pub router_shards: usize,
    /// Largest WebSocket message accepted, in bytes.
    pub max_frame_bytes: usize,
    /// How long a graceful shutdown waits for connections to flush.
    pub shutdown_grace: Duration,
    /// Keepalive for clients that ask for 0.
    pub keepalive: Duration,
    /// Shortest keepalive a client may ask for.
    pub keepalive_min: Duration,
    /// Longest keepalive a client may ask for.
    pub keepalive_max: Duration,
    /// Time a new connection has to send its `Hello`.
    pub hello_timeout: Duration,
    /// How often at most each filter's presence changes go out (docs/PROTOCOL.md §8).
    pub presence_interval: Duration,
    /// Web origins besides the server's own and loopback that may use it from a browser
    /// (`*`: any); see [`crate::http::OriginPolicy`].
    pub allowed_origins: Vec<String>,
    /// The host names the server answers for (`Host`); empty: any. See
    /// [`crate::http::HostPolicy`].
    pub server_names: Vec<String>,
    /// The token `/metrics` requires as `Authorization: Bearer`; `None` leaves it open.
    pub metrics_token: Option<Token>,
    /// Whether `/metrics` has the per-session gauges (which name every session).
    pub metrics_per_session: bool,
    /// Start even when reachable from other machines without an admin token or with the
    /// demo session (see [`Config::exposure`]).
    pub insecure: bool,
    /// The certificate and key files of TLS; `None`: plain HTTP and WebSocket.
    pub tls: Option<TlsFiles>,
    /// Time a new connection has to complete the TLS handshake, and never past the hello
    /// timeout (which counts from the TCP accept).
    pub tls_handshake_timeout: Duration,
    /// Settings of sessions that do not state their own.
    pub session_defaults: SessionSettings,
    /// The most a session may be configured with (`[session_limits]`): each stated
    /// setting is a ceiling for the admin API, the CLI and the config file alike.
    pub session_limits: fastport_proto::codec::SessionConfig,
    /// Sessions declared in the config file, created at startup.
    pub sessions: Vec<SessionSpec>,
    /// The Redis engine's server or cluster; `None` runs the memory engine (everything in
    /// this process's memory, as without `--redis`).
    pub redis: Option<RedisConfig>,
    /// This node's name among the nodes sharing one Redis ([`NodeId::generated`] unless
    /// configured).
    pub node_id: NodeId,
    /// The WebSocket URL other nodes reach this one at (`None`: derived from the listen
    /// address, see [`crate::cluster::advertise_url`]).
    pub advertise_url: Option<String>,
    /// Things worth a warning in the log once logging is set up.
    pub warnings: Vec<String>,
}

/// A secret as configured: plaintext (hashed at startup) or an argon2 PHC hash.
#[derive(Clone)]
pub enum Secret {
    /// Plaintext, to be hashed at startup.
    Plain(String),
    /// Already hashed.
    Hashed(SecretHash),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("Secret::Plain(..)"),
            Secret::Hashed(_) => f.write_str("Secret::Hashed(..)"),
        }
    }
}

/// A token compared by the server itself (not an argon2 secret): its `Debug` hides it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token as configured.
    pub fn plain(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The PEM files TLS is served with (both are re-read on `SIGHUP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A session declared in the config file.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Session name.
    pub name: String,
    /// Password clients connect with.
    pub password: Secret,
    /// Secret key for admin operations on the session.
    pub secret: Secret,
    /// Its settings (the defaults overridden by its own).
    pub settings: SessionSettings,
}

/// Why the configuration cannot be used. Displayed as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file has a syntax error or a bad value.
    #[error("config file {}: {}", path.display(), one_line(message))]
    File {
        /// The file.
        path: PathBuf,
        /// The key and the problem.
        message: String,
    },
    /// A value is out of range, whichever source it came from.
    #[error("{key}: {}", one_line(message))]
    Invalid {
        /// The key, with its flag and environment variable.
        key: String,
        /// The problem.
        message: String,
    },
}

impl Config {
    /// What makes this configuration unsafe to reach from other machines, if it listens
    /// beyond loopback: no admin token (anyone could create sessions), or the demo session
    /// (a password everyone knows). `None` on loopback, or when neither applies.
    pub fn exposure(&self) -> Option<&'static str> {
        let host = self.listen.rsplit_once(':').map_or("", |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback && self.open_session_creation {
            return Some("no --open-session-creation (anyone could create sessions)");
        }
        match (loopback, self.admin_token.is_some(), self.demo_session) {
            (true, _, _) | (false, true, false) => None,
            (false, false, true) => Some(
                "an admin token (--admin-token-file, FASTPORT_ADMIN_TOKEN or admin_token_hash) \
                 and no demo session (--no-demo-session)",
            ),
            (false, false, false) => Some(
                "an admin token (--admin-token-file, FASTPORT_ADMIN_TOKEN or admin_token_hash)",
            ),
            (false, true, true) => Some("no demo session (--no-demo-session)"),
        }
    }
}

/// Reads a secret from a file: its first line, without the line end. The file should be
/// readable by the server's user only.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret.to_owned())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".to_owned(),
            admin_token: None,
            open_session_creation: false,
            trusted_proxies: Vec::new(),
            static_dir: None,
            log: "info".to_owned(),
            demo_session: true,
            max_connections: 100_000,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            max_sessions: 10_000,
            max_pending_jobs: 64,
            max_outbound_bytes: 8 << 20,
            max_memory: 1 << 30,
            slow_consumer_timeout: Duration::from_secs(10),
            router_shards: 0,
            max_frame_bytes: 1024 * 1024 + 4 * 1024,
            shutdown_grace: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
            keepalive_min: Duration::from_secs(1),
            keepalive_max: Duration::from_secs(300),
            hello_timeout: Duration::from_secs(10),
            presence_interval: Duration::from_millis(100),
            allowed_origins: Vec::new(),
            server_names: Vec::new(),
            metrics_token: None,
            metrics_per_session: false,
            insecure: false,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            session_defaults: SessionSettings::default(),
            session_limits: fastport_proto::codec::SessionConfig::default(),
            sessions: Vec::new(),
            redis: None,
            node_id: NodeId::generated(),
            advertise_url: None,
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// Layers `cli` (flags and environment) over its config file and the defaults, and
    /// checks the result.
    pub fn load(cli: Cli) -> Result<Config, ConfigError> {
        let text = match &cli.config {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        Config::with_file_text(cli, &text)
    }

    /// [`Config::load`] with `text` as the config file's content (`--config` then only
    /// names the file in errors): parses the TOML, layers it with `cli` and checks the
    /// result. Never panics, whatever the text; `fuzz/` feeds it arbitrary input.
    pub fn with_file_text(cli: Cli, text: &str) -> Result<Config, ConfigError> {
        let file = file::parse(text).map_err(|message| ConfigError::File {
            path: cli.config.clone().unwrap_or_default(),
            message,
        })?;
        let file_error = |message: String| ConfigError::File {
            path: cli.config.clone().unwrap_or_default(),
            message,
        };
        let mut config = Config::default();
        config.layer_scalars(&cli, &file);
        config.layer_admin_token(&cli, &file)?;
        config.layer_static_dir(&cli, &file)?;
        config.layer_tls(&cli, &file)?;
        config.layer_engine(&cli, &file)?;
        config.layer_session_defaults(&cli, &file, &file_error)?;
        file.session_limits
            .0
            .check()
            .map_err(|e| file_error(format!("session_limits: {e}")))?;
        config.session_limits = file.session_limits.0;
        config
            .session_defaults
            .check_limits(&config.session_limits)
            .map_err(|m| invalid("session_defaults", format!("{m} (session_limits)")))?;
        for (i, session) in file.sessions.iter().enumerate() {
            let spec = config.session_spec(i, session).map_err(&file_error)?;
            spec.settings
                .check_limits(&config.session_limits)
                .map_err(|m| file_error(format!("sessions[{i}].settings: {m}")))?;
            if config.sessions.iter().any(|s| s.name == spec.name) {
                let message = format!("sessions[{i}].name: duplicate session `{}`", spec.name);
                return Err(file_error(message));
            }
            config.sessions.push(spec);
        }
        config.check()?;
        config.warn_about_frame_size();
        if let (true, Some(problem)) = (config.insecure, config.exposure()) {
            config.warnings.push(format!(
                "--insecure: {} is reachable from other machines although it should have {problem}",
                config.listen
            ));
        }
        Ok(config)
    }

    fn layer_scalars(&mut self, cli: &Cli, file: &FileConfig) {
        fn pick<T: Clone>(flag: &Option<T>, file: &Option<T>, current: &mut T) {
            if let Some(v) = flag.as_ref().or(file.as_ref()) {
                *current = v.clone();
            }
        }
        let dur = |d: &Option<file::FileDuration>| d.map(|d| d.0);
        pick(&cli.listen, &file.listen, &mut self.listen);
        pick(&cli.log, &file.log, &mut self.log);
        pick(
            &cli.max_connections,
            &file.max_connections,
            &mut self.max_connections,
        );
        pick(
            &cli.max_connections_per_address,
            &file.max_connections_per_address,
            &mut self.max_connections_per_address,
        );
        pick(
            &cli.max_sessions,
            &file.max_sessions,
            &mut self.max_sessions,
        );
        pick(&None, &file.max_pending_jobs, &mut self.max_pending_jobs);
        pick(
            &cli.max_outbound_bytes,
            &file.max_outbound_bytes,
            &mut self.max_outbound_bytes,
        );
        pick(&cli.max_memory, &file.max_memory, &mut self.max_memory);
        pick(
            &cli.router_shards,
            &file.router_shards,
            &mut self.router_shards,
        );
        pick(
            &cli.slow_consumer_timeout,
            &dur(&file.slow_consumer_timeout),
            &mut self.slow_consumer_timeout,
        );
        pick(
            &cli.max_frame_bytes,
            &file.max_frame_bytes,
            &mut self.max_frame_bytes,
        );
        pick(
            &cli.shutdown_grace,
            &dur(&file.shutdown_grace),
            &mut self.shutdown_grace,
        );
        pick(&cli.keepalive, &dur(&file.keepalive), &mut self.keepalive);
        pick(&None, &dur(&file.keepalive_min), &mut self.keepalive_min);
        pick(&None, &dur(&file.keepalive_max), &mut self.keepalive_max);
        pick(
            &cli.hello_timeout,
            &dur(&file.hello_timeout),
            &mut self.hello_timeout,
        );
        pick(
            &cli.presence_interval,
            &dur(&file.presence_interval),
            &mut self.presence_interval,
        );
        self.demo_session = !cli.no_demo_session && file.demo_session.unwrap_or(true);
        pick(
            &cli.allowed_origins,
            &file.allowed_origins,
            &mut self.allowed_origins,
        );
        pick(
            &cli.server_names,
            &file.server_names,
            &mut self.server_names,
        );
        if let Some(token) = cli.metrics_token.as_ref().or(file.metrics_token.as_ref()) {
            self.metrics_token = Some(Token(token.clone()));
        }
        self.metrics_per_session =
            cli.metrics_per_session || file.metrics_per_session.unwrap_or(false);
        self.insecure = cli.insecure || file.insecure.unwrap_or(false);
        self.open_session_creation =
            cli.open_session_creation || file.open_session_creation.unwrap_or(false);
        pick(
            &cli.trusted_proxy,
            &file.trusted_proxies,
            &mut self.trusted_proxies,
        );
    }

    fn layer_admin_token(&mut self, cli: &Cli, file: &FileConfig) -> Result<(), ConfigError> {
        match (&cli.admin_token, &cli.admin_token_file) {
            (Some(_), Some(_)) => {
                let message = "give either --admin-token or --admin-token-file, not both";
                return Err(invalid("admin_token", message.to_owned()));
            }
            (Some(token), None) => {
                self.admin_token = Some(Secret::Plain(token.clone()));
                return Ok(());
            }
            (None, Some(path)) => {
                let token = read_secret_file(path)
                    .map_err(|message| invalid("admin_token_file", message))?;
                self.admin_token = Some(Secret::Plain(token));
                return Ok(());
            }
            (None, None) => {}
        }
        let file_error = |message: String| ConfigError::File {
            path: cli.config.clone().unwrap_or_default(),
            message,
        };
        self.admin_token =
            secret(&file.admin_token, &file.admin_token_hash, "admin_token").map_err(file_error)?;
        if matches!(self.admin_token, Some(Secret::Plain(_))) {
            self.warnings.push(plaintext_warning("admin_token"));
        }
        Ok(())
    }

    fn layer_static_dir(&mut self, cli: &Cli, file: &FileConfig) -> Result<(), ConfigError> {
        let configured = cli.static_dir.as_ref().or(file.static_dir.as_ref());
        self.static_dir = match configured {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) if !dir.is_dir() => {
                return Err(invalid(
                    "static_dir",
                    format!("{} is not a directory", dir.display()),
                ))
            }
            Some(dir) => Some(dir.clone()),
            None => Some(PathBuf::from(DEFAULT_STATIC_DIR)).filter(|d| d.is_dir()),
        };
        Ok(())
    }

    fn layer_tls(&mut self, cli: &Cli, file: &FileConfig) -> Result<(), ConfigError> {
        if let Some(timeout) = cli
            .tls_handshake_timeout
            .or(file.tls_handshake_timeout.map(|d| d.0))
        {
            self.tls_handshake_timeout = timeout;
        }
        let cert = cli.tls_cert.as_ref().or(file.tls_cert.as_ref());
        let key = cli.tls_key.as_ref().or(file.tls_key.as_ref());
        self.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                let message = "--tls-cert needs --tls-key (FASTPORT_TLS_KEY, tls_key) too";
                return Err(invalid("tls_key", message.to_owned()));
            }
            (None, Some(_)) => {
                let message = "--tls-key needs --tls-cert (FASTPORT_TLS_CERT, tls_cert) too";
                return Err(invalid("tls_cert", message.to_owned()));
            }
        };
        Ok(())
    }

    fn layer_engine(&mut self, cli: &Cli, file: &FileConfig) -> Result<(), ConfigError> {
        self.redis = engine::layer(cli, file.redis.as_ref())
            .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        if let Some(id) = cli.node_id.as_ref().or(file.node_id.as_ref()) {
            self.node_id = NodeId::new(id).map_err(|message| invalid("node_id", message))?;
        }
        if let Some(url) = cli.advertise_url.as_ref().or(file.advertise_url.as_ref()) {
            let url = url.trim();
            // Nodes relay to each other over plain WebSocket: a private network's.
            let ok = url.starts_with("ws://")
                && url.len() > "ws://".len()
                && !url.chars().any(char::is_whitespace);
            if !ok {
                return Err(invalid(
                    "advertise_url",
                    format!("`{url}` is not a ws:// URL (nodes relay over plain WebSocket)"),
                ));
            }
            self.advertise_url = Some(url.to_owned());
        }
        Ok(())
    }

    fn layer_session_defaults(
        &mut self,
        cli: &Cli,
        file: &FileConfig,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        self.session_defaults
            .apply(&file.session_defaults.0)
            .map_err(|m| file_error(format!("session_defaults: {m}")))?;
        self.session_defaults
            .apply(&cli.session_defaults.config)
            .map_err(|m| invalid("session defaults (flags or environment)", m))
    }

    fn session_spec(&mut self, i: usize, session: &FileSession) -> Result<SessionSpec, String> {
        let key = |field: &str| format!("sessions[{i}].{field}");
        let name = SessionName::new(session.name.clone())
            .map_err(|e| format!("{}: {e}", key("name")))?
            .as_str()
            .to_owned();
        let password = secret(&session.password, &session.password_hash, &key("password"))?
            .ok_or_else(|| {
                format!(
                    "{}: missing (set password_hash or password)",
                    key("password")
                )
            })?;
        let secret = secret(&session.secret, &session.secret_hash, &key("secret"))?
            .ok_or_else(|| format!("{}: missing (set secret_hash or secret)", key("secret")))?;
        for (field, value) in [("password", &password), ("secret", &secret)] {
            if matches!(value, Secret::Plain(_)) {
                self.warnings.push(plaintext_warning(&key(field)));
            }
        }
        let mut settings = self.session_defaults;
        settings
            .apply(&session.settings.0)
            .map_err(|m| format!("{}: {m}", key("settings")))?;
        Ok(SessionSpec {
            name,
            password,
            secret,
            settings,
        })
    }

    /// A session whose largest message does not fit in a WebSocket message can never
    /// receive one that large: worth a warning, not an error.
    fn warn_about_frame_size(&mut self) {
        const HEADER_ROOM: usize = 4096;
        let named = self
            .sessions
            .iter()
            .map(|s| (s.name.as_str(), s.settings.max_message_size));
        let too_big: Vec<String> =
            std::iter::once(("session_defaults", self.session_defaults.max_message_size))
                .chain(named)
                .filter(|(_, size)| *size as usize + HEADER_ROOM > self.max_frame_bytes)
                .map(|(name, _)| name.to_owned())
                .collect();
        if !too_big.is_empty() {
            self.warnings.push(format!(
                "max_message_size of {} plus {HEADER_ROOM} bytes of header exceeds max_frame_bytes ({}): \
                 such messages will be refused",
                too_big.join(", "),
                self.max_frame_bytes
            ));
        }
    }

    /// The router shards to run: `router_shards`, or one per core when it is 0.
    pub fn shards(&self) -> usize {
        match self.router_shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(MAX_ROUTER_SHARDS)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let listen_ok = self
            .listen
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !listen_ok {
            let message = format!("`{}` is not HOST:PORT (e.g. 127.0.0.1:8080)", self.listen);
            return Err(invalid("listen", message));
        }
        if self.max_outbound_bytes < 64 * 1024 {
            let message = "must be at least 65536 (64 KiB)".into();
            return Err(invalid("max_outbound_bytes", message));
        }
        if self.max_memory < 2 * self.max_outbound_bytes {
            let message = "must be at least twice max_outbound_bytes".into();
            return Err(invalid("max_memory", message));
        }
        if self.slow_consumer_timeout.is_zero() {
            return Err(invalid("slow_consumer_timeout", "must be above 0".into()));
        }
        if self.router_shards > MAX_ROUTER_SHARDS {
            let message = format!("must be at most {MAX_ROUTER_SHARDS} (0: one per core)");
            return Err(invalid("router_shards", message));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1".into()));
        }
        if self.max_frame_bytes < 1024 {
            return Err(invalid("max_frame_bytes", "must be at least 1024".into()));
        }
        if !(self.keepalive_min <= self.keepalive && self.keepalive <= self.keepalive_max) {
            let message = "needs keepalive_min <= keepalive <= keepalive_max".to_owned();
            return Err(invalid("keepalive", message));
        }
        if self.presence_interval.is_zero() {
            return Err(invalid("presence_interval", "must be above 0".into()));
        }
        if self.tls_handshake_timeout.is_zero() {
            return Err(invalid("tls_handshake_timeout", "must be above 0".into()));
        }
        if self.keepalive_min.is_zero() || self.hello_timeout.is_zero() {
            let message = "keepalive_min and hello_timeout must be above 0".to_owned();
            return Err(invalid("keepalive", message));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| invalid("log", format!("invalid filter `{}`: {e}", self.log)))?;
        crate::http::OriginPolicy::new(&self.allowed_origins)
            .map_err(|message| invalid("allowed_origins", message))?;
        crate::http::HostPolicy::new(&self.server_names)
            .map_err(|message| invalid("server_names", message))?;
        crate::http::TrustedProxies::new(&self.trusted_proxies).map_err(|message| {
            invalid(
                "trusted_proxies (--trusted-proxy, FASTPORT_TRUSTED_PROXY)",
                message,
            )
        })?;
        if let Some(problem) = self.exposure() {
            if !self.insecure {
                let message = format!(
                    "`{}` is reachable from other machines, so the server needs {problem}; \
                     --insecure (FASTPORT_INSECURE, insecure = true) starts it anyway, for a \
                     trusted network only",
                    self.listen
                );
                return Err(invalid("listen", message));
            }
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.0.len() < 16) {
            let message =
                "must be at least 16 characters (a random string, e.g. `openssl rand -hex 24`)";
            return Err(invalid("metrics_token", message.to_owned()));
        }
        Ok(())
    }
}

/// A secret given as plaintext (`key`) or hash (`key_hash`), but not both.
fn secret(
    plain: &Option<String>,
    hash: &Option<String>,
    key: &str,
) -> Result<Option<Secret>, String> {
    match (plain, hash) {
        (Some(_), Some(_)) => Err(format!("{key}: set {key} or {key}_hash, not both")),
        (Some(plain), None) => Ok(Some(Secret::Plain(plain.clone()))),
        (None, Some(phc)) => SecretHash::from_phc(phc)
            .map(|h| Some(Secret::Hashed(h)))
            .map_err(|e| format!("{key}_hash: {e}")),
        (None, None) => Ok(None),
    }
}

fn plaintext_warning(key: &str) -> String {
    format!("config file: {key} is in plaintext; store {key}_hash (an argon2id PHC string) instead")
}

/// `text` with its control characters escaped (a line break as `\n`): an error quotes the
/// values it refuses, and stays one line (one log line) whatever they hold.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// An [`ConfigError::Invalid`] naming the file key with its flag and environment variable.
fn invalid(key: &str, message: String) -> ConfigError {
    let key = match key.split_once(' ') {
        Some(_) => key.to_owned(),
        None => {
            let flag = key.replace('_', "-");
            let env = format!("FASTPORT_{}", key.to_ascii_uppercase());
            format!("{key} (--{flag}, {env})")
        }
    };
    ConfigError::Invalid { key, message }
}

#[cfg(test)]
mod tests;
