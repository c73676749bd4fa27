//! Errors of the native client, each naming the problem in words a user can act on.

use fastport_client_core::client::{ClientError, CloseReason, ServerError};
use fastport_client_core::codec::ErrorCode;
use fastport_client_core::crypto::CryptoError;
use fastport_client_core::dispatch::Failure;
use fastport_client_core::names::NameError;
use fastport_client_core::topic::TopicError;

/// Everything that can go wrong, from bad options to the server refusing a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server could not be reached on the first attempt.
    #[error("cannot connect to {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered the first attempt but refused it for now (session suspended,
    /// too many connections, shutting down): retrying later may work.
    #[error("{url} is refusing connections for now: {}", describe_refusal(.error))]
    Unavailable {
        /// The URL tried.
        url: String,
        /// The server's reason.
        error: ServerError,
    },
    /// The server's TLS certificate is not trusted (signed by an unknown authority,
    /// expired, for another name...) on the first attempt. Not retried: it fails the same
    /// way until the server's certificate or the client's trusted roots change.
    #[error("the TLS certificate of {host} is not trusted: {reason}")]
    UntrustedCertificate {
        /// The URL tried.
        url: String,
        /// The server's host name (or address), as in the URL.
        host: String,
        /// What rustls found wrong with it.
        reason: String,
    },
    /// A CA file ([`crate::Options::ca_file`]) cannot be read or holds no usable
    /// certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server refused the client for good (bad password, unknown session, ...).
    #[error("{}", describe_refusal(.0))]
    Refused(ServerError),
    /// The client gave up reconnecting, or was closed.
    #[error("the client is closed: {0}")]
    Closed(String),
    /// The server refused a request.
    #[error("{}", describe_refusal(.0))]
    Server(ServerError),
    /// The connection dropped before an admin request was answered; it may or may not have
    /// taken effect.
    #[error("the connection dropped before the server answered")]
    ConnectionLost,
    /// A publish was not acknowledged in time or within its attempts.
    #[error("publish failed: {0}")]
    Publish(String),
    /// The request was wrong before anything was sent.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A topic breaks the topic rules.
    #[error("invalid topic: {0}")]
    Topic(#[from] TopicError),
    /// A name breaks the naming rules.
    #[error("invalid name: {0}")]
    Name(#[from] NameError),
    /// A key could not be made or read.
    #[error("key: {0}")]
    Crypto(#[from] CryptoError),
    /// The URL is not a `ws://` or `wss://` URL.
    #[error("invalid URL `{0}`: expected ws://HOST:PORT/PATH")]
    Url(String),
}

impl Error {
    /// The protocol error code, when the server gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Refused(e) | Error::Server(e) => Some(e.code),
            Error::Unavailable { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// The error for a client that closed for `reason`.
    pub fn from_close(reason: &CloseReason) -> Error {
        Error::from(Failure::from(reason))
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        match failure {
            Failure::Server(e) => Error::Server(e),
            Failure::Refused(e) => Error::Refused(e),
            Failure::Unreachable { url, reason } => Error::Unreachable { url, reason },
            Failure::Unavailable { url, error } => Error::Unavailable { url, error },
            Failure::ConnectionLost => Error::ConnectionLost,
            Failure::Client(e) => Error::Client(e),
            Failure::GaveUp { .. } | Failure::Closed => Error::Closed(failure.to_string()),
            Failure::Expired | Failure::RetriesExhausted { .. } => {
                Error::Publish(failure.to_string())
            }
        }
    }
}

/// Turns a server error into a sentence: "wrong password for session `demo`
/// (bad_credentials)".
fn describe_refusal(e: &ServerError) -> String {
    let message = if e.message.is_empty() {
        e.code.name()
    } else {
        e.message.as_str()
    };
    format!("{message} ({})", e.code.name())
}
