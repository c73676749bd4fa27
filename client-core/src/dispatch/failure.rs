//! One failure type for every command's outcome, so that each driver maps it once to its
//! own error (a `FastPortError` object in JavaScript, `fastport_client::Error` in Rust).

use crate::client::{ClientError, CloseReason, PublishFailure, RequestFailure, ServerError};

/// Why something the application asked for did not happen. [`Failure::code`] is stable
/// (the browser SDK's `FastPortError.code`); the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The server refused the request or the publish.
    #[error("{}", .0.message)]
    Server(ServerError),
    /// The server refused the client for good (bad password, unknown or dropped session,
    /// taken over): nothing more will be sent.
    #[error("{}", .0.message)]
    Refused(ServerError),
    /// The first connection attempt could not reach the server.
    #[error("cannot connect to {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered the first attempt but refused it for now (session suspended,
    /// too many connections, shutting down): retrying later may work.
    #[error("{} (the server is refusing connections)", .error.message)]
    Unavailable {
        /// The URL tried.
        url: String,
        /// The server's reason.
        error: ServerError,
    },
    /// The client gave up reconnecting after this many consecutive attempts.
    #[error("gave up after {attempts} connection attempts")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
    /// The connection dropped before an admin request was answered; it may or may not
    /// have taken effect.
    #[error("connection lost before the server answered")]
    ConnectionLost,
    /// The publish deadline passed before the server acked it.
    #[error("the publish deadline passed before the server acked it")]
    Expired,
    /// The publish was sent this many times without an ack.
    #[error("no ack after {attempts} attempts")]
    RetriesExhausted {
        /// Sends made.
        attempts: u32,
    },
    /// The application closed the client first.
    #[error("the client was closed")]
    Closed,
    /// The command was wrong or came at the wrong time; nothing was sent.
    #[error(transparent)]
    Client(ClientError),
}

impl Failure {
    /// The stable code: the server error code's name (`bad_credentials`,
    /// `message_too_large`, ...) when the server gave one, else the client's own.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Server(e) | Failure::Refused(e) | Failure::Unavailable { error: e, .. } => {
                e.code.name()
            }
            Failure::Unreachable { .. } | Failure::GaveUp { .. } => "unreachable",
            Failure::ConnectionLost => "connection_lost",
            Failure::Expired => "expired",
            Failure::RetriesExhausted { .. } => "retries_exhausted",
            Failure::Closed => "closed",
            Failure::Client(e) => match e {
                ClientError::Closed => "closed",
                ClientError::OutboxFull { .. } => "outbox_full",
                ClientError::MessageTooLarge { .. } => "message_too_large",
                ClientError::NoKey(_) => "no_key",
                ClientError::ForbiddenTopic(_) => "forbidden_topic",
                ClientError::Crypto(_) => "crypto",
                ClientError::AdminOnly => "admin_only",
            },
        }
    }

    /// The server's error, when the server gave one.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Failure::Server(e) | Failure::Refused(e) | Failure::Unavailable { error: e, .. } => {
                Some(e)
            }
            _ => None,
        }
    }
}

impl From<&CloseReason> for Failure {
    fn from(reason: &CloseReason) -> Failure {
        match reason {
            CloseReason::Local => Failure::Closed,
            CloseReason::Fatal(e) => Failure::Refused(e.clone()),
            CloseReason::GaveUp { attempts } => Failure::GaveUp {
                attempts: *attempts,
            },
        }
    }
}

impl From<RequestFailure> for Failure {
    fn from(failure: RequestFailure) -> Failure {
        match failure {
            RequestFailure::Server(e) => Failure::Server(e),
            RequestFailure::ConnectionLost => Failure::ConnectionLost,
            RequestFailure::Closed => Failure::Closed,
        }
    }
}

impl From<PublishFailure> for Failure {
    fn from(failure: PublishFailure) -> Failure {
        match failure {
            PublishFailure::Server(e) => Failure::Server(e),
            PublishFailure::RetriesExhausted { attempts } => Failure::RetriesExhausted { attempts },
            PublishFailure::Closed => Failure::Closed,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(e)
    }
}
