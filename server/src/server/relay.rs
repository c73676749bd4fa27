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
/// Messages written per flush, either way.
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
        pipe(client, upstream, &welcomed, stall).await;
    }
    metrics.relayed.fetch_sub(1, Ordering::Relaxed);
}

/// How one direction of the relay ended.
enum Ended {
    /// The side it reads from sent a close frame: it goes on to the other side.
    Closed(Option<CloseFrame>),
    /// The side it reads from went away without one.
    Gone,
    /// Writing to the other side failed or made no progress for the stall timeout.
    Stuck,
}

/// Pipes both directions at once, each with its own backpressure: a client that publishes
/// while the owner waits for it to read its deliveries must not stop those deliveries.
async fn pipe<S>(
    client: WebSocketStream<S>,
    upstream: Upstream,
    welcomed: &AtomicBool,
    stall: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut to_client, mut from_client) = client.split();
    let (mut to_owner, mut from_owner) = upstream.split();
    let up = one_way(&mut from_client, &mut to_owner, stall, None);
    let down = one_way(&mut from_owner, &mut to_client, stall, Some(welcomed));
    let close_wait = Duration::from_secs(2);
    tokio::select! {
        ended = up => {
            let frame = match ended {
                Ended::Closed(frame) => frame,
                Ended::Gone => None,
                // The owner does not take what the client sends: the owner is gone for it.
                Ended::Stuck => {
                    let _ = tokio::time::timeout(close_wait, to_client.send(Message::Close(Some(moved_frame())))).await;
                    None
                }
            };
            let _ = tokio::time::timeout(close_wait, to_owner.send(Message::Close(frame))).await;
        }
        ended = down => {
            let frame = match ended {
                Ended::Closed(frame) => frame,
                Ended::Gone => Some(moved_frame()),
                // The client does not read: the owner's slow-consumer policy is not ours
                // to apply, but a relay that cannot write ends.
                Ended::Stuck => None,
            };
            let _ = tokio::time::timeout(close_wait, to_client.send(Message::Close(frame))).await;
            let _ = tokio::time::timeout(close_wait, to_owner.send(Message::Close(None))).await;
        }
    }
}

/// Moves messages from `from` to `to` in bursts (what has arrived, up to [`BATCH`], with one
/// flush) until `from` ends or a write makes no progress for `stall`. `welcomed` is set at
/// the first message (the owner's answer to the `Hello`).
async fn one_way<R, W>(
    from: &mut R,
    to: &mut W,
    stall: Duration,
    welcomed: Option<&AtomicBool>,
) -> Ended
where
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    W: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    loop {
        let first = match from.next().await {
            Some(Ok(message @ (Message::Binary(_) | Message::Text(_)))) => message,
            Some(Ok(Message::Close(frame))) => return Ended::Closed(frame),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Ended::Gone,
        };
        if let Some(welcomed) = welcomed {
            welcomed.store(true, Ordering::Release);
        }
        let mut ended = None;
        let burst = async {
            to.feed(first).await?;
            for _ in 1..BATCH {
                match from.next().now_or_never() {
                    Some(Some(Ok(message @ (Message::Binary(_) | Message::Text(_))))) => {
                        to.feed(message).await?;
                    }
                    Some(Some(Ok(Message::Close(frame)))) => {
                        ended = Some(Ended::Closed(frame));
                        break;
                    }
                    Some(Some(Ok(_))) => {}
                    Some(None | Some(Err(_))) => {
                        ended = Some(Ended::Gone);
                        break;
                    }
                    None => break,
                }
            }
            to.flush().await
        };
        match tokio::time::timeout(stall, burst).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Ended::Stuck,
        }
        if let Some(ended) = ended {
            return ended;
        }
    }
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
