//! Mistakes on the command line (a bad duration, QoS, key, filter or flag combination)
//! exit with code 2 and a message naming the mistake, before any connection is tried
//! (the URL points nowhere), and never with a panic.

mod cli_support;

use cli_support::run;

const NOWHERE: &str = "ws://127.0.0.1:9/ws";

#[tokio::test]
async fn usage_mistakes_exit_2_without_a_backtrace() {
    let member = ["--url", NOWHERE, "--session", "demo", "--password", "demo"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "session", "config", "demo", "--secret", "s", "--expiry", "2x",
            ],
            "unknown unit `x`",
        ),
        (
            vec!["session", "config", "demo", "--secret", "s"],
            "nothing to change",
        ),
        (
            vec![
                "session",
                "create",
                "x",
                "--password",
                "p",
                "--secret",
                "s",
                "--slow-consumer",
                "sometimes",
            ],
            "sometimes",
        ),
        (
            [
                &["pub"][..],
                &member,
                &["--plaintext", "--qos", "2", "t", "x"],
            ]
            .concat(),
            "0..=1",
        ),
        (
            [&["pub"][..], &member, &["--key", "bm90IGEga2V5", "t", "x"]].concat(),
            "--key",
        ),
        (
            [&["pub"][..], &member, &["--plaintext", "a/+", "x"]].concat(),
            "wildcard",
        ),
        (
            [&["sub"][..], &member, &["--plaintext", "a/#/b"]].concat(),
            "a/#/b",
        ),
        (
            [&["sub"][..], &member, &["--plaintext", "--resume", "t"]].concat(),
            "--client-id",
        ),
        (
            [
                &["sub"][..],
                &member,
                &["--plaintext", "--client-id", "a b", "t"],
            ]
            .concat(),
            "--client-id",
        ),
        (
            vec![
                "sub",
                "--url",
                NOWHERE,
                "--password",
                "demo",
                "--plaintext",
                "t",
            ],
            "--session",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let outcome = run(&args).await;
        assert_eq!(outcome.code, Some(2), "{args:?}: {outcome:?}");
        assert!(
            outcome.stderr.contains(needle),
            "{args:?}: {}",
            outcome.stderr
        );
        assert!(
            !outcome.stderr.contains("panicked"),
            "{args:?}: {}",
            outcome.stderr
        );
        assert!(
            !outcome.stderr.contains("cannot connect"),
            "{args:?}: {}",
            outcome.stderr
        );
    }

    let help = run(&["pub", "--help"]).await;
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(help.stdout.contains("--wait-delivered"), "{}", help.stdout);
}
