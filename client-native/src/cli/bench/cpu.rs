//! CPU time this process used, all threads together.

use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`): 100 on every Linux port.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of this process so far (10 ms resolution); `None` where
/// `/proc/self/stat` cannot be read (not Linux).
pub fn process_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

/// Reads utime and stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name
/// (field 2, in parentheses) may contain spaces and parentheses: fields are counted from
/// its last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = user.checked_add(system)?;
    Some(Duration::from_millis(
        ticks.checked_mul(1000)? / TICKS_PER_SECOND,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_added_after_an_odd_command_name() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 130 0 0 20 0 3 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3_800)));
        assert_eq!(parse_stat("4242 (x) S 1"), None);
    }
}
