//! Static files: index.html for `/`, content types, `HEAD`, and nothing outside the
//! directory whatever the path says.

mod common;

use common::{Clients, Server};
use fastport_harness::TempDir;

/// A site with an index, a script and a wasm module, next to a secret it must not serve.
async fn start() -> (Server, TempDir) {
    let dir = TempDir::new();
    dir.write("secret.txt", b"do not serve");
    dir.write("site/index.html", b"<!doctype html><title>demo</title>");
    dir.write("site/pkg/app.js", b"export {};");
    dir.write("site/pkg/app_bg.wasm", b"\0asm\x01\0\0\0");
    dir.write("site/.hidden", b"hidden");
    let site = dir.path().join("site");
    let site = site.to_str().expect("utf-8 path").to_owned();
    let server = common::start(&["--static-dir", &site]).await;
    (server, dir)
}

#[tokio::test]
async fn the_root_serves_index_html_and_files_get_their_content_type() {
    let (server, _dir) = start().await;
    let index = server.http("GET", "/", &[], "").await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(index.body.contains("<title>demo</title>"));
    let script = server.http("GET", "/pkg/app.js", &[], "").await;
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let wasm = server.http("GET", "/pkg/app_bg.wasm", &[], "").await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
}

#[tokio::test]
async fn head_answers_the_headers_without_the_body() {
    let (server, _dir) = start().await;
    let head = server.http("HEAD", "/pkg/app.js", &[], "").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("10"));
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn paths_that_leave_the_directory_or_name_hidden_files_are_not_found() {
    let (server, _dir) = start().await;
    for path in [
        "/../secret.txt",
        "/pkg/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%5csecret.txt",
        "/.hidden",
        "/%00",
        "/missing.html",
    ] {
        let response = server.http("GET", path, &[], "").await;
        assert_eq!(response.status, 404, "{path}: {}", response.body);
        assert!(!response.body.contains("do not serve"), "{path}");
    }
}

#[tokio::test]
async fn the_websocket_path_without_an_upgrade_is_426_and_other_methods_are_refused() {
    let (server, _dir) = start().await;
    let plain = server.http("GET", "/ws", &[], "").await;
    assert_eq!(plain.status, 426);
    assert_eq!(plain.header("upgrade"), Some("websocket"));
    let post = server.http("POST", "/index.html", &[], "").await;
    assert_eq!(post.status, 404);
    let metrics_post = server.http("POST", "/metrics", &[], "").await;
    assert_eq!(metrics_post.status, 405);
}
