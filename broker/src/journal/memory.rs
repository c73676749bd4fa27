//! A journal store in memory: the records applied as the server's Redis engine applies
//! them, for tests and simulations that restart a broker from what it stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{
    decode_receipt, ClientRecord, MessageRecord, Record, RestoredClient, RestoredMessage,
    RestoredSession, SessionRecord, Tombstone,
};

/// A stored message, who still owes an ack (with attempts), delivered, failed.
type StoredMessage = (MessageRecord, BTreeMap<Arc<str>, u32>, u32, u32);

/// What a storage engine keeps, applied record by record as the server's Redis engine does
/// (without its expiry: nothing here expires).
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: BTreeMap<String, SessionRecord>,
    clients: BTreeMap<(String, Arc<str>), ClientRecord>,
    receipts: BTreeMap<(String, Arc<str>), Vec<Bytes>>,
    messages: BTreeMap<(String, u64), StoredMessage>,
    tombstones: BTreeMap<(String, u64), (Arc<str>, u64, Bytes)>,
    next_delivery: BTreeMap<String, u64>,
}

impl MemoryStore {
    /// Applies one record, as a storage engine stores it.
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Session(s) => {
                self.sessions.insert(s.name.clone(), *s);
            }
            Record::SessionDropped { session } => {
                self.sessions.remove(&session);
                self.clients.retain(|(s, _), _| *s != session);
                self.messages.retain(|(s, _), _| *s != session);
            }
            Record::Client(c) => {
                self.clients
                    .insert((c.session.clone(), c.client.clone()), *c);
            }
            Record::ClientOffline { .. } => {}
            Record::ClientGone { session, client } => {
                self.clients.remove(&(session.clone(), client.clone()));
                self.receipts.remove(&(session, client));
            }
            Record::Message(m) => {
                let waiting = m.targets.iter().map(|t| (t.clone(), 1)).collect();
                self.next_delivery
                    .insert(m.session.clone(), m.next_delivery);
                self.messages
                    .insert((m.session.clone(), m.delivery), (*m, waiting, 0, 0));
            }
            Record::Attempt {
                session,
                delivery,
                client,
                attempt,
            } => {
                if let Some(m) = self.messages.get_mut(&(session, delivery)) {
                    if let Some(a) = m.1.get_mut(&client) {
                        *a = attempt;
                    }
                }
            }
            Record::Settled {
                session,
                delivery,
                client,
                delivered,
            } => {
                if let Some(m) = self.messages.get_mut(&(session, delivery)) {
                    if m.1.remove(&client).is_some() {
                        if delivered {
                            m.2 += 1;
                        } else {
                            m.3 += 1;
                        }
                    }
                }
            }
            Record::Done {
                session,
                delivery,
                receipt,
                ..
            } => {
                if let Some((m, ..)) = self.messages.remove(&(session.clone(), delivery)) {
                    let tomb = (m.publisher, m.message_id, receipt);
                    self.tombstones.insert((session, delivery), tomb);
                }
            }
            Record::ReceiptQueued {
                session,
                client,
                receipt,
                ..
            } => self
                .receipts
                .entry((session, client))
                .or_default()
                .push(receipt),
            Record::ReceiptsTaken { session, client } => {
                self.receipts.remove(&(session, client));
            }
        }
    }

    /// What a restarted broker gets back of session `name`.
    pub fn restored(&self, name: &str) -> RestoredSession {
        let clients = self
            .clients
            .iter()
            .filter(|((s, _), _)| s == name)
            .map(|(key, c)| RestoredClient {
                record: c.clone(),
                receipts: self.receipts.get(key).cloned().unwrap_or_default(),
            })
            .collect();
        let messages = self
            .messages
            .iter()
            .filter(|((s, _), _)| s == name)
            .map(|(_, (m, waiting, delivered, failed))| RestoredMessage {
                record: m.clone(),
                remaining: m.expiry,
                waiting: waiting.iter().map(|(c, a)| (c.clone(), *a)).collect(),
                delivered: *delivered,
                failed: *failed,
            })
            .collect();
        let tombstones = self
            .tombstones
            .iter()
            .filter(|((s, _), _)| s == name)
            .map(|(_, (publisher, message_id, receipt))| Tombstone {
                publisher: publisher.clone(),
                message_id: *message_id,
                receipt: decode_receipt(receipt),
            })
            .collect();
        RestoredSession {
            name: name.to_owned(),
            session: self.sessions.get(name).cloned(),
            next_delivery: self.next_delivery.get(name).copied().unwrap_or(0),
            clients,
            messages,
            tombstones,
        }
    }
}

impl MemoryStore {
    /// A stored session.
    pub fn session(&self, name: &str) -> Option<&SessionRecord> {
        self.sessions.get(name)
    }

    /// The names of the stored sessions.
    pub fn sessions(&self) -> Vec<String> {
        self.sessions.keys().cloned().collect()
    }
}
