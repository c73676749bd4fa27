//! A connection whose session another node serves (several nodes on one Redis): its
//! WebSocket messages are piped, as they are, to and from a WebSocket this node opens to the
//! owner's advertised URL (`crate::cluster`). The owner sees a client connection like any
//! other, named by the address this node got it from; it does the protocol, the limits
//! and the budgets. This node only moves messages, with backpressure both ways: it reads
//! from one side only as fast as the other side takes.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use fastport_proto::codec::{ErrorCode, ErrorFrame, Frame};

use crate::cluster::{Cluster, Route, CLIENT_HEADER, NODE_HEADER, NODE_TTL};

/// Longest wait for the owner's WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait between attempts to reach an owner that did not answer.
const RETRY: Duration = Duration::from_millis(250);
/// Messages from the owner written to the client per flush.
const BATCH: usize = 64;

type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where a connection goes.
pub(crate) enum Placement {
    /// To this node's router.
    Local,
    /// Piped to the owner, over this WebSocket.
    Relay(Box<Upstream>),
    /// Nowhere: it is answered with this error and closed.
    Refuse(ErrorCode, String),
}

/// Finds where `session` is served, and opens the WebSocket to its owner if that is
/// another node. An owner that does not answer is tried again until its registration
/// lapses (then this node or another takes the session over), at most [`NODE_TTL`] and a
/// little more.
pub(crate) async fn place(
    cluster: &Cluster,
    session: &str,
    peer: Option<IpAddr>,
    config: WebSocketConfig,
) -> Placement {
    let give_up = tokio::time::Instant::now() + NODE_TTL + Duration::from_secs(2);
    loop {
        let (node, url) = match cluster.route(session, false).await {
            Ok(Route::Local) => return Placement::Local,
            Ok(Route::Remote { node, url }) => (node, url),
            Err(e) => {
                return Placement::Refuse(
                    ErrorCode::STORAGE_UNAVAILABLE,
                    format!("cannot find the node that serves the session: {e}"),
                )
            }
        };
        match connect(&url, cluster.secret(), peer, config).await {
            Ok(upstream) => return Placement::Relay(Box::new(upstream)),
            Err(e) => {
                cluster
                    .metrics()
                    .relay_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(session, %node, %url, "cannot reach the session's node: {e}");
            }
        }
        if tokio::time::Instant::now() + RETRY > give_up {
            return Placement::Refuse(
                ErrorCode::SESSION_MOVED,
                format!("the node that serves the session ({node}) does not answer"),
            );
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn connect(
    url: &str,
    secret: &str,
    peer: Option<IpAddr>,
    config: WebSocketConfig,
) -> Result<Upstream, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert(
        NODE_HEADER,
        HeaderValue::from_str(secret).map_err(|e| e.to_string())?,
    );
    if let Some(peer) = peer {
        if let Ok(value) = HeaderValue::from_str(&peer.to_string()) {
            headers.insert(CLIENT_HEADER, value);
        }
    }
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((upstream, _))) => Ok(upstream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no handshake within {CONNECT_TIMEOUT:?}")),
    }
}

/// Refuses a connection that cannot be placed: the error frame, then the close.
pub(crate) async fn refuse<S>(ws: &mut WebSocketStream<S>, code: ErrorCode, message: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = Frame::Error(ErrorFrame {
        code,
        ref_id: 0,
        message: message.to_owned(),
    });
    let close = CloseFrame {
        code: CloseCode::from(code.close_code()),
        reason: message.chars().take(100).collect::<String>().into(),
    };
    let sending = async {
        ws.feed(Message::Binary(frame.encode())).await?;
        ws.close(Some(close)).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), sending).await;
}

/// Pipes messages between the client and the owner until either side ends; a write that
/// makes no progress for `stall` ends the relay too. The first message (the `Hello`) goes
/// first. When the owner goes away without a close, the client is closed with
/// `session_moved`, so that it reconnects and reaches the session where it is served now.
pub(crate) async fn run<S>(
    mut client: WebSocketStream<S>,
    mut upstream: Upstream,
    first: Bytes,
    welcomed: Arc<AtomicBool>,
    stall: Duration,
    cluster: &Cluster,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let metrics = cluster.metrics();
    metrics.relayed.fetch_add(1, Ordering::Relaxed);
    metrics.relayed_total.fetch_add(1, Ordering::Relaxed);
    if tokio::time::timeout(stall, upstream.send(Message::Binary(first)))
        .await
        .map_or(true, |sent| sent.is_err())
    {
        owner_gone(&mut client).await;
    } else {
        pipe(&mut client, &mut upstream, &welcomed, stall).await;
    }
    metrics.relayed.fetch_sub(1, Ordering::Relaxed);
}

async fn pipe<S>(
    client: &mut WebSocketStream<S>,
    upstream: &mut Upstream,
    welcomed: &AtomicBool,
    stall: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        tokio::select! {
            incoming = client.next() => match incoming {
                Some(Ok(message @ (Message::Binary(_) | Message::Text(_)))) => {
                    let sent = tokio::time::timeout(stall, upstream.send(message)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return owner_gone(client).await;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), upstream.close(frame)).await;
                    return;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), upstream.close(None)).await;
                    return;
                }
            },
            outgoing = upstream.next() => match outgoing {
                Some(Ok(Message::Binary(data))) => {
                    welcomed.store(true, Ordering::Release);
                    let written = tokio::time::timeout(stall, write_burst(client, upstream, data)).await;
                    match written {
                        Ok(Ok(None)) => {}
                        Ok(Ok(Some(frame))) => {
                            let _ = tokio::time::timeout(Duration::from_secs(2), client.close(frame)).await;
                            return;
                        }
                        Ok(Err(())) | Err(_) => {
                            let _ = tokio::time::timeout(Duration::from_secs(2), upstream.close(None)).await;
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), client.close(frame)).await;
                    return;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return owner_gone(client).await,
            },
        }
    }
}

/// Writes `first` and whatever else the owner has sent already (up to [`BATCH`]) with one
/// flush. `Ok(Some(frame))`: the owner closed meanwhile; `Err`: the client's write failed.
async fn write_burst<S>(
    client: &mut WebSocketStream<S>,
    upstream: &mut Upstream,
    first: Bytes,
) -> Result<Option<Option<CloseFrame>>, ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    client.feed(Message::Binary(first)).await.map_err(|_| ())?;
    let mut closed = None;
    for _ in 1..BATCH {
        match upstream.next().now_or_never() {
            Some(Some(Ok(Message::Binary(data)))) => {
                client.feed(Message::Binary(data)).await.map_err(|_| ())?;
            }
            Some(Some(Ok(Message::Close(frame)))) => {
                closed = Some(frame);
                break;
            }
            Some(Some(Ok(_))) => {}
            Some(None | Some(Err(_))) => {
                closed = Some(Some(moved_frame()));
                break;
            }
            None => break,
        }
    }
    client.flush().await.map_err(|_| ())?;
    Ok(closed)
}

fn moved_frame() -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(ErrorCode::SESSION_MOVED.close_code()),
        reason: "the node that served the session is gone".into(),
    }
}

async fn owner_gone<S>(client: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(Duration::from_secs(2), client.close(Some(moved_frame()))).await;
}
