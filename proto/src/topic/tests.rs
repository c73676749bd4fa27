//! Tests of `topic`.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Inputs valid both as topics and as filters.
const VALID_TOPICS: &[&str] = &[
    "a",
    "a/b",
    "sensors/temperature/room1",
    "$SYS",
    "$SYS/broker/uptime",
    "$presence/alice/online",
    "a/$b",
    "a$/b",
    "with space/and tab-free",
    " ",
    "caf\u{e9}/\u{1f600}",
    "x.y_z-1/2",
];

/// Inputs that are valid filters but not topics.
const VALID_FILTERS_ONLY: &[(&str, usize)] = &[
    ("#", 0),
    ("+", 0),
    ("a/#", 1),
    ("a/+", 1),
    ("+/b", 0),
    ("a/+/c", 1),
    ("+/+/#", 0),
    ("$SYS/#", 1),
    ("$SYS/+/uptime", 1),
];

/// Inputs invalid as both topics and filters, with the error both report.
fn invalid_for_both() -> Vec<(String, TopicError)> {
    let mut cases: Vec<(String, TopicError)> = vec![
        ("".into(), TopicError::Empty),
        ("/".into(), TopicError::EmptyLevel { index: 0 }),
        ("/a".into(), TopicError::EmptyLevel { index: 0 }),
        ("a/".into(), TopicError::EmptyLevel { index: 1 }),
        ("a//b".into(), TopicError::EmptyLevel { index: 1 }),
        ("a/b//".into(), TopicError::EmptyLevel { index: 2 }),
        ("//".into(), TopicError::EmptyLevel { index: 0 }),
        ("a\0b".into(), TopicError::ControlCharacter),
        ("\0".into(), TopicError::ControlCharacter),
        ("a/b\n".into(), TopicError::ControlCharacter),
        ("a\tb".into(), TopicError::ControlCharacter),
        ("a\u{7f}".into(), TopicError::ControlCharacter),
        ("a\u{85}".into(), TopicError::ControlCharacter),
        // Control characters are reported before the level structure.
        ("//\0".into(), TopicError::ControlCharacter),
    ];
    cases.push((
        "a".repeat(MAX_TOPIC_BYTES + 1),
        TopicError::TooLong {
            len: 1025,
            max: 1024,
        },
    ));
    // Length is measured in UTF-8 bytes, not characters: 342 three-byte chars = 1026 bytes.
    cases.push((
        "\u{20ac}".repeat(342),
        TopicError::TooLong {
            len: 1026,
            max: 1024,
        },
    ));
    // Length is checked before anything else.
    cases.push((
        "\0".repeat(2000),
        TopicError::TooLong {
            len: 2000,
            max: 1024,
        },
    ));
    cases.push((
        levels_of("a", 65),
        TopicError::TooManyLevels {
            levels: 65,
            max: 64,
        },
    ));
    cases.push((
        "/".repeat(64),
        TopicError::TooManyLevels {
            levels: 65,
            max: 64,
        },
    ));
    cases
}

/// `count` copies of `level` joined by '/'.
fn levels_of(level: &str, count: usize) -> String {
    vec![level; count].join("/")
}

