//! A persistent subscriber (`sub --resume --client-id`) is stopped; a QoS 1 message
//! published meanwhile is printed when it comes back, and only once. Its resume token is
//! kept in the state directory: a run without it cannot take the client id.

mod cli_support;

use cli_support::{member, new_key, run, Background};
use fastport_harness::Server;

#[tokio::test]
async fn resumed_subscriber_gets_what_was_published_while_it_was_stopped() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let key = new_key();
    let sub_args = member(
        "sub",
        &url,
        &[
            "--key",
            &key,
            "--resume",
            "--client-id",
            "night-shift",
            "--count",
            "1",
            "alarms/#",
        ],
    );

    // First run: subscribes (the server keeps the subscription), gets one message, exits.
    let mut sub = Background::start(&sub_args);
    sub.stderr_with("subscribed to").await;
    let outcome = run(&member(
        "pub",
        &url,
        &["--key", &key, "alarms/door", "opened"],
    ))
    .await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(sub.line().await, "alarms/door opened");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());

    // Published while nobody runs: acked (cached by the server for the stopped client).
    let outcome = run(&member(
        "pub",
        &url,
        &["--key", &key, "alarms/window", "broken"],
    ))
    .await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");

    // Someone else with the same client id but not its token is refused, and takes nothing.
    let elsewhere = fastport_harness::TempDir::new();
    let mut impostor = sub_args.clone();
    impostor.extend([
        "--state-dir".to_owned(),
        elsewhere.path().display().to_string(),
    ]);
    let outcome = run(&impostor).await;
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert!(
        outcome.stderr.contains("client_id_in_use"),
        "{}",
        outcome.stderr
    );

    // Second run: the server resends it right after the handshake.
    let mut sub = Background::start(&sub_args);
    assert_eq!(sub.line().await, "alarms/window broken");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
    assert!(
        sub.stderr().contains("the server kept this client's state"),
        "{}",
        sub.stderr()
    );

    // Third run: nothing is pending any more, so the next line is a new message.
    let mut sub = Background::start(&sub_args);
    sub.stderr_with("subscribed to").await;
    let outcome = run(&member(
        "pub",
        &url,
        &["--key", &key, "alarms/door", "closed"],
    ))
    .await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(sub.line().await, "alarms/door closed");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());
}
