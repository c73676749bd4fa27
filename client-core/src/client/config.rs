//! Client configuration, with the defaults a browser or device app wants.

use core::time::Duration;

use crate::crypto::KeyStore;
use crate::names::{ClientId, DisplayName, SessionName};
use crate::text::Redacted;

/// Everything the client core needs to know up front. Build it with
/// [`ClientConfig::new`] and adjust the public fields. (`Debug` shows no password or
/// resume token.)
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// WebSocket URLs of the servers, e.g. `ws://127.0.0.1:8080/ws`, tried in turn (round
    /// robin): each connection attempt goes to the URL after the previous attempt's, so a
    /// failed attempt or a lost connection moves the client to the next server, with the
    /// backoff's delay in between (see [`BackoffConfig`]). One URL is a list of one; an empty
    /// list makes every attempt fail (the driver cannot open the empty URL).
    pub urls: Vec<String>,
    /// The session to join; `None` for an admin-only connection (see [`ClientConfig::admin`]).
    pub session: Option<SessionName>,
    /// The session password; on an admin-only connection, its credential: the secret key
    /// of [`ClientConfig::admin_session`], or the admin token when that is `None`.
    pub password: String,
    /// On an admin-only connection, the session whose secret key `password` holds
    /// (`None`: `password` is the admin token). The server welcomes an admin-only
    /// connection only with one of them (or with none if its session creation is open).
    pub admin_session: Option<SessionName>,
    /// A stable client id. `None` picks a random one from [`ClientConfig::seed`] and
    /// keeps it for every reconnect, so the server can drop resent duplicates.
    pub client_id: Option<ClientId>,
    /// Name shown to others in presence events.
    pub display_name: Option<DisplayName>,
    /// Ask the server to keep this client's subscriptions and pending deliveries while it
    /// is offline (needs a stable `client_id`).
    pub resume: bool,
    /// The resume token the server gave this `client_id` on an earlier run
    /// ([`Client::resume_token`](crate::client::Client::resume_token)), or empty. While the
    /// server holds a connection or resumable state for the client id, only a `Hello` with
    /// its token may take it up; a client that resumes across restarts keeps the token with
    /// its client id. Within one run the core keeps it by itself.
    pub resume_token: String,
    /// Keys that seal outgoing and open incoming payloads.
    pub keys: KeyStore,
    /// Hand plaintext (unsealed) deliveries to the application instead of refusing them.
    pub accept_plaintext: bool,
    /// Ping interval: a ping is sent when nothing was sent or nothing received for this long.
    pub keepalive: Duration,
    /// How long after a ping without any answer the connection counts as dead.
    pub ping_timeout: Duration,
    /// Longest time from asking the driver to connect until the server's welcome.
    pub connect_timeout: Duration,
    /// Reconnection delays.
    pub backoff: BackoffConfig,
    /// Client-side retry of QoS 1 publishes.
    pub publish_retry: PublishRetryConfig,
    /// Most publishes held (unsent or unacked) at once.
    pub outbox_max_messages: usize,
    /// Most envelope bytes held at once.
    pub outbox_max_bytes: usize,
    /// Largest envelope accepted before the server's welcome states the session's limit.
    pub max_message_size: usize,
    /// How many recent delivery ids are remembered to drop server resends.
    pub dedup_window: usize,
    /// Seed for jitter and the random client id. Drivers pass real randomness; tests
    /// pass a constant to replay a run exactly.
    pub seed: u64,
}

/// Exponential backoff with jitter between reconnection attempts.
///
/// The delay before attempt `n` (1-based) is `min(max, initial * multiplier^(r-1))`, where
/// `r` is the round of the attempt through [`ClientConfig::urls`] (`r = n` with one URL),
/// reduced by a random fraction of up to `jitter` of itself, so a fleet of clients
/// cut off together does not reconnect in lockstep.
///
/// With several URLs the delay grows once per full round of the list, not per attempt
/// (as NATS clients wait only before a server they tried already): moving away from a dead
/// server to the next one costs one short, jittered delay, and only a whole list that
/// fails again and again is tried less and less often. Jitter applies to every attempt,
/// so the clients of a node that died do not all reach the next one at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// Delay before the first reconnection attempt.
    pub initial: Duration,
    /// Cap on the delay.
    pub max: Duration,
    /// Growth factor per attempt (at least 1).
    pub multiplier: f64,
    /// Fraction (0..=1) of the delay that is randomised away.
    pub jitter: f64,
    /// Stop after this many consecutive failed attempts (attempts, not rounds, with several
    /// URLs); `None` never gives up.
    pub max_attempts: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

