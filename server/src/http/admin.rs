//! The JSON admin API. Every call becomes an [`AdminRequest`] for the broker, so HTTP and
//! the protocol's `Admin` frame share one code path (credentials, rate limits, checks).
//!
//! | Request | Credential | Success |
//! |---------|------------|---------|
//! | `POST /admin/sessions` `{"name","password","secret","config"}` | admin token | 201 |
//! | `GET /admin/sessions/{name}` | session secret | 200 |
//! | `PATCH /admin/sessions/{name}` `{"config"}` | session secret | 200 |
//! | `POST /admin/sessions/{name}/suspend` | session secret | 200 |
//! | `POST /admin/sessions/{name}/resume` | session secret | 200 |
//! | `POST /admin/sessions/{name}/rotate` `{"password","secret"}` | session secret | 200 |
//! | `DELETE /admin/sessions/{name}` | session secret | 200 |
//!
//! The credential is `Authorization: Bearer <credential>`. Answers are
//! `{"session": name, "config": {...}}`; errors `{"error": {"code", "message"}}` with the
//! protocol's error code name (plus `invalid_request`, `payload_too_large`,
//! `unsupported_media_type`, `origin_not_allowed`, `method_not_allowed` and `not_found` for
//! HTTP-level mistakes). Bodies must be sent as `Content-Type: application/json`, and a
//! browser page of another site is refused ([`super::OriginPolicy`]).

use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{AdminOp, AdminRequest, ErrorCode};
use fastport_proto::settings::admin_json;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{bearer, Body, RequestCtx};
use crate::config::JsonSettings;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// An answer that never comes means a broker bug; the HTTP client gets a 500, not a hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers a request under `/admin`.
pub(super) async fn handle(req: Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    if ctx.relayed {
        // Checked by the node that forwards it.
    } else if let Err(refused) = ctx.shared.origins.check(req.headers()) {
        tracing::info!(peer = %ctx.peer, "admin request refused: {}", refused.0);
        return error(StatusCode::FORBIDDEN, "origin_not_allowed", &refused.0);
    }
    let call = match prepare(req).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    // With several nodes, the request runs on the node that serves its session.
    if let Some(cluster) = &ctx.shared.cluster {
        let create = matches!(call.op, AdminOp::Create { .. });
        if ctx.relayed {
            if !cluster.owns(&call.session) && !create {
                let code = ErrorCode::SESSION_MOVED;
                let message = "this node does not serve the session (any more); try again";
                return error(StatusCode::SERVICE_UNAVAILABLE, code.name(), message);
            }
        } else {
            match cluster.route(&call.session, create).await {
                Ok(crate::cluster::Route::Local) => {}
                Ok(crate::cluster::Route::Remote { url, .. }) => {
                    return super::forward::admin(&call.raw, &url, cluster.secret(), ctx.peer)
                        .await;
                }
                Err(e) => {
                    let code = ErrorCode::STORAGE_UNAVAILABLE;
                    let message = format!("cannot find the node that serves the session: {e}");
                    return error(StatusCode::SERVICE_UNAVAILABLE, code.name(), &message);
                }
            }
        }
    }
    call.run(ctx).await
}

/// An admin request ready for the broker.
struct Call {
    session: String,
    credential: Option<String>,
    op: AdminOp,
    /// The request as it came, to forward it to the node that serves its session.
    raw: super::forward::RawRequest,
}

async fn prepare(req: Request<Incoming>) -> Result<Call, Response<Body>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let credential = bearer(req.headers());
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let authorization = req.headers().get(header::AUTHORIZATION).cloned();
    // The body is read only where a valid request has one; `parse` refuses the rest.
    let body = if takes_body(&method, &path) && is_json(content_type.as_ref()) {
        read_body(req).await?
    } else {
        Bytes::new()
    };
    let AdminCall { session, op } =
        parse(&method, &path, content_type.as_ref(), &body).map_err(Refusal::response)?;
    let raw = super::forward::RawRequest {
        method,
        path,
        content_type,
        authorization,
        body,
    };
    Ok(Call {
        session,
        credential,
        op,
        raw,
    })
}

/// An admin request as the HTTP request states it: the session it names and the
/// operation. The credential comes from the `Authorization` header, apart.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminCall {
    /// The session the request is about (for a create, the `name` of the body).
    pub session: String,
    /// What to do.
    pub op: AdminOp,
}

