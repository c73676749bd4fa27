//! The client's address behind trusted reverse proxies (`--trusted-proxy`).
//!
//! A request from a peer inside a trusted range names its client in `Forwarded: for=`
//! (RFC 7239) or, without it, `X-Forwarded-For`. Each proxy appends the address it got
//! the request from, so the list is read from the right: trusted proxies are skipped and
//! the first other address is the client. Anything before it was written by the client
//! and is ignored. From a peer outside the ranges both headers are ignored: anyone could
//! send them.

use std::net::IpAddr;

use hyper::header::{HeaderMap, HeaderName};

/// Address ranges whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<Cidr>,
}

/// An address range, `ADDRESS/BITS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl TrustedProxies {
    /// Ranges as `10.0.0.0/8`, `2001:db8::/32` or single addresses (`192.0.2.1`).
    pub fn new(ranges: &[String]) -> Result<TrustedProxies, String> {
        let nets = ranges
            .iter()
            .map(|r| Cidr::parse(r.trim()))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.nets.iter().any(|net| net.contains(addr))
    }

    /// The client's address for a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match forwarded_for(headers) {
            Some(hops) => hops,
            None => x_forwarded_for(headers),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = hop else {
                // Unreadable: stop at the last address a trusted proxy vouched for.
                break;
            };
            client = *addr;
            if !self.trusts(*addr) {
                break;
            }
        }
        client
    }
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address range (ADDRESS/BITS)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        // A range of IPv4-mapped addresses is kept as the IPv4 range, since addresses are
        // compared in their canonical form.
        match (addr, canonical(addr)) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_)) if bits >= 96 => Ok(Cidr {
                addr: v4,
                bits: bits - 96,
            }),
            _ => Ok(Cidr { addr, bits }),
        }
    }

    fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                mask(u128::from(u32::from(net)), self.bits, 32)
                    == mask(u128::from(u32::from(a)), self.bits, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                mask(u128::from(net), self.bits, 128) == mask(u128::from(a), self.bits, 128)
            }
            _ => false,
        }
    }
}

/// The top `bits` of a `width`-bit address.
fn mask(value: u128, bits: u8, width: u32) -> u128 {
    let shift = width - u32::from(bits);
    value.checked_shr(shift).unwrap_or(0)
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` addresses of every `Forwarded` header, in order; `None` without the header.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let values: Vec<_> = headers
        .get_all(HeaderName::from_static("forwarded"))
        .iter()
        .collect();
    if values.is_empty() {
        return None;
    }
    let mut hops = Vec::new();
    for value in values {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then_some(value.trim())
            });
            if let Some(node) = node {
                hops.push(node_addr(node));
            }
        }
    }
    Some(hops)
}

/// The addresses of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(HeaderName::from_static("x-forwarded-for"))
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(node_addr).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// An address from `192.0.2.1`, `192.0.2.1:443`, `"[2001:db8::1]:443"` or `2001:db8::1`.
fn node_addr(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return addr.parse().ok().map(canonical);
    }
    let (addr, _port) = node.rsplit_once(':')?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("valid header"));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("valid")
    }

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        let ranges: Vec<String> = ranges.iter().map(|r| r.to_string()).collect();
        TrustedProxies::new(&ranges).expect("valid ranges")
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "192.0.2.9")]);
        assert_eq!(p.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "2001:db8::/32"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 192.0.2.9, 10.1.1.1")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("192.0.2.9"));
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.2.2.2"),
        ]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        let h = headers(&[("x-forwarded-for", "10.3.3.3, 10.2.2.2")]);
        assert_eq!(
            p.client(ip("10.0.0.1"), &h),
            ip("10.3.3.3"),
            "all trusted: the left-most"
        );
    }

    #[test]
    fn forwarded_for_is_read_with_ports_brackets_and_quotes() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=203.0.113.7;proto=https, For=\"[2001:db8::5]:4711\"",
        )]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::5"));
        let h = headers(&[
            ("forwarded", "for=192.0.2.60:8080;by=10.0.0.1"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(
            p.client(ip("10.0.0.1"), &h),
            ip("192.0.2.60"),
            "Forwarded wins"
        );
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_last_trusted_one() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "192.0.2.9, unknown, 10.1.1.1")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.1.1.1"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn ranges_parse_and_match_by_their_prefix() {
        let p = proxies(&[
            "192.0.2.0/24",
            "2001:db8::/48",
            "198.51.100.7",
            "::ffff:203.0.113.0/120",
        ]);
        assert!(p.trusts(ip("192.0.2.255")));
        assert!(!p.trusts(ip("192.0.3.0")));
        assert!(p.trusts(ip("2001:db8:0:ffff::1")));
        assert!(!p.trusts(ip("2001:db8:1::1")));
        assert!(p.trusts(ip("198.51.100.7")));
        assert!(p.trusts(ip("::ffff:192.0.2.1")), "mapped IPv4 is IPv4");
        assert!(proxies(&["0.0.0.0/0"]).trusts(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::new(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
