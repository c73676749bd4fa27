//! Helpers shared by the validated text newtypes.

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
