//! The request headers every WebSocket upgrade and admin request is judged by before
//! anything else: `OriginPolicy::check` (`Origin` against `Host` and `--allowed-origins`) and
//! `HostPolicy::check` (`Host` against `--server-names`), with policies built from
//! configured lists as the server builds them.
//!
//! The input is text, one item per line: the `Host` header, the `Origin` header, the allowed
//! origins and the server names (both comma-separated). A missing line is a missing header
//! or an empty list.

use std::net::{Ipv4Addr, Ipv6Addr};

use fastport_server::http::{HostPolicy, OriginPolicy};
use hyper::header::{self, HeaderMap, HeaderValue};

/// Checks the headers of `data` against the default policies and the configured ones.
pub fn request(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let mut headers = HeaderMap::new();
    for name in [header::HOST, header::ORIGIN] {
        let Some(line) = lines.next() else { break };
        // hyper hands the server only valid header values.
        let Ok(value) = HeaderValue::from_bytes(line) else {
            return;
        };
        headers.insert(name, value);
    }
    let list = |line: Option<&[u8]>| -> Vec<String> {
        let text = String::from_utf8_lossy(line.unwrap_or_default());
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (origins, names) = (list(lines.next()), list(lines.next()));

    let default_verdict = OriginPolicy::default().check(&headers);
    if !headers.contains_key(header::ORIGIN) {
        assert_eq!(
            default_verdict,
            Ok(()),
            "a request without Origin is no browser's"
        );
    }
    if let Ok(policy) = OriginPolicy::new(&origins) {
        let verdict = policy.check(&headers);
        if default_verdict.is_ok() {
            assert_eq!(verdict, Ok(()), "listing origins only ever allows more");
        }
        if origins.iter().any(|o| o.trim() == "*") {
            assert_eq!(verdict, Ok(()), "`*` allows every origin");
        }
        if let Err(refused) = verdict {
            assert!(refused.0.contains("--allowed-origins"), "{refused:?}");
        }
    }

    assert_eq!(
        HostPolicy::default().check(&headers),
        Ok(()),
        "without server names every Host is served"
    );
    if let Ok(policy) = HostPolicy::new(&names) {
        let verdict = policy.check(&headers);
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let listed = names.iter().any(|n| n.trim().to_ascii_lowercase() == host);
        // An address in `Host` is IPv4 or a bracketed IPv6 address (RFC 9110 7.2).
        let address = host.parse::<Ipv4Addr>().is_ok()
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok());
        if names.is_empty() || host == "localhost" || address || listed {
            assert_eq!(verdict, Ok(()), "Host `{host}` is served");
        }
    }
}
