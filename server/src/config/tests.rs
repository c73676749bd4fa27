use std::io::Write;

use clap::Parser;
use fastport_proto::codec::SlowConsumerPolicy;
use fastport_proto::settings::{FlagStyle, ServerFlags, Setting, Unit};

use super::*;

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["fastport-server"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("valid command line")
}

/// A config file that lives as long as the returned guard.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("fastport-config-{}-{n}.toml", std::process::id()));
        let mut file = std::fs::File::create(&path).expect("create temp file");
        file.write_all(text.as_bytes()).expect("write temp file");
        TempFile(path)
    }

    fn load(&self, extra: &[&str]) -> Result<Config, ConfigError> {
        let path = self.0.to_str().expect("utf-8 temp path");
        let mut args = vec!["--config", path];
        args.extend_from_slice(extra);
        Config::load(cli(&args))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn without_any_source_the_documented_defaults_apply() {
    let config = Config::load(cli(&[])).expect("defaults are valid");
    assert_eq!(config.listen, "127.0.0.1:8080");
    assert_eq!(config.log, "info");
    assert!(config.demo_session);
    assert_eq!(config.max_outbound_bytes, 8 * 1024 * 1024);
    assert_eq!(config.max_memory, 1024 * 1024 * 1024);
    assert_eq!(config.slow_consumer_timeout, Duration::from_secs(10));
    assert_eq!(config.max_frame_bytes, 1024 * 1024 + 4096);
    assert_eq!(config.shutdown_grace, Duration::from_secs(5));
    assert_eq!(config.presence_interval, Duration::from_millis(100));
    assert_eq!(config.session_defaults, SessionSettings::default());
    assert!(config.admin_token.is_none());
}

#[test]
fn flags_override_the_file_which_overrides_the_defaults() {
    let file = TempFile::new(
        "listen = \"0.0.0.0:9000\"\nmax_outbound_bytes = 100000\nslow_consumer_timeout = \"3s\"\npresence_interval = \"250ms\"\n[session_defaults]\nmax_retries = 2\nexpiry = \"2m\"\n",
    );
    let config = file
        .load(&["--listen", "127.0.0.1:0", "--max-retries", "7"])
        .expect("valid");
    assert_eq!(config.listen, "127.0.0.1:0");
    assert_eq!(config.max_outbound_bytes, 100_000);
    assert_eq!(config.slow_consumer_timeout, Duration::from_secs(3));
    assert_eq!(config.presence_interval, Duration::from_millis(250));
    assert_eq!(config.session_defaults.max_retries, 7);
    assert_eq!(config.session_defaults.expiry, Duration::from_secs(120));
    let config = file.load(&["--insecure"]).expect("valid");
    assert_eq!(
        config.listen, "0.0.0.0:9000",
        "the file's address without the flag"
    );
}

#[test]
fn sessions_in_the_file_inherit_the_defaults_and_override_their_own_settings() {
    let file = TempFile::new(
        r#"
[session_defaults]
max_pending = 50

[[sessions]]
name = "team"
password = "pw"
secret = "s3cret"
[sessions.settings]
retry_interval = "500ms"
slow_consumer_policy = "disconnect"
"#,
    );
    let config = file.load(&[]).expect("valid");
    let team = &config.sessions[0];
    assert_eq!(team.name, "team");
    assert_eq!(team.settings.max_pending, 50);
    assert_eq!(team.settings.retry_interval, Duration::from_millis(500));
    assert_eq!(team.settings.slow_consumer, SlowConsumerPolicy::Disconnect);
    assert!(matches!(team.password, Secret::Plain(_)));
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
}

#[test]
fn hashed_secrets_are_read_from_phc_strings() {
    let hash = SecretHash::new("pw", crate::auth::HashCost::Test).expect("hash");
    let text = format!(
        "admin_token_hash = \"{0}\"\n[[sessions]]\nname = \"a\"\npassword_hash = \"{0}\"\nsecret_hash = \"{0}\"\n",
        hash.as_phc()
    );
    let config = TempFile::new(&text).load(&[]).expect("valid");
    assert!(matches!(config.admin_token, Some(Secret::Hashed(_))));
    assert!(matches!(config.sessions[0].secret, Secret::Hashed(_)));
    assert!(config.warnings.is_empty());
}

/// The one-line message of a config error.
fn error_of(text: &str, extra: &[&str]) -> String {
    let message = TempFile::new(text)
        .load(extra)
        .expect_err("invalid")
        .to_string();
    assert!(!message.contains('\n'), "{message}");
    message
}

#[test]
fn a_bad_value_in_the_file_is_reported_with_its_key() {
    let message = error_of("[session_defaults]\nretry_interval = \"2x\"\n", &[]);
    assert!(
        message.contains("session_defaults.retry_interval"),
        "{message}"
    );
    assert!(message.contains("invalid duration"), "{message}");
    let message = error_of("max_outbound_bytes = \"many\"\n", &[]);
    assert!(message.contains("max_outbound_bytes"), "{message}");
}

#[test]
fn an_unknown_key_in_the_file_is_an_error_not_ignored() {
    let message = error_of("listn = \"127.0.0.1:1\"\n", &[]);
    assert!(message.contains("unknown field `listn`"), "{message}");
    let message = error_of(
        "[[sessions]]\nname = \"a\"\npassword = \"p\"\nsecret = \"s\"\ncolour = 1\n",
        &[],
    );
    assert!(
        message.contains("sessions[0]") && message.contains("colour"),
        "{message}"
    );
}

#[test]
fn a_syntax_error_names_its_line() {
    let message = error_of("listen = \"127.0.0.1:1\"\nthis is not toml\n", &[]);
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn out_of_range_session_settings_are_refused_at_startup() {
    let message = error_of("[session_defaults]\nmax_retries = 5000\n", &[]);
    assert!(
        message.contains("session_defaults") && message.contains("max_retries"),
        "{message}"
    );
    let message = error_of(
        "[[sessions]]\nname = \"a\"\npassword = \"p\"\nsecret = \"s\"\n[sessions.settings]\nmax_pending = 0\n",
        &[],
    );
    assert!(
        message.contains("sessions[0].settings") && message.contains("max_pending"),
        "{message}"
    );
}

#[test]
fn session_entries_need_a_valid_unique_name_and_both_secrets() {
    let message = error_of(
        "[[sessions]]\nname = \"bad name\"\npassword = \"p\"\nsecret = \"s\"\n",
        &[],
    );
    assert!(message.contains("sessions[0].name"), "{message}");
    let message = error_of("[[sessions]]\nname = \"a\"\nsecret = \"s\"\n", &[]);
    assert!(
        message.contains("sessions[0].password: missing"),
        "{message}"
    );
    let message = error_of(
        "[[sessions]]\nname = \"a\"\npassword = \"p\"\npassword_hash = \"x\"\nsecret = \"s\"\n",
        &[],
    );
    assert!(message.contains("not both"), "{message}");
    let twice = "[[sessions]]\nname = \"a\"\npassword = \"p\"\nsecret = \"s\"\n";
    let message = error_of(&format!("{twice}{twice}"), &[]);
    assert!(message.contains("sessions[1].name: duplicate"), "{message}");
}

#[test]
fn a_malformed_hash_is_refused() {
    let message = error_of("admin_token_hash = \"plaintext\"\n", &[]);
    assert!(message.contains("admin_token_hash"), "{message}");
}

#[test]
fn values_from_flags_are_checked_too() {
    for (args, key) in [
        (&["--max-outbound-bytes", "1000"][..], "max_outbound_bytes"),
        (&["--max-memory", "1000000"][..], "max_memory"),
        (&["--router-shards", "100000"][..], "router_shards"),
        (
            &["--slow-consumer-timeout", "0s"][..],
            "slow_consumer_timeout",
        ),
        (&["--listen", "nowhere"][..], "listen"),
        (&["--log", "info,=="][..], "log"),
        (&["--max-pending", "0"][..], "max_pending"),
        (&["--keepalive", "1h"][..], "keepalive"),
        (&["--presence-interval", "0s"][..], "presence_interval"),
    ] {
        let message = Config::load(cli(args)).expect_err(key).to_string();
        assert!(message.contains(key), "{args:?}: {message}");
    }
}

#[test]
fn a_missing_config_file_is_named_in_the_error() {
    let message = Config::load(cli(&["--config", "/nonexistent/fastport.toml"]))
        .expect_err("missing file")
        .to_string();
    assert!(message.contains("/nonexistent/fastport.toml"), "{message}");
}

#[test]
fn the_demo_session_can_be_turned_off_by_flag_or_file() {
    assert!(
        !Config::load(cli(&["--no-demo-session"]))
            .expect("valid")
            .demo_session
    );
    let config = TempFile::new("demo_session = false\n")
        .load(&[])
        .expect("valid");
    assert!(!config.demo_session);
}

#[test]
fn an_empty_static_dir_serves_no_files_and_a_missing_one_is_an_error() {
    assert!(Config::load(cli(&["--static-dir", ""]))
        .expect("valid")
        .static_dir
        .is_none());
    let message = Config::load(cli(&["--static-dir", "/nonexistent-dir"]))
        .expect_err("missing dir")
        .to_string();
    assert!(message.contains("static_dir"), "{message}");
}

#[test]
fn the_defaults_stated_in_the_help_are_the_broker_defaults() {
    let d = SessionSettings::default();
    let help = <Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    for stated in [
        format!("[default: {}]", format_duration(d.retry_interval)),
        format!("[default: {}]", d.max_retries),
        format!("[default: {}]", format_duration(d.expiry)),
        format!("[default: {}]", d.max_message_size),
        format!("[default: {}]", d.max_subscriptions),
    ] {
        assert!(help.contains(&stated), "help lacks {stated}");
    }
}

#[test]
fn the_per_address_cap_defaults_to_256_and_comes_from_the_file_or_a_flag_where_0_is_no_cap() {
    let config = Config::load(cli(&[])).expect("defaults are valid");
    assert_eq!(config.max_connections_per_address, 256);
    let help = <Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    assert!(help.contains("[default: 256]"), "{help}");
    let file = TempFile::new("max_connections_per_address = 0\n");
    assert_eq!(
        file.load(&[]).expect("valid").max_connections_per_address,
        0
    );
    let config = file
        .load(&["--max-connections-per-address", "1000"])
        .expect("valid");
    assert_eq!(config.max_connections_per_address, 1000);
    let e = Cli::try_parse_from(["s", "--max-connections-per-address", "-1"]);
    assert!(e.is_err(), "a negative cap is refused");
}

#[test]
fn every_session_setting_has_its_documented_flag_and_the_file_its_key() {
    for &s in Setting::ALL {
        let lowest = s.format(*s.range().start());
        let flag = format!("--{}", ServerFlags::flag(s));
        let config = Config::load(cli(&[&flag, &lowest])).expect(&flag);
        assert_eq!(
            config.session_defaults.to_config().get(s),
            Some(*s.range().start()),
            "{flag}"
        );
        let text = match s.unit() {
            Unit::Count | Unit::Bytes => format!("[session_defaults]\n{} = {lowest}\n", s.name()),
            _ => format!("[session_defaults]\n{} = \"{lowest}\"\n", s.name()),
        };
        let config = TempFile::new(&text).load(&[]).expect(&text);
        assert_eq!(
            config.session_defaults.to_config().get(s),
            Some(*s.range().start()),
            "{text}"
        );
    }
    let config = Config::load(cli(&["--slow-consumer-policy", "drop-oldest"])).expect("dashes");
    assert_eq!(
        config.session_defaults.slow_consumer,
        SlowConsumerPolicy::DropOldest
    );
}

#[test]
fn the_example_in_the_operator_guide_is_a_valid_config_file() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SERVER.md"))
        .expect("docs/SERVER.md exists");
    let example = guide
        .split("### Example")
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("an example toml block after `### Example`");
    let config = TempFile::new(example)
        .load(&[])
        .expect("the example is valid");
    assert_eq!(config.sessions.len(), 1);
    assert_eq!(config.sessions[0].settings.max_retries, 20);
    assert!(!config.demo_session);
}

#[test]
fn a_message_size_that_cannot_fit_in_a_frame_is_warned_about() {
    let config = Config::load(cli(&["--max-frame-bytes", "2048"])).expect("valid");
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("max_frame_bytes")),
        "{:?}",
        config.warnings
    );
    let config = Config::load(cli(&[])).expect("valid");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn allowed_origins_come_from_the_file_or_a_comma_separated_flag_and_are_checked() {
    let file = TempFile::new("allowed_origins = [\"https://app.example\"]\n");
    let config = file.load(&[]).expect("valid");
    assert_eq!(config.allowed_origins, ["https://app.example"]);
    let config = file
        .load(&["--allowed-origins", "https://a.example,https://b.example"])
        .expect("valid");
    assert_eq!(
        config.allowed_origins,
        ["https://a.example", "https://b.example"]
    );
    assert!(Config::load(cli(&[]))
        .expect("valid")
        .allowed_origins
        .is_empty());
    let bad = TempFile::new("allowed_origins = [\"https://app.example/path\"]\n");
    let error = bad.load(&[]).expect_err("not an origin").to_string();
    assert!(
        error.starts_with("allowed_origins (--allowed-origins, FASTPORT_ALLOWED_ORIGINS): "),
        "{error}"
    );
}

