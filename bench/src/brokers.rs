//! The brokers under test: which ones, how each is started, and the addresses clients use.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Result;

/// A broker and the transport its clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Broker {
    /// fastport-server, WebSocket (its only transport).
    Fastport,
    /// fastport-server on the Redis engine (`--redis`), with a redis-server of its own
    /// started by the bench: no persistence ([`REDIS_ARGS`]).
    FastportRedis,
    /// fastport-server on the Redis engine, its redis-server with `appendonly yes` and
    /// `appendfsync everysec` ([`REDIS_AOF_ARGS`]).
    FastportRedisAof,
    /// Mosquitto, MQTT 3.1.1 over TCP.
    Mosquitto,
    /// Mosquitto, MQTT 3.1.1 over WebSocket (subprotocol `mqtt`).
    MosquittoWs,
    /// nats-server, NATS protocol over TCP.
    Nats,
    /// nats-server, NATS protocol over WebSocket.
    NatsWs,
    /// redis-server, RESP over TCP (idle memory only).
    Redis,
}

impl Broker {
    pub fn label(self) -> &'static str {
        match self {
            Broker::Fastport => "fastPort (WebSocket)",
            Broker::FastportRedis => "fastPort + Redis (WebSocket)",
            Broker::FastportRedisAof => "fastPort + Redis AOF (WebSocket)",
            Broker::Mosquitto => "Mosquitto (MQTT/TCP)",
            Broker::MosquittoWs => "Mosquitto (MQTT/WS)",
            Broker::Nats => "NATS (TCP)",
            Broker::NatsWs => "NATS (WS)",
            Broker::Redis => "Redis (TCP)",
        }
    }

    /// Whether it is fastport-server (on either engine): the fastPort clients speak to it.
    pub fn fastport(self) -> bool {
        matches!(
            self,
            Broker::Fastport | Broker::FastportRedis | Broker::FastportRedisAof
        )
    }

    /// Whether clients reach it over WebSocket.
    pub fn websocket(self) -> bool {
        self.fastport() || matches!(self, Broker::MosquittoWs | Broker::NatsWs)
    }

    /// Whether it has acknowledged publishes and deliveries (QoS 1); core NATS has not.
    pub fn has_qos1(self) -> bool {
        self.fastport() || matches!(self, Broker::Mosquitto | Broker::MosquittoWs)
    }

    /// Whether it takes part in the throughput and latency measurements (Redis only in idle
    /// memory).
    pub fn pubsub_bench(self) -> bool {
        self != Broker::Redis
    }
}

/// A broker process, killed when dropped.
#[derive(Debug)]
pub struct Server {
    /// Where its clients connect (the WebSocket listener for the WS variants).
    pub addr: SocketAddr,
    /// The process id, for reading its memory.
    pub pid: u32,
    /// fastPort on the Redis engine: the redis-server it stores in (stopped after the
    /// broker, which is dropped first).
    pub redis: Option<Box<Server>>,
    _child: Child,
    _dir: Option<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The broker goes before its Redis, so it never sees Redis vanish under it.
        let _ = self._child.start_kill();
    }
}

/// A directory removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> Result<u16> {
    Ok(StdTcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn temp_dir(port: u16) -> Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("fastport-bench-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(TempDir(dir))
}

/// Waits until `addr` accepts TCP connections.
async fn wait_listening(addr: SocketAddr, child: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("server exited with {status} before listening on {addr}").into());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after 10 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Extra fastport-server flags for the idle-memory measurement: the demo session takes
/// 1,000 connections by default.
pub const FASTPORT_MANY_CONNECTIONS: &[&str] = &[
    "--session-max-connections",
    "20000",
    // Every connection comes from 127.0.0.1.
    "--max-connections-per-address",
    "0",
];

/// Mosquitto's config: a listener on `port`, MQTT over TCP or over WebSocket. Mosquitto
/// 2.0.11 refuses to start with only a WebSocket listener ("Unable to start any listening
/// sockets"), so the WebSocket variant also has an (unused) TCP listener on `spare_port`.
pub fn mosquitto_config(port: u16, websocket: bool, spare_port: u16) -> String {
    let listeners = if websocket {
        format!(
            "listener {spare_port} 127.0.0.1\nmax_connections -1\n\
             listener {port} 127.0.0.1\nprotocol websockets\nmax_connections -1\n"
        )
    } else {
        format!("listener {port} 127.0.0.1\nmax_connections -1\n")
    };
    format!("{listeners}allow_anonymous true\npersistence false\nset_tcp_nodelay true\n")
}

/// NATS's config for the WebSocket variant (the TCP variant runs with flags only).
pub fn nats_ws_config(tcp_port: u16, ws_port: u16) -> String {
    format!(
        "listen: \"127.0.0.1:{tcp_port}\"\n\
         websocket {{\n  host: \"127.0.0.1\"\n  port: {ws_port}\n  no_tls: true\n}}\n"
    )
}

/// Redis's flags after `--port PORT`: no persistence, room for the idle connections.
/// Also the Redis of `fastport-redis`.
pub const REDIS_ARGS: &[&str] = &[
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--maxclients",
    "20000",
];

/// The flags of `fastport-redis-aof`'s Redis after `--port PORT --dir DIR`: an append-only
/// file written to the disk once a second (a crash of the Redis host loses at most the
/// last second), no snapshots.
pub const REDIS_AOF_ARGS: &[&str] = &[
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--maxclients",
    "20000",
];

fn spawn(program: &Path, args: &[&str], hint: &str) -> Result<Child> {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {} ({hint}): {e}", program.display()).into())
}

/// Two different free ports.
fn two_free_ports() -> Result<(u16, u16)> {
    let first = free_port()?;
    loop {
        let second = free_port()?;
        if second != first {
            return Ok((first, second));
        }
    }
}

/// Starts a broker from the machine's packages and waits until it listens on `port`.
async fn run(program: &str, args: &[&str], port: u16, dir: Option<TempDir>) -> Result<Server> {
    let mut child = spawn(Path::new(program), args, "scripts/setup.sh --bench")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, &mut child).await?;
    let pid = child.id().ok_or_else(|| format!("{program} has no pid"))?;
    Ok(Server {
        addr,
        pid,
        redis: None,
        _child: child,
        _dir: dir,
    })
}

