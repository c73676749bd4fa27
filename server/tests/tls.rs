//! TLS on the one listener, with the real binary and a PKI made at run time: https and wss
//! work, plain HTTP and silent peers are turned away without disturbing anyone, bad
//! certificate flags stop the server with exit 2 naming the file, and SIGHUP swaps the
//! certificate for new handshakes while connections opened before keep exchanging
//! messages.

mod common;

use std::collections::HashMap;

use common::{launch, within};
use fastport_client::{Client, ClientEvent, Options, Qos, State};
use fastport_harness::{Pki, Signal};
use fastport_proto::codec::Frame;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::Message;

fn start_tls(pki: &Pki) -> fastport_harness::Launch {
    launch().tls(pki)
}

#[tokio::test]
async fn https_serves_health_metrics_and_the_admin_api_and_the_banner_names_the_scheme() {
    let pki = Pki::new();
    let server = start_tls(&pki).start().await;
    let addr = server.addr();
    let banner = server.stdout_with("WebSocket endpoint").await;
    assert!(
        banner.starts_with(&format!("listening on https://{addr}\n")),
        "{banner}"
    );
    assert!(banner.contains(&format!("wss://{addr}/ws")), "{banner}");
    assert_eq!(
        pki.https_get(addr, "/healthz").await,
        (200, "ok\n".to_owned())
    );
    let (status, metrics) = pki.https_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("fastport_"), "{metrics}");
    let (status, body) = pki
        .https(
            addr,
            "GET",
            "/admin/sessions/demo",
            &[("Authorization", "Bearer demo-secret")],
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"session\":\"demo\""), "{body}");
    let log = server.stderr_with("listening").await;
    assert!(log.contains("scheme=\"https\""), "{log}");
}

