//! `/healthz` and `/metrics` answer, the metrics follow the Prometheus conventions, name
//! sessions only when asked to, and sit behind a token when one is set.

mod common;

use common::{start, Clients};

#[tokio::test]
async fn healthz_answers_200_ok() {
    let server = start(&[]).await;
    let response = server.http("GET", "/healthz", &[], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body.trim(), "ok");
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_fastport_names_help_and_type() {
    let server = start(&["--metrics-per-session"]).await;
    let response = server.http("GET", "/metrics", &[], "").await;
    assert_eq!(response.status, 200);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.body;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        assert!(name.starts_with("fastport_"), "{line}");
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    assert!(
        text.contains("# TYPE fastport_connections_opened_total counter"),
        "{text}"
    );
    assert!(
        text.contains("fastport_session_suspended{session=\"demo\"} 0"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_a_joined_connection_in_total_and_per_session() {
    let server = start(&["--metrics-per-session"]).await;
    let mut client = server.connect().await;
    client.join("demo", "demo").await;
    let text = server.http("GET", "/metrics", &[], "").await.body;
    assert!(text.contains("\nfastport_connections 1\n"), "{text}");
    assert!(
        text.contains("fastport_session_connections{session=\"demo\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("\nfastport_connections_opened_total 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn by_default_the_metrics_name_no_session() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    client.join("demo", "demo").await;
    let text = server.http("GET", "/metrics", &[], "").await.body;
    assert!(text.contains("\nfastport_connections 1\n"), "{text}");
    assert!(
        !text.contains("demo"),
        "a session name in the metrics: {text}"
    );
    assert!(!text.contains("fastport_session_"), "{text}");
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_reads_the_metrics() {
    const TOKEN: &str = "metrics-token-0123456789";
    let server = start(&["--metrics-token", TOKEN]).await;
    let missing = server.http("GET", "/metrics", &[], "").await;
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let wrong = [("Authorization", "Bearer metrics-token-0123456780")];
    assert_eq!(server.http("GET", "/metrics", &wrong, "").await.status, 401);
    let right = format!("Bearer {TOKEN}");
    let response = server
        .http("GET", "/metrics", &[("Authorization", &right)], "")
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response.body.contains("fastport_connections "),
        "{}",
        response.body
    );
    assert_eq!(server.http("GET", "/healthz", &[], "").await.status, 200);
}

#[tokio::test]
async fn a_short_metrics_token_stops_the_server_at_startup() {
    let output = common::binary()
        .args(["--listen", "127.0.0.1:0", "--metrics-token", "short"])
        .output()
        .await
        .expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("metrics_token") && stderr.contains("16 characters"),
        "{stderr}"
    );
}
