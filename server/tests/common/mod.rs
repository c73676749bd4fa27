//! Test helpers: the real `fastport-server` binary from the workspace's one harness
//! (`fastport-harness`), a raw protocol client and a raw HTTP/1.1 client. Every wait is
//! bounded, so a broken server fails a test instead of hanging it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use fastport_harness::Launch;
use fastport_proto::codec::{Frame, Hello};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::Command;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderName;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use fastport_harness::Server;

/// The bound on every wait. Startup hashes secrets, so it is generous.
pub const WAIT: Duration = Duration::from_secs(20);

/// Awaits `future` for at most [`WAIT`], panicking with `what` if it takes longer.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    fastport_harness::within(WAIT, what, future).await
}

/// The server binary cargo built for these tests, with every wait bounded by [`WAIT`].
pub fn launch() -> Launch {
    Launch::new()
        .binary(env!("CARGO_BIN_EXE_fastport-server"))
        .limit(WAIT)
}

/// The server binary under test, for runs to completion.
pub fn binary() -> Command {
    launch().command()
}

/// Starts the server on a free port with `args`, and waits for its first line,
/// `listening on HOST:PORT`.
pub async fn start(args: &[&str]) -> Server {
    launch().args(args).start().await
}

/// Starts the server with a config file holding `toml`, plus `args`.
pub async fn start_with_config(toml: &str, args: &[&str]) -> Server {
    launch().config(toml).args(args).start().await
}

/// The test clients of a running server.
pub trait Clients {
    /// Where the server listens.
    fn endpoint(&self) -> SocketAddr;

    /// Opens a WebSocket to `/ws`.
    async fn connect(&self) -> WsClient {
        WsClient::connect(self.endpoint()).await
    }

    /// One HTTP/1.1 request.
    async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        http(self.endpoint(), method, path, headers, body).await
    }
}

impl Clients for Server {
    fn endpoint(&self) -> SocketAddr {
        self.addr()
    }
}

/// What a protocol client receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Frame(Frame),
    Closed { code: u16, reason: String },
}

