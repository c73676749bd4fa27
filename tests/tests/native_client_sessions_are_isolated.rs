//! Two sessions with the same topic and the same client id: nothing crosses.

use std::time::Duration;

use fastport_client::{Client, Key, Options, Qos, ReceiptStatus};
use fastport_client_core::codec::{AdminOp, SessionConfig};
use fastport_harness::Server;
use tokio::time::timeout;

#[tokio::test]
async fn the_same_topic_and_client_id_in_two_sessions_share_nothing() {
    let server = Server::start(&["--open-session-creation"]).await;
    let url = server.url();
    let admin = Client::connect(Options::admin(&url).expect("valid"))
        .await
        .expect("connect");
    let create = AdminOp::Create {
        password: "team-pw".into(),
        secret: "team-secret".into(),
        config: SessionConfig::default(),
    };
    admin
        .admin("team", "", create)
        .await
        .expect("created without an admin token, as creation is open");

    let key = Key::generate().expect("random key");
    let in_demo = Options::new(&url, "demo", "demo")
        .expect("valid")
        .key(key.clone());
    let in_team = Options::new(&url, "team", "team-pw")
        .expect("valid")
        .key(key.clone());
    let demo = Client::connect(in_demo.client_id("same").expect("valid"))
        .await
        .expect("connect");
    let team = Client::connect(in_team.client_id("same").expect("valid"))
        .await
        .expect("connect");
    let mut demo_sub = demo.subscribe("news").await.expect("subscribe");
    let mut team_sub = team.subscribe("news").await.expect("subscribe");

    let receipt = demo
        .publish("news", b"demo only", Qos::AtLeastOnce)
        .await
        .expect("acked")
        .receipt()
        .await
        .expect("receipt");
    assert_eq!(
        (receipt.status, receipt.delivered),
        (ReceiptStatus::Delivered, 1)
    );
    let m = timeout(Duration::from_secs(10), demo_sub.next())
        .await
        .expect("in time");
    assert_eq!(m.expect("message").payload, b"demo only");
    assert!(
        timeout(Duration::from_millis(500), team_sub.next())
            .await
            .is_err(),
        "nothing reached the other session"
    );
}
