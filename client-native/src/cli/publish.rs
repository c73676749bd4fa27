//! `fastport pub`: publish one message, or one per line of stdin, and wait for the acks
//! (and, if asked, the delivery receipts).

use std::io::IsTerminal;

use fastport_client::{status_name, Client, Published, Qos, ReceiptStatus};
use fastport_client_core::topic::Topic;
use fastport_client_core::PublishOptions;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::args::PubArgs;
use super::connect::{self, note};
use super::error::{CliError, NOT_DELIVERED};
use super::values::format_duration;

/// Runs `fastport pub`.
pub async fn run(args: PubArgs) -> Result<(), CliError> {
    if args.wait_delivered && args.qos == 0 {
        return Err(CliError::usage(
            "--wait-delivered needs --qos 1: QoS 0 messages get no delivery receipt",
        ));
    }
    Topic::new(&args.topic).map_err(|e| CliError::usage(format!("topic: {e}")))?;
    let work = publish_all(&args);
    match args.timeout {
        None => work.await,
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(CliError::runtime(format!(
                "timed out after {} (--timeout)",
                format_duration(limit)
            ))),
        },
    }
}

async fn publish_all(args: &PubArgs) -> Result<(), CliError> {
    let options = connect::options(&args.connect, false)?;
    let client = Client::connect(options).await?;
    let _reporter = connect::report_events(&client, false, connect::token_file(&args.connect));
    let result = publish_input(&client, args).await;
    client.close().await;
    result
}

/// Publishes the message of the command line or of stdin, and checks the receipts.
async fn publish_input(client: &Client, args: &PubArgs) -> Result<(), CliError> {
    let mut publisher = Publisher {
        client,
        topic: &args.topic,
        options: publish_options(args),
        wait_delivered: args.wait_delivered,
        pending: Vec::new(),
    };
    if let Some(message) = &args.message {
        publisher.publish(message.as_bytes(), None).await?;
        return publisher.check_receipts().await;
    }
    if std::io::stdin().is_terminal() {
        note("reading the message from stdin; end it with Ctrl-D");
    }
    let mut stdin = BufReader::new(tokio::io::stdin());
    if args.lines {
        let mut lines = stdin.lines();
        let mut number = 0u64;
        while let Some(line) = lines.next_line().await.map_err(read_error)? {
            number += 1;
            publisher.publish(line.as_bytes(), Some(number)).await?;
        }
    } else {
        let mut message = Vec::new();
        stdin.read_to_end(&mut message).await.map_err(read_error)?;
        publisher.publish(&message, None).await?;
    }
    publisher.check_receipts().await
}

fn publish_options(args: &PubArgs) -> PublishOptions {
    let mut options = PublishOptions::default();
    options.qos = if args.qos == 0 {
        Qos::AtMostOnce
    } else {
        Qos::AtLeastOnce
    };
    // Without a key, --plaintext is the only way; with one, it is an explicit choice.
    options.plaintext = args.connect.plaintext;
    options
}

fn read_error(e: std::io::Error) -> CliError {
    CliError::runtime(format!("reading stdin: {e}"))
}

/// Publishes one message after another, each once the previous one was acknowledged.
struct Publisher<'a> {
    client: &'a Client,
    topic: &'a str,
    options: PublishOptions,
    wait_delivered: bool,
    /// Receipts to wait for, with the line each message came from.
    pending: Vec<(Option<u64>, Published)>,
}

impl Publisher<'_> {
    async fn publish(&mut self, payload: &[u8], line: Option<u64>) -> Result<(), CliError> {
        let published = self
            .client
            .publish_with(self.topic, payload, self.options)
            .await
            .map_err(|e| at_line(line, e.into()))?;
        if self.wait_delivered {
            self.pending.push((line, published));
        }
        Ok(())
    }

    async fn check_receipts(&mut self) -> Result<(), CliError> {
        for (line, published) in self.pending.drain(..) {
            let Some(receipt) = published.receipt().await else {
                let e = CliError::runtime("the connection closed before the delivery receipt");
                return Err(at_line(line, e));
            };
            if receipt.status != ReceiptStatus::Delivered {
                let e = CliError {
                    code: NOT_DELIVERED,
                    message: format!(
                        "not delivered: {} ({} subscribers acknowledged, {} did not)",
                        status_name(receipt.status),
                        receipt.delivered,
                        receipt.failed
                    ),
                };
                return Err(at_line(line, e));
            }
        }
        Ok(())
    }
}

/// Names the line of stdin a message came from (with --lines).
fn at_line(line: Option<u64>, e: CliError) -> CliError {
    match line {
        Some(n) => CliError {
            code: e.code,
            message: format!("line {n}: {}", e.message),
        },
        None => e,
    }
}