/// A raw protocol client: frames in, frames out, nothing else.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `ws://addr/ws`.
    pub async fn connect(addr: SocketAddr) -> WsClient {
        let url = format!("ws://{addr}/ws");
        let (ws, _) = within(
            "the WebSocket handshake",
            tokio_tungstenite::connect_async(url),
        )
        .await
        .expect("WebSocket handshake");
        WsClient { ws }
    }

    /// Connects to `ws://addr/ws` from the local address `local` (any of 127.0.0.0/8 works
    /// on loopback), with extra request `headers`.
    pub async fn connect_from(
        addr: SocketAddr,
        local: IpAddr,
        headers: &[(&str, &str)],
    ) -> WsClient {
        let mut request = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("a valid URL");
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            request
                .headers_mut()
                .append(name, value.parse().expect("a header value"));
        }
        let handshake = async {
            let socket = if local.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .expect("a socket");
            socket
                .bind(SocketAddr::new(local, 0))
                .expect("bind the local address");
            let stream = socket.connect(addr).await.expect("connect");
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await
        };
        let (ws, _) = within("the WebSocket handshake", handshake)
            .await
            .expect("WebSocket handshake");
        WsClient { ws }
    }

    /// Sends one frame as one binary message.
    pub async fn send(&mut self, frame: &Frame) {
        self.send_raw(frame.encode()).await;
    }

    /// Sends one binary message.
    pub async fn send_raw(&mut self, bytes: impl Into<Bytes>) {
        within("a send", self.ws.send(Message::Binary(bytes.into())))
            .await
            .expect("send");
    }

    /// Queues one frame without flushing (see [`WsClient::flush`]).
    pub async fn feed(&mut self, frame: &Frame) {
        within("a send", self.ws.feed(Message::Binary(frame.encode())))
            .await
            .expect("send");
    }

    /// Writes what [`WsClient::feed`] queued.
    pub async fn flush(&mut self) {
        within("a flush", self.ws.flush()).await.expect("flush");
    }

    /// Sends any WebSocket message.
    pub async fn send_message(&mut self, message: Message) {
        within("a send", self.ws.send(message)).await.expect("send");
    }

    /// The next frame or the close (pings and pongs are skipped).
    pub async fn recv(&mut self) -> Received {
        loop {
            let message = within("a message from the server", self.ws.next()).await;
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let frame = Frame::decode(bytes).expect("the server sends valid frames");
                    return Received::Frame(frame);
                }
                Some(Ok(Message::Close(Some(close)))) => {
                    // Sends tungstenite's queued answer, completing the closing handshake.
                    let _ = tokio::time::timeout(WAIT, self.ws.flush()).await;
                    let reason = close.reason.to_string();
                    return Received::Closed {
                        code: u16::from(close.code),
                        reason,
                    };
                }
                Some(Ok(Message::Close(None))) => {
                    return Received::Closed {
                        code: 1005,
                        reason: String::new(),
                    }
                }
                Some(Ok(Message::Text(text))) => panic!("the server sent text: {text}"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Received::Closed {
                        code: 1006,
                        reason: String::new(),
                    }
                }
            }
        }
    }

    /// The next binary message as it came (a frame, or a batch of frames); `None` once
    /// the connection closed. Pings and pongs are skipped.
    pub async fn recv_raw(&mut self) -> Option<Bytes> {
        loop {
            match within("a message from the server", self.ws.next()).await {
                Some(Ok(Message::Binary(bytes))) => return Some(bytes),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    }

    /// The next frame, which must not be a close.
    pub async fn frame(&mut self) -> Frame {
        match self.recv().await {
            Received::Frame(frame) => frame,
            closed => panic!("expected a frame, got {closed:?}"),
        }
    }

    /// The frames before the close, and the close code.
    pub async fn until_closed(&mut self) -> (Vec<Frame>, u16) {
        let mut frames = Vec::new();
        loop {
            match self.recv().await {
                Received::Frame(frame) => frames.push(frame),
                Received::Closed { code, .. } => return (frames, code),
            }
        }
    }

    /// Sends `Hello` for `session` with `password`.
    pub async fn hello(&mut self, session: &str, password: &str) {
        self.send(&hello(session, password)).await;
    }

    /// Sends `Hello` and expects `Welcome`.
    pub async fn join(&mut self, session: &str, password: &str) {
        self.hello(session, password).await;
        match self.frame().await {
            Frame::Welcome(_) => {}
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Subscribes to `filter` (no presence) and expects a successful `SubAck`.
    pub async fn subscribe(&mut self, filter: &str) {
        let subscribe = fastport_proto::codec::Subscribe {
            request_id: 1,
            presence: false,
            filter: filter.into(),
        };
        self.send(&Frame::Subscribe(subscribe)).await;
        match self.frame().await {
            Frame::SubAck(ack) if ack.code.is_ok() => {}
            other => panic!("expected a successful SubAck, got {other:?}"),
        }
    }
}

/// A `Hello` for `session` with `password`, no resume, default keepalive.
pub fn hello(session: &str, password: &str) -> Frame {
    Frame::Hello(Hello {
        session: session.into(),
        password: password.into(),
        ..Hello::default()
    })
}

/// Asserts that the connection ends with an `Error` frame of `name` and close code `code`.
pub async fn assert_refused(client: &mut WsClient, name: &str, code: u16) {
    let (frames, close) = client.until_closed().await;
    let errors: Vec<&str> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Error(e) => Some(e.code.name()),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        [name],
        "frames before the close (code {close}): {frames:?}"
    );
    assert_eq!(close, code, "close code");
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request on a fresh connection (`Connection: close`), with the path sent exactly
/// as given (no normalisation, so traversal attempts reach the server intact). A body is
/// sent as `application/json` unless `headers` name a Content-Type.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    http_from(None, addr, method, path, headers, body).await
}

/// A TCP connection to `addr` from the loopback address `local` (any port), or from
/// wherever the system picks.
pub async fn connect_from(local: Option<IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(local) = local else {
        return TcpStream::connect(addr).await;
    };
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(addr).await
}

/// [`http`] from the loopback address `local`, if given.
pub async fn http_from(
    local: Option<IpAddr>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        // What every JSON client sends; tests of other types say so.
        request.push_str("Content-Type: application/json\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PATCH" | "PUT") {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let exchange = async {
        let mut stream = connect_from(local, addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("write request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        raw
    };
    parse_response(&within("an HTTP response", exchange).await)
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The value of one sample of `/metrics`, e.g. `fastport_rate_limited_total` or
/// `fastport_password_checks_total{outcome="match"}`.
pub async fn metric(addr: SocketAddr, sample: &str) -> u64 {
    let response = http(addr, "GET", "/metrics", &[], "").await;
    assert_eq!(response.status, 200, "{}", response.body);
    response
        .body
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in {}", response.body))
}
