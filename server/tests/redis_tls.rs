//! The Redis engine over TLS (`rediss://`) against a real redis-server speaking TLS only,
//! with a CA and certificates made by the test (`fastport_harness::Pki`):
//!
//! - with the private CA (`--redis-ca`) the server stores in Redis, and reconnects with it
//!   when Redis comes back after a crash;
//! - a CA Redis's certificate does not chain to, or none (the public roots), stops the
//!   start with exit code 1 and one line naming the certificate problem, within the
//!   connect limit;
//! - a Redis that asks for client certificates (`tls-auth-clients yes`) takes the server
//!   with `--redis-cert`/`--redis-key` (here from `FASTPORT_REDIS_CERT`/`_KEY`), and
//!   refuses it without, or with a client certificate of another CA;
//! - a Redis Cluster speaking TLS only (its bus too) takes the same files for every node
//!   the client learns from the seed;
//! - an unusable PEM file is a configuration error (exit code 2) naming the key and the
//!   file, before anything connects.
//!
//! The crash-and-restart of a server on a TLS Redis is in tests/durable.rs, with the other
//! restarts.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{launch, metric, Clients, Server};
use fastport_harness::{ClientAuth, Pki, Redis, RedisCluster};

const TOKEN: &str = "admin-token-for-redis-tls-tests";

