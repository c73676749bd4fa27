//! The server process is killed and started again on the same port: connected clients
//! reconnect by themselves and their subscriptions work again, with no application code.

use std::time::Duration;

use fastport_client::{Client, ClientEvent, Key, Options, Qos, ReceiptStatus, State};
use fastport_tests::ServerProcess;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn after_a_crash_and_restart_clients_reconnect_and_subscriptions_come_back() {
    let mut server = ServerProcess::start(&[]);
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
    server.crash_and_restart();

    for events in [&mut sub_events, &mut publ_events] {
        let back = timeout(LIMIT, async {
            loop {
                if let Ok(ClientEvent::State(State::Connected { .. })) = events.recv().await {
                    break;
                }
            }
        })
        .await;
        assert!(back.is_ok(), "reconnected after the restart");
    }
    // The subscriber re-subscribed right after its welcome; its subscribe and the
    // publisher's publish travel on different connections, so the publish is repeated
    // until the receipt says it found the subscriber.
    let delivered = timeout(LIMIT, async {
        loop {
            let published = publ.publish("chat/lobby", b"after", Qos::AtLeastOnce).await;
            let receipt = published.expect("acked").receipt().await.expect("receipt");
            if receipt.status == ReceiptStatus::Delivered {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        delivered.is_ok(),
        "a publish after the restart reached the subscriber"
    );
    let m = timeout(LIMIT, chat.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"after");
}
