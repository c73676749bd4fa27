//! `/healthz` and `/metrics` answer, and the metrics follow the Prometheus conventions.

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
    let server = start(&[]).await;
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
    let server = start(&[]).await;
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
