//! Every socket counts from `accept()` until it closes, whatever it turns out to be (an
//! HTTP request, a WebSocket, a socket that never says anything), so that no one can hold
//! the server's file descriptors without being counted.
//!
//! [`SocketLimits::admit`] hands out a [`SocketPermit`] for each accepted socket, or
//! refuses it: over `max_connections` sockets in all, or `max_connections_per_address`
//! from one address (IPv4: the address; IPv6: its /64, which one machine usually owns
//! whole). [`Counted`] binds the permit to the socket's stream, so every later layer (HTTP,
//! the WebSocket upgrade, a TLS handshake) keeps it exactly as long as the socket.
//! [`Gate`] is the accept loop's side: it refuses cheaply, counts, and rate-limits the
//! warnings.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// At most one warning of each kind per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// How long the accept loop pauses after `accept()` fails (out of file descriptors,
/// typically): long enough not to spin, short enough to serve again soon after sockets
/// close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The socket counts and their caps, shared by the accept loop and every permit.
#[derive(Debug)]
pub(crate) struct SocketLimits {
    max_total: usize,
    /// 0: no cap per address.
    per_address: usize,
    counts: Mutex<Counts>,
    refused_per_address: AtomicU64,
    refused_max_connections: AtomicU64,
    accept_errors: AtomicU64,
    /// The nodes sharing this node's Redis: their addresses relay many clients each, and
    /// are not capped per address.
    cluster: Option<Arc<crate::cluster::Cluster>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<AddressKey, usize>,
}

/// What the per-address cap counts by: an IPv4 address, or the /64 of an IPv6 address
/// (IPv4-mapped IPv6 addresses count as their IPv4 address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    pub(crate) fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(u32::from(v4)),
                None => AddressKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Why a socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address already holds `max_connections_per_address` sockets.
    PerAddress,
    /// The server already holds `max_connections` sockets.
    MaxConnections,
}

/// The counters `/metrics` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SocketMetrics {
    /// Sockets open now.
    pub(crate) open: u64,
    pub(crate) refused_per_address: u64,
    pub(crate) refused_max_connections: u64,
    /// `accept()` calls that failed (out of file descriptors, typically).
    pub(crate) accept_errors: u64,
    /// Batch messages written (filled in from the outbound budget's counter).
    pub(crate) batches_out: u64,
}

impl SocketLimits {
    /// `per_address` 0 means no cap per address; the addresses of `cluster`'s live nodes
    /// have none either.
    pub(crate) fn new(
        max_total: usize,
        per_address: usize,
        cluster: Option<Arc<crate::cluster::Cluster>>,
    ) -> Arc<SocketLimits> {
        Arc::new(SocketLimits {
            cluster,
            max_total,
            per_address,
            counts: Mutex::new(Counts::default()),
            refused_per_address: AtomicU64::new(0),
            refused_max_connections: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        })
    }

    /// Counts a socket from `ip`, or refuses it (and counts the refusal).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<SocketPermit, Refused> {
        let key = AddressKey::of(ip);
        let mut counts = self.lock();
        let refused = if counts.total >= self.max_total {
            Some((Refused::MaxConnections, &self.refused_max_connections))
        } else if self.per_address > 0
            && counts.by_address.get(&key).copied().unwrap_or(0) >= self.per_address
            && !self.cluster.as_ref().is_some_and(|c| c.is_peer(ip))
        {
            Some((Refused::PerAddress, &self.refused_per_address))
        } else {
            None
        };
        if let Some((why, counter)) = refused {
            counter.fetch_add(1, Ordering::Relaxed);
            return Err(why);
        }
        counts.total += 1;
        *counts.by_address.entry(key).or_insert(0) += 1;
        Ok(SocketPermit {
            limits: Arc::clone(self),
            key,
        })
    }

    pub(crate) fn metrics(&self) -> SocketMetrics {
        let open = self.lock().total as u64;
        SocketMetrics {
            open,
            refused_per_address: self.refused_per_address.load(Ordering::Relaxed),
            refused_max_connections: self.refused_max_connections.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
            batches_out: 0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Nothing panics while holding the lock; a poisoned one still has valid counts.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, key: AddressKey) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&key);
            }
        }
    }
}

/// One counted socket; dropping it gives its place back.
#[derive(Debug)]
pub(crate) struct SocketPermit {
    limits: Arc<SocketLimits>,
    key: AddressKey,
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

/// A stream that holds its socket's permit: the permit goes when the stream does.
#[derive(Debug)]
pub(crate) struct Counted<S> {
    inner: S,
    _permit: SocketPermit,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S, permit: SocketPermit) -> Counted<S> {
        Counted {
            inner,
            _permit: permit,
        }
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

forward_async_write!(Counted);

/// A socket the gate let in, with the moment it was accepted (the hello deadline counts
/// from it).
pub(crate) struct Admitted {
    pub(crate) stream: Counted<TcpStream>,
    pub(crate) peer: SocketAddr,
    pub(crate) accepted: Instant,
}

/// The accept loop's side of the limits: what to do with each `accept()` result.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: Arc<SocketLimits>,
    refusals: Throttle,
    failures: Throttle,
}

impl Gate {
    pub(crate) fn new(limits: Arc<SocketLimits>) -> Gate {
        Gate {
            limits,
            refusals: Throttle::default(),
            failures: Throttle::default(),
        }
    }

