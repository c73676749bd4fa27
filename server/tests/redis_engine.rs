//! The Redis engine's plumbing against a real redis-server (started by the harness): the
//! server logs its engine and node, `/healthz` and `/metrics` follow Redis going away and
//! coming back, a Redis that cannot be reached stops the start (exit 1) and a bad URL is a
//! configuration error (exit 2), and a password in the URL is never printed.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{launch, Clients, Server};
use fastport_harness::Redis;

/// Bound on a state change the pinger (once a second) must notice, and on a failing start.
const NOTICED: Duration = Duration::from_secs(15);
/// Between two looks at `/healthz`: nothing announces a change of Redis's health to a
/// client of the server but `/healthz` itself.
const POLL: Duration = Duration::from_millis(100);

#[tokio::test]
async fn healthz_and_metrics_follow_redis_going_away_and_coming_back_on_its_port() {
    let mut redis = Redis::start().await;
    let url = redis.url();
    let server = launch().redis(&redis, "test-node-1").start().await;
    let log = server.stderr_with("storage engine").await;
    let line = log
        .lines()
        .find(|l| l.contains("storage engine"))
        .expect("the engine's line");
    assert!(line.contains("engine=\"redis\""), "{line}");
    assert!(line.contains("node=\"test-node-1\""), "{line}");
    assert!(line.contains(&format!("redis=\"{url}\"")), "{line}");

    let health = server.http("GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.trim()), (200, "ok"));
    let metrics = scrape(&server).await;
    assert!(metrics.contains("\nfastport_engine_up 1\n"), "{metrics}");
    assert!(
        metrics.contains("\nfastport_engine_reconnects_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nfastport_engine_round_trip_seconds "),
        "{metrics}"
    );

    redis.kill().await;
    let health = healthz_until(&server, 503).await;
    assert!(health.body.starts_with("degraded"), "{}", health.body);
    assert!(
        health.body.contains(&url),
        "names the Redis: {}",
        health.body
    );
    let metrics = scrape(&server).await;
    assert!(metrics.contains("\nfastport_engine_up 0\n"), "{metrics}");
    assert!(
        counter(&metrics, "fastport_engine_errors_total") >= 1,
        "{metrics}"
    );

    redis.restart().await;
    let health = healthz_until(&server, 200).await;
    assert_eq!(health.body.trim(), "ok");
    let metrics = scrape(&server).await;
    assert!(metrics.contains("\nfastport_engine_up 1\n"), "{metrics}");
    assert!(
        counter(&metrics, "fastport_engine_reconnects_total") >= 1,
        "{metrics}"
    );
    server.stderr_with("redis engine up again").await;
}

#[tokio::test]
async fn without_redis_the_engine_is_memory_with_no_engine_metrics() {
    let server = launch().args(&["--node-id", "solo"]).start().await;
    let log = server.stderr_with("storage engine").await;
    assert!(log.contains("engine=\"memory\""), "{log}");
    assert!(log.contains("node=\"solo\""), "{log}");
    let metrics = scrape(&server).await;
    assert!(!metrics.contains("fastport_engine_"), "{metrics}");
}

#[tokio::test]
async fn a_password_in_the_redis_url_is_never_printed() {
    const PASSWORD: &str = "hunter2-never-printed";
    let mut redis = Redis::start().await;
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "requirepass", PASSWORD]).await,
        "OK"
    );
    let port = redis.port();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/0");
    let shown = format!("redis://:***@127.0.0.1:{port}/0");

    let mut server = launch().env("FASTPORT_REDIS", &url).start().await;
    let log = server.stderr_with("storage engine").await;
    assert!(log.contains(&shown), "{log}");
    redis.kill().await;
    let health = healthz_until(&server, 503).await;
    assert!(health.body.contains(&shown), "{}", health.body);
    server.terminate();
    server.exit_status().await;
    for output in [server.stdout(), server.stderr(), health.body] {
        assert!(
            !output.contains(PASSWORD),
            "the password was printed: {output}"
        );
    }

    // A wrong password stops the start, without printing either.
    redis.restart().await;
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "requirepass", PASSWORD]).await,
        "OK"
    );
    let wrong = format!("redis://:not-{PASSWORD}@127.0.0.1:{port}/0");
    let (code, stdout, stderr) = run(&["--redis", &wrong]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&shown), "{stderr}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stdout}{stderr}"
    );
}

