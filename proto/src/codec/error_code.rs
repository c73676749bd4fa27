//! Error codes: one table for error frames, acks, admin results and close codes.

use core::fmt;

/// A protocol error code (u16 on the wire).
///
/// A newtype rather than an enum so that a code added by a newer peer is still
/// representable; [`ErrorCode::name`] gives the stable snake_case string that the
/// JavaScript SDK exposes as `error.code`. Errors that end the connection are also sent
/// as the WebSocket close code `4000 + code`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u16);

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $str:literal, $fatal:literal; )*) => {
        impl ErrorCode {
            $( $(#[$doc])* pub const $name: ErrorCode = ErrorCode($value); )*

            /// The stable snake_case name of the code, `"unknown"` for codes this
            /// version does not know.
            pub fn name(self) -> &'static str {
                // One static table (the codes are dense from 0, see `ALL`), not a `match`:
                // inlined in several crates, a `match` gave each its own copy of the names.
                static NAMES: &[&str] = &[$( $str, )*];
                NAMES.get(usize::from(self.0)).copied().unwrap_or("unknown")
            }

            /// Whether a client must not reconnect after the connection ended with this
            /// code (retrying would fail the same way, or fight another connection).
            pub fn is_fatal(self) -> bool {
                match self.0 {
                    $( $value => $fatal, )*
                    _ => false,
                }
            }

            /// Every code this version defines, in order.
            pub const ALL: &'static [ErrorCode] = &[$( ErrorCode($value), )*];
        }
    };
}

codes! {
    /// Success (acks and admin results only).
    OK = 0, "ok", false;
    /// A frame could not be decoded, or came in the wrong state.
    PROTOCOL_ERROR = 1, "protocol_error", true;
    /// The `Hello` carried a protocol version the server does not speak.
    UNSUPPORTED_VERSION = 2, "unsupported_version", true;
    /// A frame other than `Hello` arrived before the handshake, or `Hello` twice.
    NOT_AUTHENTICATED = 3, "not_authenticated", true;
    /// Wrong session password.
    BAD_CREDENTIALS = 4, "bad_credentials", true;
    /// No session of that name exists on the server.
    UNKNOWN_SESSION = 5, "unknown_session", true;
    /// The session is suspended; it may be resumed later, so clients keep retrying.
    SESSION_SUSPENDED = 6, "session_suspended", false;
    /// The session was dropped.
    SESSION_DROPPED = 7, "session_dropped", true;
    /// A newer connection with the same client id took over this one.
    CLIENT_ID_TAKEN_OVER = 8, "client_id_taken_over", true;
    /// Nothing arrived within the keepalive timeout.
    KEEPALIVE_TIMEOUT = 9, "keepalive_timeout", false;
    /// The connection could not keep up and the session's policy disconnects it.
    SLOW_CONSUMER = 10, "slow_consumer", false;
    /// The server is shutting down.
    SERVER_SHUTTING_DOWN = 11, "server_shutting_down", false;
    /// The session or server has no room for another connection.
    TOO_MANY_CONNECTIONS = 12, "too_many_connections", false;
    /// A message exceeds the session's maximum message size.
    MESSAGE_TOO_LARGE = 13, "message_too_large", false;
    /// A topic name breaks the topic rules.
    INVALID_TOPIC = 14, "invalid_topic", false;
    /// A topic filter breaks the filter rules.
    INVALID_FILTER = 15, "invalid_filter", false;
    /// The connection has as many subscriptions as the session allows.
    TOO_MANY_SUBSCRIPTIONS = 16, "too_many_subscriptions", false;
    /// Wrong admin token or session secret key.
    NOT_AUTHORIZED = 17, "not_authorized", false;
    /// A session of that name already exists.
    SESSION_EXISTS = 18, "session_exists", false;
    /// A session configuration value is out of range.
    INVALID_CONFIG = 19, "invalid_config", false;
    /// Too many requests in too short a time.
    RATE_LIMITED = 20, "rate_limited", false;
    /// Clients may not publish to `$`-topics, which the server reserves.
    FORBIDDEN_TOPIC = 21, "forbidden_topic", false;
    /// The server failed; the request may be retried.
    INTERNAL_ERROR = 22, "internal_error", false;
    /// The message cache of the session is full.
    QUEUE_FULL = 23, "queue_full", false;
    /// A session name, client id or display name breaks the naming rules.
    INVALID_NAME = 24, "invalid_name", true;
    /// The server holds as many sessions as it allows.
    TOO_MANY_SESSIONS = 25, "too_many_sessions", false;
    /// The client id has a connection or resumable state in the session, and the `Hello`
    /// did not carry its resume token. Clients retry: the id is free once its holder's
    /// connection ends (and, for a resumable client, its state expires).
    CLIENT_ID_IN_USE = 26, "client_id_in_use", false;
    /// A password, secret key or token is longer than 1 KiB, or the first message of a
    /// connection is longer than 4 KiB (which only such a credential makes it).
    CREDENTIAL_TOO_LARGE = 27, "credential_too_large", true;
    /// The server's storage (its Redis engine) is unreachable: the QoS 1 publish was not
    /// taken (never acknowledged and then lost). Clients resend it, as after `queue_full`.
    STORAGE_UNAVAILABLE = 28, "storage_unavailable", false;
    /// The session is now served by another node of the service (several nodes sharing one
    /// Redis): the connection is closed so that its client reconnects, to any node, and
    /// resumes there.
    SESSION_MOVED = 29, "session_moved", false;
}

