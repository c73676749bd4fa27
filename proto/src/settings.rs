//! The session settings, defined once. Each row of the table below gives a setting's wire
//! tag and field, its name in the config file and on command lines, its key in the admin
//! API's JSON, its unit, built-in default, allowed range and a one-line description.
//!
//! The codec, the broker's defaults and range checks, the server's config file, flags and
//! admin API, the `fastport session` flags and the tables in docs/ all read it, so a
//! setting is added or changed here and nowhere else (the docs' tables are checked
//! against it by tests).
//!
//! ```
//! use fastport_proto::settings::{SessionConfig, Setting};
//!
//! let defaults = SessionConfig::defaults();
//! assert_eq!(defaults.max_retries, Some(5));
//! assert_eq!(Setting::RetryInterval.default_text(), "2s");
//! assert_eq!(Setting::RetryInterval.range_text(), "10ms to 24h");
//!
//! let mut update = SessionConfig::default();
//! update.set(Setting::MaxRetries, Setting::MaxRetries.parse("5000")?)?;
//! let refused = update.check().expect_err("above the range");
//! assert_eq!(refused.to_string(), "max_retries = 5000 is out of range 0..=1000");
//! assert_eq!(update.to_json(), r#"{"max_retries":5000}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod flags;
mod table;

use core::fmt;
use std::time::Duration;

use crate::codec::DecodeError;
use crate::duration::{format_duration, parse_duration};
#[cfg(feature = "clap")]
pub use flags::SettingFlags;
pub use flags::{FlagStyle, ServerFlags, SessionCommandFlags};

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

// The maxima keep one session from taking the server's memory or timers hostage.
table::session_settings! {
    RetryInterval = 1 {
        field: retry_interval_ms: u64,
        name: "retry_interval",
        json: "retry_interval_ms",
        unit: Millis,
        default: 2 * SECOND,
        min: 10,
        max: DAY,
        about: "Time between resends of an unacknowledged delivery",
    }
    MaxRetries = 2 {
        field: max_retries: u32,
        name: "max_retries",
        json: "max_retries",
        unit: Count,
        default: 5,
        min: 0,
        max: 1_000,
        about: "Resends of a delivery after the first attempt",
    }
    Expiry = 3 {
        field: expiry_ms: u64,
        name: "expiry",
        json: "expiry_ms",
        unit: Millis,
        default: MINUTE,
        min: 100,
        max: 7 * DAY,
        about: "How long a message stays cached, and an offline persistent client's state is kept",
    }
    MaxMessageSize = 4 {
        field: max_message_size: u32,
        name: "max_message_size",
        json: "max_message_size",
        unit: Bytes,
        default: 1024 * 1024,
        min: 64,
        max: 16 * MIB,
        about: "Largest sealed message",
    }
    MaxConnections = 5 {
        field: max_connections: u32,
        name: "max_connections",
        json: "max_connections",
        unit: Count,
        default: 1_000,
        min: 1,
        max: 1_000_000,
        about: "Connections at once in the session",
    }
    MaxSubscriptions = 6 {
        field: max_subscriptions: u32,
        name: "max_subscriptions",
        json: "max_subscriptions",
        unit: Count,
        default: 100,
        min: 1,
        max: 100_000,
        about: "Subscriptions per connection",
    }
    MaxPending = 7 {
        field: max_pending: u32,
        name: "max_pending",
        json: "max_pending",
        unit: Count,
        default: 1_000,
        min: 1,
        max: 1_000_000,
        about: "Unacknowledged deliveries per subscriber",
    }
    SlowConsumerPolicy = 8 {
        field: slow_consumer_policy: SlowConsumerPolicy,
        name: "slow_consumer_policy",
        json: "slow_consumer_policy",
        unit: Policy,
        default: SlowConsumerPolicy::DropOldest,
        min: 0,
        max: 1,
        about: "What happens to a subscriber at max_pending",
    }
    MaxCacheBytes = 9 {
        field: max_cache_bytes: u32,
        name: "max_cache_bytes",
        json: "max_cache_bytes",
        unit: Bytes,
        default: 64 * 1024 * 1024,
        min: 64 * KIB,
        max: 512 * MIB,
        about: "Payload bytes of QoS 1 messages cached at once; a publish beyond them gets queue_full",
    }
}

