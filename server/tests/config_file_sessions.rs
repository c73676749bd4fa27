//! Sessions declared in the config file exist at startup, with plaintext or hashed
//! secrets; the demo session can be turned off.

mod common;

use std::process::Stdio;

use common::{assert_refused, binary, start, start_with_config, within, Clients};
use tokio::io::AsyncWriteExt;

/// `fastport-server hash-secret` with `secret` on stdin.
async fn hash_secret(secret: &str) -> String {
    let mut command = binary();
    command
        .arg("hash-secret")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(format!("{secret}\n").as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    let output = within("hash-secret", child.wait_with_output())
        .await
        .expect("hash-secret runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_session_with_a_plaintext_password_accepts_it_and_the_log_warns() {
    let toml = r#"
[[sessions]]
name = "team"
password = "team-pw"
secret = "team-secret"
[sessions.settings]
max_retries = 1
"#;
    let server = start_with_config(toml, &[]).await;
    let mut client = server.connect().await;
    client.join("team", "team-pw").await;
    let log = server.stderr_with("plaintext").await;
    assert!(log.contains("sessions[0].password"), "{log}");
    let auth = "Bearer team-secret";
    let described = server
        .http(
            "GET",
            "/admin/sessions/team",
            &[("Authorization", auth)],
            "",
        )
        .await;
    assert_eq!(described.json()["config"]["max_retries"], 1);
}

#[tokio::test]
async fn hash_secret_prints_a_hash_that_the_config_file_accepts() {
    let hash = hash_secret("hashed-pw").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let toml = format!(
        "[[sessions]]\nname = \"vault\"\npassword_hash = \"{hash}\"\nsecret_hash = \"{hash}\"\n"
    );
    let server = start_with_config(&toml, &[]).await;
    let mut client = server.connect().await;
    client.join("vault", "hashed-pw").await;
    let mut intruder = server.connect().await;
    intruder.hello("vault", "guess").await;
    assert_refused(&mut intruder, "bad_credentials", 4004).await;
}

#[tokio::test]
async fn without_the_demo_session_its_name_is_unknown() {
    let server = start(&["--no-demo-session"]).await;
    assert!(!server.stdout().contains("demo session"));
    let mut client = server.connect().await;
    client.hello("demo", "demo").await;
    assert_refused(&mut client, "bad_credentials", 4004).await;
}
