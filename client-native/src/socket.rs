//! The WebSocket side of the driver: connecting, closing, and futures that wait on what
//! may not be there (no socket yet, no timer armed).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{
    connect_async_tls_with_config, Connector, MaybeTlsStream, WebSocketStream,
};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub(crate) type Connecting = Pin<Box<dyn Future<Output = Result<Ws, ConnectError>> + Send>>;

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) struct ConnectError {
    /// What the core and the application hear.
    pub(crate) reason: String,
    /// The host whose certificate was not trusted and why, if that was it.
    pub(crate) untrusted: Option<(String, String)>,
}

/// How long a close handshake may take.
pub(crate) const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the WebSocket; `wss://` with `tls` (plain `ws://` ignores it).
pub(crate) async fn connect(
    url: String,
    config: WebSocketConfig,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Ws, ConnectError> {
    let connector = Some(Connector::Rustls(tls));
    match connect_async_tls_with_config(url.as_str(), Some(config), true, connector).await {
        Ok((ws, _)) => Ok(ws),
        Err(e) => Err(match certificate_problem(&e) {
            Some(problem) => ConnectError {
                reason: format!("the server's TLS certificate is not trusted: {problem}"),
                untrusted: Some((host_of(&url).to_owned(), problem)),
            },
            None => ConnectError {
                reason: e.to_string(),
                untrusted: None,
            },
        }),
    }
}

/// What was wrong with the server's certificate, if the handshake failed on it.
fn certificate_problem(e: &WsError) -> Option<String> {
    let WsError::Io(io) = e else {
        return None;
    };
    match io.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(problem) => Some(describe_certificate(problem)),
        _ => None,
    }
}

fn describe_certificate(problem: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match problem {
        E::UnknownIssuer => "signed by an unknown certificate authority".into(),
        E::Expired | E::ExpiredContext { .. } => "expired".into(),
        E::NotValidYet | E::NotValidYetContext { .. } => "not valid yet".into(),
        E::NotValidForName | E::NotValidForNameContext { .. } => "issued for another name".into(),
        E::Revoked => "revoked".into(),
        E::BadSignature => "its signature is invalid".into(),
        other => format!("{other:?}"),
    }
}

/// The host of a `ws://` or `wss://` URL (an IPv6 address keeps its brackets).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    }
}

pub(crate) fn close_in_background(mut ws: Ws, code: u16, reason: String) {
    tokio::spawn(async move {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(Some(frame))).await;
    });
}

pub(crate) async fn maybe(connecting: &mut Option<Connecting>) -> Result<Ws, ConnectError> {
    match connecting {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

pub(crate) async fn next_message(ws: &mut Option<Ws>) -> Option<Result<WsMessage, String>> {
    match ws {
        Some(ws) => ws.next().await.map(|r| r.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_of_a_url_drops_scheme_port_path_and_credentials() {
        assert_eq!(host_of("wss://chat.example.com/ws"), "chat.example.com");
        assert_eq!(
            host_of("wss://chat.example.com:8443/ws"),
            "chat.example.com"
        );
        assert_eq!(host_of("ws://user:pw@127.0.0.1:80/ws?x"), "127.0.0.1");
        assert_eq!(host_of("wss://[::1]:8443/ws"), "[::1]");
        assert_eq!(host_of("wss://[::1]/ws"), "[::1]");
    }
}
