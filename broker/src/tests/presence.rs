//! Presence on the virtual clock: changes gathered per filter and interval, one frame per
//! watcher for many changes, snapshots and changes that agree, and congested watchers
//! brought up to date once they drain (docs/PROTOCOL.md §8).

use std::collections::{BTreeMap, HashMap};

use fastport_proto::codec::{Member, Presence, PresenceKind};

use super::*;

const INTERVAL: Duration = Duration::from_millis(100);
const ROOM: &str = "chat/room";

/// Connects `client` on `conn` under a display name of its own choosing.
fn join_as(t: &mut T, conn: u64, client: &str, name: &str, resume: bool) {
    t.b.handle_open(t.now, ConnId(conn), None);
    t.send(
        conn,
        Frame::Hello(Hello {
            resume,
            keepalive_ms: 10_000,
            session: "demo".into(),
            password: "pw".into(),
            client_id: client.into(),
            resume_token: t.tokens.get(client).cloned().unwrap_or_default(),
            display_name: name.into(),
            ..Hello::default()
        }),
    );
    let frames = t.frames(conn);
    let Some(Frame::Welcome(w)) = frames.first() else {
        panic!("{client} was not welcomed: {frames:?}");
    };
    t.tokens.insert(w.client_id.clone(), w.resume_token.clone());
}

