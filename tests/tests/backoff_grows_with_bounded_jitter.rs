//! While the server is down, reconnection attempts back off exponentially up to the cap,
//! each delay within its jitter bounds, and different clients do not retry in lockstep.

use std::time::Duration;

use fastport_client_core::client::BackoffConfig;
use fastport_client_core::State;
use fastport_tests::{broker, client_config, Sim};

#[test]
fn attempts_back_off_exponentially_within_jitter_bounds_and_resume_when_the_server_returns() {
    let mut sim = Sim::new(4, broker());
    sim.server_up = false;
    let a = sim.add_client(client_config("a"));
    let b = sim.add_client(client_config("b"));
    sim.run_for(Duration::from_secs(120));

    let backoff = BackoffConfig::default();
    for client in [a, b] {
        let connects = &sim.clients[client].connects;
        assert!(
            connects.len() >= 8,
            "only {} attempts in 2 minutes",
            connects.len()
        );
        for (n, pair) in connects.windows(2).enumerate() {
            // Attempt n+1 failed after one network latency (20 ms), then waited.
            let gap = pair[1].saturating_duration_since(pair[0]) - Duration::from_millis(20);
            let attempt = n as u32 + 2;
            let base = backoff
                .initial
                .mul_f64(2f64.powi(attempt as i32 - 1))
                .min(backoff.max);
            let low = base.mul_f64(1.0 - backoff.jitter);
            assert!(
                gap <= base && gap >= low,
                "attempt {attempt}: waited {gap:?}, base {base:?}"
            );
        }
    }
    assert_ne!(
        sim.clients[a].connects, sim.clients[b].connects,
        "jitter desynchronises clients"
    );

    sim.server_up = true;
    let both = |s: &Sim| {
        [a, b]
            .iter()
            .all(|&i| matches!(s.clients[i].core.state(), State::Connected { .. }))
    };
    assert!(
        sim.run_until(Duration::from_secs(31), both),
        "reconnected within one capped delay"
    );
}
