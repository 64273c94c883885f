//! `parallel`: CPU map, log scan, file hashing and port checks on a process pool.

#![deny(unsafe_code)]

use std::process::ExitCode;

use ipc_desafio::parallel::{Error, ParallelCli, run};

fn main() -> ExitCode {
    ipc_cli::main_with::<ParallelCli, Error>(run)
}
