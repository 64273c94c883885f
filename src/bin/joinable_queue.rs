//! `joinable_queue`: producers, a daemon consumer, task_done and join() across processes.

#![deny(unsafe_code)]

use std::process::ExitCode;

use ipc_desafio::joinable_queue::{Error, JoinCli, run};

fn main() -> ExitCode {
    ipc_cli::main_with::<JoinCli, Error>(|args| run(&args))
}
