//! `worker_pool`: generator, semaphore-bounded worker spawner and logger processes.

#![deny(unsafe_code)]

use std::process::ExitCode;

use ipc_desafio::worker_pool::{Error, PoolCli, run};

fn main() -> ExitCode {
    ipc_cli::main_with::<PoolCli, Error>(|args| run(&args.into_options()))
}
