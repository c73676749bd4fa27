//! Identifiers, validated when they are created ("parse, don't validate"): a value of one of
//! these types is always well formed.
//!
//! | Type            | Length (bytes) | Characters                                     |
//! |-----------------|----------------|------------------------------------------------|
//! | [`SessionName`] | 1..=64         | ASCII `[A-Za-z0-9._-]`, first one alphanumeric |
//! | [`ClientId`]    | 1..=64         | ASCII `[A-Za-z0-9._:@-]`                       |
//! | [`DisplayName`] | 1..=64         | any UTF-8 except control characters            |
//!
//! Session names and client ids end up in logs and URLs, so they are restricted to ASCII
//! characters that can be logged and put in a URL path without escaping. A session name
//! also must not start with punctuation: a leading `.` hides a file and a leading `-` looks
//! like a command-line option. A display name is shown to people, so it may be any text,
//! but leading and trailing whitespace is trimmed (it is invisible, so two names differing
//! only in it would look the same) and it must not be empty after trimming.
//!
//! When an input breaks several rules, the error is the first that applies of: empty, too
//! long, and then the characters from left to right.

use crate::text::impl_text_traits;

/// The longest valid name or id, in bytes (of UTF-8, for a [`DisplayName`]).
pub const MAX_NAME_BYTES: usize = 64;

/// The name of a session: 1 to 64 bytes of ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SessionName(String);

impl SessionName {
    /// Parses `s` as a session name.
    pub fn new(s: impl Into<String>) -> Result<SessionName, NameError> {
        let s = s.into();
        check_len(&s, SESSION_NAME)?;
        for (i, ch) in s.chars().enumerate() {
            if !is_session_name_char(ch) {
                return Err(NameError::InvalidCharacter {
                    what: SESSION_NAME,
                    ch,
                });
            }
            if i == 0 && !ch.is_ascii_alphanumeric() {
                return Err(NameError::InvalidStart { what: SESSION_NAME });
            }
        }
        Ok(SessionName(s))
    }

    /// The session name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of a client connection: 1 to 64 bytes of ASCII letters, digits, `.`, `_`, `:`,
/// `@` and `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ClientId(String);

impl ClientId {
    /// Parses `s` as a client id.
    pub fn new(s: impl Into<String>) -> Result<ClientId, NameError> {
        let s = s.into();
        check_len(&s, CLIENT_ID)?;
        if let Some(ch) = s.chars().find(|&ch| !is_client_id_char(ch)) {
            return Err(NameError::InvalidCharacter {
                what: CLIENT_ID,
                ch,
            });
        }
        Ok(ClientId(s))
    }

    /// A random-looking id `fp-` + 16 lowercase hex digits made from the given 64-bit value
    /// (the caller supplies randomness; the core has no RNG).
    pub fn from_random(value: u64) -> ClientId {
        // Always valid: 19 bytes of lowercase hex digits and '-'.
        ClientId(format!("fp-{value:016x}"))
    }

    /// The client id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name shown to people: 1 to 64 bytes of UTF-8 without control characters, with no
/// leading or trailing whitespace.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses `s` as a display name, first trimming leading and trailing whitespace.
    ///
    /// Input that is only whitespace is [`NameError::Empty`]; the length limit applies to
    /// the trimmed text.
    pub fn new(s: impl Into<String>) -> Result<DisplayName, NameError> {
        let s = trim_in_place(s.into());
        check_len(&s, DISPLAY_NAME)?;
        if let Some(ch) = s.chars().find(|ch| ch.is_control()) {
            return Err(NameError::InvalidCharacter {
                what: DISPLAY_NAME,
                ch,
            });
        }
        Ok(DisplayName(s))
    }

    /// The display name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a valid [`SessionName`], [`ClientId`] or [`DisplayName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The input is empty (for a display name: after trimming whitespace).
    #[error("{what} is empty{hint}", hint = empty_hint(what))]
    Empty {
        /// What was being parsed, e.g. `"session name"`.
        what: &'static str,
    },
    /// The input is longer than [`MAX_NAME_BYTES`].
    #[error("{what} is {len} bytes long, more than the maximum of {max}")]
    TooLong {
        /// What was being parsed, e.g. `"session name"`.
        what: &'static str,
        /// The length of the input, in bytes.
        len: usize,
        /// The maximum length, in bytes.
        max: usize,
    },
    /// The input contains a character that is not allowed.
    #[error(
        "{what} contains invalid character '{}'{hint}",
        crate::text::EscapedChar(*ch),
        hint = invalid_character_hint(what)
    )]
    InvalidCharacter {
        /// What was being parsed, e.g. `"session name"`.
        what: &'static str,
        /// The first invalid character.
        ch: char,
    },
    /// The first character is allowed elsewhere but not at the start.
    #[error("{what} must start with an ASCII letter or digit")]
    InvalidStart {
        /// What was being parsed, e.g. `"session name"`.
        what: &'static str,
    },
}

impl_text_traits!(SessionName, NameError);
impl_text_traits!(ClientId, NameError);
impl_text_traits!(DisplayName, NameError);

