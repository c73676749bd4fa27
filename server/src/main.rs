//! `fastport-server`: the fastPort broker. `fastport-server --help` lists every setting;
//! docs/SERVER.md is the operator's guide.
//!
//! Exit codes: 0 after a graceful shutdown (SIGINT, SIGTERM), 2 for a configuration
//! mistake (one line on stderr names the key), 1 when the system fails (e.g. the port is
//! taken).

use std::io::{BufRead, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fastport_server::auth::{HashCost, SecretHash};
use fastport_server::config::{Cli, Command, Config};
use fastport_server::engine::Engine;
use fastport_server::server::{Server, DEMO_SESSION};

/// How long blocking work (a password check in flight) may delay the exit.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    // Usage errors exit with 2 and --help/--version with 0, from clap.
    let cli = Cli::parse();
    if let Some(Command::HashSecret) = cli.command {
        return hash_secret();
    }
    let config = match Config::load(cli) {
        Ok(config) => config,
        Err(e) => return fail(2, &e.to_string()),
    };
    init_logging(&config.log);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // Every socket costs a file descriptor: as many as the system allows.
    fastport_server::server::raise_fd_limit().log();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(1, &format!("cannot start the runtime: {e}")),
    };
    let code = runtime.block_on(serve(config));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

async fn serve(config: Config) -> ExitCode {
    let demo = config.demo_session && !config.sessions.iter().any(|s| s.name == DEMO_SESSION.0);
    let static_dir = config.static_dir.clone();
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(e) => return fail(e.exit_code(), &e.to_string()),
    };
    let signal = match shutdown_signal() {
        Ok(signal) => signal,
        Err(e) => return fail(1, &format!("cannot install signal handlers: {e}")),
    };
    let addr = server.local_addr();
    let scheme = server.scheme();
    if let Some(tls) = server.tls() {
        if let Err(e) = reload_on_hangup(tls) {
            return fail(1, &format!("cannot install the SIGHUP handler: {e}"));
        }
    }
    print_banner(addr, scheme, demo, static_dir.as_deref());
    log_engine(&server);
    let router_shards = server.router().shards();
    tracing::info!(%addr, scheme, router_shards, "listening");
    if let Err(e) = server.run(signal).await {
        return fail(1, &e.to_string());
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// One line: the engine, this node's id and, with Redis, its URL (password hidden).
fn log_engine(server: &Server) {
    let engine = server.engine();
    match engine {
        Engine::Redis(redis) => tracing::info!(
            engine = engine.name(),
            node = redis.node().as_str(),
            redis = redis.redacted(),
            "storage engine"
        ),
        _ => tracing::info!(
            engine = engine.name(),
            node = server.node().as_str(),
            "storage engine"
        ),
    }
}

/// The first line is exactly `listening on HOST:PORT`, or `listening on https://HOST:PORT`
/// with TLS (scripts and tests read it); the rest is for people.
fn print_banner(addr: SocketAddr, scheme: &str, demo: bool, static_dir: Option<&std::path::Path>) {
    let reachable = reachable(addr);
    let (first, ws) = match scheme {
        "https" => (format!("listening on https://{addr}"), "wss"),
        _ => (format!("listening on {addr}"), "ws"),
    };
    let mut lines = vec![
        first,
        format!("  WebSocket endpoint: {ws}://{reachable}/ws"),
        format!("  metrics:            {scheme}://{reachable}/metrics (health: /healthz)"),
    ];
    if let Some(dir) = static_dir {
        lines.push(format!(
            "  static files:       {scheme}://{reachable}/ from {}",
            dir.display()
        ));
    }
    if demo {
        let (name, password, secret) = DEMO_SESSION;
        lines.push(format!(
            "  demo session `{name}` (password `{password}`, secret key `{secret}`) exists for \
             development only; disable it with --no-demo-session"
        ));
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        // A closed stdout must not stop the server.
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// The address to connect to: an unspecified listen address becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// Re-reads the certificate and key on every SIGHUP, for new handshakes; a file that
/// cannot be used keeps the old certificate and is logged as an error.
#[cfg(unix)]
fn reload_on_hangup(tls: std::sync::Arc<fastport_server::tls::Tls>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let reloading = tls.clone();
            let result = tokio::task::spawn_blocking(move || reloading.reload()).await;
            match result {
                Ok(Ok(())) => tracing::info!(
                    cert = %tls.cert_path().display(),
                    "SIGHUP: TLS certificate reloaded; new connections use it"
                ),
                Ok(Err(e)) => {
                    tracing::error!("SIGHUP: TLS reload failed, keeping the old certificate: {e}")
                }
                Err(e) => tracing::error!("SIGHUP: TLS reload failed: {e}"),
            }
        }
    });
    Ok(())
}

/// No SIGHUP here: the certificate is read once.
#[cfg(not(unix))]
fn reload_on_hangup(_tls: std::sync::Arc<fastport_server::tls::Tls>) -> std::io::Result<()> {
    Ok(())
}

/// A future that completes on SIGINT or SIGTERM. The handlers are installed at once, so a
/// signal sent right after the `listening on` line is not lost.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received");
        } else {
            std::future::pending::<()>().await;
        }
    })
}

fn init_logging(filter: &str) {
    // Config::load checked the filter; fall back to `info` all the same.
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// `fastport-server hash-secret`: one line from stdin, its hash on stdout.
fn hash_secret() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        return fail(1, &format!("cannot read standard input: {e}"));
    }
    let secret = line.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return fail(2, "hash-secret: standard input holds no secret");
    }
    match SecretHash::new(secret, HashCost::Standard) {
        Ok(hash) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", hash.as_phc());
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("hash-secret: {e}")),
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("fastport-server: error: {message}");
    ExitCode::from(code)
}
