//! Two native clients on the real server: wildcard subscriptions receive a sealed message,
//! and the publisher's receipt counts both subscribers.

use std::time::Duration;

use fastport_client::{Client, Key, Options, Qos, ReceiptStatus};
use fastport_harness::Server;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

fn options(server: &Server, key: &Key) -> Options {
    Options::new(&server.url(), "demo", "demo")
        .expect("valid options")
        .key(key.clone())
}

#[tokio::test]
async fn wildcard_subscribers_receive_the_message_and_the_receipt_counts_them() {
    let server = Server::start(&[]).await;
    let key = Key::generate().expect("random key");
    let a = timeout(LIMIT, Client::connect(options(&server, &key)))
        .await
        .expect("in time")
        .expect("connect");
    let b = timeout(LIMIT, Client::connect(options(&server, &key)))
        .await
        .expect("in time")
        .expect("connect");
    let mut plus = a.subscribe("sensors/+/room1").await.expect("subscribe");
    let mut hash = b.subscribe("sensors/#").await.expect("subscribe");
    let published = a
        .publish("sensors/temperature/room1", b"21.5", Qos::AtLeastOnce)
        .await
        .expect("acked");
    for sub in [&mut plus, &mut hash] {
        let m = timeout(LIMIT, sub.next())
            .await
            .expect("in time")
            .expect("a message");
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            ("sensors/temperature/room1", &b"21.5"[..])
        );
        assert!(m.encrypted);
        assert_eq!(m.publisher, a.client_id());
    }
    let receipt = timeout(LIMIT, published.receipt())
        .await
        .expect("in time")
        .expect("receipt");
    assert_eq!(
        (receipt.status, receipt.delivered),
        (ReceiptStatus::Delivered, 2)
    );
    a.publish("sensors/humidity/kitchen", b"40", Qos::AtLeastOnce)
        .await
        .expect("acked");
    let m = timeout(LIMIT, hash.next())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(m.topic.as_str(), "sensors/humidity/kitchen");
    assert!(
        timeout(Duration::from_millis(300), plus.next())
            .await
            .is_err(),
        "`+` does not match another room"
    );
    a.close().await;
    b.close().await;
}
