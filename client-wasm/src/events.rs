//! Event and result objects handed to JavaScript (their shapes are in the type
//! definitions: `ConnectionState`, `Presence`, `Receipt`, ...).

use fastport_client_core::client::{DeliveryError, PublishId, ServerError, State};
use fastport_client_core::codec::{
    Member, PresenceKind, ReceiptStatus, SessionConfig, SlowConsumerPolicy,
};
use fastport_client_core::time::Instant;
use js_sys::Array;
use wasm_bindgen::JsValue;

use crate::error::Failure;
use crate::js::{object, opt};

fn millis(d: core::time::Duration) -> JsValue {
    JsValue::from(crate::host::millis(d).floor())
}

/// `{ code, message }` of a server error.
fn error_info(e: &ServerError) -> JsValue {
    object(&[
        ("code", e.code.name().into()),
        ("message", e.message.as_str().into()),
    ])
}

/// `ConnectionState`.
pub(crate) fn state(state: &State, now: Instant) -> JsValue {
    match state {
        State::Connecting { attempt } => object(&[
            ("state", "connecting".into()),
            ("attempt", (*attempt).into()),
        ]),
        State::Connected {
            client_id,
            session_present,
        } => object(&[
            ("state", "connected".into()),
            ("clientId", client_id.as_str().into()),
            ("sessionPresent", (*session_present).into()),
        ]),
        State::Reconnecting {
            attempt,
            at,
            delay,
            reason,
            error,
        } => object(&[
            ("state", "reconnecting".into()),
            ("attempt", (*attempt).into()),
            ("delayMs", millis(*delay)),
            ("inMs", millis(at.saturating_duration_since(now))),
            ("reason", reason.as_str().into()),
            ("error", error.as_ref().map_or(JsValue::NULL, error_info)),
        ]),
        State::Closed { reason } => {
            let f = Failure::from(reason);
            object(&[
                ("state", "closed".into()),
                ("code", f.code.into()),
                ("message", f.message.as_ref().into()),
            ])
        }
    }
}

/// `PublishResult`: the id receipts name, and the QoS.
pub(crate) fn published(id: PublishId, qos1: bool) -> JsValue {
    object(&[("id", (id.0 as f64).into()), ("qos", u8::from(qos1).into())])
}

/// `Receipt`.
pub(crate) fn receipt(
    id: PublishId,
    status: ReceiptStatus,
    delivered: u32,
    failed: u32,
) -> JsValue {
    object(&[
        ("id", (id.0 as f64).into()),
        ("status", status.name().into()),
        ("delivered", delivered.into()),
        ("failed", failed.into()),
    ])
}

/// `Presence`.
pub(crate) fn presence(filter: &str, kind: PresenceKind, members: &[Member]) -> JsValue {
    let kind = match kind {
        PresenceKind::Snapshot => "snapshot",
        PresenceKind::Join => "join",
        PresenceKind::Leave => "leave",
    };
    let list: Array = members
        .iter()
        .map(|m| {
            object(&[
                ("clientId", m.client_id.as_str().into()),
                ("displayName", m.display_name.as_str().into()),
            ])
        })
        .collect();
    object(&[
        ("filter", filter.into()),
        ("kind", kind.into()),
        ("members", list.into()),
    ])
}

/// `Restored`.
pub(crate) fn restored(subscriptions: usize) -> JsValue {
    object(&[("subscriptions", (subscriptions as f64).into())])
}

/// `SubscriptionLost`.
pub(crate) fn subscription_lost(filter: &str, error: &ServerError) -> JsValue {
    object(&[("filter", filter.into()), ("error", error_info(error))])
}

/// `DeliveryRejected`: a message that reached this client but could not be opened (no
/// key for its topic, a wrong key, tampering, or plaintext refused). It was nacked.
pub(crate) fn delivery_rejected(
    topic: &str,
    publisher: &str,
    error: &DeliveryError,
    envelope: &[u8],
) -> JsValue {
    let code = match error {
        DeliveryError::Open(_) => "cannot_open",
        DeliveryError::NoKey(_) => "no_key",
        DeliveryError::Plaintext => "plaintext",
        DeliveryError::InvalidTopic(_) => "invalid_topic",
    };
    object(&[
        ("topic", topic.into()),
        ("publisher", publisher.into()),
        ("code", code.into()),
        ("message", error.to_string().into()),
        ("envelope", js_sys::Uint8Array::from(envelope).into()),
    ])
}

/// `SessionSettings`' keys, in tag order: the settings table's JSON keys in camelCase
/// (`Setting::js_name`, which a test checks them against; the table itself stays out of
/// the module, whose size is budgeted).
pub(crate) const SETTINGS: [&str; 9] = [
    "retryIntervalMs",
    "maxRetries",
    "expiryMs",
    "maxMessageSize",
    "maxConnections",
    "maxSubscriptions",
    "maxPending",
    "slowConsumerPolicy",
    "maxCacheBytes",
];

/// `SessionSettings`.
pub(crate) fn session_settings(c: &SessionConfig) -> JsValue {
    let [retry, retries, expiry, size, connections, subscriptions, pending, policy, cache] =
        SETTINGS;
    object(&[
        (retry, opt(c.retry_interval_ms.map(|v| v as f64))),
        (retries, opt(c.max_retries)),
        (expiry, opt(c.expiry_ms.map(|v| v as f64))),
        (size, opt(c.max_message_size)),
        (connections, opt(c.max_connections)),
        (subscriptions, opt(c.max_subscriptions)),
        (pending, opt(c.max_pending)),
        (
            policy,
            opt(c.slow_consumer_policy.map(SlowConsumerPolicy::name)),
        ),
        (cache, opt(c.max_cache_bytes)),
    ])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use fastport_proto::settings::Setting;

    use super::SETTINGS;

    #[test]
    fn session_settings_keys_are_the_settings_tables_in_camel_case() {
        let expected: Vec<String> = Setting::ALL.iter().map(|s| s.js_name()).collect();
        assert_eq!(SETTINGS.to_vec(), expected);
    }
}
