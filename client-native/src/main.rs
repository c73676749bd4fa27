//! `fastport`: publish, subscribe, administer sessions and make keys from the command line.
//! `fastport --help` lists the commands; docs/CLI.md describes them with examples.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
