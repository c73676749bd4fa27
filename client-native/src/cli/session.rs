//! `fastport session ...`: administration over an admin-only connection, printing the
//! session's settings afterwards.

use fastport_client::{Client, Options};
use fastport_client_core::codec::{AdminOp, SessionConfig};
use fastport_proto::settings::admin_json;

use super::args::{AdminArgs, RotateArgs, SessionCommand};
use super::error::{self, CliError};

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
                config: a.settings.config,
            },
            done: "created",
        },
        SessionCommand::Config(a) => {
            let config = a.settings.config;
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
        SessionCommand::Rotate(a) => {
            request(&a.session, rotation(a)?, "rotated the credentials of")
        }
    };
    let creating = matches!(command, SessionCommand::Create(_));
    // The connection logs in with the request's own credential: the admin token to
    // create, the session's secret key otherwise.
    let login = (!creating).then_some(request.session);
    let options = super::connect::with_server(
        Options::admin_with(request.admin.server.first_url(), login, request.credential)?,
        &request.admin.server,
    )?;
    let client = Client::connect(options)
        .await
        .map_err(|e| error::admin_login(e, request.session, creating, request.credential))?;
    let result = client
        .admin(request.session, request.credential, request.op)
        .await;
    client.close().await;
    let config = result.map_err(|e| error::admin(e, request.session, creating))?;
    if request.admin.json {
        println!("{}", admin_json(request.session, &config));
    } else {
        print!("{}", table(request.session, request.done, &config));
    }
    Ok(())
}

/// The rotation asked for; a usage error when it asks for nothing.
fn rotation(a: &RotateArgs) -> Result<AdminOp, CliError> {
    let password = a.new_password.clone().unwrap_or_default();
    let secret = a.new_secret.clone().unwrap_or_default();
    if password.is_empty() && secret.is_empty() {
        return Err(CliError::usage(
            "nothing to rotate: give --new-password (FASTPORT_NEW_PASSWORD), --new-secret \
             (FASTPORT_NEW_SECRET) or both",
        ));
    }
    Ok(AdminOp::Rotate { password, secret })
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

/// A headline and one aligned line per setting.
fn table(session: &str, done: &str, config: &SessionConfig) -> String {
    let mut out = match done {
        "described" => format!("session `{session}`\n"),
        _ => format!("{done} session `{session}`\n"),
    };
    for (setting, value) in config.stated() {
        let (name, value) = (setting.name(), setting.format(value));
        out.push_str(&format!("  {name:<22}{value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_setting_in_protocol_order_with_units() {
        let table = table("team", "created", &SessionConfig::defaults());
        let expected = "created session `team`\n  \
                        retry_interval        2s\n  \
                        max_retries           5\n  \
                        expiry                1m\n  \
                        max_message_size      1048576\n  \
                        max_connections       1000\n  \
                        max_subscriptions     100\n  \
                        max_pending           1000\n  \
                        slow_consumer_policy  drop_oldest\n  \
                        max_cache_bytes       67108864\n";
        assert_eq!(table, expected);
    }

    #[test]
    fn the_cli_guide_shows_what_describe_prints_for_the_defaults() {
        let guide = include_str!("../../../docs/CLI.md");
        let printed = table("demo", "described", &SessionConfig::defaults());
        assert!(
            guide.contains(&printed),
            "docs/CLI.md should show\n{printed}"
        );
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
