//! What /proc says about a process: resident memory, CPU time, and the load average.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Keeps the largest VmRSS of `pid` in `peak` (KiB), sampled every 20 ms.
pub async fn sample_rss(pid: u32, peak: Arc<AtomicU64>) {
    let mut every = tokio::time::interval(Duration::from_millis(20));
    loop {
        every.tick().await;
        if let Some(kib) = proc_status_kib(pid, "VmRSS:") {
            peak.fetch_max(kib, Ordering::Relaxed);
        }
    }
}

/// A `kB` line of /proc/PID/status.
pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Clock ticks per second of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// A process's CPU time from a start.
#[derive(Debug)]
pub struct CpuClock {
    pid: u32,
    ticks: Option<u64>,
    at: Instant,
}

impl CpuClock {
    pub fn start(pid: u32) -> CpuClock {
        CpuClock {
            pid,
            ticks: cpu_ticks(pid),
            at: Instant::now(),
        }
    }

    /// CPU time since the start over wall time since the start: cores kept busy.
    pub fn cores(&self) -> f64 {
        match (self.ticks, cpu_ticks(self.pid)) {
            (Some(start), Some(end)) => {
                end.saturating_sub(start) as f64 / CLOCK_TICKS / self.at.elapsed().as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

/// User plus system CPU time of `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (in parentheses) may hold spaces: count fields after it.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    // utime and stime are fields 14 and 15; the state, field 3, comes first after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
