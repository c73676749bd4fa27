//! Session settings as the config file and the admin API write them, read through the
//! settings table ([`fastport_proto::settings`]): the file has the settings' names and
//! durations with a unit (`expiry = "10m"`), the JSON their keys and plain milliseconds
//! (`"expiry_ms": 600000`). Unknown keys are refused, so a typo is never ignored.

use std::fmt;

use fastport_proto::settings::{SessionConfig, Setting, SlowConsumerPolicy, Unit};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::file::{millis, FileDuration};

/// `[session_defaults]` or `[sessions.settings]` in the config file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FileSettings(pub SessionConfig);

/// The `config` object of an admin API request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JsonSettings(pub SessionConfig);

impl<'de> Deserialize<'de> for FileSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = SettingsVisitor(Spelling::File);
        deserializer.deserialize_map(visitor).map(FileSettings)
    }
}

impl<'de> Deserialize<'de> for JsonSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = SettingsVisitor(Spelling::Json);
        deserializer.deserialize_map(visitor).map(JsonSettings)
    }
}

#[derive(Debug, Clone, Copy)]
enum Spelling {
    File,
    Json,
}

impl Spelling {
    fn names(self) -> &'static [&'static str] {
        match self {
            Spelling::File => Setting::NAMES,
            Spelling::Json => Setting::JSON_NAMES,
        }
    }
}

struct SettingsVisitor(Spelling);

impl<'de> Visitor<'de> for SettingsVisitor {
    type Value = SessionConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of session settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SessionConfig, A::Error> {
        let mut config = SessionConfig::default();
        while let Some((setting, name)) = map.next_key_seed(KeySeed(self.0))? {
            if config.get(setting).is_some() {
                return Err(de::Error::duplicate_field(name));
            }
            let value = map.next_value_seed(ValueSeed(setting, self.0))?;
            config.set(setting, value).map_err(de::Error::custom)?;
        }
        Ok(config)
    }
}

/// A key and the setting it names. Refusing an unknown key here, rather than after
/// reading it, lets the error's path end with the key (`session_defaults.max_retires`).
struct KeySeed(Spelling);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = (Setting, &'static str);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        let names = self.0.names();
        Setting::ALL
            .iter()
            .zip(names)
            .find(|(_, name)| **name == key)
            .map(|(&setting, &name)| (setting, name))
            .ok_or_else(|| de::Error::unknown_field(&key, names))
    }
}

/// One setting's value, read as its unit is written in the format, given as on the wire.
struct ValueSeed(Setting, Spelling);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        let ValueSeed(setting, spelling) = self;
        match (setting.unit(), spelling) {
            (Unit::Millis, Spelling::File) => {
                FileDuration::deserialize(deserializer).map(|d| millis(d.0))
            }
            (Unit::Millis, Spelling::Json) => u64::deserialize(deserializer),
            (Unit::Policy, _) => {
                let name = String::deserialize(deserializer)?;
                setting
                    .parse(&name)
                    .map_err(|_| de::Error::unknown_variant(&name, SlowConsumerPolicy::NAMES))
            }
            _ => u32::deserialize(deserializer).map(u64::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_api_reads_every_json_key_and_refuses_unknown_ones() {
        let text = r#"{"retry_interval_ms": 500, "max_retries": 2, "expiry_ms": 60000,
            "max_message_size": 4096, "max_connections": 5, "max_subscriptions": 6,
            "max_pending": 7, "slow_consumer_policy": "disconnect",
            "max_cache_bytes": 1048576}"#;
        let JsonSettings(config) = serde_json::from_str(text).expect("valid config");
        assert_eq!(config.retry_interval_ms, Some(500));
        assert_eq!(config.max_pending, Some(7));
        assert_eq!(
            config.slow_consumer_policy,
            Some(SlowConsumerPolicy::Disconnect)
        );
        assert_eq!(config.stated().count(), Setting::ALL.len());
        for refused in [
            r#"{"max_retires": 2}"#,
            r#"{"max_retries": -1}"#,
            r#"{"max_retries": 4294967296}"#,
            r#"{"expiry": 500}"#,
            r#"{"expiry_ms": "1m"}"#,
            r#"{"slow_consumer_policy": "drop-oldest"}"#,
            r#"{"max_retries": 1, "max_retries": 2}"#,
        ] {
            assert!(
                serde_json::from_str::<JsonSettings>(refused).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_file_reads_every_name_with_durations_in_units() {
        let text = "retry_interval = \"500ms\"\nmax_retries = 2\nexpiry = \"1m\"\n\
                    max_message_size = 4096\nmax_connections = 5\nmax_subscriptions = 6\n\
                    max_pending = 7\nslow_consumer_policy = \"drop_oldest\"\n\
                    max_cache_bytes = 1048576\n";
        let FileSettings(config) = toml::from_str(text).expect("valid settings");
        assert_eq!(config.retry_interval_ms, Some(500));
        assert_eq!(config.expiry_ms, Some(60_000));
        assert_eq!(config.stated().count(), Setting::ALL.len());
        for refused in [
            "expiry_ms = 500\n",
            "expiry = 500\n",
            "max_retries = \"5\"\n",
            "slow_consumer_policy = \"never\"\n",
        ] {
            assert!(
                toml::from_str::<FileSettings>(refused).is_err(),
                "{refused}"
            );
        }
        let message = toml::from_str::<FileSettings>("slow_consumer_policy = \"never\"\n")
            .expect_err("unknown policy")
            .to_string();
        assert!(
            message.contains("expected `disconnect` or `drop_oldest`"),
            "{message}"
        );
    }
}
