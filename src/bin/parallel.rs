//! `parallel`: CPU map, log scan, file hashing and port checks on a process pool.

use std::process::ExitCode;

use ipc_desafio::parallel::ParallelCli;

fn main() -> ExitCode {
    ipc_desafio::cli::main_with::<ParallelCli>(ipc_desafio::parallel::run)
}
