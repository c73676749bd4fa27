//! The server's TOML config file: `Config::with_file_text`, which parses the file, layers it
//! over the defaults and checks every value, as `Config::load` does at startup.
//!
//! A file either gives a configuration whose checked invariants hold, or an error that is
//! one line naming the key.

use fastport_server::config::{Cli, Config};

/// Loads `data` as the config file's text (input that is not UTF-8 cannot be read as a
/// config file at all).
pub fn file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::with_file_text(Cli::default(), text) {
        Ok(config) => {
            assert!(
                config.max_outbound_bytes >= 64 * 1024,
                "max_outbound_bytes is checked"
            );
            assert!(
                config.max_memory >= 2 * config.max_outbound_bytes,
                "max_memory is checked"
            );
            assert!(config.max_connections >= 1, "max_connections is checked");
            assert!(config.max_frame_bytes >= 1024, "max_frame_bytes is checked");
            assert!(
                config.keepalive_min <= config.keepalive
                    && config.keepalive <= config.keepalive_max,
                "the keepalive bounds are checked"
            );
            assert!(!config.keepalive_min.is_zero() && !config.hello_timeout.is_zero());
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            assert!(!message.contains('\n'), "an error is one line: {message:?}");
        }
    }
}