/// Why an admin request is refused before it reaches the broker: the HTTP status and the
/// `error.code` of the JSON answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// 400, 404, 405 or 415.
    pub status: StatusCode,
    /// `invalid_request`, `not_found`, `method_not_allowed` or `unsupported_media_type`.
    pub code: &'static str,
    /// A readable explanation.
    pub message: String,
    /// For a 405, the methods the path accepts (the `Allow` header).
    pub allow: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn method_not_allowed(allow: &'static str) -> Refusal {
        Refusal {
            allow: Some(allow),
            ..Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
            )
        }
    }

    fn response(self) -> Response<Body> {
        let mut response = error(self.status, self.code, &self.message);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// Parses an admin request from its method, URI path (`/admin/...`, percent-encoded),
/// `Content-Type` header and body. Pure: what the server runs for every admin request, and
/// what `fuzz/` feeds arbitrary input. A body larger than [`MAX_BODY`] never gets here
/// (the server answers 413 while reading it).
pub fn parse(
    method: &Method,
    path: &str,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<AdminCall, Refusal> {
    let (session, op) = match route(method, path)? {
        Route::Create => {
            let body: CreateBody = json_body(content_type, body)?;
            let op = AdminOp::Create {
                password: body.password,
                secret: body.secret,
                config: body.config.0,
            };
            (body.name, op)
        }
        Route::Configure(name) => {
            let body: ConfigureBody = json_body(content_type, body)?;
            (name, AdminOp::Configure(body.config.0))
        }
        Route::Describe(name) => (name, AdminOp::Describe),
        Route::Drop(name) => (name, AdminOp::Drop),
        Route::Suspend(name) => (name, AdminOp::Suspend),
        Route::Resume(name) => (name, AdminOp::Resume),
        Route::Rotate(name) => {
            let body: RotateBody = json_body(content_type, body)?;
            let op = AdminOp::Rotate {
                password: body.password,
                secret: body.secret,
            };
            (name, op)
        }
    };
    Ok(AdminCall { session, op })
}

/// Whether a request with this method and path is one that has a JSON body (creating,
/// configuring or rotating a session).
pub fn takes_body(method: &Method, path: &str) -> bool {
    matches!(
        route(method, path),
        Ok(Route::Create | Route::Configure(_) | Route::Rotate(_))
    )
}

/// An admin endpoint, with the session name of its path.
enum Route {
    Create,
    Describe(String),
    Configure(String),
    Drop(String),
    Suspend(String),
    Resume(String),
    Rotate(String),
}

fn route(method: &Method, path: &str) -> Result<Route, Refusal> {
    let segments: Vec<String> = path
        .split('/')
        .skip(2) // "" and "admin"
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let name = |name: &str| name.to_owned();
    Ok(match (method, segments.as_slice()) {
        (&Method::POST, ["sessions"]) => Route::Create,
        (&Method::GET, ["sessions", n]) => Route::Describe(name(n)),
        (&Method::PATCH, ["sessions", n]) => Route::Configure(name(n)),
        (&Method::DELETE, ["sessions", n]) => Route::Drop(name(n)),
        (&Method::POST, ["sessions", n, "suspend"]) => Route::Suspend(name(n)),
        (&Method::POST, ["sessions", n, "resume"]) => Route::Resume(name(n)),
        (&Method::POST, ["sessions", n, "rotate"]) => Route::Rotate(name(n)),
        (_, ["sessions"]) => return Err(Refusal::method_not_allowed("POST")),
        (_, ["sessions", _]) => return Err(Refusal::method_not_allowed("GET, PATCH, DELETE")),
        (_, ["sessions", _, "suspend" | "resume" | "rotate"]) => {
            return Err(Refusal::method_not_allowed("POST"))
        }
        _ => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such admin endpoint",
            ))
        }
    })
}

impl Call {
    async fn run(self, ctx: &RequestCtx) -> Response<Body> {
        let created = matches!(self.op, AdminOp::Create { .. });
        let request = AdminRequest {
            request_id: 0, // the router numbers requests
            session: self.session.clone(),
            credential: self.credential.clone().unwrap_or_default(),
            op: self.op,
        };
        let answer = tokio::time::timeout(
            ANSWER_TIMEOUT,
            ctx.shared.router.admin(request, Some(ctx.peer)),
        )
        .await;
        let reply = match answer {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                let (status, code) = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::SERVER_SHUTTING_DOWN,
                );
                return error(status, code.name(), "the server is shutting down");
            }
            Err(_) => {
                let code = ErrorCode::INTERNAL_ERROR.name();
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code,
                    "no answer from the broker",
                );
            }
        };
        if !reply.code.is_ok() {
            let status = status_of(reply.code, self.credential.is_some());
            let mut response = error(status, reply.code.name(), &reply.message);
            if status == StatusCode::UNAUTHORIZED {
                let challenge = HeaderValue::from_static("Bearer");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
            }
            return response;
        }
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        json_response(status, admin_json(&self.session, &reply.config))
    }
}

