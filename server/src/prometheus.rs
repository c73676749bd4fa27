//! The Prometheus text exposition of the broker's [`Metrics`] (`GET /metrics`).
//!
//! Every name starts with `fastport_`; counters end in `_total`; per-session gauges carry a
//! `session` label and are rendered only when asked for (`--metrics-per-session`): they
//! name every session to whoever can read the metrics. The format is version 0.0.4 of the text format, which every Prometheus
//! compatible scraper reads.

use std::fmt::Write;

use crate::broker::Metrics;
use crate::durable::StoreMetrics;
use crate::engine::EngineMetrics;
use crate::server::{SocketMetrics, TrimMetrics};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `m`, the socket counts, the memory trims and the Redis engine's health (with
/// that engine) in the Prometheus text format, with the per-session gauges if
/// `per_session`.
pub(crate) fn render(
    m: &Metrics,
    sockets: &SocketMetrics,
    trims: &TrimMetrics,
    engine: Option<&EngineMetrics>,
    store: Option<&StoreMetrics>,
    cluster: Option<&crate::cluster::ClusterMetrics>,
    per_session: bool,
) -> String {
    let mut out = String::with_capacity(4096 + m.per_session.len() * 512);
    for (name, help, value) in gauges(m) {
        metric(&mut out, name, "gauge", help, value);
    }
    socket_metrics(&mut out, sockets);
    for (name, help, value) in counters(m) {
        metric(&mut out, &format!("{name}_total"), "counter", help, value);
    }
    password_checks(&mut out, m);
    journal(&mut out, m);
    if let Some(store) = store {
        store_writes(&mut out, store);
    }
    if let Some(cluster) = cluster {
        cluster_metrics(&mut out, cluster);
    }
    memory_trims(&mut out, trims);
    if let Some(engine) = engine {
        engine_metrics(&mut out, engine);
    }
    if per_session {
        per_session_gauges(&mut out, m);
    }
    out
}

type Row = (&'static str, &'static str, u64);

fn gauges(m: &Metrics) -> [Row; 8] {
    [
        (
            "fastport_connections",
            "Open WebSocket connections.",
            m.connections,
        ),
        ("fastport_sessions", "Sessions.", m.sessions),
        (
            "fastport_topics",
            "Distinct subscribed filters over all sessions.",
            m.topics,
        ),
        (
            "fastport_cached_messages",
            "QoS 1 messages cached awaiting acks.",
            m.cached_messages,
        ),
        (
            "fastport_cache_bytes",
            "Payload bytes of the cached QoS 1 messages (counted against max_memory).",
            m.cache_bytes,
        ),
        (
            "fastport_outbound_bytes",
            "Bytes queued for writing over all connections (counted against max_memory).",
            m.outbound_bytes,
        ),
        (
            "fastport_pending_jobs",
            "Password and secret checks (and hashings of new sessions) waiting or running.",
            m.pending_jobs,
        ),
        (
            "fastport_timers",
            "Entries in the broker's timer table, stale ones not dropped yet included.",
            m.timers,
        ),
    ]
}

