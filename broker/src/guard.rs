//! Slowing down password and secret guessing without locking out the right credential.
//!
//! A check is counted when it **starts** (so concurrent guesses count alike), against three
//! records at once: the (session, client address prefix) pair, the session, and the prefix
//! over every session. A prefix is the address itself for IPv4 and its /64 for IPv6. Each
//! record lets a number of checks start freely; from then on every start pushes the
//! record's next free start out by a back-off that doubles, up to a cap:
//!
//! | Record | Free starts | Back-off |
//! |---|---|---|
//! | session and prefix | 4 | 1 s, 2 s, 4 s, ... up to 5 min |
//! | session | 32 | 1 s, 2 s, 4 s, ... up to 1 min |
//! | prefix, any session | 64 | 1 s, 2 s, 4 s, ... up to 5 min |
//!
//! A check starts when all three records allow it. Otherwise the attempt waits for its
//! turn if that comes within [`PARK_LIMIT`], in the one waiting place of its (session,
//! prefix) pair: a newer attempt takes the place and the older one is answered
//! `rate_limited`, so a burst of guesses costs at most the free checks plus one per back-off
//! step, and the credential typed after the burst is the one checked when the turn comes.
//! A credential that verifies resets its (session, prefix) record. A record untouched for
//! its cap after its back-off ended is forgotten. Passwords and secret keys are guessed
//! separately: a member who knows the password gains nothing towards the secret key.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use fastport_proto::time::Instant;

/// The longest an attempt waits for its turn before it is refused outright.
pub(crate) const PARK_LIMIT: Duration = Duration::from_secs(10);
/// Entries kept per table; beyond it, the least recently used go.
const MAX_ENTRIES: usize = 65_536;

/// Free starts and the longest back-off of one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) free: u32,
    pub(crate) cap: Duration,
}

/// Per (session, prefix).
pub(crate) const PAIR: Budget = Budget {
    free: 4,
    cap: Duration::from_secs(300),
};
/// Per session, over every address.
pub(crate) const SESSION: Budget = Budget {
    free: 32,
    cap: Duration::from_secs(60),
};
/// Per prefix, over every session (guesses at session names).
pub(crate) const PREFIX: Budget = Budget {
    free: 64,
    cap: Duration::from_secs(300),
};

/// What is being guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A session password (`Hello`).
    Password,
    /// A session secret key or the admin token (admin requests, admin-only `Hello`).
    Secret,
}

/// The (kind, session, prefix) a check is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GuardKey {
    pub(crate) kind: Kind,
    pub(crate) session: String,
    pub(crate) prefix: IpAddr,
}

impl GuardKey {
    pub(crate) fn new(kind: Kind, session: &str, peer: Option<IpAddr>) -> GuardKey {
        GuardKey {
            kind,
            session: session.to_owned(),
            prefix: prefix(peer),
        }
    }
}