    /// Admits an accepted socket, or closes it at once (nothing is read from it). After a
    /// failed `accept()`, pauses briefly: out of file descriptors, the next one would fail
    /// too, and retrying at once would spin.
    pub(crate) async fn pass(
        &mut self,
        accepted: io::Result<(TcpStream, SocketAddr)>,
    ) -> Option<Admitted> {
        let now = Instant::now();
        match accepted {
            Ok((stream, peer)) => match self.limits.admit(peer.ip()) {
                Ok(permit) => Some(Admitted {
                    stream: Counted::new(stream, permit),
                    peer,
                    accepted: now,
                }),
                Err(why) => {
                    drop(stream);
                    if let Some(more) = self.refusals.tick(now) {
                        let what = match why {
                            Refused::PerAddress => format!(
                                "its address holds {} sockets (--max-connections-per-address)",
                                self.limits.per_address
                            ),
                            Refused::MaxConnections => format!(
                                "the server holds {} sockets (--max-connections)",
                                self.limits.max_total
                            ),
                        };
                        tracing::warn!(
                            peer = %peer.ip(),
                            "connection refused: {what}{}",
                            since_last(more, "refused")
                        );
                    }
                    None
                }
            },
            Err(e) => {
                self.limits.accept_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(more) = self.failures.tick(now) {
                    let hint = if out_of_descriptors(&e) {
                        " (out of file descriptors: raise the limit, or lower \
                         --max-connections)"
                    } else {
                        ""
                    };
                    tracing::warn!(
                        "accept failed: {e}{hint}; pausing accepts for {ACCEPT_BACKOFF:?}{}",
                        since_last(more, "failed")
                    );
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                None
            }
        }
    }
}

/// The events held back since the last warning, if any (at most one warning per
/// [`WARN_EVERY`]).
fn since_last(held_back: u64, what: &str) -> String {
    if held_back == 0 {
        String::new()
    } else {
        format!(" ({held_back} more {what} since the last warning, at most one per {WARN_EVERY:?})")
    }
}

/// Whether `accept()` failed for want of file descriptors (the process's or the system's).
fn out_of_descriptors(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// Lets one event of a kind through per [`WARN_EVERY`], counting the ones it holds back.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// `Some(events held back since the last one let through)` if this one may be logged.
    fn tick(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < WARN_EVERY => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn the_per_address_cap_refuses_the_address_and_no_other() {
        let limits = SocketLimits::new(100, 2, None);
        let a = limits.admit(ip("10.0.0.1")).expect("first");
        let _b = limits.admit(ip("10.0.0.1")).expect("second");
        assert_eq!(
            limits.admit(ip("10.0.0.1")).err(),
            Some(Refused::PerAddress)
        );
        let _other = limits.admit(ip("10.0.0.2")).expect("another address");
        drop(a);
        let _c = limits
            .admit(ip("10.0.0.1"))
            .expect("a place was given back");
        let m = limits.metrics();
        assert_eq!((m.open, m.refused_per_address), (3, 1));
    }

    #[test]
    fn the_total_cap_counts_every_address() {
        let limits = SocketLimits::new(2, 0, None);
        let _a = limits.admit(ip("10.0.0.1")).expect("first");
        let _b = limits.admit(ip("10.0.0.2")).expect("second");
        assert_eq!(
            limits.admit(ip("10.0.0.3")).err(),
            Some(Refused::MaxConnections)
        );
        assert_eq!(limits.metrics().refused_max_connections, 1);
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            AddressKey::of(ip("2001:db8:1:2::1")),
            AddressKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            AddressKey::of(ip("2001:db8:1:2::1")),
            AddressKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddressKey::of(ip("::ffff:192.0.2.7")),
            AddressKey::of(ip("192.0.2.7"))
        );
        let limits = SocketLimits::new(100, 1, None);
        let _a = limits.admit(ip("2001:db8::1")).expect("first");
        assert_eq!(
            limits.admit(ip("2001:db8::2")).err(),
            Some(Refused::PerAddress)
        );
    }

    #[test]
    fn every_permit_dropped_leaves_no_count_behind() {
        let limits = SocketLimits::new(10, 3, None);
        let permits: Vec<_> = (0..3)
            .map(|_| limits.admit(ip("10.0.0.1")).expect("admitted"))
            .collect();
        drop(permits);
        assert_eq!(limits.metrics().open, 0);
        assert!(limits.lock().by_address.is_empty());
    }

    #[test]
    fn the_throttle_lets_one_through_per_interval_and_counts_the_rest() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        assert_eq!(throttle.tick(start), Some(0));
        assert_eq!(throttle.tick(start + Duration::from_secs(1)), None);
        assert_eq!(throttle.tick(start + Duration::from_secs(2)), None);
        assert_eq!(throttle.tick(start + WARN_EVERY), Some(2));
    }
}