/// The `what` of errors about a [`SessionName`].
const SESSION_NAME: &str = "session name";
/// The `what` of errors about a [`ClientId`].
const CLIENT_ID: &str = "client id";
/// The `what` of errors about a [`DisplayName`].
const DISPLAY_NAME: &str = "display name";

fn is_session_name_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-')
}

fn is_client_id_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | ':' | '@' | '-')
}

/// Rejects empty input and input longer than [`MAX_NAME_BYTES`].
fn check_len(s: &str, what: &'static str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { what });
    }
    if s.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            what,
            len: s.len(),
            max: MAX_NAME_BYTES,
        });
    }
    Ok(())
}

/// `s` without leading and trailing whitespace, reusing its buffer.
fn trim_in_place(mut s: String) -> String {
    let end = s.trim_end().len();
    s.truncate(end);
    // Cannot underflow: trimming never makes a string longer.
    let start = s.len() - s.trim_start().len();
    s.drain(..start);
    s
}

/// The explanation appended to [`NameError::Empty`] messages.
fn empty_hint(what: &str) -> &'static str {
    match what {
        DISPLAY_NAME => " or only whitespace",
        _ => "",
    }
}

/// The explanation appended to [`NameError::InvalidCharacter`] messages.
fn invalid_character_hint(what: &str) -> &'static str {
    match what {
        SESSION_NAME => " (allowed: ASCII letters, digits, '.', '_', '-')",
        CLIENT_ID => " (allowed: ASCII letters, digits, '.', '_', ':', '@', '-')",
        DISPLAY_NAME => " (control characters are not allowed)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn too_long(what: &'static str, len: usize) -> NameError {
        NameError::TooLong {
            what,
            len,
            max: MAX_NAME_BYTES,
        }
    }

    fn invalid(what: &'static str, ch: char) -> NameError {
        NameError::InvalidCharacter { what, ch }
    }

    #[test]
    fn session_names_are_accepted_or_rejected_as_the_table_says() {
        let longest = "a".repeat(MAX_NAME_BYTES);
        let valid = [
            "a",
            "Z",
            "0",
            "room-1",
            "my_session.v2",
            "9-._",
            longest.as_str(),
        ];
        for s in valid {
            assert_eq!(
                SessionName::new(s).as_ref().map(|n| n.as_str()),
                Ok(s),
                "{s:?}"
            );
        }

        let what = SESSION_NAME;
        let overlong = "a".repeat(MAX_NAME_BYTES + 1);
        let invalid_cases = [
            ("", NameError::Empty { what }),
            (overlong.as_str(), too_long(what, 65)),
            ("-room", NameError::InvalidStart { what }),
            (".hidden", NameError::InvalidStart { what }),
            ("_x", NameError::InvalidStart { what }),
            ("a/b", invalid(what, '/')),
            ("a b", invalid(what, ' ')),
            ("a:b", invalid(what, ':')),
            ("a@b", invalid(what, '@')),
            ("caf\u{e9}", invalid(what, '\u{e9}')),
            ("a\0", invalid(what, '\0')),
            (" a", invalid(what, ' ')),
            // The first problem from the left is reported.
            ("/-", invalid(what, '/')),
            ("-/", NameError::InvalidStart { what }),
        ];
        for (s, expected) in invalid_cases {
            assert_eq!(SessionName::new(s), Err(expected), "{s:?}");
        }
    }

    #[test]
    fn client_ids_are_accepted_or_rejected_as_the_table_says() {
        let longest = "a".repeat(MAX_NAME_BYTES);
        let valid = [
            "a",
            "-",
            ".",
            "alice@example.org",
            "node:1",
            "fp-00ff",
            "_",
            longest.as_str(),
        ];
        for s in valid {
            assert_eq!(
                ClientId::new(s).as_ref().map(|n| n.as_str()),
                Ok(s),
                "{s:?}"
            );
        }

        let what = CLIENT_ID;
        let overlong = "a".repeat(MAX_NAME_BYTES + 1);
        let overlong_invalid = "/".repeat(100);
        let invalid_cases = [
            ("", NameError::Empty { what }),
            (overlong.as_str(), too_long(what, 65)),
            // Length is checked before characters.
            (overlong_invalid.as_str(), too_long(what, 100)),
            ("a/b", invalid(what, '/')),
            ("a b", invalid(what, ' ')),
            ("a+b", invalid(what, '+')),
            ("a#", invalid(what, '#')),
            ("\u{fc}ber", invalid(what, '\u{fc}')),
            ("a\n", invalid(what, '\n')),
        ];
        for (s, expected) in invalid_cases {
            assert_eq!(ClientId::new(s), Err(expected), "{s:?}");
        }
    }

    #[test]
    fn client_ids_from_random_values_are_fp_and_sixteen_lowercase_hex_digits() {
        let cases = [
            (0, "fp-0000000000000000"),
            (1, "fp-0000000000000001"),
            (0x0123_4567_89ab_cdef, "fp-0123456789abcdef"),
            (u64::MAX, "fp-ffffffffffffffff"),
        ];
        for (value, expected) in cases {
            let id = ClientId::from_random(value);
            assert_eq!(id.as_str(), expected);
            assert_eq!(ClientId::new(expected), Ok(id));
        }
    }

    #[test]
    fn display_names_are_trimmed_and_accepted_as_the_table_says() {
        let longest = "a".repeat(MAX_NAME_BYTES);
        // 16 four-byte characters are exactly 64 bytes.
        let longest_emoji = "\u{1f600}".repeat(16);
        let padded = format!("  {longest}\n");
        let cases = [
            ("Alice", "Alice"),
            ("  Alice  ", "Alice"),
            ("\tAlice\r\n", "Alice"),
            ("\u{3000}Alice\u{a0}", "Alice"),
            ("Alice Smith", "Alice Smith"),
            ("Zo\u{eb} / \u{1f600} @ #1", "Zo\u{eb} / \u{1f600} @ #1"),
            ("a", "a"),
            (longest.as_str(), longest.as_str()),
            (longest_emoji.as_str(), longest_emoji.as_str()),
            // The limit applies after trimming.
            (padded.as_str(), longest.as_str()),
        ];
        for (s, expected) in cases {
            assert_eq!(
                DisplayName::new(s).as_ref().map(DisplayName::as_str),
                Ok(expected),
                "{s:?}"
            );
        }
    }

    #[test]
    fn display_names_are_rejected_with_the_exact_error() {
        let what = DISPLAY_NAME;
        let overlong = "a".repeat(MAX_NAME_BYTES + 1);
        let overlong_emoji = "\u{1f600}".repeat(17);
        let cases = [
            ("", NameError::Empty { what }),
            (" ", NameError::Empty { what }),
            (" \t\r\n\u{3000}\u{a0}", NameError::Empty { what }),
            (overlong.as_str(), too_long(what, 65)),
            (overlong_emoji.as_str(), too_long(what, 68)),
            ("Al\0ice", invalid(what, '\0')),
            ("Al\tice", invalid(what, '\t')),
            ("Alice\u{7f}", invalid(what, '\u{7f}')),
            ("Alice\u{85}x", invalid(what, '\u{85}')),
            ("\u{1b}[31mred", invalid(what, '\u{1b}')),
        ];
        for (s, expected) in cases {
            assert_eq!(DisplayName::new(s), Err(expected), "{s:?}");
        }
    }

    #[test]
    fn errors_have_readable_messages() {
        let cases = [
            (
                NameError::Empty { what: SESSION_NAME },
                "session name is empty",
            ),
            (
                NameError::Empty { what: DISPLAY_NAME },
                "display name is empty or only whitespace",
            ),
            (
                too_long(CLIENT_ID, 65),
                "client id is 65 bytes long, more than the maximum of 64",
            ),
            (
                invalid(SESSION_NAME, '/'),
                "session name contains invalid character '/' \
                 (allowed: ASCII letters, digits, '.', '_', '-')",
            ),
            (
                invalid(CLIENT_ID, ' '),
                "client id contains invalid character ' ' \
                 (allowed: ASCII letters, digits, '.', '_', ':', '@', '-')",
            ),
            (
                invalid(DISPLAY_NAME, '\u{7}'),
                "display name contains invalid character '\\u{7}' \
                 (control characters are not allowed)",
            ),
            (
                NameError::InvalidStart { what: SESSION_NAME },
                "session name must start with an ASCII letter or digit",
            ),
            (invalid("tag", '!'), "tag contains invalid character '!'"),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn conversions_agree_with_new() {
        let s = "room-1";
        let name = SessionName::new(s).expect("valid session name");
        assert_eq!(s.parse::<SessionName>(), Ok(name.clone()));
        assert_eq!(SessionName::try_from(s), Ok(name.clone()));
        assert_eq!(SessionName::try_from(s.to_owned()), Ok(name.clone()));
        assert_eq!(AsRef::<str>::as_ref(&name), s);
        assert_eq!(name.to_string(), s);
        assert_eq!(
            "-x".parse::<SessionName>(),
            Err(NameError::InvalidStart { what: SESSION_NAME })
        );

        let s = "alice@example.org";
        let id = ClientId::new(s).expect("valid client id");
        assert_eq!(s.parse::<ClientId>(), Ok(id.clone()));
        assert_eq!(ClientId::try_from(s), Ok(id.clone()));
        assert_eq!(ClientId::try_from(s.to_owned()), Ok(id.clone()));
        assert_eq!(AsRef::<str>::as_ref(&id), s);
        assert_eq!(id.to_string(), s);

        let display = DisplayName::new("Alice").expect("valid display name");
        assert_eq!(" Alice ".parse::<DisplayName>(), Ok(display.clone()));
        assert_eq!(DisplayName::try_from(" Alice"), Ok(display.clone()));
        assert_eq!(
            DisplayName::try_from("Alice ".to_owned()),
            Ok(display.clone())
        );
        assert_eq!(AsRef::<str>::as_ref(&display), "Alice");
        assert_eq!(display.to_string(), "Alice");
        assert_eq!(display.as_str(), "Alice");
    }
}
