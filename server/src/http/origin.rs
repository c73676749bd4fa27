//! Which web pages may use the server from a browser: the `Origin` check on the WebSocket
//! upgrade and the admin API.
//!
//! Browsers send `Origin` with every WebSocket handshake and cross-site request, and any
//! page may open a WebSocket to any server: without this check, a page on another site
//! could use a visitor's network position (a server on their LAN or loopback) or talk to
//! the server as that visitor. The rule:
//!
//! 1. No `Origin` header: not a browser (the native client, the CLI, curl): allowed.
//! 2. The page's own server: `Origin`'s host and port equal the request's `Host`: allowed.
//! 3. A loopback origin (`localhost`, `127.0.0.0/8`, `[::1]`, any port): allowed, so local
//!    development servers work; a page on loopback is already on the machine.
//! 4. An origin listed in `--allowed-origins` (exact `scheme://host[:port]`), or any origin
//!    when the list holds `*`: allowed.
//! 5. Anything else, `null` included: refused with 403 `origin_not_allowed`.
//!
//! [`HostPolicy`] guards against DNS rebinding: a page of another site whose name was made
//! to resolve to this server's address sends that name as `Host`, which is then refused.

use std::net::IpAddr;

use hyper::header::{self, HeaderMap};

/// The configured origins, normalized.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    allowed: Vec<String>,
    any: bool,
}

/// Why an origin was refused: the text of the 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl OriginPolicy {
    /// From `--allowed-origins` (or the config file's `allowed_origins`): `*`, or
    /// origins such as `https://app.example.com` or `http://10.0.0.5:3000`.
    pub fn new(origins: &[String]) -> Result<OriginPolicy, String> {
        let mut policy = OriginPolicy::default();
        for origin in origins {
            let origin = origin.trim();
            if origin == "*" {
                policy.any = true;
                continue;
            }
            let normalized = normalize(origin).ok_or_else(|| {
                format!("`{origin}` is not an origin: expected scheme://host[:port] or *")
            })?;
            policy.allowed.push(normalized);
        }
        Ok(policy)
    }

    /// Whether a request with these headers may proceed.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = value.to_str().unwrap_or("").trim();
        if self.any {
            return Ok(());
        }
        let refused = || {
            Refused(format!(
                "origin `{origin}` is not allowed to use this server; \
                 list it in --allowed-origins (FASTPORT_ALLOWED_ORIGINS)"
            ))
        };
        let normalized = normalize(origin).ok_or_else(refused)?;
        let authority = authority_of(&normalized);
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        if host.as_deref() == Some(authority) || is_loopback(authority) {
            return Ok(());
        }
        if self.allowed.contains(&normalized) {
            return Ok(());
        }
        Err(refused())
    }
}

/// The names this server answers for (`--server-names`); empty: any `Host` is served.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    names: Vec<String>,
}

impl HostPolicy {
    /// From `--server-names` (or the config file's `server_names`): host names without
    /// a scheme or port, e.g. `chat.example.com`.
    pub fn new(names: &[String]) -> Result<HostPolicy, String> {
        let mut policy = HostPolicy::default();
        for name in names {
            let name = name.trim().to_ascii_lowercase();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid {
                return Err(format!("`{name}` is not a host name (no scheme, no port)"));
            }
            policy.names.push(name);
        }
        Ok(policy)
    }

    /// Whether a request with these headers is for this server: any host when no names
    /// are configured; else one of the names, `localhost`, or an IP address (a rebinding
    /// page always sends a name, never this server's address).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        if self.names.is_empty() {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h),
        };
        if name == "localhost"
            || name.parse::<IpAddr>().is_ok()
            || self.names.iter().any(|n| n == name)
        {
            return Ok(());
        }
        Err(Refused(format!(
            "this server does not answer for `{host}`; its names are {} (--server-names)",
            self.names.join(", ")
        )))
    }
}

/// `scheme://host[:port]` in lower case without a trailing slash; `None` for anything
/// else (a path, no scheme, `null`).
fn normalize(origin: &str) -> Option<String> {
    let origin = origin
        .strip_suffix('/')
        .unwrap_or(origin)
        .to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let valid_scheme = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let valid_authority = !authority.is_empty()
        && !authority
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b' ') || b.is_ascii_control());
    (valid_scheme && valid_authority).then_some(origin)
}