/// How QoS 1 publishes are retried until the server acks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishRetryConfig {
    /// Resend when no ack arrived this long after a send (also resent at once after
    /// every reconnect).
    pub ack_timeout: Duration,
    /// Most sends of one message, the first included.
    pub max_attempts: u32,
    /// Give up (outcome `Expired`) this long after `publish` was called; `None` never.
    pub deadline: Option<Duration>,
}

impl Default for PublishRetryConfig {
    fn default() -> Self {
        PublishRetryConfig {
            ack_timeout: Duration::from_secs(5),
            max_attempts: 10,
            deadline: Some(Duration::from_secs(120)),
        }
    }
}

impl ClientConfig {
    /// A client of `session` at `url`, with every other setting at its default. Push more
    /// server URLs to [`ClientConfig::urls`] to fail over between them.
    pub fn new(url: impl Into<String>, session: SessionName, password: impl Into<String>) -> Self {
        ClientConfig {
            urls: vec![url.into()],
            session: Some(session),
            password: password.into(),
            admin_session: None,
            client_id: None,
            display_name: None,
            resume: false,
            resume_token: String::new(),
            keys: KeyStore::default(),
            accept_plaintext: false,
            keepalive: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            publish_retry: PublishRetryConfig::default(),
            outbox_max_messages: 1_000,
            outbox_max_bytes: 8 * 1024 * 1024,
            max_message_size: 1024 * 1024,
            dedup_window: 4_096,
            seed: 0x5eed_f457_b0a7,
        }
    }

    /// A connection that joins no session and only sends admin requests.
    pub fn admin(url: impl Into<String>) -> Self {
        let mut config = ClientConfig::new(url, placeholder_session(), "");
        config.session = None;
        config
    }

    /// An admin-only connection that logs in with the secret key of `session`, or with the
    /// admin token when `session` is `None`.
    pub fn admin_with(
        url: impl Into<String>,
        session: Option<SessionName>,
        credential: impl Into<String>,
    ) -> Self {
        let mut config = ClientConfig::admin(url);
        config.admin_session = session;
        config.password = credential.into();
        config
    }
}

fn placeholder_session() -> SessionName {
    // "admin" satisfies the session name rules; the field is cleared right after.
    SessionName::new("admin").unwrap_or_else(|_| unreachable!("\"admin\" is a valid session name"))
}

impl core::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("urls", &self.urls)
            .field("session", &self.session)
            .field("password", &Redacted(&self.password))
            .field("admin_session", &self.admin_session)
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("resume", &self.resume)
            .field("resume_token", &Redacted(&self.resume_token))
            .field("keys", &self.keys)
            .field("accept_plaintext", &self.accept_plaintext)
            .field("keepalive", &self.keepalive)
            .field("ping_timeout", &self.ping_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff", &self.backoff)
            .field("publish_retry", &self.publish_retry)
            .field("outbox_max_messages", &self.outbox_max_messages)
            .field("outbox_max_bytes", &self.outbox_max_bytes)
            .field("max_message_size", &self.max_message_size)
            .field("dedup_window", &self.dedup_window)
            .field("seed", &self.seed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let session = SessionName::new("demo").expect("valid name");
        let config = ClientConfig::new("ws://h/ws", session, "correct-horse-battery");
        let shown = format!("{config:?}");
        assert!(!shown.contains("correct-horse-battery"), "{shown}");
        assert!(shown.contains("password: <redacted, 21 bytes>"), "{shown}");
        assert!(shown.contains("ws://h/ws"), "{shown}");
    }
}
