//! Topics and topic filters, validated when they are created ("parse, don't validate"): a
//! [`Topic`] or [`TopicFilter`] value is always well formed, so code that holds one never
//! checks again.
//!
//! These rules are part of the protocol: the client and the server apply the same ones.
//!
//! # Topics and filters
//!
//! A topic names where a message is published, e.g. `sensors/temperature/room1`. A topic
//! filter selects topics to subscribe to and may contain wildcards, e.g. `sensors/+/room1`.
//!
//! - A topic is a sequence of *levels* separated by `/`.
//! - A topic is at most [`MAX_TOPIC_BYTES`] (1024) bytes long, counted as UTF-8, and has at
//!   most [`MAX_TOPIC_LEVELS`] (64) levels.
//! - The empty string is rejected ([`TopicError::Empty`]).
//! - Empty levels are rejected ([`TopicError::EmptyLevel`], with the 0-based index of the
//!   level): `a//b`, `/a` and `a/` are invalid. MQTT allows them, but a leading, trailing or
//!   doubled `/` is almost always a bug (a path joined with an empty or badly quoted part),
//!   and accepting it would make `a/b` and `a/b/` two different topics that look the same.
//! - NUL and every other control character ([`char::is_control`]) are rejected
//!   ([`TopicError::ControlCharacter`]): they break logs, terminals and the wire format's
//!   consumers, and no sensible topic contains them.
//! - A topic contains no `+` or `#` at all ([`TopicError::WildcardInTopic`]), so that a
//!   topic is never mistaken for a filter.
//!
//! # Wildcards in filters
//!
//! - `+` matches exactly one level: `sensors/+/room1` matches `sensors/temperature/room1`
//!   but neither `sensors/room1` nor `sensors/a/b/room1`.
//! - `#` matches any number of levels, including none, so it also matches the parent
//!   level: `a/#` matches `a`, `a/b` and `a/b/c`. A lone `#` matches every (non-`$`) topic.
//! - A wildcard must be a whole level: `a+/b`, `a/+b` and `a/b#` are rejected
//!   ([`TopicError::WildcardMixedInLevel`]).
//! - `#` must be the last level: `a/#/b` is rejected ([`TopicError::HashNotLast`]).
//! - A topic is a valid filter that matches exactly itself (`From<Topic> for TopicFilter`).
//!
//! # `$` topics
//!
//! Topics whose first level starts with `$` (`$SYS/broker/uptime`, `$presence/...`) are
//! reserved for the server ([`Topic::is_system`]); they are still valid [`Topic`]s so that
//! clients can receive them. As in MQTT, a filter whose *first* level is a wildcard (`#`,
//! `+/status`) does not match a `$` topic, so that subscribing to "everything" does not
//! also deliver server internals; a filter naming the `$` level does: `$SYS/#` matches
//! `$SYS/broker/uptime`.
//!
//! # Which error is reported
//!
//! When an input breaks several rules, the error is the first that applies of: not UTF-8,
//! empty, too long, control character, too many levels, and then, level by level from the
//! left, the first broken rule of that level (empty level, wildcard in a topic, misplaced
//! wildcard in a filter). Checking the length first bounds the work done on hostile input.

use core::str::Split;

use crate::text::impl_text_traits;

/// The longest valid topic or filter, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 1024;

/// The most levels a valid topic or filter has.
pub const MAX_TOPIC_LEVELS: usize = 64;

/// The level separator.
const SEPARATOR: char = '/';
/// The single-level wildcard, valid only as a whole level of a filter.
const PLUS: &str = "+";
/// The multi-level wildcard, valid only as the whole last level of a filter.
const HASH: &str = "#";
/// Characters that are wildcards somewhere in a level.
const WILDCARDS: [char; 2] = ['+', '#'];

/// A valid topic: the name a message is published to. Contains no wildcards.
///
/// See the [module documentation](self) for the rules.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Topic(String);

impl Topic {
    /// Parses `s` as a topic.
    pub fn new(s: impl Into<String>) -> Result<Topic, TopicError> {
        let s = s.into();
        validate(&s, Kind::Topic)?;
        Ok(Topic(s))
    }