#[test]
fn valid_topics_parse_and_keep_their_text() {
    for &s in VALID_TOPICS {
        let topic = Topic::new(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(topic.as_str(), s);
        assert_eq!(topic.to_string(), s);
    }
}

#[test]
fn every_valid_topic_is_also_a_valid_filter_without_wildcards() {
    for &s in VALID_TOPICS {
        let filter = TopicFilter::new(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(filter.as_str(), s);
        assert!(!filter.has_wildcards(), "{s:?}");
    }
}

#[test]
fn topics_at_the_byte_and_level_limits_are_valid() {
    let longest = "a".repeat(MAX_TOPIC_BYTES);
    assert_eq!(
        Topic::new(longest.clone()).map(String::from),
        Ok(longest.clone())
    );
    assert_eq!(
        TopicFilter::new(longest.clone()).map(String::from),
        Ok(longest)
    );
    let deepest = levels_of("a", MAX_TOPIC_LEVELS);
    assert_eq!(
        Topic::new(deepest.as_str()).map(|t| t.levels().count()),
        Ok(64)
    );
    let deepest_filter = format!("{}/#", levels_of("+", MAX_TOPIC_LEVELS - 1));
    assert!(TopicFilter::new(deepest_filter).is_ok());
}

#[test]
fn invalid_inputs_are_rejected_as_topics_and_filters_with_the_exact_error() {
    for (s, expected) in invalid_for_both() {
        let shown: String = s.chars().take(20).collect();
        assert_eq!(
            Topic::new(s.as_str()),
            Err(expected.clone()),
            "topic {shown:?}"
        );
        assert_eq!(
            TopicFilter::new(s.as_str()),
            Err(expected),
            "filter {shown:?}"
        );
    }
}

#[test]
fn wildcards_anywhere_in_a_topic_are_rejected_with_their_level() {
    let cases: &[(&str, usize)] = &[
        ("a+", 0),
        ("a/b#", 1),
        ("a/+b/c", 1),
        ("a/b/c/#x", 3),
        ("a/#/b", 1),
    ];
    for &(s, index) in cases.iter().chain(VALID_FILTERS_ONLY) {
        assert_eq!(
            Topic::new(s),
            Err(TopicError::WildcardInTopic { index }),
            "{s:?}"
        );
    }
}

#[test]
fn valid_filters_parse_and_report_wildcards() {
    for &(s, _) in VALID_FILTERS_ONLY {
        let filter = TopicFilter::new(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(filter.as_str(), s);
        assert!(filter.has_wildcards(), "{s:?}");
    }
}

#[test]
fn misplaced_wildcards_in_filters_are_rejected_with_the_exact_error() {
    let cases: &[(&str, TopicError)] = &[
        ("a+/b", TopicError::WildcardMixedInLevel { index: 0 }),
        ("a/+b", TopicError::WildcardMixedInLevel { index: 1 }),
        ("a/b#", TopicError::WildcardMixedInLevel { index: 1 }),
        ("#a", TopicError::WildcardMixedInLevel { index: 0 }),
        ("++", TopicError::WildcardMixedInLevel { index: 0 }),
        ("+#", TopicError::WildcardMixedInLevel { index: 0 }),
        ("##", TopicError::WildcardMixedInLevel { index: 0 }),
        ("$SYS+", TopicError::WildcardMixedInLevel { index: 0 }),
        ("a/#/b", TopicError::HashNotLast),
        ("#/b", TopicError::HashNotLast),
        ("#/#", TopicError::HashNotLast),
        ("#/", TopicError::HashNotLast),
        // The first broken rule from the left wins.
        ("a/b#/#/c", TopicError::WildcardMixedInLevel { index: 1 }),
        ("a/#/b#", TopicError::HashNotLast),
        ("a//#", TopicError::EmptyLevel { index: 1 }),
        ("+b//", TopicError::WildcardMixedInLevel { index: 0 }),
    ];
    for (s, expected) in cases {
        assert_eq!(TopicFilter::new(*s), Err(expected.clone()), "{s:?}");
    }
}

#[test]
fn non_utf8_bytes_are_rejected_as_invalid_utf8() {
    for bytes in [&b"\xff"[..], b"a/\xc3", b"a/\xed\xa0\x80", b"\xc0\xaf"] {
        assert_eq!(
            Topic::from_utf8(bytes),
            Err(TopicError::InvalidUtf8),
            "{bytes:?}"
        );
        assert_eq!(
            TopicFilter::from_utf8(bytes),
            Err(TopicError::InvalidUtf8),
            "{bytes:?}"
        );
    }
}

#[test]
fn overlong_bytes_are_rejected_as_too_long_before_decoding() {
    let bytes = vec![0xff; MAX_TOPIC_BYTES + 1];
    let expected = TopicError::TooLong {
        len: 1025,
        max: 1024,
    };
    assert_eq!(Topic::from_utf8(&bytes), Err(expected.clone()));
    assert_eq!(TopicFilter::from_utf8(&bytes), Err(expected));
}

#[test]
fn utf8_bytes_parse_like_strings() {
    assert_eq!(
        Topic::from_utf8("caf\u{e9}/x".as_bytes()),
        Topic::new("caf\u{e9}/x")
    );
    assert_eq!(TopicFilter::from_utf8(b"a/+/#"), TopicFilter::new("a/+/#"));
    assert_eq!(
        Topic::from_utf8(b"a/+"),
        Err(TopicError::WildcardInTopic { index: 1 })
    );
    assert_eq!(Topic::from_utf8(b""), Err(TopicError::Empty));
}

#[test]
fn levels_split_on_slashes() {
    let topic = Topic::new("sensors/temperature/room1").expect("valid topic");
    assert_eq!(
        topic.levels().collect::<Vec<_>>(),
        ["sensors", "temperature", "room1"]
    );
    let filter = TopicFilter::new("a/+/#").expect("valid filter");
    assert_eq!(filter.levels().collect::<Vec<_>>(), ["a", "+", "#"]);
    assert_eq!(
        Topic::new("a")
            .expect("valid topic")
            .levels()
            .collect::<Vec<_>>(),
        ["a"]
    );
}

#[test]
fn only_topics_whose_first_level_starts_with_a_dollar_are_system_topics() {
    let cases = [
        ("$SYS", true),
        ("$SYS/broker/uptime", true),
        ("$presence/alice", true),
        ("$", true),
        ("SYS/$x", false),
        ("a$/b", false),
        ("a", false),
    ];
    for (s, expected) in cases {
        assert_eq!(Topic::new(s).map(|t| t.is_system()), Ok(expected), "{s:?}");
    }
}

#[test]
fn filters_match_topics_as_the_table_says() {
    let cases: &[(&str, &str, bool)] = &[
        // Literal filters match exactly their own text.
        ("a", "a", true),
        ("a/b", "a/b", true),
        ("a/b", "a", false),
        ("a", "a/b", false),
        ("a/b", "a/c", false),
        ("a/b", "A/b", false),
        ("caf\u{e9}", "cafe", false),
        // `+` matches exactly one level.
        ("+", "a", true),
        ("+", "a/b", false),
        ("sensors/+/room1", "sensors/temperature/room1", true),
        ("sensors/+/room1", "sensors/room1", false),
        ("sensors/+/room1", "sensors/a/b/room1", false),
        ("sensors/+/room1", "sensors/temperature/room2", false),
        ("a/+", "a", false),
        ("a/+", "a/b", true),
        ("a/+", "a/b/c", false),
        ("+/+", "a/b", true),
        ("+/b", "a/b", true),
        ("+/b", "a/c", false),
        // `#` matches any number of levels, including none (the parent level).
        ("#", "a", true),
        ("#", "a/b/c", true),
        ("a/#", "a", true),
        ("a/#", "a/b", true),
        ("a/#", "a/b/c", true),
        ("a/#", "b", false),
        ("a/#", "ab", false),
        ("a/b/#", "a", false),
        ("a/+/#", "a", false),
        ("a/+/#", "a/b", true),
        ("a/+/#", "a/b/c/d", true),
        ("+/#", "a", true),
        // A first-level wildcard does not match a `$` topic; naming the `$` level does.
        ("#", "$SYS", false),
        ("#", "$SYS/broker/uptime", false),
        ("+", "$SYS", false),
        ("+/broker/uptime", "$SYS/broker/uptime", false),
        ("+/#", "$SYS/broker", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/#", "$SYS", true),
        ("$SYS/+/uptime", "$SYS/broker/uptime", true),
        ("$SYS/broker/uptime", "$SYS/broker/uptime", true),
        ("$presence/+/online", "$presence/alice/online", true),
        ("$SYS/#", "$presence/alice", false),
        ("$SYS", "SYS", false),
        // Only the first level is special: `$` further right is an ordinary character.
        ("a/+", "a/$b", true),
        ("a/#", "a/$b/c", true),
    ];
    assert!(cases.len() >= 25);
    for &(filter, topic, expected) in cases {
        let f = TopicFilter::new(filter).unwrap_or_else(|e| panic!("{filter:?}: {e}"));
        let t = Topic::new(topic).unwrap_or_else(|e| panic!("{topic:?}: {e}"));
        assert_eq!(f.matches(&t), expected, "{filter:?} matches {topic:?}");
    }
}

#[test]
fn a_topic_converted_to_a_filter_matches_exactly_itself() {
    let topics: Vec<Topic> = VALID_TOPICS
        .iter()
        .map(|s| Topic::new(*s).expect("valid"))
        .collect();
    for topic in &topics {
        let filter = TopicFilter::from(topic.clone());
        assert_eq!(filter.as_str(), topic.as_str());
        for other in &topics {
            assert_eq!(
                filter.matches(other),
                other == topic,
                "{filter} matches {other}"
            );
        }
    }
}

#[test]
fn more_specific_filters_have_greater_specificity() {
    // Strictly decreasing specificity.
    let ordered = [
        "a/b/c", "a/+/c", "a/b", "a/b/#", "a/+", "a/#", "+/+/+", "+/+", "+", "#",
    ];
    let specificity: Vec<_> = ordered
        .iter()
        .map(|s| TopicFilter::new(*s).expect("valid filter").specificity())
        .collect();
    for (pair, names) in specificity.windows(2).zip(ordered.windows(2)) {
        assert!(
            pair[0] > pair[1],
            "{} should be more specific than {}",
            names[0],
            names[1]
        );
    }
    let filter = TopicFilter::new("a/+/c/#").expect("valid filter");
    assert_eq!(filter.specificity(), (2, false, 4));
}

#[test]
fn the_most_specific_matching_filter_can_be_chosen_with_max_by_key() {
    let filters: Vec<TopicFilter> = ["#", "sensors/#", "sensors/+/room1", "other/+/room1"]
        .iter()
        .map(|s| TopicFilter::new(*s).expect("valid filter"))
        .collect();
    let topic = Topic::new("sensors/temperature/room1").expect("valid topic");
    let best = filters
        .iter()
        .filter(|f| f.matches(&topic))
        .max_by_key(|f| f.specificity());
    assert_eq!(best.map(TopicFilter::as_str), Some("sensors/+/room1"));
}

#[test]
fn conversions_agree_with_new() {
    let s = "a/b";
    let topic = Topic::new(s).expect("valid topic");
    assert_eq!(s.parse::<Topic>(), Ok(topic.clone()));
    assert_eq!(Topic::try_from(s), Ok(topic.clone()));
    assert_eq!(Topic::try_from(s.to_owned()), Ok(topic.clone()));
    assert_eq!(AsRef::<str>::as_ref(&topic), s);
    assert_eq!(String::from(topic), s);
    assert_eq!(
        "a/+".parse::<Topic>(),
        Err(TopicError::WildcardInTopic { index: 1 })
    );

    let s = "a/+";
    let filter = TopicFilter::new(s).expect("valid filter");
    assert_eq!(s.parse::<TopicFilter>(), Ok(filter.clone()));
    assert_eq!(TopicFilter::try_from(s), Ok(filter.clone()));
    assert_eq!(TopicFilter::try_from(s.to_owned()), Ok(filter.clone()));
    assert_eq!(AsRef::<str>::as_ref(&filter), s);
    assert_eq!(filter.to_string(), s);
    assert_eq!(String::from(filter), s);
    assert_eq!("a/#/b".parse::<TopicFilter>(), Err(TopicError::HashNotLast));
}

#[test]
fn errors_have_readable_messages() {
    let cases = [
        (TopicError::Empty, "topic is empty"),
        (
            TopicError::TooLong {
                len: 1025,
                max: 1024,
            },
            "topic is 1025 bytes long, more than the maximum of 1024",
        ),
        (
            TopicError::TooManyLevels {
                levels: 65,
                max: 64,
            },
            "topic has 65 levels, more than the maximum of 64",
        ),
        (
            TopicError::EmptyLevel { index: 1 },
            "topic level 1 is empty (a topic must not start or end with '/' or contain '//')",
        ),
        (
            TopicError::HashNotLast,
            "'#' must be the last level of a topic filter",
        ),
        (TopicError::InvalidUtf8, "topic is not valid UTF-8"),
        (
            TopicError::ControlCharacter,
            "topic contains a control character",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn every_short_input_over_a_tricky_alphabet_parses_or_errors_consistently() {
    // Exhaustive over all strings of up to 5 characters, so no input shape is forgotten:
    // parsing never panics, a topic is always a filter, and a filter built from a topic
    // matches it.
    let alphabet = ['a', '/', '+', '#', '$', '\0'];
    let mut inputs = vec![String::new()];
    let mut start = 0;
    for _ in 0..5 {
        let end = inputs.len();
        for i in start..end {
            for c in alphabet {
                let mut s = inputs[i].clone();
                s.push(c);
                inputs.push(s);
            }
        }
        start = end;
    }
    let topics: Vec<Topic> = inputs
        .iter()
        .filter_map(|s| Topic::new(s.as_str()).ok())
        .collect();
    let filters: Vec<TopicFilter> = inputs
        .iter()
        .filter_map(|s| TopicFilter::new(s.as_str()).ok())
        .collect();
    assert!(topics.len() > 10 && filters.len() > topics.len());
    for topic in &topics {
        assert!(TopicFilter::new(topic.as_str()).is_ok(), "{topic}");
        assert!(TopicFilter::from(topic.clone()).matches(topic), "{topic}");
        assert!(topic.levels().all(|l| !l.is_empty()), "{topic}");
    }
    for filter in &filters {
        for topic in &topics {
            let matched = filter.matches(topic);
            if filter.as_str() == "#" {
                assert_eq!(matched, !topic.is_system(), "{filter} matches {topic}");
            }
        }
        assert_eq!(
            filter.has_wildcards(),
            filter.specificity().0 < filter.levels().count()
        );
    }
}

#[test]
fn the_one_pass_check_never_accepts_what_the_full_check_refuses() {
    let alphabet = ["a", "/", "+", "#", "$", " ", "\u{7f}", "\u{e9}", "\0", "ab"];
    let mut inputs = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for prefix in &inputs {
            for part in alphabet {
                next.push(format!("{prefix}{part}"));
            }
        }
        inputs.extend(next);
    }
    inputs.push("a/".repeat(64) + "a");
    inputs.push("a/".repeat(63) + "a");
    inputs.push("x".repeat(MAX_TOPIC_BYTES));
    inputs.push("x".repeat(MAX_TOPIC_BYTES + 1));
    for input in &inputs {
        if is_plain_ascii_topic(input) {
            assert_eq!(validate_fully(input, Kind::Topic), Ok(()), "{input:?}");
            assert_eq!(validate_fully(input, Kind::Filter), Ok(()), "{input:?}");
        }
    }
    assert!(is_plain_ascii_topic("sensors/temperature/room1"));
}

#[test]
fn control_characters_are_found_in_the_bytes_exactly_as_char_is_control_finds_them() {
    let mut text = String::new();
    for ch in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        text.clear();
        text.extend(['a', ch, '\u{c2}', 'b']);
        assert_eq!(
            has_control_character(&text),
            ch.is_control(),
            "{:#x}",
            u32::from(ch)
        );
    }
    assert!(!has_control_character(
        "\u{c2}\u{a0}\u{c2}\u{bf}\u{100}\u{4c0}"
    ));
    assert!(has_control_character("\u{c2}\u{9f}"));
}

#[test]
fn levels_are_what_splitting_the_characters_on_slashes_yields_from_either_end() {
    let inputs = [
        "",
        "a",
        "/",
        "//",
        "a/",
        "/a",
        "a//b",
        "ab/c/def",
        "caf\u{e9}/\u{1f600}/\u{e9}",
    ];
    for s in inputs {
        let split = || s.split('/');
        let levels = || Levels::new(s);
        assert!(levels().eq(split()), "{s:?}");
        assert!(levels().rev().eq(split().rev()), "{s:?}");
        // Alternating ends meet in the middle without repeating or losing a level.
        let (mut ours, mut std) = (levels(), split());
        for turn in 0.. {
            let (a, b) = if turn % 2 == 0 {
                (ours.next(), std.next())
            } else {
                (ours.next_back(), std.next_back())
            };
            assert_eq!(a, b, "{s:?} turn {turn}");
            if a.is_none() {
                assert_eq!((ours.next(), ours.next_back()), (None, None), "{s:?}");
                break;
            }
        }
    }
}

#[test]
fn a_borrowed_topic_accepts_and_refuses_exactly_what_an_owned_one_does() {
    let inputs = invalid_for_both()
        .into_iter()
        .map(|(s, _)| s)
        .chain(["a/b", "$SYS/x", "a/+", "#", "sensors/temp/room1", "é/ü"].map(String::from));
    for s in inputs {
        let owned = Topic::new(s.as_str());
        let borrowed = TopicRef::new(&s);
        assert_eq!(borrowed.map(TopicRef::to_topic), owned, "{s:?}");
        if let Ok(topic) = &owned {
            let borrowed = TopicRef::from(topic);
            assert_eq!(borrowed.as_str(), topic.as_str());
            assert_eq!(borrowed.is_system(), topic.is_system());
            assert!(borrowed.levels().eq(topic.levels()));
        }
    }
}
