//! Sockets count from `accept()`: one address cannot hold more than its share of the
//! server's file descriptors, the global cap counts sockets that never upgrade, and a
//! socket that does not get to its `Hello` in time (idle, dribbling its request headers, or
//! silent after the upgrade) is closed at the hello timeout counted from accept.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{assert_refused, connect_from, hello, http_from, start, Clients, WsClient};
use fastport_proto::codec::Frame;
use futures_util::StreamExt;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the flood comes from.
const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// A real user elsewhere on the loopback network.
const USER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The bound on the whole flood test, on a loaded machine.
const FLOOD_LIMIT: Duration = Duration::from_secs(120);

/// The sockets the flood opens, as the attack that found the problem did (20,000) halved.
const FLOOD: usize = 10_000;

#[tokio::test]
async fn ten_thousand_sockets_from_one_address_without_a_hello_hit_the_cap_and_another_address_still_logs_in(
) {
    const CAP: usize = 100;
    let flood = flood_size();
    // No hello timeout within the test: only the cap may hold sockets back.
    let server = start(&[
        "--max-connections-per-address",
        &CAP.to_string(),
        "--hello-timeout",
        "1h",
    ])
    .await;
    let addr = server.addr();
    let run = async {
        let held = open_sockets(addr, flood).await;
        let refused = (flood - CAP) as u64;
        let metrics = metrics_when(addr, |m| refused_of(m, "per_address") >= refused).await;
        assert_eq!(
            refused_of(&metrics, "per_address"),
            refused,
            "every socket beyond the cap was refused, and no other"
        );
        let open = gauge(&metrics, "fastport_sockets");
        assert!(
            open <= (CAP + 2) as u64,
            "the server holds {open} sockets: the cap of {CAP} from {FLOODER}, and this \
             request"
        );
        assert_eq!(refused_of(&metrics, "max_connections"), 0);

        let mut user = WsClient::connect_from(addr, USER, &[]).await;
        user.send(&hello("demo", "demo")).await;
        let welcome = user.frame().await;
        assert!(
            matches!(welcome, Frame::Welcome(_)),
            "a user from {USER} logs in while {FLOODER} holds its cap: {welcome:?}"
        );
        let healthz = http_from(Some(USER), addr, "GET", "/healthz", &[], "").await;
        assert_eq!(healthz.status, 200);

        // The flooding address stays refused: its next socket is closed unread.
        let mut more = TcpStream::connect(addr).await.expect("connect");
        assert_closed_unanswered(&mut more, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        drop(held);
    };
    fastport_harness::within(FLOOD_LIMIT, "the flood test", run).await;
}

#[tokio::test]
async fn the_global_cap_counts_sockets_that_never_upgrade() {
    let server = start(&[
        "--max-connections",
        "3",
        "--max-connections-per-address",
        "0",
        "--hello-timeout",
        "1h",
    ])
    .await;
    let addr = server.addr();
    let mut idle = open_sockets(addr, 3).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    assert!(
        refused.is_err(),
        "3 idle sockets fill --max-connections 3: a WebSocket is refused"
    );
    // A place frees up once the server sees an idle socket close.
    drop(idle.pop());
    let metrics = metrics_when(addr, |_| true).await;
    assert!(refused_of(&metrics, "max_connections") >= 1, "{metrics}");
    assert!(gauge(&metrics, "fastport_sockets") <= 3, "{metrics}");
}

#[tokio::test]
async fn an_idle_socket_is_closed_at_the_hello_timeout() {
    let server = start(&["--hello-timeout", "2s"]).await;
    let mut socket = TcpStream::connect(server.addr()).await.expect("connect");
    let mut buf = [0u8; 64];
    let read = common::within("the server to close the idle socket", socket.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed without an answer: {read:?}"
    );
}

#[tokio::test]
async fn request_headers_dribbled_byte_by_byte_are_cut_off_at_the_hello_timeout() {
    let server = start(&["--hello-timeout", "2s"]).await;
    let socket = TcpStream::connect(server.addr()).await.expect("connect");
    let (mut reader, mut writer) = socket.into_split();
    // A request whose headers never end: one byte at a time, as slowly as the server
    // tolerates a trickle, until it closes.
    let dribble = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = common::within(
        "the server to close the slow request",
        reader.read_to_end(&mut answer),
    )
    .await;
    dribble.abort();
    assert!(
        answer.is_empty(),
        "no answer: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(read); // EOF or reset: either way it is closed.
}

#[tokio::test]
async fn a_websocket_that_never_sends_hello_is_closed_at_the_hello_timeout() {
    let server = start(&["--hello-timeout", "2s"]).await;
    let mut client = server.connect().await;
    assert_refused(&mut client, "not_authenticated", 4003).await;
}

/// Raises this process's open-file limit to its hard limit, and says how many sockets
/// fit in it (all of [`FLOOD`], or as many as it allows).
fn flood_size() -> usize {
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        println!("cannot raise the open-file limit: {e}");
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    // Room for the test's own descriptors: the runtime, the server's pipes, other tests.
    let room = usize::try_from(soft.saturating_sub(256)).unwrap_or(usize::MAX);
    if room < FLOOD {
        println!("the open-file limit ({soft}) allows {room} sockets of the {FLOOD} asked for");
    }
    let flood = FLOOD.min(room);
    assert!(
        flood > 200,
        "the open-file limit ({soft}) is too low for the test"
    );
    flood
}

/// Opens `n` TCP connections to `addr` (on 127.0.0.1, so they come from [`FLOODER`]), a
/// few at a time, and keeps them. Not bound first: the system then picks each source port
/// for this destination only, which leaves the port range room for everyone else.
async fn open_sockets(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    assert_eq!(addr.ip(), FLOODER, "the server listens on {FLOODER}");
    futures_util::stream::iter(0..n)
        .map(|_| async move { TcpStream::connect(addr).await.expect("connect") })
        .buffer_unordered(32)
        .collect()
        .await
}

/// `/metrics` read from [`USER`]'s address, once `ready` holds for it.
async fn metrics_when(addr: SocketAddr, ready: impl Fn(&str) -> bool) -> String {
    loop {
        if let Some(text) = try_metrics(addr).await {
            if ready(&text) {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/metrics`, or `None` if the server closed the socket unanswered (it is at a cap).
async fn try_metrics(addr: SocketAddr) -> Option<String> {
    let mut socket = connect_from(Some(USER), addr).await.ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await.ok()?;
    if raw.is_empty() {
        return None;
    }
    let response = common::parse_response(&raw);
    assert_eq!(response.status, 200, "{}", response.body);
    Some(response.body)
}

fn refused_of(metrics: &str, reason: &str) -> u64 {
    gauge(
        metrics,
        &format!("fastport_connections_refused_total{{reason=\"{reason}\"}}"),
    )
}

/// The value of the sample named exactly `name` (labels included).
fn gauge(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// Sends `request` (if the socket still takes it) and expects the socket closed with no
/// answer.
async fn assert_closed_unanswered(socket: &mut TcpStream, request: &[u8]) {
    let _ = socket.write_all(request).await;
    let mut answer = Vec::new();
    let _ = common::within(
        "the server to close the socket",
        socket.read_to_end(&mut answer),
    )
    .await;
    assert!(
        answer.is_empty(),
        "refused sockets get no answer: {}",
        String::from_utf8_lossy(&answer)
    );
}