    /// Parses `bytes`, which must be UTF-8, as a topic.
    ///
    /// Input longer than [`MAX_TOPIC_BYTES`] is rejected as [`TopicError::TooLong`] before
    /// its encoding is looked at; other non-UTF-8 input is [`TopicError::InvalidUtf8`].
    pub fn from_utf8(bytes: &[u8]) -> Result<Topic, TopicError> {
        Topic::new(str_from_utf8(bytes)?)
    }

    /// The topic as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The levels of the topic, left to right; never empty, and none of them is empty.
    pub fn levels(&self) -> Split<'_, char> {
        self.0.split(SEPARATOR)
    }

    /// Whether this is a topic reserved for the server: its first level starts with `$`.
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }
}

/// A valid topic filter: selects the topics a subscription receives, possibly with the
/// wildcards `+` (one level) and `#` (any number of trailing levels, including none).
///
/// See the [module documentation](self) for the rules.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TopicFilter(String);

impl TopicFilter {
    /// Parses `s` as a topic filter.
    pub fn new(s: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let s = s.into();
        validate(&s, Kind::Filter)?;
        Ok(TopicFilter(s))
    }

    /// Parses `bytes`, which must be UTF-8, as a topic filter.
    ///
    /// Input longer than [`MAX_TOPIC_BYTES`] is rejected as [`TopicError::TooLong`] before
    /// its encoding is looked at; other non-UTF-8 input is [`TopicError::InvalidUtf8`].
    pub fn from_utf8(bytes: &[u8]) -> Result<TopicFilter, TopicError> {
        TopicFilter::new(str_from_utf8(bytes)?)
    }

    /// The filter as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The levels of the filter, left to right; never empty, and none of them is empty.
    pub fn levels(&self) -> Split<'_, char> {
        self.0.split(SEPARATOR)
    }

    /// Whether the filter contains a `+` or `#` wildcard, i.e. may match more than one topic.
    pub fn has_wildcards(&self) -> bool {
        // Validation guarantees that these characters only occur as whole wildcard levels.
        self.0.contains(WILDCARDS)
    }

    /// Whether `topic` is selected by this filter.
    ///
    /// Does not allocate. A filter whose first level is a wildcard does not match a `$`
    /// topic (see the [module documentation](self)).
    pub fn matches(&self, topic: &Topic) -> bool {
        if topic.is_system() && self.0.starts_with(WILDCARDS) {
            return false;
        }
        let mut filter_levels = self.levels();
        let mut topic_levels = topic.levels();
        loop {
            match (filter_levels.next(), topic_levels.next()) {
                // `#` is always last and matches the rest, including nothing: `a/#` matches `a`.
                (Some(HASH), _) => return true,
                (Some(PLUS), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// How specific the filter is, for "most specific filter wins" lookups (used to choose
    /// per-topic encryption keys): the filter with the *greatest* value wins.
    ///
    /// The value is `(literal levels, has no '#', levels)`, compared in that order: more
    /// literal (non-wildcard) levels first, then a filter without `#` over one with it, then
    /// more levels. So `a/b` > `a/+` > `a/#` > `+/+` > `+` > `#`. Two different filters can
    /// tie (`a/+` and `+/b`); callers that need a total order break ties themselves, e.g.
    /// by comparing the filters.
    pub fn specificity(&self) -> (usize, bool, usize) {
        let mut literal = 0;
        let mut has_hash = false;
        let mut levels = 0;
        for level in self.levels() {
            levels += 1;
            match level {
                PLUS => {}
                HASH => has_hash = true,
                _ => literal += 1,
            }
        }
        (literal, !has_hash, levels)
    }
}

impl From<Topic> for TopicFilter {
    /// A topic is a valid filter that matches exactly itself.
    fn from(topic: Topic) -> TopicFilter {
        // The topic rules are strictly tighter than the filter rules (no wildcards at all).
        TopicFilter(topic.0)
    }
}

/// Why a string is not a valid [`Topic`] or [`TopicFilter`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic is the empty string.
    #[error("topic is empty")]
    Empty,
    /// The topic is longer than [`MAX_TOPIC_BYTES`].
    #[error("topic is {len} bytes long, more than the maximum of {max}")]
    TooLong {
        /// The length of the input, in bytes.
        len: usize,
        /// The maximum length, in bytes.
        max: usize,
    },
    /// The topic has more than [`MAX_TOPIC_LEVELS`] levels.
    #[error("topic has {levels} levels, more than the maximum of {max}")]
    TooManyLevels {
        /// The number of levels of the input.
        levels: usize,
        /// The maximum number of levels.
        max: usize,
    },
    /// A level is empty: the topic starts or ends with `/`, or contains `//`.
    #[error(
        "topic level {index} is empty (a topic must not start or end with '/' or contain '//')"
    )]
    EmptyLevel {
        /// The 0-based index of the empty level.
        index: usize,
    },
    /// A topic (not a filter) contains `+` or `#`.
    #[error(
        "topic level {index} contains a wildcard ('+' or '#'), which only filters may contain"
    )]
    WildcardInTopic {
        /// The 0-based index of the level containing the wildcard.
        index: usize,
    },
    /// A filter has a `#` level that is not the last level.
    #[error("'#' must be the last level of a topic filter")]
    HashNotLast,
    /// A filter level contains `+` or `#` together with other characters.
    #[error(
        "topic filter level {index} mixes a wildcard with other characters \
         ('+' and '#' must be a whole level)"
    )]
    WildcardMixedInLevel {
        /// The 0-based index of the offending level.
        index: usize,
    },
    /// The input is not UTF-8.
    #[error("topic is not valid UTF-8")]
    InvalidUtf8,
    /// The topic contains NUL or another control character.
    #[error("topic contains a control character")]
    ControlCharacter,
}

