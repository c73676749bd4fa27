//! A connection that goes silent (a partition: no data, no close) is detected by the
//! keepalive within `keepalive + ping_timeout`, and replaced once the network heals.

use std::time::Duration;

use fastport_client_core::{Event, State};
use fastport_tests::{broker, client_config, Sim};

#[test]
fn a_silent_connection_is_declared_dead_within_the_keepalive_bound_and_replaced() {
    let mut sim = Sim::new(3, broker());
    let mut config = client_config("device");
    config.keepalive = Duration::from_secs(10);
    config.ping_timeout = Duration::from_secs(5);
    let c = sim.add_client(config);
    sim.run_for(Duration::from_secs(1));
    assert!(matches!(
        sim.clients[c].core.state(),
        State::Connected { .. }
    ));

    sim.partitioned = true;
    let cut_at = sim.now;
    let lost = |s: &Sim| matches!(s.clients[c].core.state(), State::Reconnecting { .. });
    assert!(sim.run_until(Duration::from_secs(60), lost));
    let detected = sim.now.saturating_duration_since(cut_at);
    assert!(
        detected <= Duration::from_secs(15),
        "detected after {detected:?}"
    );
    let reason = sim
        .events_of(c, |e| match e {
            Event::StateChanged(State::Reconnecting { reason, .. }) => Some(reason.clone()),
            _ => None,
        })
        .last()
        .expect("a reconnecting event");
    assert!(reason.contains("keepalive"), "{reason}");

    sim.run_for(Duration::from_secs(20));
    assert!(!matches!(
        sim.clients[c].core.state(),
        State::Connected { .. }
    ));
    sim.partitioned = false;
    let connected = |s: &Sim| matches!(s.clients[c].core.state(), State::Connected { .. });
    assert!(sim.run_until(Duration::from_secs(60), connected));
}
