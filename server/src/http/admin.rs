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
    if let Err(refused) = ctx.shared.origins.check(req.headers()) {
        tracing::info!(peer = %ctx.peer, "admin request refused: {}", refused.0);
        return error(StatusCode::FORBIDDEN, "origin_not_allowed", &refused.0);
    }
    match prepare(req).await {
        Ok(call) => call.run(ctx).await,
        Err(response) => response,
    }
}

/// An admin request ready for the broker.
struct Call {
    session: String,
    credential: Option<String>,
    op: AdminOp,
}

async fn prepare(req: Request<Incoming>) -> Result<Call, Response<Body>> {
    let segments: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .skip(2) // "" and "admin"
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let credential = bearer(req.headers());
    let method = req.method().clone();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (session, op) = match (&method, segments.as_slice()) {
        (&Method::POST, ["sessions"]) => {
            let body: CreateBody = read_json(req).await?;
            let op = AdminOp::Create {
                password: body.password,
                secret: body.secret,
                config: body.config.0,
            };
            (body.name, op)
        }
        (&Method::GET, ["sessions", name]) => (name.to_string(), AdminOp::Describe),
        (&Method::PATCH, ["sessions", name]) => {
            let body: ConfigureBody = read_json(req).await?;
            (name.to_string(), AdminOp::Configure(body.config.0))
        }
        (&Method::DELETE, ["sessions", name]) => (name.to_string(), AdminOp::Drop),
        (&Method::POST, ["sessions", name, "suspend"]) => (name.to_string(), AdminOp::Suspend),
        (&Method::POST, ["sessions", name, "resume"]) => (name.to_string(), AdminOp::Resume),
        (&Method::POST, ["sessions", name, "rotate"]) => {
            let body: RotateBody = read_json(req).await?;
            let op = AdminOp::Rotate {
                password: body.password,
                secret: body.secret,
            };
            (name.to_string(), op)
        }
        (_, ["sessions"]) => return Err(method_not_allowed("POST")),
        (_, ["sessions", _]) => return Err(method_not_allowed("GET, PATCH, DELETE")),
        (_, ["sessions", _, "suspend" | "resume" | "rotate"]) => {
            return Err(method_not_allowed("POST"))
        }
        _ => {
            return Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such admin endpoint",
            ))
        }
    };
    Ok(Call {
        session,
        credential,
        op,
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

/// Reads a body of at most [`MAX_BODY`] bytes as JSON. The body must be declared
/// `application/json`: a browser sends that cross-site only after a CORS preflight, which
/// this server never grants, so a page of another site cannot make these calls (a form or
/// `text/plain` post could).
async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Body>> {
    if !is_json(req.headers().get(header::CONTENT_TYPE)) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        ));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let message = format!("the body is larger than {MAX_BODY} bytes");
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &message,
            ));
        }
        Err(e) => {
            let message = format!("cannot read the body: {e}");
            return Err(error(StatusCode::BAD_REQUEST, "invalid_request", &message));
        }
    };
    serde_json::from_slice(&body).map_err(|e| {
        let message = format!("invalid JSON body: {e}");
        error(StatusCode::BAD_REQUEST, "invalid_request", &message)
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

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": { "code": code, "message": message } });
    json_response(status, body.to_string())
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed here",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
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
}
