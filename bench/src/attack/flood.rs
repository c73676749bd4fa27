//! The flood: subscribers of one session that never read, and publishers sending them
//! 1 MiB QoS 1 messages as fast as the server takes them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_client_core::codec::{ErrorCode, Frame, Publish, Qos};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{pub_acks, PASSWORD, TOPIC};
use crate::fastport;
use crate::link::Ws;
use crate::Result;

/// Flood subscribers that never read.
const STUCK_SUBSCRIBERS: usize = 4;
/// Flood publishers.
const FLOOD_PUBLISHERS: usize = 2;
/// Flood payload: 1 MiB, the default `max_message_size`.
const FLOOD_PAYLOAD: usize = 1024 * 1024;
/// Publishes each flood publisher keeps unacknowledged.
const FLOOD_IN_FLIGHT: u64 = 4;

/// The flood's clients, on a runtime (and thread) of their own, so that the quiet clients
/// never wait behind a flood task in this process's runtime: what delays them is the
/// server, and the machine.
#[derive(Debug)]
pub struct Flood {
    runtime: tokio::runtime::Runtime,
    counts: Arc<FloodCounts>,
}

impl Flood {
    /// Connects the flood's clients to session `name` and starts publishing.
    pub async fn start(addr: SocketAddr, name: String, pause: Duration) -> Result<Flood> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("flood")
            .enable_all()
            .build()?;
        let counts = Arc::new(FloodCounts::default());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let flood_counts = Arc::clone(&counts);
        runtime.spawn(async move {
            let mut tasks = JoinSet::new();
            match start_flood(addr, &name, pause, &flood_counts, &mut tasks).await {
                Ok(stuck) => {
                    let _ = ready_tx.send(Ok(()));
                    // Hold the stuck subscribers open until the runtime is shut down.
                    std::future::pending::<()>().await;
                    drop((stuck, tasks));
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
        ready_rx
            .await
            .map_err(|_| "the flood ended before it started")??;
        Ok(Flood { runtime, counts })
    }

    /// Ends the flood, closing its connections; returns its publishes taken and refused.
    pub fn stop(self) -> (u64, u64) {
        self.runtime.shutdown_background();
        (
            self.counts.taken.load(Ordering::Relaxed),
            self.counts.refused.load(Ordering::Relaxed),
        )
    }
}

/// Opens the flood: `STUCK_SUBSCRIBERS` connections of session `flood` that subscribe and
/// are returned unread, and `FLOOD_PUBLISHERS` publishers spawned into `tasks`.
async fn start_flood(
    addr: SocketAddr,
    flood: &str,
    pause: Duration,
    counts: &Arc<FloodCounts>,
    tasks: &mut JoinSet<()>,
) -> Result<Vec<Ws>> {
    let mut stuck = Vec::new();
    for _ in 0..STUCK_SUBSCRIBERS {
        let ws = fastport::connect_to(addr, flood, PASSWORD).await?;
        stuck.push(fastport::subscribe(ws, TOPIC).await?);
    }
    for _ in 0..FLOOD_PUBLISHERS {
        let ws = fastport::connect_to(addr, flood, PASSWORD).await?;
        tasks.spawn(flood_publisher(ws, pause, Arc::clone(counts)));
    }
    Ok(stuck)
}

/// The flood publishers' answers, all of them together.
#[derive(Debug, Default)]
struct FloodCounts {
    taken: AtomicU64,
    refused: AtomicU64,
}

/// Keeps `FLOOD_IN_FLIGHT` 1 MiB QoS 1 publishes unacknowledged: a new one for each good
/// `PubAck`, the same one again `pause` after a `queue_full` (the message id of a refused
/// publish is not remembered, so its resend is taken once there is room).
async fn flood_publisher(ws: Ws, pause: Duration, counts: Arc<FloodCounts>) {
    let (mut sink, mut stream) = ws.split();
    // Message ids to send, each not before its instant (in order: the pause is fixed).
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, u64)>();
    for message_id in 1..=FLOOD_IN_FLIGHT {
        let _ = tx.send((Instant::now(), message_id));
    }
    let payload = Bytes::from(vec![0xa5; FLOOD_PAYLOAD]);
    let writer = async move {
        while let Some((at, message_id)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let publish = Frame::Publish(Publish {
                qos: Qos::AtLeastOnce,
                message_id,
                topic: TOPIC.into(),
                payload: payload.clone(),
            });
            if sink.send(Message::Binary(publish.encode())).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        let mut next_id = FLOOD_IN_FLIGHT + 1;
        while let Some(Ok(message)) = stream.next().await {
            for ack in pub_acks(message) {
                let send = if ack.code == ErrorCode::QUEUE_FULL {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    (Instant::now() + pause, ack.id)
                } else {
                    if ack.code.is_ok() {
                        counts.taken.fetch_add(1, Ordering::Relaxed);
                    }
                    next_id += 1;
                    (Instant::now(), next_id - 1)
                };
                if tx.send(send).is_err() {
                    return;
                }
            }
        }
    };
    tokio::join!(writer, reader);
}
