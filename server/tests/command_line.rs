//! The command line: help, and configuration mistakes that stop the server with exit code
//! 2 and one clear line (never a backtrace).

mod common;

use std::process::Stdio;

use common::{launch, start, within};
use fastport_harness::TempDir;

/// Runs the binary to completion: (exit code, stdout, stderr).
async fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let launch = env
        .iter()
        .fold(launch(), |l, (key, value)| l.env(key, value));
    let mut command = launch.command();
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let output = within("the binary to exit", command.output())
        .await
        .expect("the binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

fn assert_clear_config_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains(needle), "`{needle}` not in: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[tokio::test]
async fn help_explains_the_flags_their_variables_and_the_precedence_of_sources() {
    let (code, stdout, _) = run(&["--help"], &[]).await;
    assert_eq!(code, Some(0));
    for needle in [
        "--listen",
        "FASTPORT_LISTEN",
        "--config",
        "--admin-token",
        "--static-dir",
        "--log",
        "--no-demo-session",
        "--max-connections",
        "--max-connections-per-address",
        "FASTPORT_MAX_CONNECTIONS_PER_ADDRESS",
        "--max-outbound-bytes",
        "--max-memory",
        "--slow-consumer-timeout",
        "--presence-interval",
        "--max-frame-bytes",
        "--retry-interval",
        "built-in defaults < TOML file (--config) < FASTPORT_* environment variables < flags",
    ] {
        assert!(stdout.contains(needle), "help lacks {needle}");
    }
}

#[tokio::test]
async fn an_unknown_flag_exits_with_code_2() {
    let (code, _, stderr) = run(&["--no-such-flag"], &[]).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[tokio::test]
async fn a_bad_value_in_an_environment_variable_exits_with_code_2() {
    let (code, _, stderr) = run(&[], &[("FASTPORT_RETRY_INTERVAL", "soon")]).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("invalid duration `soon`"), "{stderr}");
}

#[tokio::test]
async fn a_bad_config_file_exits_with_code_2_and_one_line_naming_the_key() {
    let dir = TempDir::new();
    let path = dir.write("bad.toml", b"[session_defaults]\nretry_interval = \"2x\"\n");
    let path = path.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = run(&["--config", path], &[]).await;
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert_clear_config_error(&stderr, "session_defaults.retry_interval");
}

#[tokio::test]
async fn a_config_file_from_the_environment_is_read_and_checked_too() {
    let dir = TempDir::new();
    let path = dir.write("bad.toml", b"max_conections = 5\n");
    let path = path.to_str().expect("utf-8 path");
    let (code, _, stderr) = run(&[], &[("FASTPORT_CONFIG", path)]).await;
    assert_eq!(code, Some(2));
    assert_clear_config_error(&stderr, "unknown field `max_conections`");
}

#[tokio::test]
async fn a_missing_config_file_exits_with_code_2_naming_the_file() {
    let (code, _, stderr) = run(&["--config", "/nonexistent/fastport.toml"], &[]).await;
    assert_eq!(code, Some(2));
    assert_clear_config_error(&stderr, "/nonexistent/fastport.toml");
}

#[tokio::test]
async fn an_address_already_in_use_exits_with_code_1() {
    let first = start(&[]).await;
    let taken = first.addr().to_string();
    let (code, _, stderr) = run(&["--listen", &taken], &[]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}

#[tokio::test]
async fn the_first_line_names_the_bound_address_and_the_banner_names_the_demo_session() {
    let server = start(&[]).await;
    assert_ne!(server.addr().port(), 0);
    let stdout = server.stdout();
    assert!(
        stdout.starts_with(&format!("listening on {}\n", server.addr())),
        "{stdout}"
    );
    let banner = server.stdout_with("demo session").await;
    assert!(
        banner.contains(&format!("ws://{}/ws", server.addr())),
        "{banner}"
    );
}
