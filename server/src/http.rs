//! The HTTP side of the listener: one function, [`handle`], routes every request.
//!
//! | Path | What |
//! |------|------|
//! | `GET /ws` | WebSocket upgrade; the connection then speaks docs/PROTOCOL.md |
//! | `GET /healthz` | `200 ok` while the router answers (and Redis, with that engine), `503` if it is stuck or gone, or Redis is down |
//! | `GET /metrics` | Prometheus text ([`crate::prometheus`]), behind a token if one is set |
//! | `/admin/sessions...` | The JSON admin API ([`admin`]) |
//!
//! The WebSocket upgrade and the admin API refuse pages of other sites ([`OriginPolicy`]).
//! | any other `GET`/`HEAD` | A static file from the configured directory ([`StaticDir`]) |

pub mod admin;
mod files;
mod forward;
mod origin;
mod proxy;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::Digest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

pub use files::StaticDir;
pub use origin::{HostPolicy, OriginPolicy};
pub use proxy::TrustedProxies;

use crate::broker::ConnId;
use crate::server::{run_connection, BurstRead, LoginLimit, Shared, TaskGuard};

/// The body of every response.
pub type Body = Full<Bytes>;

/// What a request handler needs: the server's shared state, and a guard that keeps a
/// graceful shutdown waiting for a WebSocket started from this request.
#[derive(Debug, Clone)]
pub(crate) struct RequestCtx {
    pub(crate) shared: Arc<Shared>,
    /// The client's address: the TCP peer, or the client a trusted proxy names
    /// ([`TrustedProxies`]).
    pub(crate) peer: IpAddr,
    pub(crate) guard: TaskGuard,
    /// When a WebSocket started from this socket must have sent its `Hello`: the hello
    /// timeout after the socket was accepted.
    pub(crate) hello_deadline: tokio::time::Instant,
    /// Relayed by another node of the cluster (it presented the nodes' secret).
    pub(crate) relayed: bool,
}

/// Answers one request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: RequestCtx,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    // A connection relayed by another node of the cluster: it names its client, and made
    // the host and origin checks already.
    let relayed = match (
        &ctx.shared.cluster,
        req.headers().get(crate::cluster::NODE_HEADER),
    ) {
        (Some(cluster), Some(presented)) => {
            if !cluster.admits(presented.as_bytes()) {
                tracing::warn!(peer = %ctx.peer, "refused: a node header with the wrong secret");
                return Ok(text(StatusCode::FORBIDDEN, "wrong node secret\n"));
            }
            true
        }
        (None, Some(_)) => {
            return Ok(text(
                StatusCode::FORBIDDEN,
                "this server is not part of a cluster\n",
            ))
        }
        _ => false,
    };
    let peer = if relayed {
        req.headers()
            .get(crate::cluster::CLIENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(ctx.peer)
    } else {
        ctx.shared.proxies.client(ctx.peer, req.headers())
    };
    let ctx = RequestCtx {
        peer,
        relayed,
        ..ctx
    };
    if relayed {
        // Only what one node asks another.
        return Ok(match path.as_str() {
            "/ws" => websocket(req, ctx, true),
            p if p == "/admin" || p.starts_with("/admin/") => admin::handle(req, &ctx).await,
            _ => not_found(),
        });
    }
    if let Err(refused) = ctx.shared.hosts.check(req.headers()) {
        tracing::info!(peer = %ctx.peer, %path, "request refused: {}", refused.0);
        return Ok(text(
            StatusCode::MISDIRECTED_REQUEST,
            format!("{}\n", refused.0),
        ));
    }
    let response = match path.as_str() {
        "/ws" => websocket(req, ctx, false),
        "/healthz" if is_read(&method) => healthz(&ctx).await,
        "/metrics" if is_read(&method) => metrics(&req, &ctx).await,
        "/healthz" | "/metrics" => method_not_allowed("GET, HEAD"),
        p if p == "/admin" || p.starts_with("/admin/") => admin::handle(req, &ctx).await,
        _ if is_read(&method) => match &ctx.shared.static_dir {
            Some(dir) => dir.serve(&path).await,
            None => not_found(),
        },
        _ => not_found(),
    };
    let response = if method == Method::HEAD {
        strip_body(response)
    } else {
        response
    };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "http");
    Ok(response)
}

/// The `Authorization: Bearer` credential, if the request has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim().to_owned())
}

/// The token `/metrics` asks for, kept only as its SHA-256 and compared in constant time.
/// (A fast hash suffices: the token is a long random string, not a password people pick.)
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl MetricsToken {
    /// Keeps `token`'s digest.
    pub fn new(token: &str) -> MetricsToken {
        MetricsToken(sha2::Sha256::digest(token.as_bytes()).into())
    }

    fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = bearer(headers) else {
            return false;
        };
        let digest: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
        bool::from(subtle::ConstantTimeEq::ct_eq(&digest[..], &self.0[..]))
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// How long `/healthz` waits for the router to answer before it reports it stuck.
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `200 ok` once the router has drained its inbox up to this request: a router that is
/// stuck, or gone, fails the check.
///
/// With the Redis engine, `503` too while Redis is down (the pinger's last PING or a write
/// failed): the body says `degraded` and why, so a load balancer moves clients to a node
/// whose Redis answers.
async fn healthz(ctx: &RequestCtx) -> Response<Body> {
    match tokio::time::timeout(HEALTH_WAIT, ctx.shared.router.ping()).await {
        Ok(Some(())) => match ctx.shared.engine.health().and_then(|h| h.down_reason()) {
            None => text(StatusCode::OK, "ok\n"),
            Some(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("degraded: the Redis engine is down: {why}\n"),
            ),
        },
        Ok(None) => text(StatusCode::SERVICE_UNAVAILABLE, "the router has stopped\n"),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the router has not answered for 2 s\n",
        ),
    }
}

