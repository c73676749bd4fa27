//! The application layer every driver needs on top of the [`Client`] state machine: who
//! waits for what, which subscription gets which message, and what the first connection
//! attempt means.
//!
//! A driver hands each command a handle of its own world (a promise, a oneshot sender) and
//! each subscription a sink (a callback, a channel); [`Dispatch`] gives them back in its
//! [`Output`]s with the outcome already mapped to one [`Failure`] type. The driver is left
//! with sockets, timers and calling the application.
//!
//! ```
//! use fastport_client_core::dispatch::{Dispatch, Handles, Output};
//! use fastport_client_core::names::SessionName;
//! use fastport_client_core::time::Instant;
//! use fastport_client_core::{Client, ClientConfig};
//!
//! /// A test's handles: plain labels.
//! struct Labels;
//! impl Handles for Labels {
//!     type Sink = &'static str;
//!     type Connect = &'static str;
//!     type Request = &'static str;
//!     type Publish = &'static str;
//!     type Admin = &'static str;
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new("ws://127.0.0.1:1/ws", SessionName::new("demo")?, "pw");
//! let now = Instant::ZERO;
//! let mut app: Dispatch<Labels> = Dispatch::new(Client::new(config, now), "connect()");
//! while app.poll_transport().is_some() {} // a driver opens the WebSocket here
//! app.handle_close(now, None, "connection refused"); // ... and it fails
//! let mut failed = None;
//! while let Some(output) = app.poll_output() {
//!     if let Output::ConnectFailed(handle, failure) = output {
//!         failed = Some((handle, failure.code()));
//!     }
//! }
//! // The first attempt failing fails `connect()`, and the client stops (with several URLs:
//! // the first attempt at each of them).
//! assert_eq!(failed, Some(("connect()", "unreachable")));
//! assert!(matches!(app.state(), fastport_client_core::State::Closed { .. }));
//! # Ok(())
//! # }
//! ```

mod failure;
#[cfg(test)]
mod tests;
mod unrouted;
mod waiting;

use bytes::Bytes;

use crate::client::{
    CloseReason, Event, Message, PublishId, PublishOutcome, RequestId, State, TransportCommand,
};
use crate::codec::{AdminOp, Member, PresenceKind, Qos, ReceiptStatus, SessionConfig};
use crate::crypto::KeyStore;
use crate::time::Instant;
use crate::topic::{Topic, TopicFilter};
use crate::{Client, PublishOptions};
pub use failure::Failure;
pub use unrouted::Unrouted;
use waiting::{InOrder, Requests};

/// The driver's types: what a subscription's messages go to and what each kind of
/// command waits with. [`Dispatch`] only stores and returns them.
pub trait Handles {
    /// Where a subscription's messages go (a channel, a callback); cloned per delivery.
    type Sink: Clone;
    /// Waits for the first connection.
    type Connect;
    /// Waits for a subscribe or an unsubscribe.
    type Request;
    /// Waits for a publish to settle.
    type Publish;
    /// Waits for an admin answer.
    type Admin;
}

