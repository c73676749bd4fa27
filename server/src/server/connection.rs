//! One WebSocket connection: reads messages into the router, writes its outbound queue.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use fastport_proto::codec::{batch, ErrorCode, ErrorFrame, Frame};

use super::login_limit::{TooLargeBeforeLogin, FIRST_MESSAGE};
use super::outbound::{Gauge, OutboundBudget};
use super::read_pause::ReadPause;
use super::router::{CloseCmd, Opened, Outbound, RouterHandle, RouterMsg};
use crate::broker::ConnId;

/// Queued frames written per flush.
const WRITE_BATCH: usize = 64;

/// Most received messages handed to the router at once.
const INBOUND_BATCH: usize = 64;
/// Bytes of received messages after which no more are added to a hand-over.
const INBOUND_BATCH_BYTES: usize = 64 * 1024;

/// Frames up to this size are packed into batch messages; a larger one goes alone, not
/// copied (its WebSocket header is small beside it).
const BATCH_FRAME_MAX: usize = 16 * 1024;
/// Most bytes of one batch message the server sends.
const BATCH_BYTES: usize = 64 * 1024;

/// How long to wait for the peer's answer to our close frame, or to get ours out.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The socket, read and written by the connection's one task: not split in two halves,
/// which would take a lock for every read and write.
type Ws<S> = WebSocketStream<S>;

/// How the connection ended.
enum End {
    /// The peer sent a close frame (tungstenite queued the answer).
    PeerClosed,
    /// The socket failed or ended without a close frame.
    Peer,
    /// The peer sent more than the configured maximum message size.
    TooLarge,
    /// The peer sent more than the first message may hold before its welcome.
    TooLargeBeforeLogin,
    /// We sent a close frame (the broker asked for it).
    ClosedByServer,
    /// Close at once, skipping queued frames (the queue is full).
    Abort(CloseCmd),
    /// Writing failed.
    WriteFailed,
    /// Writing made no progress for the slow-consumer timeout.
    Stalled,
    /// The router has stopped.
    RouterGone,
}

/// What a connection task starts with.
pub(crate) struct LinkSetup {
    pub(crate) conn: ConnId,
    /// The client's address.
    pub(crate) peer: Option<IpAddr>,
    pub(crate) router: RouterHandle,
    /// The outbound budgets.
    pub(crate) budget: OutboundBudget,
    /// When its `Hello` must have come: the hello timeout after the socket was accepted.
    pub(crate) hello_deadline: tokio::time::Instant,
    /// Set once the answer to the first message is written: it opens the socket's
    /// [`LoginLimit`](super::LoginLimit).
    pub(crate) welcomed: Arc<AtomicBool>,
    /// The nodes sharing this node's Redis: a connection whose session another node serves
    /// is relayed there.
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Relayed by another node: served here, or refused `session_moved` if this node does
    /// not serve its session (any more); never relayed again.
    pub(crate) relayed: bool,
    /// The WebSocket settings, for a relay's connection to the owner.
    pub(crate) ws_config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
}

