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

use core::iter::FusedIterator;

use crate::text::impl_text_traits;

/// The longest valid topic or filter, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 1024;

/// The most levels a valid topic or filter has.
pub const MAX_TOPIC_LEVELS: usize = 64;

/// The level separator.
const SEPARATOR: u8 = b'/';
/// The single-level wildcard, valid only as a whole level of a filter.
const PLUS: &str = "+";
/// The multi-level wildcard, valid only as the whole last level of a filter.
const HASH: &str = "#";

/// Whether `s` contains a `+` or `#` (which are ASCII, so the bytes are searched).
fn has_wildcard(s: &str) -> bool {
    s.bytes().any(is_wildcard)
}

fn is_wildcard(byte: u8) -> bool {
    matches!(byte, b'+' | b'#')
}

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
    pub fn levels(&self) -> Levels<'_> {
        Levels::new(&self.0)
    }

    /// Whether this is a topic reserved for the server: its first level starts with `$`.
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }
}

/// A valid topic borrowed from elsewhere (a received frame, a [`Topic`]): the same
/// guarantees as [`Topic`] without owning the text, so that checking a topic one only looks
/// up does not copy it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TopicRef<'a>(&'a str);

impl<'a> TopicRef<'a> {
    /// Parses `s` as a topic, as [`Topic::new`] does.
    pub fn new(s: &'a str) -> Result<TopicRef<'a>, TopicError> {
        validate(s, Kind::Topic)?;
        Ok(TopicRef(s))
    }

    /// The topic as text.
    pub fn as_str(self) -> &'a str {
        self.0
    }

    /// The levels of the topic, as [`Topic::levels`] gives them.
    pub fn levels(self) -> Levels<'a> {
        Levels::new(self.0)
    }

    /// Whether this is a topic reserved for the server, as [`Topic::is_system`] says.
    pub fn is_system(self) -> bool {
        self.0.starts_with('$')
    }

    /// The topic, owning a copy of its text.
    pub fn to_topic(self) -> Topic {
        Topic(self.0.to_owned())
    }
}

impl<'a> From<&'a Topic> for TopicRef<'a> {
    fn from(topic: &'a Topic) -> TopicRef<'a> {
        TopicRef(&topic.0)
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
    pub fn levels(&self) -> Levels<'_> {
        Levels::new(&self.0)
    }

    /// Whether the filter contains a `+` or `#` wildcard, i.e. may match more than one topic.
    pub fn has_wildcards(&self) -> bool {
        // Validation guarantees that these characters only occur as whole wildcard levels.
        has_wildcard(&self.0)
    }

    /// Whether `topic` is selected by this filter.
    ///
    /// Does not allocate. A filter whose first level is a wildcard does not match a `$`
    /// topic (see the [module documentation](self)).
    pub fn matches(&self, topic: &Topic) -> bool {
        if topic.is_system() && self.0.bytes().next().is_some_and(is_wildcard) {
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

/// The levels of a [`Topic`] or [`TopicFilter`], left to right (or right to left from the
/// back): the text between the `/` separators, as `str::split('/')` yields it.
#[derive(Clone, Debug)]
pub struct Levels<'a> {
    /// The levels not yielded yet, with their separators; meaningless once `done`.
    rest: &'a str,
    /// Whether every level has been yielded.
    done: bool,
}

impl<'a> Levels<'a> {
    fn new(s: &'a str) -> Levels<'a> {
        Levels {
            rest: s,
            done: false,
        }
    }
}

// The separator is ASCII, so every index where it occurs is a character boundary of the
// text: splitting the bytes yields the same levels as splitting the characters would.
impl<'a> Iterator for Levels<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        match self.rest.bytes().position(|b| b == SEPARATOR) {
            Some(i) => {
                let level = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(level)
            }
            None => {
                self.done = true;
                Some(self.rest)
            }
        }
    }
}

impl<'a> DoubleEndedIterator for Levels<'a> {
    fn next_back(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        match self.rest.bytes().rposition(|b| b == SEPARATOR) {
            Some(i) => {
                let level = &self.rest[i + 1..];
                self.rest = &self.rest[..i];
                Some(level)
            }
            None => {
                self.done = true;
                Some(self.rest)
            }
        }
    }
}

impl FusedIterator for Levels<'_> {}

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
    if has_control_character(s) {
        return Err(TopicError::ControlCharacter);
    }
    let levels = Levels::new(s).count();
    if levels > MAX_TOPIC_LEVELS {
        return Err(TopicError::TooManyLevels {
            levels,
            max: MAX_TOPIC_LEVELS,
        });
    }
    for (index, level) in Levels::new(s).enumerate() {
        if level.is_empty() {
            return Err(TopicError::EmptyLevel { index });
        }
        match (kind, level) {
            (Kind::Topic, _) if has_wildcard(level) => {
                return Err(TopicError::WildcardInTopic { index });
            }
            (Kind::Filter, PLUS) => {}
            (Kind::Filter, HASH) if index + 1 != levels => return Err(TopicError::HashNotLast),
            (Kind::Filter, HASH) => {}
            (Kind::Filter, _) if has_wildcard(level) => {
                return Err(TopicError::WildcardMixedInLevel { index });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `s` contains a control character ([`char::is_control`]: U+0000 to U+001F and
/// U+007F to U+009F), found in the UTF-8 bytes: U+0080 to U+009F are the byte 0xC2 followed
/// by 0x80 to 0x9F.
fn has_control_character(s: &str) -> bool {
    let mut after_c2 = false;
    s.bytes().any(|b| {
        let control = b < 0x20 || b == 0x7f || (after_c2 && b < 0xa0);
        after_c2 = b == 0xc2;
        control
    })
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
mod tests;