/// What the driver does for the application, from [`Dispatch::poll_output`].
///
/// Exhaustive on purpose: a new output is a compile error in every driver until it handles
/// it.
#[derive(Debug)]
pub enum Output<H: Handles> {
    /// The connection state changed.
    State(State),
    /// The first connection is up: settle `connect()` with the client.
    Connected(H::Connect),
    /// The first connection attempt failed (with several URLs: the first attempt at each,
    /// and the failure is the last one's): the client is closed; settle `connect()` with
    /// the failure.
    ConnectFailed(H::Connect, Failure),
    /// A subscribe or unsubscribe finished.
    Request(H::Request, Result<(), Failure>),
    /// A publish settled: `Ok` holds its id and QoS (0: handed to the transport, 1: the
    /// server acked it, and an [`Output::Receipt`] follows).
    Published(H::Publish, Result<(PublishId, Qos), Failure>),
    /// An admin request finished; `Ok` holds the session's settings afterwards.
    Admin(H::Admin, Result<SessionConfig, Failure>),
    /// Hand `message` to these subscriptions (at least one), then to the application's
    /// general listeners. Messages no subscription matched yet wait in [`Unrouted`] and come
    /// here once a matching subscribe succeeds, right after its [`Output::Request`].
    Deliver(Message, Vec<H::Sink>),
    /// What became of an acked QoS 1 publish at its subscribers.
    Receipt {
        /// The publish.
        id: PublishId,
        /// The overall outcome.
        status: ReceiptStatus,
        /// Subscribers that acked.
        delivered: u32,
        /// Subscribers that did not.
        failed: u32,
    },
    /// After a (re)connect, every subscription is in place again.
    Restored {
        /// Subscriptions re-established.
        subscriptions: usize,
    },
    /// A subscription the server refused after a reconnect; its sink is dropped.
    SubscriptionLost {
        /// Its filter.
        filter: TopicFilter,
        /// Why.
        error: crate::client::ServerError,
    },
    /// Presence on a filter subscribed with presence.
    Presence {
        /// The filter.
        filter: String,
        /// Snapshot, join or leave.
        kind: PresenceKind,
        /// The members concerned.
        members: Vec<Member>,
    },
    /// A delivery was refused (and nacked), never handed to the application.
    DeliveryRejected {
        /// Its topic.
        topic: String,
        /// Its publisher.
        publisher: String,
        /// Why.
        error: crate::client::DeliveryError,
        /// The envelope as relayed (still sealed).
        envelope: Bytes,
    },
    /// The server reported an error that concerns no pending request.
    ServerError(crate::client::ServerError),
}

/// Most messages kept for subscriptions not made yet (a resumed session's pending
/// deliveries arrive right after the welcome); the oldest go first.
pub const MAX_UNROUTED: usize = 1_024;

/// The [`Client`] with the application dispatch on top. Call it like the client: inputs
/// (`handle_*`), commands, then drain [`Dispatch::poll_transport`],
/// [`Dispatch::poll_transmit`] and [`Dispatch::poll_output`], and re-arm the one timer
/// with [`Dispatch::poll_timeout`].
#[derive(Debug)]
pub struct Dispatch<H: Handles> {
    client: Client,
    /// The instant of the latest input or command: what caused the events being drained.
    now: Instant,
    subscriptions: Vec<(TopicFilter, H::Sink)>,
    unrouted: Unrouted,
    connect: Option<H::Connect>,
    subscribes: Requests<(TopicFilter, H::Sink, H::Request)>,
    unsubscribes: Requests<H::Request>,
    publishes: InOrder<(H::Publish, Qos)>,
    admin: Requests<H::Admin>,
    /// Outputs of the latest client event, last first (a stack: `Vec::pop` is less code
    /// than a `VecDeque` in the browser build).
    outputs: Vec<Output<H>>,
}

impl<H: Handles> Dispatch<H> {
    /// Wraps a new client; `connect` is settled by the first connection's outcome.
    pub fn new(client: Client, connect: H::Connect) -> Dispatch<H> {
        Dispatch {
            client,
            now: Instant::ZERO,
            subscriptions: Vec::new(),
            unrouted: Unrouted::new(MAX_UNROUTED),
            connect: Some(connect),
            subscribes: Requests::default(),
            unsubscribes: Requests::default(),
            publishes: InOrder::default(),
            admin: Requests::default(),
            outputs: Vec::new(),
        }
    }

    // ----- inputs ---------------------------------------------------------------------

    /// The WebSocket opened ([`Client::handle_open`]).
    pub fn handle_open(&mut self, now: Instant) {
        self.now = now;
        self.client.handle_open(now);
    }

    /// A binary message arrived ([`Client::handle_frame`]).
    pub fn handle_frame(&mut self, now: Instant, bytes: Bytes) {
        self.now = now;
        self.client.handle_frame(now, bytes);
    }

    /// The WebSocket closed or failed to open ([`Client::handle_close`]).
    pub fn handle_close(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        self.now = now;
        self.client.handle_close(now, code, reason);
    }