#[tokio::test]
async fn redis_on_a_closed_port_stops_the_start_with_exit_code_1_naming_the_url() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    };
    let url = format!("redis://app:s3cret-pw@127.0.0.1:{closed}/0");
    let (code, stdout, stderr) = run(&["--redis", &url]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stdout.starts_with("listening on"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&format!(
            "cannot reach Redis at redis://app:***@127.0.0.1:{closed}/0"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

#[tokio::test]
async fn a_redis_url_of_another_scheme_is_a_configuration_error() {
    let (code, _, stderr) = run(&["--redis", "http://user:s3cret-pw@127.0.0.1:6379"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("redis (--redis, FASTPORT_REDIS"),
        "{stderr}"
    );
    assert!(lines[0].contains("scheme `http`"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

/// Runs the binary until it exits (it must, within [`NOTICED`]): (exit code, stdout,
/// stderr).
async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = launch().command();
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = fastport_harness::within(NOTICED, "the server to exit", command.output())
        .await
        .expect("the binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

async fn scrape(server: &Server) -> String {
    let response = server.http("GET", "/metrics", &[], "").await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.body
}

/// The value of a counter without labels.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// Asks `/healthz` until it answers `status` (within [`NOTICED`]).
async fn healthz_until(server: &Server, status: u16) -> common::HttpResponse {
    let what = format!("/healthz to answer {status}");
    fastport_harness::within(NOTICED, &what, async {
        loop {
            let response = server.http("GET", "/healthz", &[], "").await;
            if response.status == status {
                return response;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await
}

#[tokio::test]
async fn the_engine_connection_runs_pipelines_and_a_failed_write_degrades_it_at_once() {
    use fastport_server::config::{NodeId, RedisConfig, RedisUrl};
    use fastport_server::engine::RedisEngine;

    let mut redis = Redis::start().await;
    let url = RedisUrl::parse(&redis.url()).expect("a valid URL");
    let node = NodeId::new("pipeline-test").expect("a valid id");
    let engine = RedisEngine::connect(&RedisConfig::Single(url), node)
        .await
        .expect("Redis answers");
    let mut pipe = redis::pipe();
    pipe.cmd("RPUSH")
        .arg("fastport:test")
        .arg(&[1, 2, 3])
        .ignore()
        .cmd("LRANGE")
        .arg("fastport:test")
        .arg(0)
        .arg(-1);
    let (items,): (Vec<i64>,) = pipe.query_async(&mut engine.conn()).await.expect("runs");
    assert_eq!(items, [1, 2, 3]);
    assert_eq!(redis.cli(&["LLEN", "fastport:test"]).await, "3");

    redis.kill().await;
    let failed = pipe.query_async::<(Vec<i64>,)>(&mut engine.conn()).await;
    let error = failed.expect_err("Redis is gone");
    engine.health().failed(&error);
    assert!(
        !engine.health().is_up(),
        "a failed write marks it down at once"
    );
    assert!(engine.health().metrics().errors >= 1);

    redis.restart().await;
    fastport_harness::within(NOTICED, "the pinger to see Redis again", async {
        while !engine.health().is_up() {
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    let (items,): (Vec<i64>,) = pipe
        .query_async(&mut engine.conn())
        .await
        .expect("runs again");
    assert_eq!(
        items,
        [1, 2, 3],
        "a fresh Redis (no persistence) holds the new push only"
    );
    assert_eq!(engine.health().metrics().reconnects, 1);
}