#[test]
fn listening_beyond_loopback_needs_an_admin_token_and_no_demo_session() {
    let token_file = TempFile::new("a-long-admin-token-from-a-file\n");
    let token_path = token_file.0.to_str().expect("utf-8 path");
    for (args, needs) in [
        (&["--listen", "0.0.0.0:8080"][..], Some("an admin token")),
        (
            &["--listen", "0.0.0.0:8080", "--no-demo-session"][..],
            Some("an admin token"),
        ),
        (
            &["--listen", "[::]:8080", "--admin-token", "t"][..],
            Some("no demo session"),
        ),
        (
            &[
                "--listen",
                "192.0.2.7:8080",
                "--admin-token-file",
                token_path,
            ][..],
            Some("no demo"),
        ),
        (
            &[
                "--listen",
                "0.0.0.0:8080",
                "--admin-token",
                "t",
                "--no-demo-session",
            ][..],
            None,
        ),
        (&["--listen", "127.0.0.1:8080"][..], None),
        (&["--listen", "[::1]:8080"][..], None),
        (&["--listen", "localhost:8080"][..], None),
    ] {
        match (Config::load(cli(args)), needs) {
            (Ok(_), None) => {}
            (Err(e), Some(needs)) => {
                let e = e.to_string();
                assert!(e.starts_with("listen (--listen, FASTPORT_LISTEN): "), "{e}");
                assert!(
                    e.contains(needs) && e.contains("--insecure"),
                    "{args:?}: {e}"
                );
            }
            (result, needs) => panic!("{args:?}: {result:?}, expected to need {needs:?}"),
        }
    }
    let config = Config::load(cli(&["--listen", "0.0.0.0:8080", "--insecure"])).expect("allowed");
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.starts_with("--insecure: 0.0.0.0:8080 is reachable")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn the_admin_token_can_come_from_a_file_but_not_from_both_a_file_and_a_flag() {
    let token_file = TempFile::new("token-from-file\r\nsecond line ignored\n");
    let path = token_file.0.to_str().expect("utf-8 path");
    let config = Config::load(cli(&["--admin-token-file", path])).expect("valid");
    let Some(Secret::Plain(token)) = &config.admin_token else {
        panic!("{:?}", config.admin_token)
    };
    assert_eq!(token, "token-from-file");
    let both = Config::load(cli(&["--admin-token-file", path, "--admin-token", "x"]));
    let e = both.expect_err("ambiguous").to_string();
    assert!(e.contains("not both"), "{e}");
    let missing = Config::load(cli(&["--admin-token-file", "/nonexistent/token"]));
    let e = missing.expect_err("unreadable").to_string();
    assert!(e.starts_with("admin_token_file (--admin-token-file, FASTPORT_ADMIN_TOKEN_FILE): cannot read /nonexistent/token"), "{e}");
}

#[test]
fn trusted_proxies_come_from_repeated_flags_or_the_file_and_are_checked() {
    let config = Config::load(cli(&[
        "--trusted-proxy",
        "10.0.0.0/8",
        "--trusted-proxy",
        "192.0.2.1,2001:db8::/48",
    ]))
    .expect("valid");
    assert_eq!(
        config.trusted_proxies,
        ["10.0.0.0/8", "192.0.2.1", "2001:db8::/48"]
    );
    let file = TempFile::new("trusted_proxies = [\"172.16.0.0/12\"]\n");
    assert_eq!(
        file.load(&[]).expect("valid").trusted_proxies,
        ["172.16.0.0/12"]
    );
    let e = Config::load(cli(&["--trusted-proxy", "10.0.0.0/40"])).expect_err("refused");
    let e = e.to_string();
    assert!(
        e.contains("--trusted-proxy") && e.contains("10.0.0.0/40"),
        "{e}"
    );
    assert!(Config::load(cli(&[]))
        .expect("valid")
        .trusted_proxies
        .is_empty());
}

#[test]
fn open_session_creation_is_off_by_default_and_refused_beyond_loopback() {
    assert!(!Config::load(cli(&[])).expect("valid").open_session_creation);
    let flag = Config::load(cli(&["--open-session-creation"])).expect("valid");
    assert!(flag.open_session_creation);
    let file = TempFile::new("open_session_creation = true\n");
    assert!(file.load(&[]).expect("valid").open_session_creation);
    let exposed = cli(&[
        "--listen",
        "0.0.0.0:8080",
        "--admin-token",
        "token",
        "--no-demo-session",
        "--open-session-creation",
    ]);
    let e = Config::load(exposed).expect_err("refused").to_string();
    assert!(e.contains("--open-session-creation"), "{e}");
}

#[test]
fn tls_files_come_from_flags_or_the_file_and_need_each_other() {
    let file = TempFile::new(
        "tls_cert = \"/etc/fastport/cert.pem\"\ntls_key = \"/etc/fastport/key.pem\"\n\
         tls_handshake_timeout = \"3s\"\n",
    );
    let config = file.load(&[]).expect("valid");
    let files = config.tls.expect("TLS configured");
    assert_eq!(files.cert, PathBuf::from("/etc/fastport/cert.pem"));
    assert_eq!(files.key, PathBuf::from("/etc/fastport/key.pem"));
    assert_eq!(config.tls_handshake_timeout, Duration::from_secs(3));
    let config = file.load(&["--tls-cert", "/run/cert.pem"]).expect("valid");
    let files = config.tls.expect("TLS configured");
    assert_eq!(files.cert, PathBuf::from("/run/cert.pem"), "the flag wins");
    assert_eq!(files.key, PathBuf::from("/etc/fastport/key.pem"));

    let config = Config::load(cli(&[])).expect("valid");
    assert!(config.tls.is_none());
    assert_eq!(config.tls_handshake_timeout, Duration::from_secs(10));
    let e = Config::load(cli(&["--tls-cert", "c.pem"])).expect_err("no key");
    assert!(e.to_string().contains("--tls-cert needs --tls-key"), "{e}");
    let e = Config::load(cli(&["--tls-key", "k.pem"])).expect_err("no cert");
    assert!(e.to_string().contains("--tls-key needs --tls-cert"), "{e}");
    let e = Config::load(cli(&["--tls-handshake-timeout", "0s"])).expect_err("zero");
    assert!(e.to_string().starts_with("tls_handshake_timeout"), "{e}");
}

#[test]
fn a_refused_value_with_a_line_break_is_quoted_on_one_line() {
    let file = TempFile::new("allowed_origins = [\"https://a\\nb.example\"]\n");
    let error = file.load(&[]).expect_err("not an origin").to_string();
    assert!(!error.contains('\n'), "{error}");
    assert!(
        error.contains("`https://a\\nb.example` is not an origin"),
        "{error}"
    );

    let file =
        TempFile::new("[[sessions]]\nname = \"bad\\rname\"\npassword = \"p\"\nsecret = \"s\"\n");
    let error = file.load(&[]).expect_err("not a session name").to_string();
    assert!(!error.contains('\r'), "{error}");
    assert!(error.contains("sessions[0].name"), "{error}");
}

#[test]
fn session_limits_cap_the_defaults_and_the_sessions_of_the_file() {
    let limits = "[session_limits]\nmax_cache_bytes = 1048576\nexpiry = \"10m\"\n";
    let message = error_of(limits, &[]);
    assert!(
        message.contains("max_cache_bytes = 67108864 is above this server's limit of 1048576"),
        "the built-in default is over the limit: {message}"
    );
    let text = format!("{limits}[session_defaults]\nmax_cache_bytes = 1048576\n");
    let config = TempFile::new(&text).load(&[]).expect("within the limits");
    assert_eq!(config.session_limits.max_cache_bytes, Some(1_048_576));
    assert_eq!(config.session_limits.expiry_ms, Some(600_000));
    let over = format!(
        "{text}[[sessions]]\nname = \"team\"\npassword = \"pw\"\nsecret = \"sec\"\n\
         [sessions.settings]\nexpiry = \"1h\"\n"
    );
    let message = error_of(&over, &[]);
    assert!(
        message.contains("sessions[0].settings: expiry = 1h is above"),
        "{message}"
    );
    let message = error_of("[session_limits]\nmax_pending = 0\n", &[]);
    assert!(message.contains("session_limits"), "{message}");
}

#[test]
fn without_redis_the_engine_is_memory_and_the_node_id_is_generated() {
    let config = Config::load(cli(&[])).expect("valid");
    assert_eq!(config.redis, None);
    assert!(
        NodeId::new(config.node_id.as_str()).is_ok(),
        "{:?}",
        config.node_id
    );
    let other = Config::load(cli(&[])).expect("valid");
    assert_ne!(config.node_id, other.node_id, "each start is a new node");
}

#[test]
fn redis_comes_from_the_flag_or_the_file_and_hides_its_password() {
    let config =
        Config::load(cli(&["--redis", "redis://:s3cret@127.0.0.1:6390/2"])).expect("valid");
    let Some(RedisConfig::Single(url)) = &config.redis else {
        panic!("one Redis: {:?}", config.redis);
    };
    assert_eq!(url.redacted(), "redis://:***@127.0.0.1:6390/2");
    assert_eq!(url.db(), 2);
    assert!(!format!("{config:?}").contains("s3cret"));

    let file =
        TempFile::new("node_id = \"web-1\"\n[redis]\nurl = \"rediss://cache.example:6380/0\"\n");
    let config = file.load(&[]).expect("valid");
    assert_eq!(config.node_id.as_str(), "web-1");
    let Some(RedisConfig::Single(url)) = &config.redis else {
        panic!("one Redis: {:?}", config.redis);
    };
    assert_eq!(url.redacted(), "rediss://cache.example:6380/0");
    let config = file
        .load(&["--redis", "redis://127.0.0.1:7000", "--node-id", "web-2"])
        .expect("valid");
    assert_eq!(config.node_id.as_str(), "web-2");
    assert_eq!(
        config.redis.as_ref().map(RedisConfig::redacted).as_deref(),
        Some("redis://127.0.0.1:7000"),
        "the flag overrides the file"
    );
}

#[test]
fn a_cluster_is_a_list_of_seeds_and_excludes_a_url() {
    let file = TempFile::new(
        "[redis]\ncluster = [\"redis://10.0.0.1:7000\", \"redis://:pw@10.0.0.2:7000\"]\n",
    );
    let config = file.load(&[]).expect("valid");
    let Some(RedisConfig::Cluster(seeds)) = &config.redis else {
        panic!("a cluster: {:?}", config.redis);
    };
    assert_eq!(seeds.len(), 2);
    assert_eq!(
        config.redis.as_ref().map(RedisConfig::redacted).as_deref(),
        Some("redis://10.0.0.1:7000,redis://:***@10.0.0.2:7000")
    );
    let both = file
        .load(&["--redis", "redis://127.0.0.1:6379"])
        .expect_err("both");
    assert!(both.to_string().contains("not both"), "{both}");
    for (toml, key) in [
        ("[redis]\ncluster = []\n", "[redis] cluster"),
        (
            "[redis]\ncluster = [\"redis://h:7000/1\"]\n",
            "[redis] cluster[0]",
        ),
        (
            "[redis]\ncluster = [\"http://h:7000\"]\n",
            "[redis] cluster[0]",
        ),
    ] {
        let error = TempFile::new(toml).load(&[]).expect_err(toml).to_string();
        assert!(error.starts_with(key), "{toml}: {error}");
    }
    let unknown = TempFile::new("[redis]\nurls = \"redis://h\"\n")
        .load(&[])
        .expect_err("typo");
    assert!(unknown.to_string().contains("redis.urls"), "{unknown}");
}

#[test]
fn a_bad_redis_url_or_node_id_is_a_configuration_error_naming_the_key() {
    for url in ["http://h:6379", "redis://:hunter2@h:6379/x", "hunter2"] {
        let error = Config::load(cli(&["--redis", url]))
            .expect_err(url)
            .to_string();
        assert!(
            error.starts_with("redis (--redis, FASTPORT_REDIS"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
    for id in ["has space", "", &"n".repeat(65)] {
        let error = Config::load(cli(&["--node-id", id]))
            .expect_err(id)
            .to_string();
        assert!(
            error.starts_with("node_id (--node-id, FASTPORT_NODE_ID)"),
            "{error}"
        );
    }
}
