//! A `wss://` server whose certificate no trusted CA signed ends the command at once with
//! exit code 1 and one line naming the host, the problem and `--ca-file`; it is not
//! retried as if the network were down. An unreadable CA file is a usage error (exit 2)
//! naming the file.

mod cli_support;

use cli_support::{member, run, SECRET, SESSION};
use fastport_harness::{Launch, Pki};

#[tokio::test]
async fn an_untrusted_certificate_is_named_and_exits_1() {
    let pki = Pki::new();
    let server = Launch::new().tls(&pki).start().await;
    let url = server.url();
    let host = server.addr().ip().to_string();

    let sub = run(&member("sub", &url, &["--plaintext", "news"])).await;
    assert_eq!(sub.code, Some(1), "{sub:?}");
    let expected = format!("the TLS certificate of {host} is not trusted");
    assert!(sub.stderr.contains(&expected), "{}", sub.stderr);
    assert!(
        sub.stderr
            .contains("signed by an unknown certificate authority"),
        "{}",
        sub.stderr
    );
    assert!(sub.stderr.contains("--ca-file"), "{}", sub.stderr);
    assert!(!sub.stderr.contains("reconnecting"), "{}", sub.stderr);

    let describe = run(&[
        "session", "describe", SESSION, "--secret", SECRET, "--url", &url,
    ])
    .await;
    assert_eq!(describe.code, Some(1), "{describe:?}");
    assert!(describe.stderr.contains(&expected), "{}", describe.stderr);

    // A CA file that does not exist, and one that is not PEM.
    let missing = pki.dir().join("missing.pem").to_string_lossy().into_owned();
    let publish = run(&member(
        "pub",
        &url,
        &["--ca-file", &missing, "--plaintext", "news", "hi"],
    ))
    .await;
    assert_eq!(publish.code, Some(2), "{publish:?}");
    assert!(
        publish
            .stderr
            .contains(&format!("--ca-file / FASTPORT_CA_FILE: CA file {missing}")),
        "{}",
        publish.stderr
    );
    let key = pki.key_file().to_string_lossy().into_owned();
    let publish = run(&member(
        "pub",
        &url,
        &["--ca-file", &key, "--plaintext", "news", "hi"],
    ))
    .await;
    assert_eq!(publish.code, Some(2), "{publish:?}");
    assert!(
        publish.stderr.contains("no `BEGIN CERTIFICATE` block"),
        "{}",
        publish.stderr
    );
}
