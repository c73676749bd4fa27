#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;

mod docs;

#[test]
fn tags_are_dense_from_one_in_table_order_and_names_are_unique() {
    for (i, &s) in Setting::ALL.iter().enumerate() {
        assert_eq!(s as u64, i as u64 + 1);
        assert_eq!(Setting::from_tag(s as u64), Some(s));
        assert_eq!(Setting::NAMES[i], s.name());
        assert_eq!(Setting::JSON_NAMES[i], s.json());
    }
    assert_eq!(Setting::NAMES.len(), Setting::ALL.len());
    assert_eq!(Setting::JSON_NAMES.len(), Setting::ALL.len());
    assert_eq!(Setting::from_tag(0), None);
    assert_eq!(Setting::from_tag(Setting::ALL.len() as u64 + 1), None);
    for names in [Setting::NAMES, Setting::JSON_NAMES] {
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
    }
}

#[test]
fn json_keys_are_the_names_with_the_unit_of_plain_milliseconds() {
    for &s in Setting::ALL {
        let expected = match s.unit() {
            Unit::Millis => format!("{}_ms", s.name()),
            _ => s.name().to_owned(),
        };
        assert_eq!(s.json(), expected);
    }
}

#[test]
fn the_defaults_are_the_documented_ones_and_in_range() {
    let defaults = SessionConfig::defaults();
    assert_eq!(
        defaults,
        SessionConfig {
            retry_interval_ms: Some(2_000),
            max_retries: Some(5),
            expiry_ms: Some(60_000),
            max_message_size: Some(1_048_576),
            max_connections: Some(1_000),
            max_subscriptions: Some(100),
            max_pending: Some(1_000),
            slow_consumer_policy: Some(SlowConsumerPolicy::DropOldest),
            max_cache_bytes: Some(64 << 20),
        }
    );
    for &s in Setting::ALL {
        assert_eq!(defaults.get(s), Some(s.default_value()), "{s:?}");
        assert_eq!(s.check(s.default_value()), Ok(s.default_value()), "{s:?}");
    }
    assert_eq!(defaults.stated().count(), Setting::ALL.len());
}

#[test]
fn each_range_accepts_its_bounds_and_refuses_what_lies_beyond() {
    let ranges: Vec<(&str, u64, u64)> = Setting::ALL
        .iter()
        .map(|s| (s.name(), *s.range().start(), *s.range().end()))
        .collect();
    assert_eq!(
        ranges,
        [
            ("retry_interval", 10, 86_400_000),
            ("max_retries", 0, 1_000),
            ("expiry", 100, 604_800_000),
            ("max_message_size", 64, 16 * 1024 * 1024),
            ("max_connections", 1, 1_000_000),
            ("max_subscriptions", 1, 100_000),
            ("max_pending", 1, 1_000_000),
            ("slow_consumer_policy", 0, 1),
            ("max_cache_bytes", 65_536, 512 * 1024 * 1024),
        ]
    );
    for &s in Setting::ALL {
        let (min, max) = (*s.range().start(), *s.range().end());
        assert_eq!(s.check(min), Ok(min));
        assert_eq!(s.check(max), Ok(max));
        let beyond = OutOfRange {
            setting: s,
            value: max + 1,
        };
        assert_eq!(s.check(max + 1), Err(beyond));
        if min > 0 {
            assert!(s.check(min - 1).is_err(), "{s:?}");
        }
    }
}

#[test]
fn an_out_of_range_setting_is_named_by_its_json_key_with_its_range() {
    let config = SessionConfig {
        retry_interval_ms: Some(5),
        max_retries: Some(5_000),
        ..SessionConfig::default()
    };
    let refused = config.check().expect_err("both out of range");
    assert_eq!(
        refused.to_string(),
        "retry_interval_ms = 5 is out of range 10..=86400000"
    );
    let config = SessionConfig {
        max_pending: Some(0),
        ..SessionConfig::default()
    };
    assert_eq!(
        config.check().expect_err("below the range").to_string(),
        "max_pending = 0 is out of range 1..=1000000"
    );
    assert_eq!(SessionConfig::defaults().check(), Ok(()));
    assert_eq!(SessionConfig::default().check(), Ok(()));
}

