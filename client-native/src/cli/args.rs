//! The command line: every command, flag and environment variable, with the help text
//! `fastport --help` shows.

use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand};

use fastport_client_core::duration::parse_duration;
use fastport_proto::settings::{SessionCommandFlags, SettingFlags};

/// The default server URL: `npm start`'s server on this machine.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/ws";

/// fastPort from the command line: end-to-end-encrypted publish/subscribe.
#[derive(Debug, Parser)]
#[command(
    name = "fastport",
    version,
    after_help = "Exit codes: 0 success, 1 runtime failure (server unreachable, refused, \
                  timed out), 2 usage error, 3 published but not delivered \
                  (pub --wait-delivered, bench --qos 1), 130 interrupted.\n\
                  See docs/CLI.md for examples."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Subscribe to topic filters and print every message, one per line.
    Sub(SubArgs),
    /// Publish a message (from the argument, or stdin).
    Pub(PubArgs),
    /// Create, inspect, change, suspend, resume or drop a session (admin).
    #[command(subcommand)]
    Session(SessionCommand),
    /// Make encryption keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Load-test a server: publishers and subscribers in this process; msgs/s, latency,
    /// losses.
    Bench(BenchArgs),
}

/// Where and how to connect as a member of a session.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    #[command(flatten)]
    pub member: MemberArgs,
    /// The session's shared encryption key: 32 bytes in base64 (`fastport key generate`).
    #[arg(
        long,
        env = "FASTPORT_KEY",
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub key: Option<String>,
    /// Derive the encryption key from this passphrase instead of a --key (PBKDF2-HMAC-SHA256,
    /// 600,000 iterations, context = the session name; the same as `fastport key derive
    /// --context SESSION`).
    #[arg(
        long,
        env = "FASTPORT_PASSPHRASE",
        hide_env_values = true,
        value_name = "PASSPHRASE"
    )]
    pub passphrase: Option<String>,
    /// A stable client id (default: a random one). `sub --resume` needs one. Its resume
    /// token is kept in --state-dir between runs.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Where the resume tokens of --client-id are kept between runs (default:
    /// `$XDG_STATE_HOME/fastport`, else `~/.local/state/fastport`).
    #[arg(long, env = "FASTPORT_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    /// Without a key: publish unsealed payloads, and accept them when subscribing. The
    /// server and anyone on the path can read them.
    #[arg(long)]
    pub plaintext: bool,
}

impl ConnectArgs {
    /// Settles `--key` against `--passphrase`: one given on the command line wins over
    /// the other's environment variable (`FASTPORT_KEY` is often exported); both on the
    /// command line, or both from the environment, is a mistake. An empty `FASTPORT_KEY`
    /// counts as unset.
    pub fn settle_key(&mut self, matches: &ArgMatches) -> Result<(), String> {
        let from_env = |id: &str| matches.value_source(id) == Some(ValueSource::EnvVariable);
        if from_env("key") && self.key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            self.key = None;
        }
        if self.key.is_none() || self.passphrase.is_none() {
            return Ok(());
        }
        match (from_env("key"), from_env("passphrase")) {
            (true, false) => self.key = None,
            (false, true) => self.passphrase = None,
            _ => return Err("give either --key or --passphrase, not both".into()),
        }
        Ok(())
    }
}

/// `fastport sub`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    fastport sub --session demo --password demo --key \"$KEY\" 'sensors/+/room1' 'alarms/#'\n  \
    fastport sub --session demo --password demo --key \"$KEY\" --json --count 1 'chat/#'")]
pub struct SubArgs {
    /// Topic filters: `+` matches one level, `#` (last) the rest, e.g. `sensors/+/room1`.
    #[arg(required = true, value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Exit (code 0) after this many messages.
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Print JSON lines `{"topic","publisher","payload"}`; a payload that is not UTF-8
    /// comes as `"payload_base64"` instead of `"payload"`.
    #[arg(long)]
    pub json: bool,
    /// Persistent subscriber: the server keeps this client id's subscriptions and
    /// messages while it is away (for the session's expiry) and sends them when it
    /// comes back.
    #[arg(long, requires = "client_id")]
    pub resume: bool,
    /// Print nothing on stderr but errors (no "subscribed", no connection changes).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `fastport pub`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    fastport pub --session demo --password demo --key \"$KEY\" sensors/temp/room1 21.5\n  \
    tail -f app.log | fastport pub --session demo --password demo --key \"$KEY\" --lines logs/app")]
