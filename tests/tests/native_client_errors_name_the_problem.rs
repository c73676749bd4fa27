//! Wrong passwords, unknown sessions, wrong secrets and unreachable servers give the
//! documented errors, with their protocol codes.

use fastport_client::{Client, Error, Options};
use fastport_client_core::codec::{AdminOp, ErrorCode};
use fastport_harness::Server;

#[tokio::test]
async fn each_mistake_gets_its_own_error() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let wrong = Options::new(&url, "demo", "not-the-password").expect("valid");
    let err = Client::connect(wrong).await.expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::BAD_CREDENTIALS));
    assert!(err.to_string().contains("wrong password"), "{err}");

    let unknown = Options::new(&url, "nosuch", "x").expect("valid");
    let err = Client::connect(unknown).await.expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_SESSION));

    let admin = Client::connect(Options::admin(&url).expect("valid"))
        .await
        .expect("connect");
    let err = admin
        .admin("demo", "wrong-secret", AdminOp::Describe)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::NOT_AUTHORIZED));
    let config = admin
        .admin("demo", "demo-secret", AdminOp::Describe)
        .await
        .expect("described");
    assert!(config.max_message_size.is_some());

    drop(server);
    let err = Client::connect(Options::new(&url, "demo", "demo").expect("valid"))
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}
