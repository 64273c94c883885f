//! `parallel`: CPU map, log scan, file hashing and port checks on a process pool.

use std::process::ExitCode;

use ipc_desafio::cli::{self, Parsed};
use ipc_desafio::parallel::{self, ParallelCli};

fn main() -> ExitCode {
    match cli::parse::<ParallelCli, _, _>(std::env::args_os()) {
        Parsed::Run(args) => match parallel::run(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                cli::report(&e);
                ExitCode::from(e.exit_code())
            }
        },
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
