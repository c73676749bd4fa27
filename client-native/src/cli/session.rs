//! `fastport session ...`: administration over an admin-only connection, printing the
//! session's settings afterwards.

use std::time::Duration;

use fastport_client::{Client, Options};
use fastport_client_core::codec::{AdminOp, SessionConfig, SlowConsumerPolicy};

use super::args::{AdminArgs, SessionCommand, Settings, SlowConsumer};
use super::error::{self, CliError};
use fastport_client_core::duration::format_duration as format_setting;

/// One admin request, ready to send.
struct Request<'a> {
    admin: &'a AdminArgs,
    session: &'a str,
    credential: &'a str,
    op: AdminOp,
    /// What was done, for the human output: "created", "dropped", ...
    done: &'static str,
}

/// Runs `fastport session ...`.
pub async fn run(command: SessionCommand) -> Result<(), CliError> {
    let request = match &command {
        SessionCommand::Create(a) => Request {
            admin: &a.admin,
            session: &a.name,
            credential: a.admin_token.as_deref().unwrap_or(""),
            op: AdminOp::Create {
                password: a.password.clone(),
                secret: a.secret.clone(),
                config: session_config(&a.settings),
            },
            done: "created",
        },
        SessionCommand::Config(a) => {
            let config = session_config(&a.settings);
            if config == SessionConfig::default() {
                return Err(CliError::usage(
                    "nothing to change: give at least one setting (see \
                     `fastport session config --help`), or use `fastport session describe`",
                ));
            }
            request(&a.session, AdminOp::Configure(config), "configured")
        }
        SessionCommand::Describe(a) => request(a, AdminOp::Describe, "described"),
        SessionCommand::Suspend(a) => request(a, AdminOp::Suspend, "suspended"),
        SessionCommand::Resume(a) => request(a, AdminOp::Resume, "resumed"),
        SessionCommand::Drop(a) => request(a, AdminOp::Drop, "dropped"),
    };
    let creating = matches!(command, SessionCommand::Create(_));
    let options = Options::admin(&request.admin.url)?;
    let client = Client::connect(options).await?;
    let result = client
        .admin(request.session, request.credential, request.op)
        .await;
    client.close().await;
    let config = result.map_err(|e| error::admin(e, request.session, creating))?;
    if request.admin.json {
        println!("{}", json(request.session, &config));
    } else {
        print!("{}", table(request.session, request.done, &config));
    }
    Ok(())
}

fn request<'a>(a: &'a super::args::SessionArgs, op: AdminOp, done: &'static str) -> Request<'a> {
    Request {
        admin: &a.admin,
        session: &a.name,
        credential: &a.secret,
        op,
        done,
    }
}

/// The settings given on the command line; the others unstated.
fn session_config(s: &Settings) -> SessionConfig {
    SessionConfig {
        retry_interval_ms: s.retry_interval.map(millis),
        max_retries: s.max_retries,
        expiry_ms: s.expiry.map(millis),
        max_message_size: s.max_message_size,
        max_connections: s.max_connections,
        max_subscriptions: s.max_subscriptions,
        max_pending: s.max_pending,
        slow_consumer_policy: s.slow_consumer.map(|p| match p {
            SlowConsumer::Disconnect => SlowConsumerPolicy::Disconnect,
            SlowConsumer::DropOldest => SlowConsumerPolicy::DropOldest,
        }),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn policy_name(p: SlowConsumerPolicy) -> &'static str {
    match p {
        SlowConsumerPolicy::Disconnect => "disconnect",
        SlowConsumerPolicy::DropOldest => "drop_oldest",
        _ => "unknown",
    }
}

/// A stated setting: its name (as in the admin API's JSON), its value for people and its
/// value for JSON.
type Field = (&'static str, String, serde_json::Value);

/// The stated settings, in protocol order.
fn fields(c: &SessionConfig) -> Vec<Field> {
    let duration = |name: &'static str, ms: Option<u64>| -> Option<Field> {
        ms.map(|ms| {
            (
                name,
                format_setting(std::time::Duration::from_millis(ms)),
                ms.into(),
            )
        })
    };
    let number = |name: &'static str, n: Option<u32>| -> Option<Field> {
        n.map(|n| (name, n.to_string(), n.into()))
    };
    let policy = c.slow_consumer_policy.map(|p| {
        let name = policy_name(p);
        ("slow_consumer_policy", name.to_owned(), name.into())
    });
    [
        duration("retry_interval_ms", c.retry_interval_ms),
        number("max_retries", c.max_retries),
        duration("expiry_ms", c.expiry_ms),
        number("max_message_size", c.max_message_size),
        number("max_connections", c.max_connections),
        number("max_subscriptions", c.max_subscriptions),
        number("max_pending", c.max_pending),
        policy,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `{"session": NAME, "config": {...}}`, as the admin HTTP API answers, settings in
/// protocol order.
fn json(session: &str, config: &SessionConfig) -> String {
    let config = fields(config)
        .into_iter()
        .map(|(name, _, value)| format!("\"{name}\":{value}"))
        .collect::<Vec<_>>()
        .join(",");
    let session = serde_json::Value::from(session);
    format!("{{\"session\":{session},\"config\":{{{config}}}}}")
}

/// A headline and one aligned line per setting.
fn table(session: &str, done: &str, config: &SessionConfig) -> String {
    let mut out = match done {
        "described" => format!("session `{session}`\n"),
        _ => format!("{done} session `{session}`\n"),
    };
    for (name, value, _) in fields(config) {
        let name = name.trim_end_matches("_ms");
        out.push_str(&format!("  {name:<22}{value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> SessionConfig {
        SessionConfig {
            retry_interval_ms: Some(2_000),
            max_retries: Some(5),
            expiry_ms: Some(60_000),
            max_message_size: Some(1_048_576),
            max_connections: Some(1_000),
            max_subscriptions: Some(100),
            max_pending: Some(1_000),
            slow_consumer_policy: Some(SlowConsumerPolicy::DropOldest),
        }
    }

    #[test]
    fn the_table_lists_every_setting_in_protocol_order_with_units() {
        let table = table("team", "created", &full());
        let expected = "created session `team`\n  \
                        retry_interval        2s\n  \
                        max_retries           5\n  \
                        expiry                1m\n  \
                        max_message_size      1048576\n  \
                        max_connections       1000\n  \
                        max_subscriptions     100\n  \
                        max_pending           1000\n  \
                        slow_consumer_policy  drop_oldest\n";
        assert_eq!(table, expected);
    }

    #[test]
    fn json_has_the_admin_api_shape() {
        let value: serde_json::Value =
            serde_json::from_str(&json("team", &full())).expect("valid JSON");
        assert_eq!(value["session"], "team");
        assert_eq!(value["config"]["retry_interval_ms"], 2_000);
        assert_eq!(value["config"]["expiry_ms"], 60_000);
        assert_eq!(value["config"]["slow_consumer_policy"], "drop_oldest");
        let dropped = json("team", &SessionConfig::default());
        assert_eq!(dropped, r#"{"session":"team","config":{}}"#);
    }

    #[test]
    fn unstated_settings_are_left_out() {
        let only = SessionConfig {
            expiry_ms: Some(500),
            ..SessionConfig::default()
        };
        assert_eq!(
            table("t", "configured", &only),
            "configured session `t`\n  expiry                500ms\n"
        );
    }
}
