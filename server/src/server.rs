//! The tokio runtime shell around the sans-IO [`Broker`](crate::broker::Broker).
//!
//! - **Router shards**: one task per shard (one per core by default) owns a broker and the
//!   sessions placed on it by name. Everything that happens to them (a connection opens, a
//!   message arrives, a password check finishes, an HTTP admin request) reaches it as a
//!   message on its bounded channel, which it drains in batches before it pumps the
//!   broker's outputs and re-arms its single timer (rumqttd's router).
//! - Each WebSocket **connection** is a task with an outbound queue bounded in bytes
//!   (`outbound.rs`): at its budget the broker holds back or sheds deliveries to it, and a
//!   connection that stopped reading is closed as a slow consumer.
//! - One **listener** serves HTTP/1.1: the WebSocket upgrade at `/ws`, `/healthz`,
//!   `/metrics`, the admin API and static files (see [`crate::http`]), over TLS when a
//!   certificate is configured (see [`crate::tls`]). Every socket it accepts is counted,
//!   against a cap per address and one in all, before anything is read from it, and must
//!   get to its `Hello` within the hello timeout from that moment, the TLS handshake
//!   included (`sockets`).
//! - Once a load is over, the memory it freed is given back to the system (`memory`: glibc's
//!   `malloc_trim`, on Linux with glibc only).
//!
//! ```no_run
//! use fastport_server::config::Config;
//! use fastport_server::server::Server;
//!
//! # async fn run() -> Result<(), fastport_server::server::ServerError> {
//! let mut config = Config::default();
//! config.listen = "127.0.0.1:0".into();
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

/// `AsyncWrite` for a socket wrapper that changes only how it reads: every write call goes
/// to its `inner` stream as is.
macro_rules! forward_async_write {
    ($wrapper:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<S> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}

mod burst;
mod connection;
mod fd_limit;
mod login_limit;
mod memory;
mod outbound;
mod read_pause;
mod relay;
mod router;
mod sockets;
mod startup;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use fastport_proto::codec::ErrorCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::http::{self, HostPolicy, MetricsToken, OriginPolicy, StaticDir, TrustedProxies};
use crate::tls::Tls;
pub(crate) use burst::BurstRead;
pub(crate) use connection::{run as run_connection, LinkSetup};
pub use fd_limit::{raise as raise_fd_limit, FdLimit};
pub(crate) use login_limit::LoginLimit;
pub(crate) use memory::TrimMetrics;
pub use router::RouterHandle;
pub(crate) use router::RouterMsg;
pub(crate) use sockets::Counted;
pub(crate) use sockets::SocketMetrics;
use sockets::{Admitted, Gate, SocketLimits};

/// The name, password and secret key of the development session.
pub const DEMO_SESSION: (&str, &str, &str) = ("demo", "demo", "demo-secret");

/// Capacity of the router's inbox. Senders wait when it is full, which slows readers
/// down instead of buffering without bound.
const ROUTER_INBOX: usize = 4096;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A router task ended while serving (a bug); the process should exit non-zero.
    #[error("{0}")]
    RouterFailed(String),
    /// `allowed_origins` or `server_names` holds something that is not an origin or a name.
    #[error("{0}")]
    Origins(String),
    /// The static directory could not be opened.
    #[error("static_dir {dir}: {source}")]
    StaticDir {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// A secret could not be hashed, or the random source failed.
    #[error("{what}: {message}")]
    Secret {
        /// Which secret.
        what: String,
        /// Why.
        message: String,
    },
    /// The TLS certificate or key cannot be used (the message names the file).
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The Redis engine could not connect (the message names the URL, password hidden).
    #[error("storage engine: {0}")]
    Engine(#[from] EngineError),
    /// This node could not join the nodes sharing its Redis (its id is taken).
    #[error("cluster: {0}")]
    Cluster(String),
    /// A configured session was refused by the broker.
    #[error("session `{name}`: {message} ({})", code.name())]
    Session {
        /// The session.
        name: String,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's explanation.
        message: String,
    },
}

impl ServerError {
    /// The process exit code: 2 for configuration mistakes, 1 for failures of the system.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServerError::Session { .. } | ServerError::Tls(_) | ServerError::Cluster(_) => 2,
            _ => 1,
        }
    }
}

