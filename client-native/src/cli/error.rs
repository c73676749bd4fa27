//! What ends a command early: a message for stderr and an exit code.

use fastport_client::{CloseReason, Error};
use fastport_client_core::codec::ErrorCode;

/// Exit code of a runtime failure: unreachable, refused, timed out.
pub const RUNTIME: u8 = 1;
/// Exit code of a usage mistake: a bad flag or value (clap uses it too).
pub const USAGE: u8 = 2;
/// Exit code of `pub --wait-delivered` when the receipt says not delivered.
pub const NOT_DELIVERED: u8 = 3;
/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The exit code.
    pub code: u8,
    /// One line naming the problem (empty: print nothing).
    pub message: String,
}

impl CliError {
    /// A usage mistake (exit 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: USAGE,
            message: message.into(),
        }
    }

    /// A runtime failure (exit 1).
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError {
            code: RUNTIME,
            message: message.into(),
        }
    }

    /// Ctrl-C: nothing to say.
    pub fn interrupted() -> CliError {
        CliError {
            code: INTERRUPTED,
            message: String::new(),
        }
    }
}

impl From<Error> for CliError {
    /// Errors the user can fix by changing the command line are usage errors; the rest
    /// (the server's answers, the network) are runtime failures.
    fn from(e: Error) -> CliError {
        match &e {
            // The server answered but refused for now (suspended session, too many
            // connections): the address is right.
            Error::Unavailable { .. } => CliError::runtime(e.to_string()),
            Error::Unreachable { .. } => CliError::runtime(format!(
                "{e} (is the server running there? check --url / FASTPORT_URL)"
            )),
            Error::UntrustedCertificate { .. } => CliError::runtime(format!(
                "{e}; if a private CA signed it, trust that CA with --ca-file / FASTPORT_CA_FILE"
            )),
            Error::CaFile { .. } => CliError::usage(format!("--ca-file / FASTPORT_CA_FILE: {e}")),
            Error::Url(_) => CliError::usage(format!("--url / FASTPORT_URL: {e}")),
            Error::Topic(_) | Error::Name(_) | Error::Crypto(_) => CliError::usage(e.to_string()),
            _ => match flag_hint(e.code()) {
                Some(hint) => CliError::runtime(format!("{e}; {hint}")),
                None => CliError::runtime(e.to_string()),
            },
        }
    }
}

/// Which flag to look at for a refusal the user can fix on the command line.
fn flag_hint(code: Option<ErrorCode>) -> Option<&'static str> {
    match code? {
        ErrorCode::BAD_CREDENTIALS => Some(
            "check --session and --password / FASTPORT_PASSWORD (the server answers an unknown \
             session like a wrong password)",
        ),
        ErrorCode::UNKNOWN_SESSION => {
            Some("check --session, or create it with `fastport session create`")
        }
        ErrorCode::MESSAGE_TOO_LARGE => Some("the session's max_message_size is the limit"),
        _ => None,
    }
}

/// The error for a client that closed for good (its subscriptions ended).
pub fn closed(reason: &CloseReason) -> CliError {
    match reason {
        CloseReason::Fatal(e) => Error::Refused(e.clone()).into(),
        CloseReason::GaveUp { attempts } => {
            CliError::runtime(format!("gave up after {attempts} connection attempts"))
        }
        CloseReason::Local => CliError::runtime("the connection was closed"),
        other => CliError::runtime(format!("the connection ended: {other:?}")),
    }
}

/// The admin-only connection of an admin command was refused: it logs in with the
/// command's own credential, so this is a wrong secret key or admin token.
pub fn admin_login(e: Error, session: &str, creating: bool, credential: &str) -> CliError {
    if e.code() != Some(ErrorCode::BAD_CREDENTIALS) {
        return e.into();
    }
    if creating && credential.is_empty() {
        return CliError::runtime(
            "creating a session needs the server's admin token (bad_credentials); give \
             --admin-token / FASTPORT_ADMIN_TOKEN (a server without one creates sessions only \
             with --open-session-creation)",
        );
    }
    CliError::runtime(wrong_credential(session, creating, "bad_credentials"))
}

