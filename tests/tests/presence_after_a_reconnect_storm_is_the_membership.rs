//! Twenty clients watch one room's presence; every connection breaks at once and all
//! reconnect (half resuming, half fresh). Each client's view, built from its presence
//! events, ends as the whole room, and the broker sent far fewer presence frames than one
//! per change per watcher.

use std::collections::BTreeSet;
use std::time::Duration;

use fastport_client_core::codec::{Frame, PresenceKind};
use fastport_client_core::topic::TopicFilter;
use fastport_client_core::{Event, State};
use fastport_tests::{broker, client_config, Sim};

const N: usize = 20;

/// The members a client's presence events add up to (by client id); `None` before its
/// first snapshot.
fn view(sim: &Sim, i: usize) -> Option<BTreeSet<String>> {
    let mut view: Option<BTreeSet<String>> = None;
    for (kind, members) in sim.events_of(i, |e| match e {
        Event::Presence { kind, members, .. } => Some((*kind, members)),
        _ => None,
    }) {
        let ids = members.iter().map(|m| m.client_id.clone());
        match kind {
            PresenceKind::Snapshot => view = Some(ids.collect()),
            PresenceKind::Join | PresenceKind::Leave => {
                let v = view.as_mut().expect("a snapshot first");
                for id in ids {
                    let known = if kind == PresenceKind::Join {
                        !v.insert(id)
                    } else {
                        v.remove(&id)
                    };
                    assert_eq!(
                        known,
                        kind == PresenceKind::Leave,
                        "{kind:?} of {members:?}"
                    );
                }
            }
        }
    }
    view
}

fn connects(sim: &Sim, i: usize) -> usize {
    sim.events_of(i, |e| {
        matches!(e, Event::StateChanged(State::Connected { .. })).then_some(())
    })
    .count()
}

#[test]
fn every_watchers_view_after_a_reconnect_storm_is_the_whole_room() {
    let mut sim = Sim::new(11, broker());
    let ids: BTreeSet<String> = (0..N).map(|n| format!("member-{n:02}")).collect();
    let clients: Vec<usize> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let mut config = client_config(id);
            config.resume = n % 2 == 0;
            sim.add_client(config)
        })
        .collect();
    let room = TopicFilter::new("chat/room").expect("valid");
    for &c in &clients {
        sim.with_client(c, |core, now| core.subscribe(now, room.clone(), true))
            .expect("subscribe");
    }
    let all_see_everyone = |s: &Sim| clients.iter().all(|&c| view(s, c).as_ref() == Some(&ids));
    assert!(sim.run_until(Duration::from_secs(10), all_see_everyone));

    let before = sim.broker.sent(|f| matches!(f, Frame::Presence(_)));
    for &c in &clients {
        sim.reset_connection(c);
    }
    let reconnected = |s: &Sim| clients.iter().all(|&c| connects(s, c) == 2);
    assert!(sim.run_until(Duration::from_secs(30), reconnected));
    sim.run_for(Duration::from_secs(2));
    for &c in &clients {
        assert_eq!(view(&sim, c).as_ref(), Some(&ids), "the view of client {c}");
    }
    // One frame per change per watcher: N leaves and N joins to the N - 1 others.
    let one_by_one = 2 * N * (N - 1);
    let sent = sim.broker.sent(|f| matches!(f, Frame::Presence(_))) - before;
    assert!(sent < one_by_one / 2, "{sent} presence frames");
    eprintln!("{sent} presence frames ({one_by_one} one by one)");
}