/// Bytes tungstenite reads at a time. It is allocated per connection and kept for its
/// lifetime: its default (128 KiB) made an idle connection cost about 49 KiB, 4 KiB 14.4 KiB,
/// 1 KiB 11.4 KiB (docs/BENCHMARKS.md, "Memory that returns"). Larger messages still
/// arrive whole (the buffer grows for them), and busy connections still read up to 64 KiB
/// per system call: see `BurstRead`, which hands the bytes out from memory.
const WS_READ_BUFFER: usize = 1024;
/// Bytes of outgoing frames gathered before they are written (batches are flushed anyway):
/// also the capacity a connection keeps after a burst.
const WS_WRITE_BUFFER: usize = 16 * 1024;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_grace: Duration,
    /// One per router shard.
    router_tasks: Vec<JoinHandle<()>>,
    tls: Option<Arc<Tls>>,
    tls_handshake_timeout: Duration,
    node: crate::config::NodeId,
}

/// What every HTTP request and connection task needs.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) router: RouterHandle,
    pub(crate) static_dir: Option<StaticDir>,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) budget: outbound::OutboundBudget,
    pub(crate) next_conn: AtomicU64,
    pub(crate) origins: OriginPolicy,
    pub(crate) hosts: HostPolicy,
    pub(crate) proxies: TrustedProxies,
    pub(crate) metrics_token: Option<MetricsToken>,
    pub(crate) metrics_per_session: bool,
    /// Every socket, counted from accept.
    pub(crate) sockets: Arc<SocketLimits>,
    /// Time a socket has from accept to send its `Hello` (or, over plain HTTP, each
    /// request's headers).
    pub(crate) hello_timeout: Duration,
    /// The frames the routers handled, and the memory trims after loads.
    pub(crate) work: Arc<memory::Work>,
    /// Where state lives beyond this process: memory or Redis.
    pub(crate) engine: Engine,
    /// The counts of the journal's writes (the Redis engine only).
    pub(crate) store: Option<Arc<crate::durable::StoreMetrics>>,
    /// This node among the nodes sharing its Redis (the Redis engine only).
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Held by every task that must finish before a graceful shutdown is complete: the
/// shutdown waits until every clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct TaskGuard(#[allow(dead_code)] mpsc::Sender<()>);

