//! The macro that turns the table in `settings.rs` into [`Setting`](super::Setting), its
//! column accessors and [`SessionConfig`](super::SessionConfig).
//!
//! Each column is its own `match`, so a build that reads only some columns (the browser
//! SDK reads tags and fields, never names or descriptions) carries only those.

macro_rules! session_settings {
    ($(
        $variant:ident = $tag:literal {
            field: $field:ident: $ty:ty,
            name: $name:literal,
            json: $json:literal,
            unit: $unit:ident,
            default: $default:expr,
            min: $min:expr,
            max: $max:expr,
            about: $about:literal,
        }
    )*) => {
        /// One session setting: a row of the table in this module.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum Setting {
            $( #[doc = concat!($about, ".")] $variant = $tag, )*
        }

        impl Setting {
            /// Every setting, in tag order.
            pub const ALL: &'static [Setting] = &[$( Setting::$variant, )*];

            /// Every [`Setting::name`], in tag order.
            pub const NAMES: &'static [&'static str] = &[$( $name, )*];

            /// Every [`Setting::json`], in tag order.
            pub const JSON_NAMES: &'static [&'static str] = &[$( $json, )*];

            /// The setting of a wire tag, `None` for a tag this version does not know.
            pub fn from_tag(tag: u64) -> Option<Setting> {
                match tag {
                    $( $tag => Some(Setting::$variant), )*
                    _ => None,
                }
            }

            /// Its name in the config file, on command lines (with dashes) and in
            /// human-readable output: `retry_interval`.
            pub fn name(self) -> &'static str {
                match self { $( Setting::$variant => $name, )* }
            }

            /// Its key in the admin API's JSON, with the unit where the value is a plain
            /// number of milliseconds: `retry_interval_ms`.
            pub fn json(self) -> &'static str {
                match self { $( Setting::$variant => $json, )* }
            }

            /// What its value counts.
            pub fn unit(self) -> Unit {
                match self { $( Setting::$variant => Unit::$unit, )* }
            }

            /// Its built-in default, as on the wire.
            pub fn default_value(self) -> u64 {
                match self { $( Setting::$variant => <$ty as WireValue>::to_wire($default), )* }
            }

            /// The values a server accepts, as on the wire.
            pub fn range(self) -> core::ops::RangeInclusive<u64> {
                match self { $( Setting::$variant => $min..=$max, )* }
            }

            /// One line for people: what it is.
            pub fn about(self) -> &'static str {
                match self { $( Setting::$variant => $about, )* }
            }
        }

        /// Per-session settings. `None` means "not stated": the server's default in a
        /// create request, unchanged in an update. `Welcome` states every field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
        pub struct SessionConfig {
            $(
                #[doc = concat!($about, " (", $json, ", tag ", stringify!($tag), ").")]
                pub $field: Option<$ty>,
            )*
        }

        impl SessionConfig {
            /// Every setting stated with its built-in default.
            pub fn defaults() -> SessionConfig {
                SessionConfig { $( $field: Some($default), )* }
            }

            /// The value of `setting` as on the wire, if stated.
            pub fn get(&self, setting: Setting) -> Option<u64> {
                match setting { $( Setting::$variant => self.$field.map(WireValue::to_wire), )* }
            }

            /// States `setting` from its wire value; refused when the value does not fit
            /// the field (a count above 2^32-1, an unknown policy). Ranges are checked by
            /// [`SessionConfig::check`], not here: a frame may carry any value.
            pub fn set(&mut self, setting: Setting, value: u64) -> Result<(), DecodeError> {
                match setting {
                    $( Setting::$variant => self.$field = Some(WireValue::from_wire(value)?), )*
                }
                Ok(())
            }

            /// Overwrites the fields that `update` states.
            pub fn apply(&mut self, update: &SessionConfig) {
                $( if update.$field.is_some() { self.$field = update.$field; } )*
            }
        }
    };
}

pub(super) use session_settings;