#[test]
fn defaults_and_ranges_read_as_people_write_them() {
    let texts: Vec<(String, String)> = Setting::ALL
        .iter()
        .map(|s| (s.default_text(), s.range_text()))
        .collect();
    let expected = [
        ("2s", "10ms to 24h"),
        ("5", "0 to 1000"),
        ("1m", "100ms to 7 days"),
        ("1048576", "64 B to 16 MiB"),
        ("1000", "1 to 1000000"),
        ("100", "1 to 100000"),
        ("1000", "1 to 1000000"),
        ("drop_oldest", "disconnect, drop_oldest"),
        ("67108864", "64 KiB to 512 MiB"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(d, r)| (d.to_string(), r.to_string()))
        .collect();
    assert_eq!(texts, expected);
}

#[test]
fn values_written_by_people_are_read_by_their_unit() {
    assert_eq!(Setting::RetryInterval.parse("500ms"), Ok(500));
    assert_eq!(Setting::Expiry.parse("2m"), Ok(120_000));
    let no_unit = Setting::Expiry.parse("2").expect_err("no unit");
    assert!(no_unit.contains("missing unit"), "{no_unit}");
    assert_eq!(Setting::MaxRetries.parse("7"), Ok(7));
    assert!(Setting::MaxRetries.parse("-1").is_err());
    assert!(Setting::MaxMessageSize.parse("4294967296").is_err());
    assert_eq!(Setting::SlowConsumerPolicy.parse("disconnect"), Ok(0));
    assert_eq!(Setting::SlowConsumerPolicy.parse("drop_oldest"), Ok(1));
    assert!(Setting::SlowConsumerPolicy.parse("drop-oldest").is_err());
    let unknown = Setting::SlowConsumerPolicy
        .parse("never")
        .expect_err("no such policy");
    assert!(
        unknown.contains("expected disconnect or drop_oldest"),
        "{unknown}"
    );
    for &s in Setting::ALL {
        assert_eq!(s.parse(&s.default_text()), Ok(s.default_value()), "{s:?}");
    }
}

#[test]
fn set_refuses_values_that_do_not_fit_the_field() {
    let mut config = SessionConfig::default();
    let too_big = u64::from(u32::MAX) + 1;
    assert_eq!(
        config.set(Setting::MaxRetries, too_big),
        Err(DecodeError::InvalidValue {
            field: "config_value"
        })
    );
    assert_eq!(
        config.set(Setting::SlowConsumerPolicy, 2),
        Err(DecodeError::InvalidValue {
            field: "slow_consumer_policy"
        })
    );
    assert!(config.is_empty());
    config
        .set(Setting::RetryInterval, u64::MAX)
        .expect("a duration field holds any u64");
    assert_eq!(config.get(Setting::RetryInterval), Some(u64::MAX));
    assert!(!config.is_empty());
}

#[test]
fn apply_overwrites_only_the_stated_fields() {
    let mut config = SessionConfig::defaults();
    let update = SessionConfig {
        expiry_ms: Some(500),
        slow_consumer_policy: Some(SlowConsumerPolicy::Disconnect),
        ..SessionConfig::default()
    };
    config.apply(&update);
    assert_eq!(config.expiry_ms, Some(500));
    assert_eq!(
        config.slow_consumer_policy,
        Some(SlowConsumerPolicy::Disconnect)
    );
    assert_eq!(config.max_retries, SessionConfig::defaults().max_retries);
    assert_eq!(config.stated().count(), Setting::ALL.len());
}

#[test]
fn the_json_object_states_only_the_stated_fields_in_tag_order() {
    let config = SessionConfig {
        max_retries: Some(3),
        slow_consumer_policy: Some(SlowConsumerPolicy::DropOldest),
        ..SessionConfig::default()
    };
    assert_eq!(
        config.to_json(),
        r#"{"max_retries":3,"slow_consumer_policy":"drop_oldest"}"#
    );
    assert_eq!(SessionConfig::default().to_json(), "{}");
    let all: serde_json::Value =
        serde_json::from_str(&SessionConfig::defaults().to_json()).expect("valid JSON");
    assert_eq!(
        all,
        serde_json::json!({
            "retry_interval_ms": 2000, "max_retries": 5, "expiry_ms": 60000,
            "max_message_size": 1048576, "max_connections": 1000, "max_subscriptions": 100,
            "max_pending": 1000, "slow_consumer_policy": "drop_oldest",
            "max_cache_bytes": 67108864
        })
    );
}

#[test]
fn the_admin_answer_states_the_session_then_its_settings() {
    let full = SessionConfig {
        max_message_size: Some(65_536),
        ..SessionConfig::defaults()
    };
    let value: serde_json::Value =
        serde_json::from_str(&admin_json("team", &full)).expect("valid JSON");
    assert_eq!(value["session"], "team");
    assert_eq!(value["config"]["retry_interval_ms"], 2_000);
    assert_eq!(value["config"]["expiry_ms"], 60_000);
    assert_eq!(value["config"]["max_message_size"], 65_536);
    assert_eq!(value["config"]["slow_consumer_policy"], "drop_oldest");
    let dropped = admin_json("team", &SessionConfig::default());
    assert_eq!(dropped, r#"{"session":"team","config":{}}"#);
    let odd = "a\"b\\c\nd\u{1}é";
    let value: serde_json::Value =
        serde_json::from_str(&admin_json(odd, &SessionConfig::default())).expect("escaped");
    assert_eq!(value["session"], odd);
}

#[test]
fn policies_are_named_as_in_json_and_numbered_as_on_the_wire() {
    for (i, name) in SlowConsumerPolicy::NAMES.iter().enumerate() {
        let policy = SlowConsumerPolicy::from_name(name).expect("a known name");
        assert_eq!(policy.name(), *name);
        assert_eq!(policy.to_wire(), i as u64);
    }
    assert_eq!(SlowConsumerPolicy::from_name("drop-oldest"), None);
    assert_eq!(SlowConsumerPolicy::from_name("Disconnect"), None);
}

#[test]
fn browser_keys_are_the_json_keys_in_camel_case() {
    assert_eq!(Setting::RetryInterval.js_name(), "retryIntervalMs");
    assert_eq!(Setting::MaxRetries.js_name(), "maxRetries");
    assert_eq!(Setting::SlowConsumerPolicy.js_name(), "slowConsumerPolicy");
}

#[test]
fn flags_are_the_names_with_dashes_unless_a_program_has_its_own() {
    assert_eq!(Setting::RetryInterval.flag(), "retry-interval");
    assert_eq!(
        ServerFlags::flag(Setting::MaxConnections),
        "session-max-connections"
    );
    assert_eq!(
        ServerFlags::env(Setting::MaxConnections).as_deref(),
        Some("FASTPORT_SESSION_MAX_CONNECTIONS")
    );
    assert_eq!(
        ServerFlags::env(Setting::SlowConsumerPolicy).as_deref(),
        Some("FASTPORT_SLOW_CONSUMER_POLICY")
    );
    assert_eq!(
        SessionCommandFlags::flag(Setting::MaxConnections),
        "max-connections"
    );
    assert_eq!(SessionCommandFlags::env(Setting::MaxConnections), None);
    assert_eq!(
        SessionCommandFlags::aliases(Setting::SlowConsumerPolicy),
        ["slow-consumer"]
    );
}
