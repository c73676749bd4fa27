//! The Rust client over `wss://`: with `Options::ca_file` naming the private CA it
//! connects, subscribes and receives; without it the first connection fails with
//! `Error::UntrustedCertificate` naming the host; a bad CA file is `Error::CaFile`.

use fastport_client::{Client, Error, Key, Options, Qos};
use fastport_harness::{within, Launch, Pki, LIMIT};

#[tokio::test]
async fn the_client_connects_over_wss_with_a_private_ca() {
    let pki = Pki::new();
    let server = Launch::new().tls(&pki).start().await;
    let url = server.url();
    let key = Key::generate().expect("a key");

    let options = Options::new(&url, "demo", "demo")
        .expect("options")
        .ca_file(pki.ca_file())
        .expect("the CA file")
        .key(key.clone());
    let client = within(LIMIT, "connect", Client::connect(options))
        .await
        .expect("connects over wss");
    let mut sensors = client.subscribe("sensors/#").await.expect("subscribe");
    client
        .publish("sensors/temp", b"21.5", Qos::AtLeastOnce)
        .await
        .expect("publish");
    let message = within(LIMIT, "the message", sensors.next())
        .await
        .expect("the subscription is open");
    assert_eq!(message.payload, b"21.5");
    client.close().await;

    let options = Options::new(&url, "demo", "demo")
        .expect("options")
        .key(key);
    let refused = within(LIMIT, "the refusal", Client::connect(options)).await;
    match refused {
        Err(Error::UntrustedCertificate {
            url: tried,
            host,
            reason,
        }) => {
            assert_eq!(tried, url);
            assert_eq!(host, "127.0.0.1");
            assert_eq!(reason, "signed by an unknown certificate authority");
        }
        other => panic!("expected UntrustedCertificate, got {other:?}"),
    }

    let missing = pki.dir().join("missing.pem");
    match Options::admin(&url).expect("options").ca_file(&missing) {
        Err(Error::CaFile { path, .. }) => assert_eq!(path, missing.display().to_string()),
        other => panic!("expected CaFile, got {other:?}"),
    }
    match Options::admin(&url)
        .expect("options")
        .ca_file(pki.key_file())
    {
        Err(Error::CaFile { reason, .. }) => {
            assert!(reason.contains("BEGIN CERTIFICATE"), "{reason}")
        }
        other => panic!("expected CaFile, got {other:?}"),
    }
}
