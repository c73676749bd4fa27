//! fastPort for Rust applications and devices: an async client on tokio, with end-to-end
//! encryption, automatic reconnects, re-subscription and publish retries.
//!
//! ```no_run
//! use fastport_client::{Client, Key, Options, Qos};
//!
//! # async fn run() -> Result<(), fastport_client::Error> {
//! let key = Key::from_base64("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")?;
//! let options = Options::new("ws://127.0.0.1:8080/ws", "demo", "demo")?.key(key);
//! let client = Client::connect(options).await?;
//!
//! let mut sensors = client.subscribe("sensors/+/room1").await?;
//! let published = client.publish("sensors/temperature/room1", b"21.5", Qos::AtLeastOnce).await?;
//! let message = sensors.next().await.expect("the subscription is open");
//! assert_eq!(message.payload, b"21.5");
//! let receipt = published.receipt().await; // delivered to every subscriber?
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! A `wss://` URL connects over TLS (rustls) and trusts Mozilla's public roots;
//! [`Options::ca_file`] adds a private CA. An untrusted certificate fails the first
//! connection with [`Error::UntrustedCertificate`].
//!
//! All protocol logic lives in `fastport-client-core`; this crate runs it on a tokio task
//! that owns the WebSocket and one timer.

mod command;
mod driver;
mod error;
mod options;
mod socket;

use std::time::Duration;

use bytes::Bytes;
use fastport_client_core::client::{DeliveryError, PublishId, ServerError};
use fastport_client_core::codec::{AdminOp, Member, PresenceKind, SessionConfig};
use fastport_client_core::names::ClientId;
use fastport_client_core::time::Instant;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Client as Core, PublishOptions};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use error::Error;
pub use fastport_client_core::client::{CloseReason, Message, State};
pub use fastport_client_core::codec::{Qos, ReceiptStatus};
pub use fastport_client_core::crypto::{Key, KeyId, Keyring};
pub use options::Options;

use command::Command;
use driver::Driver;
use fastport_client_core::dispatch::Dispatch;

/// A connected client. Cheap to clone; the connection closes when [`Client::close`] is
/// called or the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<State>,
    events: broadcast::Sender<ClientEvent>,
    client_id: String,
    token: watch::Receiver<String>,
    url: watch::Receiver<String>,
}

/// What became of a QoS 1 message at its subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The publish.
    pub id: PublishId,
    /// The overall outcome.
    pub status: ReceiptStatus,
    /// Subscribers that acked.
    pub delivered: u32,
    /// Subscribers that did not.
    pub failed: u32,
}

/// Things that happen besides messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connection state changed.
    State(State),
    /// A receipt for a QoS 1 publish.
    Receipt(Receipt),
    /// Presence on a filter subscribed with presence.
    Presence {
        /// The filter.
        filter: String,
        /// Snapshot, join or leave.
        kind: PresenceKind,
        /// Members concerned.
        members: Vec<Member>,
    },
    /// A delivery failed verification and was refused.
    Rejected {
        /// Its topic.
        topic: String,
        /// Its publisher.
        publisher: String,
        /// Why.
        error: DeliveryError,
    },
    /// After a (re)connect, every subscription is in place again on the server.
    Restored {
        /// Subscriptions re-established.
        subscriptions: usize,
    },
    /// A subscription the server no longer accepted after a reconnect.
    SubscriptionLost {
        /// Its filter.
        filter: TopicFilter,
        /// Why.
        error: ServerError,
    },
    /// A subscription's queue was full and a message was dropped for it (the
    /// application reads too slowly).
    Lagged {
        /// The subscription.
        filter: TopicFilter,
    },
    /// An error from the server about no particular request.
    ServerError(ServerError),
}

/// A publish the server took (QoS 1: acked) or the transport took (QoS 0).
#[derive(Debug)]
pub struct Published {
    /// The publish's id.
    pub id: PublishId,
    receipt: Option<oneshot::Receiver<Receipt>>,
}

impl Published {
    /// Waits for the delivery receipt (QoS 1). `None` for QoS 0, or if the client closed
    /// first.
    pub async fn receipt(self) -> Option<Receipt> {
        self.receipt?.await.ok()
    }
}

/// The messages of one subscription.
#[derive(Debug)]
pub struct Subscription {
    filter: TopicFilter,
    messages: mpsc::Receiver<Message>,
}

impl Subscription {
    /// The next message; `None` once the client is closed.
    pub async fn next(&mut self) -> Option<Message> {
        self.messages.recv().await
    }

    /// The filter subscribed to.
    pub fn filter(&self) -> &TopicFilter {
        &self.filter
    }
}

