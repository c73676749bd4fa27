//! What the client's handles ask of the driver, and the handles the driver answers with.

use std::sync::Arc;

use bytes::Bytes;
use fastport_client_core::codec::{AdminOp, SessionConfig};
use fastport_client_core::crypto::Keyring;
use fastport_client_core::dispatch::Handles;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::PublishOptions;
use tokio::sync::{mpsc, oneshot};

use crate::{Error, Message};

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

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// The driver's handles: channels and oneshot replies.
#[derive(Debug)]
pub(crate) struct Tokio;

impl Handles for Tokio {
    type Sink = Arc<Sink>;
    type Connect = oneshot::Sender<Result<(), Error>>;
    type Request = Reply<()>;
    type Publish = Reply<crate::Published>;
    type Admin = Reply<SessionConfig>;
}

/// A subscription's channel, and its filter to name it when it lags.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) filter: TopicFilter,
    pub(crate) messages: mpsc::Sender<Message>,
}