fn counters(m: &Metrics) -> [Row; 24] {
    [
        (
            "fastport_connections_opened",
            "Connections accepted.",
            m.connections_opened,
        ),
        ("fastport_frames_in", "Frames received.", m.frames_in),
        ("fastport_frames_out", "Frames sent.", m.frames_out),
        (
            "fastport_batches_in",
            "Batch messages received: several frames in one WebSocket message.",
            m.batches_in,
        ),
        ("fastport_bytes_in", "Bytes received in frames.", m.bytes_in),
        ("fastport_bytes_out", "Bytes sent in frames.", m.bytes_out),
        (
            "fastport_messages_in",
            "Publishes accepted (duplicates excluded).",
            m.messages_in,
        ),
        (
            "fastport_messages_out",
            "Deliveries sent (resends included).",
            m.messages_out,
        ),
        (
            "fastport_retries",
            "Deliveries resent after the retry interval or a resume.",
            m.retries,
        ),
        (
            "fastport_expired",
            "Messages that expired before every subscriber acked.",
            m.expired,
        ),
        (
            "fastport_dropped",
            "Deliveries given up unsent by the slow-consumer policies.",
            m.dropped,
        ),
        (
            "fastport_retries_exhausted",
            "Deliveries given up after the retry budget.",
            m.retries_exhausted,
        ),
        (
            "fastport_duplicates",
            "Resent publishes recognised as duplicates.",
            m.duplicates,
        ),
        (
            "fastport_nacks",
            "Deliveries refused by subscribers.",
            m.nacks,
        ),
        (
            "fastport_auth_failures",
            "Failed password, secret or token checks.",
            m.auth_failures,
        ),
        (
            "fastport_rate_limited",
            "Logins and admin requests refused or made to wait by the login limits.",
            m.rate_limited,
        ),
        (
            "fastport_protocol_errors",
            "Connections ended for breaking the protocol.",
            m.protocol_errors,
        ),
        (
            "fastport_keepalive_timeouts",
            "Connections closed for silence.",
            m.keepalive_timeouts,
        ),
        (
            "fastport_slow_consumer_disconnects",
            "Connections closed as slow consumers (writes stalled, twice the outbound budget queued, or max_pending under the disconnect policy).",
            m.slow_consumer_disconnects,
        ),
        (
            "fastport_deliveries_shed",
            "QoS 0 deliveries not sent because the subscriber's outbound queue was at its budget.",
            m.deliveries_shed,
        ),
        (
            "fastport_deliveries_held",
            "QoS 1 deliveries held back while the subscriber's outbound queue was at its budget (sent once it drains).",
            m.deliveries_held,
        ),
        (
            "fastport_publishes_refused_full",
            "Publishes answered queue_full: the session's cache or the server's memory budget was full.",
            m.publishes_refused_full,
        ),
        (
            "fastport_publishers_paused",
            "Times a connection was not read from for a while because a publish of it was refused queue_full.",
            m.publishers_paused,
        ),
        (
            "fastport_presence_frames",
            "Presence frames sent: snapshots, and one join and one leave frame per watcher per flush at most.",
            m.presence_frames,
        ),
    ]
}

