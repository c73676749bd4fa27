//! Counters and gauges of the broker, read by `/metrics`.

/// A snapshot of the broker's counters (monotonic, `_total` in Prometheus) and gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Gauge: open connections.
    pub connections: u64,
    /// Gauge: sessions.
    pub sessions: u64,
    /// Gauge: distinct subscribed filters over all sessions.
    pub topics: u64,
    /// Gauge: QoS 1 messages cached awaiting acks.
    pub cached_messages: u64,
    /// Gauge: payload bytes of the cached QoS 1 messages, over all sessions.
    pub cache_bytes: u64,
    /// Gauge: bytes queued for writing over all connections, as the driver last said.
    pub outbound_bytes: u64,
    /// Gauge: password checks running.
    pub pending_jobs: u64,
    /// Gauge: entries in the timer table (retries of unacked deliveries, keepalives,
    /// expiries), including stale ones not dropped yet: at most twice the live ones, or the
    /// live ones plus 512.
    pub timers: u64,
    /// Connections accepted.
    pub connections_opened: u64,
    /// Frames received (each frame of a batch counts).
    pub frames_in: u64,
    /// Batch messages received (several frames in one WebSocket message).
    pub batches_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes received in frames.
    pub bytes_in: u64,
    /// Bytes sent in frames.
    pub bytes_out: u64,
    /// Publishes accepted (duplicates excluded).
    pub messages_in: u64,
    /// Deliveries sent (resends included).
    pub messages_out: u64,
    /// Deliveries resent after the retry interval or a resume.
    pub retries: u64,
    /// Messages that expired before every subscriber acked.
    pub expired: u64,
    /// Deliveries given up unsent by the slow-consumer policies: the oldest waiting one
    /// under `drop_oldest`, the new one under `disconnect` (docs/PROTOCOL.md §8).
    pub dropped: u64,
    /// Deliveries given up after the retry budget.
    pub retries_exhausted: u64,
    /// Resent publishes recognised as duplicates.
    pub duplicates: u64,
    /// Deliveries refused by subscribers (failed verification).
    pub nacks: u64,
    /// Failed password, secret or token checks.
    pub auth_failures: u64,
    /// argon2 checks of a password, secret key or token that matched.
    pub password_checks_matched: u64,
    /// argon2 checks that did not match (unknown sessions included: they are checked
    /// against a stand-in hash).
    pub password_checks_mismatched: u64,
    /// Logins and admin requests refused or made to wait by the login limits.
    pub rate_limited: u64,
    /// Connections ended for breaking the protocol.
    pub protocol_errors: u64,
    /// Connections closed for silence.
    pub keepalive_timeouts: u64,
    /// Connections closed as slow consumers.
    pub slow_consumer_disconnects: u64,
    /// QoS 0 deliveries not sent because the subscriber's outbound queue was at its budget
    /// (at most once: they are not sent later).
    pub deliveries_shed: u64,
    /// QoS 1 deliveries held back because the subscriber's outbound queue was at its
    /// budget; each is sent once the queue drains.
    pub deliveries_held: u64,
    /// Publishes answered `queue_full`: the session's cache or the server's memory budget
    /// was full.
    pub publishes_refused_full: u64,
    /// Pauses asked of the driver: a connection not read from for a while after a publish
    /// of it was refused `queue_full` ([`Output::PauseReading`](crate::Output::PauseReading)).
    pub publishers_paused: u64,
    /// Presence frames sent (snapshots, joins and leaves; each change frame is one per
    /// watcher per flush, docs/PROTOCOL.md §8).
    pub presence_frames: u64,
    /// Gauge: journal records taken by the driver or waiting for it and not stored yet
    /// (durable brokers only, see [`journal`](crate::journal)).
    pub records_unstored: u64,
    /// Gauge: answers held until their records are stored.
    pub outputs_held: u64,
    /// Writes of journal records that failed (counted once per outage: the first failure
    /// after a success).
    pub store_failures: u64,
    /// Lazy journal records dropped while writes failed, past
    /// [`MAX_UNSTORED`](crate::journal::MAX_UNSTORED).
    pub records_dropped: u64,
    /// QoS 1 publishes refused `storage_unavailable` (the journal's writes were failing).
    pub publishes_refused_storage: u64,
    /// Per-session gauges.
    pub per_session: Vec<SessionMetrics>,
}

impl Metrics {
    /// Adds the counts of another broker of the same server (sessions are never on two).
    pub fn merge(&mut self, other: Metrics) {
        // Destructured, so that a new field cannot be forgotten here.
        let Metrics {
            connections,
            sessions,
            topics,
            cached_messages,
            cache_bytes,
            outbound_bytes,
            pending_jobs,
            timers,
            connections_opened,
            frames_in,
            batches_in,
            frames_out,
            bytes_in,
            bytes_out,
            messages_in,
            messages_out,
            retries,
            expired,
            dropped,
            retries_exhausted,
            duplicates,
            nacks,
            auth_failures,
            password_checks_matched,
            password_checks_mismatched,
            rate_limited,
            protocol_errors,
            keepalive_timeouts,
            slow_consumer_disconnects,
            deliveries_shed,
            deliveries_held,
            publishes_refused_full,
            publishers_paused,
            presence_frames,
            records_unstored,
            outputs_held,
            store_failures,
            records_dropped,
            publishes_refused_storage,
            per_session,
        } = other;
        self.connections += connections;
        self.sessions += sessions;
        self.topics += topics;
        self.cached_messages += cached_messages;
        self.cache_bytes += cache_bytes;
        self.outbound_bytes += outbound_bytes;
        self.pending_jobs += pending_jobs;
        self.timers += timers;
        self.connections_opened += connections_opened;
        self.frames_in += frames_in;
        self.batches_in += batches_in;
        self.frames_out += frames_out;
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        self.messages_in += messages_in;
        self.messages_out += messages_out;
        self.retries += retries;
        self.expired += expired;
        self.dropped += dropped;
        self.retries_exhausted += retries_exhausted;
        self.duplicates += duplicates;
        self.nacks += nacks;
        self.auth_failures += auth_failures;
        self.password_checks_matched += password_checks_matched;
        self.password_checks_mismatched += password_checks_mismatched;
        self.rate_limited += rate_limited;
        self.protocol_errors += protocol_errors;
        self.keepalive_timeouts += keepalive_timeouts;
        self.slow_consumer_disconnects += slow_consumer_disconnects;
        self.deliveries_shed += deliveries_shed;
        self.deliveries_held += deliveries_held;
        self.publishes_refused_full += publishes_refused_full;
        self.publishers_paused += publishers_paused;
        self.presence_frames += presence_frames;
        self.records_unstored += records_unstored;
        self.outputs_held += outputs_held;
        self.store_failures += store_failures;
        self.records_dropped += records_dropped;
        self.publishes_refused_storage += publishes_refused_storage;
        self.per_session.extend(per_session);
    }
}

/// Gauges of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMetrics {
    /// Session name.
    pub name: String,
    /// Open connections.
    pub connections: u64,
    /// Client ids with state (connected, or offline and resumable).
    pub clients: u64,
    /// Distinct subscribed filters.
    pub topics: u64,
    /// QoS 1 messages cached.
    pub cached_messages: u64,
    /// Payload bytes of the QoS 1 messages cached.
    pub cache_bytes: u64,
    /// Whether the session is suspended.
    pub suspended: bool,
}
