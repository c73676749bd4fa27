//! Pages of other sites cannot use the server from a visitor's browser: a WebSocket upgrade
//! with a foreign `Origin` and a cross-site admin call are refused, while the server's own
//! pages, loopback pages, listed origins and non-browser clients are served.

mod common;

use common::{within, Clients, Server};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;

/// The HTTP status of a WebSocket upgrade from a page of `origin` (101 when accepted).
async fn upgrade_status(server: &Server, origin: Option<&str>) -> (u16, String) {
    let url = format!("ws://{}/ws", server.endpoint());
    let mut request = url.into_client_request().expect("a valid request");
    if let Some(origin) = origin {
        let value = HeaderValue::from_str(origin).expect("a valid header");
        request.headers_mut().insert("Origin", value);
    }
    match within("the upgrade", tokio_tungstenite::connect_async(request)).await {
        Ok((_ws, response)) => (response.status().as_u16(), String::new()),
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let body = String::from_utf8_lossy(body).into_owned();
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_is_refused_and_own_loopback_and_native_ones_are_not() {
    let server = common::start(&[]).await;
    let own = format!("http://{}", server.endpoint());
    for origin in [None, Some(own.as_str()), Some("http://localhost:5173")] {
        let (status, body) = upgrade_status(&server, origin).await;
        assert_eq!(status, 101, "{origin:?}: {body}");
    }
    for origin in ["https://evil.example", "null"] {
        let (status, body) = upgrade_status(&server, Some(origin)).await;
        assert_eq!(status, 403, "{origin}");
        assert!(
            body.contains(origin),
            "the refusal names the origin: {body}"
        );
        assert!(body.contains("--allowed-origins"), "and the flag: {body}");
    }
}

#[tokio::test]
async fn allowed_origins_admits_exactly_the_listed_pages() {
    let server =
        common::start(&["--allowed-origins", "https://app.example,https://b.example"]).await;
    for origin in ["https://app.example", "https://b.example"] {
        assert_eq!(
            upgrade_status(&server, Some(origin)).await.0,
            101,
            "{origin}"
        );
    }
    for origin in [
        "http://app.example",
        "https://app.example:8443",
        "https://c.example",
    ] {
        assert_eq!(
            upgrade_status(&server, Some(origin)).await.0,
            403,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn a_value_that_is_not_an_origin_stops_the_server_at_startup() {
    let output = common::binary()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--allowed-origins",
            "app.example",
        ])
        .output()
        .await
        .expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("allowed_origins") && stderr.contains("`app.example` is not an origin"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_cross_site_form_or_text_post_cannot_create_a_session() {
    let server = common::start(&[]).await;
    let body = r#"{"name":"csrf","password":"pw","secret":"sec"}"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = server
            .http(
                "POST",
                "/admin/sessions",
                &[("Content-Type", content_type)],
                body,
            )
            .await;
        assert_eq!(response.status, 415, "{content_type}: {}", response.body);
        assert_eq!(response.json()["error"]["code"], "unsupported_media_type");
    }
    let foreign = server
        .http(
            "POST",
            "/admin/sessions",
            &[("Origin", "https://evil.example")],
            body,
        )
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert_eq!(foreign.json()["error"]["code"], "origin_not_allowed");
    let describe = server
        .http(
            "GET",
            "/admin/sessions/csrf",
            &[("Authorization", "Bearer sec")],
            "",
        )
        .await;
    assert_eq!(
        describe.status, 403,
        "no session was made (its secret would describe it): {}",
        describe.body
    );
    assert_eq!(describe.json()["error"]["code"], "not_authorized");
}

/// The status line of a `GET /healthz` sent with this `Host` header.
async fn status_for_host(server: &Server, host: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server.endpoint())
            .await
            .expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        String::from_utf8_lossy(&raw).into_owned()
    };
    let response = within("an HTTP response", exchange).await;
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn with_server_names_a_rebound_host_name_is_refused() {
    let server = common::start(&["--server-names", "chat.example.com"]).await;
    for host in [
        "chat.example.com",
        "chat.example.com:8080",
        "127.0.0.1:1",
        "localhost",
    ] {
        assert_eq!(
            status_for_host(&server, host).await,
            "HTTP/1.1 200 OK",
            "{host}"
        );
    }
    let refused = status_for_host(&server, "rebind.evil.example").await;
    assert_eq!(refused, "HTTP/1.1 421 Misdirected Request");
    let open = common::start(&[]).await;
    let served = status_for_host(&open, "rebind.evil.example").await;
    assert_eq!(
        served, "HTTP/1.1 200 OK",
        "without names every host is served"
    );
}