/// Starts a redis-server on a free port of 127.0.0.1 with [`REDIS_ARGS`], or with
/// [`REDIS_AOF_ARGS`] and its files in a temporary directory, and waits until it listens.
pub async fn start_redis(aof: bool) -> Result<Server> {
    let port = free_port()?;
    let port_arg = port.to_string();
    let mut args = vec!["--port", &port_arg];
    if aof {
        let dir = temp_dir(port)?;
        let dir_arg = dir.0.to_str().ok_or("temp dir is not UTF-8")?.to_owned();
        args.extend_from_slice(&["--dir", &dir_arg]);
        args.extend_from_slice(REDIS_AOF_ARGS);
        run("redis-server", &args, port, Some(dir)).await
    } else {
        args.extend_from_slice(REDIS_ARGS);
        run("redis-server", &args, port, None).await
    }
}

/// Starts fastport-server on a free port of 127.0.0.1 with `--log warn` and `extra` flags,
/// and with `config` (TOML) as its config file if given, and waits until it listens.
pub async fn start_fastport(bin: &Path, extra: &[&str], config: Option<&str>) -> Result<Server> {
    let mut args = vec!["--listen", "127.0.0.1:0", "--log", "warn"];
    let dir = match config {
        Some(config) => {
            let dir = temp_dir(free_port()?)?;
            let path = dir.0.join("fastport.toml");
            std::fs::write(&path, config)?;
            Some((
                dir,
                path.to_str().ok_or("temp dir is not UTF-8")?.to_owned(),
            ))
        }
        None => None,
    };
    if let Some((_, path)) = &dir {
        args.extend_from_slice(&["--config", path]);
    }
    args.extend_from_slice(extra);
    let mut child = Command::new(bin)
        .args(&args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "fastport-server printed nothing in 10 s")??
        .ok_or("fastport-server closed stdout (see its error above)")?;
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .parse()?;
    // Keep reading stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let pid = child.id().ok_or("fastport-server has no pid")?;
    Ok(Server {
        addr,
        pid,
        redis: None,
        _child: child,
        _dir: dir.map(|(dir, _)| dir),
    })
}

/// Starts `broker` on a free port of 127.0.0.1 and waits until it listens. `many` gives
/// fastPort's demo session room for the idle-memory connections.
pub async fn start(broker: Broker, fastport_bin: &Path, many: bool) -> Result<Server> {
    match broker {
        Broker::Fastport => {
            let args = if many { FASTPORT_MANY_CONNECTIONS } else { &[] };
            start_fastport(fastport_bin, args, None).await
        }
        Broker::FastportRedis | Broker::FastportRedisAof => {
            let redis = start_redis(broker == Broker::FastportRedisAof).await?;
            let url = format!("redis://{}/0", redis.addr);
            let mut args = vec!["--redis", url.as_str()];
            if many {
                args.extend_from_slice(FASTPORT_MANY_CONNECTIONS);
            }
            let mut server = start_fastport(fastport_bin, &args, None).await?;
            server.redis = Some(Box::new(redis));
            Ok(server)
        }
        Broker::Mosquitto | Broker::MosquittoWs => {
            let (port, spare) = two_free_ports()?;
            let dir = temp_dir(port)?;
            let conf = dir.0.join("mosquitto.conf");
            let ws = broker == Broker::MosquittoWs;
            std::fs::write(&conf, mosquitto_config(port, ws, spare))?;
            let conf = conf.to_str().ok_or("temp dir is not UTF-8")?.to_owned();
            run("mosquitto", &["-c", &conf], port, Some(dir)).await
        }
        Broker::Nats => {
            let port = free_port()?;
            let args = ["-a", "127.0.0.1", "-p", &port.to_string()];
            run("nats-server", &args, port, None).await
        }
        Broker::NatsWs => {
            let (tcp_port, ws_port) = two_free_ports()?;
            let dir = temp_dir(ws_port)?;
            let conf = dir.0.join("nats.conf");
            std::fs::write(&conf, nats_ws_config(tcp_port, ws_port))?;
            let conf = conf.to_str().ok_or("temp dir is not UTF-8")?.to_owned();
            run("nats-server", &["-c", &conf], ws_port, Some(dir)).await
        }
        Broker::Redis => start_redis(false).await,
    }
}
