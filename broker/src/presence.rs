//! Presence: members of a filter are the connected clients subscribed to exactly it
//! (docs/PROTOCOL.md §8).
//!
//! Joins and leaves are not sent one by one: a burst of them (a reconnect storm) would go
//! to every watcher, N × W frames. Each filter gathers its changes and *flushes* them at
//! most once per `presence_interval`: one `leave` frame and one `join` frame with the net
//! change since the last flush, each encoded once and shared by every watcher. A quiet
//! filter's first change flushes at once (at the next timer tick, the same instant), and
//! starts an interval; changes during it wait for its end, which flushes again and starts
//! the next interval if there was anything to send.
//!
//! What a watcher sees is always the membership as of the filter's last flush: a snapshot
//! is owed to a watcher that subscribes (or resumes) and sent at the next flush, listing
//! the members then, instead of that flush's changes; every other watcher gets the changes.
//! So snapshot and changes never disagree, and a watcher never sees its own join (it joined
//! since the last flush, so it gets a snapshot instead). A watcher whose outbound queue is
//! at its budget (`budget.rs`) is sent nothing; if it missed changes it is owed a snapshot,
//! which the flushes (one per interval while one is owed) send once it has drained.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{Frame, Member, Presence, PresenceKind};
use fastport_proto::time::Instant;

use super::clients::ClientKey;
use super::session::{Session, SessionId};
use super::timers::Timer;
use super::{Broker, ConnId};

/// The presence changes of every filter that changed within the last interval.
#[derive(Debug, Default)]
pub(crate) struct Gatherer {
    /// Per session and filter; a filter is here exactly while its next flush is in `ready`
    /// or `due`.
    filters: HashMap<SessionId, HashMap<Box<str>, Gathered>>,
    /// Filters that were quiet: they flush at the next timer tick.
    ready: Vec<(SessionId, Box<str>)>,
    /// Filters whose interval ends at the instant, in that order (all intervals are as long).
    due: VecDeque<(Instant, SessionId, Box<str>)>,
}

#[derive(Debug, Default)]
struct Gathered {
    /// Each client that joined or left since the last flush, by client id, as watchers
    /// last heard of it: its display name, or `None` for absent.
    told: BTreeMap<Arc<str>, Option<String>>,
    /// Watchers owed a snapshot at the next flush instead of its changes.
    snapshot_owed: BTreeSet<ConnId>,
}

/// What one flush sends: the shared frames, made once.
struct Flush {
    leave: Option<Bytes>,
    join: Option<Bytes>,
    snapshot: Option<Bytes>,
    watchers: Vec<ConnId>,
}

impl Broker {
    /// `client` joined (`true`) or left `filter`: its watchers hear of it at the filter's
    /// next flush. Call it after the change for a join, before the client's state is
    /// dropped for a leave.
    pub(crate) fn presence_changed(
        &mut self,
        now: Instant,
        id: SessionId,
        filter: &str,
        client: ClientKey,
        joined: bool,
    ) {
        let Some(state) = self.sessions.get(&id).and_then(|s| s.clients.get(client)) else {
            return;
        };
        let client_id = state.id.clone();
        // The first change since the last flush says what watchers were told: absent
        // before a join, present under its name before a leave.
        let before = (!joined).then(|| state.display_name.clone());
        self.gathered(now, id, filter)
            .told
            .entry(client_id)
            .or_insert(before);
    }

    /// Announces a client on every filter it holds (it connected, resumed or left).
    pub(crate) fn presence_changed_all(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
        joined: bool,
    ) {
        let Some(state) = self.sessions.get(&id).and_then(|s| s.clients.get(client)) else {
            return;
        };
        let filters: Vec<String> = state.subs.keys().cloned().collect();
        for filter in filters {
            self.presence_changed(now, id, &filter, client, joined);
        }
    }

    /// `conn` watches `filter` afresh: it gets a snapshot at the filter's next flush.
    pub(crate) fn presence_snapshot_owed(
        &mut self,
        now: Instant,
        id: SessionId,
        filter: &str,
        conn: ConnId,
    ) {
        self.gathered(now, id, filter).snapshot_owed.insert(conn);
    }

    /// A resumed client on `conn` missed every change while it was offline: a snapshot of
    /// each filter it watches is owed to it.
    pub(crate) fn presence_resumed(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
        conn: ConnId,
    ) {
        let Some(state) = self.sessions.get(&id).and_then(|s| s.clients.get(client)) else {
            return;
        };
        let watched: Vec<String> = state
            .subs
            .iter()
            .filter(|&(_, &presence)| presence)
            .map(|(filter, _)| filter.clone())
            .collect();
        for filter in watched {
            self.presence_snapshot_owed(now, id, &filter, conn);
        }
    }

