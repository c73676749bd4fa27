//! A subscriber with a stable client id and `resume` is stopped; a QoS 1 message published
//! meanwhile reaches it when it comes back, exactly once.

use std::time::Duration;

use fastport_client::{Client, Key, Options, Qos, ReceiptStatus};
use fastport_harness::Server;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_message_published_while_a_resumable_subscriber_was_away_arrives_when_it_returns() {
    let server = Server::start(&[]).await;
    let key = Key::generate().expect("random key");
    let sub_options = || {
        Options::new(&server.url(), "demo", "demo")
            .and_then(|o| o.client_id("night-shift"))
            .expect("valid options")
            .key(key.clone())
            .resume(true)
    };
    let sub = Client::connect(sub_options()).await.expect("connect");
    drop(sub.subscribe("alarms/#").await.expect("subscribe"));
    // What a restarting program keeps with its client id.
    let token = sub.resume_token();
    assert_eq!(token.len(), 32, "{token}");
    sub.close().await;

    let publisher = Options::new(&server.url(), "demo", "demo")
        .expect("valid")
        .key(key.clone());
    let publisher = Client::connect(publisher).await.expect("connect");
    let published = publisher
        .publish("alarms/door", b"opened", Qos::AtLeastOnce)
        .await
        .expect("acked");

    let impostor = Client::connect(sub_options()).await;
    assert!(
        impostor
            .as_ref()
            .is_err_and(|e| e.to_string().contains("client_id_in_use")),
        "without the token the client id is not taken: {impostor:?}"
    );
    let sub = Client::connect(sub_options().resume_token(&token))
        .await
        .expect("reconnect");
    assert_eq!(sub.resume_token(), token, "a resumed state keeps its token");
    // The server resends what is pending right after the welcome, before any subscribe
    // of the new client object: subscribing again routes it to this subscription.
    let mut alarms = sub.subscribe("alarms/#").await.expect("subscribe");
    let m = timeout(LIMIT, alarms.next())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(&m.payload[..], b"opened");
    let receipt = timeout(LIMIT, published.receipt())
        .await
        .expect("in time")
        .expect("receipt");
    assert_eq!(receipt.status, ReceiptStatus::Delivered);
    assert!(
        timeout(Duration::from_millis(300), alarms.next())
            .await
            .is_err(),
        "exactly once"
    );
}
