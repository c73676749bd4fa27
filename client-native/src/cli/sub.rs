//! `fastport sub`: print the messages of some topic filters until told to stop.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use fastport_client::{Client, Message, State};
use fastport_client_core::topic::TopicFilter;
use tokio::sync::mpsc;

use super::args::SubArgs;
use super::connect::{self, note};
use super::error::{self, CliError};

/// Runs `fastport sub`.
pub async fn run(args: SubArgs) -> Result<(), CliError> {
    let filters = args
        .filters
        .iter()
        .map(|f| TopicFilter::new(f).map_err(|e| CliError::usage(format!("filter `{f}`: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let options = connect::options(&args.connect, args.resume)?;
    let mut interrupted = interrupts();
    let setup = async {
        let client = Client::connect(options).await?;
        let reporter =
            connect::report_events(&client, args.quiet, connect::token_file(&args.connect));
        let messages = subscribe_all(&client, &filters).await?;
        Ok::<_, CliError>((client, reporter, messages))
    };
    let (client, _reporter, mut messages) = tokio::select! {
        setup = setup => setup?,
        Some(()) = interrupted.recv() => return Err(CliError::interrupted()),
    };
    if !args.quiet {
        note(&subscribed_line(&client, &filters));
    }
    let mut out = Printer { json: args.json };
    let mut received = 0u64;
    let result = loop {
        if args.count.is_some_and(|n| received >= n) {
            break Ok(());
        }
        tokio::select! {
            message = messages.recv() => match message {
                Some(m) => match out.print(&m) {
                    Ok(()) => received += 1,
                    // The reader went away (`| head -1`): that is the end, not a failure.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ok(()),
                    Err(e) => break Err(CliError::runtime(format!("writing to stdout: {e}"))),
                },
                None => break Err(ended(&client)),
            },
            Some(()) = interrupted.recv() => break Err(CliError::interrupted()),
        }
    };
    client.close().await;
    result
}

/// Ctrl-C from now on. Listening starts at once (a task), so that none is missed while
/// messages are being printed.
fn interrupts() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(()).await;
        }
    });
    rx
}

/// Subscribes to every filter and merges their messages into one channel. A message
/// whose topic matches several filters reaches each of their subscriptions: only the copy
/// of the first matching filter still subscribed is kept, so it is printed once and, per
/// topic, in order.
async fn subscribe_all(
    client: &Client,
    filters: &[TopicFilter],
) -> Result<mpsc::Receiver<Message>, CliError> {
    let (tx, rx) = mpsc::channel(256);
    let live: Arc<[AtomicBool]> = filters.iter().map(|_| AtomicBool::new(true)).collect();
    for (i, filter) in filters.iter().enumerate() {
        let mut subscription = client.subscribe(filter.as_str()).await?;
        let earlier = filters[..i].to_vec();
        let live = Arc::clone(&live);
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let taken = earlier
                    .iter()
                    .zip(live.iter())
                    .any(|(f, live)| live.load(Ordering::Acquire) && f.matches(&message.topic));
                if !taken && tx.send(message).await.is_err() {
                    break;
                }
            }
            // This subscription ended (refused after a reconnect): later filters now
            // print what it used to.
            live[i].store(false, Ordering::Release);
        });
    }
    Ok(rx)
}

fn subscribed_line(client: &Client, filters: &[TopicFilter]) -> String {
    let list = filters
        .iter()
        .map(|f| format!("`{}`", f.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let resumed = match client.state() {
        State::Connected {
            session_present: true,
            ..
        } => "; the server kept this client's state",
        _ => "",
    };
    format!("subscribed to {list} as `{}`{resumed}", client.client_id())
}

/// Every subscription ended: the client closed for good, or the server refused them all.
fn ended(client: &Client) -> CliError {
    match client.state() {
        State::Closed { reason } => error::closed(&reason),
        _ => CliError::runtime("the server no longer accepts any of the subscriptions"),
    }
}

/// Writes messages to stdout, one line each.
struct Printer {
    json: bool,
}

impl Printer {
    fn print(&mut self, m: &Message) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if self.json {
            out.write_all(json_line(m).as_bytes())?;
        } else {
            out.write_all(m.topic.as_str().as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(&m.payload)?;
        }
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// `{"topic","publisher","payload"}`, or `"payload_base64"` for a payload that is not
/// UTF-8, in that order.
fn json_line(m: &Message) -> String {
    let (field, payload) = match std::str::from_utf8(&m.payload) {
        Ok(text) => ("payload", text.to_owned()),
        Err(_) => (
            "payload_base64",
            base64::engine::general_purpose::STANDARD.encode(&m.payload),
        ),
    };
    format!(
        "{{\"topic\":{},\"publisher\":{},\"{field}\":{}}}",
        json_string(m.topic.as_str()),
        json_string(&m.publisher),
        json_string(&payload)
    )
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
