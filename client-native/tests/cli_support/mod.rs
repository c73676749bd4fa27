//! Helpers of the `fastport` command-line tests: the real `fastport-server` binary on a
//! free port, and the `fastport` binary run to completion or in the background. Every
//! wait is bounded by [`LIMIT`], so a broken build fails a test instead of hanging it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The bound on every wait.
pub const LIMIT: Duration = Duration::from_secs(30);
/// The bound on waits for commands that derive a key from a passphrase: 600,000 rounds of
/// PBKDF2 take seconds in an unoptimised build, and more on a busy machine.
pub const SLOW_LIMIT: Duration = Duration::from_secs(120);

/// The demo session every server starts with.
pub const SESSION: &str = "demo";
/// Its password.
pub const PASSWORD: &str = "demo";
/// Its secret key.
pub const SECRET: &str = "demo-secret";

/// Awaits `future` for at most [`LIMIT`], panicking with `what` if it takes longer.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    within_limit(LIMIT, what, future).await
}

/// Awaits `future` for at most `limit`, panicking with `what` if it takes longer.
pub async fn within_limit<T>(
    limit: Duration,
    what: &str,
    future: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// A running `fastport-server`, killed when dropped.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    args: Vec<String>,
    child: Child,
}

impl Server {
    /// Starts the server on a free port with `--log warn` and `args`.
    pub async fn start(args: &[&str]) -> Server {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, first) = spawn_server("127.0.0.1:0", &args).await;
        let addr = parse_listening(&first)
            .unwrap_or_else(|| panic!("unexpected first line from the server: {first:?}"));
        Server { addr, args, child }
    }

    /// The WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Kills the server (a crash: nothing survives) and starts it again on the same
    /// address, retrying while the port is still taken.
    pub async fn restart(&mut self) {
        let _ = self.child.kill().await;
        let listen = self.addr.to_string();
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let (mut child, first) = spawn_server(&listen, &self.args).await;
            if parse_listening(&first).is_some() {
                self.child = child;
                return;
            }
            let _ = child.kill().await;
            assert!(
                tokio::time::Instant::now() < deadline,
                "could not restart the server on {listen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix("listening on ")?.parse().ok()
}

async fn spawn_server(listen: &str, args: &[String]) -> (Child, String) {
    let mut command = Command::new(fastport_tests::server_binary());
    clear_env(&mut command);
    command
        .args(["--listen", listen, "--log", "warn"])
        .args(args)
        .env("FASTPORT_STATIC_DIR", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the server binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    within("the server's first line", stdout.read_line(&mut first))
        .await
        .expect("read the server's stdout");
    // Keep reading, so that the server's later lines never meet a closed pipe.
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink).await;
    });
    (child, first)
}

/// Tests choose their flags explicitly: no FASTPORT_* variable of the caller leaks in.
fn clear_env(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("FASTPORT_") {
            command.env_remove(key);
        }
    }
}

/// The `fastport` binary under test with `args`.
pub fn fastport<S: AsRef<str>>(args: &[S]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fastport"));
    clear_env(&mut command);
    command
        .args(args.iter().map(|a| a.as_ref()))
        .kill_on_drop(true);
    command
}

/// How a finished `fastport` went.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

/// Runs `fastport args` to completion with an empty stdin.
pub async fn run<S: AsRef<str>>(args: &[S]) -> Outcome {
    run_with_stdin(args, b"").await
}

/// Runs `fastport args` to completion, feeding it `input` on stdin.
pub async fn run_with_stdin<S: AsRef<str>>(args: &[S], input: &[u8]) -> Outcome {
    run_within(LIMIT, args, input).await
}

/// Runs `fastport args` to completion within `limit`, feeding it `input` on stdin.
pub async fn run_within<S: AsRef<str>>(limit: Duration, args: &[S], input: &[u8]) -> Outcome {
    let mut child = fastport(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fastport binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // A command that does not read stdin closes it early: a failed write is fine.
    tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let line: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    let what = format!("`fastport {}` to finish", line.join(" "));
    let output = within_limit(limit, &what, child.wait_with_output())
        .await
        .expect("wait for fastport");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A `fastport` running in the background (a subscriber), killed when dropped.
pub struct Background {
    limit: Duration,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: watch::Receiver<String>,
    /// Ends when stderr is closed: all of it has been read.
    stderr_done: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts `fastport args`.
    pub fn start<S: AsRef<str>>(args: &[S]) -> Background {
        Background::start_within(LIMIT, args)
    }

    /// Starts `fastport args`, whose every wait is bounded by `limit`.
    pub fn start_within<S: AsRef<str>>(limit: Duration, args: &[S]) -> Background {
        let mut child = fastport(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the fastport binary starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (stderr, stderr_done) = collect(child.stderr.take().expect("piped stderr"));
        Background {
            limit,
            child,
            stdout,
            stderr,
            stderr_done: Some(stderr_done),
        }
    }

    /// Waits until stderr contains `needle`; returns all of stderr.
    pub async fn stderr_with(&mut self, needle: &str) -> String {
        let what = format!("`{needle}` on fastport's stderr");
        let seen = within_limit(
            self.limit,
            &what,
            self.stderr.wait_for(|s| s.contains(needle)),
        )
        .await
        .map(|text| text.clone());
        seen.unwrap_or_else(|_| {
            panic!(
                "fastport ended without `{needle}` on stderr: {}",
                self.stderr()
            )
        })
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.borrow().clone()
    }

    /// The next line on stdout.
    pub async fn line(&mut self) -> String {
        let what = "a line on fastport's stdout";
        let line = within_limit(self.limit, what, self.stdout.next_line()).await;
        match line {
            Ok(Some(line)) => line,
            other => panic!("no line on stdout ({other:?}); stderr: {}", self.stderr()),
        }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub async fn interrupt(&self) {
        let pid = self.child.id().expect("fastport is running").to_string();
        let kill = tokio::process::Command::new("kill")
            .args(["-INT", &pid])
            .status();
        let status = within("kill -INT", kill).await.expect("kill runs");
        assert!(status.success(), "kill -INT {pid} failed");
    }

    /// Waits for the process to exit, and for the last of its stderr; returns its exit
    /// code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let status = within_limit(self.limit, "fastport to exit", self.child.wait()).await;
        if let Some(done) = self.stderr_done.take() {
            let _ = within_limit(self.limit, "fastport's stderr to close", done).await;
        }
        status.expect("wait for fastport").code()
    }
}

/// Collects a pipe's text, published as it grows, until the pipe closes.
fn collect(
    mut pipe: impl AsyncRead + Unpin + Send + 'static,
) -> (watch::Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(String::new());
    let done = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    tx.send_modify(|s| s.push_str(&text));
                }
            }
        }
    });
    (rx, done)
}

/// `COMMAND --url URL --session demo --password demo`, then `rest`.
pub fn member(command: &str, url: &str, rest: &[&str]) -> Vec<String> {
    let mut args = vec![
        command,
        "--url",
        url,
        "--session",
        SESSION,
        "--password",
        PASSWORD,
    ];
    args.extend_from_slice(rest);
    args.into_iter().map(String::from).collect()
}

/// A fresh random key in base64, made with the library.
pub fn new_key() -> String {
    fastport_client::Key::generate()
        .expect("the system's random source works")
        .to_base64()
}
