//! `fastport key ...`: make keys to share with a session's members.

use fastport_client::Key;

use super::args::{DeriveArgs, KeyCommand};
use super::error::CliError;

/// Runs `fastport key ...`: prints the key in base64 on stdout.
pub fn run(command: KeyCommand) -> Result<(), CliError> {
    let key = match command {
        KeyCommand::Generate => {
            Key::generate().map_err(|e| CliError::runtime(format!("cannot generate a key: {e}")))?
        }
        KeyCommand::Derive(args) => derive(&args)?,
    };
    println!("{}", key.to_base64());
    Ok(())
}

fn derive(args: &DeriveArgs) -> Result<Key, CliError> {
    Key::derive_from_passphrase(&args.passphrase, &args.context, args.iterations)
        .map_err(|e| CliError::usage(format!("cannot derive a key: {e}")))
}