#[tokio::test]
async fn a_websocket_over_tls_joins_a_session() {
    let pki = Pki::new();
    let server = start_tls(&pki).start().await;
    let (tls, _) = pki.connect(server.addr()).await;
    let (mut ws, _) = within(
        "the WebSocket handshake over TLS",
        tokio_tungstenite::client_async(server.url(), tls),
    )
    .await
    .expect("WebSocket handshake over TLS");
    ws.send(Message::Binary(common::hello("demo", "demo").encode()))
        .await
        .expect("send Hello");
    let answer = within("the Welcome", ws.next()).await;
    let Some(Ok(Message::Binary(bytes))) = answer else {
        panic!("expected a binary frame, got {answer:?}");
    };
    let frame = Frame::decode(bytes).expect("a valid frame");
    assert!(matches!(frame, Frame::Welcome(_)), "{frame:?}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_400_and_the_server_keeps_serving() {
    let pki = Pki::new();
    let server = start_tls(&pki).start().await;
    let addr = server.addr();
    let plain = common::http(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(plain.status, 400, "{plain:?}");
    assert!(plain.body.contains("use https:// or wss://"), "{plain:?}");
    let ws = within(
        "a plain ws:// attempt",
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
    )
    .await;
    assert!(
        ws.is_err(),
        "a plain WebSocket must not open on the TLS port"
    );
    assert_eq!(
        pki.https_get(addr, "/healthz").await,
        (200, "ok\n".to_owned())
    );
}

#[tokio::test]
async fn a_peer_that_never_handshakes_is_closed_after_the_handshake_timeout() {
    let pki = Pki::new();
    let server = start_tls(&pki)
        .args(&["--tls-handshake-timeout", "300ms"])
        .start()
        .await;
    let mut silent = TcpStream::connect(server.addr()).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = within("the server to close a silent peer", silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the connection closed, read {read:?}"
    );
    // Half a handshake (a TLS record header announcing more) is bounded the same way.
    let mut partial = TcpStream::connect(server.addr()).await.expect("connect");
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .expect("write");
    let read = within(
        "the server to close a stalled handshake",
        partial.read(&mut buf),
    )
    .await;
    assert!(matches!(read, Ok(0) | Err(_)), "read {read:?}");
    assert_eq!(
        pki.https_get(server.addr(), "/healthz").await,
        (200, "ok\n".to_owned())
    );
}

#[tokio::test]
async fn a_stalled_handshake_counts_from_accept_and_is_closed_at_the_hello_timeout() {
    let pki = Pki::new();
    let server = start_tls(&pki)
        .args(&["--tls-handshake-timeout", "1h", "--hello-timeout", "1s"])
        .start()
        .await;
    let addr = server.addr();
    let opened = std::time::Instant::now();
    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .expect("write");
    // While it stalls, the socket is counted (with the metrics request itself).
    let (status, metrics) = pki.https_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(sockets(&metrics), 2, "{metrics}");
    let mut buf = [0u8; 16];
    let read = within(
        "the server to close a stalled handshake",
        partial.read(&mut buf),
    )
    .await;
    assert!(matches!(read, Ok(0) | Err(_)), "read {read:?}");
    let waited = opened.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(10),
        "closed by the hello timeout, not the handshake timeout: {waited:?}"
    );
    // Its place is given back.
    within("the socket to be uncounted", async {
        loop {
            let (_, metrics) = pki.https_get(addr, "/metrics").await;
            if sockets(&metrics) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// The `fastport_sockets` gauge.
fn sockets(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("fastport_sockets "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no fastport_sockets in {metrics}"))
}

/// Runs the binary to completion with `args`; its exit code and stderr.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = within(
        "the server to exit",
        launch()
            .command()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output(),
    )
    .await
    .expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[tokio::test]
async fn bad_certificate_flags_exit_2_naming_the_file() {
    let pki = Pki::new();
    let other = Pki::new();
    let cert = pki.cert_file().to_string_lossy().into_owned();
    let key = pki.key_file().to_string_lossy().into_owned();
    let other_key = other.key_file().to_string_lossy().into_owned();
    let missing = pki.dir().join("missing.pem").to_string_lossy().into_owned();

    let (code, stderr) = run(&["--tls-cert", &cert]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-cert needs --tls-key"), "{stderr}");
    let (code, stderr) = run(&["--tls-key", &key]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key needs --tls-cert"), "{stderr}");

    let (code, stderr) = run(&["--tls-cert", &missing, "--tls-key", &key]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read certificate {missing}")),
        "{stderr}"
    );
    // A key where the certificate belongs, and the reverse.
    let (code, stderr) = run(&["--tls-cert", &key, "--tls-key", &key]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{key} is not a PEM certificate")),
        "{stderr}"
    );
    let (code, stderr) = run(&["--tls-cert", &cert, "--tls-key", &cert]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{cert} is not a PEM private key")),
        "{stderr}"
    );
    let (code, stderr) = run(&["--tls-cert", &cert, "--tls-key", &other_key]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the private key {other_key} does not fit the certificate {cert}"
        )),
        "{stderr}"
    );
    // The environment and the config file spell it too.
    let output = within(
        "the server to exit",
        launch()
            .env("FASTPORT_TLS_CERT", &cert)
            .command()
            .args(["--listen", "127.0.0.1:0"])
            .output(),
    )
    .await
    .expect("the server runs");
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn the_config_file_and_the_environment_configure_tls() {
    let pki = Pki::new();
    let toml = format!(
        "tls_cert = {:?}\ntls_key = {:?}\ntls_handshake_timeout = \"5s\"\n",
        pki.cert_file(),
        pki.key_file()
    );
    let server = launch().config(&toml).start().await;
    assert!(server.is_tls(), "{}", server.stdout());
    assert_eq!(
        pki.https_get(server.addr(), "/healthz").await,
        (200, "ok\n".to_owned())
    );
    let server = launch()
        .env("FASTPORT_TLS_CERT", &pki.cert_file().to_string_lossy())
        .env("FASTPORT_TLS_KEY", &pki.key_file().to_string_lossy())
        .start()
        .await;
    assert!(server.is_tls(), "{}", server.stdout());
}

const PUBLISHERS: usize = 3;
const SUBSCRIBERS: usize = 3;
/// Messages each publisher sends after the reloads are done.
const AFTER_RELOAD: u32 = 20;

/// The session's shared key (every client seals and opens with it).
const KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

async fn connect(server_url: &str, pki: &Pki) -> Client {
    let options = Options::new(server_url, "demo", "demo")
        .expect("options")
        .ca_file(pki.ca_file())
        .expect("the CA file")
        .key(fastport_client::Key::from_base64(KEY).expect("a key"));
    within("a client over wss", Client::connect(options))
        .await
        .expect("connects over wss")
}

/// Whether any client ever left `Connected`: a dropped connection would show as
/// `Reconnecting`.
fn watch_for_drops(client: &Client) -> tokio::task::JoinHandle<bool> {
    let mut events = client.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ClientEvent::State(State::Reconnecting { .. })) => return true,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return false,
            }
        }
    })
}

/// Reads `load/#` while the publishers run, checking each publisher's sequence numbers
/// arrive in order with none missing, until the counts `totals` announces are reached.
async fn receive_all(
    client: Client,
    mut subscription: fastport_client::Subscription,
    mut totals: tokio::sync::watch::Receiver<Option<HashMap<String, u32>>>,
) -> (Client, HashMap<String, u32>) {
    let mut next: HashMap<String, u32> = HashMap::new();
    loop {
        if let Some(totals) = totals.borrow_and_update().as_ref() {
            if totals.iter().all(|(topic, n)| next.get(topic) == Some(n)) {
                return (client, next);
            }
        }
        tokio::select! {
            message = subscription.next() => {
                let message = message.expect("the subscription is open");
                let topic = message.topic.to_string();
                let expected = next.entry(topic.clone()).or_default();
                let seq: u32 = String::from_utf8_lossy(&message.payload)
                    .parse()
                    .expect("a sequence number");
                assert_eq!(seq, *expected, "in order, none lost, on {topic}");
                *expected += 1;
            }
            _ = totals.changed() => {}
        }
    }
}

#[tokio::test]
async fn a_certificate_reload_under_load_drops_no_connection_and_loses_no_message() {
    let mut pki = Pki::new();
    let server = start_tls(&pki).start().await;
    let url = server.url();
    let first_cert = pki.server_cert();

    let (totals_tx, totals) = tokio::sync::watch::channel(None::<HashMap<String, u32>>);
    let mut subscribers = Vec::new();
    let mut drops = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let client = connect(&url, &pki).await;
        let subscription = client.subscribe("load/#").await.expect("subscribe");
        drops.push(watch_for_drops(&client));
        subscribers.push(tokio::spawn(receive_all(
            client,
            subscription,
            totals.clone(),
        )));
    }
    let (reloaded_tx, reloaded) = tokio::sync::watch::channel(false);
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let client = connect(&url, &pki).await;
        drops.push(watch_for_drops(&client));
        let mut reloaded = reloaded.clone();
        publishers.push(tokio::spawn(async move {
            // Publishes QoS 1 until the reloads are done, then AFTER_RELOAD more; each
            // publish resolves once the server acked it.
            let mut sent = 0u32;
            let mut after = 0u32;
            while after < AFTER_RELOAD {
                let payload = sent.to_string();
                let published = client
                    .publish(&format!("load/{p}"), payload.as_bytes(), Qos::AtLeastOnce)
                    .await
                    .expect("publish");
                drop(published);
                sent += 1;
                if *reloaded.borrow_and_update() {
                    after += 1;
                }
            }
            (client, sent)
        }));
    }

    // A good certificate, then a bad file: both while the publishers run.
    let second_cert = pki.renew();
    assert_ne!(first_cert, second_cert);
    server.signal(Signal::HUP);
    server.stderr_with("TLS certificate reloaded").await;
    let (_, presented) = pki.connect(server.addr()).await;
    assert_eq!(
        presented, second_cert,
        "a new handshake sees the new certificate"
    );
    std::fs::write(pki.cert_file(), b"not a certificate").expect("write");
    server.signal(Signal::HUP);
    let log = server
        .stderr_with("TLS reload failed, keeping the old certificate")
        .await;
    assert!(log.contains("is not a PEM certificate"), "{log}");
    let (_, presented) = pki.connect(server.addr()).await;
    assert_eq!(presented, second_cert, "a bad file keeps the certificate");
    let _ = reloaded_tx.send(true);

    let mut sent = HashMap::new();
    let mut clients = Vec::new();
    for (p, publisher) in publishers.into_iter().enumerate() {
        let (client, count) = within("the publishers", publisher)
            .await
            .expect("publisher task");
        sent.insert(format!("load/{p}"), count);
        clients.push(client);
    }
    let _ = totals_tx.send(Some(sent.clone()));
    for subscriber in subscribers {
        let (client, received) = within("every published message", subscriber)
            .await
            .expect("subscriber task");
        assert_eq!(received, sent, "every message of every publisher arrived");
        clients.push(client);
    }
    for client in &clients {
        assert!(
            matches!(client.state(), State::Connected { .. }),
            "{:?}",
            client.state()
        );
    }
    for client in clients {
        client.close().await;
    }
    for dropped in drops {
        let dropped = within("the event watchers", dropped)
            .await
            .expect("watcher");
        assert!(!dropped, "a connection dropped during the reload");
    }
}