impl Client {
    /// Connects and completes the handshake. Fails fast if the first attempt fails; once
    /// connected, the client reconnects on its own with backoff and re-subscribes.
    pub async fn connect(options: Options) -> Result<Client, Error> {
        let epoch = tokio::time::Instant::now();
        let tls = options.tls_config();
        let mut core_config = options.core;
        if core_config.client_id.is_none() {
            core_config.client_id = Some(ClientId::from_random(random_u64()));
        }
        core_config.seed = random_u64();
        let client_id = core_config
            .client_id
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let (first_tx, first) = oneshot::channel();
        let app = Dispatch::new(Core::new(core_config, Instant::ZERO), first_tx);
        let (commands, rx) = mpsc::channel(1024);
        let (state_tx, state) = watch::channel(app.state());
        let (token_tx, token) = watch::channel(app.client().resume_token().to_owned());
        let (url_tx, url) = watch::channel(app.client().url().to_owned());
        let (events, _) = broadcast::channel(1024);
        let watches = (state_tx, token_tx, url_tx);
        let driver = Driver::new(
            app,
            epoch,
            options.ws_config,
            tls,
            rx,
            watches,
            events.clone(),
        );
        tokio::spawn(driver.run());
        match first.await {
            Ok(Ok(())) => Ok(Client {
                commands,
                state,
                events,
                client_id,
                token,
                url,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed("the client task ended".into())),
        }
    }

    /// Subscribes to a topic filter (`+` one level, `#` the rest).
    pub async fn subscribe(&self, filter: &str) -> Result<Subscription, Error> {
        self.subscribe_with(filter, false, 4_096).await
    }

    /// Subscribes with presence events (see [`ClientEvent::Presence`]) and a queue of
    /// `capacity` messages for a slow reader.
    pub async fn subscribe_with(
        &self,
        filter: &str,
        presence: bool,
        capacity: usize,
    ) -> Result<Subscription, Error> {
        let filter = TopicFilter::new(filter)?;
        let (sink, messages) = mpsc::channel(capacity.max(1));
        let (reply, answer) = oneshot::channel();
        self.send(Command::Subscribe {
            filter: filter.clone(),
            presence,
            sink,
            reply,
        })
        .await?;
        answer.await.map_err(|_| closed())??;
        Ok(Subscription { filter, messages })
    }

    /// Unsubscribes; every [`Subscription`] of the filter ends.
    pub async fn unsubscribe(&self, filter: &str) -> Result<(), Error> {
        let filter = TopicFilter::new(filter)?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Unsubscribe { filter, reply }).await?;
        answer.await.map_err(|_| closed())?
    }

    /// Seals and publishes `payload`. Resolves when the server acked it (QoS 1; resent
    /// across reconnects until then) or the transport took it (QoS 0).
    pub async fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<Published, Error> {
        let mut options = PublishOptions::default();
        options.qos = qos;
        self.publish_with(topic, payload, options).await
    }

    /// Publishes with explicit options (plaintext, for instance).
    pub async fn publish_with(
        &self,
        topic: &str,
        payload: &[u8],
        options: PublishOptions,
    ) -> Result<Published, Error> {
        let topic = Topic::new(topic)?;
        let payload = Bytes::copy_from_slice(payload);
        let (reply, answer) = oneshot::channel();
        self.send(Command::Publish {
            topic,
            payload,
            options,
            reply,
        })
        .await?;
        answer.await.map_err(|_| closed())?
    }

    /// Sets the keyring for topics matching `filter` (a private channel), or the default
    /// keyring with `None`.
    pub async fn set_keys(&self, filter: Option<&str>, ring: Keyring) -> Result<(), Error> {
        let filter = filter.map(TopicFilter::new).transpose()?;
        self.send(Command::SetKeys {
            filter,
            ring: Box::new(ring),
        })
        .await
    }

    /// Runs a session administration operation and returns the session's settings after it.
    pub async fn admin(
        &self,
        session: &str,
        credential: &str,
        op: AdminOp,
    ) -> Result<SessionConfig, Error> {
        let (reply, answer) = oneshot::channel();
        let (session, credential) = (session.to_owned(), credential.to_owned());
        self.send(Command::Admin {
            session,
            credential,
            op: Box::new(op),
            reply,
        })
        .await?;
        answer.await.map_err(|_| closed())?
    }

    /// Connection-state changes, receipts, presence and errors, from now on.
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.events.subscribe()
    }

    /// The current connection state.
    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    /// Waits until the state satisfies `f`, at most `timeout`.
    pub async fn wait_for_state(&self, timeout: Duration, f: impl Fn(&State) -> bool) -> bool {
        let mut rx = self.state.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| f(s)))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The client id in use.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The resume token the server gave this client id in its last `Welcome`: the proof
    /// that the client id is ours. A client that resumes its state after a restart keeps it
    /// with the client id and passes it back with [`Options::resume_token`]; without it the
    /// server refuses the client id (`client_id_in_use`) until the old state expires. It is
    /// a secret: store it like a password.
    pub fn resume_token(&self) -> String {
        self.token.borrow().clone()
    }

    /// The server URL the client is connected to, or connecting to, or (while waiting to
    /// reconnect) last tried: one of the [`Options::urls`]. Up to date when a
    /// [`ClientEvent::State`] is received.
    pub fn url(&self) -> String {
        self.url.borrow().clone()
    }

    /// Skips the backoff wait: reconnect now if disconnected, else check the connection.
    pub async fn reconnect_now(&self) {
        let _ = self.send(Command::ReconnectNow).await;
    }

    /// Closes the connection (waiting, at most 2 s, for the close handshake); pending
    /// publishes fail with "closed".
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Command::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn send(&self, cmd: Command) -> Result<(), Error> {
        self.commands.send(cmd).await.map_err(|_| closed())
    }
}

fn closed() -> Error {
    Error::Closed("the client is closed".into())
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // A failing OS random source leaves zeros: the client id is then still valid, and
    // the seed only drives jitter.
    let _ = getrandom::getrandom(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// `ReceiptStatus` as words for people (the same as [`ReceiptStatus::name`]).
pub fn status_name(status: ReceiptStatus) -> &'static str {
    status.name()
}
