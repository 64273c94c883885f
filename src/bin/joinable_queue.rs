//! `joinable_queue`: producers, a daemon consumer, task_done and join() across processes.

use std::process::ExitCode;

use ipc_desafio::joinable_queue::JoinCli;

fn main() -> ExitCode {
    ipc_desafio::cli::main_with::<JoinCli>(|args| ipc_desafio::joinable_queue::run(&args))
}