/// Runs the connection until it ends.
pub(crate) async fn run<S>(mut ws: WebSocketStream<S>, setup: LinkSetup)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let LinkSetup {
        conn,
        peer,
        router,
        budget,
        hello_deadline,
        welcomed,
        cluster,
        relayed,
        ws_config,
    } = setup;
    // The first message names the session, and so the router (and, with several nodes,
    // the node): wait for it before the connection is opened there. Without one by the
    // hello deadline, any router closes it.
    let first = tokio::select! {
        first = first_message(&mut ws) => Some(first),
        () = tokio::time::sleep_until(hello_deadline) => None,
    };
    if let (Some(cluster), Some(Some(Ok(Message::Binary(data))))) = (&cluster, &first) {
        if let Ok(Frame::Hello(hello)) = Frame::decode_from_client(data.clone()) {
            use super::relay::{self, Placement};
            let placement = if relayed {
                if cluster.owns(&hello.session) {
                    Placement::Local
                } else {
                    let message = "this node does not serve the session (any more)".to_owned();
                    Placement::Refuse(ErrorCode::SESSION_MOVED, message)
                }
            } else {
                relay::place(cluster, &hello.session, peer, ws_config).await
            };
            match placement {
                Placement::Local => {}
                Placement::Relay(upstream) => {
                    tracing::debug!(conn = conn.0, session = %hello.session, "relayed to the session's node");
                    let stall = budget.stall;
                    return relay::run(ws, *upstream, data.clone(), welcomed, stall, cluster).await;
                }
                Placement::Refuse(code, message) => {
                    tracing::info!(conn = conn.0, session = %hello.session, "refused: {message}");
                    return relay::refuse(&mut ws, code, &message).await;
                }
            }
        }
    }
    let (outbound, rx) = mpsc::unbounded_channel();
    let gauge = budget.gauge();
    let (abort, abort_rx) = oneshot::channel();
    let pause = Arc::new(ReadPause::new());
    let mut link = Link {
        conn,
        router,
        shard: 0,
        ws,
        rx,
        abort_rx,
        abort_live: true,
        // Grown by the first frames, and let go again whenever the queue is empty: idle
        // connections hold no batch (64 slots would be 2.5 KiB each).
        batch: Vec::new(),
        gauge: gauge.clone(),
        half: budget.half(),
        stall: budget.stall,
        budget,
        welcomed,
        answering: false,
        batching: false,
        pause: pause.clone(),
    };
    let opened = RouterMsg::Open(Box::new(Opened {
        conn,
        peer,
        hello_deadline,
        outbound,
        gauge,
        abort,
        pause,
    }));
    if let Some(Some(Ok(Message::Binary(data)))) = &first {
        link.shard = link.router.shard_for(data);
        link.batching = batch::requested(data);
    }
    let end = match link.router.send(link.shard, opened).await {
        Err(_) => End::RouterGone,
        Ok(()) => match first {
            Some(first) => match link.forward(first).await {
                Some(end) => end,
                None => link.pump().await,
            },
            None => link.pump().await,
        },
    };
    tracing::debug!(conn = conn.0, end = end.name(), "connection ended");
    link.finish(end).await;
}

