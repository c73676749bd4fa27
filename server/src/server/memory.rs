//! Giving freed memory back to the system once a load is over.
//!
//! glibc's malloc keeps what the server frees in the arena of the thread that freed it
//! (one per tokio worker) and returns a page only when it is at the top of its heap: after
//! a burst, most of the heap is free but resident, scattered between the few blocks still
//! in use (docs/BENCHMARKS.md, "Memory that returns"). `malloc_trim` gives those free
//! pages back. It walks every arena under its lock, so it runs only once a load is over:
//! [`Trigger`] watches the frames the routers handle, one tick a second, and asks for a
//! trim when, since the last one, at least [`MIN_WORK`] frames were handled and a tick then
//! saw at most a sixteenth of the busiest tick's. A trim is thus paid for by the work
//! before it, at most one a tick, and a steady load, however light, never triggers one.
//!
//! Only with glibc on Linux (`glibc.rs`); elsewhere the task is not started and the
//! counters stay at 0.

#![cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the trim task looks at the work counter.
const TICK: Duration = Duration::from_secs(1);

/// Frames handled since the last trim before another may run: a trim costs about what
/// handling a few hundred frames does, so the work before it pays for it many times over.
const MIN_WORK: u64 = 10_000;

/// A tick with at most this fraction of the busiest tick's frames ends a load.
const QUIET_FRACTION: u64 = 16;

/// What the routers add to and the trim task reads: shared, cheap to update (one relaxed
/// add per inbox batch of a router).
#[derive(Debug, Default)]
pub(crate) struct Work {
    /// Frames the routers handed to their brokers.
    frames: AtomicU64,
    /// Trims run.
    trims: AtomicU64,
    /// Resident bytes the trims gave back (the resident set before minus after).
    trimmed_bytes: AtomicU64,
}

/// The counters `/metrics` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TrimMetrics {
    pub(crate) trims: u64,
    pub(crate) trimmed_bytes: u64,
}

impl Work {
    /// `frames` more frames handled.
    pub(crate) fn add(&self, frames: u64) {
        if frames > 0 {
            self.frames.fetch_add(frames, Ordering::Relaxed);
        }
    }

    pub(crate) fn metrics(&self) -> TrimMetrics {
        TrimMetrics {
            trims: self.trims.load(Ordering::Relaxed),
            trimmed_bytes: self.trimmed_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Starts the trim task where the allocator has a trim (glibc); it ends with the runtime.
pub(crate) fn spawn(work: Arc<Work>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(trim_after_loads(work));
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    drop(work);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
async fn trim_after_loads(work: Arc<Work>) {
    let mut trigger = Trigger::default();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !trigger.tick(work.frames.load(Ordering::Relaxed)) {
            continue;
        }
        let before = resident_bytes();
        let started = std::time::Instant::now();
        let released = glibc::trim();
        let took = started.elapsed();
        let after = resident_bytes();
        let given_back = before.zip(after).map_or(0, |(b, a)| b.saturating_sub(a));
        work.trims.fetch_add(1, Ordering::Relaxed);
        work.trimmed_bytes.fetch_add(given_back, Ordering::Relaxed);
        tracing::debug!(released, given_back, ?took, "memory trimmed after a load");
    }
}

/// The process's resident set (`VmRSS`), in bytes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Decides, one tick at a time, when a load is over and a trim worth it.
#[derive(Debug, Default)]
struct Trigger {
    /// The frame count at the last tick.
    last: u64,
    /// Frames since the last trim.
    since_trim: u64,
    /// The most frames of one tick since the last trim.
    busiest: u64,
}

impl Trigger {
    /// A tick, with the frame count now: whether to trim.
    fn tick(&mut self, frames: u64) -> bool {
        let this_tick = frames.wrapping_sub(self.last);
        self.last = frames;
        self.since_trim = self.since_trim.saturating_add(this_tick);
        self.busiest = self.busiest.max(this_tick);
        if self.since_trim < MIN_WORK || this_tick > self.busiest / QUIET_FRACTION {
            return false;
        }
        self.since_trim = 0;
        self.busiest = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trigger's answers to ticks that each saw `per_tick` frames.
    fn run(trigger: &mut Trigger, per_tick: &[u64]) -> Vec<bool> {
        per_tick
            .iter()
            .map(|&n| {
                let now = trigger.last + n;
                trigger.tick(now)
            })
            .collect()
    }

    #[test]
    fn a_load_is_followed_by_one_trim_once_it_is_over() {
        let mut trigger = Trigger::default();
        let answers = run(&mut trigger, &[0, 40_000, 60_000, 50_000, 100, 0, 0, 0]);
        assert_eq!(
            answers,
            [false, false, false, false, true, false, false, false]
        );
    }

    #[test]
    fn a_steady_load_never_triggers_a_trim_however_long() {
        let mut trigger = Trigger::default();
        let steady = vec![3_000; 600];
        assert!(run(&mut trigger, &steady).iter().all(|&trim| !trim));
        let jittery: Vec<u64> = (0..600).map(|i| 2_000 + (i % 7) * 300).collect();
        assert!(run(&mut trigger, &jittery).iter().all(|&trim| !trim));
    }

    #[test]
    fn little_work_never_triggers_a_trim() {
        let mut trigger = Trigger::default();
        let mut ticks = vec![MIN_WORK - 1];
        ticks.extend([0; 100]);
        assert!(run(&mut trigger, &ticks).iter().all(|&trim| !trim));
    }

    #[test]
    fn work_spread_thin_counts_once_it_adds_up_and_a_quiet_tick_follows() {
        let mut trigger = Trigger::default();
        // A slow load: a thousand frames a tick, then quiet.
        let mut ticks = vec![1_000; 12];
        ticks.extend([0, 0]);
        let answers = run(&mut trigger, &ticks);
        assert_eq!(answers.iter().filter(|&&trim| trim).count(), 1);
        assert!(answers[12], "the first quiet tick: {answers:?}");
    }

    #[test]
    fn each_trim_needs_new_work_before_the_next() {
        let mut trigger = Trigger::default();
        let answers = run(&mut trigger, &[20_000, 0, 0, 20_000, 0, 0]);
        assert_eq!(answers, [false, true, false, false, true, false]);
    }

    #[test]
    fn the_frame_counter_wrapping_around_is_one_more_tick_of_work() {
        let mut trigger = Trigger {
            last: u64::MAX - 5,
            ..Trigger::default()
        };
        assert!(!trigger.tick(MIN_WORK));
        assert_eq!(trigger.since_trim, MIN_WORK + 6);
        assert!(trigger.tick(MIN_WORK), "then quiet");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_resident_set_is_read() {
        let bytes = resident_bytes().expect("/proc/self/status has VmRSS");
        assert!(bytes > 0 && bytes % 1024 == 0, "{bytes}");
    }
}