pub struct PubArgs {
    /// The topic, e.g. `sensors/temperature/room1` (no wildcards).
    #[arg(value_name = "TOPIC")]
    pub topic: String,
    /// The message. Without it, stdin is read to its end and published as one message,
    /// byte for byte.
    #[arg(value_name = "MESSAGE")]
    pub message: Option<String>,
    /// Publish each line of stdin as its own message (without its line ending).
    #[arg(long, conflicts_with = "message")]
    pub lines: bool,
    /// 1: at least once, acknowledged by the server, retried, with a delivery receipt;
    /// 0: at most once, fire and forget.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// Wait for the delivery receipt and exit 0 only if every subscriber acknowledged the
    /// message (else exit 3 with the receipt's status). QoS 1 only.
    #[arg(long)]
    pub wait_delivered: bool,
    /// Give up (exit 1) if connecting, the acknowledgement and the receipt take longer
    /// than this in total, e.g. `500ms`, `10s`, `1m`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `fastport bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Every publisher and subscriber is a client of its own (one connection \
    each) in this process, with the library's full stack: sealing and opening (unless \
    --no-encrypt), QoS 1 acks and receipts. Publishers spread their messages over the topics \
    `bench/RUN/0` .. `bench/RUN/N-1` (RUN: a random id per run); every subscriber \
    subscribes to `bench/RUN/+`, so it gets every message. Counts and rates cover the \
    messages sent after the warmup. The server and the bench share the machine when the \
    server runs locally.\n\n\
    Exit codes: 0 done (QoS 0 losses are reported, not an error), 1 connection failure or \
    every publish failed, 2 usage error, 3 messages lost at QoS 1.\n\n\
    Examples:\n  \
    fastport bench --session demo --password demo --publishers 4 --duration 10s\n  \
    fastport bench --session demo --password demo --qos 1 --rate 10000 --size 1024 --json"
)]
pub struct BenchArgs {
    /// Publishing clients.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub publishers: u32,
    /// Subscribing clients; each receives every message (0: publish only).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub subscribers: u32,
    /// Topics the messages are spread over, round robin: `bench/RUN/0` .. `bench/RUN/N-1`.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub topics: u32,
    /// Payload size in bytes before sealing (at least 20: publisher, sequence number and send
    /// time lead each payload; zeros pad it).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub size: usize,
    /// 0: at most once; 1: at least once, acknowledged by the server, with receipts.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// Seal and open every payload with a fresh random key shared by the bench's clients
    /// (the default).
    #[arg(long, overrides_with = "no_encrypt")]
    pub encrypt: bool,
    /// Send plaintext payloads instead: measures the broker and the transport without the
    /// cryptography.
    #[arg(long, overrides_with = "encrypt")]
    pub no_encrypt: bool,
    /// Messages per second over all publishers (default: as fast as the subscribers keep
    /// up; publishers never run more than a bounded window ahead of the slowest one).
    #[arg(long, value_name = "MSGS_PER_SEC",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,
    /// How long to measure, after the warmup, e.g. `10s`, `1m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// How long to publish before measuring (not counted), e.g. `1s`, `0s`.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub warmup: Duration,
    /// Print the summary as one JSON object on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr; only problems (a subscriber's refused messages, the
    /// server's errors).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub connect: MemberArgs,
}

/// Server, session and password: what every member connection needs (`sub`, `pub`, and
/// `bench`, which makes its own keys and identities).
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct MemberArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The session to join.
    #[arg(long, env = "FASTPORT_SESSION", value_name = "NAME")]
    pub session: String,
    /// The session's password.
    #[arg(
        long,
        env = "FASTPORT_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub password: String,
}

/// Which server, and which certificate authorities to trust for `wss://`: every command
/// that connects has these.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server's WebSocket URL: ws://HOST:PORT/ws, or wss://HOST:PORT/ws for TLS.
    /// Several servers to fail over between: repeat --url or separate the URLs with commas
    /// (also in FASTPORT_URL); they are tried in turn, the next one when a server cannot be
    /// reached or the connection is lost.
    #[arg(
        long = "url",
        env = "FASTPORT_URL",
        default_value = DEFAULT_URL,
        value_name = "URL",
        value_delimiter = ','
    )]
    pub urls: Vec<String>,
    /// PEM file of CA certificates to trust for wss://, besides the public (Mozilla) roots:
    /// for a server whose certificate a private CA signed.
    #[arg(long, env = "FASTPORT_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl ServerArgs {
    /// The first server URL (empty if none was given, which the options refuse).
    pub fn first_url(&self) -> &str {
        self.urls.first().map_or("", String::as_str)
    }
}

/// `fastport session ...`: administration over an admin-only connection.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Create a session (with the server's admin token; a server without one creates
    /// sessions only when started with --open-session-creation).
    Create(CreateArgs),
    /// Show a session's settings.
    Describe(SessionArgs),
    /// Change some of a session's settings.
    Config(ConfigArgs),
    /// Disconnect the session's clients and refuse new ones until resumed (messages are
    /// kept).
    Suspend(SessionArgs),
    /// Accept clients again after a suspend.
    Resume(SessionArgs),
    /// Replace the session's password and/or secret key; connected clients stay connected
    /// and need the new password when they reconnect.
    Rotate(RotateArgs),
    /// Delete a session: its clients are disconnected and everything of it is freed.
    Drop(SessionArgs),
}

