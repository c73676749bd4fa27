//! A running server process: its address, its output, signals, restart and exit.

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};
use tokio::process::{Child, Command};

use crate::capture::Capture;
use crate::launch::{Launch, Listening};
use crate::temp::TempDir;
use crate::within;

/// A running `fastport-server`, killed when dropped (its log is printed then if the test
/// is failing).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    launch: Launch,
    process: Process,
    /// Holds the config file of [`Launch::config`] for restarts.
    _config: Option<TempDir>,
}

impl Server {
    /// Starts the workspace's server binary on a free port with `args`.
    pub async fn start(args: &[&str]) -> Server {
        Launch::new().args(args).start().await
    }

    pub(crate) fn new(
        listening: Listening,
        launch: Launch,
        config: Option<TempDir>,
        process: Process,
    ) -> Server {
        Server {
            addr: listening.addr,
            tls: listening.tls,
            launch,
            process,
            _config: config,
        }
    }

    /// The address of its one listener (WebSocket and HTTP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id (for looking at the process from outside: `/proc`, its limits).
    pub fn pid(&self) -> u32 {
        self.process.child.id().expect("the server is running")
    }

    /// The WebSocket URL, `ws://HOST:PORT/ws`, or `wss://HOST:PORT/ws` with TLS (the test
    /// certificate names 127.0.0.1 too).
    pub fn url(&self) -> String {
        if self.tls {
            format!("wss://{}/ws", self.addr)
        } else {
            format!("ws://{}/ws", self.addr)
        }
    }

    /// Whether it serves TLS (its first line was `listening on https://...`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Everything on stdout so far (the banner).
    pub fn stdout(&self) -> String {
        self.process.stdout.text()
    }

    /// Everything on stderr so far (the log).
    pub fn stderr(&self) -> String {
        self.process.stderr.text()
    }

    /// Waits until stdout contains `needle`, and returns all of it.
    pub async fn stdout_with(&self, needle: &str) -> String {
        self.wait_for(&self.process.stdout, "stdout", needle).await
    }

    /// Waits until the log contains `needle`, and returns all of it.
    pub async fn stderr_with(&self, needle: &str) -> String {
        self.wait_for(&self.process.stderr, "stderr", needle).await
    }

    async fn wait_for(&self, pipe: &Capture, name: &str, needle: &str) -> String {
        let what = format!("`{needle}` on the server's {name}");
        let seen = within(self.limit(), &what, pipe.containing(needle)).await;
        seen.unwrap_or_else(|| panic!("the server closed its {name} without `{needle}`"))
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    /// Sends SIGTERM: a graceful shutdown.
    pub fn terminate(&self) {
        self.signal(Signal::TERM);
    }

    /// Waits for the process to exit and for the last of its output.
    pub async fn exit_status(&mut self) -> ExitStatus {
        self.process.exit(self.limit()).await
    }

    /// Kills the process (SIGKILL: a crash, nothing is flushed) and starts it again on the
    /// same address with the same flags, retrying while the port is still taken. Its stdout
    /// and log start afresh.
    pub async fn crash_and_restart(&mut self) {
        let limit = self.limit();
        self.process.stop(limit).await;
        let listen = self.addr.to_string();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (mut process, listening) = self.launch.spawn(&listen).await;
            if let Some(listening) = listening {
                assert_eq!(listening.addr, self.addr, "the restarted server's address");
                self.process = process;
                return;
            }
            process.stop(limit).await;
            let log = process.stderr.text();
            assert!(
                tokio::time::Instant::now() < deadline,
                "could not restart the server on {listen}: {log}"
            );
            // Nothing announces that a port became free (another process may hold it for
            // a moment): try again shortly.
            tokio::time::sleep(RESTART_RETRY).await;
        }
    }

    fn limit(&self) -> Duration {
        self.launch.wait_limit()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- server stderr ----\n{}", self.stderr());
        }
    }
}

/// How long a restart waits before it tries a taken port again.
const RESTART_RETRY: Duration = Duration::from_millis(100);

/// Sends `sig` to process `pid` (a child of the test, not yet waited for).
pub fn signal(pid: u32, sig: Signal) {
    let raw = i32::try_from(pid).expect("a process id fits in i32");
    let pid = Pid::from_raw(raw).expect("a process id is positive");
    kill_process(pid, sig).unwrap_or_else(|e| panic!("cannot signal process {raw}: {e}"));
}

/// One server process with its output read in the background; killed when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    child: Child,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl Process {
    /// Spawns `command`, whose stdout and stderr must be piped.
    pub(crate) fn spawn(mut command: Command) -> Process {
        let mut child = command.spawn().expect("the server binary starts");
        let stdout = Capture::spawn(child.stdout.take().expect("piped stdout"));
        let stderr = Capture::spawn(child.stderr.take().expect("piped stderr"));
        Process {
            child,
            stdout,
            stderr,
        }
    }

    /// Kills the process if it still runs (a first line other than `listening on` leaves
    /// it running), and waits for all of its output.
    pub(crate) async fn stop(&mut self, limit: Duration) {
        let _ = self.child.start_kill();
        self.exit(limit).await;
    }

    /// Waits for the exit, then for both pipes to close.
    async fn exit(&mut self, limit: Duration) -> ExitStatus {
        let status = within(limit, "the server to exit", self.child.wait())
            .await
            .expect("wait for the server");
        within(limit, "the server's stdout to close", self.stdout.closed()).await;
        within(limit, "the server's stderr to close", self.stderr.closed()).await;
        status
    }
}
