//! The tokio driver: one task owns the sans-IO core, the WebSocket and one timer, and runs
//! the core's pump after every input. No protocol logic lives here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use fastport_client_core::client::{Event, PublishId, PublishOutcome, RequestId, State, Unrouted};
use fastport_client_core::codec::{AdminOp, ReceiptStatus, SessionConfig};
use fastport_client_core::crypto::Keyring;
use fastport_client_core::time::Instant;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Client as Core, PublishOptions, TransportCommand};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ClientEvent, Error, Message, Receipt};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Connecting = Pin<Box<dyn Future<Output = Result<Ws, String>> + Send>>;

/// What the handles ask of the driver.
pub(crate) enum Command {
    Subscribe {
        filter: TopicFilter,
        presence: bool,
        sink: mpsc::Sender<Message>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Unsubscribe {
        filter: TopicFilter,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Publish {
        topic: Topic,
        payload: Bytes,
        options: PublishOptions,
        reply: oneshot::Sender<Result<crate::Published, Error>>,
    },
    Admin {
        session: String,
        credential: String,
        op: Box<AdminOp>,
        reply: oneshot::Sender<Result<SessionConfig, Error>>,
    },
    SetKeys {
        filter: Option<TopicFilter>,
        ring: Box<Keyring>,
    },
    ReconnectNow,
    Close {
        reply: oneshot::Sender<()>,
    },
}

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A subscribe waiting for its ack: where its messages go once it is acked.
struct PendingSubscribe {
    filter: TopicFilter,
    sink: mpsc::Sender<Message>,
    reply: Reply<()>,
}

/// Requests waiting for their event from the core.
#[derive(Default)]
struct Waiting {
    subscribes: HashMap<RequestId, PendingSubscribe>,
    unsubscribes: HashMap<RequestId, Reply<()>>,
    publishes: HashMap<PublishId, (Reply<crate::Published>, oneshot::Receiver<Receipt>)>,
    receipts: HashMap<PublishId, oneshot::Sender<Receipt>>,
    admin: HashMap<RequestId, oneshot::Sender<Result<SessionConfig, Error>>>,
}

pub(crate) struct Driver {
    core: Core,
    epoch: tokio::time::Instant,
    ws_config: WebSocketConfig,
    ws: Option<Ws>,
    connecting: Option<Connecting>,
    commands: mpsc::Receiver<Command>,
    subs: Vec<(TopicFilter, mpsc::Sender<Message>)>,
    /// Messages that matched no subscription of this process yet: a resumed session's
    /// pending deliveries arrive right after the welcome, before the application has
    /// subscribed again. The next matching subscription gets them first.
    unrouted: Unrouted,
    waiting: Waiting,
    state: watch::Sender<State>,
    events: broadcast::Sender<ClientEvent>,
    first: Option<oneshot::Sender<Result<(), Error>>>,
    url: String,
    closing: Option<oneshot::Sender<()>>,
}

/// Most receipt waiters kept for publishes whose receipt never came (a restarted server
/// forgets them); past it, those nobody waits for anymore are dropped.
const MAX_RECEIPT_WAITERS: usize = 10_000;

/// How long a close handshake may take.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Most messages kept for subscriptions not made yet; the oldest go first.
const MAX_UNROUTED: usize = 1_024;

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: Core,
        epoch: tokio::time::Instant,
        ws_config: WebSocketConfig,
        commands: mpsc::Receiver<Command>,
        state: watch::Sender<State>,
        events: broadcast::Sender<ClientEvent>,
        first: oneshot::Sender<Result<(), Error>>,
        url: String,
    ) -> Driver {
        Driver {
            core,
            epoch,
            ws_config,
            ws: None,
            connecting: None,
            commands,
            subs: Vec::new(),
            unrouted: Unrouted::new(MAX_UNROUTED),
            waiting: Waiting::default(),
            state,
            events,
            first: Some(first),
            url,
            closing: None,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Runs until the core is closed and every handle is gone.
    pub(crate) async fn run(mut self) {
        self.pump().await;
        loop {
            let deadline = self
                .core
                .poll_timeout()
                .map(|at| self.epoch + std::time::Duration::from_micros(at.as_micros()));
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => {
                        let now = self.now();
                        self.core.close(now);
                    }
                },
                result = maybe(&mut self.connecting) => {
                    self.connecting = None;
                    let now = self.now();
                    match result {
                        Ok(ws) => {
                            self.ws = Some(ws);
                            self.core.handle_open(now);
                        }
                        Err(reason) => self.core.handle_close(now, None, &reason),
                    }
                }
                msg = next_message(&mut self.ws) => self.on_ws(msg),
                () = sleep_until(deadline) => {
                    let now = self.now();
                    self.core.handle_timeout(now);
                }
            }
            self.pump().await;
            if matches!(*self.state.borrow(), State::Closed { .. }) {
                break;
            }
        }
        if let Some(mut ws) = self.ws.take() {
            // The last close is awaited, so a program that exits after `close()` still
            // closes cleanly.
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "client closed".into(),
            };
            let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(Some(frame))).await;
        }
        if let Some(reply) = self.closing.take() {
            let _ = reply.send(());
        }
    }

    fn on_ws(&mut self, msg: Option<Result<WsMessage, String>>) {
        let now = self.now();
        match msg {
            Some(Ok(WsMessage::Binary(bytes))) => self.core.handle_frame(now, bytes),
            Some(Ok(WsMessage::Close(frame))) => {
                self.ws = None;
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                self.core.handle_close(now, Some(code), &reason);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                self.ws = None;
                self.core.handle_close(now, None, &e);
            }
            None => {
                self.ws = None;
                self.core.handle_close(now, None, "connection closed");
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Subscribe {
                filter,
                presence,
                sink,
                reply,
            } => match self.core.subscribe(now, filter.clone(), presence) {
                Ok(id) => {
                    let pending = PendingSubscribe {
                        filter,
                        sink,
                        reply,
                    };
                    self.waiting.subscribes.insert(id, pending);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Unsubscribe { filter, reply } => {
                self.subs.retain(|(f, _)| *f != filter);
                match self.core.unsubscribe(now, filter) {
                    Ok(id) => {
                        self.waiting.unsubscribes.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Publish {
                topic,
                payload,
                options,
                reply,
            } => match self.core.publish(now, &topic, &payload, options) {
                Ok(id) => {
                    let (tx, rx) = oneshot::channel();
                    self.add_receipt_waiter(id, tx);
                    self.waiting.publishes.insert(id, (reply, rx));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Admin {
                session,
                credential,
                op,
                reply,
            } => match self.core.admin(now, &session, &credential, *op) {
                Ok(id) => {
                    self.waiting.admin.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::SetKeys { filter, ring } => match filter {
                Some(filter) => self.core.keys_mut().set_for_filter(filter, *ring),
                None => self.core.keys_mut().set_default(*ring),
            },
            Command::ReconnectNow => self.core.reconnect_now(now),
            Command::Close { reply } => {
                self.closing = Some(reply);
                self.core.close(now);
            }
        }
    }

    fn add_receipt_waiter(&mut self, id: PublishId, tx: oneshot::Sender<Receipt>) {
        if self.waiting.receipts.len() >= MAX_RECEIPT_WAITERS {
            self.waiting.receipts.retain(|_, tx| !tx.is_closed());
        }
        self.waiting.receipts.insert(id, tx);
    }

    /// Drains the core: transport requests, frames to send, events.
    async fn pump(&mut self) {
        while let Some(cmd) = self.core.poll_transport() {
            match cmd {
                TransportCommand::Connect { url } => {
                    if let Some(old) = self.ws.take() {
                        close_in_background(old, 1000, "reconnecting".into());
                    }
                    self.connecting = Some(Box::pin(connect(url, self.ws_config)));
                }
                TransportCommand::Close { code, reason } => {
                    self.connecting = None;
                    if let Some(ws) = self.ws.take() {
                        close_in_background(ws, code, reason);
                    }
                }
                _ => {}
            }
        }
        let mut wrote = false;
        while let Some(frame) = self.core.poll_transmit() {
            let Some(ws) = self.ws.as_mut() else { continue };
            if ws.feed(WsMessage::Binary(frame)).await.is_err() {
                self.ws = None;
                let now = self.now();
                self.core.handle_close(now, None, "write failed");
                return Box::pin(self.pump()).await;
            }
            wrote = true;
        }
        if wrote {
            if let Some(ws) = self.ws.as_mut() {
                if ws.flush().await.is_err() {
                    self.ws = None;
                    let now = self.now();
                    self.core.handle_close(now, None, "write failed");
                    return Box::pin(self.pump()).await;
                }
            }
        }
        while let Some(event) = self.core.poll_event() {
            self.event(event);
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::StateChanged(state) => self.state_changed(state),
            Event::Message(m) => self.route(m),
            Event::PublishSettled { id, outcome } => {
                let Some((reply, receipt)) = self.waiting.publishes.remove(&id) else {
                    return;
                };
                let result = match outcome {
                    PublishOutcome::Sent => {
                        self.waiting.receipts.remove(&id);
                        Ok(crate::Published { id, receipt: None })
                    }
                    PublishOutcome::Acked => Ok(crate::Published {
                        id,
                        receipt: Some(receipt),
                    }),
                    PublishOutcome::Expired => {
                        self.waiting.receipts.remove(&id);
                        Err(Error::Publish("no ack before the publish deadline".into()))
                    }
                    PublishOutcome::Failed(f) => {
                        self.waiting.receipts.remove(&id);
                        Err(Error::from_publish(f))
                    }
                    other => Err(Error::Publish(format!("{other:?}"))),
                };
                let _ = reply.send(result);
            }
            Event::Receipt {
                id,
                status,
                delivered,
                failed,
            } => {
                let receipt = Receipt {
                    id,
                    status,
                    delivered,
                    failed,
                };
                if let Some(tx) = self.waiting.receipts.remove(&id) {
                    let _ = tx.send(receipt);
                }
                let _ = self.events.send(ClientEvent::Receipt(receipt));
            }
            Event::Subscribed {
                request, result, ..
            } => {
                let Some(pending) = self.waiting.subscribes.remove(&request) else {
                    return;
                };
                if result.is_ok() {
                    self.claim_unrouted(&pending.filter, &pending.sink);
                    self.subs.push((pending.filter, pending.sink));
                }
                let _ = pending.reply.send(result.map_err(Error::from_request));
            }
            Event::Unsubscribed {
                request, result, ..
            } => {
                if let Some(reply) = self.waiting.unsubscribes.remove(&request) {
                    let _ = reply.send(result.map_err(Error::from_request));
                }
            }
            Event::AdminResult { request, result } => {
                if let Some(reply) = self.waiting.admin.remove(&request) {
                    let _ = reply.send(result.map_err(Error::from_request));
                }
            }
            Event::Restored { subscriptions } => {
                let _ = self.events.send(ClientEvent::Restored { subscriptions });
            }
            Event::SubscriptionLost { filter, error } => {
                self.subs.retain(|(f, _)| *f != filter);
                let _ = self
                    .events
                    .send(ClientEvent::SubscriptionLost { filter, error });
            }
            Event::Presence {
                filter,
                kind,
                members,
            } => {
                let _ = self.events.send(ClientEvent::Presence {
                    filter,
                    kind,
                    members,
                });
            }
            Event::DeliveryRejected {
                topic,
                publisher,
                error,
                ..
            } => {
                let _ = self.events.send(ClientEvent::Rejected {
                    topic,
                    publisher,
                    error,
                });
            }
            Event::ServerError(e) => {
                let _ = self.events.send(ClientEvent::ServerError(e));
            }
            _ => {}
        }
    }

    /// Hands a message to every matching subscription, or keeps it for one to come.
    fn route(&mut self, message: Message) {
        let mut routed = false;
        for (filter, sink) in &self.subs {
            if !filter.matches(&message.topic) {
                continue;
            }
            routed = true;
            if sink.try_send(message.clone()).is_err() {
                let _ = self.events.send(ClientEvent::Lagged {
                    filter: filter.clone(),
                });
            }
        }
        if !routed {
            self.unrouted.push(message);
        }
    }

    fn claim_unrouted(&mut self, filter: &TopicFilter, sink: &mpsc::Sender<Message>) {
        for message in self.unrouted.claim(filter) {
            let _ = sink.try_send(message);
        }
    }

    fn state_changed(&mut self, state: State) {
        if let Some(first) = self.first.take() {
            match &state {
                State::Connected { .. } => {
                    let _ = first.send(Ok(()));
                }
                State::Closed { reason } => {
                    let _ = first.send(Err(Error::from_close(reason)));
                }
                State::Reconnecting { reason, error, .. } => {
                    let url = self.url.clone();
                    let err = match error {
                        Some(error) => Error::Unavailable {
                            url,
                            error: error.clone(),
                        },
                        None => Error::Unreachable {
                            url,
                            reason: reason.clone(),
                        },
                    };
                    let _ = first.send(Err(err));
                    // The caller gets the error; the client it never received closes.
                    let now = self.now();
                    self.core.close(now);
                }
                _ => self.first = Some(first),
            }
        }
        let _ = self.events.send(ClientEvent::State(state.clone()));
        self.state.send_replace(state);
    }
}

async fn connect(url: String, config: WebSocketConfig) -> Result<Ws, String> {
    match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await {
        Ok((ws, _)) => Ok(ws),
        Err(e) => Err(e.to_string()),
    }
}

fn close_in_background(mut ws: Ws, code: u16, reason: String) {
    tokio::spawn(async move {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(2), ws.close(Some(frame))).await;
    });
}

async fn maybe(connecting: &mut Option<Connecting>) -> Result<Ws, String> {
    match connecting {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

async fn next_message(ws: &mut Option<Ws>) -> Option<Result<WsMessage, String>> {
    match ws {
        Some(ws) => ws.next().await.map(|r| r.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `ReceiptStatus` as words for people (the same as [`ReceiptStatus::name`]).
pub fn status_name(status: ReceiptStatus) -> &'static str {
    status.name()
}
