//! A real `redis-server` for a test: on a free port of 127.0.0.1, in a temp dir of its own,
//! killed when dropped; plain TCP, or TLS only with the certificates of a [`Pki`].

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::capture::Capture;
use crate::temp::TempDir;
use crate::{within, Pki, LIMIT};

/// What to do when `redis-server` or `redis-cli` is missing.
const INSTALL_HINT: &str = "run scripts/setup.sh (it installs Debian's redis-server)";
/// How often [`Redis::start`] asks a starting server for PONG.
const POLL: Duration = Duration::from_millis(20);
/// Ports tried before [`Redis::start`] gives up (another process may take the free port
/// found between the check and redis-server's bind).
const PORT_ATTEMPTS: usize = 5;

/// Whether a TLS Redis ([`Redis::start_tls`]) asks its clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `tls-auth-clients no`: any client that trusts the server's certificate may connect.
    Off,
    /// `tls-auth-clients yes`: a client must present a certificate signed by the CA
    /// (mutual TLS).
    Required,
}

/// A running `redis-server` of a test: no persistence unless asked for
/// ([`Redis::start_appendonly`]), `protected-mode no`, listening on 127.0.0.1 only, killed
/// (SIGKILL) when dropped, its log printed then if the test is failing. With
/// [`Redis::start_tls`] it speaks TLS only.
///
/// ```no_run
/// use fastport_harness::Redis;
///
/// # async fn example() {
/// let mut redis = Redis::start().await;
/// assert_eq!(redis.cli(&["PING"]).await, "PONG");
/// let url = redis.url(); // redis://127.0.0.1:PORT/0, for --redis
/// redis.kill().await; // a crash
/// redis.restart().await; // same port, same dir
/// # drop(url);
/// # }
/// ```
#[derive(Debug)]
pub struct Redis {
    port: u16,
    appendonly: bool,
    /// A node of a [`RedisCluster`]: `cluster-enabled yes`, its `nodes.conf` in its dir.
    cluster: bool,
    /// TLS only (`--port 0 --tls-port PORT`), its files in `dir/tls/`.
    tls: Option<ClientAuth>,
    process: Option<(Child, Capture)>,
    dir: TempDir,
}

impl Redis {
    /// Starts a `redis-server` without persistence (no RDB snapshots, no AOF) and waits
    /// until it answers PING. Panics with the setup hint if `redis-server` is not installed.
    pub async fn start() -> Redis {
        Redis::start_on_free_port(false).await
    }

    /// Like [`Redis::start`], with `appendonly yes` and `appendfsync always`: what it
    /// acknowledged survives [`Redis::kill`] and [`Redis::restart`] (restart tests).
    pub async fn start_appendonly() -> Redis {
        Redis::start_on_free_port(true).await
    }

    /// Like [`Redis::start`], speaking TLS only (`--port 0 --tls-port PORT`) with the
    /// server certificate of `pki` (for `localhost` and `127.0.0.1`) and its CA as the CA
    /// of client certificates (`--tls-ca-cert-file`), which `auth` says whether to ask for.
    /// The files are copied: `pki` may be dropped. [`Redis::url`] is `rediss://`, and
    /// [`Redis::cli`] trusts the CA and presents `pki`'s client certificate.
    ///
    /// ```no_run
    /// use fastport_harness::{ClientAuth, Pki, Redis};
    ///
    /// # async fn example() {
    /// let pki = Pki::new();
    /// let redis = Redis::start_tls(&pki, ClientAuth::Required).await;
    /// assert_eq!(redis.cli(&["PING"]).await, "PONG");
    /// let url = redis.url(); // rediss://127.0.0.1:PORT/0, with --redis-ca pki.ca_file()
    /// # drop(url);
    /// # }
    /// ```
    pub async fn start_tls(pki: &Pki, auth: ClientAuth) -> Redis {
        Redis::start_node(false, false, Some((pki, auth))).await
    }