/// Bound on a failing start: the engine's connect limit (5 s) and the binary's start.
const EXITS: Duration = Duration::from_secs(15);

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[tokio::test]
async fn with_the_private_ca_the_server_stores_in_a_tls_redis_and_reconnects_after_it_restarts() {
    let pki = Pki::new();
    let mut redis = Redis::start_tls(&pki, ClientAuth::Off).await;
    let url = redis.url();
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let server = launch()
        .args(&["--redis", &url, "--redis-ca", path(&pki.ca_file())])
        .args(&["--node-id", "tls-node", "--admin-token", TOKEN])
        .start()
        .await;
    let log = server.stderr_with("storage engine").await;
    assert!(log.contains(&format!("redis=\"{url}\"")), "{log}");
    let health = server.http("GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.trim()), (200, "ok"));

    // A session created through the admin API is written to Redis, over TLS.
    create_team_and_wait_until_stored(&server).await;
    let keys = redis.cli(&["KEYS", "fastport:{team}:*"]).await;
    assert!(!keys.trim().is_empty(), "nothing of `team` in Redis");

    // Redis goes away and comes back: the engine reconnects with the same CA.
    redis.kill().await;
    healthz_until(&server, 503).await;
    redis.restart().await;
    let health = healthz_until(&server, 200).await;
    assert_eq!(health.body.trim(), "ok");
    assert!(metric(server.addr(), "fastport_engine_reconnects_total").await >= 1);
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_certificate_of_redis_stops_the_start_with_exit_code_1() {
    let pki = Pki::new();
    let redis = Redis::start_tls(&pki, ClientAuth::Off).await;
    let url = redis.url();
    let stranger = Pki::new();
    let (code, stdout, stderr) =
        run(&["--redis", &url, "--redis-ca", path(&stranger.ca_file())]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stdout.starts_with("listening on"), "{stdout}");
    let line = one_error_line(&stderr);
    assert!(
        line.contains(&format!("cannot reach Redis at {url}")),
        "{line}"
    );
    assert!(line.contains("invalid peer certificate"), "{line}");
    assert!(
        line.contains("not signed by the CA of --redis-ca"),
        "names the setting: {line}"
    );

    // Without a CA, the public roots: the test CA is not one of them.
    let (code, _, stderr) = run(&["--redis", &url]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let line = one_error_line(&stderr);
    assert!(line.contains("invalid peer certificate"), "{line}");
    assert!(line.contains("give its CA with --redis-ca"), "{line}");
}

#[tokio::test]
async fn a_redis_that_asks_for_a_client_certificate_takes_the_configured_one_only() {
    let pki = Pki::new();
    let redis = Redis::start_tls(&pki, ClientAuth::Required).await;
    let url = redis.url();
    let ca = path(&pki.ca_file()).to_owned();

    let (code, _, stderr) = run(&["--redis", &url, "--redis-ca", &ca]).await;
    assert_eq!(code, Some(1), "without a client certificate: {stderr}");
    let line = one_error_line(&stderr);
    assert!(
        line.contains(&format!("cannot reach Redis at {url}")),
        "{line}"
    );
    assert!(line.contains("give one with --redis-cert"), "{line}");

    // A client certificate of another CA is refused too.
    let stranger = Pki::new();
    let (code, _, stderr) = run(&[
        "--redis",
        &url,
        "--redis-ca",
        &ca,
        "--redis-cert",
        path(&stranger.client_cert_file()),
        "--redis-key",
        path(&stranger.client_key_file()),
    ])
    .await;
    assert_eq!(code, Some(1), "another CA's client certificate: {stderr}");
    let line = one_error_line(&stderr);
    assert!(
        line.contains("Redis refused the client certificate"),
        "{line}"
    );

    let server = launch()
        .args(&["--redis", &url, "--redis-ca", &ca])
        .env("FASTPORT_REDIS_CERT", path(&pki.client_cert_file()))
        .env("FASTPORT_REDIS_KEY", path(&pki.client_key_file()))
        .start()
        .await;
    server.stderr_with("storage engine").await;
    let health = server.http("GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.trim()), (200, "ok"));
    let clients = redis.cli(&["CLIENT", "LIST"]).await;
    assert!(
        clients.lines().count() >= 2,
        "the server's connection and redis-cli's: {clients}"
    );
}

#[tokio::test]
async fn an_unusable_pem_file_is_a_configuration_error_naming_the_key_and_the_file() {
    let pki = Pki::new();
    // No Redis runs: the files are checked before anything connects.
    let url = "rediss://127.0.0.1:1/0";
    let key = path(&pki.client_key_file()).to_owned();
    let (code, stdout, stderr) = run(&["--redis", url, "--redis-ca", &key]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("redis ca (--redis-ca, FASTPORT_REDIS_CA, [redis] ca)"),
        "{stderr}"
    );
    assert!(lines[0].contains(&key), "{stderr}");
    assert!(lines[0].contains("not a PEM certificate"), "{stderr}");

    // A CA with a plain redis:// URL: the certificates would mean nothing.
    let plain = "redis://127.0.0.1:1/0";
    let ca = path(&pki.ca_file()).to_owned();
    let (code, _, stderr) = run(&["--redis", plain, "--redis-ca", &ca]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is plain TCP"), "{stderr}");
}

/// Creates session `team` through the admin API and waits until the server stored it.
async fn create_team_and_wait_until_stored(server: &Server) {
    let body = r#"{"name":"team","password":"pw","secret":"sec"}"#;
    let auth = format!("Bearer {TOKEN}");
    let response = server
        .http("POST", "/admin/sessions", &[("Authorization", &auth)], body)
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
    common::within("the session stored", async {
        while metric(server.addr(), "fastport_journal_records_unstored").await != 0
            || metric(server.addr(), "fastport_store_records_total").await == 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Asks `/healthz` until it answers `status` (within [`EXITS`]): nothing but `/healthz`
/// itself tells a client of the server that Redis's health changed.
async fn healthz_until(server: &Server, status: u16) -> common::HttpResponse {
    let what = format!("/healthz to answer {status}");
    fastport_harness::within(EXITS, &what, async {
        loop {
            let response = server.http("GET", "/healthz", &[], "").await;
            if response.status == status {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// The one line of `stderr` that reports an error.
fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0]
}

/// Runs the binary with `args` (listening on a free port) until it exits, within
/// [`EXITS`]: (exit code, stdout, stderr).
async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = launch().command();
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = fastport_harness::within(EXITS, "the server to exit", command.output())
        .await
        .expect("the binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test]
async fn a_tls_redis_cluster_takes_the_ca_and_the_client_certificate_for_every_node() {
    let pki = Pki::new();
    let cluster = RedisCluster::start_tls(3, &pki, ClientAuth::Required).await;
    let seed = &cluster.urls()[0];
    assert!(seed.starts_with("rediss://"), "{seed}");
    let toml = format!(
        "[redis]\ncluster = [\"{seed}\"]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        path(&pki.ca_file()),
        path(&pki.client_cert_file()),
        path(&pki.client_key_file())
    );
    let server = launch()
        .config(&toml)
        .args(&["--admin-token", TOKEN])
        .start()
        .await;
    create_team_and_wait_until_stored(&server).await;
    // The session's keys share a slot: one node has them, reached over TLS by the client
    // that learnt the others from the seed.
    let mut found = 0;
    for i in 0..3 {
        let keys = cluster.node(i).cli(&["KEYS", "fastport:{team}:*"]).await;
        found += keys.lines().filter(|k| !k.trim().is_empty()).count();
    }
    assert!(found > 0, "nothing of `team` in the cluster");
}
