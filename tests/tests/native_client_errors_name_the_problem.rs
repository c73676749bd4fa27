//! Wrong passwords, unknown sessions, wrong secrets and unreachable servers give the
//! documented errors, with their protocol codes (an unknown session answers like a wrong
//! password, so session names cannot be probed).

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
    assert_eq!(err.code(), Some(ErrorCode::BAD_CREDENTIALS));

    let err = Client::connect(Options::admin(&url).expect("valid"))
        .await
        .expect_err("an admin-only connection needs a credential");
    assert_eq!(err.code(), Some(ErrorCode::BAD_CREDENTIALS));
    let login = Options::admin_with(&url, Some("demo"), "demo-secret").expect("valid");
    let admin = Client::connect(login).await.expect("connect");
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