/// The address prefix a client is counted by: the IPv4 address, or the /64 of an IPv6
/// address (one host usually holds a whole /64). An IPv4-mapped IPv6 address is IPv4.
pub(crate) fn prefix(peer: Option<IpAddr>) -> IpAddr {
    match peer {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// Whether a check may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Start it now (it has been counted).
    Start,
    /// Its turn comes at this time, within [`PARK_LIMIT`].
    Wait(Instant),
    /// Refuse it; the turn would come after this long.
    Refuse(Duration),
}

#[derive(Debug, Default)]
pub(crate) struct LoginGuard {
    pairs: Table<GuardKey>,
    sessions: Table<(Kind, String)>,
    prefixes: Table<(Kind, IpAddr)>,
}

impl LoginGuard {
    /// Whether a check for `key` may start now; counts it if so.
    pub(crate) fn admit(&mut self, now: Instant, key: &GuardKey) -> Admission {
        let session = (key.kind, key.session.clone());
        let prefix = (key.kind, key.prefix);
        let turn = self
            .pairs
            .next_start(now, key, PAIR)
            .max(self.sessions.next_start(now, &session, SESSION))
            .max(self.prefixes.next_start(now, &prefix, PREFIX));
        if turn <= now {
            self.pairs.start(now, key.clone(), PAIR);
            self.sessions.start(now, session, SESSION);
            self.prefixes.start(now, prefix, PREFIX);
            return Admission::Start;
        }
        let wait = turn.saturating_duration_since(now);
        if wait <= PARK_LIMIT {
            Admission::Wait(turn)
        } else {
            Admission::Refuse(wait)
        }
    }

    /// A check of `key` verified: its (session, prefix) record starts over.
    pub(crate) fn succeeded(&mut self, key: &GuardKey) {
        self.pairs.map.remove(key);
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Checks started since the record was (re)created.
    started: u32,
    /// The earliest the next check may start.
    next: Instant,
}

#[derive(Debug)]
struct Table<K> {
    map: HashMap<K, Record>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            map: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn next_start(&self, now: Instant, key: &K, budget: Budget) -> Instant {
        match self.map.get(key) {
            Some(r) if !r.forgotten(now, budget) => r.next,
            _ => now,
        }
    }

    fn start(&mut self, now: Instant, key: K, budget: Budget) {
        if self.map.len() >= MAX_ENTRIES && !self.map.contains_key(&key) {
            self.evict(now, budget);
        }
        let record = self.map.entry(key).or_insert(Record {
            started: 0,
            next: now,
        });
        if record.forgotten(now, budget) {
            *record = Record {
                started: 0,
                next: now,
            };
        }
        record.started = record.started.saturating_add(1);
        if record.started >= budget.free {
            record.next = now + backoff(record.started - budget.free, budget.cap);
        }
    }

    /// Forgets what is over; if the table is still full, the records whose turn comes
    /// soonest (the least restrictive) make room.
    fn evict(&mut self, now: Instant, budget: Budget) {
        self.map.retain(|_, r| !r.forgotten(now, budget));
        if self.map.len() >= MAX_ENTRIES {
            let mut nexts: Vec<Instant> = self.map.values().map(|r| r.next).collect();
            let quarter = nexts.len() / 4;
            nexts.select_nth_unstable(quarter);
            let bound = nexts[quarter];
            self.map.retain(|_, r| r.next > bound);
        }
    }
}

impl Record {
    fn forgotten(&self, now: Instant, budget: Budget) -> bool {
        self.next + budget.cap <= now
    }
}

/// The back-off after `over` starts beyond the free ones: 1 s doubling, up to `cap`.
pub(crate) fn backoff(over: u32, cap: Duration) -> Duration {
    Duration::from_secs(1u64 << over.min(20)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    fn key(session: &str, ip: &str) -> GuardKey {
        GuardKey::new(Kind::Password, session, Some(ip.parse().expect("valid")))
    }

    #[test]
    fn four_checks_start_at_once_then_one_per_doubling_back_off() {
        let mut g = LoginGuard::default();
        let k = key("s", "192.0.2.1");
        for _ in 0..4 {
            assert_eq!(g.admit(at(0), &k), Admission::Start);
        }
        assert_eq!(g.admit(at(0), &k), Admission::Wait(at(1_000)));
        assert_eq!(g.admit(at(999), &k), Admission::Wait(at(1_000)));
        assert_eq!(g.admit(at(1_000), &k), Admission::Start);
        assert_eq!(g.admit(at(1_000), &k), Admission::Wait(at(3_000)));
        assert_eq!(g.admit(at(3_000), &k), Admission::Start);
        assert_eq!(g.admit(at(3_000), &k), Admission::Wait(at(7_000)));
        assert_eq!(g.admit(at(7_000), &k), Admission::Start);
        // The next turn is 8 s away: still within the parking limit; 16 s is not.
        assert_eq!(g.admit(at(7_000), &k), Admission::Wait(at(15_000)));
        assert_eq!(g.admit(at(15_000), &k), Admission::Start);
        assert_eq!(
            g.admit(at(15_000), &k),
            Admission::Refuse(Duration::from_secs(16))
        );
    }

    #[test]
    fn a_success_resets_its_pair_and_nothing_else() {
        let mut g = LoginGuard::default();
        let k = key("s", "192.0.2.1");
        for _ in 0..4 {
            g.admit(at(0), &k);
        }
        g.succeeded(&k);
        assert_eq!(g.admit(at(0), &k), Admission::Start);
        let secret = GuardKey::new(Kind::Secret, "s", k.prefix.into());
        assert_eq!(g.admit(at(0), &secret), Admission::Start);
    }

    #[test]
    fn other_addresses_and_sessions_are_not_affected_by_one_pair() {
        let mut g = LoginGuard::default();
        for _ in 0..4 {
            g.admit(at(0), &key("s", "192.0.2.1"));
        }
        assert!(matches!(
            g.admit(at(0), &key("s", "192.0.2.1")),
            Admission::Wait(_)
        ));
        assert_eq!(g.admit(at(0), &key("s", "192.0.2.2")), Admission::Start);
        assert_eq!(g.admit(at(0), &key("t", "192.0.2.1")), Admission::Start);
    }

    #[test]
    fn rotating_addresses_meet_the_session_budget() {
        let mut g = LoginGuard::default();
        for i in 0..32u32 {
            let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
            assert_eq!(g.admit(at(0), &key("s", &ip)), Admission::Start);
        }
        assert_eq!(
            g.admit(at(0), &key("s", "10.9.9.9")),
            Admission::Wait(at(1_000))
        );
        assert_eq!(g.admit(at(1_000), &key("s", "10.9.9.9")), Admission::Start);
        assert_eq!(
            g.admit(at(1_000), &key("s", "10.9.9.10")),
            Admission::Wait(at(3_000))
        );
        // The session back-off stops at a minute.
        for step in 0..20u64 {
            let now = at(3_000 + step * 60_000);
            assert_eq!(
                g.admit(now, &key("s", &format!("10.8.{step}.8"))),
                Admission::Start
            );
        }
        assert_eq!(
            g.admit(at(3_000 + 19 * 60_000), &key("s", "10.8.8.9")),
            Admission::Refuse(Duration::from_secs(60))
        );
    }

    #[test]
    fn guessing_session_names_from_one_address_meets_the_prefix_budget() {
        let mut g = LoginGuard::default();
        for i in 0..64 {
            assert_eq!(
                g.admit(at(0), &key(&format!("s{i}"), "192.0.2.7")),
                Admission::Start
            );
        }
        assert_eq!(
            g.admit(at(0), &key("fresh", "192.0.2.7")),
            Admission::Wait(at(1_000))
        );
    }

    #[test]
    fn the_pair_back_off_is_capped_at_five_minutes_and_forgotten_after_five_more() {
        let mut g = LoginGuard::default();
        let k = key("s", "192.0.2.3");
        let mut now = at(0);
        for _ in 0..20 {
            loop {
                match g.admit(now, &k) {
                    Admission::Start => break,
                    Admission::Wait(turn) => now = turn,
                    Admission::Refuse(wait) => now += wait,
                }
            }
        }
        assert_eq!(g.admit(now, &k), Admission::Refuse(PAIR.cap));
        let later = now + PAIR.cap + PAIR.cap;
        for _ in 0..4 {
            assert_eq!(g.admit(later, &k), Admission::Start);
        }
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let a = prefix(Some("2001:db8:1:2:aaaa::1".parse().expect("valid")));
        let b = prefix(Some("2001:db8:1:2:bbbb::2".parse().expect("valid")));
        let c = prefix(Some("2001:db8:1:3::1".parse().expect("valid")));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = prefix(Some("::ffff:192.0.2.1".parse().expect("valid")));
        assert_eq!(mapped, "192.0.2.1".parse::<IpAddr>().expect("valid"));
    }

    #[test]
    fn back_off_doubles_from_one_second_to_its_cap() {
        let cap = Duration::from_secs(300);
        let steps: Vec<u64> = (0..11).map(|n| backoff(n, cap).as_secs()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }
}