/// A connection's socket and its channels to and from the router.
struct Link<S> {
    conn: ConnId,
    router: RouterHandle,
    /// The router that serves it.
    shard: usize,
    ws: Ws<S>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    abort_rx: oneshot::Receiver<CloseCmd>,
    /// Whether the abort sender is still there (see [`aborted`]).
    abort_live: bool,
    batch: Vec<Outbound>,
    /// The bytes in `rx`.
    gauge: Arc<Gauge>,
    /// Flow control: while half the outbound budget or more waits in the queue, nothing
    /// more is read from the peer, so its own requests cannot pile up answers (acks,
    /// receipts) faster than they are written. Also where a watched queue counts as
    /// drained.
    half: usize,
    /// How long a write may make no progress.
    stall: Duration,
    /// The inbound budget (see [`OutboundBudget::inbound`]).
    budget: OutboundBudget,
    /// Whether the first message has been answered (see [`LinkSetup::welcomed`]).
    welcomed: Arc<AtomicBool>,
    /// The first message arrived and its answer is not written yet: nothing more is read
    /// until it is, so nothing beyond the first message is buffered before the welcome.
    answering: bool,
    /// The client's `Hello` asked for batches: frames queued together are written as
    /// batch messages.
    batching: bool,
    /// Set by the router when a publish is refused `queue_full`: nothing is read until
    /// it ends.
    pause: Arc<ReadPause>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Link<S> {
    /// Reads and writes until the connection ends.
    async fn pump(&mut self) -> End {
        loop {
            let end = tokio::select! {
                incoming = self.ws.next(), if self.may_read() => {
                    self.forward(incoming).await
                }
                received = self.rx.recv_many(&mut self.batch, WRITE_BATCH) => {
                    match self.took(received).await {
                        Some(end) => Some(end),
                        None => self.write_batch(received).await,
                    }
                }
                cmd = aborted(&mut self.abort_rx, &mut self.abort_live) => Some(End::Abort(cmd)),
                // A pause set or over: `may_read` says which.
                () = self.pause.changed() => None,
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Whether to read from the peer (see [`Link::half`], [`Link::answering`] and
    /// [`Link::pause`]).
    fn may_read(&self) -> bool {
        !self.answering && self.gauge.queued() < self.half && self.pause.until().is_none()
    }

    /// Takes `received` frames just taken from the queue off its gauge, and tells the
    /// router if that drained a watched queue.
    async fn took(&mut self, received: usize) -> Option<End> {
        let bytes: usize = self.batch[self.batch.len() - received..]
            .iter()
            .map(|item| match item {
                Outbound::Frame(frame) => frame.len(),
                Outbound::Close(_) => 0,
            })
            .sum();
        if self.gauge.take(bytes, self.half) {
            let drained = RouterMsg::Drained { conn: self.conn };
            if self.router.send(self.shard, drained).await.is_err() {
                return Some(End::RouterGone);
            }
        }
        None
    }

    /// Hands an incoming message to the router, with the ones already received after it
    /// (up to [`INBOUND_BATCH`] messages or [`INBOUND_BATCH_BYTES`]): one hand-over, and
    /// one wake-up of the router, for a burst.
    async fn forward(&mut self, incoming: Option<Result<Message, WsError>>) -> Option<End> {
        let conn = self.conn;
        let mut message = match received(conn, incoming) {
            Ok(message) => message,
            Err(end) => return end,
        };
        if !self.welcomed.load(Ordering::Acquire) {
            self.answering = true;
        }
        let mut bytes = message.len();
        // Every message of the hand-over once there is more than one (the first included).
        let mut batch = Vec::new();
        let mut end = None;
        // Nothing beyond the first message before the welcome (`answering`), nor while half
        // the outbound budget is queued.
        while self.may_read() && batch.len() < INBOUND_BATCH && bytes < INBOUND_BATCH_BYTES {
            // Only what is there already: tungstenite's buffer, or a read that would not wait.
            let Some(incoming) = self.ws.next().now_or_never() else {
                break;
            };
            match received(conn, incoming) {
                Ok(next) => {
                    bytes += next.len();
                    if batch.is_empty() {
                        batch.push(std::mem::take(&mut message));
                    }
                    batch.push(next);
                }
                Err(None) => {}
                Err(Some(ended)) => {
                    end = Some(ended);
                    break;
                }
            }
        }
        // Waits while the router's inbox holds its budget of bytes; given back by the router.
        let permits = self.budget.inbound_permits(bytes);
        match self.budget.inbound.acquire_many(permits).await {
            Ok(taken) => taken.forget(),
            Err(_) => return Some(End::RouterGone),
        }
        let message = if batch.is_empty() {
            RouterMsg::Message { conn, message }
        } else {
            RouterMsg::Messages {
                conn,
                messages: batch,
            }
        };
        if self.router.send(self.shard, message).await.is_err() {
            return Some(End::RouterGone);
        }
        if bytes >= INBOUND_BATCH_BYTES {
            // Lets the router take a large hand-over before the next large read: if a
            // publish in it is refused, the pause then comes before that read, not after.
            tokio::task::yield_now().await;
        }
        end
    }

    /// Writes the `received` frames just taken from the queue.
    async fn write_batch(&mut self, received: usize) -> Option<End> {
        let conn = self.conn;
        if received == 0 {
            // Closed and empty: the router forgot the connection, either after an abort
            // (which may be waiting too) or because it stopped.
            let abort = if self.abort_live {
                self.abort_rx.try_recv().ok()
            } else {
                None
            };
            return Some(abort.map_or(End::RouterGone, End::Abort));
        }
        let written = tokio::select! {
            written = tokio::time::timeout(
                self.stall,
                write(&mut self.ws, &mut self.batch, self.batching.then_some(&self.budget)),
            ) => {
                written
            }
            cmd = aborted(&mut self.abort_rx, &mut self.abort_live) => return Some(End::Abort(cmd)),
        };
        if matches!(written, Ok(Ok(_))) && self.answering {
            self.answering = false;
            self.welcomed.store(true, Ordering::Release);
        }
        match written {
            Ok(Ok(Written::All)) => {
                if self.rx.is_empty() {
                    self.batch = Vec::new();
                }
                None
            }
            Ok(Ok(Written::Closed)) => Some(End::ClosedByServer),
            Ok(Err(e)) => {
                tracing::debug!(conn = conn.0, "write failed: {e}");
                Some(End::WriteFailed)
            }
            Err(_) => Some(End::Stalled),
        }
    }

    /// Ends the closing handshake as fits, and tells the router.
    async fn finish(mut self, end: End) {
        let closed = match end {
            End::Stalled => RouterMsg::Stalled { conn: self.conn },
            _ => RouterMsg::Closed { conn: self.conn },
        };
        match end {
            End::Peer | End::WriteFailed | End::Stalled => {}
            End::TooLarge => send_close(&mut self.ws, CloseCode::Size, "message too large").await,
            End::TooLargeBeforeLogin => {
                let code = ErrorCode::CREDENTIAL_TOO_LARGE;
                let message = format!("the first message is longer than {FIRST_MESSAGE} bytes");
                let frame = Frame::Error(ErrorFrame {
                    code,
                    ref_id: 0,
                    message: message.clone(),
                });
                let _ =
                    tokio::time::timeout(CLOSE_WAIT, self.ws.feed(Message::Binary(frame.encode())))
                        .await;
                send_close(&mut self.ws, CloseCode::from(code.close_code()), &message).await
            }
            End::ClosedByServer | End::PeerClosed => drain_until_closed(&mut self.ws).await,
            End::Abort(cmd) => {
                send_close(&mut self.ws, CloseCode::from(cmd.code), &cmd.reason).await
            }
            End::RouterGone => send_close(&mut self.ws, CloseCode::Away, "server stopping").await,
        }
        // A no-op for connections the broker closed itself.
        let _ = self.router.send(self.shard, closed).await;
    }
}

/// The first message that is not a ping or a pong (`None` when the stream ended).
async fn first_message<S>(ws: &mut Ws<S>) -> Option<Result<Message, WsError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            other => return other,
        }
    }
}

/// A received message for the router (`Ok`), or nothing to hand over: `Err(None)` for a
/// ping or pong (tungstenite answers pings), `Err(Some(end))` when the connection ends.
fn received(
    conn: ConnId,
    incoming: Option<Result<Message, WsError>>,
) -> Result<Bytes, Option<End>> {
    match incoming {
        Some(Ok(Message::Binary(data))) => Ok(data),
        // Text is a protocol error: an empty message makes the broker say so.
        Some(Ok(Message::Text(_))) => Ok(Bytes::new()),
        Some(Ok(Message::Close(_))) => Err(Some(End::PeerClosed)),
        Some(Ok(_)) => Err(None),
        None => Err(Some(End::Peer)),
        Some(Err(WsError::Io(e))) if TooLargeBeforeLogin::is(&e) => {
            tracing::debug!(conn = conn.0, "refused: {e}");
            Err(Some(End::TooLargeBeforeLogin))
        }
        Some(Err(WsError::Capacity(e))) => {
            tracing::debug!(conn = conn.0, "message refused: {e}");
            Err(Some(End::TooLarge))
        }
        Some(Err(e)) => {
            tracing::debug!(conn = conn.0, "read failed: {e}");
            Err(Some(End::Peer))
        }
    }
}

/// Completes with an abort command; never if the router dropped the sender without one
/// (it forgot the connection after queueing the close, which must then be written).
async fn aborted(abort_rx: &mut oneshot::Receiver<CloseCmd>, live: &mut bool) -> CloseCmd {
    if *live {
        match abort_rx.await {
            Ok(cmd) => return cmd,
            Err(_) => *live = false,
        }
    }
    std::future::pending().await
}

enum Written {
    All,
    /// The batch ended with a close frame, which was sent.
    Closed,
}

/// Feeds the queued frames to the socket and flushes once. With `batching` (the counter
/// of batches written), frames queued together go out in batch messages.
async fn write<S>(
    sink: &mut Ws<S>,
    queued: &mut Vec<Outbound>,
    batching: Option<&OutboundBudget>,
) -> Result<Written, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(budget) = batching {
        pack(queued, budget);
    }
    for item in queued.drain(..) {
        match item {
            Outbound::Frame(frame) => sink.feed(Message::Binary(frame)).await?,
            Outbound::Close(cmd) => {
                let frame = CloseFrame {
                    code: CloseCode::from(cmd.code),
                    reason: cmd.reason.into(),
                };
                sink.feed(Message::Close(Some(frame))).await?;
                sink.flush().await?;
                return Ok(Written::Closed);
            }
        }
    }
    sink.flush().await?;
    Ok(Written::All)
}

/// Packs each run of small frames in `queued` (two or more, up to [`BATCH_BYTES`]) into
/// one batch message, in place (no second list per write); order is kept and a close stays
/// last.
fn pack(queued: &mut Vec<Outbound>, budget: &OutboundBudget) {
    fn small(item: &Outbound) -> Option<usize> {
        match item {
            Outbound::Frame(frame) if frame.len() <= BATCH_FRAME_MAX => Some(frame.len()),
            _ => None,
        }
    }
    // Items before `next` are done: the first `kept` of them are the messages to write, the
    // others were packed (and are dropped below).
    let mut kept = 0;
    let mut next = 0;
    while next < queued.len() {
        let start = next;
        next += 1;
        let Some(first_len) = small(&queued[start]) else {
            queued.swap(kept, start);
            kept += 1;
            continue;
        };
        // The items after this one that join it, and the batch's length.
        let mut len = 1 + batch::entry_len(first_len);
        while let Some(l) = queued.get(next).and_then(small) {
            if len + batch::entry_len(l) > BATCH_BYTES {
                break;
            }
            len += batch::entry_len(l);
            next += 1;
        }
        if next - start == 1 {
            queued.swap(kept, start);
            kept += 1;
            continue;
        }
        let mut packed = batch::Builder::with_capacity(len - 1);
        for item in &queued[start..next] {
            if let Outbound::Frame(frame) = item {
                packed.push(frame);
            }
        }
        budget.batches_out.fetch_add(1, Ordering::Relaxed);
        // `kept <= start`: the slot holds a packed frame or one already moved forward.
        queued[kept] = Outbound::Frame(packed.finish());
        kept += 1;
    }
    queued.truncate(kept);
}

/// Best effort: the socket may be congested or gone.
async fn send_close<S>(sink: &mut Ws<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
}

/// After a close frame either way: read (and ignore) until the closing handshake is over,
/// for a while. Reading is also what sends tungstenite's answer to the peer's close.
async fn drain_until_closed<S>(stream: &mut Ws<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, stream.next()).await {}
}

