//! Values given on the command line, parsed into types: durations, keys.

use std::time::Duration;

use fastport_client::Key;
use fastport_client_core::crypto::PBKDF2_DEFAULT_ITERATIONS;

use super::error::CliError;

/// A duration as the server writes it: a whole number and a unit, `500ms`, `2s`, `1m`,
/// `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let hint = "write a whole number and a unit, e.g. 500ms, 2s, 1m or 1h";
    if digits.is_empty() {
        return Err(format!("invalid duration `{text}`: {hint}"));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration `{text}`: the number is too large"))?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err(format!("invalid duration `{text}`: missing unit; {hint}")),
        _ => {
            return Err(format!(
                "invalid duration `{text}`: unknown unit `{unit}`; {hint}"
            ))
        }
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("invalid duration `{text}`: too long"))
}

/// Writes a duration the way [`parse_duration`] reads it, in the largest exact unit.
pub fn format_millis(ms: u64) -> String {
    match ms {
        0 => "0s".to_owned(),
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

/// Writes a duration for people: `1.5s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The key from `--key` (base64) or derived from `--passphrase` for `session`; `None`
/// when neither was given.
pub fn session_key(
    key: Option<&str>,
    passphrase: Option<&str>,
    session: &str,
) -> Result<Option<Key>, CliError> {
    if let Some(text) = key {
        let key = Key::from_base64(text)
            .map_err(|e| CliError::usage(format!("--key / FASTPORT_KEY: {e}")))?;
        return Ok(Some(key));
    }
    let Some(passphrase) = passphrase else {
        return Ok(None);
    };
    Key::derive_from_passphrase(passphrase, session, PBKDF2_DEFAULT_ITERATIONS)
        .map(Some)
        .map_err(|e| CliError::usage(format!("--passphrase / FASTPORT_PASSPHRASE: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(" 1h "), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("2")
            .expect_err("invalid")
            .contains("missing unit"));
        assert!(parse_duration("2x")
            .expect_err("invalid")
            .contains("unknown unit `x`"));
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    #[test]
    fn durations_are_written_in_the_largest_exact_unit() {
        assert_eq!(format_millis(0), "0s");
        assert_eq!(format_millis(500), "500ms");
        assert_eq!(format_millis(2_000), "2s");
        assert_eq!(format_millis(90_000), "90s");
        assert_eq!(format_millis(120_000), "2m");
        assert_eq!(format_millis(7_200_000), "2h");
    }

    #[test]
    fn a_bad_key_is_a_usage_error_naming_the_flag() {
        let e = session_key(Some("not base64!"), None, "demo").expect_err("invalid");
        assert_eq!(e.code, super::super::error::USAGE);
        assert!(e.message.contains("--key"), "{}", e.message);
        let e = session_key(Some("AAAA"), None, "demo").expect_err("invalid");
        assert!(e.message.contains("32 bytes"), "{}", e.message);
        assert!(session_key(None, None, "demo")
            .expect("no key is fine")
            .is_none());
    }
}
