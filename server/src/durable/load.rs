//! Reading the stored sessions back, at start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_broker::journal::{
    decode_receipt, ClientRecord, MessageRecord, RestoredClient, RestoredMessage, RestoredSession,
    SessionRecord, Tombstone,
};
use fastport_proto::codec::SessionConfig;
use fastport_proto::settings::Setting;
use redis::aio::ConnectionLike;
use redis::RedisResult;

use super::format::{self, Stored};
use super::{key, message_key, receipts_key, waiting_key, StoredClient, FAILED};

/// A hash's fields by name, as bytes.
type Fields = HashMap<String, Vec<u8>>;

fn text(fields: &Fields, name: &str) -> Option<String> {
    fields
        .get(name)
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

fn number(fields: &Fields, name: &str) -> Option<u64> {
    text(fields, name).and_then(|t| t.parse().ok())
}

/// A session's waiting hash, by delivery: who still owes an ack (with attempts), and how
/// many failed.
#[derive(Default)]
struct Waiting {
    clients: Vec<(Arc<str>, u32)>,
    failed: u32,
}

/// Loads the clients and messages of `name` too when only the configuration names it.
///
/// Tidies the session's waiting hash as it goes: entries of messages that are settled or
/// gone leave it (a crash between a message's expiry and its tombstone leaves them), and
/// subscribers that do not come back (not resumable, or expired) count as failed, as the
/// broker counts them. Called at start and when a node takes a session over, by the node
/// that owns the session (its writes are fenced): those are the only writes here.
pub(crate) async fn load_session<C: ConnectionLike>(
    conn: &mut C,
    name: &str,
    now: u64,
) -> RedisResult<RestoredSession> {
    type Loaded = (
        Fields,
        Fields,
        Fields,
        Vec<(u64, f64)>,
        HashMap<String, u32>,
    );
    let (session, clients, offline, index, waiting): Loaded = redis::pipe()
        .hgetall(key(name, "session"))
        .hgetall(key(name, "clients"))
        .hgetall(key(name, "offline"))
        .zrangebyscore_withscores(key(name, "index"), now, "+inf")
        .hgetall(waiting_key(name))
        .query_async(conn)
        .await?;
    let record = session_record(name, &session);
    let next_delivery = number(&session, "next_delivery").unwrap_or(0);
    let mut restored_clients = restore_clients(name, &clients, &offline, now);
    if !restored_clients.is_empty() {
        let mut p = redis::pipe();
        for c in &restored_clients {
            p.lrange(receipts_key(name, &c.record.client), 0, -1);
        }
        let receipts: Vec<Vec<Vec<u8>>> = p.query_async(conn).await?;
        for (client, frames) in restored_clients.iter_mut().zip(receipts) {
            client.receipts = frames.into_iter().map(Bytes::from).collect();
        }
    }
    let mut by_delivery: HashMap<u64, Waiting> = HashMap::new();
    let mut stale = Vec::new();
    for (field, value) in waiting {
        let parsed = match field.split_once(':') {
            Some((d, client)) => d.parse().ok().map(|d| (d, Some(client))),
            None => field.parse().ok().map(|d| (d, None)),
        };
        let Some((delivery, client)) = parsed else {
            stale.push(field);
            continue;
        };
        let w = by_delivery.entry(delivery).or_default();
        match client {
            Some(client) => w.clients.push((Arc::from(client), value)),
            None => w.failed = value,
        }
    }
    let values: Vec<Option<Vec<u8>>> = if index.is_empty() {
        Vec::new()
    } else {
        let mut p = redis::pipe();
        for &(delivery, _) in &index {
            p.get(message_key(name, delivery));
        }
        p.query_async(conn).await?
    };
    let back: HashSet<&str> = restored_clients.iter().map(|c| &*c.record.client).collect();
    let mut messages = Vec::new();
    let mut tombstones = Vec::new();
    // Subscribers that do not come back: failed pairs for the script.
    let mut gone = Vec::new();
    for (&(delivery, expires), value) in index.iter().zip(values) {
        let Some(stored) = value.and_then(|v| format::decode(Bytes::from(v))) else {
            continue;
        };
        // Scored by when it expires, in Unix ms (exact in an f64 for millennia).
        let remaining = Duration::from_millis((expires as u64).saturating_sub(now).max(1));
        match stored {
            Stored::Tombstone { publisher, receipt } => {
                let Some(receipt) = decode_receipt(&receipt) else {
                    continue;
                };
                tombstones.push(Tombstone {
                    publisher: Arc::from(publisher.as_str()),
                    message_id: receipt.message_id,
                    receipt: Some(receipt),
                });
            }
            Stored::Message {
                message_id,
                payload_len,
                targets,
                topic,
                publisher,
                frame,
            } => {
                let Waiting {
                    clients: owing,
                    mut failed,
                } = by_delivery.remove(&delivery).unwrap_or_default();
                let mut waiting = Vec::with_capacity(owing.len());
                for (client, attempts) in owing {
                    if back.contains(&*client) {
                        waiting.push((client, attempts));
                    } else {
                        gone.push(super::waiting_field(delivery, &client));
                        gone.push(delivery.to_string());
                        failed += 1;
                    }
                }
                let settled = targets.saturating_sub(failed);
                let delivered = settled.saturating_sub(waiting.len() as u32);
                messages.push(RestoredMessage {
                    record: MessageRecord {
                        session: name.to_owned(),
                        delivery,
                        publisher: Arc::from(publisher.as_str()),
                        message_id,
                        topic,
                        frame,
                        payload_len,
                        targets: waiting.iter().map(|(c, _)| c.clone()).collect(),
                        expiry: remaining,
                        next_delivery: delivery + 1,
                    },
                    remaining,
                    waiting,
                    delivered,
                    failed,
                });
            }
        }
    }
    // What is left belongs to no live message, but for one stored after the session's
    // hash was read (a node whose lease just lapsed may still be writing): its delivery id
    // is past the next delivery id read, and its fields stay.
    for (delivery, w) in by_delivery {
        if delivery >= next_delivery {
            continue;
        }
        stale.push(delivery.to_string());
        for (client, _) in w.clients {
            stale.push(super::waiting_field(delivery, &client));
        }
    }
    tidy(conn, name, &stale, &gone).await?;
    Ok(RestoredSession {
        name: name.to_owned(),
        session: record,
        next_delivery,
        clients: restored_clients,
        messages,
        tombstones,
    })
}

/// Drops `stale` waiting fields and settles the `gone` pairs as failed, in one round trip.
async fn tidy<C: ConnectionLike>(
    conn: &mut C,
    name: &str,
    stale: &[String],
    gone: &[String],
) -> RedisResult<()> {
    if stale.is_empty() && gone.is_empty() {
        return Ok(());
    }
    let mut p = redis::pipe();
    if !stale.is_empty() {
        p.hdel(waiting_key(name), stale).ignore();
    }
    if !gone.is_empty() {
        p.cmd("EVAL")
            .arg(FAILED)
            .arg(1)
            .arg(waiting_key(name))
            .arg(gone)
            .ignore();
    }
    p.query_async::<()>(conn).await
}

/// The resumable clients whose state has not expired, without their receipts yet.
fn restore_clients(
    name: &str,
    clients: &Fields,
    offline: &Fields,
    now: u64,
) -> Vec<RestoredClient> {
    let mut restored = Vec::new();
    for (client, json) in clients {
        if number(offline, client).is_some_and(|until| until <= now) {
            continue;
        }
        let Ok(stored) = serde_json::from_slice::<StoredClient>(json) else {
            continue;
        };
        let Some(token_sha256) = hex::decode(&stored.token_sha256)
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
        else {
            continue;
        };
        restored.push(RestoredClient {
            record: ClientRecord {
                session: name.to_owned(),
                client: Arc::from(client.as_str()),
                token_sha256,
                display_name: stored.name,
                subscriptions: stored.subs,
            },
            receipts: Vec::new(),
        });
    }
    restored
}

/// The stored session, if its hash holds both hashes.
fn session_record(name: &str, fields: &Fields) -> Option<SessionRecord> {
    let password = text(fields, "password")?;
    let secret = text(fields, "secret")?;
    let mut settings = SessionConfig::default();
    for &setting in Setting::ALL {
        if let Some(value) = number(fields, &format!("setting:{}", setting.json())) {
            // A value this version cannot hold is left at its default.
            let _ = settings.set(setting, value);
        }
    }
    Some(SessionRecord {
        name: name.to_owned(),
        password,
        secret,
        settings,
        suspended: number(fields, "suspended") == Some(1),
    })
}
