//! The tokio driver: one task owns the sans-IO core, the WebSocket and one timer, and runs
//! the core's pump after every input. No protocol logic lives here.

use std::collections::HashMap;
use std::sync::Arc;

use fastport_client_core::client::{PublishId, State};
use fastport_client_core::codec::Qos;
use fastport_client_core::dispatch::{Dispatch, Failure, Output};
use fastport_client_core::time::Instant;
use fastport_client_core::TransportCommand;
use futures_util::SinkExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::command::{Command, Sink, Tokio};
use crate::socket::{
    close_in_background, connect, maybe, next_message, sleep_until, Connecting, Ws, CLOSE_WAIT,
};
use crate::{ClientEvent, Error, Message, Receipt};

pub(crate) struct Driver {
    app: Dispatch<Tokio>,
    epoch: tokio::time::Instant,
    ws_config: WebSocketConfig,
    tls: Arc<rustls::ClientConfig>,
    /// The host of the latest attempt and the problem, if it failed on the server's
    /// certificate: the first connection then fails with [`Error::UntrustedCertificate`].
    untrusted: Option<(String, String)>,
    ws: Option<Ws>,
    connecting: Option<Connecting>,
    commands: mpsc::Receiver<Command>,
    /// Receipts of acked publishes whose `Published` may still be waited on.
    receipts: HashMap<PublishId, oneshot::Sender<Receipt>>,
    state: watch::Sender<State>,
    /// The resume token of the last `Welcome`.
    token: watch::Sender<String>,
    /// The URL of the current or last connection attempt.
    url: watch::Sender<String>,
    events: broadcast::Sender<ClientEvent>,
    closing: Option<oneshot::Sender<()>>,
}

/// Most receipt waiters kept for publishes whose receipt never came (a restarted server
/// forgets them); past it, those nobody waits for anymore are dropped.
const MAX_RECEIPT_WAITERS: usize = 10_000;