/// What a setting's value counts, which decides how people write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// A duration: milliseconds on the wire and in JSON, `500ms`/`2s`/`1m`/`1h` in the
    /// config file and on command lines.
    Millis,
    /// A number of things (at most 2^32-1 on the wire).
    Count,
    /// A number of bytes (at most 2^32-1 on the wire).
    Bytes,
    /// A [`SlowConsumerPolicy`], by name.
    Policy,
}

impl Unit {
    /// The placeholder of a flag's value in help and docs.
    pub fn value_name(self) -> &'static str {
        match self {
            Unit::Millis => "DURATION",
            Unit::Count => "N",
            Unit::Bytes => "BYTES",
            Unit::Policy => "POLICY",
        }
    }
}

/// What the server does when a subscriber's pending deliveries reach the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Close the subscriber's connection with `slow_consumer` (it may resume).
    Disconnect,
    /// Drop the subscriber's oldest pending delivery; its publisher's receipt counts it
    /// as dropped.
    DropOldest,
}

impl SlowConsumerPolicy {
    /// Every policy's name, in wire order (0, 1).
    pub const NAMES: &'static [&'static str] = &["disconnect", "drop_oldest"];

    /// Its name in the config file, JSON and on command lines.
    pub fn name(self) -> &'static str {
        match self {
            SlowConsumerPolicy::Disconnect => "disconnect",
            SlowConsumerPolicy::DropOldest => "drop_oldest",
        }
    }

    /// The policy of a name, exactly as [`SlowConsumerPolicy::name`] spells it.
    pub fn from_name(name: &str) -> Option<SlowConsumerPolicy> {
        match name {
            "disconnect" => Some(SlowConsumerPolicy::Disconnect),
            "drop_oldest" => Some(SlowConsumerPolicy::DropOldest),
            _ => None,
        }
    }
}

/// A field's value as it travels: every setting is one varint.
trait WireValue: Sized {
    fn to_wire(self) -> u64;
    fn from_wire(value: u64) -> Result<Self, DecodeError>;
}

impl WireValue for u64 {
    fn to_wire(self) -> u64 {
        self
    }

    fn from_wire(value: u64) -> Result<Self, DecodeError> {
        Ok(value)
    }
}

impl WireValue for u32 {
    fn to_wire(self) -> u64 {
        u64::from(self)
    }

    fn from_wire(value: u64) -> Result<Self, DecodeError> {
        u32::try_from(value).map_err(|_| DecodeError::InvalidValue {
            field: "config_value",
        })
    }
}

impl WireValue for SlowConsumerPolicy {
    fn to_wire(self) -> u64 {
        match self {
            SlowConsumerPolicy::Disconnect => 0,
            SlowConsumerPolicy::DropOldest => 1,
        }
    }

    fn from_wire(value: u64) -> Result<Self, DecodeError> {
        match value {
            0 => Ok(SlowConsumerPolicy::Disconnect),
            1 => Ok(SlowConsumerPolicy::DropOldest),
            _ => Err(DecodeError::InvalidValue {
                field: "slow_consumer_policy",
            }),
        }
    }
}

/// A setting stated with a value outside its [`Setting::range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    /// The setting.
    pub setting: Setting,
    /// Its value, as on the wire.
    pub value: u64,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = self.setting.range();
        let (name, value) = (self.setting.json(), self.value);
        write!(
            f,
            "{name} = {value} is out of range {}..={}",
            range.start(),
            range.end()
        )
    }
}

impl std::error::Error for OutOfRange {}

impl Setting {
    /// Its flag on command lines, without `--`: the name with dashes.
    pub fn flag(self) -> String {
        self.name().replace('_', "-")
    }

    /// Its key in the browser SDK's `SessionSettings`: the JSON key in camelCase
    /// (`retryIntervalMs`).
    pub fn js_name(self) -> String {
        let mut words = self.json().split('_');
        let first = words.next().unwrap_or_default().to_owned();
        words.fold(first, |mut name, word| {
            let mut chars = word.chars();
            name.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            name.push_str(chars.as_str());
            name
        })
    }

