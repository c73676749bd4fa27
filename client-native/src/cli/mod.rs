//! The `fastport` command-line tool on top of the library: argument parsing, one module
//! per command, and the mapping of every failure to a message and an exit code.

mod args;
mod bench;
mod connect;
mod error;
mod key;
mod publish;
mod session;
mod sub;
mod token;
mod values;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};
use error::CliError;

/// Parses the command line, runs the command, and reports how it went.
pub fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; mistakes to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(error::USAGE));
        }
    };
    match cli.and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("fastport: error: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

/// The command line, or clap's error (help included). Mistakes clap cannot see come back
/// as the inner error.
fn parse() -> Result<Result<Cli, CliError>, clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let connect = match &mut cli.command {
        Command::Sub(args) => &mut args.connect,
        Command::Pub(args) => &mut args.connect,
        _ => return Ok(Ok(cli)),
    };
    let Some((_, sub_matches)) = matches.subcommand() else {
        return Ok(Ok(cli));
    };
    Ok(connect
        .settle_key(sub_matches)
        .map(|()| cli)
        .map_err(CliError::usage))
}

fn run(cli: Cli) -> Result<(), CliError> {
    let command = match cli.command {
        Command::Key(command) => return key::run(command),
        other => other,
    };
    // The bench's clients may use every core; the other commands need little.
    let workers = match &command {
        Command::Bench(_) => std::thread::available_parallelism().map_or(2, |n| n.get()),
        _ => 2,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async {
        match command {
            Command::Sub(args) => sub::run(args).await,
            Command::Pub(args) => publish::run(args).await,
            Command::Session(command) => session::run(command).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Key(command) => key::run(command),
        }
    });
    // A read of stdin may still be blocked in the runtime's thread pool: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}
