//! Connection options from a JavaScript object (see `ConnectOptions` in the type
//! definitions), checked field by field: a typo or a bad value is an `invalid_options`
//! error naming the field, never a silently ignored setting.

use core::time::Duration;

use fastport_client_core::client::ClientConfig;
use fastport_client_core::crypto::{Key, KeyId, Keyring};
use fastport_client_core::names::{ClientId, DisplayName, SessionName};
use fastport_client_core::topic::TopicFilter;
use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::Failure;
use crate::js::Reader;

const CONNECT_OPTIONS: [&str; 18] = [
    "url",
    "session",
    "password",
    "clientId",
    "resumeToken",
    "displayName",
    "resume",
    "key",
    "keys",
    "topicKeys",
    "acceptPlaintext",
    "keepaliveMs",
    "pingTimeoutMs",
    "connectTimeoutMs",
    "backoff",
    "publishRetry",
    "outbox",
    "reconnectOnNetworkChange",
];

/// What the driver needs besides the core's configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: ClientConfig,
    pub(crate) reconnect_on_network_change: bool,
}

/// Reads and checks the options object.
pub(crate) fn parse(value: &JsValue, seed: u64) -> Result<Settings, Failure> {
    if !value.is_object() {
        return Err(Failure::options(
            "connect() takes an options object: { url, session, password, ... }",
        ));
    }
    let o = Reader::new(value, "connect options", &CONNECT_OPTIONS)?;
    // One URL, or several to fail over between (tried in turn, docs/CLI.md).
    let urls: Vec<String> = match o.get("url") {
        Some(list) if Array::is_array(&list) => Array::from(&list)
            .iter()
            .map(|u| u.as_string().unwrap_or_default())
            .collect(),
        _ => vec![o.required_string("url")?],
    };
    for url in &urls {
        let ok_url = (url.starts_with("ws://") || url.starts_with("wss://")) && url.len() > 6;
        if !ok_url {
            return Err(Failure::options(format!(
                "url `{url}` is not a WebSocket URL (ws://HOST:PORT/ws or wss://...)"
            )));
        }
    }
    let Some(first) = urls.first().cloned() else {
        return Err(Failure::options("url: the list is empty"));
    };
    let session = SessionName::new(&o.required_string("session")?)?;
    let mut config = ClientConfig::new(first, session, o.required_string("password")?);
    config.urls = urls;
    config.seed = seed;
    if let Some(id) = o.string("clientId")? {
        config.client_id = Some(ClientId::new(&id)?);
    }
    if let Some(name) = o.string("displayName")? {
        config.display_name = Some(DisplayName::new(&name)?);
    }
    let resume = o.boolean("resume")?.unwrap_or(false);
    if resume && config.client_id.is_none() {
        return Err(Failure::options(
            "resume needs a stable clientId: the server keeps state by client id",
        ));
    }
    config.resume = resume;
    if let Some(token) = o.string("resumeToken")? {
        config.resume_token = token;
    }
    match (o.get("key"), o.get("keys")) {
        (Some(_), Some(_)) => return Err(Failure::options("give either key or keys, not both")),
        (Some(key), None) => config.keys.set_default(keyring_of(&key, "key")?),
        (None, Some(keys)) => config.keys.set_default(keyring_of(&keys, "keys")?),
        (None, None) => {}
    }
    if let Some(map) = o.object("topicKeys") {
        if !map.is_object() {
            return Err(Failure::options(
                "topicKeys must be an object: { filter: key }",
            ));
        }
        for entry in Object::entries(map.unchecked_ref::<Object>()).iter() {
            let entry: Array = entry.unchecked_into();
            let filter = entry.get(0).as_string().unwrap_or_default();
            let ring = keyring_of(&entry.get(1), &format!("topicKeys[\"{filter}\"]"))?;
            let filter = TopicFilter::new(&filter)
                .map_err(|e| Failure::options(format!("topicKeys: `{filter}`: {e}")))?;
            config.keys.set_for_filter(filter, ring);
        }
    }
    config.accept_plaintext = o.boolean("acceptPlaintext")?.unwrap_or(false);
    if let Some(ms) = o.uint("keepaliveMs")? {
        config.keepalive = millis(ms.max(1));
    }
    if let Some(ms) = o.uint("pingTimeoutMs")? {
        config.ping_timeout = millis(ms.max(1));
    }
    if let Some(ms) = o.uint("connectTimeoutMs")? {
        config.connect_timeout = millis(ms.max(1));
    }
    if let Some(b) = o.object("backoff") {
        let b = Reader::new(
            &b,
            "backoff",
            &["initialMs", "maxMs", "multiplier", "jitter", "maxAttempts"],
        )?;
        let d = &mut config.backoff;
        if let Some(ms) = b.uint("initialMs")? {
            d.initial = millis(ms);
        }
        if let Some(ms) = b.uint("maxMs")? {
            d.max = millis(ms);
        }
        if let Some(m) = b.number("multiplier")? {
            if m < 1.0 {
                return Err(Failure::options("backoff: `multiplier` must be at least 1"));
            }
            d.multiplier = m;
        }
        if let Some(j) = b.number("jitter")? {
            if !(0.0..=1.0).contains(&j) {
                return Err(Failure::options(
                    "backoff: `jitter` must be between 0 and 1",
                ));
            }
            d.jitter = j;
        }
        d.max_attempts = b.uint("maxAttempts")?.filter(|&n| n > 0);
    }
    if let Some(r) = o.object("publishRetry") {
        let r = Reader::new(
            &r,
            "publishRetry",
            &["ackTimeoutMs", "maxAttempts", "deadlineMs"],
        )?;
        let d = &mut config.publish_retry;
        if let Some(ms) = r.uint("ackTimeoutMs")? {
            d.ack_timeout = millis(ms.max(1));
        }
        if let Some(n) = r.uint("maxAttempts")? {
            d.max_attempts = n.max(1);
        }
        if let Some(ms) = r.uint("deadlineMs")? {
            d.deadline = (ms > 0).then(|| millis(ms));
        }
    }
    if let Some(b) = o.object("outbox") {
        let b = Reader::new(&b, "outbox", &["maxMessages", "maxBytes"])?;
        if let Some(n) = b.uint("maxMessages")? {
            config.outbox_max_messages = n.max(1) as usize;
        }
        if let Some(n) = b.uint("maxBytes")? {
            config.outbox_max_bytes = n.max(1) as usize;
        }
    }
    Ok(Settings {
        config,
        reconnect_on_network_change: o.boolean("reconnectOnNetworkChange")?.unwrap_or(true),
    })
}

/// A keyring from a base64 key (with the empty id) or from `[{ id, key }, ...]`, oldest
/// first (the last one seals).
pub(crate) fn keyring_of(value: &JsValue, what: &str) -> Result<Keyring, Failure> {
    let bad = |e: &dyn core::fmt::Display| Failure::new("invalid_key", format!("{what}: {e}"));
    if let Some(text) = value.as_string() {
        let key = Key::from_base64(&text).map_err(|e| bad(&e))?;
        return Ok(Keyring::new(KeyId::default(), key));
    }
    if !Array::is_array(value) {
        return Err(bad(&"expected a base64 key or an array of { id, key }"));
    }
    let mut ring: Option<Keyring> = None;
    for spec in Array::from(value).iter() {
        let spec = Reader::new(&spec, what, &["id", "key"])?;
        let key = Key::from_base64(&spec.required_string("key")?).map_err(|e| bad(&e))?;
        let id = KeyId::new(spec.string("id")?.unwrap_or_default()).map_err(|e| bad(&e))?;
        match &mut ring {
            Some(ring) => ring.add(id, key),
            None => ring = Some(Keyring::new(id, key)),
        }
    }
    ring.ok_or_else(|| bad(&"no key given"))
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}