fn wrong_credential(session: &str, creating: bool, code: &str) -> String {
    if creating {
        format!(
            "the server refused the admin token ({code}); check --admin-token / \
             FASTPORT_ADMIN_TOKEN (a server without one creates sessions only with \
             --open-session-creation)"
        )
    } else {
        format!(
            "wrong secret for session `{session}`, or no such session ({code}); \
             check --secret / FASTPORT_SECRET"
        )
    }
}

/// An admin command's failure, in the words of the command that failed.
pub fn admin(e: Error, session: &str, creating: bool) -> CliError {
    let (code, server) = match &e {
        Error::Server(s) => (s.code, s.message.as_str()),
        _ => return e.into(),
    };
    let detail = if server.is_empty() {
        String::new()
    } else {
        format!(": {server}")
    };
    let message = match code {
        ErrorCode::NOT_AUTHORIZED => wrong_credential(session, creating, "not_authorized"),
        ErrorCode::UNKNOWN_SESSION => {
            format!("there is no session `{session}` on the server (unknown_session)")
        }
        ErrorCode::SESSION_EXISTS => {
            format!("session `{session}` already exists (session_exists)")
        }
        ErrorCode::INVALID_CONFIG => {
            format!("the server refused a setting (invalid_config{detail})")
        }
        ErrorCode::INVALID_NAME => {
            format!("`{session}` is not a valid session name (invalid_name{detail})")
        }
        _ => return e.into(),
    };
    CliError::runtime(message)
}

#[cfg(test)]
mod tests {
    use fastport_client_core::client::ServerError;

    use super::*;

    fn server(code: ErrorCode) -> Error {
        Error::Server(ServerError {
            code,
            message: String::new(),
        })
    }

    #[test]
    fn a_wrong_secret_names_the_flag_and_the_session() {
        let e = admin(server(ErrorCode::NOT_AUTHORIZED), "team", false);
        assert_eq!(e.code, RUNTIME);
        assert!(
            e.message.contains("wrong secret for session `team`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("--secret"), "{}", e.message);
        let e = admin(server(ErrorCode::NOT_AUTHORIZED), "team", true);
        assert!(e.message.contains("--admin-token"), "{}", e.message);
    }

    #[test]
    fn an_unreachable_server_is_a_runtime_failure_naming_the_url() {
        let e: CliError = Error::Unreachable {
            url: "ws://127.0.0.1:1/ws".into(),
            reason: "Connection refused".into(),
        }
        .into();
        assert_eq!(e.code, RUNTIME);
        assert!(e.message.contains("ws://127.0.0.1:1/ws"), "{}", e.message);
        let e: CliError = Error::Unavailable {
            url: "ws://127.0.0.1:1/ws".into(),
            error: fastport_client_core::client::ServerError {
                code: ErrorCode::SESSION_SUSPENDED,
                message: "session `team` is suspended".into(),
            },
        }
        .into();
        assert_eq!(e.code, RUNTIME);
        assert!(e.message.contains("suspended"), "{}", e.message);
        assert!(
            !e.message.contains("is the server running"),
            "{}",
            e.message
        );
        let e: CliError = Error::Url("http://x".into()).into();
        assert_eq!(e.code, USAGE);
    }

    #[test]
    fn an_untrusted_certificate_names_the_host_and_the_ca_file_flag() {
        let e: CliError = Error::UntrustedCertificate {
            url: "wss://chat.example.com/ws".into(),
            host: "chat.example.com".into(),
            reason: "expired".into(),
        }
        .into();
        assert_eq!(e.code, RUNTIME);
        assert!(
            e.message
                .contains("TLS certificate of chat.example.com is not trusted"),
            "{}",
            e.message
        );
        assert!(e.message.contains("--ca-file"), "{}", e.message);
        let e: CliError = Error::CaFile {
            path: "ca.pem".into(),
            reason: "No such file or directory".into(),
        }
        .into();
        assert_eq!(e.code, USAGE);
        assert!(e.message.contains("ca.pem"), "{}", e.message);
    }
}
