//! The server process is killed and started again on the same port: connected clients
//! reconnect by themselves and their subscriptions work again, with no application code.

use std::time::Duration;

use fastport_client::{Client, ClientEvent, Key, Options, Qos, ReceiptStatus};
use fastport_harness::Server;
use tokio::sync::broadcast;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

/// Waits for `Restored`: after the reconnect, the server has answered the client's
/// automatic re-subscribes, so a publish made from now on finds them.
async fn restored(events: &mut broadcast::Receiver<ClientEvent>) -> bool {
    let wait = async {
        loop {
            if let Ok(ClientEvent::Restored { .. }) = events.recv().await {
                return;
            }
        }
    };
    timeout(LIMIT, wait).await.is_ok()
}

#[tokio::test]
async fn after_a_crash_and_restart_clients_reconnect_and_subscriptions_come_back() {
    let mut server = Server::start(&[]).await;
    let key = Key::generate().expect("random key");
    let options = || {
        Options::new(&server.url(), "demo", "demo")
            .expect("valid")
            .key(key.clone())
    };
    let sub = Client::connect(options()).await.expect("connect");
    let publ = Client::connect(options()).await.expect("connect");
    let mut chat = sub.subscribe("chat/lobby").await.expect("subscribe");
    publ.publish("chat/lobby", b"before", Qos::AtLeastOnce)
        .await
        .expect("acked");
    let m = timeout(LIMIT, chat.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"before");

    let mut sub_events = sub.events();
    let mut publ_events = publ.events();
    server.crash_and_restart().await;

    assert!(restored(&mut sub_events).await, "the subscriber came back");
    assert!(restored(&mut publ_events).await, "the publisher came back");
    let receipt = publ
        .publish("chat/lobby", b"after", Qos::AtLeastOnce)
        .await
        .expect("acked")
        .receipt()
        .await
        .expect("receipt");
    assert_eq!(receipt.status, ReceiptStatus::Delivered);
    let m = timeout(LIMIT, chat.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"after");
}
