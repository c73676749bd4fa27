//! `fastport sub`, `pub`, `session describe` and `session rotate` reach a TLS server over
//! `wss://` when `--ca-file` (or `FASTPORT_CA_FILE`) names the private CA that signed its
//! certificate.

mod cli_support;

use cli_support::{member, new_key, run, Background, SECRET, SESSION};
use fastport_harness::{Launch, Pki};

#[tokio::test]
async fn pub_and_sub_work_over_wss_with_a_private_ca_file() {
    let pki = Pki::new();
    let server = Launch::new().tls(&pki).start().await;
    let url = server.url();
    assert!(url.starts_with("wss://"), "{url}");
    let ca = pki.ca_file().to_string_lossy().into_owned();
    let key = new_key();

    let sub_args = member(
        "sub",
        &url,
        &["--ca-file", &ca, "--key", &key, "--count", "1", "alerts/#"],
    );
    let mut sub = Background::start(&sub_args);
    sub.stderr_with("subscribed to").await;
    let outcome = run(&member(
        "pub",
        &url,
        &[
            "--ca-file",
            &ca,
            "--key",
            &key,
            "--wait-delivered",
            "alerts/door",
            "open",
        ],
    ))
    .await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(sub.line().await, "alerts/door open");
    assert_eq!(sub.exit_code().await, Some(0), "stderr: {}", sub.stderr());

    // The admin commands share the flag; here through its environment variable.
    let describe = [
        "session", "describe", SESSION, "--secret", SECRET, "--url", &url, "--json",
    ];
    let mut command = cli_support::fastport(&describe);
    command.env("FASTPORT_CA_FILE", &ca);
    let output = command.output().await.expect("fastport runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("\"session\":\"demo\""), "{stdout}");

    // So does `session rotate`, here with the flag.
    let rotate = [
        "session",
        "rotate",
        SESSION,
        "--secret",
        SECRET,
        "--url",
        &url,
        "--ca-file",
        &ca,
        "--new-password",
        "rotated-password",
    ];
    let outcome = run(&rotate).await;
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
}