impl End {
    fn name(&self) -> &'static str {
        match self {
            End::PeerClosed => "peer_closed",
            End::Peer => "peer",
            End::TooLarge => "too_large",
            End::TooLargeBeforeLogin => "too_large_before_login",
            End::ClosedByServer => "closed_by_server",
            End::Abort(_) => "aborted",
            End::WriteFailed => "write_failed",
            End::Stalled => "stalled",
            End::RouterGone => "router_gone",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> OutboundBudget {
        OutboundBudget::new(1 << 20, Duration::from_secs(1), 1 << 20)
    }

    fn frame(len: usize, fill: u8) -> Outbound {
        Outbound::Frame(Bytes::from(vec![fill; len]))
    }

    /// The frames each written message carries (a close as `None`).
    fn unpacked(queued: &[Outbound]) -> Vec<Option<Vec<Bytes>>> {
        queued
            .iter()
            .map(|item| match item {
                Outbound::Frame(f) if batch::is_batch(f) => Some(
                    batch::frames(f.clone())
                        .collect::<Result<_, _>>()
                        .expect("valid"),
                ),
                Outbound::Frame(f) => Some(vec![f.clone()]),
                Outbound::Close(_) => None,
            })
            .collect()
    }

    #[test]
    fn small_frames_together_become_one_batch_and_large_ones_stay_alone() {
        let b = budget();
        let mut queued = vec![
            frame(10, 1),
            frame(20, 2),
            frame(BATCH_FRAME_MAX + 1, 3),
            frame(30, 4),
            frame(40, 5),
            frame(50, 6),
            Outbound::Close(CloseCmd {
                code: 4000,
                reason: "bye".into(),
            }),
        ];
        let before: Vec<Bytes> = queued
            .iter()
            .filter_map(|i| match i {
                Outbound::Frame(f) => Some(f.clone()),
                Outbound::Close(_) => None,
            })
            .collect();
        pack(&mut queued, &b);
        let messages = unpacked(&queued);
        let sizes: Vec<Option<usize>> = messages.iter().map(|m| m.as_ref().map(Vec::len)).collect();
        assert_eq!(sizes, vec![Some(2), Some(1), Some(3), None]);
        let after: Vec<Bytes> = messages.into_iter().flatten().flatten().collect();
        assert_eq!(after, before, "every frame once, in order");
        assert!(!batch::is_batch(match &queued[1] {
            Outbound::Frame(f) => f,
            Outbound::Close(_) => panic!("a frame"),
        }));
        assert_eq!(b.batches_out.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_batch_stays_within_its_byte_bound() {
        let b = budget();
        let mut queued: Vec<Outbound> = (0..64).map(|i| frame(BATCH_FRAME_MAX, i)).collect();
        pack(&mut queued, &b);
        assert!(queued.len() > 1);
        for item in &queued {
            let Outbound::Frame(f) = item else {
                panic!("frames only")
            };
            assert!(f.len() <= BATCH_BYTES, "{}", f.len());
        }
        let frames: usize = unpacked(&queued)
            .into_iter()
            .flatten()
            .map(|m| m.len())
            .sum();
        assert_eq!(frames, 64);
    }

    #[test]
    fn every_mix_of_small_and_large_frames_keeps_its_order_and_packs_each_run() {
        for mask in 0u32..512 {
            let b = budget();
            let mut queued: Vec<Outbound> = (0..9u8)
                .map(|i| match mask & (1 << i) {
                    0 => frame(10 + usize::from(i), i),
                    _ => frame(BATCH_FRAME_MAX + 1, i),
                })
                .collect();
            let before: Vec<Bytes> = unpacked(&queued).into_iter().flatten().flatten().collect();
            pack(&mut queued, &b);
            let messages = unpacked(&queued);
            let after: Vec<Bytes> = messages.iter().flatten().flatten().cloned().collect();
            assert_eq!(after, before, "mask {mask:09b}: every frame once, in order");
            // A run of small frames is one message: no two written messages in a row
            // could have been one batch.
            for pair in queued.windows(2) {
                let small = |item: &Outbound| matches!(item, Outbound::Frame(f) if f.len() <= BATCH_FRAME_MAX);
                assert!(!(small(&pair[0]) && small(&pair[1])), "mask {mask:09b}");
            }
        }
    }

    #[test]
    fn a_lone_frame_or_frames_between_large_ones_are_left_as_they_are() {
        let b = budget();
        let mut queued = vec![frame(10, 1)];
        pack(&mut queued, &b);
        assert!(matches!(&queued[..], [Outbound::Frame(f)] if f.len() == 10));
        let mut queued = vec![frame(10, 1), frame(BATCH_FRAME_MAX + 1, 2), frame(10, 3)];
        pack(&mut queued, &b);
        assert_eq!(queued.len(), 3);
        assert_eq!(b.batches_out.load(Ordering::Relaxed), 0);
    }
}