    /// The presence timer fired: flushes the filters that were quiet and those whose
    /// interval ended.
    pub(crate) fn presence_due(&mut self, now: Instant) {
        let mut flushing = std::mem::take(&mut self.presence.ready);
        while let Some(&(at, ..)) = self.presence.due.front() {
            if at > now {
                break;
            }
            if let Some((_, id, filter)) = self.presence.due.pop_front() {
                flushing.push((id, filter));
            }
        }
        for (id, filter) in flushing {
            self.flush_presence(now, id, filter);
        }
    }

    /// The filter's gathered changes, armed to flush: at once if it was quiet.
    fn gathered(&mut self, now: Instant, id: SessionId, filter: &str) -> &mut Gathered {
        let presence = &mut self.presence;
        let filters = presence.filters.entry(id).or_default();
        if !filters.contains_key(filter) {
            presence.ready.push((id, filter.into()));
            self.timers.set(now, Timer::Presence);
        }
        filters.entry(filter.into()).or_default()
    }

    fn flush_presence(&mut self, now: Instant, id: SessionId, filter: Box<str>) {
        let Some(filters) = self.presence.filters.get_mut(&id) else {
            return;
        };
        let Some(gathered) = filters.remove(&filter) else {
            return;
        };
        if filters.is_empty() {
            self.presence.filters.remove(&id);
        }
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let flush = prepare(session, &filter, &gathered);
        let changed = flush.leave.is_some() || flush.join.is_some();
        let mut owed = BTreeSet::new();
        for conn in flush.watchers {
            let fresh = gathered.snapshot_owed.contains(&conn);
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if c.congested {
                // What it misses now it gets as a snapshot once it has drained.
                if fresh || changed {
                    owed.insert(conn);
                }
                continue;
            }
            let frames = if fresh {
                [flush.snapshot.as_ref(), None]
            } else {
                [flush.leave.as_ref(), flush.join.as_ref()]
            };
            for frame in frames.into_iter().flatten() {
                self.metrics.presence_frames += 1;
                self.send_bytes(conn, frame.clone());
            }
        }
        // Quiet: the next change goes out at once. Otherwise an interval starts, which
        // also retries the snapshots owed to congested watchers.
        if !changed && gathered.snapshot_owed.is_empty() {
            return;
        }
        let at = now + self.config.presence_interval.max(Duration::from_millis(1));
        let next = Gathered {
            told: BTreeMap::new(),
            snapshot_owed: owed,
        };
        self.presence
            .filters
            .entry(id)
            .or_default()
            .insert(filter.clone(), next);
        self.presence.due.push_back((at, id, filter));
        self.timers.set(at, Timer::Presence);
    }
}

/// The frames of one flush of `filter` and who watches it.
fn prepare(session: &Session, filter: &str, gathered: &Gathered) -> Flush {
    let member = |key: ClientKey| {
        let state = session.clients.get(key)?;
        state.conn?;
        Some(Member {
            client_id: state.id.to_string(),
            display_name: state.display_name.clone(),
        })
    };
    let subs = session.topics.get(filter);
    let mut leaves = Vec::new();
    let mut joins = Vec::new();
    for (client_id, told) in &gathered.told {
        let present = session
            .clients
            .key(client_id)
            .filter(|&key| subs.is_some_and(|s| s.clients.contains_key(&key)))
            .and_then(member)
            .map(|m| m.display_name);
        if *told == present {
            continue;
        }
        // A client that left and came back under another name is in both: leave first.
        if let Some(name) = told {
            leaves.push(Member {
                client_id: client_id.to_string(),
                display_name: name.clone(),
            });
        }
        if let Some(name) = present {
            joins.push(Member {
                client_id: client_id.to_string(),
                display_name: name,
            });
        }
    }
    let watchers = subs.map_or_else(Vec::new, |s| {
        s.clients
            .iter()
            .filter(|&(_, &presence)| presence)
            .filter_map(|(&key, _)| session.clients.get(key)?.conn)
            .collect()
    });
    let snapshot = (!gathered.snapshot_owed.is_empty()).then(|| {
        let mut members: Vec<Member> = subs.map_or_else(Vec::new, |s| {
            s.clients.keys().filter_map(|&key| member(key)).collect()
        });
        // Listed by client id, as a reader expects, not in the broker's key order.
        members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        encode(filter, PresenceKind::Snapshot, members)
    });
    let frame =
        |kind, members: Vec<Member>| (!members.is_empty()).then(|| encode(filter, kind, members));
    Flush {
        leave: frame(PresenceKind::Leave, leaves),
        join: frame(PresenceKind::Join, joins),
        snapshot,
        watchers,
    }
}

fn encode(filter: &str, kind: PresenceKind, members: Vec<Member>) -> Bytes {
    Frame::Presence(Presence {
        filter: filter.to_owned(),
        kind,
        members,
    })
    .encode()
}
