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
//! with one of the documented status and code pairs.

use fastport_proto::codec::AdminOp;
use fastport_server::http::admin::{parse, takes_body, MAX_BODY};
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

/// The bytes before the first `\n` (without a `\r` before it), and the bytes after it.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (first.strip_suffix(b"\r").unwrap_or(first), rest)
}