    async fn start_on_free_port(appendonly: bool) -> Redis {
        Redis::start_node(appendonly, false, None).await
    }

    async fn start_node(appendonly: bool, cluster: bool, tls: Option<(&Pki, ClientAuth)>) -> Redis {
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let mut redis = Redis {
                port: if cluster {
                    free_cluster_port()
                } else {
                    free_port()
                },
                appendonly,
                cluster,
                tls: tls.map(|(_, auth)| auth),
                dir: TempDir::new(),
                process: None,
            };
            if let Some((pki, _)) = tls {
                redis.copy_tls_files(pki);
            }
            match redis.launch().await {
                Ok(()) => return redis,
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start in {PORT_ATTEMPTS} attempts; its log: {last_log}");
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0` (`rediss://` with TLS): what `--redis` takes.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Whether the process runs (it was not stopped or killed since it last started).
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Stops it gracefully (SIGTERM: with appendonly, the AOF is flushed; no RDB is
    /// written) and waits for the exit.
    pub async fn stop(&mut self) -> ExitStatus {
        self.end(rustix::process::Signal::TERM).await
    }

    /// Kills it (SIGKILL: a crash) and waits for the exit.
    pub async fn kill(&mut self) -> ExitStatus {
        self.end(rustix::process::Signal::KILL).await
    }

    /// Starts it again on the same port with the same directory (and so, with appendonly,
    /// the same data), stopping it gracefully first if it still runs. Retries for a while
    /// if the port is not free yet.
    pub async fn restart(&mut self) {
        if self.is_running() {
            self.stop().await;
        }
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            match self.launch().await {
                Ok(()) => return,
                Err(log) if tokio::time::Instant::now() >= deadline => {
                    panic!("redis-server did not restart on port {}: {log}", self.port)
                }
                // Nothing announces that a port became free: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Runs `redis-cli -p PORT ARGS...` and returns its output without the last line end:
    /// redis-cli's raw form (it is not writing to a terminal), `PONG`, a value, or one
    /// element per line. Panics if redis-cli is missing or fails.
    pub async fn cli(&self, args: &[&str]) -> String {
        let output = within(
            LIMIT,
            "redis-cli",
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(self.cli_tls_args())
                .args(args)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): {INSTALL_HINT}"));
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        text.strip_suffix('\n').unwrap_or(&text).to_owned()
    }

    /// Everything the server logged since it last started.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(|(_, log)| log.text())
            .unwrap_or_default()
    }

    /// The flags that make redis-cli speak TLS to it (none without TLS).
    fn cli_tls_args(&self) -> Vec<PathOrStr> {
        if self.tls.is_none() {
            return Vec::new();
        }
        vec![
            PathOrStr::Str("--tls"),
            PathOrStr::Str("--cacert"),
            PathOrStr::Path(self.tls_file(TLS_CA)),
            PathOrStr::Str("--cert"),
            PathOrStr::Path(self.tls_file(TLS_CLIENT_CERT)),
            PathOrStr::Str("--key"),
            PathOrStr::Path(self.tls_file(TLS_CLIENT_KEY)),
        ]
    }

    /// `name` in its TLS directory.
    fn tls_file(&self, name: &str) -> PathBuf {
        self.dir.path().join("tls").join(name)
    }

    /// Copies `pki`'s CA, server certificate and key, client certificate and key into its
    /// directory.
    fn copy_tls_files(&self, pki: &Pki) {
        for (from, to) in [
            (pki.ca_file(), TLS_CA),
            (pki.cert_file(), TLS_CERT),
            (pki.key_file(), TLS_KEY),
            (pki.client_cert_file(), TLS_CLIENT_CERT),
            (pki.client_key_file(), TLS_CLIENT_KEY),
        ] {
            let pem = std::fs::read(&from).expect("read a PEM file of the PKI");
            self.dir.write(&format!("tls/{to}"), &pem);
        }
    }

    /// Starts the process on `self.port` and waits for PONG; the error is its log.
    async fn launch(&mut self) -> Result<(), String> {
        let mut command = Command::new("redis-server");
        match self.tls {
            None => {
                command.args(["--port", &self.port.to_string()]);
            }
            Some(auth) => {
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(self.tls_file(TLS_CERT))
                    .arg("--tls-key-file")
                    .arg(self.tls_file(TLS_KEY))
                    .arg("--tls-ca-cert-file")
                    .arg(self.tls_file(TLS_CA))
                    .arg("--tls-auth-clients")
                    .arg(if auth == ClientAuth::Required {
                        "yes"
                    } else {
                        "no"
                    });
                if self.cluster {
                    // The bus between the nodes is TLS too, each node a client of the
                    // others with the client certificate (the server certificate is for
                    // server authentication only).
                    command
                        .args(["--tls-cluster", "yes"])
                        .arg("--tls-client-cert-file")
                        .arg(self.tls_file(TLS_CLIENT_CERT))
                        .arg("--tls-client-key-file")
                        .arg(self.tls_file(TLS_CLIENT_KEY));
                }
            }
        }
        command
            .args(["--bind", "127.0.0.1"])
            .args(["--protected-mode", "no"])
            .args(["--daemonize", "no"])
            .args(["--save", ""])
            .args(["--logfile", ""])
            .arg("--dir")
            .arg(self.dir.path());
        if self.cluster {
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
            // A lost master fails the cluster after 1 s rather than 15: tests stay short.
            command.args(["--cluster-node-timeout", "1000"]);
        }
        if self.appendonly {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): {INSTALL_HINT}");
        });
        let log = Capture::spawn(child.stdout.take().expect("piped stdout"));
        let tls = self.tls.map(|_| self.tls_client_config());
        let ready = within(LIMIT, "redis-server to answer PING", async {
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
                if pong(self.port, tls.clone()).await {
                    return true;
                }
                tokio::time::sleep(POLL).await;
            }
        })
        .await;
        if !ready {
            within(LIMIT, "redis-server's log to close", log.closed()).await;
            return Err(log.text());
        }
        self.process = Some((child, log));
        Ok(())
    }

    /// A rustls client that trusts its CA and presents the client certificate.
    fn tls_client_config(&self) -> Arc<rustls::ClientConfig> {
        let read = |name: &str| std::fs::read(self.tls_file(name)).expect("read a PEM file");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&read(TLS_CA)) {
            roots.add(cert.expect("a PEM CA")).expect("a valid CA");
        }
        let chain = CertificateDer::pem_slice_iter(&read(TLS_CLIENT_CERT))
            .collect::<Result<Vec<_>, _>>()
            .expect("a PEM client certificate");
        let key = PrivateKeyDer::from_pem_slice(&read(TLS_CLIENT_KEY)).expect("a PEM key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("the client key fits its certificate");
        Arc::new(config)
    }

    async fn end(&mut self, signal: rustix::process::Signal) -> ExitStatus {
        let (mut child, log) = self.process.take().expect("redis-server is running");
        if let Some(pid) = child.id() {
            crate::signal(pid, signal);
        }
        let status = within(LIMIT, "redis-server to exit", child.wait())
            .await
            .expect("wait for redis-server");
        within(LIMIT, "redis-server's log to close", log.closed()).await;
        status
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- redis-server log (port {}) ----\n{}",
                self.port,
                self.log()
            );
        }
        if let Some((child, _)) = self.process.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The files of a TLS Redis, in `tls/` of its directory.
const TLS_CA: &str = "ca.pem";
const TLS_CERT: &str = "cert.pem";
const TLS_KEY: &str = "key.pem";
const TLS_CLIENT_CERT: &str = "client.pem";
const TLS_CLIENT_KEY: &str = "client-key.pem";

/// An argument of redis-cli: a flag or a file.
enum PathOrStr {
    Str(&'static str),
    Path(PathBuf),
}

impl AsRef<std::ffi::OsStr> for PathOrStr {
    fn as_ref(&self) -> &std::ffi::OsStr {
        match self {
            PathOrStr::Str(s) => s.as_ref(),
            PathOrStr::Path(p) => p.as_os_str(),
        }
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}

/// A port of 127.0.0.1 that was free a moment ago, and whose cluster bus port (10000
/// above) was too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= u16::MAX - 10_000 && StdListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A Redis Cluster of a test: masters on loopback without replicas, each a [`Redis`] node
/// with `cluster-enabled yes` (and `cluster-node-timeout 1000`) in its own temp dir, made
/// one cluster by
/// `redis-cli --cluster create`, every hash slot covered. Killed when dropped.
///
/// ```no_run
/// use fastport_harness::RedisCluster;
///
/// # async fn example() {
/// let cluster = RedisCluster::start(3).await;
/// let seeds = cluster.urls(); // for `[redis] cluster = [...]`
/// assert_eq!(cluster.node(0).cli(&["-c", "SET", "k", "v"]).await, "OK");
/// # drop(seeds);
/// # }
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Redis>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, Redis's minimum), creates the cluster and waits
    /// until every node reports `cluster_state:ok`.
    pub async fn start(masters: usize) -> RedisCluster {
        RedisCluster::start_nodes(masters, None).await
    }

