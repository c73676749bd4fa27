//! The handshake with the demo session: the right password is welcomed; every refusal is
//! an `Error` frame followed by the close code `4000 + code`.

mod common;

use common::{assert_refused, hello, start, Clients};
use fastport_proto::codec::{Frame, Subscribe};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_demo_session_welcomes_the_right_password() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    client.hello("demo", "demo").await;
    let Frame::Welcome(welcome) = client.frame().await else {
        panic!("expected Welcome")
    };
    assert!(
        !welcome.client_id.is_empty(),
        "the server assigns a client id"
    );
    assert!(welcome.keepalive_ms > 0);
    assert!(
        welcome.config.max_message_size.is_some(),
        "Welcome states every setting"
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_bad_credentials_and_close_4004() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    client.hello("demo", "not-the-password").await;
    assert_refused(&mut client, "bad_credentials", 4004).await;
}

#[tokio::test]
async fn an_unknown_session_is_refused_like_a_wrong_password_with_close_4004() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    client.hello("no-such-session", "demo").await;
    assert_refused(&mut client, "bad_credentials", 4004).await;
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused_with_close_4002() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    let mut bytes = hello("demo", "demo").encode().to_vec();
    bytes[1] = 2; // the version byte follows the type byte
    client.send_raw(bytes).await;
    assert_refused(&mut client, "unsupported_version", 4002).await;
}

#[tokio::test]
async fn a_text_message_is_a_protocol_error_with_close_4001() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    client.send_message(Message::Text("hello".into())).await;
    assert_refused(&mut client, "protocol_error", 4001).await;
}

#[tokio::test]
async fn a_frame_before_hello_is_refused_with_not_authenticated_and_close_4003() {
    let server = start(&[]).await;
    let mut client = server.connect().await;
    let subscribe = Subscribe {
        request_id: 1,
        presence: false,
        filter: "a/b".into(),
    };
    client.send(&Frame::Subscribe(subscribe)).await;
    assert_refused(&mut client, "not_authenticated", 4003).await;
}

#[tokio::test]
async fn a_message_above_max_frame_bytes_closes_the_connection_with_1009() {
    let server = start(&["--max-frame-bytes", "2048"]).await;
    let mut client = server.connect().await;
    client.join("demo", "demo").await;
    client.send_raw(vec![0x08; 4096]).await;
    let (_, code) = client.until_closed().await;
    assert_eq!(code, 1009, "message too big");
}
