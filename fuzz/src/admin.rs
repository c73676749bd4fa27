//! The HTTP admin API's request parsing: `fastport_server::http::admin::parse`, the function
//! the server runs on every request under `/admin`.
//!
//! The input is a small text format, so that corpus files read like requests:
//!
//! ```text
//! POST /admin/sessions
//! application/json
//! {"name": "room", "password": "pw", "secret": "s", "config": {"max_retries": 3}}
//! ```
//!
//! The first line is the method and the path, the second the `Content-Type` header (an
//! empty line: none), the rest the body. A request is either an admin call or a refusal
//! with one of the documented status and code pairs; a call then goes to a broker (with the
//! session `demo` of [`crate::hello`]), which answers it exactly once.

use fastport_broker::Output;
use fastport_proto::codec::{AdminOp, AdminRequest};
use fastport_proto::time::Instant;
use fastport_server::http::admin::{parse, takes_body, AdminCall, MAX_BODY};
use hyper::header::HeaderValue;
use hyper::Method;

/// Parses `data` as a request in the format above.
pub fn request(data: &[u8]) {
    let (request_line, rest) = line(data);
    let (content_type, body) = line(rest);
    let request_line = String::from_utf8_lossy(request_line);
    let (method, path) = request_line.split_once(' ').unwrap_or((&request_line, ""));
    // hyper hands the server only methods and header values that are valid HTTP.
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let content_type = match content_type {
        [] => None,
        value => match HeaderValue::from_bytes(value) {
            Ok(value) => Some(value),
            Err(_) => return,
        },
    };
    if body.len() > MAX_BODY {
        return; // refused with 413 while the body is read
    }
    match parse(&method, path, content_type.as_ref(), body) {
        Ok(call) => {
            let has_body = matches!(
                call.op,
                AdminOp::Create { .. } | AdminOp::Configure(_) | AdminOp::Rotate { .. }
            );
            assert_eq!(
                takes_body(&method, path),
                has_body,
                "takes_body says whether {method} {path} reads the body"
            );
            answer(call);
        }
        Err(refusal) => {
            let documented = matches!(
                (refusal.status.as_u16(), refusal.code),
                (400, "invalid_request")
                    | (404, "not_found")
                    | (405, "method_not_allowed")
                    | (415, "unsupported_media_type")
            );
            assert!(documented, "undocumented refusal {refusal:?}");
            assert_eq!(
                refusal.allow.is_some(),
                refusal.status.as_u16() == 405,
                "a 405 names the allowed methods"
            );
        }
    }
}

/// Hands a parsed call to a broker holding the session `demo` as the server does, with the
/// session's secret as the credential (so that the operation runs past the credential
/// check): it gets exactly one answer, and no connection is touched.
fn answer(call: AdminCall) {
    let mut broker = crate::hello::demo_broker();
    let now = Instant::ZERO;
    let request = AdminRequest {
        request_id: 0,
        session: call.session,
        credential: "secret".to_owned(),
        op: call.op,
    };
    broker.admin(now, 1, Some([192, 0, 2, 1].into()), request);
    let mut answers = 0;
    while let Some(output) = broker.poll_output() {
        match output {
            Output::Run(job) => broker.handle_job_done(now, job.run()),
            Output::Admin(answer) => {
                answers += 1;
                assert_eq!(answer.request, 1, "the answer names its request");
                let reply = answer.reply;
                assert!(
                    reply.code.is_ok() || !reply.message.is_empty(),
                    "a refusal says why: {:?}",
                    reply.code
                );
            }
            other => panic!("an admin request touched a connection: {other:?}"),
        }
    }
    assert_eq!(answers, 1, "an admin request gets exactly one answer");
}

/// The bytes before the first `\n` (without a `\r` before it), and the bytes after it.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (first.strip_suffix(b"\r").unwrap_or(first), rest)
}
