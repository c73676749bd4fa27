//! The TOML configuration file, as read (before layering with the environment and flags).

use std::path::PathBuf;
use std::time::Duration;

use fastport_proto::duration::parse_duration;
use serde::{Deserialize, Deserializer};

use super::engine::FileRedis;
use super::settings::FileSettings;

/// The file's top level. Unknown keys are errors, so a typo is never silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub listen: Option<String>,
    pub admin_token: Option<String>,
    pub admin_token_hash: Option<String>,
    pub static_dir: Option<PathBuf>,
    pub log: Option<String>,
    pub demo_session: Option<bool>,
    pub max_connections: Option<usize>,
    pub max_connections_per_address: Option<usize>,
    pub max_sessions: Option<usize>,
    pub max_pending_jobs: Option<usize>,
    pub max_outbound_bytes: Option<usize>,
    pub max_memory: Option<usize>,
    pub slow_consumer_timeout: Option<FileDuration>,
    pub router_shards: Option<usize>,
    pub max_frame_bytes: Option<usize>,
    pub shutdown_grace: Option<FileDuration>,
    pub keepalive: Option<FileDuration>,
    pub keepalive_min: Option<FileDuration>,
    pub keepalive_max: Option<FileDuration>,
    pub hello_timeout: Option<FileDuration>,
    pub presence_interval: Option<FileDuration>,
    pub allowed_origins: Option<Vec<String>>,
    pub server_names: Option<Vec<String>>,
    pub metrics_token: Option<String>,
    pub metrics_per_session: Option<bool>,
    pub insecure: Option<bool>,
    pub open_session_creation: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_handshake_timeout: Option<FileDuration>,
    pub node_id: Option<String>,
    pub advertise_url: Option<String>,
    pub redis: Option<FileRedis>,
    #[serde(default)]
    pub session_defaults: FileSettings,
    #[serde(default)]
    pub session_limits: FileSettings,
    #[serde(default)]
    pub sessions: Vec<FileSession>,
}

/// One `[[sessions]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSession {
    pub name: String,
    pub password: Option<String>,
    pub password_hash: Option<String>,
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub settings: FileSettings,
}

/// A duration written as a string with a unit.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileDuration(pub Duration);

impl<'de> Deserialize<'de> for FileDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a duration string such as \"500ms\", \"2s\" or \"1m\"",
            )
        })?;
        parse_duration(&text)
            .map(FileDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// Milliseconds of a duration, saturating (the broker's range check refuses huge values).
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Parses the file's text; the error names the key (`sessions[1].settings.expiry: ...`)
/// or the line of a syntax error.
pub(super) fn parse(text: &str) -> Result<FileConfig, String> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| describe(text, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = describe(text, e.inner());
        if path == "." || path.is_empty() {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// One line: the message, and the line number when the parser knows it.
fn describe(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}
