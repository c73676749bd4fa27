//! With a server that has an admin token, `fastport session ...` creates a session,
//! describes and reconfigures it, suspends it (members are refused), resumes it (they get
//! in again), rotates its password and secret key (the old ones are refused, the new ones
//! work) and drops it; a wrong admin token is refused.

mod cli_support;

use cli_support::{run, Outcome};
use fastport_harness::Server;
use serde_json::Value;

const TOKEN: &str = "let-me-in";

#[tokio::test]
async fn session_commands_create_inspect_change_suspend_resume_and_drop() {
    let server = Server::start(&["--admin-token", TOKEN, "--no-demo-session"]).await;
    let url = server.url();
    let admin = |rest: &[&str]| {
        let mut args = vec!["session"];
        args.extend_from_slice(rest);
        args.extend_from_slice(&["--url", &url]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let create = |token: &str| {
        let mut args = admin(&[
            "create",
            "team",
            "--password",
            "team-pw",
            "--secret",
            "team-secret",
            "--max-retries",
            "7",
            "--retry-interval",
            "500ms",
            "--slow-consumer",
            "disconnect",
            "--json",
        ]);
        args.extend(["--admin-token".to_owned(), token.to_owned()]);
        args
    };

    let refused = run(&create("not-the-token")).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("admin token"), "{}", refused.stderr);

    let created = json(run(&create(TOKEN)).await);
    assert_eq!(created["session"], "team");
    assert_eq!(created["config"]["max_retries"], 7);
    assert_eq!(created["config"]["retry_interval_ms"], 500);
    assert_eq!(created["config"]["slow_consumer_policy"], "disconnect");
    assert_eq!(
        created["config"]["expiry_ms"], 60_000,
        "the server's default"
    );

    let secret = ["--secret", "team-secret"];
    let described = run(&admin(&[&["describe", "team"][..], &secret].concat())).await;
    assert_eq!(described.code, Some(0), "{described:?}");
    assert!(
        described.stdout.contains("max_retries           7"),
        "{}",
        described.stdout
    );
    assert!(
        described.stdout.contains("retry_interval        500ms"),
        "{}",
        described.stdout
    );

    let args = admin(&[&["config", "team", "--expiry", "2m", "--json"][..], &secret].concat());
    let configured = json(run(&args).await);
    assert_eq!(configured["config"]["expiry_ms"], 120_000);
    assert_eq!(configured["config"]["max_retries"], 7, "unchanged");

    let member = |message: &str| {
        let args = [
            "pub",
            "--url",
            &url,
            "--session",
            "team",
            "--password",
            "team-pw",
            "--plaintext",
            "news",
            message,
        ];
        args.map(String::from)
    };
    let suspended = run(&admin(&[&["suspend", "team"][..], &secret].concat())).await;
    assert_eq!(suspended.code, Some(0), "{suspended:?}");
    assert!(
        suspended.stdout.starts_with("suspended session `team`"),
        "{suspended:?}"
    );
    let refused = run(&member("hello?")).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("session_suspended"),
        "{}",
        refused.stderr
    );

    let resumed = run(&admin(&[&["resume", "team"][..], &secret].concat())).await;
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
    let published = run(&member("hello")).await;
    assert_eq!(published.code, Some(0), "{published:?}");

    let nothing = run(&admin(&[&["rotate", "team"][..], &secret].concat())).await;
    assert_eq!(nothing.code, Some(2), "{nothing:?}");
    assert!(
        nothing.stderr.contains("--new-password"),
        "{}",
        nothing.stderr
    );
    let rotate = [
        "rotate",
        "team",
        "--new-password",
        "team-pw-2",
        "--new-secret",
        "team-secret-2",
    ];
    let rotated = run(&admin(&[&rotate[..], &secret].concat())).await;
    assert_eq!(rotated.code, Some(0), "{rotated:?}");
    assert!(
        rotated
            .stdout
            .starts_with("rotated the credentials of session `team`"),
        "{rotated:?}"
    );
    let old_password = run(&member("with the old password")).await;
    assert_eq!(old_password.code, Some(1), "{old_password:?}");
    assert!(
        old_password.stderr.contains("wrong password"),
        "{}",
        old_password.stderr
    );
    let old_secret = run(&admin(&[&["describe", "team"][..], &secret].concat())).await;
    assert_eq!(old_secret.code, Some(1), "{old_secret:?}");
    let secret = ["--secret", "team-secret-2"];
    let described = run(&admin(&[&["describe", "team"][..], &secret].concat())).await;
    assert_eq!(described.code, Some(0), "{described:?}");
    let new_password = [
        "pub",
        "--url",
        &url,
        "--session",
        "team",
        "--password",
        "team-pw-2",
        "--plaintext",
        "news",
        "with the new password",
    ]
    .map(String::from);
    let published = run(&new_password).await;
    assert_eq!(published.code, Some(0), "{published:?}");

    let dropped = json(run(&admin(&[&["drop", "team", "--json"][..], &secret].concat())).await);
    assert_eq!(dropped["session"], "team");
    assert_eq!(dropped["config"], serde_json::json!({}));
    let gone = run(&admin(&[&["describe", "team"][..], &secret].concat())).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(
        gone.stderr.contains("or no such session"),
        "a dropped session answers like a wrong secret: {}",
        gone.stderr
    );
}

fn json(outcome: Outcome) -> Value {
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    serde_json::from_str(outcome.stdout.trim()).expect("one JSON document on stdout")
}
