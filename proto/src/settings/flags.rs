//! The session settings as command-line flags: how each program spells them, and (with
//! the `clap` feature) [`SettingFlags`], the flags themselves for a clap parser.
//!
//! ```
//! # #[cfg(feature = "clap")] {
//! use clap::Parser;
//! use fastport_proto::settings::{SessionCommandFlags, SettingFlags};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     settings: SettingFlags<SessionCommandFlags>,
//! }
//!
//! let cli = Cli::parse_from(["fastport", "--expiry", "5m", "--slow-consumer", "drop-oldest"]);
//! assert_eq!(cli.settings.config.expiry_ms, Some(300_000));
//! assert_eq!(cli.settings.config.max_retries, None);
//! # }
//! ```

use super::Setting;

/// How one program spells the session settings on its command line.
pub trait FlagStyle {
    /// The heading the flags are listed under in `--help`.
    const HEADING: &'static str;

    /// The prefix of the environment variable each flag falls back to, if any.
    const ENV_PREFIX: Option<&'static str> = None;

    /// The flag of `setting`, without `--`.
    fn flag(setting: Setting) -> String {
        setting.flag()
    }

    /// Older spellings of the flag, still accepted but not shown.
    fn aliases(_setting: Setting) -> &'static [&'static str] {
        &[]
    }

    /// The environment variable the flag falls back to: `FASTPORT_RETRY_INTERVAL`.
    fn env(setting: Setting) -> Option<String> {
        let flag = Self::flag(setting).replace('-', "_").to_ascii_uppercase();
        Self::ENV_PREFIX.map(|prefix| format!("{prefix}{flag}"))
    }
}

/// `fastport-server`'s flags, which set the defaults of every session (docs/SERVER.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerFlags;

impl FlagStyle for ServerFlags {
    const HEADING: &'static str = "Default session settings";
    const ENV_PREFIX: Option<&'static str> = Some("FASTPORT_");

    fn flag(setting: Setting) -> String {
        match setting {
            // The server has a `--max-connections` of its own, over all sessions.
            Setting::MaxConnections => "session-max-connections".to_owned(),
            _ => setting.flag(),
        }
    }
}

/// `fastport session create/config`'s flags, which set one session's (docs/CLI.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionCommandFlags;

impl FlagStyle for SessionCommandFlags {
    const HEADING: &'static str = "Session settings";

    fn aliases(setting: Setting) -> &'static [&'static str] {
        match setting {
            // Its first spelling, before the flags followed the settings' names.
            Setting::SlowConsumerPolicy => &["slow-consumer"],
            _ => &[],
        }
    }
}

#[cfg(feature = "clap")]
pub use parser::SettingFlags;

#[cfg(feature = "clap")]
mod parser {
    use std::marker::PhantomData;

    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    use clap::error::ErrorKind;
    use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

    use super::FlagStyle;
    use crate::settings::{SessionConfig, Setting, SlowConsumerPolicy, Unit};

    /// The session settings given on a command line in style `S`, to `#[command(flatten)]`
    /// into a clap parser. A flag left out leaves its setting unstated.
    #[derive(Debug, Clone, Default)]
    pub struct SettingFlags<S> {
        /// The settings given.
        pub config: SessionConfig,
        style: PhantomData<S>,
    }

    impl<S: FlagStyle> SettingFlags<S> {
        /// The argument's id: the flag, which no clap-derived id (a field name) can be.
        fn id(setting: Setting) -> String {
            S::flag(setting)
        }

        fn arg(setting: Setting) -> Arg {
            let about = setting.about();
            let default = setting.default_text();
            let arg = Arg::new(Self::id(setting))
                .long(S::flag(setting))
                .aliases(S::aliases(setting))
                .value_name(setting.unit().value_name());
            let arg = match setting.unit() {
                // clap lists the values itself, and reads them with dashes too, like the
                // flags' own spelling (`drop-oldest`).
                Unit::Policy => {
                    arg.help(format!("{about} [default: {default}]"))
                        .value_parser(
                            PossibleValuesParser::new(SlowConsumerPolicy::NAMES.iter().map(
                                |name| PossibleValue::new(name).alias(name.replace('_', "-")),
                            ))
                            .try_map(move |name| setting.parse(&name.replace('-', "_"))),
                        )
                }
                _ => arg
                    .help(format!(
                        "{about} ({}) [default: {default}]",
                        setting.range_text()
                    ))
                    .value_parser(move |text: &str| setting.parse(text)),
            };
            match S::env(setting) {
                Some(env) => arg.env(env),
                None => arg,
            }
        }
    }

    impl<S: FlagStyle> Args for SettingFlags<S> {
        fn augment_args(cmd: Command) -> Command {
            let cmd = cmd.next_help_heading(S::HEADING);
            Setting::ALL
                .iter()
                .fold(cmd, |cmd, &s| cmd.arg(Self::arg(s)))
        }

        fn augment_args_for_update(cmd: Command) -> Command {
            Self::augment_args(cmd)
        }
    }

    impl<S: FlagStyle> FromArgMatches for SettingFlags<S> {
        fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
            let mut flags = SettingFlags {
                config: SessionConfig::default(),
                style: PhantomData,
            };
            flags.update_from_arg_matches(matches)?;
            Ok(flags)
        }

        fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
            let invalid = |e: &dyn std::fmt::Display| clap::Error::raw(ErrorKind::InvalidValue, e);
            for &setting in Setting::ALL {
                let value = matches
                    .try_get_one::<u64>(&Self::id(setting))
                    .map_err(|e| invalid(&e))?;
                if let Some(&value) = value {
                    self.config.set(setting, value).map_err(|e| invalid(&e))?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(all(test, feature = "clap"))]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::settings::SlowConsumerPolicy;

    #[derive(Debug, Parser)]
    struct Server {
        #[command(flatten)]
        settings: SettingFlags<ServerFlags>,
    }

    #[derive(Debug, Parser)]
    struct Session {
        #[command(flatten)]
        settings: SettingFlags<SessionCommandFlags>,
    }

    #[test]
    fn flags_left_out_leave_their_settings_unstated() {
        let server = Server::try_parse_from(["s", "--session-max-connections", "5"]).expect("ok");
        let config = server.settings.config;
        assert_eq!(config.max_connections, Some(5));
        assert_eq!(config.stated().count(), 1);
        assert!(Server::try_parse_from(["s", "--max-connections", "5"]).is_err());
        Server::command().debug_assert();
        Session::command().debug_assert();
    }

    #[test]
    fn policies_are_read_with_underscores_or_dashes_and_under_the_old_flag() {
        for args in [
            ["s", "--slow-consumer-policy", "drop_oldest"],
            ["s", "--slow-consumer-policy", "drop-oldest"],
            ["s", "--slow-consumer", "drop-oldest"],
        ] {
            let session = Session::try_parse_from(args).expect("a policy");
            let policy = session.settings.config.slow_consumer_policy;
            assert_eq!(policy, Some(SlowConsumerPolicy::DropOldest), "{args:?}");
        }
        assert!(Session::try_parse_from(["s", "--slow-consumer-policy", "never"]).is_err());
        assert!(Session::try_parse_from(["s", "--expiry", "5"]).is_err());
    }

    #[test]
    fn the_help_states_each_range_and_default() {
        let help = Session::command().render_long_help().to_string();
        for needle in [
            "Session settings:",
            "--retry-interval <DURATION>",
            "(10ms to 24h) [default: 2s]",
            "(64 B to 16 MiB) [default: 1048576]",
            "[default: drop_oldest]",
        ] {
            assert!(help.contains(needle), "help lacks {needle}:\n{help}");
        }
    }
}