impl Server {
    /// Builds the broker (hashing configured secrets, which takes a moment), starts the
    /// router tasks and binds the listener.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        // Checked by Config::load already; a Config built by hand gets the same message.
        let origins = OriginPolicy::new(&config.allowed_origins)
            .map_err(|e| ServerError::Origins(format!("allowed_origins: {e}")))?;
        let hosts = HostPolicy::new(&config.server_names)
            .map_err(|e| ServerError::Origins(format!("server_names: {e}")))?;
        let proxies = TrustedProxies::new(&config.trusted_proxies)
            .map_err(|e| ServerError::Origins(format!("trusted_proxies: {e}")))?;
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(Tls::load(&files.cert, &files.key)?)),
            None => None,
        };
        let static_dir = match &config.static_dir {
            Some(dir) => {
                Some(
                    StaticDir::open(dir)
                        .await
                        .map_err(|source| ServerError::StaticDir {
                            dir: dir.display().to_string(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        // Before anything slow: a Redis that cannot be reached stops the start at once.
        let engine = Engine::connect(config.redis.as_ref(), config.node_id.clone()).await?;
        let broker_config = config.clone();
        let mut brokers =
            tokio::task::spawn_blocking(move || startup::build_brokers(&broker_config))
                .await
                .map_err(|e| ServerError::Secret {
                    what: "startup".into(),
                    message: e.to_string(),
                })??;
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen.clone(),
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
        let (store, cluster) = match &engine {
            Engine::Memory => (None, None),
            Engine::Redis(redis) => {
                let advertise =
                    crate::cluster::advertise_url(config.advertise_url.as_deref(), local_addr);
                let cluster =
                    startup::join_and_restore(redis, &config, advertise, &mut brokers).await?;
                if tls.is_some() {
                    tracing::warn!(
                        "TLS on the listener: other nodes cannot relay to this one over plain \
                         WebSocket; run several nodes behind a TLS-terminating proxy"
                    );
                }
                let store = crate::durable::Store::new(redis).fenced(cluster.clone());
                (Some(store), Some(cluster))
            }
        };
        let store_metrics = store.as_ref().map(crate::durable::Store::metrics);
        // Received messages waiting for the router: an eighth of the memory budget.
        let budget = outbound::OutboundBudget::new(
            config.max_outbound_bytes,
            config.slow_consumer_timeout,
            config.max_memory / 8,
        );
        let work = Arc::new(memory::Work::default());
        let (router, router_tasks) =
            router::spawn(brokers, ROUTER_INBOX, budget.clone(), work.clone(), store);
        if let Some(cluster) = &cluster {
            cluster.set_router(router.clone());
        }
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(WS_READ_BUFFER)
            .write_buffer_size(WS_WRITE_BUFFER)
            .max_message_size(Some(config.max_frame_bytes))
            .max_frame_size(Some(config.max_frame_bytes));
        let shared = Arc::new(Shared {
            router,
            static_dir,
            ws_config,
            budget,
            next_conn: AtomicU64::new(1),
            origins,
            hosts,
            proxies,
            metrics_token: config
                .metrics_token
                .as_ref()
                .map(|t| MetricsToken::new(t.plain())),
            metrics_per_session: config.metrics_per_session,
            sockets: SocketLimits::new(
                fd_limit::socket_cap(config.max_connections),
                config.max_connections_per_address,
                cluster.clone(),
            ),
            hello_timeout: config.hello_timeout,
            work,
            engine,
            store: store_metrics,
            cluster,
        });
        Ok(Server {
            listener,
            local_addr,
            shared,
            shutdown_grace: config.shutdown_grace,
            router_tasks,
            tls,
            tls_handshake_timeout: config.tls_handshake_timeout,
            node: config.node_id,
        })
    }

    /// The address the listener is bound to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https` with TLS, `http` without: the scheme of the HTTP endpoints (the WebSocket's
    /// is `wss` or `ws`).
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The TLS state, to [`Tls::reload`] the certificate (on `SIGHUP`); `None` without TLS.
    pub fn tls(&self) -> Option<Arc<Tls>> {
        self.tls.clone()
    }

    /// This node's id ([`Config::node_id`]).
    pub fn node(&self) -> &crate::config::NodeId {
        &self.node
    }

    /// The storage engine (memory, or Redis with its connection and health).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// A handle to the router, to drive the broker from outside (tests, embedding).
    pub fn router(&self) -> RouterHandle {
        self.shared.router.clone()
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops accepting,
    /// closes every connection with `server_shutting_down`, and waits up to the configured
    /// grace period for the connections to flush their queues.
    ///
    /// Fails if a router task ends while serving, which only a bug (a panic) does: a
    /// server whose broker is gone must not live on accepting connections it cannot serve.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (guard_tx, mut all_done) = mpsc::channel::<()>(1);
        let guard = TaskGuard(guard_tx);
        let mut gate = Gate::new(self.shared.sockets.clone());
        memory::spawn(self.shared.work.clone());
        let cluster_task = self
            .shared
            .cluster
            .clone()
            .map(|cluster| tokio::spawn(cluster.run()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                (ended, _, _) = futures_util::future::select_all(self.router_tasks.iter_mut()) => {
                    let why = match ended {
                        Err(e) if e.is_panic() => "the router task panicked".to_owned(),
                        Err(e) => format!("the router task failed: {e}"),
                        Ok(()) => "the router task stopped".to_owned(),
                    };
                    return Err(ServerError::RouterFailed(why));
                }
                accepted = self.listener.accept() => {
                    if let Some(socket) = gate.pass(accepted).await {
                        let tls = self.tls.clone().map(|tls| (tls, self.tls_handshake_timeout));
                        let task = serve_tcp(socket, tls, self.shared.clone(), guard.clone(), stop_rx.clone());
                        tokio::spawn(task);
                    }
                }
            }
        }
        drop(self.listener);
        tracing::info!("shutting down: closing every connection");
        self.shared.router.shutdown().await;
        let _ = stop_tx.send(true);
        drop(guard);
        match tokio::time::timeout(self.shutdown_grace, all_done.recv()).await {
            Ok(_) => tracing::info!("every connection closed"),
            Err(_) => tracing::warn!(
                "connections still open after {:?}; dropping them",
                self.shutdown_grace
            ),
        }
        if let (Some(task), Some(cluster)) = (cluster_task, &self.shared.cluster) {
            // What the closes journaled is written while the lease still holds; then other
            // nodes take this node's sessions over at once, not after the TTL.
            let _ = tokio::time::timeout(Duration::from_secs(2), self.shared.router.ping()).await;
            task.abort();
            cluster.leave().await;
        }
        Ok(())
    }
}

/// Serves one TCP connection: HTTP/1.1 requests until it closes, or the upgrade to a
/// WebSocket (which continues in its own task); with `tls`, after a TLS handshake.
///
/// The handshake must complete within its own timeout and by the hello deadline (the hello
/// timeout counted from accept), whichever comes first. The socket's first request must be
/// complete (its headers read) by that deadline too, so an idle, slow-loris or never
/// handshaking socket is closed then; the WebSocket it may become must send its `Hello` by
/// the same deadline (the broker closes it otherwise). Each later request on a kept-alive
/// connection has as long again for its headers, waiting included (hyper's header read
/// timeout).
async fn serve_tcp(
    socket: Admitted,
    tls: Option<(Arc<Tls>, Duration)>,
    shared: Arc<Shared>,
    guard: TaskGuard,
    stop: watch::Receiver<bool>,
) {
    let Admitted {
        stream,
        peer,
        accepted,
    } = socket;
    let _ = stream.get_ref().set_nodelay(true);
    let deadline = accepted + shared.hello_timeout;
    match tls {
        Some((tls, handshake_timeout)) => {
            if let Some(stream) = tls.accept(stream, peer, handshake_timeout, deadline).await {
                serve_http(stream, peer, deadline, shared, guard, stop).await;
            }
        }
        None => serve_http(stream, peer, deadline, shared, guard, stop).await,
    }
}

/// Serves HTTP/1.1 on `stream` (TCP, or TLS over it): see [`serve_tcp`].
async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
    shared: Arc<Shared>,
    guard: TaskGuard,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hello_timeout = shared.hello_timeout;
    let first_request = Arc::new(tokio::sync::Notify::new());
    let ctx = http::RequestCtx {
        shared,
        peer: peer.ip(),
        guard: guard.clone(),
        hello_deadline: deadline,
        relayed: false,
    };
    let on_request = first_request.clone();
    let service = hyper::service::service_fn(move |req| {
        on_request.notify_one();
        http::handle(req, ctx.clone())
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(hello_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        () = no_request_by(deadline, &first_request) => {
            tracing::debug!(%peer, "no request within the hello timeout: closed");
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "http connection ended: {e}");
    }
    drop(guard);
}

/// Completes at `deadline` unless `first_request` was notified before; never after that.
async fn no_request_by(deadline: tokio::time::Instant, first_request: &tokio::sync::Notify) {
    tokio::select! {
        biased;
        () = first_request.notified() => std::future::pending().await,
        () = tokio::time::sleep_until(deadline) => {}
    }
}