impl ErrorCode {
    /// The WebSocket close code for a connection that ends with this error.
    pub fn close_code(self) -> u16 {
        4000u16.saturating_add(self.0)
    }

    /// The error code of a WebSocket close code, if it is one of ours.
    pub fn from_close_code(code: u16) -> Option<ErrorCode> {
        (4000..5000).contains(&code).then(|| ErrorCode(code - 4000))
    }

    /// Whether this is [`ErrorCode::OK`].
    pub fn is_ok(self) -> bool {
        self == ErrorCode::OK
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCode({} {})", self.0, self.name())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn codes_are_dense_and_names_are_unique() {
        // `name` indexes its table by the code, so it relies on this.
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(usize::from(code.0), i);
        }
        assert_eq!(ErrorCode::OK.name(), "ok");
        assert_eq!(ErrorCode::INVALID_FILTER.name(), "invalid_filter");
        assert_eq!(ErrorCode::TOO_MANY_SESSIONS.name(), "too_many_sessions");
        let first_unknown = ErrorCode(ErrorCode::ALL.len() as u16);
        assert_eq!(first_unknown.name(), "unknown");
        assert_eq!(ErrorCode(u16::MAX).name(), "unknown");
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn the_protocol_guide_has_a_row_per_code_with_its_name_and_fatality() {
        let guide = include_str!("../../../docs/PROTOCOL.md");
        for code in ErrorCode::ALL {
            let prefix = format!("| {} | `{}` | ", code.0, code.name());
            let row = guide
                .lines()
                .find(|line| line.starts_with(&prefix))
                .unwrap_or_else(|| panic!("docs/PROTOCOL.md has no row `{prefix}...`"));
            let fatal = row[prefix.len()..].starts_with("yes");
            assert_eq!(fatal, code.is_fatal(), "{row}");
        }
    }

    #[test]
    fn close_codes_map_back_to_error_codes() {
        assert_eq!(ErrorCode::BAD_CREDENTIALS.close_code(), 4004);
        assert_eq!(
            ErrorCode::from_close_code(4004),
            Some(ErrorCode::BAD_CREDENTIALS)
        );
        assert_eq!(ErrorCode::from_close_code(1000), None);
        assert_eq!(ErrorCode(999).name(), "unknown");
        assert!(!ErrorCode(999).is_fatal());
    }
}
