//! The one harness for every end-to-end test that runs the real `fastport-server` binary:
//! it builds or locates the binary, starts it on a free port of 127.0.0.1, reads the
//! address from its first line (`listening on HOST:PORT`), keeps its stdout and its log
//! (stderr) for assertions, signals it, restarts it on the same port, and kills it when
//! dropped.
//!
//! ```no_run
//! use fastport_harness::{Launch, Server};
//!
//! # async fn example() {
//! let plain = Server::start(&["--max-frame-bytes", "2048"]).await;
//! let mut server = Launch::new()
//!     .config("[[sessions]]\nname = \"team\"\npassword = \"pw\"\nsecret = \"s\"\n")
//!     .args(&["--no-demo-session"])
//!     .start()
//!     .await;
//! let url = server.url(); // ws://127.0.0.1:PORT/ws: clients connect here
//! let log = server.stderr_with("plaintext").await;
//! server.crash_and_restart().await; // same port, same flags
//! server.terminate();
//! assert!(server.exit_status().await.success());
//! # drop((plain, url, log));
//! # }
//! ```
//!
//! The server has one listener: the WebSocket endpoint `/ws` and the HTTP endpoints
//! (`/healthz`, `/metrics`, the admin API, static files) share [`Server::addr`]. With
//! [`Launch::tls`] it speaks TLS with a certificate of a [`Pki`] made at run time, whose
//! [`Pki::https_get`] and [`Pki::client_config`] trust it.
//!
//! It is a crate of its own that depends on no crate of this workspace, so that every
//! crate, the server included, can take it as a dev-dependency without a cycle, and
//! starting a process never drags the simulation of `fastport-tests` (client core, broker
//! core) into a crate's tests or rebuilds when those change.
//!
//! [`Redis`] starts a real `redis-server` for the Redis engine's tests (installed by
//! `scripts/setup.sh`), on a free port with a temp dir of its own, plain or TLS only with
//! a [`Pki`]'s certificates ([`Redis::start_tls`]); [`RedisCluster`] a Redis Cluster of such
//! servers.
//!
//! Every wait is bounded ([`LIMIT`] unless [`Launch::limit`] says otherwise), so a broken
//! server fails a test instead of hanging it. The processes are tokio children: the
//! harness runs inside a tokio runtime.

mod capture;
mod launch;
mod pki;
mod redis_server;
mod server;
mod temp;

use std::future::Future;
use std::time::Duration;

pub use capture::Capture;
pub use launch::{clear_fastport_env, server_binary, Launch};
pub use pki::{Pki, SERVER_NAME};
pub use redis_server::{ClientAuth, Redis, RedisCluster};
pub use rustix::process::Signal;
pub use server::{signal, Server};
pub use temp::TempDir;

/// The default bound on every wait of the harness.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Awaits `future` for at most `limit`, panicking with `what` if it takes longer.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}
