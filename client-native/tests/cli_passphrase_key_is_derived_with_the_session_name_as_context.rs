//! `--passphrase P` on `sub`/`pub` derives the key `fastport key derive --passphrase P
//! --context SESSION` prints: a subscriber using the passphrase reads what a publisher
//! sealed with that derived key.

mod cli_support;

use cli_support::{member, run, run_within, Background, SESSION, SLOW_LIMIT};
use fastport_harness::Server;

const PASSPHRASE: &str = "correct horse battery staple";

#[tokio::test]
async fn passphrase_key_is_derived_with_the_session_name_as_context() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let args = [
        "--passphrase",
        PASSPHRASE,
        "--count",
        "1",
        "--json",
        "room/#",
    ];
    let mut sub = Background::start_within(SLOW_LIMIT, &member("sub", &url, &args));

    let args = [
        "key",
        "derive",
        "--passphrase",
        PASSPHRASE,
        "--context",
        SESSION,
    ];
    let derived = run_within(SLOW_LIMIT, &args, b"").await;
    assert_eq!(derived.code, Some(0), "{derived:?}");
    let key = derived.stdout.trim_end();
    sub.stderr_with("subscribed to").await;
    let sent = run(&member("pub", &url, &["--key", key, "room/lobby", "hi"])).await;
    assert_eq!(sent.code, Some(0), "{sent:?}");

    let line: serde_json::Value = serde_json::from_str(&sub.line().await).expect("JSON");
    assert_eq!(line["payload"], "hi");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
