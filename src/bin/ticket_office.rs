//! `ticket_office`: buyer processes, a shared JSON counter and a flock.

use std::process::ExitCode;

use ipc_desafio::ticket_office::OfficeCli;

fn main() -> ExitCode {
    ipc_desafio::cli::main_with::<OfficeCli>(|args| ipc_desafio::ticket_office::run(&args))
}
