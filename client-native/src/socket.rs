//! The WebSocket side of the driver: connecting, closing, and futures that wait on what
//! may not be there (no socket yet, no timer armed).

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub(crate) type Connecting = Pin<Box<dyn Future<Output = Result<Ws, String>> + Send>>;

/// How long a close handshake may take.
pub(crate) const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) async fn connect(url: String, config: WebSocketConfig) -> Result<Ws, String> {
    match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await {
        Ok((ws, _)) => Ok(ws),
        Err(e) => Err(e.to_string()),
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

pub(crate) async fn maybe(connecting: &mut Option<Connecting>) -> Result<Ws, String> {
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
