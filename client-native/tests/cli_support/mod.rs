//! Helpers of the `fastport` command-line tests: the `fastport` binary run to completion or
//! in the background. The server comes from the workspace's one harness
//! (`fastport-harness`). Every wait is bounded by [`LIMIT`], so a broken build fails a
//! test instead of hanging it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use fastport_harness::{clear_fastport_env, signal, within, Capture, Signal, TempDir};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

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

/// Where the commands of this test process keep resume tokens (`--state-dir`), instead of
/// the home directory of whoever runs the tests.
pub fn state_dir() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(TempDir::new).path()
}

/// The `fastport` binary under test with `args`.
pub fn fastport<S: AsRef<str>>(args: &[S]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fastport"));
    clear_fastport_env(&mut command)
        .env("FASTPORT_STATE_DIR", state_dir())
        .args(args.iter().map(|a| a.as_ref()))
        .kill_on_drop(true);
    command
}

/// Starts `fastport args` with `stdin`, its stdout and stderr piped.
fn spawn<S: AsRef<str>>(args: &[S], stdin: Stdio) -> Child {
    fastport(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fastport binary starts")
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
    let mut child = spawn(args, Stdio::piped());
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // A command that does not read stdin closes it early: a failed write is fine.
    tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let line: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    let what = format!("`fastport {}` to finish", line.join(" "));
    let output = within(limit, &what, child.wait_with_output())
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
    stderr: Capture,
}

impl Background {
    /// Starts `fastport args`.
    pub fn start<S: AsRef<str>>(args: &[S]) -> Background {
        Background::start_within(LIMIT, args)
    }

    /// Starts `fastport args`, whose every wait is bounded by `limit`.
    pub fn start_within<S: AsRef<str>>(limit: Duration, args: &[S]) -> Background {
        let mut child = spawn(args, Stdio::null());
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = Capture::spawn(child.stderr.take().expect("piped stderr"));
        Background {
            limit,
            child,
            stdout,
            stderr,
        }
    }

    /// Waits until stderr contains `needle`; returns all of stderr.
    pub async fn stderr_with(&mut self, needle: &str) -> String {
        let what = format!("`{needle}` on fastport's stderr");
        let seen = within(self.limit, &what, self.stderr.containing(needle)).await;
        seen.unwrap_or_else(|| {
            panic!(
                "fastport ended without `{needle}` on stderr: {}",
                self.stderr()
            )
        })
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// The next line on stdout.
    pub async fn line(&mut self) -> String {
        let what = "a line on fastport's stdout";
        let line = within(self.limit, what, self.stdout.next_line()).await;
        match line {
            Ok(Some(line)) => line,
            other => panic!("no line on stdout ({other:?}); stderr: {}", self.stderr()),
        }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) {
        signal(self.child.id().expect("fastport is running"), Signal::INT);
    }

    /// Waits for the process to exit, and for the last of its stderr; returns its exit
    /// code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let status = within(self.limit, "fastport to exit", self.child.wait()).await;
        within(
            self.limit,
            "fastport's stderr to close",
            self.stderr.closed(),
        )
        .await;
        status.expect("wait for fastport").code()
    }
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
