//! Presence: members of a filter are the connected clients subscribed to exactly it
//! (docs/PROTOCOL.md §8).

use std::collections::BTreeSet;

use fastport_proto::codec::{Frame, Member, Presence, PresenceKind};

use super::clients::ClientKey;
use super::session::SessionId;
use super::{Broker, ConnId};

impl Broker {
    pub(crate) fn send_snapshot(&mut self, conn: ConnId, id: SessionId, filter: &str) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let mut members = session.topics.get(filter).map_or_else(Vec::new, |subs| {
            subs.clients
                .keys()
                .filter_map(|&c| {
                    let state = session.clients.get(c)?;
                    state.conn?;
                    Some(Member {
                        client_id: state.id.to_string(),
                        display_name: state.display_name.clone(),
                    })
                })
                .collect()
        });
        // Listed by client id, as a reader expects, not in the broker's key order.
        members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        let frame = Presence {
            filter: filter.to_owned(),
            kind: PresenceKind::Snapshot,
            members,
        };
        self.send(conn, &Frame::Presence(frame));
    }

    /// Tells presence subscribers of `filter` (other than `client`) that it joined or left.
    pub(crate) fn announce(
        &mut self,
        id: SessionId,
        filter: &str,
        client: ClientKey,
        kind: PresenceKind,
    ) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(subs) = session.topics.get(filter) else {
            return;
        };
        let Some(state) = session.clients.get(client) else {
            return;
        };
        let watchers: BTreeSet<ConnId> = subs
            .clients
            .iter()
            .filter(|&(&c, &presence)| presence && c != client)
            .filter_map(|(&c, _)| session.clients.get(c).and_then(|s| s.conn))
            .collect();
        if watchers.is_empty() {
            return;
        }
        let frame = Frame::Presence(Presence {
            filter: filter.to_owned(),
            kind,
            members: vec![Member {
                client_id: state.id.to_string(),
                display_name: state.display_name.clone(),
            }],
        })
        .encode();
        for conn in watchers {
            self.send_bytes(conn, frame.clone());
        }
    }

    /// Announces a client on every filter it holds (it connected or left).
    pub(crate) fn announce_all(&mut self, id: SessionId, client: ClientKey, joined: bool) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(state) = session.clients.get(client) else {
            return;
        };
        let filters: Vec<String> = state.subs.keys().cloned().collect();
        let kind = if joined {
            PresenceKind::Join
        } else {
            PresenceKind::Leave
        };
        for filter in filters {
            self.announce(id, &filter, client, kind);
        }
    }
}
