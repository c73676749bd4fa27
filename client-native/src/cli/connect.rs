//! Connecting as a session member from the shared flags, and telling the user on stderr
//! what happens to the connection afterwards.

use std::io::Write;

use fastport_client::{Client, ClientEvent, Error, Options, State};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::args::{ConnectArgs, ServerArgs};
use super::error::CliError;
use super::token::TokenFile;
use super::values::{format_duration, session_key};

/// The options `args` describe. Fails before any network traffic when a flag is wrong,
/// including when there is no key and `--plaintext` was not asked for.
pub fn options(args: &ConnectArgs, resume: bool) -> Result<Options, CliError> {
    let key = session_key(
        args.key.as_deref(),
        args.passphrase.as_deref(),
        &args.member.session,
    )?;
    if key.is_none() && !args.plaintext {
        return Err(CliError::usage(
            "no encryption key: give --key (or FASTPORT_KEY) or --passphrase with the \
             session's shared key (`fastport key generate` makes one), or --plaintext to \
             send and accept unencrypted messages",
        ));
    }
    let mut options = Options::new(
        args.member.server.first_url(),
        &args.member.session,
        &args.member.password,
    )
    .map_err(|e| match e {
        Error::Name(e) => CliError::usage(format!("--session / FASTPORT_SESSION: {e}")),
        other => other.into(),
    })?;
    options = with_server(options, &args.member.server)?;
    if let Some(id) = &args.client_id {
        options = options
            .client_id(id)
            .map_err(|e| CliError::usage(format!("--client-id: {e}")))?;
    }
    if let Some(token) = token_file(args).and_then(|file| file.read()) {
        options = options.resume_token(&token);
    }
    if let Some(key) = key {
        options = options.key(key);
    }
    Ok(options.accept_plaintext(args.plaintext).resume(resume))
}

/// Where the resume token of `--client-id` is kept between runs, if one was given.
pub fn token_file(args: &ConnectArgs) -> Option<TokenFile> {
    let id = args.client_id.as_deref()?;
    let (url, session) = (args.member.server.first_url(), &args.member.session);
    TokenFile::new(args.state_dir.as_deref(), url, session, id)
}

/// `options` going round every `--url`, and trusting `--ca-file`'s certificates too, if
/// given.
pub fn with_server(options: Options, server: &ServerArgs) -> Result<Options, CliError> {
    let options = options.urls(&server.urls)?;
    match &server.ca_file {
        Some(path) => options.ca_file(path).map_err(CliError::from),
        None => Ok(options),
    }
}

/// Prints connection changes, refused deliveries and server errors on stderr until the
/// client closes. `quiet` keeps only the problems that lose messages. With a `token` file,
/// keeps the resume token of every connection in it.
pub fn report_events(client: &Client, quiet: bool, token: Option<TokenFile>) -> JoinHandle<()> {
    let mut events = client.events();
    let server = client.clone();
    let client = client.clone();
    let mut kept = token.as_ref().and_then(TokenFile::read);
    let mut keep_token = move || {
        let (Some(file), current) = (&token, client.resume_token()) else {
            return;
        };
        if current.is_empty() || kept.as_deref() == Some(current.as_str()) {
            return;
        }
        match file.write(&current) {
            Ok(()) => kept = Some(current),
            Err(e) => {
                note(&format!(
                    "cannot keep the resume token in {}: {e}; a restart with this \
                     --client-id will wait until the server forgets it",
                    file.path().display()
                ));
                // Said once: do not try again on every reconnect.
                kept = Some(current);
            }
        }
    };
    keep_token();
    tokio::spawn(async move {
        // The first connection's `Connected` may still be on its way when this starts:
        // only a connection after a disconnect is news.
        let mut disconnected = false;
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            if let ClientEvent::State(State::Connected { .. }) = &event {
                keep_token();
            }
            match &event {
                ClientEvent::State(State::Reconnecting { .. }) => disconnected = true,
                ClientEvent::State(State::Connected { .. }) if !disconnected => continue,
                ClientEvent::State(State::Connected { .. }) => disconnected = false,
                _ => {}
            }
            if let Some(line) = describe(&event, quiet, &server.url()) {
                note(&line);
            }
        }
    })
}

/// One line on stderr, prefixed with the program's name.
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "fastport: {line}");
}

fn describe(event: &ClientEvent, quiet: bool, url: &str) -> Option<String> {
    match event {
        ClientEvent::State(state) if !quiet => describe_state(state, url),
        ClientEvent::Rejected {
            topic,
            publisher,
            error,
        } => Some(format!(
            "refused a message on `{topic}` from `{publisher}`: {error}"
        )),
        ClientEvent::SubscriptionLost { filter, error } => Some(format!(
            "the server no longer accepts the subscription to `{}`: {}",
            filter.as_str(),
            Error::Server(error.clone())
        )),
        ClientEvent::Lagged { filter } => Some(format!(
            "output too slow: dropped a message of `{}`",
            filter.as_str()
        )),
        ClientEvent::ServerError(e) => Some(format!("server: {}", Error::Server(e.clone()))),
        _ => None,
    }
}

/// `url`: the server the client is connected to (or last tried).
fn describe_state(state: &State, url: &str) -> Option<String> {
    match state {
        State::Reconnecting {
            attempt,
            delay,
            reason,
            ..
        } => Some(format!(
            "disconnected ({reason}); reconnecting in {} (attempt {attempt})",
            format_duration(*delay)
        )),
        State::Connected {
            client_id,
            session_present: true,
        } => Some(format!(
            "reconnected to {url} as `{client_id}`; the server kept this client's \
             subscriptions and messages"
        )),
        State::Connected { client_id, .. } => Some(format!(
            "reconnected to {url} as `{client_id}`; subscriptions re-established"
        )),
        _ => None,
    }
}