    /// Reads a value as people write it in the config file and on command lines: a
    /// duration with its unit, a whole number, or a policy's name.
    pub fn parse(self, text: &str) -> Result<u64, String> {
        match self.unit() {
            Unit::Millis => parse_duration(text).map(millis),
            Unit::Count | Unit::Bytes => text
                .parse::<u32>()
                .map(u64::from)
                .map_err(|e| e.to_string()),
            Unit::Policy => SlowConsumerPolicy::from_name(text)
                .map(WireValue::to_wire)
                .ok_or_else(|| {
                    let expected = SlowConsumerPolicy::NAMES.join(" or ");
                    format!("unknown policy `{text}`: expected {expected}")
                }),
        }
    }

    /// A wire value as people write it: `2s`, `1000`, `drop_oldest`.
    pub fn format(self, value: u64) -> String {
        match self.unit() {
            Unit::Millis => format_duration(Duration::from_millis(value)),
            Unit::Policy => match SlowConsumerPolicy::from_wire(value) {
                Ok(policy) => policy.name().to_owned(),
                Err(_) => value.to_string(),
            },
            Unit::Count | Unit::Bytes => value.to_string(),
        }
    }

    /// The built-in default as people write it.
    pub fn default_text(self) -> String {
        self.format(self.default_value())
    }

    /// The allowed values for people: `10ms to 24h`, `64 B to 16 MiB`,
    /// `disconnect, drop_oldest`.
    pub fn range_text(self) -> String {
        let (min, max) = (*self.range().start(), *self.range().end());
        match self.unit() {
            Unit::Millis => format!("{} to {}", long_duration(min), long_duration(max)),
            Unit::Bytes => format!("{} to {}", bytes(min), bytes(max)),
            Unit::Count => format!("{min} to {max}"),
            Unit::Policy => SlowConsumerPolicy::NAMES.join(", "),
        }
    }

    /// `value` if it is in the range.
    pub fn check(self, value: u64) -> Result<u64, OutOfRange> {
        if self.range().contains(&value) {
            Ok(value)
        } else {
            Err(OutOfRange {
                setting: self,
                value,
            })
        }
    }
}

impl SessionConfig {
    /// The stated settings with their wire values, in tag order.
    pub fn stated(&self) -> impl Iterator<Item = (Setting, u64)> + '_ {
        Setting::ALL
            .iter()
            .filter_map(|&s| self.get(s).map(|value| (s, value)))
    }

    /// Whether no field is stated.
    pub fn is_empty(&self) -> bool {
        self.stated().next().is_none()
    }

    /// Checks every stated setting against its range; the first one outside it is the
    /// error.
    pub fn check(&self) -> Result<(), OutOfRange> {
        self.stated()
            .try_for_each(|(s, value)| s.check(value).map(drop))
    }

    /// The stated settings as the admin API's JSON object, keys in tag order:
    /// `{"retry_interval_ms":2000,"slow_consumer_policy":"drop_oldest"}`.
    pub fn to_json(&self) -> String {
        let fields: Vec<String> = self
            .stated()
            .map(|(s, value)| match s.unit() {
                Unit::Policy => format!("\"{}\":\"{}\"", s.json(), s.format(value)),
                _ => format!("\"{}\":{value}", s.json()),
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// The admin API's answer, `{"session":"team","config":{...}}`: what the server's HTTP API
/// sends and `fastport session --json` prints.
pub fn admin_json(session: &str, config: &SessionConfig) -> String {
    let config = config.to_json();
    format!(
        "{{\"session\":{},\"config\":{config}}}",
        json_string(session)
    )
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Milliseconds of a duration, saturating (a range check refuses the huge ones).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A duration bound for people: whole days beyond one, else as written in flags.
fn long_duration(ms: u64) -> String {
    if ms > DAY && ms % DAY == 0 {
        format!("{} days", ms / DAY)
    } else {
        format_duration(Duration::from_millis(ms))
    }
}

/// A byte count for people, in the largest exact binary unit.
fn bytes(n: u64) -> String {
    match n {
        _ if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        _ if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        _ => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests;
