//! Durations as people write them in flags, environment variables and config files:
//! `500ms`, `2s`, `1m`, `1h`. Shared by the server's configuration and the `fastport` tool.

use std::time::Duration;

/// Parses a whole number followed by a unit (`ms`, `s`, `m` or `h`).
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

/// Formats a duration the way [`parse_duration`] reads it (largest exact unit).
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        0 => "0s".to_owned(),
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn each_unit_is_read_as_documented() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn a_duration_without_a_known_unit_is_refused_with_a_hint() {
        for bad in [
            "",
            "2",
            "s",
            "2x",
            "1.5s",
            "-1s",
            "2 s",
            "99999999999999999999s",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.starts_with("invalid duration"), "{bad}: {err}");
        }
        assert!(parse_duration("2")
            .expect_err("no unit")
            .contains("missing unit"));
    }

    #[test]
    fn errors_name_the_missing_or_unknown_unit() {
        assert!(parse_duration("2x")
            .expect_err("invalid")
            .contains("unknown unit `x`"));
        assert!(parse_duration(" 1h ").is_ok());
    }

    #[test]
    fn durations_are_written_in_the_largest_exact_unit() {
        let f = |ms| format_duration(Duration::from_millis(ms));
        assert_eq!(
            [f(0), f(500), f(2_000), f(90_000), f(120_000), f(7_200_000)],
            ["0s", "500ms", "2s", "90s", "2m", "2h"]
        );
    }

    #[test]
    fn a_duration_too_long_to_count_in_milliseconds_is_refused() {
        assert!(parse_duration("18446744073709551615h").is_err());
    }

    #[test]
    fn formatted_durations_read_back_to_the_same_value() {
        for ms in [0, 1, 999, 1_000, 90_000, 120_000, 7_200_000, 1_500] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