impl Driver {
    pub(crate) fn new(
        app: Dispatch<Tokio>,
        epoch: tokio::time::Instant,
        ws_config: WebSocketConfig,
        tls: Arc<rustls::ClientConfig>,
        commands: mpsc::Receiver<Command>,
        (state, token, url): (
            watch::Sender<State>,
            watch::Sender<String>,
            watch::Sender<String>,
        ),
        events: broadcast::Sender<ClientEvent>,
    ) -> Driver {
        Driver {
            app,
            epoch,
            ws_config,
            tls,
            untrusted: None,
            ws: None,
            connecting: None,
            commands,
            receipts: HashMap::new(),
            state,
            token,
            url,
            events,
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
                .app
                .poll_timeout()
                .map(|at| self.epoch + std::time::Duration::from_micros(at.as_micros()));
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => {
                        let now = self.now();
                        self.app.close(now);
                    }
                },
                result = maybe(&mut self.connecting) => {
                    self.connecting = None;
                    let now = self.now();
                    match result {
                        Ok(ws) => {
                            self.untrusted = None;
                            self.ws = Some(ws);
                            self.app.handle_open(now);
                        }
                        Err(e) => {
                            self.untrusted = e.untrusted;
                            self.app.handle_close(now, None, &e.reason);
                        }
                    }
                }
                msg = next_message(&mut self.ws) => self.on_ws(msg),
                () = sleep_until(deadline) => {
                    let now = self.now();
                    self.app.handle_timeout(now);
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
            Some(Ok(WsMessage::Binary(bytes))) => self.app.handle_frame(now, bytes),
            Some(Ok(WsMessage::Close(frame))) => {
                self.ws = None;
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                self.app.handle_close(now, Some(code), &reason);
            }
            // Text, ping and pong: tungstenite answers pings; the server sends no text.
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                self.ws = None;
                self.app.handle_close(now, None, &e);
            }
            None => {
                self.ws = None;
                self.app.handle_close(now, None, "connection closed");
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
            } => {
                let sink = Arc::new(Sink {
                    filter: filter.clone(),
                    messages: sink,
                });
                self.app.subscribe(now, filter, presence, sink, reply);
            }
            Command::Unsubscribe { filter, reply } => self.app.unsubscribe(now, filter, reply),
            Command::Publish {
                topic,
                payload,
                options,
                reply,
            } => self.app.publish(now, &topic, &payload, options, reply),
            Command::Admin {
                session,
                credential,
                op,
                reply,
            } => self.app.admin(now, &session, &credential, *op, reply),
            Command::SetKeys { filter, ring } => match filter {
                Some(filter) => self.app.keys_mut().set_for_filter(filter, *ring),
                None => self.app.keys_mut().set_default(*ring),
            },
            Command::ReconnectNow => self.app.reconnect_now(now),
            Command::Close { reply } => {
                self.closing = Some(reply);
                self.app.close(now);
            }
        }
    }

    /// A receipt channel for an acked publish.
    fn receipt_waiter(&mut self, id: PublishId) -> oneshot::Receiver<Receipt> {
        if self.receipts.len() >= MAX_RECEIPT_WAITERS {
            self.receipts.retain(|_, tx| !tx.is_closed());
        }
        let (tx, rx) = oneshot::channel();
        self.receipts.insert(id, tx);
        rx
    }

    /// Drains the core: transport requests, frames to send, outputs.
    async fn pump(&mut self) {
        while let Some(cmd) = self.app.poll_transport() {
            match cmd {
                TransportCommand::Connect { url } => {
                    if let Some(old) = self.ws.take() {
                        close_in_background(old, 1000, "reconnecting".into());
                    }
                    let tls = self.tls.clone();
                    self.connecting = Some(Box::pin(connect(url, self.ws_config, tls)));
                }
                TransportCommand::Close { code, reason } => {
                    self.connecting = None;
                    if let Some(ws) = self.ws.take() {
                        close_in_background(ws, code, reason);
                    }
                }
            }
        }
        if let Err(()) = self.send_frames().await {
            self.ws = None;
            let now = self.now();
            self.app.handle_close(now, None, "write failed");
            return Box::pin(self.pump()).await;
        }
        while let Some(output) = self.app.poll_output() {
            self.output(output);
        }
    }

    /// Writes what the core has to send, then flushes once.
    async fn send_frames(&mut self) -> Result<(), ()> {
        let mut wrote = false;
        while let Some(frame) = self.app.poll_transmit() {
            let Some(ws) = self.ws.as_mut() else { continue };
            ws.feed(WsMessage::Binary(frame)).await.map_err(drop)?;
            wrote = true;
        }
        match self.ws.as_mut() {
            Some(ws) if wrote => ws.flush().await.map_err(drop),
            _ => Ok(()),
        }
    }

    /// Makes the resume token of the last `Welcome` visible to the handles.
    fn publish_token(&self) {
        let token = self.app.client().resume_token();
        self.token.send_if_modified(|t| {
            let changed = t != token;
            token.clone_into(t);
            changed
        });
    }

    fn output(&mut self, output: Output<Tokio>) {
        let event = match output {
            Output::State(state) => {
                if matches!(state, State::Connected { .. }) {
                    self.publish_token();
                }
                let url = self.app.client().url();
                self.url.send_if_modified(|u| {
                    let changed = u != url;
                    url.clone_into(u);
                    changed
                });
                self.state.send_replace(state.clone());
                ClientEvent::State(state)
            }
            Output::Connected(first) => {
                self.publish_token();
                let _ = first.send(Ok(()));
                return;
            }
            Output::ConnectFailed(first, failure) => {
                let error = match (failure, self.untrusted.take()) {
                    (Failure::Unreachable { url, .. }, Some((host, reason))) => {
                        Error::UntrustedCertificate { url, host, reason }
                    }
                    (failure, _) => failure.into(),
                };
                let _ = first.send(Err(error));
                return;
            }
            Output::Request(reply, result) => {
                let _ = reply.send(result.map_err(Error::from));
                return;
            }
            Output::Published(reply, result) => {
                let result = match result {
                    Ok((id, Qos::AtLeastOnce)) => Ok(crate::Published {
                        id,
                        receipt: Some(self.receipt_waiter(id)),
                    }),
                    Ok((id, Qos::AtMostOnce)) => Ok(crate::Published { id, receipt: None }),
                    Err(failure) => Err(failure.into()),
                };
                let _ = reply.send(result);
                return;
            }
            Output::Admin(reply, result) => {
                let _ = reply.send(result.map_err(Error::from));
                return;
            }
            Output::Deliver(message, sinks) => return self.deliver(message, sinks),
            Output::Receipt {
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
                if let Some(tx) = self.receipts.remove(&id) {
                    let _ = tx.send(receipt);
                }
                ClientEvent::Receipt(receipt)
            }
            Output::Restored { subscriptions } => ClientEvent::Restored { subscriptions },
            Output::SubscriptionLost { filter, error } => {
                ClientEvent::SubscriptionLost { filter, error }
            }
            Output::Presence {
                filter,
                kind,
                members,
            } => ClientEvent::Presence {
                filter,
                kind,
                members,
            },
            Output::DeliveryRejected {
                topic,
                publisher,
                error,
                envelope: _,
            } => ClientEvent::Rejected {
                topic,
                publisher,
                error,
            },
            Output::ServerError(e) => ClientEvent::ServerError(e),
        };
        let _ = self.events.send(event);
    }

    /// Hands a message to its subscriptions' channels; a full one loses it and says so.
    fn deliver(&mut self, message: Message, sinks: Vec<Arc<Sink>>) {
        for sink in sinks {
            if sink.messages.try_send(message.clone()).is_err() {
                let filter = sink.filter.clone();
                let _ = self.events.send(ClientEvent::Lagged { filter });
            }
        }
    }
}
