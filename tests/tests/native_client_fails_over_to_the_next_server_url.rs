//! A client given several server URLs skips one that cannot be reached, and when its
//! server dies it moves to the next URL by itself: it re-subscribes there, and a publish
//! made while no server had it is sent to the new server and delivered.
//!
//! The two servers are independent processes (no shared Redis): what is tested is the
//! client's failover, not the cluster.

use std::time::Duration;

use fastport_client::{Client, ClientEvent, Key, Options, Qos, ReceiptStatus, State};
use fastport_harness::{Server, Signal};
use tokio::sync::broadcast;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

/// Nothing listens on port 1 of the loopback: connecting there is refused at once.
const DEAD: &str = "ws://127.0.0.1:1/ws";

/// Waits for `Restored`: the server has answered the client's automatic re-subscribes.
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
async fn a_client_skips_a_dead_url_then_fails_over_to_the_next_server_when_its_server_dies() {
    let mut a = Server::start(&[]).await;
    let b = Server::start(&[]).await;
    let urls = [DEAD.to_owned(), a.url(), b.url()];
    let key = Key::generate().expect("random key");
    let options = Options::new(DEAD, "demo", "demo")
        .expect("valid")
        .urls(&urls)
        .expect("valid URLs")
        .key(key);

    // The dead URL is tried first and skipped: `connect` settles on A.
    let client = Client::connect(options).await.expect("connects to A");
    assert_eq!(client.url(), a.url());
    let mut chat = client.subscribe("chat/lobby").await.expect("subscribe");
    client
        .publish("chat/lobby", b"on A", Qos::AtLeastOnce)
        .await
        .expect("acked by A");
    let m = timeout(LIMIT, chat.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"on A");

    // A dies (SIGKILL: no goodbye); the client notices and waits to reconnect.
    let mut events = client.events();
    a.signal(Signal::KILL);
    let _ = a.exit_status().await;
    let lost = client
        .wait_for_state(LIMIT, |s| !matches!(s, State::Connected { .. }))
        .await;
    assert!(lost, "the client noticed that A is gone");

    // Made while no server has the client: held, then sent to B after the re-subscribe.
    let publishing = {
        let client = client.clone();
        tokio::spawn(async move {
            let published = client
                .publish("chat/lobby", b"while A was down", Qos::AtLeastOnce)
                .await
                .expect("acked by B");
            published.receipt().await
        })
    };

    assert!(
        restored(&mut events).await,
        "the subscription is back, on B"
    );
    assert_eq!(client.url(), b.url(), "the next URL after A is B");
    assert!(matches!(client.state(), State::Connected { .. }));
    let m = timeout(LIMIT, chat.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"while A was down");
    let receipt = timeout(LIMIT, publishing)
        .await
        .expect("in time")
        .expect("the publishing task ran")
        .expect("a receipt from B");
    assert_eq!(receipt.status, ReceiptStatus::Delivered);
    assert_eq!(receipt.delivered, 1);
    client.close().await;
}