/// The server and the output format of an admin command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and output")]
pub struct AdminArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the result as JSON: `{"session": NAME, "config": {...}}`, the admin HTTP
    /// API's shape.
    #[arg(long)]
    pub json: bool,
}

/// `fastport session create`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    fastport session create team --password team-pw --secret team-secret --max-retries 10")]
pub struct CreateArgs {
    /// The new session's name: 1-64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The password its clients will connect with.
    #[arg(long, value_name = "PASSWORD")]
    pub password: String,
    /// The secret key for later admin commands on it (describe, config, suspend, ...).
    #[arg(long, value_name = "SECRET")]
    pub secret: String,
    /// The server's admin token (needed unless the server has none and was started with
    /// --open-session-creation).
    #[arg(
        long,
        env = "FASTPORT_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// The settings given; the others keep the server's default (create) or their current
    /// value (config).
    #[command(flatten)]
    pub settings: SettingFlags<SessionCommandFlags>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// A session and its secret key.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The session's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The session's secret key (given when it was created).
    #[arg(
        long,
        env = "FASTPORT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `fastport session config`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    fastport session config demo --secret demo-secret --retry-interval 500ms --expiry 5m")]
pub struct ConfigArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// The settings given; the others keep the server's default (create) or their current
    /// value (config).
    #[command(flatten)]
    pub settings: SettingFlags<SessionCommandFlags>,
}

/// `fastport session rotate`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    FASTPORT_NEW_PASSWORD=team-pw-2 fastport session rotate team --secret team-secret")]
pub struct RotateArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// The new password clients will connect with (unchanged if not given).
    #[arg(
        long,
        env = "FASTPORT_NEW_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub new_password: Option<String>,
    /// The new secret key for admin commands (unchanged if not given).
    #[arg(
        long,
        env = "FASTPORT_NEW_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub new_secret: Option<String>,
}

/// `fastport key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a new random key (base64) to share with the session's members.
    Generate,
    /// Derive a key from a passphrase (PBKDF2-HMAC-SHA256) and print it (base64).
    #[command(
        after_help = "Example (the key `fastport sub --passphrase ...` uses in session \
                            demo):\n  fastport key derive --passphrase 'correct horse' --context demo"
    )]
    Derive(DeriveArgs),
}

/// `fastport key derive`.
#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// The passphrase, as typed (not Unicode-normalized).
    #[arg(
        long,
        env = "FASTPORT_PASSPHRASE",
        hide_env_values = true,
        value_name = "PASSPHRASE"
    )]
    pub passphrase: String,
    /// Where the key is used, mixed into the salt so one passphrase gives unrelated keys
    /// in different places. `sub`/`pub --passphrase` use the session name.
    #[arg(long, value_name = "CONTEXT")]
    pub context: String,
    /// PBKDF2 iterations; every member must use the same count (at least 10000).
    #[arg(long, default_value_t = fastport_client_core::crypto::PBKDF2_DEFAULT_ITERATIONS)]
    pub iterations: u32,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    fn settle(args: &[&str]) -> Result<ConnectArgs, String> {
        let matches = Cli::command()
            .try_get_matches_from(args)
            .map_err(|e| e.to_string())?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        let Command::Pub(mut args) = cli.command else {
            return Err("not pub".into());
        };
        let (_, pub_matches) = matches.subcommand().ok_or("no subcommand")?;
        args.connect.settle_key(pub_matches)?;
        Ok(args.connect)
    }

    #[test]
    fn key_and_passphrase_both_on_the_command_line_are_a_mistake() {
        let base = [
            "fastport",
            "pub",
            "--session",
            "s",
            "--password",
            "p",
            "t",
            "m",
        ];
        let both = [&base[..], &["--key", "k", "--passphrase", "x"]].concat();
        let e = settle(&both).expect_err("both given");
        assert!(e.contains("either --key or --passphrase"), "{e}");
        let key = settle(&[&base[..], &["--key", "k"]].concat()).expect("one is fine");
        assert_eq!(key.key.as_deref(), Some("k"));
        assert_eq!(key.passphrase, None);
    }

    #[test]
    fn url_takes_several_servers_repeated_or_comma_separated_in_order() {
        let base = ["fastport", "pub", "--session", "s", "--password", "p"];
        let urls = |extra: &[&str]| {
            let args = [&base[..], extra, &["t", "m"]].concat();
            settle(&args).expect("valid").member.server.urls
        };
        assert_eq!(urls(&["--url", "ws://a/ws"]), ["ws://a/ws"]);
        assert_eq!(
            urls(&["--url", "ws://a/ws,ws://b/ws", "--url", "ws://c/ws"]),
            ["ws://a/ws", "ws://b/ws", "ws://c/ws"]
        );
    }
}
