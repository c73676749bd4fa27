//! Text helpers: the traits of the validated text newtypes, and the escaping of text in
//! error messages (used by this crate and the client core's crypto errors).

/// Implements `Display`, `AsRef<str>`, `FromStr`, `TryFrom<&str>`, `TryFrom<String>` and
/// `From<$ty> for String` for a `struct $ty(String)` whose `new` returns
/// `Result<$ty, $err>`.
macro_rules! impl_text_traits {
    ($ty:ident, $err:ty) => {
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl core::str::FromStr for $ty {
            type Err = $err;

            fn from_str(s: &str) -> Result<$ty, $err> {
                $ty::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $err;

            fn try_from(s: &str) -> Result<$ty, $err> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $err;

            fn try_from(s: String) -> Result<$ty, $err> {
                $ty::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }
    };
}

pub(crate) use impl_text_traits;

/// Shows a character in an error message exactly as [`char::escape_default`] does (`\t`,
/// `\r`, `\n`, `\'`, `\"` and `\\`; printable ASCII as is; anything else as `\u{hex}`), with
/// a few lines instead of the standard library's escape tables (a smaller WebAssembly module).
#[derive(Debug)]
pub struct EscapedChar(pub char);

/// Shows text in an error message exactly as [`str::escape_default`] does, one
/// [`EscapedChar`] per character.
#[derive(Debug)]
pub struct EscapedStr<'a>(pub &'a str);

impl core::fmt::Display for EscapedChar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.0)
    }
}

impl core::fmt::Display for EscapedStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.chars().try_for_each(|ch| write_escaped(f, ch))
    }
}

fn write_escaped(f: &mut core::fmt::Formatter<'_>, ch: char) -> core::fmt::Result {
    use core::fmt::Write;
    let short = match ch {
        '\t' => 't',
        '\r' => 'r',
        '\n' => 'n',
        '\'' | '"' | '\\' => ch,
        ' '..='~' => return f.write_char(ch),
        _ => {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            let code = u32::from(ch);
            f.write_str("\\u{")?;
            // From the highest non-zero hex digit (or the only one, of '\0') down.
            let mut shift = (31 - (code | 1).leading_zeros()) / 4 * 4;
            loop {
                f.write_char(char::from(DIGITS[(code >> shift) as usize & 0xf]))?;
                if shift == 0 {
                    return f.write_char('}');
                }
                shift -= 4;
            }
        }
    };
    f.write_char('\\')?;
    f.write_char(short)
}

/// Stands for a secret in `Debug` output: its length only, so logs and panics never
/// carry a password, a secret key or a token.
pub struct Redacted<'a>(pub &'a str);

impl core::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "<redacted, {} bytes>", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::{EscapedChar, EscapedStr};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_char_is_escaped_as_the_standard_library_does() {
        use core::fmt::Write;
        let (mut ours, mut std) = (String::new(), String::new());
        for ch in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            ours.clear();
            std.clear();
            write!(ours, "{}", EscapedChar(ch)).expect("writing to a String");
            write!(std, "{}", ch.escape_default()).expect("writing to a String");
            assert_eq!(ours, std, "{:#x}", u32::from(ch));
        }
    }

    #[test]
    fn text_is_escaped_as_the_standard_library_does() {
        let samples = [
            "",
            "k9",
            "a b~!",
            "\t\r\n'\"\\",
            "\0\u{1}\u{7}\u{1b}\u{1f}\u{7f}\u{80}\u{85}\u{a0}",
            "caf\u{e9} \u{3000} \u{fffd} \u{ffff} \u{10000} \u{1f600} \u{10ffff}",
        ];
        for s in samples {
            assert_eq!(EscapedStr(s).to_string(), s.escape_default().to_string());
            for ch in s.chars() {
                assert_eq!(EscapedChar(ch).to_string(), ch.escape_default().to_string());
            }
        }
    }
}
