//! Presence through the real server under a burst of joins and leaves: the watcher's view,
//! built from the frames it gets, ends as the true membership, and `/metrics` counts every
//! presence frame (docs/PROTOCOL.md §8).

mod common;

use std::collections::BTreeMap;

use common::{start, within, Clients, WsClient};
use fastport_proto::codec::{Frame, Hello, Presence, PresenceKind, Subscribe};

const ROOM: &str = "chat/room";

async fn member(server: &common::Server, id: &str, presence: bool) -> WsClient {
    let mut client = server.connect().await;
    client
        .send(&Frame::Hello(Hello {
            session: "demo".into(),
            password: "demo".into(),
            client_id: id.into(),
            display_name: id.to_uppercase(),
            ..Hello::default()
        }))
        .await;
    assert!(matches!(client.frame().await, Frame::Welcome(_)));
    let subscribe = Subscribe {
        request_id: 1,
        presence,
        filter: ROOM.into(),
    };
    client.send(&Frame::Subscribe(subscribe)).await;
    assert!(matches!(client.frame().await, Frame::SubAck(ack) if ack.code.is_ok()));
    client
}

async fn next_presence(client: &mut WsClient) -> Presence {
    match client.frame().await {
        Frame::Presence(p) => p,
        other => panic!("expected presence, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watchers_view_after_a_burst_of_joins_and_leaves_is_the_membership() {
    let server = start(&["--presence-interval", "200ms"]).await;
    let mut watcher = member(&server, "watcher", true).await;
    let snapshot = next_presence(&mut watcher).await;
    assert_eq!(snapshot.kind, PresenceKind::Snapshot);
    let mut view: BTreeMap<String, String> = snapshot
        .members
        .into_iter()
        .map(|m| (m.client_id, m.display_name))
        .collect();
    assert_eq!(view.keys().collect::<Vec<_>>(), ["watcher"]);

    // Thirty join at once; then ten of them leave.
    let joining = (0..30).map(|n| {
        let server = &server;
        async move { member(server, &format!("guest{n:02}"), false).await }
    });
    let mut guests = futures_util::future::join_all(joining).await;
    for guest in guests.drain(..10) {
        drop(guest);
    }
    let mut truth: BTreeMap<String, String> = (10..30)
        .map(|n| format!("guest{n:02}"))
        .map(|id| (id.clone(), id.to_uppercase()))
        .collect();
    truth.insert("watcher".into(), "WATCHER".into());

    // Every presence frame the server sent went to the one watcher.
    let mut received = 1;
    within("the watcher's view to be the membership", async {
        while view != truth
            || received < common::metric(server.addr(), "fastport_presence_frames_total").await
        {
            let p = next_presence(&mut watcher).await;
            received += 1;
            assert_eq!(p.filter, ROOM);
            for m in p.members {
                assert_ne!(m.client_id, "watcher", "a watcher never hears of itself");
                match p.kind {
                    PresenceKind::Join => {
                        let known = view.insert(m.client_id, m.display_name);
                        assert!(known.is_none(), "a join names a member it has");
                    }
                    PresenceKind::Leave => {
                        let known = view.remove(&m.client_id);
                        assert!(known.is_some(), "a leave names a stranger");
                    }
                    kind => panic!("a {kind:?} after the snapshot"),
                }
            }
        }
    })
    .await;
    assert_eq!(view, truth);
    let counted = common::metric(server.addr(), "fastport_presence_frames_total").await;
    assert_eq!(received, counted);
    eprintln!("40 changes reached the watcher in {} frames", received - 1);
}
