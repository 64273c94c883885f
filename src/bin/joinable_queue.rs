//! `joinable_queue`: producers, a daemon consumer, task_done and join() across processes.

use std::process::ExitCode;

use ipc_desafio::cli::{self, Parsed};
use ipc_desafio::joinable_queue::{self, JoinCli};

fn main() -> ExitCode {
    match cli::parse::<JoinCli, _, _>(std::env::args_os()) {
        Parsed::Run(args) => match joinable_queue::run(&args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                cli::report(&e);
                ExitCode::from(e.exit_code())
            }
        },
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