/// The accept loop's counts: sockets open, refused (by reason), failed accepts.
fn socket_metrics(out: &mut String, s: &SocketMetrics) {
    metric(
        out,
        "fastport_sockets",
        "gauge",
        "Open TCP connections, HTTP and WebSocket, counted from accept.",
        s.open,
    );
    let name = "fastport_connections_refused_total";
    header(
        out,
        name,
        "counter",
        "Connections closed at accept: over max_connections_per_address or max_connections.",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{name}{{reason=\"per_address\"}} {}\n{name}{{reason=\"max_connections\"}} {}",
        s.refused_per_address, s.refused_max_connections
    );
    metric(
        out,
        "fastport_accept_errors_total",
        "counter",
        "Failed accepts (out of file descriptors, typically).",
        s.accept_errors,
    );
    metric(
        out,
        "fastport_batches_out_total",
        "counter",
        "Batch messages written: several frames in one WebSocket message.",
        s.batches_out,
    );
}

/// The journal of a durable server (the Redis engine, docs/CLUSTER.md); zeros without one.
fn journal(out: &mut String, m: &Metrics) {
    let rows: [(&str, &str, &str, u64); 5] = [
        (
            "fastport_journal_records_unstored",
            "gauge",
            "Journal records not known to be stored in Redis yet.",
            m.records_unstored,
        ),
        (
            "fastport_journal_answers_held",
            "gauge",
            "Answers (PubAcks, first deliveries, admin answers) held until their records are stored.",
            m.outputs_held,
        ),
        (
            "fastport_store_outages_total",
            "counter",
            "Times journal writes to Redis started failing (counted once per outage).",
            m.store_failures,
        ),
        (
            "fastport_journal_records_dropped_total",
            "counter",
            "Journal records of acks and client state dropped during a long outage (resends after a restart).",
            m.records_dropped,
        ),
        (
            "fastport_publishes_refused_storage_total",
            "counter",
            "QoS 1 publishes answered storage_unavailable while journal writes failed.",
            m.publishes_refused_storage,
        ),
    ];
    for (name, kind, help, value) in rows {
        metric(out, name, kind, help, value);
    }
}

/// The journal's writes to Redis.
fn store_writes(out: &mut String, s: &StoreMetrics) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let rows = [
        (
            "fastport_store_writes_total",
            "Journal writes to Redis that succeeded (one pipeline each).",
            load(&s.writes),
        ),
        (
            "fastport_store_records_total",
            "Journal records those writes stored.",
            load(&s.records),
        ),
        (
            "fastport_store_failures_total",
            "Journal write attempts that failed (each retry counts).",
            load(&s.failures),
        ),
    ];
    for (name, help, value) in rows {
        metric(out, name, "counter", help, value);
    }
    let name = "fastport_store_write_seconds_total";
    header(
        out,
        name,
        "counter",
        "Time the successful journal writes took: divided by fastport_store_writes_total, the mean write latency.",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name} {}", load(&s.write_micros) as f64 / 1e6);
}

/// This node among the nodes sharing its Redis.
fn cluster_metrics(out: &mut String, c: &crate::cluster::ClusterMetrics) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let rows = [
        (
            "fastport_cluster_nodes",
            "gauge",
            "Live nodes sharing this node's Redis, this one included (at the last sweep; on a Redis Cluster, this node only).",
            load(&c.nodes),
        ),
        (
            "fastport_cluster_sessions_owned",
            "gauge",
            "Sessions this node serves.",
            load(&c.owned),
        ),
        (
            "fastport_cluster_relayed_connections",
            "gauge",
            "Connections this node relays to the node that serves their session.",
            load(&c.relayed),
        ),
        (
            "fastport_cluster_relayed_connections_total",
            "counter",
            "Connections relayed to another node since start.",
            load(&c.relayed_total),
        ),
        (
            "fastport_cluster_relay_failures_total",
            "counter",
            "Attempts to reach the node that serves a session that failed.",
            load(&c.relay_failures),
        ),
        (
            "fastport_cluster_claims_total",
            "counter",
            "Sessions this node claimed (at start, for a connection, by the sweep).",
            load(&c.claims),
        ),
        (
            "fastport_cluster_takeovers_total",
            "counter",
            "Of those, sessions taken over from a node that was gone.",
            load(&c.takeovers),
        ),
        (
            "fastport_cluster_sessions_moved_total",
            "counter",
            "Sessions this node let go of because another node serves them now.",
            load(&c.moved),
        ),
    ];
    for (name, kind, help, value) in rows {
        metric(out, name, kind, help, value);
    }
}