/// The presence frames among `frames`.
fn presence(frames: Vec<Frame>) -> Vec<Presence> {
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::Presence(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn ids(p: &Presence) -> Vec<&str> {
    p.members.iter().map(|m| m.client_id.as_str()).collect()
}

/// Alice watches the room, and the first change (her own arrival) has gone out.
fn watched_room() -> T {
    let mut t = T::new();
    t.connect(1, "alice");
    t.subscribe(1, ROOM, true);
    t.advance(Duration::ZERO);
    let got = presence(t.frames(1));
    assert!(matches!(&got[..], [p] if p.kind == PresenceKind::Snapshot && ids(p) == ["alice"]));
    t
}

#[test]
fn a_snapshot_follows_the_suback_and_lists_every_member() {
    let mut t = watched_room();
    // The room is quiet after an interval: the next change goes out at once.
    t.advance(INTERVAL);
    t.connect(2, "bob");
    let frames = t.subscribe(2, ROOM, true);
    assert!(matches!(frames[..], [Frame::SubAck(_)]), "{frames:?}");
    t.advance(Duration::ZERO);
    let got = presence(t.frames(2));
    assert!(
        matches!(&got[..], [p] if p.kind == PresenceKind::Snapshot && ids(p) == ["alice", "bob"]),
        "{got:?}"
    );
    let got = presence(t.frames(1));
    assert!(matches!(&got[..], [p] if p.kind == PresenceKind::Join
        && p.members == [Member { client_id: "bob".into(), display_name: "BOB".into() }]));
    t.b.handle_close(t.now, ConnId(2));
    t.advance(INTERVAL);
    let got = presence(t.frames(1));
    assert!(matches!(&got[..], [p] if p.kind == PresenceKind::Leave && ids(p) == ["bob"]));
}

#[test]
fn many_joins_within_an_interval_reach_each_watcher_as_one_shared_frame() {
    let mut t = watched_room();
    t.connect(2, "bob");
    t.subscribe(2, ROOM, true);
    t.advance(INTERVAL);
    t.frames(1);
    t.frames(2);
    // A quiet room again: the first of forty arrivals goes out at once, the other
    // thirty-nine at the interval's end, in one frame per watcher.
    t.advance(INTERVAL);
    for n in 0..40u64 {
        t.connect(10 + n, &format!("guest{n:02}"));
        t.subscribe(10 + n, ROOM, false);
        if n == 0 {
            t.advance(Duration::ZERO);
        }
    }
    for watcher in [1, 2] {
        let got = presence(t.frames(watcher));
        assert!(matches!(&got[..], [p] if p.kind == PresenceKind::Join && ids(p) == ["guest00"]));
    }
    t.advance(INTERVAL - Duration::from_millis(1));
    assert!(
        t.frames(1).is_empty(),
        "the changes wait for the interval's end"
    );
    t.advance(Duration::from_millis(1));
    let (alice, bob) = (t.raw(1), t.raw(2));
    assert_eq!((alice.len(), bob.len()), (1, 1), "one frame each");
    assert_eq!(alice[0].as_ptr(), bob[0].as_ptr(), "encoded once, shared");
    let got = presence(vec![Frame::decode(alice[0].clone()).expect("a frame")]);
    let want: Vec<String> = (1..40).map(|n| format!("guest{n:02}")).collect();
    assert_eq!(got[0].kind, PresenceKind::Join);
    assert_eq!(ids(&got[0]), want);
    // The guests watch nothing: they got only their SubAcks.
    assert!(presence(t.frames(10)).is_empty());
}

#[test]
fn a_client_that_joins_and_leaves_within_an_interval_is_announced_in_neither() {
    let mut t = watched_room();
    t.connect(2, "bob");
    t.subscribe(2, ROOM, false);
    t.advance(INTERVAL);
    let got = presence(t.frames(1));
    assert!(matches!(&got[..], [p] if p.kind == PresenceKind::Join && ids(p) == ["bob"]));
    // Within the next interval: carol comes and goes, bob goes and comes back.
    t.connect(3, "carol");
    t.subscribe(3, ROOM, false);
    t.b.handle_close(t.now, ConnId(3));
    t.send(
        2,
        Frame::Unsubscribe(Unsubscribe {
            request_id: 2,
            filter: ROOM.into(),
        }),
    );
    t.subscribe(2, ROOM, false);
    t.advance(INTERVAL);
    assert!(
        presence(t.frames(1)).is_empty(),
        "the watcher's view is right already"
    );
    assert_eq!(
        t.b.metrics().presence_frames,
        2,
        "alice's snapshot and bob's join"
    );
}

#[test]
fn a_client_back_under_another_name_is_a_leave_then_a_join() {
    let mut t = watched_room();
    join_as(&mut t, 2, "bob", "Bob", true);
    t.subscribe(2, ROOM, false);
    t.advance(INTERVAL);
    t.frames(1);
    t.b.handle_close(t.now, ConnId(2));
    join_as(&mut t, 3, "bob", "Robert", true);
    t.advance(INTERVAL);
    let got = presence(t.frames(1));
    let named = |p: &Presence| (p.kind, p.members[0].display_name.clone());
    let got: Vec<_> = got.iter().map(named).collect();
    assert_eq!(
        got,
        [
            (PresenceKind::Leave, "Bob".to_owned()),
            (PresenceKind::Join, "Robert".to_owned())
        ]
    );
}

#[test]
fn a_congested_watcher_gets_nothing_until_it_drains_then_the_true_membership() {
    let mut t = watched_room();
    t.connect(2, "bob");
    t.subscribe(2, ROOM, false);
    t.advance(INTERVAL);
    t.frames(1);
    t.connect(3, "carol");
    t.subscribe(3, ROOM, true);
    t.advance(INTERVAL);
    t.frames(3);
    t.frames(1);
    t.b.handle_congested(ConnId(1));
    t.pump();
    // While alice's queue is full: bob leaves, dave and erin come.
    t.b.handle_close(t.now, ConnId(2));
    for (conn, client) in [(4, "dave"), (5, "erin")] {
        t.connect(conn, client);
        t.subscribe(conn, ROOM, false);
    }
    t.advance(INTERVAL);
    t.advance(INTERVAL);
    assert!(t.frames(1).is_empty(), "nothing for a congested watcher");
    let got = presence(t.frames(3));
    let kinds: Vec<_> = got.iter().map(|p| (p.kind, ids(p))).collect();
    assert_eq!(
        kinds,
        [
            (PresenceKind::Leave, vec!["bob"]),
            (PresenceKind::Join, vec!["dave", "erin"])
        ],
        "the others get the changes"
    );
    t.b.handle_drained(t.now, ConnId(1));
    t.advance(INTERVAL);
    let got = presence(t.frames(1));
    assert!(
        matches!(&got[..], [p] if p.kind == PresenceKind::Snapshot
            && ids(p) == ["alice", "carol", "dave", "erin"]),
        "{got:?}"
    );
    assert!(t.frames(3).is_empty(), "nobody else hears of it");
    // Quiet again: no more timers for presence.
    t.advance(INTERVAL);
    t.advance(INTERVAL);
    assert!(t.frames(1).is_empty());
}

#[test]
fn a_resumed_watcher_gets_a_snapshot_of_what_changed_while_it_was_away() {
    let mut t = T::new();
    join_as(&mut t, 1, "alice", "Alice", true);
    t.subscribe(1, ROOM, true);
    t.advance(INTERVAL);
    t.frames(1);
    t.b.handle_close(t.now, ConnId(1));
    t.connect(2, "bob");
    t.subscribe(2, ROOM, false);
    t.advance(INTERVAL);
    // Alice resumes without subscribing again: her subscription is kept.
    join_as(&mut t, 3, "alice", "Alice", true);
    t.advance(INTERVAL);
    let got = presence(t.frames(3));
    assert!(
        matches!(&got[..], [p] if p.kind == PresenceKind::Snapshot && ids(p) == ["alice", "bob"]),
        "{got:?}"
    );
}

/// A watcher's view, built from the frames it gets.
#[derive(Default)]
struct View {
    members: Option<BTreeMap<String, String>>,
}

impl View {
    fn apply(&mut self, me: &str, p: Presence) {
        let pairs = p.members.into_iter().map(|m| (m.client_id, m.display_name));
        match p.kind {
            PresenceKind::Snapshot => self.members = Some(pairs.collect()),
            PresenceKind::Join | PresenceKind::Leave => {
                let members = self.members.as_mut().expect("a snapshot comes first");
                for (id, name) in pairs {
                    assert_ne!(id, me, "a watcher never hears of itself");
                    if p.kind == PresenceKind::Join {
                        assert!(members.insert(id, name).is_none(), "a join of a member");
                    } else {
                        assert!(members.remove(&id).is_some(), "a leave of a stranger");
                    }
                }
            }
        }
    }
}

/// What the test knows of one client id.
#[derive(Default)]
struct Model {
    conn: Option<u64>,
    name: String,
    /// Subscribed to the room, and with presence.
    sub: Option<bool>,
}

/// A small deterministic generator (the broker tests use no randomness crate).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn every_watchers_view_is_the_true_membership_once_changes_have_gone_out() {
    for seed in 0..8 {
        run_model(seed);
    }
}

fn run_model(seed: u64) {
    let mut t = T::new();
    let mut rng = Lcg(seed);
    let names: Vec<String> = (0..8).map(|n| format!("c{n}")).collect();
    // The first four resume: their subscriptions outlive their connections.
    let resumes = |c: usize| c < 4;
    let mut model: Vec<Model> = (0..8).map(|_| Model::default()).collect();
    let mut views: HashMap<u64, View> = HashMap::new();
    let mut congested: Vec<u64> = Vec::new();
    let mut next_conn = 1;
    let mut changes = 0;
    for step in 0..600 {
        let c = rng.below(8) as usize;
        match rng.below(8) {
            // Connect, or take over the client id's connection.
            0 | 1 => {
                if let Some(old) = model[c].conn.take() {
                    views.remove(&old);
                }
                let name = format!("{}-{}", names[c], rng.below(2));
                let conn = next_conn;
                next_conn += 1;
                join_as(&mut t, conn, &names[c], &name, resumes(c));
                if !resumes(c) {
                    model[c].sub = None;
                }
                if model[c].sub.is_some() {
                    // A resumed watcher is owed a snapshot.
                    views.insert(conn, View::default());
                }
                model[c].conn = Some(conn);
                model[c].name = name;
            }
            2 => {
                if let Some(conn) = model[c].conn.take() {
                    t.b.handle_close(t.now, ConnId(conn));
                    views.remove(&conn);
                    if !resumes(c) {
                        model[c].sub = None;
                    }
                }
            }
            3 | 4 => {
                if let Some(conn) = model[c].conn {
                    let watch = rng.below(2) == 0;
                    t.subscribe(conn, ROOM, watch);
                    model[c].sub = Some(watch);
                    if watch {
                        views.insert(conn, View::default());
                    } else {
                        views.remove(&conn);
                    }
                }
            }
            5 => {
                if let Some(conn) = model[c].conn {
                    let filter = ROOM.into();
                    t.send(
                        conn,
                        Frame::Unsubscribe(Unsubscribe {
                            request_id: 3,
                            filter,
                        }),
                    );
                    model[c].sub = None;
                    views.remove(&conn);
                }
            }
            6 => {
                if let Some(conn) = model[c].conn {
                    if congested.contains(&conn) {
                        congested.retain(|&x| x != conn);
                        t.b.handle_drained(t.now, ConnId(conn));
                    } else {
                        congested.push(conn);
                        t.b.handle_congested(ConnId(conn));
                    }
                }
            }
            _ => t.advance(Duration::from_millis(rng.below(120))),
        }
        t.pump();
        changes += 1;
        // Apply what each watcher got.
        let conns: Vec<u64> = t.sent.keys().map(|c| c.0).collect();
        for conn in conns {
            let got = presence(t.frames(conn));
            let owner = model.iter().position(|m| m.conn == Some(conn));
            if congested.contains(&conn) {
                assert!(
                    got.is_empty(),
                    "seed {seed} step {step}: sent while congested"
                );
            }
            if let (Some(view), Some(owner)) = (views.get_mut(&conn), owner) {
                for p in got {
                    assert_eq!(p.filter, ROOM);
                    view.apply(&names[owner], p);
                }
            }
        }
        if changes < 40 {
            continue;
        }
        // Everyone drains, the intervals run out, and every view must be the truth.
        changes = 0;
        for conn in congested.drain(..) {
            t.b.handle_drained(t.now, ConnId(conn));
        }
        for m in &model {
            if let Some(conn) = m.conn {
                t.send(conn, Frame::Ping { nonce: 0 });
            }
        }
        t.advance(INTERVAL);
        t.advance(INTERVAL);
        let truth: BTreeMap<String, String> = model
            .iter()
            .enumerate()
            .filter(|(_, m)| m.conn.is_some() && m.sub.is_some())
            .map(|(c, m)| (names[c].clone(), m.name.clone()))
            .collect();
        for (c, m) in model.iter().enumerate() {
            let Some(conn) = m.conn.filter(|_| m.sub == Some(true)) else {
                continue;
            };
            let got = presence(t.frames(conn));
            let view = views.get_mut(&conn).expect("a watcher has a view");
            for p in got {
                view.apply(&names[c], p);
            }
            assert_eq!(
                view.members.as_ref(),
                Some(&truth),
                "seed {seed} step {step}: the view of {}",
                names[c]
            );
        }
        t.sent.clear();
    }
}