async fn metrics(req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    if let Some(token) = &ctx.shared.metrics_token {
        if !token.admits(req.headers()) {
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "/metrics needs Authorization: Bearer <metrics token>\n",
            );
            set(&mut response, header::WWW_AUTHENTICATE, "Bearer");
            return response;
        }
    }
    match ctx.shared.router.metrics().await {
        Some(metrics) => {
            let mut sockets = ctx.shared.sockets.metrics();
            sockets.batches_out = ctx.shared.budget.batches_out.load(Ordering::Relaxed);
            let trims = ctx.shared.work.metrics();
            let body = crate::prometheus::render(
                &metrics,
                &sockets,
                &trims,
                ctx.shared.engine.health().map(|h| h.metrics()).as_ref(),
                ctx.shared.store.as_deref(),
                ctx.shared.cluster.as_ref().map(|c| c.metrics()).as_deref(),
                ctx.shared.metrics_per_session,
            );
            let mut response = text(StatusCode::OK, body);
            set(
                &mut response,
                header::CONTENT_TYPE,
                crate::prometheus::CONTENT_TYPE,
            );
            response
        }
        None => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

/// Checks the upgrade request, answers 101, and runs the connection in its own task once
/// hyper hands over the socket.
fn websocket(mut req: Request<Incoming>, ctx: RequestCtx, relayed: bool) -> Response<Body> {
    if req.method() != Method::GET {
        return method_not_allowed("GET");
    }
    if relayed {
        // Checked by the node that relays it.
    } else if let Err(refused) = ctx.shared.origins.check(req.headers()) {
        tracing::info!(peer = %ctx.peer, "WebSocket refused: {}", refused.0);
        return text(StatusCode::FORBIDDEN, format!("{}\n", refused.0));
    }
    let key = match upgrade_key(req.headers()) {
        Ok(key) => key,
        Err(refusal) => return refusal.response(),
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let conn = ConnId(ctx.shared.next_conn.fetch_add(1, Ordering::Relaxed));
    tokio::spawn(async move {
        let RequestCtx {
            shared,
            guard,
            peer,
            hello_deadline,
            ..
        } = ctx;
        match on_upgrade.await {
            Ok(upgraded) => {
                let open = Arc::new(AtomicBool::new(false));
                let io = LoginLimit::new(TokioIo::new(upgraded), open.clone());
                let io = BurstRead::new(io);
                let config = Some(shared.ws_config);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, config).await;
                let router = shared.router.clone();
                let link = crate::server::LinkSetup {
                    conn,
                    peer: Some(peer),
                    router,
                    budget: shared.budget.clone(),
                    hello_deadline,
                    welcomed: open,
                    cluster: shared.cluster.clone(),
                    relayed,
                    ws_config: shared.ws_config,
                };
                run_connection(ws, link).await;
            }
            Err(e) => tracing::debug!(conn = conn.0, "upgrade failed: {e}"),
        }
        drop(guard);
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    set(&mut response, header::UPGRADE, "websocket");
    set(&mut response, header::CONNECTION, "Upgrade");
    if let Ok(value) = HeaderValue::from_str(&accept) {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

/// Why an upgrade request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotAnUpgrade,
    UnsupportedVersion,
    MissingKey,
}

impl Refusal {
    fn response(self) -> Response<Body> {
        let (status, body) = match self {
            Refusal::NotAnUpgrade => (
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks WebSocket only\n",
            ),
            Refusal::UnsupportedVersion => {
                (StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only\n")
            }
            Refusal::MissingKey => (StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n"),
        };
        let mut response = text(status, body);
        match self {
            Refusal::NotAnUpgrade => set(&mut response, header::UPGRADE, "websocket"),
            Refusal::UnsupportedVersion => set(&mut response, header::SEC_WEBSOCKET_VERSION, "13"),
            Refusal::MissingKey => {}
        }
        response
    }
}

/// The `Sec-WebSocket-Key` of a valid upgrade request.
fn upgrade_key(headers: &HeaderMap) -> Result<String, Refusal> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err(Refusal::NotAnUpgrade);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(Refusal::UnsupportedVersion);
    }
    match headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
    {
        Some(key) if !key.trim().is_empty() => Ok(key.trim().to_owned()),
        _ => Err(Refusal::MissingKey),
    }
}

/// A plain-text response.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    set(
        &mut response,
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    );
    response
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found\n")
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    set(&mut response, header::ALLOW, allow);
    response
}

/// Sets a header from a static value.
fn set(response: &mut Response<Body>, name: header::HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// A `HEAD` answer: the `GET` headers (with the length of the body it would have had).
fn strip_body(response: Response<Body>) -> Response<Body> {
    use hyper::body::Body as _;
    let (mut parts, body) = response.into_parts();
    if let Some(len) = body.size_hint().exact() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Response::from_parts(parts, Body::default())
}
