//! `keygate`: manage a keygate deployment's keys from a terminal or a script.
//!
//! # Layout
//!
//! - `args`: the command line (clap), with an example per command.
//! - `settings`: where the URL and admin token come from (flags, env, a
//!   token file, `keygate login`'s stored file) and the checks on them.
//! - `client`: the HTTP calls, and what a failed one is ([`Failure`]).
//! - `body`: request bodies from flags (and `--body`), values checked by the
//!   Worker's own types so a typo fails here, not after a round trip.
//! - `render`: tables, `--json` (exactly the API's `data`) and `--quiet`.
//! - `commands`: one function per command, gluing the rest together.
//! - `webhooks`: the `webhooks` commands, with their arguments.
//!
//! Exit codes: 0 success, 1 the API refused (its code and message on
//! stderr), 2 usage error, 3 could not connect.

mod args;
mod body;
mod client;
mod commands;
mod render;
mod settings;
mod webhooks;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