impl_text_traits!(Topic, TopicError);
impl_text_traits!(TopicFilter, TopicError);

/// Which rule set [`validate`] applies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Topic,
    Filter,
}

/// Checks `s` against the rules of `kind`, reporting the first broken rule in the order the
/// module documentation gives.
fn validate(s: &str, kind: Kind) -> Result<(), TopicError> {
    // Every publish is validated (by the client and again by the broker), so the common
    // case gets one pass over the bytes; anything unusual takes the full check below,
    // which also picks the error to report.
    if is_plain_ascii_topic(s) {
        return Ok(());
    }
    validate_fully(s, kind)
}

/// Whether `s` is a valid topic and filter made only of printable ASCII without
/// wildcards: one pass over the bytes. `false` means "check fully", not "invalid".
fn is_plain_ascii_topic(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_TOPIC_BYTES {
        return false;
    }
    let mut levels = 1;
    let mut level_start = true;
    for &byte in s.as_bytes() {
        match byte {
            b'/' if level_start => return false,
            b'/' => {
                levels += 1;
                level_start = true;
            }
            b'+' | b'#' => return false,
            0x20..=0x7e => level_start = false,
            _ => return false,
        }
    }
    !level_start && levels <= MAX_TOPIC_LEVELS
}

fn validate_fully(s: &str, kind: Kind) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    check_len(s.len())?;
    if s.chars().any(char::is_control) {
        return Err(TopicError::ControlCharacter);
    }
    let levels = s.split(SEPARATOR).count();
    if levels > MAX_TOPIC_LEVELS {
        return Err(TopicError::TooManyLevels {
            levels,
            max: MAX_TOPIC_LEVELS,
        });
    }
    for (index, level) in s.split(SEPARATOR).enumerate() {
        if level.is_empty() {
            return Err(TopicError::EmptyLevel { index });
        }
        match (kind, level) {
            (Kind::Topic, _) if level.contains(WILDCARDS) => {
                return Err(TopicError::WildcardInTopic { index });
            }
            (Kind::Filter, PLUS) => {}
            (Kind::Filter, HASH) if index + 1 != levels => return Err(TopicError::HashNotLast),
            (Kind::Filter, HASH) => {}
            (Kind::Filter, _) if level.contains(WILDCARDS) => {
                return Err(TopicError::WildcardMixedInLevel { index });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Rejects a length over [`MAX_TOPIC_BYTES`].
fn check_len(len: usize) -> Result<(), TopicError> {
    if len > MAX_TOPIC_BYTES {
        return Err(TopicError::TooLong {
            len,
            max: MAX_TOPIC_BYTES,
        });
    }
    Ok(())
}

/// Decodes `bytes` as UTF-8, rejecting overlong input before decoding it.
fn str_from_utf8(bytes: &[u8]) -> Result<&str, TopicError> {
    check_len(bytes.len())?;
    core::str::from_utf8(bytes).map_err(|_| TopicError::InvalidUtf8)
}

#[cfg(test)]
mod tests {
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
}