/// argon2 checks by outcome: what password guessing costs the server.
fn password_checks(out: &mut String, m: &Metrics) {
    let name = "fastport_password_checks_total";
    header(
        out,
        name,
        "counter",
        "argon2 checks of passwords, secret keys and tokens, by outcome (match, mismatch).",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{name}{{outcome=\"match\"}} {}\n{name}{{outcome=\"mismatch\"}} {}",
        m.password_checks_matched, m.password_checks_mismatched
    );
}

/// What the trims after loads gave back to the system (glibc only).
fn memory_trims(out: &mut String, t: &TrimMetrics) {
    metric(
        out,
        "fastport_memory_trims_total",
        "counter",
        "Times freed memory was given back to the system once a load was over (glibc's malloc_trim).",
        t.trims,
    );
    metric(
        out,
        "fastport_memory_trimmed_bytes_total",
        "counter",
        "Resident bytes those trims gave back (the resident set before minus after).",
        t.trimmed_bytes,
    );
}

/// The Redis engine: up or down, failures, recoveries, the last ping's round trip.
fn engine_metrics(out: &mut String, e: &EngineMetrics) {
    metric(
        out,
        "fastport_engine_up",
        "gauge",
        "1 while the Redis engine answers (its last ping and writes succeeded), else 0.",
        u64::from(e.up),
    );
    metric(
        out,
        "fastport_engine_errors_total",
        "counter",
        "Failed pings and writes of the Redis engine.",
        e.errors,
    );
    metric(
        out,
        "fastport_engine_reconnects_total",
        "counter",
        "Times the Redis engine answered again after being down.",
        e.reconnects,
    );
    let name = "fastport_engine_round_trip_seconds";
    header(
        out,
        name,
        "gauge",
        "Round trip of the Redis engine's last successful ping.",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name} {}", e.round_trip_seconds);
}

fn per_session_gauges(out: &mut String, m: &Metrics) {
    type Field = fn(&crate::broker::SessionMetrics) -> u64;
    let rows: [(&str, &str, Field); 6] = [
        (
            "fastport_session_connections",
            "Open connections of a session.",
            |s| s.connections,
        ),
        (
            "fastport_session_clients",
            "Client ids with state in a session (connected or resumable).",
            |s| s.clients,
        ),
        (
            "fastport_session_topics",
            "Distinct subscribed filters of a session.",
            |s| s.topics,
        ),
        (
            "fastport_session_cached_messages",
            "QoS 1 messages cached in a session.",
            |s| s.cached_messages,
        ),
        (
            "fastport_session_cache_bytes",
            "Payload bytes of the QoS 1 messages cached in a session.",
            |s| s.cache_bytes,
        ),
        (
            "fastport_session_suspended",
            "1 if the session is suspended, else 0.",
            |s| u64::from(s.suspended),
        ),
    ];
    let mut sessions: Vec<_> = m.per_session.iter().collect();
    sessions.sort_by(|a, b| a.name.cmp(&b.name));
    for (name, help, field) in rows {
        header(out, name, "gauge", help);
        for s in &sessions {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{name}{{session=\"{}\"}} {}",
                escape_label(&s.name),
                field(s)
            );
        }
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name} {value}");
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::SessionMetrics;

    fn sample() -> Metrics {
        let demo = SessionMetrics {
            name: "demo".into(),
            connections: 2,
            suspended: true,
            ..SessionMetrics::default()
        };
        Metrics {
            connections: 3,
            frames_in: 42,
            timers: 5,
            per_session: vec![demo],
            ..Metrics::default()
        }
    }

    fn sockets() -> SocketMetrics {
        SocketMetrics {
            open: 7,
            refused_per_address: 11,
            refused_max_connections: 13,
            accept_errors: 17,
            batches_out: 19,
        }
    }

    fn trims() -> TrimMetrics {
        TrimMetrics {
            trims: 3,
            trimmed_bytes: 4_194_304,
        }
    }

    #[test]
    fn memory_trims_are_rendered_as_counters() {
        let text = render(&sample(), &sockets(), &trims(), None, None, None, false);
        assert!(text.contains("\nfastport_memory_trims_total 3\n"), "{text}");
        assert!(text.contains("\nfastport_memory_trimmed_bytes_total 4194304\n"));
        assert!(text.contains("# TYPE fastport_memory_trims_total counter\n"));
    }

    #[test]
    fn socket_counts_and_refusals_by_reason_are_rendered() {
        let text = render(&sample(), &sockets(), &trims(), None, None, None, false);
        assert!(text.contains("\nfastport_sockets 7\n"), "{text}");
        assert!(text.contains("\nfastport_connections_refused_total{reason=\"per_address\"} 11\n"));
        assert!(
            text.contains("\nfastport_connections_refused_total{reason=\"max_connections\"} 13\n")
        );
        assert!(text.contains("\nfastport_accept_errors_total 17\n"));
        assert!(text.contains("\nfastport_batches_out_total 19\n"));
    }

    #[test]
    fn every_metric_has_help_and_type_lines_and_the_fastport_prefix() {
        let text = render(&sample(), &sockets(), &trims(), None, None, None, true);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(samples.len() > 20);
        for line in samples {
            let name = line
                .split(['{', ' '])
                .next()
                .expect("split yields one item");
            assert!(name.starts_with("fastport_"), "{line}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }

    #[test]
    fn counters_end_in_total_and_gauges_do_not() {
        let text = render(&sample(), &sockets(), &trims(), None, None, None, true);
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut words = line.split(' ').skip(2);
            let (name, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
        }
        assert!(text.contains("\nfastport_frames_in_total 42\n"));
        assert!(text.contains("\nfastport_connections 3\n"));
        assert!(text.contains("\nfastport_timers 5\n"));
    }

    #[test]
    fn per_session_gauges_carry_the_session_label() {
        let text = render(&sample(), &sockets(), &trims(), None, None, None, true);
        assert!(text.contains("fastport_session_connections{session=\"demo\"} 2\n"));
        assert!(text.contains("fastport_session_suspended{session=\"demo\"} 1\n"));
    }

    #[test]
    fn without_per_session_gauges_no_session_is_named() {
        let text = render(&sample(), &sockets(), &trims(), None, None, None, false);
        assert!(!text.contains("demo"), "{text}");
        assert!(!text.contains("fastport_session_"), "{text}");
        assert!(
            text.contains("\nfastport_connections 3\n"),
            "the totals stay: {text}"
        );
    }

    #[test]
    fn password_checks_are_counted_by_outcome() {
        let m = Metrics {
            password_checks_matched: 2,
            password_checks_mismatched: 5,
            ..Metrics::default()
        };
        let text = render(&m, &sockets(), &trims(), None, None, None, false);
        assert!(text.contains("\nfastport_password_checks_total{outcome=\"match\"} 2\n"));
        assert!(text.contains("\nfastport_password_checks_total{outcome=\"mismatch\"} 5\n"));
    }

    fn engine() -> EngineMetrics {
        EngineMetrics {
            up: false,
            errors: 4,
            reconnects: 2,
            round_trip_seconds: 0.00025,
        }
    }

    #[test]
    fn the_redis_engine_is_rendered_only_with_that_engine() {
        let text = render(
            &sample(),
            &sockets(),
            &trims(),
            Some(&engine()),
            None,
            None,
            false,
        );
        assert!(text.contains("\nfastport_engine_up 0\n"), "{text}");
        assert!(text.contains("\nfastport_engine_errors_total 4\n"));
        assert!(text.contains("\nfastport_engine_reconnects_total 2\n"));
        assert!(text.contains("\nfastport_engine_round_trip_seconds 0.00025\n"));
        assert!(text.contains("# TYPE fastport_engine_round_trip_seconds gauge\n"));
        let memory = render(&sample(), &sockets(), &trims(), None, None, None, false);
        assert!(!memory.contains("fastport_engine_"), "{memory}");
    }

    #[test]
    fn every_metric_is_in_the_operator_guide() {
        let guide = include_str!("../../docs/SERVER.md");
        let table = guide
            .split("## Metrics")
            .nth(1)
            .expect("docs/SERVER.md has a Metrics section");
        let text = render(
            &sample(),
            &sockets(),
            &trims(),
            Some(&engine()),
            None,
            None,
            true,
        );
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line
                .split(' ')
                .nth(2)
                .expect("a TYPE line names its metric");
            let listed =
                table.contains(&format!("`{name}`")) || table.contains(&format!("`{name}{{"));
            assert!(listed, "{name} is not in docs/SERVER.md");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