    /// The timer fired ([`Client::handle_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.client.handle_timeout(now);
    }

    // ----- commands -------------------------------------------------------------------

    /// Subscribes; once the server confirmed, `sink` gets the filter's messages. `done`
    /// gets the outcome, a usage mistake included, as an [`Output::Request`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        filter: TopicFilter,
        presence: bool,
        sink: H::Sink,
        done: H::Request,
    ) {
        self.now = now;
        match self.client.subscribe(now, filter.clone(), presence) {
            Ok(request) => self.subscribes.insert(request, (filter, sink, done)),
            Err(e) => self.refuse(Output::Request(done, Err(e.into()))),
        }
    }

    /// Unsubscribes; the filter's sinks get nothing more from now on. `done` gets the
    /// outcome as an [`Output::Request`].
    pub fn unsubscribe(&mut self, now: Instant, filter: TopicFilter, done: H::Request) {
        self.now = now;
        self.subscriptions.retain(|(f, _)| *f != filter);
        match self.client.unsubscribe(now, filter) {
            Ok(request) => self.unsubscribes.insert(request, done),
            Err(e) => self.refuse(Output::Request(done, Err(e.into()))),
        }
    }

    /// Seals and publishes; `done` gets exactly one [`Output::Published`].
    pub fn publish(
        &mut self,
        now: Instant,
        topic: &Topic,
        payload: &[u8],
        options: PublishOptions,
        done: H::Publish,
    ) {
        self.now = now;
        match self.client.publish(now, topic, payload, options) {
            Ok(id) => self.publishes.push(id.0, (done, options.qos)),
            Err(e) => self.refuse(Output::Published(done, Err(e.into()))),
        }
    }

    /// An admin request on `session` with its secret key (or the server's admin token);
    /// `done` gets the outcome as an [`Output::Admin`].
    pub fn admin(
        &mut self,
        now: Instant,
        session: &str,
        credential: &str,
        op: AdminOp,
        done: H::Admin,
    ) {
        self.now = now;
        match self.client.admin(now, session, credential, op) {
            Ok(request) => self.admin.insert(request, done),
            Err(e) => self.refuse(Output::Admin(done, Err(e.into()))),
        }
    }

    /// A command the client refused outright: nothing was queued, and its handle hears
    /// why with the next outputs.
    fn refuse(&mut self, output: Output<H>) {
        // After whatever is still being drained.
        self.outputs.insert(0, output);
    }

    /// Closes the client for good ([`Client::close`]); whatever waits fails with
    /// [`Failure::Closed`].
    pub fn close(&mut self, now: Instant) {
        self.now = now;
        self.client.close(now);
    }

    /// Skips the rest of the backoff wait ([`Client::reconnect_now`]).
    pub fn reconnect_now(&mut self, now: Instant) {
        self.now = now;
        self.client.reconnect_now(now);
    }

    /// The keys used to seal and open payloads, to change at any time.
    pub fn keys_mut(&mut self) -> &mut KeyStore {
        self.client.keys_mut()
    }

    // ----- outputs --------------------------------------------------------------------

    /// [`Client::poll_transport`].
    pub fn poll_transport(&mut self) -> Option<TransportCommand> {
        self.client.poll_transport()
    }

    /// [`Client::poll_transmit`].
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.client.poll_transmit()
    }

    /// [`Client::poll_timeout`].
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// The next thing to do for the application.
    pub fn poll_output(&mut self) -> Option<Output<H>> {
        loop {
            if let Some(output) = self.outputs.pop() {
                return Some(output);
            }
            let event = self.client.poll_event()?;
            self.dispatch(event);
            self.outputs.reverse();
        }
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.client.state()
    }

    /// The client id in effect.
    pub fn client_id(&self) -> &str {
        self.client.client_id()
    }

    /// The client underneath, to read.
    pub fn client(&self) -> &Client {
        &self.client
    }

    // ----- the dispatch ---------------------------------------------------------------

    fn dispatch(&mut self, event: Event) {
        let output = match event {
            Event::StateChanged(state) => return self.state_changed(state),
            Event::Message(message) => return self.route(message),
            Event::PublishSettled { id, outcome } => {
                let Some((done, qos)) = self.publishes.take(id.0) else {
                    return;
                };
                let result = match outcome {
                    PublishOutcome::Sent | PublishOutcome::Acked => Ok((id, qos)),
                    PublishOutcome::Expired => Err(Failure::Expired),
                    PublishOutcome::Failed(f) => Err(Failure::from(f)),
                };
                Output::Published(done, result)
            }
            Event::Receipt {
                id,
                status,
                delivered,
                failed,
            } => Output::Receipt {
                id,
                status,
                delivered,
                failed,
            },
            Event::Subscribed {
                request, result, ..
            } => return self.subscribed(request, result.map_err(Failure::from)),
            Event::Unsubscribed {
                request, result, ..
            } => {
                let Some(done) = self.unsubscribes.take(request) else {
                    return;
                };
                Output::Request(done, result.map_err(Failure::from))
            }
            Event::AdminResult { request, result } => {
                let Some(done) = self.admin.take(request) else {
                    return;
                };
                Output::Admin(done, result.map_err(Failure::from))
            }
            Event::Restored { subscriptions } => Output::Restored { subscriptions },
            Event::SubscriptionLost { filter, error } => {
                self.subscriptions.retain(|(f, _)| *f != filter);
                Output::SubscriptionLost { filter, error }
            }
            Event::Presence {
                filter,
                kind,
                members,
            } => Output::Presence {
                filter,
                kind,
                members,
            },
            Event::DeliveryRejected {
                topic,
                publisher,
                error,
                envelope,
            } => Output::DeliveryRejected {
                topic,
                publisher,
                error,
                envelope,
            },
            Event::ServerError(e) => Output::ServerError(e),
        };
        self.outputs.push(output);
    }

    /// Hands a message to every matching subscription, or keeps it for one to come.
    fn route(&mut self, message: Message) {
        let sinks: Vec<H::Sink> = self
            .subscriptions
            .iter()
            .filter(|(filter, _)| filter.matches(&message.topic))
            .map(|(_, sink)| sink.clone())
            .collect();
        if sinks.is_empty() {
            self.unrouted.push(message);
        } else {
            self.outputs.push(Output::Deliver(message, sinks));
        }
    }

    fn subscribed(&mut self, request: RequestId, result: Result<(), Failure>) {
        let Some((filter, sink, done)) = self.subscribes.take(request) else {
            return;
        };
        let ok = result.is_ok();
        self.outputs.push(Output::Request(done, result));
        if !ok {
            return;
        }
        // Messages that waited for this subscription go to it first, oldest first.
        for message in self.unrouted.claim(&filter) {
            self.outputs
                .push(Output::Deliver(message, vec![sink.clone()]));
        }
        self.subscriptions.push((filter, sink));
    }

    fn state_changed(&mut self, state: State) {
        let settle_connect = match &state {
            State::Connected { .. } => self.connect.take().map(Output::Connected),
            // Every URL was tried once and failed (the attempt that comes next is the
            // second round's first).
            State::Reconnecting {
                attempt,
                reason,
                error,
                ..
            } if *attempt as usize > self.client.url_count() => {
                // The first round of attempts failed: the application hears it now instead
                // of waiting through the backoff, and the client it never got stops.
                self.connect.take().map(|connect| {
                    let url = self.client.url().to_owned();
                    let failure = match error {
                        Some(error) => Failure::Unavailable {
                            url,
                            error: error.clone(),
                        },
                        None => Failure::Unreachable {
                            url,
                            reason: reason.clone(),
                        },
                    };
                    self.client.close(self.now);
                    Output::ConnectFailed(connect, failure)
                })
            }
            State::Closed { reason } => {
                self.fail_all(reason);
                let connect = self.connect.take();
                connect.map(|connect| Output::ConnectFailed(connect, Failure::from(reason)))
            }
            State::Connecting { .. } | State::Reconnecting { .. } => None,
        };
        // Listeners see the new state before `connect()` settles, as they would in any
        // order of a driver's event loop.
        self.outputs.push(Output::State(state));
        self.outputs.extend(settle_connect);
    }

    /// Fails whatever still waits once the client is closed for `reason`. The client
    /// settles its publishes and requests itself as it closes; this catches anything left,
    /// so no promise or future waits forever.
    fn fail_all(&mut self, reason: &CloseReason) {
        self.subscriptions.clear();
        let failed = || Failure::from(reason);
        for (_, (_, _, done)) in self.subscribes.drain() {
            self.outputs.push(Output::Request(done, Err(failed())));
        }
        for (_, done) in self.unsubscribes.drain() {
            self.outputs.push(Output::Request(done, Err(failed())));
        }
        for (_, (done, _)) in self.publishes.drain() {
            self.outputs.push(Output::Published(done, Err(failed())));
        }
        for (_, done) in self.admin.drain() {
            self.outputs.push(Output::Admin(done, Err(failed())));
        }
    }
}
