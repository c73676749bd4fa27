//! The real `fastport-server` binary, started on a free port for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    args: Vec<String>,
}

impl ServerProcess {
    /// Starts the server on a free port with extra `args`.
    pub fn start(args: &[&str]) -> ServerProcess {
        Self::start_at("127.0.0.1:0", args.iter().map(|a| a.to_string()).collect())
    }

    fn start_at(listen: &str, args: Vec<String>) -> ServerProcess {
        let mut child = Command::new(server_binary())
            .args(["--listen", listen, "--log", "warn"])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the server prints its address");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the server: {first:?}"));
        ServerProcess { child, addr, args }
    }

    /// The WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Kills the process (no graceful shutdown: a crash) and starts a new one on the same
    /// address with the same arguments, retrying while the port is still taken.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        let listen = self.addr.to_string();
        for _ in 0..50 {
            let mut child = Command::new(server_binary())
                .args(["--listen", &listen, "--log", "warn"])
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the server binary starts");
            let stdout = child.stdout.take().expect("stdout is piped");
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            if first.starts_with("listening on ") {
                self.child = child;
                return;
            }
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart the server on {listen}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server binary of this workspace (debug build), built once per test process if
/// needed: for every end-to-end test that starts the real server.
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "fastport-server"])
                .current_dir(&root)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building fastport-server failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            target.join("debug").join("fastport-server")
        })
        .clone()
}