    /// Like [`RedisCluster::start`], every node speaking TLS only as
    /// [`Redis::start_tls`] does, the cluster bus too (`tls-cluster yes`): its
    /// [`RedisCluster::urls`] are `rediss://`.
    pub async fn start_tls(masters: usize, pki: &Pki, auth: ClientAuth) -> RedisCluster {
        RedisCluster::start_nodes(masters, Some((pki, auth))).await
    }

    async fn start_nodes(masters: usize, tls: Option<(&Pki, ClientAuth)>) -> RedisCluster {
        assert!(masters >= 3, "a Redis Cluster needs at least 3 masters");
        let mut nodes = Vec::with_capacity(masters);
        for _ in 0..masters {
            nodes.push(Redis::start_node(false, true, tls).await);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = nodes[0].cli(&args).await;
        assert!(
            created.contains("All 16384 slots covered"),
            "cluster create: {created}"
        );
        let cluster = RedisCluster { nodes };
        within(LIMIT, "the cluster to be ok on every node", async {
            for node in &cluster.nodes {
                while !node
                    .cli(&["CLUSTER", "INFO"])
                    .await
                    .contains("cluster_state:ok")
                {
                    tokio::time::sleep(POLL).await;
                }
            }
        })
        .await;
        cluster
    }

    /// Every node's URL, `redis://127.0.0.1:PORT` (`rediss://` with TLS; database 0, the
    /// only one of a cluster).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.url().trim_end_matches("/0").to_owned())
            .collect()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Redis {
        &self.nodes[i]
    }

    /// Node `i`, to stop, kill or restart it.
    pub fn node_mut(&mut self, i: usize) -> &mut Redis {
        &mut self.nodes[i]
    }
}

/// Whether a Redis on `port` answers PING with PONG, over TLS with `tls`.
async fn pong(port: u16, tls: Option<Arc<rustls::ClientConfig>>) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let Some(config) = tls else {
        return ping(stream).await;
    };
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let handshake = tokio_rustls::TlsConnector::from(config).connect(name, stream);
    match tokio::time::timeout(Duration::from_secs(1), handshake).await {
        Ok(Ok(stream)) => ping(stream).await,
        _ => false,
    }
}

/// Sends PING on `stream`: whether PONG comes back within a second.
async fn ping(mut stream: impl AsyncReadExt + AsyncWriteExt + Unpin) -> bool {
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    let read = tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut answer)).await;
    matches!(read, Ok(Ok(_))) && &answer == b"+PONG\r\n"
}
