//! `fastport bench` with a wrong password ends with exit code 1 and the one line `sub`
//! prints for the same mistake.

mod cli_support;

use cli_support::{run, SESSION};
use fastport_harness::Server;

#[tokio::test]
async fn bench_wrong_password_is_named_like_the_other_commands_do() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let connect = ["--url", &url, "--session", SESSION, "--password", "wrong"];

    let bench = run(&[&["bench"][..], &connect, &["--publishers", "3"]].concat()).await;
    let sub = run(&[&["sub"][..], &connect, &["--plaintext", "news"]].concat()).await;

    assert_eq!(bench.code, Some(1), "{bench:?}");
    assert!(bench.stderr.contains("wrong password"), "{}", bench.stderr);
    assert!(bench.stderr.contains("--password"), "{}", bench.stderr);
    assert_eq!(bench.stderr, sub.stderr, "the same message as `sub`");
    assert_eq!(bench.stderr.lines().count(), 1, "{}", bench.stderr);
    assert!(bench.stdout.is_empty(), "no summary: {}", bench.stdout);
}
