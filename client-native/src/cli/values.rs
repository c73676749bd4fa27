//! Values given on the command line, parsed into types: durations, keys.

use std::time::Duration;

use fastport_client::Key;
use fastport_client_core::crypto::PBKDF2_DEFAULT_ITERATIONS;

use super::error::CliError;

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