/// `host[:port]` of a normalized origin.
fn authority_of(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, a)| a)
}

/// Whether `host[:port]` names this machine: `localhost`, an IPv4 loopback address or
/// `[::1]`.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).expect("valid"));
        if let Some(origin) = origin {
            h.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).expect("valid"),
            );
        }
        h
    }

    #[test]
    fn the_default_allows_non_browsers_the_same_origin_and_loopback_only() {
        let policy = OriginPolicy::new(&[]).expect("valid");
        let host = "chat.example.com";
        for origin in [
            None,
            Some("https://chat.example.com"),
            Some("http://chat.example.com/"),
            Some("HTTPS://Chat.Example.com"),
            Some("http://localhost:5173"),
            Some("http://127.0.0.1:8080"),
            Some("http://127.0.0.2"),
            Some("http://[::1]:3000"),
            Some("http://app.localhost:3000"),
        ] {
            assert_eq!(policy.check(&headers(origin, host)), Ok(()), "{origin:?}");
        }
        for origin in [
            "https://evil.example",
            "https://chat.example.com.evil.example",
            "https://chat.example.com:8443",
            "null",
            "file://",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
        ] {
            let refused = policy.check(&headers(Some(origin), host));
            let Err(Refused(message)) = refused else {
                panic!("{origin} was allowed")
            };
            assert!(message.contains("--allowed-origins"), "{message}");
        }
    }

    #[test]
    fn listed_origins_are_allowed_exactly_and_a_star_allows_every_origin() {
        let listed = [
            "https://app.example.com".to_owned(),
            "http://10.0.0.5:3000/".to_owned(),
        ];
        let policy = OriginPolicy::new(&listed).expect("valid");
        let host = "broker.internal:8080";
        assert_eq!(
            policy.check(&headers(Some("https://app.example.com"), host)),
            Ok(())
        );
        assert_eq!(
            policy.check(&headers(Some("http://10.0.0.5:3000"), host)),
            Ok(())
        );
        assert!(policy
            .check(&headers(Some("http://app.example.com"), host))
            .is_err());
        assert!(policy
            .check(&headers(Some("http://10.0.0.5:3001"), host))
            .is_err());
        let any = OriginPolicy::new(&["*".to_owned()]).expect("valid");
        assert_eq!(
            any.check(&headers(Some("https://anything.example"), host)),
            Ok(())
        );
    }

    #[test]
    fn with_server_names_only_they_their_addresses_and_localhost_are_served() {
        let open = HostPolicy::new(&[]).expect("valid");
        assert_eq!(open.check(&headers(None, "anything.example")), Ok(()));
        let names = ["chat.example.com".to_owned(), "Broker.Internal".to_owned()];
        let policy = HostPolicy::new(&names).expect("valid");
        for host in [
            "chat.example.com",
            "CHAT.example.com:443",
            "broker.internal:8080",
            "localhost:8080",
            "127.0.0.1:8080",
            "203.0.113.9",
            "[::1]:8080",
            "[2001:db8::1]",
        ] {
            assert_eq!(policy.check(&headers(None, host)), Ok(()), "{host}");
        }
        for host in [
            "rebind.evil.example",
            "chat.example.com.evil.example:80",
            "",
        ] {
            let Err(Refused(message)) = policy.check(&headers(None, host)) else {
                panic!("{host} was served")
            };
            assert!(message.contains("--server-names"), "{message}");
        }
        assert!(HostPolicy::new(&["https://chat.example.com".to_owned()]).is_err());
        assert!(HostPolicy::new(&["chat.example.com:443".to_owned()]).is_err());
    }

    #[test]
    fn a_configured_value_that_is_not_an_origin_is_named() {
        for bad in [
            "app.example.com",
            "https://app.example.com/path",
            "https://",
        ] {
            let error = OriginPolicy::new(&[bad.to_owned()]).expect_err(bad);
            assert!(error.contains(bad), "{error}");
        }
    }
}
