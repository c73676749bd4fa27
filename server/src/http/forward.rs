//! Admin requests forwarded to the node that serves their session (several nodes on one
//! Redis): the same method, path, credential and body, over HTTP/1.1 to the owner's
//! advertised address, with the nodes' secret and the client's address; the owner's answer
//! goes back as it is.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::admin::{error, MAX_BODY};
use super::Body;
use crate::cluster::{CLIENT_HEADER, NODE_HEADER};

/// Longest a forwarded request may take, connecting included.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// An admin request as it came.
#[derive(Debug)]
pub(crate) struct RawRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) body: Bytes,
}

/// Runs `raw` on the node whose WebSocket URL is `url` and returns its answer; a 502
/// `session_moved` if that node cannot be reached.
pub(crate) async fn admin(
    raw: &RawRequest,
    url: &str,
    secret: &str,
    peer: IpAddr,
) -> Response<Body> {
    match tokio::time::timeout(FORWARD_TIMEOUT, send(raw, url, secret, peer)).await {
        Ok(Ok(response)) => response,
        Ok(Err(why)) => {
            tracing::info!(%url, "admin request not forwarded: {why}");
            let message = format!("the node that serves the session cannot be reached: {why}");
            error(StatusCode::BAD_GATEWAY, "session_moved", &message)
        }
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "internal_error",
            "the node that serves the session did not answer",
        ),
    }
}

async fn send(
    raw: &RawRequest,
    url: &str,
    secret: &str,
    peer: IpAddr,
) -> Result<Response<Body>, String> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("`{url}` is not a ws:// URL"))?;
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut request = Request::builder()
        .method(raw.method.clone())
        .uri(raw.path.as_str())
        .header(header::HOST, authority)
        .header(NODE_HEADER, secret)
        .header(CLIENT_HEADER, peer.to_string());
    if let Some(value) = &raw.content_type {
        request = request.header(header::CONTENT_TYPE, value);
    }
    if let Some(value) = &raw.authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = request
        .body(Full::new(raw.body.clone()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let mut answer = Response::new(Full::new(body));
    *answer.status_mut() = parts.status;
    for name in [
        header::CONTENT_TYPE,
        header::WWW_AUTHENTICATE,
        header::ALLOW,
    ] {
        if let Some(value) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    Ok(answer)
}
