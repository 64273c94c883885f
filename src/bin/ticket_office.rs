//! `ticket_office`: buyer processes, a shared JSON counter and a flock.

use std::process::ExitCode;

use ipc_desafio::cli::{self, Parsed};
use ipc_desafio::ticket_office::{self, OfficeCli};

fn main() -> ExitCode {
    match cli::parse::<OfficeCli, _, _>(std::env::args_os()) {
        Parsed::Run(args) => match ticket_office::run(&args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                cli::report(&e);
                ExitCode::from(e.exit_code())
            }
        },
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