/// The HTTP status of a refusal. `not_authorized` without any credential is a 401.
fn status_of(code: ErrorCode, had_credential: bool) -> StatusCode {
    match code {
        ErrorCode::NOT_AUTHORIZED if !had_credential => StatusCode::UNAUTHORIZED,
        ErrorCode::NOT_AUTHORIZED => StatusCode::FORBIDDEN,
        ErrorCode::UNKNOWN_SESSION | ErrorCode::SESSION_DROPPED => StatusCode::NOT_FOUND,
        ErrorCode::SESSION_EXISTS | ErrorCode::SESSION_SUSPENDED => StatusCode::CONFLICT,
        ErrorCode::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::SERVER_SHUTTING_DOWN
        | ErrorCode::TOO_MANY_CONNECTIONS
        | ErrorCode::QUEUE_FULL
        | ErrorCode::TOO_MANY_SESSIONS => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::INTERNAL_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::INVALID_CONFIG
        | ErrorCode::INVALID_NAME
        | ErrorCode::PROTOCOL_ERROR
        | ErrorCode::CREDENTIAL_TOO_LARGE => StatusCode::BAD_REQUEST,
        _ if code.0 >= ErrorCode::INTERNAL_ERROR.0 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// (No `Debug`: it holds secrets.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    password: String,
    secret: String,
    #[serde(default)]
    config: JsonSettings,
}

/// The new password and/or secret key; an absent or empty one is kept. (No `Debug`: it
/// holds secrets.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    password: String,
    #[serde(default)]
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigureBody {
    config: JsonSettings,
}

/// Reads a body of at most [`MAX_BODY`] bytes.
async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let message = format!("the body is larger than {MAX_BODY} bytes");
            Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &message,
            ))
        }
        Err(e) => {
            let message = format!("cannot read the body: {e}");
            Err(error(StatusCode::BAD_REQUEST, "invalid_request", &message))
        }
    }
}

/// A JSON body. It must be declared `application/json`: a browser sends that cross-site
/// only after a CORS preflight, which this server never grants, so a page of another site
/// cannot make these calls (a form or `text/plain` post could).
fn json_body<T: serde::de::DeserializeOwned>(
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<T, Refusal> {
    if !is_json(content_type) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let message = format!("invalid JSON body: {e}");
        Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    })
}

/// Whether a Content-Type header says `application/json` (parameters such as a charset
/// allowed).
fn is_json(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = value.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": { "code": code, "message": message } });
    json_response(status, body.to_string())
}

fn json_response(status: StatusCode, mut text: String) -> Response<Body> {
    text.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    let content_type = HeaderValue::from_static("application/json");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_documented_http_statuses() {
        let cases = [
            (ErrorCode::INVALID_CONFIG, true, 400),
            (ErrorCode::NOT_AUTHORIZED, false, 401),
            (ErrorCode::NOT_AUTHORIZED, true, 403),
            (ErrorCode::UNKNOWN_SESSION, true, 404),
            (ErrorCode::SESSION_EXISTS, true, 409),
            (ErrorCode::RATE_LIMITED, true, 429),
            (ErrorCode::SERVER_SHUTTING_DOWN, true, 503),
            (ErrorCode::QUEUE_FULL, true, 503),
            (ErrorCode::TOO_MANY_SESSIONS, true, 503),
            (ErrorCode::CREDENTIAL_TOO_LARGE, true, 400),
            (ErrorCode::INTERNAL_ERROR, true, 500),
        ];
        for (code, had_credential, status) in cases {
            assert_eq!(status_of(code, had_credential).as_u16(), status, "{code:?}");
        }
    }

    fn json() -> HeaderValue {
        HeaderValue::from_static("application/json")
    }

    #[test]
    fn a_create_body_becomes_a_create_operation_for_the_named_session() {
        let body = br#"{"name":"room","password":"pw","secret":"s","config":{"max_retries":3}}"#;
        let call = parse(&Method::POST, "/admin/sessions", Some(&json()), body)
            .expect("a valid create request");
        assert_eq!(call.session, "room");
        let AdminOp::Create { config, .. } = call.op else {
            panic!("not a create: {:?}", call.op);
        };
        assert_eq!(config.max_retries, Some(3));
        assert!(takes_body(&Method::POST, "/admin/sessions"));
        assert!(!takes_body(&Method::GET, "/admin/sessions/room"));
    }

    #[test]
    fn a_percent_encoded_session_name_is_decoded_from_the_path() {
        let call = parse(&Method::GET, "/admin/sessions/t%C3%A9am", None, b"")
            .expect("a valid describe request");
        assert_eq!(
            (call.session.as_str(), call.op),
            ("t\u{e9}am", AdminOp::Describe)
        );
    }

    #[test]
    fn refusals_carry_their_documented_status_and_code() {
        let refusal =
            |method: Method, path: &str, content_type: Option<HeaderValue>, body: &[u8]| {
                let refusal = parse(&method, path, content_type.as_ref(), body)
                    .expect_err("a refused request");
                (refusal.status.as_u16(), refusal.code, refusal.allow)
            };
        let text = Some(HeaderValue::from_static("text/plain"));
        assert_eq!(
            refusal(Method::POST, "/admin/sessions", text, b"{}"),
            (415, "unsupported_media_type", None)
        );
        assert_eq!(
            refusal(
                Method::PATCH,
                "/admin/sessions/a",
                Some(json()),
                br#"{"config":{},"x":1}"#
            ),
            (400, "invalid_request", None)
        );
        assert_eq!(
            refusal(Method::PUT, "/admin/sessions/a", None, b""),
            (405, "method_not_allowed", Some("GET, PATCH, DELETE"))
        );
        assert_eq!(
            refusal(Method::GET, "/admin/other", None, b""),
            (404, "not_found", None)
        );
    }
}
