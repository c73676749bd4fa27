//! A wrong password, an unknown session and a wrong secret key each end the command with
//! exit code 1 and one line naming the problem and the flags to check (an unknown session
//! is answered like a wrong password, so names cannot be probed).

mod cli_support;

use cli_support::{run, SESSION};
use fastport_harness::Server;

#[tokio::test]
async fn wrong_credentials_are_named_and_exit_1() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let connect = |session: &str, password: &str| {
        [
            "sub",
            "--url",
            &url,
            "--session",
            session,
            "--password",
            password,
            "--plaintext",
            "news",
        ]
        .map(String::from)
    };

    let bad_password = run(&connect(SESSION, "not-the-password")).await;
    assert_eq!(bad_password.code, Some(1), "{bad_password:?}");
    assert!(
        bad_password.stderr.contains("wrong password"),
        "{}",
        bad_password.stderr
    );
    assert!(
        bad_password.stderr.contains("bad_credentials"),
        "{}",
        bad_password.stderr
    );
    assert!(
        bad_password.stderr.contains("--password"),
        "{}",
        bad_password.stderr
    );

    let unknown = run(&connect("no-such-session", "x")).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.contains("bad_credentials"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("--session"), "{}", unknown.stderr);

    let args = [
        "session", "describe", SESSION, "--url", &url, "--secret", "guess",
    ];
    let bad_secret = run(&args).await;
    assert_eq!(bad_secret.code, Some(1), "{bad_secret:?}");
    assert!(
        bad_secret
            .stderr
            .contains("wrong secret for session `demo`"),
        "{}",
        bad_secret.stderr
    );
    assert!(
        bad_secret.stderr.contains("--secret"),
        "{}",
        bad_secret.stderr
    );

    for outcome in [&bad_password, &unknown, &bad_secret] {
        assert_eq!(
            outcome.stderr.lines().count(),
            1,
            "one line: {}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.starts_with("fastport: error: "),
            "{}",
            outcome.stderr
        );
        assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
        assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    }
}
