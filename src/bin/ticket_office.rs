//! `ticket_office`: buyer processes, a shared JSON counter and a flock.

#![deny(unsafe_code)]

use std::process::ExitCode;

use ipc_desafio::ticket_office::{Error, OfficeCli, run};

fn main() -> ExitCode {
    ipc_cli::main_with::<OfficeCli, Error>(|args| run(&args))
}
