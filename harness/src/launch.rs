//! How the server is started: which binary, with which flags, config file and environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;

use crate::server::{Process, Server};
use crate::temp::TempDir;
use crate::LIMIT;

/// What to start: the server binary with flags, a config file and environment variables.
///
/// Every variable `FASTPORT_*` of the test process is removed and `FASTPORT_STATIC_DIR` is
/// empty, so a test sees only the sources it chose (and no demo site the repository may
/// hold); [`Launch::env`] sets variables again.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    config: Option<String>,
    limit: Duration,
}

impl Launch {
    /// The workspace's server binary ([`server_binary`]) with no flags.
    pub fn new() -> Launch {
        Launch {
            binary: None,
            args: Vec::new(),
            env: Vec::new(),
            config: None,
            limit: LIMIT,
        }
    }

    /// Runs `binary` instead: the server's own tests pass cargo's
    /// `CARGO_BIN_EXE_fastport-server`, which needs no build of its own.
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Launch {
        self.binary = Some(binary.into());
        self
    }

    /// Adds flags, after `--listen` and `--config`.
    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Sets an environment variable of the server.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts the server with a config file holding `toml` (`--config PATH`); the file
    /// lives as long as the [`Server`].
    pub fn config(mut self, toml: &str) -> Launch {
        self.config = Some(toml.to_owned());
        self
    }

    /// Serves TLS with `pki`'s server certificate (`--tls-cert`, `--tls-key`): the server's
    /// [`Server::url`] is then `wss://`. The files stay where `pki` keeps them, so
    /// [`Pki::renew`] and SIGHUP reload them.
    pub fn tls(self, pki: &crate::Pki) -> Launch {
        let cert = pki.cert_file().to_string_lossy().into_owned();
        let key = pki.key_file().to_string_lossy().into_owned();
        self.args(&["--tls-cert", &cert, "--tls-key", &key])
    }

    /// Runs the Redis engine on `redis` (`--redis URL`) as node `node` (`--node-id`): call
    /// it once per node to start several servers that share one Redis.
    pub fn redis(self, redis: &crate::Redis, node: &str) -> Launch {
        self.args(&["--redis", &redis.url(), "--node-id", node])
    }

    /// Bounds every wait for the server (startup, log lines, exit) by `limit` instead of
    /// [`LIMIT`].
    pub fn limit(mut self, limit: Duration) -> Launch {
        self.limit = limit;
        self
    }

    /// The binary with the environment of this launch but without its flags: for runs to
    /// completion (`--help`, `hash-secret`, configuration mistakes).
    pub fn command(&self) -> Command {
        let binary = self.binary.clone().unwrap_or_else(server_binary);
        let mut command = Command::new(binary);
        clear_fastport_env(&mut command);
        command.env("FASTPORT_STATIC_DIR", "");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts the server on a free port of 127.0.0.1 and waits for its first line.
    pub async fn start(mut self) -> Server {
        let config = self.config.take().map(|toml| {
            let dir = TempDir::new();
            let path = dir.write("fastport.toml", toml.as_bytes());
            let path = path.to_str().expect("a UTF-8 temp dir").to_owned();
            self.args.splice(0..0, ["--config".to_owned(), path]);
            dir
        });
        let (mut process, listening) = self.spawn("127.0.0.1:0").await;
        let Some(listening) = listening else {
            process.stop(self.limit).await;
            let stdout = process.stdout.text();
            let log = process.stderr.text();
            panic!(
                "the server's stdout {stdout:?} does not start with `listening on`; stderr: {log}"
            );
        };
        Server::new(listening, self, config, process)
    }

    pub(crate) fn wait_limit(&self) -> Duration {
        self.limit
    }

    /// Starts the process listening on `listen`; the address is `None` when its first
    /// line is not `listening on [https://]HOST:PORT` (it could not listen, or exited).
    pub(crate) async fn spawn(&self, listen: &str) -> (Process, Option<Listening>) {
        let mut command = self.command();
        command
            .args(["--listen", listen])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let process = Process::spawn(command);
        let first = crate::within(
            self.limit,
            "the server's first line",
            process.stdout.containing("\n"),
        )
        .await;
        let addr = first.as_deref().and_then(parse_listening);
        (process, addr)
    }
}

impl Default for Launch {
    fn default() -> Launch {
        Launch::new()
    }
}

/// Where a started server listens, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listening {
    pub(crate) addr: SocketAddr,
    pub(crate) tls: bool,
}

/// The first line, `listening on HOST:PORT` or, with TLS, `listening on https://HOST:PORT`
/// (the rest is for people).
fn parse_listening(stdout: &str) -> Option<Listening> {
    let first = stdout.lines().next()?.strip_prefix("listening on ")?;
    let (address, tls) = match first.strip_prefix("https://") {
        Some(address) => (address, true),
        None => (first, false),
    };
    let addr = address.parse().ok()?;
    Some(Listening { addr, tls })
}

/// Removes every `FASTPORT_*` variable of the test process from `command`: tests choose
/// their sources explicitly, for the server and the `fastport` tool alike.
pub fn clear_fastport_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FASTPORT_") {
            command.env_remove(key);
        }
    }
    command
}

/// The workspace's server binary (debug build), built once per test process: for the
/// tests of crates other than the server, which cargo does not build it for.
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let status = StdCommand::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "fastport-server", "--bin"])
                .arg("fastport-server")
                .current_dir(&root)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building fastport-server failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(|dir| root.join(dir))
                .unwrap_or_else(|| root.join("target"));
            target.join("debug").join("fastport-server")
        })
        .clone()
}
